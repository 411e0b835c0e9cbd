"""The box's hardware as one service: opens what the board profile declares, keeps each
device class going on its own, and says what is missing in words a technician reads.

One device class failing to open (no /dev/gpiochip, a PoE chip not answering, the RS-485
tty missing) never stops the others or the recording: it is logged, audited, shown in
``problems`` (health, status page) and the rest runs. On the simulated board
(``backend = "sim"`` in the profile) the simulated devices are created first and the same
real drivers run on them; the board's control socket (``<data>/sim/control.sock``) lets
``tools/simctl`` and the tests reach into it.

Buttons: reset held (5 s) asks for a factory reset, power held (3 s) for a graceful
shutdown; the panel shows the hold and the request. What those requests do is the
application's (``on_factory_reset``/``on_shutdown``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hal.board import BoardProfile
from hal.buttons import (
    HoldCancelled,
    HoldProgress,
    Keypad,
    Released,
    Request,
    Requested,
)
from hal.buttons.longpress import ButtonEvent
from hal.disks import (
    DeviceProbe,
    DiskHealth,
    DiskInventory,
    DiskPreparer,
    Mounter,
    PyudevBlockEvents,
    SmartChecker,
    SmartHistory,
    SubprocessRunner,
)
from hal.gpio import GpioBackend, open_backend
from hal.leds import FrontPanel, Phase
from hal.ptz import PtzBus
from hal.serial import LineSettings
from hal.sim.control import ControlServer
from nvrd.config import NvrConfig
from nvrd.hardware.alarmio import AlarmIO
from nvrd.hardware.panel import DaemonSignals, PanelDriver
from nvrd.hardware.poe import PoePorts
from nvrd.hardware.ptz import PtzDomes
from nvrd.service import Health, Service
from nvrd.storage.bays import DiskStack
from nvrd.system.auditlog import AuditLog

logger = logging.getLogger(__name__)

RequestHandler = Callable[[str], Awaitable[None]]


@dataclass(slots=True)
class HardwareStatus:
    board: str
    problems: dict[str, str] = field(default_factory=dict)
    alarm_inputs: list[Any] = field(default_factory=list)
    alarm_outputs: list[Any] = field(default_factory=list)
    poe_ports: list[Any] = field(default_factory=list)
    panel: str | None = None
    ptz: list[dict[str, object]] = field(default_factory=list)


class HardwareService(Service):
    name = "hardware"

    def __init__(self, config: NvrConfig, data_dir: Path, audit: AuditLog,
                 board: BoardProfile | None, *,
                 signals: Callable[[], DaemonSignals] = DaemonSignals,
                 on_factory_reset: RequestHandler | None = None,
                 on_shutdown: RequestHandler | None = None) -> None:
        super().__init__()
        self._config = config
        self._data_dir = data_dir
        self._audit = audit
        self.board = board
        self._signals = signals
        self._on_factory_reset = on_factory_reset
        self._on_shutdown = on_shutdown
        self.problems: dict[str, str] = {}
        self.sim: Any = None  # hal.sim.board.SimBoard on the simulated board
        self._control: ControlServer | None = None
        self.alarm_io: AlarmIO | None = None
        self.poe: PoePorts | None = None
        self.panel: PanelDriver | None = None
        self.ptz: PtzDomes | None = None
        self.disks: DiskStack | None = None
        self._keypad: Keypad | None = None
        self._button_listeners: list[Callable[[ButtonEvent], None]] = []
        self._inventory_started = False
        self._tasks: set[asyncio.Task[None]] = set()

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        board = self.board
        if board is None:
            return
        if _uses_sim(board):
            await self._open("simulated board", self._start_sim)
        await self._open("alarm I/O", self._start_alarm_io, when=bool(
            board.gpio.alarm_inputs or board.gpio.relays or board.gpio.buzzer))
        await self._open("PoE", self._start_poe, when=bool(board.poe.ports))
        await self._open("front panel", self._start_panel, when=bool(board.leds.indicators))
        await self._open("buttons", self._start_buttons, when=bool(board.buttons.keys))
        await self._open("PTZ bus", self._start_ptz, when=board.serial.port("ptz") is not None)
        if self.ptz is None:
            self.ptz = PtzDomes(None, self._config, self.problems.get("PTZ bus"))
        await self._open("disks", self._start_disks, when=bool(board.disks.bays))

    async def stop(self) -> None:
        if self.panel is not None:
            await self.panel.close()  # shows "shutting down" as the last thing
        if self._keypad is not None:
            self._keypad.stop()
        if self.ptz is not None:
            await self.ptz.close()
        if self.disks is not None and self._inventory_started:
            await self.disks.inventory.close()
            self.disks.health.close()
        if self.poe is not None:
            await self.poe.close()
        if self.alarm_io is not None:
            self.alarm_io.close()  # relays and buzzer released, driven off first
        if self._control is not None:
            await self._control.close()
        if self.sim is not None:
            await self.sim.close()

    async def apply_config(self, config: NvrConfig) -> None:
        self._config = config
        if self.alarm_io is not None:
            self.alarm_io.apply_config(config)
        if self.poe is not None:
            await self.poe.apply_config(config)
        if self.ptz is not None:
            self.ptz.apply_config(config)

    def health(self) -> Health:
        # missing hardware is the box's problem, not a daemon fault: no restart for it
        return Health(True, "; ".join(f"{k}: {v}" for k, v in self.problems.items()))

    def running(self) -> None:
        """The daemon is up: the status lamp leaves its boot pattern."""
        if self.panel is not None:
            self.panel.set_phase(Phase.RUNNING)

    def snapshot(self) -> HardwareStatus:
        problems = dict(self.problems)
        if self.poe is not None:
            for controller, reason in self.poe.opened.manager.failing_controllers().items():
                problems[f"PoE controller {controller}"] = reason
        return HardwareStatus(
            board=self.board.name if self.board else "none",
            problems=problems,
            alarm_inputs=list(self.alarm_io.inputs()) if self.alarm_io else [],
            alarm_outputs=list(self.alarm_io.outputs()) if self.alarm_io else [],
            poe_ports=list(self.poe.status()) if self.poe else [],
            panel=str(self.panel.phase) if self.panel else None,
            ptz=self.ptz.describe() if self.ptz else [])

    # --- opening each device class -------------------------------------------------------

    async def _open(self, what: str, opener: Callable[[], Awaitable[None]], *,
                    when: bool = True) -> None:
        if not when:
            return
        try:
            await opener()
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            self.problems[what] = reason
            logger.error("%s not available, running without it: %s", what, reason,
                         exc_info=logger.isEnabledFor(logging.DEBUG))
            self._audit.record("hardware", f"{what} not available", result="failed",
                               details=reason)

    async def _start_sim(self) -> None:
        from hal.sim.board import SimBoard  # only the sim board needs the simulated devices

        assert self.board is not None
        self.sim = SimBoard(self.board, self._data_dir / "sim")
        await self.sim.start()
        socket_path = self._data_dir / "sim" / "control.sock"
        control = ControlServer(socket_path, self.sim.commands())
        try:
            await control.start()
        except OSError as exc:  # e.g. a path longer than a Unix socket's 107 bytes
            # the simulated board itself works: only simctl cannot reach it
            logger.warning("simctl control socket %s not available (%s); the simulated "
                           "board runs without it", socket_path, exc)
            return
        self._control = control

    async def _start_alarm_io(self) -> None:
        assert self.board is not None
        backend = self._gpio_backend()
        alarm_io = AlarmIO(self.board.gpio, backend, self._config, self._audit)
        # the lamp follows at the next turn of the loop: nothing ahead of the alarm's own
        # listeners (linkage) on the alarm path
        alarm_io.on_input(lambda _event: self.panel.refresh_soon() if self.panel else None)
        await alarm_io.start()
        self.alarm_io = alarm_io

    async def _start_poe(self) -> None:
        assert self.board is not None
        try:  # the PSE INT pins, if the board wires them; polling does without
            gpio: GpioBackend | None = self._gpio_backend()
        except Exception as exc:
            logger.info("PoE interrupt lines not watched (%s): polling", exc)
            gpio = None
        poe = PoePorts(self.board.poe, self._config, self._audit, gpio=gpio)
        if self.sim is not None and poe.opened.sim:
            self.sim.attach_poe(poe.opened.sim)
        await poe.start()
        self.poe = poe

    def _gpio_backend(self) -> GpioBackend:
        assert self.board is not None
        return open_backend(self.board.gpio, sim=self.sim.gpio if self.sim else None)

    async def _start_panel(self) -> None:
        assert self.board is not None
        panel = FrontPanel.from_section(self.board.leds, sysfs_root=(
            self.sim.leds_root if self.sim is not None and self.board.leds.backend == "sim"
            else None))
        self.panel = PanelDriver(
            panel, self._signals,
            alarm_active=lambda: self.alarm_io.any_active() if self.alarm_io else False,
            poe_fault=lambda: self.poe.fault() if self.poe else False)
        self.panel.start()
        if panel.unavailable:  # the lamps that work are driven; say which do not
            reason = "; ".join(str(e) for e in panel.unavailable)
            self.problems["front panel"] = reason
            self._audit.record("hardware", "front panel lamps not available",
                               result="failed", details=reason)

    async def _start_buttons(self) -> None:
        assert self.board is not None
        if self.sim is not None and self.board.buttons.backend == "sim":
            keypad = Keypad(self.board.buttons, self._on_button,
                            dev_root=self.sim.buttons_dev_root,
                            sysfs_root=self.sim.buttons_sysfs_root)
        else:
            keypad = Keypad(self.board.buttons, self._on_button)
        await keypad.start()
        self._keypad = keypad

    async def _start_ptz(self) -> None:
        assert self.board is not None
        port = self.board.serial.port("ptz")
        assert port is not None
        device = (self.sim.serial_device("ptz")
                  if self.sim is not None and self.board.serial.backend == "sim" else None)
        bus = await PtzBus.open(LineSettings.from_port(port, device=device))
        self.ptz = PtzDomes(bus, self._config)

    async def _start_disks(self) -> None:
        assert self.board is not None
        runner = SubprocessRunner()
        smart_runner = self.sim.smart_runner if self.sim is not None else runner
        inventory = DiskInventory(self.board.disks, PyudevBlockEvents(),
                                  DeviceProbe(runner))
        health = DiskHealth(inventory, SmartChecker(smart_runner),
                            SmartHistory(self._data_dir / "smart.db"),
                            clock_us=lambda: time.time_ns() // 1000)
        await inventory.start()
        self._inventory_started = True
        self.disks = DiskStack(inventory, health, Mounter(runner), DiskPreparer(runner))

    # --- buttons ---------------------------------------------------------------------------

    def listen_to_buttons(self, listener: Callable[[ButtonEvent], None]
                          ) -> Callable[[], None]:
        """Call ``listener`` with every front-panel button event (the console's proof of
        presence); returns the function that stops it."""
        self._button_listeners.append(listener)
        return lambda: self._button_listeners.remove(listener)

    def has_button(self, role: str) -> bool:
        return self._keypad is not None and any(
            key.role == role for key in (self.board.buttons.keys if self.board else ()))

    def _on_button(self, event: ButtonEvent) -> None:
        for listener in list(self._button_listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("button listener failed")
        panel = self.panel
        if isinstance(event, HoldProgress) and panel is not None:
            panel.set_phase(Phase.BUTTON_HELD)
        elif isinstance(event, Requested):
            what = ("factory reset" if event.request == Request.FACTORY_RESET
                    else "shutdown")
            logger.warning("%s button held %.0f s: %s requested", event.role, event.held_s,
                           what)
            self._audit.record("system", f"{what} requested by the {event.role} button",
                               source="front panel")
            if panel is not None:
                panel.set_phase(Phase.FACTORY_RESET_PENDING
                                if event.request == Request.FACTORY_RESET
                                else Phase.SHUTTING_DOWN)
            handler = (self._on_factory_reset if event.request == Request.FACTORY_RESET
                       else self._on_shutdown)
            if handler is not None:
                self._spawn(handler(f"{event.role} button"))
        elif isinstance(event, Released | HoldCancelled) and panel is not None:
            requested = isinstance(event, Released) and event.requested
            if not requested and panel.phase == Phase.BUTTON_HELD:
                panel.set_phase(Phase.RUNNING)

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception:
                logger.exception("button request failed")

        task = asyncio.get_running_loop().create_task(run(), name="button-request")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _uses_sim(board: BoardProfile) -> bool:
    return "sim" in (board.gpio.backend, board.leds.backend, board.buttons.backend,
                     board.serial.backend) or any(c.kind == "sim" for c in
                                                  board.poe.controllers)
