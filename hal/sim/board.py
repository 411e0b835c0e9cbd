"""The simulated board as one object: every device the profile declares with ``backend =
"sim"``, built under one state directory, torn down in one call, and reachable from the
control socket (``tools/simctl``) through :meth:`SimBoard.commands`.

The daemon builds its real drivers on what this object exposes (``gpio`` for
``hal.gpio.open_backend``, ``leds_root`` for ``FrontPanel``, the input roots for ``Keypad``,
``serial_device`` for the PTZ bus and console, ``smart_runner`` for SMART), so the code
that runs on a box runs here too; only the far side of each seam is simulated.

Order matters in two places. :meth:`SimBoard.start` opens the button device before the
daemon's ``Keypad`` starts (a reader on a FIFO with no writer would see end-of-file, i.e.
"device gone"). PoE is the exception to "the board makes its devices": ``open_poe`` makes
the simulated PSEs along with the real driver on top of them, so the daemon hands them over
with :meth:`SimBoard.attach_poe`; until then the ``poe`` commands say so.

Chassis numbers (alarm inputs, relays, PoE ports, bays) start at 1, as printed on the box.
Alarm contacts are *physical*: ``alarm close 2`` closes the detector's contact; whether that
is an alarm depends on the contact type (NO/NC), which is the daemon's business. At start
every contact is at rest for its profile contact type: NO contacts open, NC loops closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hal.board import AlarmInput, BoardProfile, Buzzer, DisksSection, RelayOutput
from hal.disks.errors import CommandFailed, CommandTimeout
from hal.disks.runner import CommandRunner, SubprocessRunner
from hal.ptz.commands import PtzProtocol
from hal.ptz.settings import DomeSettings
from hal.sim.buttons import SimButtons
from hal.sim.control import Command, CommandError, command, to_jsonable
from hal.sim.disks import SimDiskError, SimDisks, SimSmartHealth, sim_unavailable_reason
from hal.sim.dome import SimDome, SimPtzLine
from hal.sim.gpio import SimGpioRegistry
from hal.sim.leds import SimLeds
from hal.sim.poe_link import PoeLink
from hal.sim.pty import PtyPair, open_pty_pair

if TYPE_CHECKING:
    from hal.sim.tps23861 import SimPse

__all__ = ["DEFAULT_DOMES", "OUTPUT_LOG_SHOWN", "SimBoard"]

DEFAULT_DOMES: tuple[DomeSettings, ...] = tuple(
    DomeSettings(PtzProtocol.PELCO_D, address) for address in range(1, 5))
"""Four Pelco-D domes, addresses 1-4; ``baud=None`` here means the profile's PTZ rate (set
at :meth:`SimBoard.start`), so a driver talking at another rate is ignored, as on a bus."""
OUTPUT_LOG_SHOWN = 20
"""How many recent relay/buzzer changes ``relays`` shows."""
SMART_HEALTHS: tuple[SimSmartHealth, ...] = ("healthy", "reallocated", "failing", "standby",
                                             "unavailable")

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class SimBoard:
    """The simulated box of ``profile``, its files under ``state_dir``.

    ``disk_bays`` replaces the profile's bays for the simulated disks (tests use loop
    numbers of their own, clear of the sim profile's); ``sleep`` times ``button hold``
    (tests pass one that moves a manual clock).
    """

    def __init__(self, profile: BoardProfile, state_dir: Path, *,
                 domes: Sequence[DomeSettings] = DEFAULT_DOMES,
                 disk_bays: DisksSection | None = None, sleep: Sleep = asyncio.sleep) -> None:
        self.profile = profile
        self.state_dir = state_dir
        self._domes = tuple(domes)
        self._disk_bays = disk_bays if disk_bays is not None else profile.disks
        self._sleep = sleep
        self.gpio = SimGpioRegistry()
        self.leds_root = state_dir / "leds"
        self._input_dir = state_dir / "input"
        self.leds: SimLeds | None = None
        self.buttons: SimButtons | None = None
        self.ptys: dict[str, PtyPair] = {}
        self.ptz: SimPtzLine | None = None
        self.disks: SimDisks | None = None
        self.disks_unavailable: str | None = None
        self.smart_runner: CommandRunner = SubprocessRunner()
        self.poe: dict[str, SimPse] | None = None
        self.poe_link: PoeLink | None = None  # port power -> its interface's link
        self._contacts: dict[int, bool] = {}  # alarm input → contact closed
        self._started = False

    @property
    def buttons_dev_root(self) -> Path:
        return self._input_dir / "dev" / "input"

    @property
    def buttons_sysfs_root(self) -> Path:
        return self._input_dir / "sys" / "class" / "input"

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Make every ``sim`` device of the profile. On failure nothing stays made."""
        if self._started:
            raise RuntimeError("the simulated board is already started")
        self._started = True
        p = self.profile
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            if p.gpio.backend == "sim":
                self.gpio = SimGpioRegistry.for_section(p.gpio)
                for alarm in p.gpio.alarm_inputs:
                    self._wire_contact(alarm, closed=alarm.contact == "NC")
            if p.leds.backend == "sim":
                self.leds = SimLeds.from_section(p.leds, self.leds_root).create()
            if p.buttons.backend == "sim":
                self.buttons = SimButtons.from_section(p.buttons, self._input_dir).open()
            if p.serial.backend == "sim":
                for port in p.serial.ports:
                    self.ptys[port.role] = open_pty_pair()
                    if port.role == "ptz":
                        domes = tuple(SimDome(dataclasses.replace(d, baud=d.baud or port.baud))
                                      for d in self._domes)
                        self.ptz = SimPtzLine(self.ptys[port.role].master_fd, domes)
                        self.ptz.start()
            await self._start_disks()
        except BaseException:
            await self.close()
            raise

    async def _start_disks(self) -> None:
        if not self._disk_bays.bays:
            self.disks_unavailable = "the board has no drive bays"
            return
        self.disks_unavailable = sim_unavailable_reason()
        if self.disks_unavailable is not None:
            return
        try:
            self.disks = SimDisks(self._disk_bays, self.state_dir / "disks")
        except SimDiskError as exc:
            self.disks_unavailable = str(exc)
            return
        self.smart_runner = self.disks.smart_runner

    async def close(self) -> None:
        """Pull the disks, close the ptys and the button device, remove the trees.
        Idempotent; tries everything and raises the first error."""
        first: BaseException | None = None
        if self.ptz is not None:
            self.ptz.close()
            self.ptz = None
        for pair in self.ptys.values():
            pair.close()
        self.ptys.clear()
        if self.buttons is not None:
            self.buttons.close()
            self.buttons = None
        if self.disks is not None:
            try:
                await self.disks.close()
            except (SimDiskError, CommandFailed, CommandTimeout, OSError) as exc:
                first = exc
            self.disks = None
            self.smart_runner = SubprocessRunner()
        self.leds = None
        for tree in (self.leds_root, self._input_dir):
            shutil.rmtree(tree, ignore_errors=True)
        if self.poe_link is not None:
            await asyncio.to_thread(self.poe_link.close)
            self.poe_link = None
        self.poe = None
        self._started = False
        if first is not None:
            raise first

    def attach_poe(self, sims: Mapping[str, SimPse]) -> None:
        """The simulated PSEs ``open_poe`` made (``OpenedPoe.sim``), for the ``poe`` commands.
        Every ``kind = "sim"`` controller of the profile must be among them. From now on
        each port's ``interface`` (if it exists) is up while the port is powered
        (``hal/sim/poe_link.py``)."""
        wanted = {c.id for c in self.profile.poe.controllers if c.kind == "sim"}
        missing = sorted(wanted - set(sims))
        if missing:
            raise ValueError(f"simulated PoE controller(s) {', '.join(missing)} are missing "
                             f"(given: {', '.join(sorted(sims)) or 'none'})")
        self.poe = dict(sims)
        if self.poe_link is None:
            self.poe_link = PoeLink(self.profile.poe)
        self.poe_link.attach(self.poe)

    def serial_device(self, role: str) -> str:
        """The pty slave the daemon opens for the ``ptz`` or ``console`` port."""
        pair = self.ptys.get(role)
        if pair is None:
            raise LookupError(f"no simulated serial port {role!r} (ports: "
                              f"{', '.join(sorted(self.ptys)) or 'none; is it started?'})")
        return pair.slave_path

    # --- state -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole board, as plain JSON values (``simctl status``)."""
        p = self.profile
        leds = self.leds.states() if self.leds is not None else {}
        state = {
            "board": {"name": p.name, "model": p.model, "summary": p.summary()},
            "alarm_inputs": self.alarm_list(),
            **self._outputs(),
            "leds": {role: led.mode for role, led in leds.items()},
            "buttons": self.buttons.states() if self.buttons is not None else {},
            "poe": {"attached": self.poe is not None, "ports": self._poe_ports()},
            "disks": {"available": self.disks is not None, "reason": self.disks_unavailable,
                      "bays": self.disks.snapshot() if self.disks is not None else []},
            "ptz": self.ptz.snapshot() if self.ptz is not None else None,
            "serial": {role: pair.slave_path for role, pair in self.ptys.items()},
        }
        result: dict[str, Any] = to_jsonable(state)
        return result

    def alarm_list(self) -> list[dict[str, Any]]:
        if not self.gpio.labels:  # not started, or the board's GPIO is not simulated
            return []
        return [self._alarm_state(a) for a in self.profile.gpio.alarm_inputs]

    def relays(self) -> dict[str, Any]:
        """Relays and buzzer as driven on the chip, plus the latest output changes."""
        result: dict[str, Any] = to_jsonable({**self._outputs(), "log": self._output_log()})
        return result

    def _alarm_state(self, alarm: AlarmInput) -> dict[str, Any]:
        chip = self.gpio.chip(alarm.chip)
        info = chip.line_info(alarm.line)
        return {"number": alarm.number, "contact_type": alarm.contact,
                "contact": "closed" if self._contacts.get(alarm.number) else "open",
                "line": "high" if info.high else "low", "claimed": info.used}

    def _outputs(self) -> dict[str, Any]:
        gpio = self.profile.gpio
        if not self.gpio.labels:
            return {"relays": [], "buzzer": None}
        buzzer = None if gpio.buzzer is None else self._output("buzzer", gpio.buzzer)
        return {"relays": [self._output(f"relay {r.number}", r) for r in gpio.relays],
                "buzzer": buzzer}

    def _output(self, name: str, spec: RelayOutput | Buzzer) -> dict[str, Any]:
        info = self.gpio.chip(spec.chip).line_info(spec.line)
        state: dict[str, Any] = {"name": name, "on": info.high != spec.active_low,
                                 "line": "high" if info.high else "low",
                                 "claimed": info.used}
        if isinstance(spec, RelayOutput):
            state.update(number=spec.number, kind=spec.kind)
        return state

    def _output_log(self) -> list[dict[str, Any]]:
        gpio = self.profile.gpio
        names: dict[tuple[str, int], tuple[str, bool]] = {
            (r.chip, r.line): (f"relay {r.number}", r.active_low) for r in gpio.relays}
        if gpio.buzzer is not None:
            names[(gpio.buzzer.chip, gpio.buzzer.line)] = ("buzzer", gpio.buzzer.active_low)
        now_ns, wall = time.monotonic_ns(), time.time()
        changes = [c for label in self.gpio.labels for c in self.gpio.chip(label).output_log
                   if (c.chip, c.offset) in names]
        changes.sort(key=lambda c: c.timestamp_ns)
        log = []
        for c in changes[-OUTPUT_LOG_SHOWN:]:
            name, active_low = names[(c.chip, c.offset)]
            ago_s = (now_ns - c.timestamp_ns) / 1e9
            log.append({"output": name, "on": c.high != active_low, "released": c.released,
                        "timestamp_ns": c.timestamp_ns, "ago_s": round(ago_s, 3),
                        "at": datetime.fromtimestamp(wall - ago_s).isoformat(
                            timespec="milliseconds")})
        return log

    def _poe_ports(self) -> list[dict[str, Any]]:
        ports = []
        for port in self.profile.poe.ports:
            entry: dict[str, Any] = {"port": port.port, "controller": port.controller,
                                     "channel": port.channel,
                                     "camera_channel": port.camera_channel}
            sim = self.poe.get(port.controller) if self.poe is not None else None
            if sim is not None and port.channel is not None:
                entry.update(dataclasses.asdict(sim.port(port.channel)))
            ports.append(entry)
        return ports

    # --- actions (what the commands call) --------------------------------------------------

    def set_alarm_contact(self, number: int, *, closed: bool) -> dict[str, Any]:
        alarm = _pick(number, "alarm input", {a.number: a for a in
                                              self.profile.gpio.alarm_inputs})
        if not self.gpio.labels:
            raise CommandError("this board's alarm inputs are not simulated (gpio backend "
                               f"{self.profile.gpio.backend!r})")
        edge_ns = self._wire_contact(alarm, closed=closed)
        return {**self._alarm_state(alarm), "edge_ns": edge_ns}

    def _wire_contact(self, alarm: AlarmInput, *, closed: bool) -> int | None:
        """A closed contact pulls the line to its active level (GND for the vendor's
        active-low inputs); an open one leaves it floating for the bias to decide."""
        self._contacts[alarm.number] = closed
        level = (not alarm.active_low) if closed else None
        return self.gpio.chip(alarm.chip).set_input_level(alarm.line, level)

    def _attached_poe(self) -> dict[str, SimPse]:
        if not self.profile.poe.ports:
            raise CommandError("this board has no PoE ports")
        if self.poe is None:
            raise CommandError("PoE is not attached yet: the daemon hands the simulated PSEs "
                               "over (SimBoard.attach_poe) once it has opened PoE")
        return self.poe

    def _pse(self, number: int) -> tuple[SimPse, int, int]:
        """The simulated PSE, its channel and the chassis number of PoE port ``number``."""
        poe = self._attached_poe()
        port = _pick(number, "PoE port", {p.port: p for p in self.profile.poe.ports})
        sim = poe.get(port.controller)
        if sim is None or port.channel is None:
            raise CommandError(f"PoE port {port.port} is on controller {port.controller}, "
                               "which is not simulated")
        return sim, port.channel, port.port

    def _disks(self) -> SimDisks:
        if self.disks is None:
            raise CommandError(f"simulated disks are unavailable: {self.disks_unavailable}")
        return self.disks

    def _bay(self, bay: Any) -> int:
        return _pick(bay, "bay", {b.number: b.number for b in self._disk_bays.bays})

    # --- control socket ----------------------------------------------------------------------

    def commands(self) -> list[Command]:
        """Everything ``simctl`` can do on this board (see ``simctl help``); after
        :meth:`start`, since the commands are those of the devices it made."""
        if not self._started:
            raise RuntimeError("start the simulated board before asking for its commands")
        cmds = [command("status", self.snapshot, "the whole board: alarm contacts, relays, "
                        "lamps, buttons, PoE ports, bays, PTZ domes")]
        cmds += self._alarm_commands()
        cmds.append(command("relays", self.relays, "relays and buzzer as driven, with the "
                            "latest output changes"))
        if self.leds is not None:
            leds = self.leds
            cmds.append(command("leds", leds.states, "every lamp by role, as the daemon left "
                                "it"))
            cmds += leds.commands()
        cmds += self._button_commands()
        cmds += self._poe_commands()
        cmds += self._disk_commands()
        cmds += self._ptz_commands()
        return cmds

    def _alarm_commands(self) -> list[Command]:
        def close(input: int) -> dict[str, Any]:
            return self.set_alarm_contact(input, closed=True)

        def open_(input: int) -> dict[str, Any]:
            return self.set_alarm_contact(input, closed=False)

        return [
            command("alarm close", close, "close the contact on ALARM IN n (NO: alarm, "
                    "NC: normal)"),
            command("alarm open", open_, "open the contact on ALARM IN n (NO: normal, "
                    "NC: alarm)"),
            command("alarm list", self.alarm_list, "every alarm input's contact and line"),
        ]

    def _button_commands(self) -> list[Command]:
        if self.buttons is None:
            return []
        buttons = self.buttons

        async def hold(button: str | int, seconds: float) -> dict[str, bool]:
            held = _seconds(seconds)
            await buttons.hold(button, held, sleep=self._sleep)
            return buttons.states()

        reused = [c for c in buttons.commands() if c.name != "button hold"]
        return [*reused, command("button hold", hold, "press BUTTON (reset, power), hold it "
                                 "for SECONDS, release (reset ≥5 s: factory reset; power "
                                 "≥3 s: shutdown)")]

    def _poe_commands(self) -> list[Command]:
        def plug(port: int, pd_class: int = 0, power_mw: int = 5_000) -> dict[str, Any]:
            pd = _pick(pd_class, "PD class", {c: c for c in range(9)})
            mw = _pick_range(power_mw, "power_mw", 0, 100_000)
            sim, channel, number = self._pse(port)
            sim.plug(channel, pd_class=pd, power_mw=mw)
            return self._poe_port(number)

        def unplug(port: int) -> dict[str, Any]:
            sim, channel, number = self._pse(port)
            sim.unplug(channel)
            return self._poe_port(number)

        def overcurrent(port: int) -> dict[str, Any]:
            sim, channel, number = self._pse(port)
            sim.force_overcurrent(channel)
            return self._poe_port(number)

        def ports() -> list[dict[str, Any]]:
            self._attached_poe()
            return self._poe_ports()

        return [
            command("poe plug", plug, "plug a powered device into PORT (IEEE class 0-8, its "
                    "draw once powered)"),
            command("poe unplug", unplug, "pull the cable from PORT"),
            command("poe overcurrent", overcurrent, "trip PORT's current limit (the PSE "
                    "switches it off)"),
            command("poe ports", ports, "every PoE port: controller/channel, device, power"),
        ]

    def _poe_port(self, number: int) -> dict[str, Any]:
        return next(p for p in self._poe_ports() if p["port"] == number)

    def _disk_commands(self) -> list[Command]:
        async def insert(bay: int, size_mib: int = 256, serial: str | None = None
                         ) -> dict[str, Any]:
            disks, number = self._disks(), self._bay(bay)
            size = _pick_range(size_mib, "size_mib", 1, 1 << 20)
            with _as_command_error():
                inserted = await disks.insert(number, size, serial=None if serial is None
                                              else str(serial))
            return self._bay_state(inserted.bay)

        async def remove(bay: int) -> dict[str, Any]:
            disks, number = self._disks(), self._bay(bay)
            with _as_command_error():
                await disks.remove(number)
            return self._bay_state(number)

        def smart(bay: int, health: str) -> dict[str, Any]:
            disks, number = self._disks(), self._bay(bay)
            wanted = next((h for h in SMART_HEALTHS if h == health), None)
            if wanted is None:
                raise CommandError(f"HEALTH must be one of {', '.join(SMART_HEALTHS)}, not "
                                   f"{health!r}")
            disks.set_smart(number, wanted)
            return self._bay_state(number)

        def bays() -> list[dict[str, Any]]:
            return [self._bay_state(b.bay) for b in self._disks().snapshot()]

        return [
            command("disk insert", insert, "put a disk into BAY (a new one, or the disk with "
                    "that serial, moved)"),
            command("disk remove", remove, "pull the disk out of BAY"),
            command("disk smart", smart, f"what SMART reports for BAY's disk "
                    f"({', '.join(SMART_HEALTHS)})"),
            command("disk list", bays, "every bay: disk, serial, size, SMART health"),
        ]

    def _bay_state(self, number: int) -> dict[str, Any]:
        state = next(b for b in self._disks().snapshot() if b.bay == number)
        result: dict[str, Any] = to_jsonable(state)
        return result

    def _ptz_commands(self) -> list[Command]:
        if self.ptz is None:
            return []
        line = self.ptz

        def domes() -> Any:
            return line.snapshot()

        def noise(hex_bytes: str) -> dict[str, Any]:
            try:
                data = bytes.fromhex(str(hex_bytes))
            except ValueError:
                data = b""
            if not data:
                raise CommandError(f"HEX_BYTES must be hex bytes such as 'ff 12 a0', not "
                                   f"{hex_bytes!r}")
            line.inject(data)
            return {"injected": len(data)}

        def echo(on: bool | str | int) -> dict[str, bool]:
            line.set_echo(_switch(on))
            return {"echo": line.snapshot().echo}

        return [
            command("ptz domes", domes, "the RS-485 line and every dome on it"),
            command("ptz noise", noise, "put bytes on the bus (noise the driver must skip)"),
            command("ptz echo", echo, "echo every byte back, as a 2-wire line does (on/off)"),
        ]


# --- argument checks -------------------------------------------------------------------------


def _pick(value: Any, what: str, known: Mapping[int, T]) -> T:
    """``known[value]`` for a chassis number typed as a word or a number, else a sentence."""
    number = _as_int(value)
    if number is None or number not in known:
        raise CommandError(f"there is no {what} {value!r}; the board has "
                           f"{_numbers(sorted(known))}")
    return known[number]


def _pick_range(value: Any, what: str, low: int, high: int) -> int:
    number = _as_int(value)
    if number is None or not low <= number <= high:
        raise CommandError(f"{what} must be a whole number from {low} to {high}, not {value!r}")
    return number


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value, 0)
    return None


def _numbers(numbers: list[int]) -> str:
    if not numbers:
        return "none"
    if numbers == list(range(numbers[0], numbers[-1] + 1)) and len(numbers) > 2:
        return f"{numbers[0]}-{numbers[-1]}"
    return ", ".join(map(str, numbers))


def _seconds(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if isinstance(value, bool) or not 0 <= seconds <= 60:
        raise CommandError(f"SECONDS must be a number from 0 to 60, not {value!r}")
    return seconds


def _switch(value: Any) -> bool:
    words = {"on": True, "off": False, "true": True, "false": False, "1": True, "0": False}
    key = str(value).lower()
    if key not in words:
        raise CommandError(f"ON must be on or off (true/false), not {value!r}")
    return words[key]


@contextlib.contextmanager
def _as_command_error() -> Iterator[None]:
    """The disk sim's failures (already sentences) as the caller's error."""
    try:
        yield
    except (SimDiskError, CommandFailed, CommandTimeout) as exc:
        raise CommandError(str(exc)) from exc
