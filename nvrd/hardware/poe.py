"""The PoE ports as the daemon runs them: the budget manager over the board's PSE
controllers, the installer's port switches from ``[[poe.ports]]``, and every power event
logged and audited in words a technician reads ("PoE port 3 (camera 3): overcurrent").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from hal.board import PoeSection
from hal.poe import OpenedPoe, PoeEvent, PoeEventKind, PoePortStatus, open_poe
from nvrd.config import NvrConfig
from nvrd.system.auditlog import AuditLog

logger = logging.getLogger(__name__)

POLL_INTERVAL_S = 1.0

_FAULTS = (PoeEventKind.OVERCURRENT, PoeEventKind.BUDGET_EXCEEDED, PoeEventKind.SUPPLY_FAULT)


class PoePorts:
    def __init__(self, section: PoeSection, config: NvrConfig, audit: AuditLog,
                 open_controllers: Callable[..., OpenedPoe] = open_poe) -> None:
        self._section = section
        self._config = config
        self._audit = audit
        self._listeners: list[Callable[[PoeEvent], None]] = []
        self.opened = open_controllers(section, on_event=self._on_event)
        self._task: asyncio.Task[None] | None = None
        self._faulty: set[int] = set()

    def on_event(self, listener: Callable[[PoeEvent], None]) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        admin = {p.port: self._config.poe.enabled(p.port) for p in self._section.ports}
        await self.opened.manager.start(admin)
        self._task = asyncio.create_task(self.opened.manager.run(POLL_INTERVAL_S),
                                         name="poe-poll")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
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
