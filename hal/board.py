"""Board profile: what hardware this box has and where it is wired.

A profile (``config/boards/<name>.toml``) is the only place that knows the box's wiring:
which udev path is bay 3, which I²C address drives PoE port 5, which gpiochip line is
alarm input 2, which LED-class device is the HDD-fault lamp, which tty is the RS-485 bus.
The drivers in ``hal/*`` are built from it, so one firmware image runs on several boards
(and on the simulated one) without code changes.

Why pydantic models rather than hand-written checks: the daemon formats every
``ValidationError`` with one formatter that names the field and the bad value, so a board
engineer who mistypes a controller id gets ``poe.ports[3].controller`` at start-up, not a
traceback from a driver when the port is first used. Rules that span several entries
(duplicate bay numbers, a PoE port naming an undeclared controller, two signals on one
GPIO line, ...) are checked here too, all at once per section, and reported at the ``loc``
of the offending entry, so one run lists (nearly) every mistake in the file.

Conventions: numbers people read on the chassis (bays, PoE ports, alarm inputs, relays,
camera channels) start at 1; numbers the hardware uses (I²C bus, gpio line offset, PSE
channel = bit n in the chip's per-port registers) start at 0. Units are in field names
(``budget_mw``, ``debounce_ms``, ``baud``).
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Hashable, Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = [
    "LED_ROLES",
    "POE_PRIORITIES",
    "AlarmInput",
    "Bay",
    "BoardProfile",
    "BoardProfileError",
    "BoardProfileNotFound",
    "ButtonsSection",
    "Buzzer",
    "DisksSection",
    "GpioLine",
    "GpioSection",
    "Indicator",
    "KernelPseController",
    "Key",
    "LedsSection",
    "PoeController",
    "PoePort",
    "PoeSection",
    "RelayOutput",
    "SerialPort",
    "SerialSection",
    "SimPoeController",
    "Tps23861Controller",
    "available_board_profiles",
    "find_board_profile",
    "load_board_profile",
]

Loc = tuple[str | int, ...]

# --- value types -----------------------------------------------------------------------------

# Profile names double as file names (``<name>.toml``), so they must not contain a path.
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
ProfileName = Annotated[str, Field(pattern=_NAME_RE.pattern)]
# Controller ids are referenced from the port table; same shape as profile names.
ControllerId = Annotated[str, Field(pattern=_NAME_RE.pattern)]
Label = Annotated[str, Field(min_length=1, max_length=63)]

# Chassis numbering (1-based). 64 covers the largest boxes in the vendor range (16 bays,
# 24 PoE ports, 16 alarm inputs) with room to spare, and catches a stray 0.
ChassisNumber = Annotated[int, Field(ge=1, le=64)]
CameraChannel = Annotated[int, Field(ge=1, le=256)]
PowerMw = Annotated[int, Field(ge=1, le=10_000_000)]
LineOffset = Annotated[int, Field(ge=0, le=1023)]

PoePriority = Literal["critical", "high", "low"]
# Highest first: the budget manager sheds from the end of this tuple.
POE_PRIORITIES: tuple[PoePriority, ...] = ("critical", "high", "low")

# Front-panel roles the daemon knows how to drive. ``status`` is the RUN/STATUS lamp ("device
# working properly"); per-bay lamps are ``bay<N>`` (activity) and ``bay<N>_fault``.
LED_ROLES: frozenset[str] = frozenset(
    {"power", "status", "hdd", "hdd_fault", "network", "network_fault", "alarm", "record",
     "poe_fault"}
)
_BAY_LED_RE = re.compile(r"^bay([1-9][0-9]?)(_fault)?$")

ButtonRole = Literal["reset", "power", "wps", "panel_lock"]
SerialRole = Literal["ptz", "console"]
Baud = Literal[300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800,
               921600]
# pyserial URL schemes a tty-backend device may use instead of a /dev path (tests, remote ports).
_SERIAL_URL_SCHEMES = ("socket://", "rfc2217://", "loop://", "spy://", "alt://")


def _custom(code: str, message: str, value: Any, /, **ctx: Any) -> PydanticCustomError:
    """A pydantic error whose message names the bad value.

    The message is formatted here (pydantic's templates know no ``!r``); ``value`` and
    ``ctx`` also go into the error's context for code that wants them structured.
    """
    context = {"value": value, **ctx}
    return PydanticCustomError(f"board_{code}", message.format(**context), context)


def _error(loc: Loc, code: str, message: str, value: Any, /, **ctx: Any) -> InitErrorDetails:
    """One line error at ``loc`` (relative to the model whose validator reports it)."""
    return InitErrorDetails(type=_custom(code, message, value, **ctx), loc=loc, input=value)


def _raise_if_any(model: BaseModel, errors: list[InitErrorDetails]) -> None:
    """Report every cross-field problem at once, each at its own ``loc``.

    A ``ValidationError`` raised inside a validator is merged by pydantic into the outer
    error with the parent's location prepended, so the daemon's formatter sees e.g.
    ``poe.ports.3.controller`` rather than a bare ``poe``.
    """
    if errors:
        raise ValidationError.from_exception_data(type(model).__name__, errors)


def _duplicates(
    entries: Iterable[tuple[Loc, Hashable, Any]], what: str
) -> list[InitErrorDetails]:
    """An error at every entry whose key was already used by an earlier entry."""
    first: dict[Hashable, Loc] = {}
    errors: list[InitErrorDetails] = []
    for loc, key, value in entries:
        if key in first:
            errors.append(_error(loc, "duplicate", "the same {what} is already used by "
                                 "{first}", value, what=what, first=_entry(first[key])))
        else:
            first[key] = loc
    return errors


def _entry(loc: Loc) -> str:
    """The entry a loc is in, as a reader writes it: ``("relays", 1, "line")`` → ``relays[1]``.

    Relative to the section the error is reported in, whose full path the formatter
    prints in front of the message.
    """
    if len(loc) > 1 and isinstance(loc[-1], str):
        loc = loc[:-1]
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _check_gpio_chip(value: str) -> str:
    """A gpiochip is named by its device path or by its label (``gpiodetect`` shows both).

    Labels survive probe-order changes that renumber ``/dev/gpiochipN``; paths are simpler
    when the SoC has a single chip.
    """
    if value != value.strip() or not value:
        raise _custom("gpio_chip", "a GPIO chip name must not be empty or have surrounding "
                      "blanks", value)
    if "/" in value and not value.startswith("/dev/"):
        raise _custom("gpio_chip", "a GPIO chip is a /dev path (e.g. /dev/gpiochip0) or a "
                      "chip label without '/'", value)
    return value


def _check_sysfs_name(value: str) -> str:
    """A single sysfs directory entry (LED-class names look like ``nvr:red:hdd-fault``)."""
    if not value or "/" in value or value in (".", "..") or value != value.strip():
        raise _custom("sysfs_name", "must be a single sysfs entry name (no '/')", value)
    return value


def _check_i2c_address(value: int) -> int:
    # 0x00-0x02 and 0x78-0x7F are reserved by the I²C spec; 8-bit (shifted) addresses from a
    # datasheet's write-address column are the usual mistake, hence the hex message.
    if not 0x03 <= value <= 0x77:
        raise _custom("i2c_address", "I²C address {hex} is not a 7-bit address in "
                      "0x03-0x77", value, hex=f"{value:#04x}")
    return value


GpioChip = Annotated[str, AfterValidator(_check_gpio_chip)]
SysfsName = Annotated[str, AfterValidator(_check_sysfs_name)]
I2cAddress = Annotated[int, AfterValidator(_check_i2c_address)]
# A Linux network interface name (IFNAMSIZ - 1 characters).
IfName = Annotated[str, Field(pattern=r"^[^\s/:]{1,15}$")]
GlobPattern = Annotated[str, Field(min_length=1, max_length=255)]


class _Model(BaseModel):
    """Frozen and strict about unknown keys: a misspelt key is an error, not a default."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# --- disks -----------------------------------------------------------------------------------


class Bay(_Model):
    """A drive bay, recognised by where the disk is attached, not by what disk it is.

    ``id_path`` globs match udev's ``ID_PATH`` (``pci-0000:00:17.0-ata-1.0``; udev ≥ 246
    adds ``.0``, the old name stays as ``ID_PATH_ATA_COMPAT``, so list both or use a glob).
    ``devpath`` globs match the kernel DEVPATH (``/devices/pci0000:00/0000:00:17.0/ata1/*``)
    and are the fallback when the udev database is missing (tests, early boot). Match the
    whole disk, not its partitions.
    """

    number: ChassisNumber
    id_path: tuple[GlobPattern, ...] = ()
    devpath: tuple[GlobPattern, ...] = ()
    hot_swap: bool = False
    label: Label | None = None

    @field_validator("id_path", "devpath", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("devpath")
    @classmethod
    def _under_devices(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if not pattern.startswith(("/devices/", "*")):
                raise _custom("devpath", "devpath pattern {pattern!r} must start with "
                              "/devices/ (a kernel DEVPATH)", value, pattern=pattern)
        return value

    @model_validator(mode="after")
    def _has_pattern(self) -> Self:
        if not self.id_path and not self.devpath:
            _raise_if_any(self, [_error(("id_path",), "bay_unmatched", "bay {bay} needs an "
                                        "id_path or a devpath pattern", self.id_path,
                                        bay=self.number)])
        return self

    def matches(self, id_path: str | None, devpath: str | None) -> bool:
        """Whether a disk with these udev/kernel paths sits in this bay."""
        if devpath and devpath.startswith("/sys/"):
            devpath = devpath[len("/sys"):]
        return bool(
            (id_path and any(fnmatch.fnmatchcase(id_path, p) for p in self.id_path))
            or (devpath and any(fnmatch.fnmatchcase(devpath, p) for p in self.devpath))
        )


class DisksSection(_Model):
    bays: tuple[Bay, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        errors = _duplicates(((("bays", i, "number"), bay.number, bay.number)
                              for i, bay in enumerate(self.bays)), "bay number")
        errors += self._ambiguous_patterns()
        _raise_if_any(self, errors)
        return self

    def _ambiguous_patterns(self) -> list[InitErrorDetails]:
        """Catch e.g. ``ata-1*`` swallowing another bay's ``ata-10``: a pattern that matches
        another bay's pattern would put one disk in two bays. Blamed on the greedy bay."""
        errors: list[InitErrorDetails] = []
        for i, bay in enumerate(self.bays):
            for field in ("id_path", "devpath"):
                clash = next(((mine, other) for other in self.bays if other is not bay
                              for mine in getattr(bay, field)
                              for theirs in getattr(other, field)
                              if fnmatch.fnmatchcase(theirs, mine)), None)
                if clash is not None:
                    mine, other = clash
                    errors.append(_error(("bays", i, field), "ambiguous", "pattern {mine!r} "
                                         "also matches bay {other}, so one disk would be in "
                                         "two bays", getattr(bay, field), mine=mine,
                                         other=other.number))
        return errors

    def bay(self, number: int) -> Bay | None:
        return next((b for b in self.bays if b.number == number), None)

    def bay_for(self, id_path: str | None, devpath: str | None = None) -> Bay | None:
        """The bay a disk sits in; ``None`` for disks outside the bays (USB sticks, loops)."""
        return next((b for b in self.bays if b.matches(id_path, devpath)), None)


# --- GPIO lines (alarm I/O, buzzer, PoE interrupt pins) ---------------------------------------


class GpioLine(_Model):
    """One gpiochip line: chip (path or label), offset, polarity."""

    chip: GpioChip
    line: LineOffset
    active_low: bool = False


# --- PoE -------------------------------------------------------------------------------------


class Tps23861Controller(_Model):
    """TI TPS23861, 4 ports on I²C (smbus2). It has no budget register: the budget is
    enforced in software, which is why ``budget_mw`` lives in this profile."""

    CHANNELS: ClassVar[int] = 4

    kind: Literal["tps23861"]
    id: ControllerId
    i2c_bus: Annotated[int, Field(ge=0, le=255)]
    address: I2cAddress
    # Current-sense shunt (sets the current scale; register 0x17 b0 selects it on the chip).
    shunt_mohm: Literal[250, 255] = 255
    budget_mw: PowerMw | None = None
    # The open-drain INT pin, if wired to a GPIO (else the driver polls).
    interrupt: GpioLine | None = None

    @property
    def channel_count(self) -> int | None:
        return self.CHANNELS


class KernelPseController(_Model):
    """The kernel PSE-PD framework (ethtool --show-pse/--set-pse): ports are addressed by
    their network interface, so ports of this controller give ``interface``, not channel."""

    kind: Literal["kernel-pse"]
    id: ControllerId
    budget_mw: PowerMw | None = None

    @property
    def channel_count(self) -> int | None:
        return None


class SimPoeController(_Model):
    """The simulated PSE of ``hal/sim`` (tests, demo)."""

    kind: Literal["sim"]
    id: ControllerId
    channels: Annotated[int, Field(ge=1, le=48)] = 4
    budget_mw: PowerMw | None = None

    @property
    def channel_count(self) -> int | None:
        return self.channels


PoeController = Annotated[
    Tps23861Controller | KernelPseController | SimPoeController, Field(discriminator="kind")
]


class PoePort(_Model):
    """A PoE port as numbered on the rear panel."""

    port: ChassisNumber
    controller: ControllerId
    # PSE channel on the controller, 0-based (bit n in the TPS23861 per-port registers).
    channel: Annotated[int, Field(ge=0, le=47)] | None = None
    # Network interface of the port: required for kernel-pse; for other controllers it is
    # where link state is read (DSA switch port, or the veth of a simulated camera).
    interface: IfName | None = None
    # The camera channel a camera plugged in here is added to (PoE plug-and-play).
    camera_channel: CameraChannel | None = None
    # Most this port may draw: 802.3af 15.4 W, 802.3at (class 4) 30 W, 802.3bt up to 90 W.
    budget_mw: Annotated[int, Field(ge=1, le=90_000)] = 30_000
    priority: PoePriority = "low"
    # ePoE / long reach (300 m at 100 Mbit/s, 800 m at 10 Mbit/s) supported on this port.
    extended_reach: bool = False


class PoeSection(_Model):
    """PoE hardware: controllers, ports, and the power-supply budget they share.

    ``budget_mw`` is what the PSU can give all PoE ports together. If omitted it is the sum
    of the controllers' budgets, which then must all be given.
    """

    budget_mw: PowerMw | None = None
    controllers: tuple[PoeController, ...] = ()
    ports: tuple[PoePort, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        errors = _duplicates(((("controllers", i, "id"), c.id, c.id)
                              for i, c in enumerate(self.controllers)), "controller id")
        errors += _duplicates(((("controllers", i, "address"), (c.i2c_bus, c.address),
                                f"{c.address:#04x}")
                               for i, c in enumerate(self.controllers)
                               if isinstance(c, Tps23861Controller)), "I²C bus/address")
        errors += _duplicates(((("ports", i, "port"), p.port, p.port)
                               for i, p in enumerate(self.ports)), "PoE port number")
        errors += _duplicates(((("ports", i, "camera_channel"), p.camera_channel,
                                p.camera_channel)
                               for i, p in enumerate(self.ports) if p.camera_channel is not None),
                              "camera channel")
        errors += _duplicates(((("ports", i, "interface"), p.interface, p.interface)
                               for i, p in enumerate(self.ports) if p.interface is not None),
                              "interface")
        errors += self._check_port_wiring()
        errors += self._check_budget()
        _raise_if_any(self, errors)
        return self

    def _check_port_wiring(self) -> list[InitErrorDetails]:
        """Each port names a declared controller and is addressable on it."""
        by_id = {c.id: c for c in self.controllers}
        errors: list[InitErrorDetails] = []
        used: list[tuple[Loc, Hashable, Any]] = []
        for i, port in enumerate(self.ports):
            controller = by_id.get(port.controller)
            if controller is None:
                errors.append(_error(("ports", i, "controller"), "unknown_controller",
                                     "no PoE controller has this id (declared: {known})",
                                     port.controller, known=", ".join(by_id) or "none"))
                continue
            count = controller.channel_count
            if count is None:
                if port.channel is not None:
                    errors.append(_error(("ports", i, "channel"), "channel_unused",
                                         "ports of a {kind} controller are addressed by "
                                         "interface, not channel", port.channel,
                                         kind=controller.kind))
                if port.interface is None:
                    errors.append(_error(("ports", i, "interface"), "interface_missing",
                                         "port {port} is on a {kind} controller and needs its "
                                         "network interface", None, port=port.port,
                                         kind=controller.kind))
            elif port.channel is None:
                errors.append(_error(("ports", i, "channel"), "channel_missing",
                                     "port {port} needs the channel it uses on {controller}",
                                     None, port=port.port, controller=controller.id))
            elif port.channel >= count:
                errors.append(_error(("ports", i, "channel"), "channel_range",
                                     "{controller} has channels 0-{last} only", port.channel,
                                     controller=controller.id, last=count - 1))
            else:
                used.append((("ports", i, "channel"), (controller.id, port.channel),
                             f"{controller.id}/{port.channel}"))
        return errors + _duplicates(used, "controller channel")

    def _check_budget(self) -> list[InitErrorDetails]:
        """The board budget must be derivable and reachable; no port may be allowed more
        than the supply behind it can give."""
        declared = [c.budget_mw for c in self.controllers]
        errors: list[InitErrorDetails] = []
        if self.budget_mw is None:
            missing = [c.id for c in self.controllers if c.budget_mw is None]
            if self.ports and missing:
                errors.append(_error(("budget_mw",), "budget_missing", "a board-level PoE "
                                     "budget_mw is required because controller(s) {missing} "
                                     "declare none", None, missing=", ".join(missing)))
                return errors
        elif declared and None not in declared:
            total = sum(b for b in declared if b is not None)
            if total < self.budget_mw:
                errors.append(_error(("budget_mw",), "budget_unreachable", "more than the sum "
                                     "of the controllers' budgets ({total} mW), so it can "
                                     "never be drawn", self.budget_mw, total=total))
        by_id = {c.id: c for c in self.controllers}
        for i, port in enumerate(self.ports):
            controller = by_id.get(port.controller)
            limits = [("the board's PoE budget", self.total_budget_mw)]
            if controller is not None and controller.budget_mw is not None:
                limits.append((f"controller {controller.id}'s budget", controller.budget_mw))
            for what, limit in limits:
                if port.budget_mw > limit:
                    errors.append(_error(("ports", i, "budget_mw"), "budget_port",
                                         "more than {what} of {limit} mW", port.budget_mw,
                                         what=what, limit=limit))
                    break
        return errors

    @property
    def total_budget_mw(self) -> int:
        """What all PoE ports together may draw."""
        if self.budget_mw is not None:
            return self.budget_mw
        return sum(c.budget_mw or 0 for c in self.controllers)

    def controller(self, controller_id: str) -> PoeController | None:
        return next((c for c in self.controllers if c.id == controller_id), None)

    def port(self, number: int) -> PoePort | None:
        return next((p for p in self.ports if p.port == number), None)

    def port_for_channel(self, camera_channel: int) -> PoePort | None:
        return next((p for p in self.ports if p.camera_channel == camera_channel), None)

    def ports_of(self, controller_id: str) -> tuple[PoePort, ...]:
        return tuple(p for p in self.ports if p.controller == controller_id)


# --- GPIO ------------------------------------------------------------------------------------


class AlarmInput(GpioLine):
    """An alarm input terminal (ALARM IN n). The vendor's inputs are active-low."""

    number: ChassisNumber
    active_low: bool = True
    # Factory default contact type of the detector; the installer may change it in nvrd.toml.
    contact: Literal["NO", "NC"] = "NO"
    debounce_ms: Annotated[int, Field(ge=0, le=1000)] = 20
    bias: Literal["pull-up", "pull-down", "disabled", "as-is"] = "pull-up"
    label: Label | None = None


class RelayOutput(GpioLine):
    """An alarm output: a dry-contact relay (NOn/Cn, or NO/C/NC changeover) or the switched
    12 V CTRL output, which the vendor counts as one more output group."""

    number: ChassisNumber
    kind: Literal["relay-no", "relay-changeover", "switched-12v"] = "relay-no"
    label: Label | None = None


class Buzzer(GpioLine):
    """The on-board buzzer, a plain on/off GPIO."""


class GpioSection(_Model):
    """Alarm inputs, relay outputs and the buzzer. ``backend``: ``gpiod`` (libgpiod v2 on the
    chardev) or ``sim`` (``hal/sim``'s gpiochip)."""

    backend: Literal["gpiod", "sim"] = "gpiod"
    alarm_inputs: tuple[AlarmInput, ...] = ()
    relays: tuple[RelayOutput, ...] = ()
    buzzer: Buzzer | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        errors = _duplicates(((("alarm_inputs", i, "number"), x.number, x.number)
                              for i, x in enumerate(self.alarm_inputs)), "alarm input number")
        errors += _duplicates(((("relays", i, "number"), x.number, x.number)
                               for i, x in enumerate(self.relays)), "relay number")
        errors += _duplicates((((*loc, "line"), (x.chip, x.line), f"{x.chip}:{x.line}")
                               for loc, x in self.lines()), "GPIO line")
        _raise_if_any(self, errors)
        return self

    def lines(self) -> Iterator[tuple[Loc, GpioLine]]:
        """Every line this section claims, with its location in the profile."""
        for i, alarm in enumerate(self.alarm_inputs):
            yield ("alarm_inputs", i), alarm
        for i, relay in enumerate(self.relays):
            yield ("relays", i), relay
        if self.buzzer is not None:
            yield ("buzzer",), self.buzzer

    def alarm_input(self, number: int) -> AlarmInput | None:
        return next((x for x in self.alarm_inputs if x.number == number), None)

    def relay(self, number: int) -> RelayOutput | None:
        return next((x for x in self.relays if x.number == number), None)


# --- LEDs ------------------------------------------------------------------------------------


def _check_led_role(value: str) -> str:
    if value not in LED_ROLES and not _BAY_LED_RE.match(value):
        raise _custom("led_role", "not an LED role; use one of {known}, bay<N>, bay<N>_fault",
                      value, known=", ".join(sorted(LED_ROLES)))
    return value


class Indicator(_Model):
    """A front-panel lamp: which LED-class device it is and what "on" means.

    Polarity differs between product families (a red NET lamp that lights on *failure* vs a
    blue one that lights when *connected*), so ``on_means`` is part of the board, not code.
    ``kernel_trigger`` is set at start so the kernel blinks it while Python is busy
    (``heartbeat``, ``disk-activity``, ``ata1``, ``netdev``).
    """

    role: Annotated[str, AfterValidator(_check_led_role)]
    device: SysfsName
    on_means: Literal["ok", "fault", "activity", "active"]
    color: Literal["red", "green", "blue", "amber", "yellow", "white", "orange"] | None = None
    kernel_trigger: Annotated[str, Field(pattern=r"^[\w.:-]{1,63}$")] | None = None

    @model_validator(mode="after")
    def _fault_means_fault(self) -> Self:
        if self.role.endswith("_fault") and self.on_means != "fault":
            _raise_if_any(self, [_error(("on_means",), "led_meaning", "a {role} lamp lights "
                                        "on a fault, so on_means must be 'fault'",
                                        self.on_means, role=self.role)])
        return self


class LedsSection(_Model):
    """LEDs through the LED class (``<sysfs_root>/<device>/brightness``) or the sim."""

    backend: Literal["sysfs", "sim"] = "sysfs"
    sysfs_root: Path = Path("/sys/class/leds")
    indicators: tuple[Indicator, ...] = ()

    @field_validator("sysfs_root")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        if not value.is_absolute():
            raise _custom("path", "sysfs_root must be an absolute path", str(value))
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        errors = _duplicates(((("indicators", i, "role"), x.role, x.role)
                              for i, x in enumerate(self.indicators)), "LED role")
        errors += _duplicates(((("indicators", i, "device"), x.device, x.device)
                               for i, x in enumerate(self.indicators)), "LED device")
        _raise_if_any(self, errors)
        return self

    def indicator(self, role: str) -> Indicator | None:
        return next((x for x in self.indicators if x.role == role), None)


# --- buttons ---------------------------------------------------------------------------------


class Key(_Model):
    """A front-panel button: where its key events come from and which key code it sends.

    Buttons are declared as ``gpio-keys`` in the device tree, which debounces them and gives
    an evdev device. Name it by ``device`` (prefer the stable ``/dev/input/by-path/…`` link)
    or by ``input_name``, the name the input device reports (``gpio-keys``).
    Common codes: KEY_POWER = 116, KEY_RESTART = 0x198, KEY_WPS_BUTTON = 0x211.
    """

    role: ButtonRole
    key_code: Annotated[int, Field(ge=1, le=0x2FF)]
    device: Annotated[str, Field(min_length=1)] | None = None
    input_name: Label | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.device is None) == (self.input_name is None):
            _raise_if_any(self, [_error(("device",), "key_source", "the {role} button needs "
                                        "exactly one of device or input_name", self.device,
                                        role=self.role)])
        return self

    @property
    def source(self) -> str:
        return self.device if self.device is not None else f"name={self.input_name}"


class ButtonsSection(_Model):
    """Buttons; ``backend``: ``evdev`` (``struct input_event`` from /dev/input) or ``sim``."""

    backend: Literal["evdev", "sim"] = "evdev"
    keys: tuple[Key, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        errors = _duplicates(((("keys", i, "role"), k.role, k.role)
                              for i, k in enumerate(self.keys)), "button role")
        errors += _duplicates(((("keys", i, "key_code"), (k.source, k.key_code),
                                f"{k.key_code:#x}") for i, k in enumerate(self.keys)),
                              "key code")
        if self.backend == "evdev":
            errors += [_error(("keys", i, "device"), "key_device", "an evdev device must be "
                              "under /dev/input/", k.device)
                       for i, k in enumerate(self.keys)
                       if k.device is not None and not k.device.startswith("/dev/input/")]
        _raise_if_any(self, errors)
        return self

    def key(self, role: str) -> Key | None:
        return next((k for k in self.keys if k.role == role), None)


# --- serial ----------------------------------------------------------------------------------


class SerialPort(_Model):
    """A serial port with a fixed job: the PTZ RS-485 bus or the technicians' console.

    The line settings here are the bus defaults (the vendor's PTZ default is 9600 8N1 for
    Pelco-D); domes needing other rates are configured per channel in nvrd.toml.
    ``rs485_rts_direction``: the UART drives the transceiver's DE pin from RTS, so the
    driver enables the kernel's RS-485 mode (TIOCSRS485); leave it off for transceivers that
    switch direction by themselves (and for ptys, which do not support it).
    """

    role: SerialRole
    device: Annotated[str, Field(min_length=1)]
    baud: Baud
    data_bits: Literal[5, 6, 7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stop_bits: Literal[1, 2] = 1
    rs485: bool = False
    rs485_rts_direction: bool = False
    label: Label | None = None

    @model_validator(mode="after")
    def _rts_needs_rs485(self) -> Self:
        if self.rs485_rts_direction and not self.rs485:
            _raise_if_any(self, [_error(("rs485_rts_direction",), "rs485", "RS-485 direction "
                                        "control needs rs485 = true", True)])
        return self

    @property
    def framing(self) -> str:
        """E.g. ``8N1``, as printed on PTZ dome labels."""
        return f"{self.data_bits}{self.parity}{self.stop_bits}"

    @property
    def short_name(self) -> str:
        """``ttyS1`` for ``/dev/ttyS1``; URLs and sim names unchanged."""
        if self.device.startswith("/dev/"):
            return PurePosixPath(self.device).name
        return self.device


class SerialSection(_Model):
    """Serial ports; ``backend``: ``tty`` (pyserial: a /dev path or a pyserial URL such as
    ``socket://host:port``) or ``sim`` (a pty pair made by ``hal/sim``)."""

    backend: Literal["tty", "sim"] = "tty"
    ports: tuple[SerialPort, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        errors = _duplicates(((("ports", i, "role"), p.role, p.role)
                              for i, p in enumerate(self.ports)), "serial role")
        errors += _duplicates(((("ports", i, "device"), p.device, p.device)
                               for i, p in enumerate(self.ports)), "serial device")
        if self.backend == "tty":
            errors += [_error(("ports", i, "device"), "serial_device", "a tty serial device "
                              "must be a /dev path or a pyserial URL ({schemes})", p.device,
                              schemes=", ".join(_SERIAL_URL_SCHEMES))
                       for i, p in enumerate(self.ports)
                       if not p.device.startswith(("/dev/", *_SERIAL_URL_SCHEMES))]
        _raise_if_any(self, errors)
        return self

    def port(self, role: str) -> SerialPort | None:
        return next((p for p in self.ports if p.role == role), None)


# --- the board -------------------------------------------------------------------------------


class BoardProfile(_Model):
    """Everything the HAL needs to know about one box. A missing section means the box has
    none of that hardware (a non-PoE model has no ``[poe]``)."""

    name: ProfileName
    model: Label | None = None
    description: Annotated[str, Field(max_length=500)] = ""
    disks: DisksSection = DisksSection()
    poe: PoeSection = PoeSection()
    gpio: GpioSection = GpioSection()
    leds: LedsSection = LedsSection()
    buttons: ButtonsSection = ButtonsSection()
    serial: SerialSection = SerialSection()
    # What a long press of the power button runs once the daemon has stopped cleanly
    # (segments closed, disks unmounted). Empty: only the daemon stops (the simulated
    # board, development machines).
    power_off_command: tuple[Annotated[str, Field(min_length=1)], ...] = (
        "systemctl", "poweroff")
    # What the console's "reboot" runs once the daemon has stopped cleanly. Empty: only the
    # daemon stops, and its supervisor (systemd) starts it again.
    reboot_command: tuple[Annotated[str, Field(min_length=1)], ...] = ("systemctl", "reboot")

    @model_validator(mode="after")
    def _check(self) -> Self:
        errors = self._check_shared_gpio_lines()
        bays = {b.number for b in self.disks.bays}
        for i, indicator in enumerate(self.leds.indicators):
            match = _BAY_LED_RE.match(indicator.role)
            if match and int(match.group(1)) not in bays:
                errors.append(_error(("leds", "indicators", i, "role"), "led_bay", "bay {bay} "
                                     "is not declared in disks.bays", indicator.role,
                                     bay=int(match.group(1))))
        _raise_if_any(self, errors)
        return self

    def _check_shared_gpio_lines(self) -> list[InitErrorDetails]:
        """PoE interrupt pins live in the PoE section but share gpiochips with the alarm
        I/O; one line claimed twice would fail with EBUSY at start, far from its cause."""
        entries: list[tuple[Loc, Hashable, Any]] = [
            (("gpio", *loc, "line"), (x.chip, x.line), f"{x.chip}:{x.line}")
            for loc, x in self.gpio.lines()
        ]
        interrupts = [(("poe", "controllers", i, "interrupt", "line"), c.interrupt)
                      for i, c in enumerate(self.poe.controllers)
                      if isinstance(c, Tps23861Controller) and c.interrupt is not None]
        entries += [(loc, (x.chip, x.line), f"{x.chip}:{x.line}") for loc, x in interrupts]
        # Interrupts come last, so a clash is reported at the interrupt; clashes inside the
        # gpio section were already reported by GpioSection.
        return [e for e in _duplicates(entries, "GPIO line") if e["loc"][0] == "poe"]

    # Convenience lookups for the drivers and services built on the profile.

    def bay(self, number: int) -> Bay | None:
        return self.disks.bay(number)

    def bay_for_device(self, id_path: str | None, devpath: str | None = None) -> Bay | None:
        return self.disks.bay_for(id_path, devpath)

    def poe_port(self, number: int) -> PoePort | None:
        return self.poe.port(number)

    def poe_port_for_channel(self, camera_channel: int) -> PoePort | None:
        return self.poe.port_for_channel(camera_channel)

    def alarm_input(self, number: int) -> AlarmInput | None:
        return self.gpio.alarm_input(number)

    def relay(self, number: int) -> RelayOutput | None:
        return self.gpio.relay(number)

    def led(self, role: str) -> Indicator | None:
        return self.leds.indicator(role)

    def button(self, role: str) -> Key | None:
        return self.buttons.key(role)

    def serial_port(self, role: str) -> SerialPort | None:
        return self.serial.port(role)

    def summary(self) -> str:
        """One line for the start-up log, e.g. ``sim: 4 bays, 8 PoE ports (120 W), ...``."""
        parts = [_count(len(self.disks.bays), "bay")]
        if self.poe.ports:
            watts = f"{self.poe.total_budget_mw / 1000:g} W"
            parts.append(f"{_count(len(self.poe.ports), 'PoE port')} ({watts})")
        else:
            parts.append("no PoE")
        parts.append(_count(len(self.gpio.alarm_inputs), "alarm input"))
        parts.append(_count(len(self.gpio.relays), "relay"))
        if self.gpio.buzzer is not None:
            parts.append("buzzer")
        parts.append(_count(len(self.leds.indicators), "LED"))
        parts.append(_count(len(self.buttons.keys), "button"))
        for port in self.serial.ports:
            if port.role == "ptz":
                parts.append(f"{'RS-485' if port.rs485 else 'PTZ'} {port.short_name}")
            else:
                parts.append(f"{port.role} {port.short_name}")
        return f"{self.name}: {', '.join(parts)}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# --- loading ---------------------------------------------------------------------------------


class BoardProfileError(Exception):
    """A profile file that cannot be read or is not valid TOML (schema errors are pydantic
    ``ValidationError``s instead). ``str()`` reads ``path:line:column: reason`` so editors
    and technicians can jump to the spot."""

    def __init__(self, path: Path, reason: str, line: int | None = None,
                 column: int | None = None) -> None:
        self.path = path
        self.reason = reason
        self.line = line
        self.column = column
        where = str(path)
        if line is not None:
            where += f":{line}" + (f":{column}" if column is not None else "")
        super().__init__(f"{where}: {reason}")


class BoardProfileNotFound(FileNotFoundError):
    """No profile of that name; carries what was searched and what exists, for the log."""

    def __init__(self, name: str, searched: Sequence[Path], available: Sequence[str],
                 reason: str = "not found") -> None:
        self.name = name
        self.searched = tuple(searched)
        self.available = tuple(available)
        dirs = ", ".join(str(d) for d in searched) or "no directories"
        have = ", ".join(available) or "none"
        super().__init__(f"board profile {name!r} {reason} (searched {dirs}; available: {have})")

    def __str__(self) -> str:
        return str(self.args[0])


# Python 3.11's TOMLDecodeError has no lineno/colno attributes (3.14 adds them): parse them
# out of the message, "Invalid value (at line 3, column 9)".
_TOML_POSITION_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def load_board_profile(path: Path) -> BoardProfile:
    """Read and validate one profile.

    Raises ``BoardProfileError`` if the file cannot be read or is not TOML, and pydantic's
    ``ValidationError`` if it does not fit the schema (the daemon formats that one).
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise BoardProfileError(path, f"cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise BoardProfileError(path, f"not UTF-8 text (byte {exc.start})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = _TOML_POSITION_RE.search(message)
        if position is None:
            raise BoardProfileError(path, f"TOML syntax error: {message}") from exc
        reason = f"TOML syntax error: {message[:position.start()]}"
        raise BoardProfileError(path, reason, int(position.group(1)),
                                int(position.group(2))) from exc
    return BoardProfile.model_validate(data)


def find_board_profile(name: str, search_dirs: Sequence[Path]) -> Path:
    """The file of profile ``name``: the first ``<dir>/<name>.toml`` in ``search_dirs``.

    Profiles installed in the data directory come first so a box can be fixed without a
    firmware update. Raises ``BoardProfileNotFound`` (a ``FileNotFoundError``) naming the
    directories searched and the profiles that do exist.
    """
    if not _NAME_RE.match(name):
        raise BoardProfileNotFound(name, search_dirs, available_board_profiles(search_dirs),
                                   "is not a valid profile name (lower-case letters, digits, "
                                   "'.', '_', '-')")
    for directory in search_dirs:
        candidate = directory / f"{name}.toml"
        if candidate.is_file():
            return candidate
    raise BoardProfileNotFound(name, search_dirs, available_board_profiles(search_dirs))


def available_board_profiles(search_dirs: Sequence[Path]) -> list[str]:
    """Names of the profiles found in ``search_dirs`` (missing directories are skipped)."""
    names: set[str] = set()
    for directory in search_dirs:
        try:
            names.update(p.stem for p in directory.glob("*.toml")
                         if p.is_file() and _NAME_RE.match(p.stem))
        except OSError:
            continue
    return sorted(names)

