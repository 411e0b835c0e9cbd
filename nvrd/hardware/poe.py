"""The PoE ports as the daemon runs them: the budget manager over the board's PSE
controllers, the installer's port switches from ``[[poe.ports]]``, and every power event
logged and audited in words a technician reads ("PoE port 3 (camera 3): overcurrent").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from hal.board import PoeSection
from hal.gpio import GpioBackend, GpioError, InputLine, LineRequest
from hal.poe import OpenedPoe, PoeEvent, PoeEventKind, PoePortStatus, open_poe
from nvrd.config import NvrConfig
from nvrd.system.auditlog import AuditLog

logger = logging.getLogger(__name__)

POLL_INTERVAL_S = 1.0
"""Without an interrupt line: how stale a port's state may get (the measurements too)."""
SLOW_POLL_INTERVAL_S = 5.0
"""With every controller's INT pin watched, polling is only for the measurements."""
INTERRUPT_POLLS_MAX = 4

_FAULTS = (PoeEventKind.OVERCURRENT, PoeEventKind.BUDGET_EXCEEDED, PoeEventKind.SUPPLY_FAULT)


class PoePorts:
    """``gpio``: the backend the PSE interrupt pins (``controllers[].interrupt``) are
    requested on; with it, a PD plugged in or a port tripping is handled within
    milliseconds of the chip raising INT instead of at the next poll."""

    def __init__(self, section: PoeSection, config: NvrConfig, audit: AuditLog,
                 open_controllers: Callable[..., OpenedPoe] = open_poe,
                 gpio: GpioBackend | None = None, **open_args: Any) -> None:
        self._section = section
        self._config = config
        self._audit = audit
        self._gpio = gpio
        self._listeners: list[Callable[[PoeEvent], None]] = []
        self.opened = open_controllers(section, on_event=self._on_event, **open_args)
        self._task: asyncio.Task[None] | None = None
        self._faulty: set[int] = set()
        self._interrupts: list[LineRequest] = []
        self._poll_soon: asyncio.Task[None] | None = None

    def on_event(self, listener: Callable[[PoeEvent], None]) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        admin = {p.port: self._config.poe.enabled(p.port) for p in self._section.ports}
        await self.opened.manager.start(admin)
        watched = self._watch_interrupts()
        interval = (SLOW_POLL_INTERVAL_S if watched and watched == len(self._section.controllers)
                    else POLL_INTERVAL_S)
        self._task = asyncio.create_task(self.opened.manager.run(interval), name="poe-poll")

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for request in self._interrupts:
            loop.remove_reader(request.fd)
        for task in (self._task, self._poll_soon):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for request in self._interrupts:
            request.release()
        self._interrupts.clear()
        # the ports stay as they are: cameras keep their power across a daemon restart
        await self.opened.manager.close()

    async def apply_config(self, config: NvrConfig) -> None:
        self._config = config
        current = self.opened.manager.admin_states()
        for port in self._section.ports:
            wanted = config.poe.enabled(port.port)
            if current.get(port.port) != wanted:
                await (self.enable(port.port) if wanted else self.disable(port.port))

    async def enable(self, port: int) -> None:
        await self.opened.manager.enable(port)
        self._audit.record("poe", f"PoE port {port} enabled")

    async def disable(self, port: int) -> None:
        await self.opened.manager.disable(port)
        self._audit.record("poe", f"PoE port {port} disabled")

    async def power_cycle(self, port: int) -> None:
        """Off, a pause for the camera to discharge, on: the remote "reboot" of a hung
        camera."""
        self._audit.record("poe", f"PoE port {port} power-cycled")
        await self.opened.manager.power_cycle(port)

    def status(self) -> tuple[PoePortStatus, ...]:
        return self.opened.manager.status()

    def fault(self) -> bool:
        """A port in fault (overcurrent, shed for the budget) since it last powered up."""
        return bool(self._faulty)

    def _watch_interrupts(self) -> int:
        """Request each controller's INT line (open drain, active low); how many are
        watched. A line that cannot be had is logged and that chip is polled instead."""
        if self._gpio is None:
            return 0
        loop = asyncio.get_running_loop()
        for controller in self._section.controllers:
            pin = getattr(controller, "interrupt", None)
            if pin is None:
                continue
            try:
                request = self._gpio.request_inputs(
                    pin.chip, [InputLine(pin.line, active_low=pin.active_low,
                                         bias="pull-up")], consumer="nvrd-poe")
            except GpioError as exc:
                logger.warning("PoE controller %s: interrupt line not available, polling "
                               "instead: %s", controller.id, exc.for_signal("PSE INT"))
                continue
            loop.add_reader(request.fd, self._on_interrupt, request)
            self._interrupts.append(request)
        return len(self._interrupts)

    def _on_interrupt(self, request: LineRequest) -> None:
        if any(e.asserted for e in request.read_edge_events()) and (
                self._poll_soon is None or self._poll_soon.done()):
            self._poll_soon = asyncio.get_running_loop().create_task(
                self._serve_interrupt(request), name="poe-interrupt")

    async def _serve_interrupt(self, request: LineRequest) -> None:
        """A poll reads (and so clears) what the chip latched. INT is a level: if it is
        still asserted afterwards (an event came in during the poll), no new edge will
        come, so poll again — a few times at most, in case a stuck line never lets go."""
        for _ in range(INTERRUPT_POLLS_MAX):
            await self.opened.manager.poll()
            if not any(request.get_values()):
                return
        logger.warning("PoE interrupt line stays asserted after %d polls; left to the "
                       "periodic poll", INTERRUPT_POLLS_MAX)

    def _on_event(self, event: PoeEvent) -> None:
        where = (f"PoE port {event.port}"
                 + (f" (camera {event.camera_channel})" if event.camera_channel else "")
                 if event.port is not None else f"PoE controller {event.controller}")
        what = event.kind.value.replace("_", " ")
        details = ", ".join(x for x in (
            f"class {event.pd_class}" if event.pd_class is not None else "",
            f"{event.power_mw / 1000:.1f} W" if event.power_mw is not None else "",
            event.detail or "") if x)
        if event.kind in _FAULTS:
            if event.port is not None:
                self._faulty.add(event.port)
            logger.error("%s: %s%s", where, what, f" ({details})" if details else "")
        else:
            if event.kind == PoeEventKind.POWERED and event.port is not None:
                self._faulty.discard(event.port)
            logger.info("%s: %s%s", where, what, f" ({details})" if details else "")
        if event.kind != PoeEventKind.CLASS_DETECTED:  # powered follows at once
            self._audit.record("poe", f"{where}: {what}",
                               result="failed" if event.kind in _FAULTS else "ok",
                               details=details)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("PoE event listener failed")
