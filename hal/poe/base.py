"""The PSE controller interface every PoE driver implements, and the values it returns.

A *controller* is one power-sourcing chip (or the kernel's view of several) addressed by
*channel*: the chip's 0-based port bit for register chips, or whatever key the driver was
built with (the kernel PSE driver uses the chassis port number, since its ports are network
interfaces). Chassis numbering, priorities and the budget live one level up, in
``hal/poe/budget.py``; controllers know nothing about them.

Contracts (every implementation keeps them, tests hold them to it):

1. ``start()`` either succeeds or raises and leaves nothing half-configured; it never
   changes whether a port is powered (a daemon restart must not drop cameras).
2. ``enable``/``disable`` are idempotent; ``enable`` on a port that is already delivering
   does not interrupt its power.
3. ``disable`` *holds* the port off: no automatic re-detection may power it again until
   ``enable`` (chips in auto mode re-power after a plain PWOFF; drivers must prevent it).
4. Every method that does I/O is a coroutine and never blocks the event loop: blocking
   syscalls (SMBus ioctls) go through ``asyncio.to_thread``, subprocesses through asyncio.
5. ``poll_events()`` returns each hardware event once (clear-on-read registers, or a
   status diff where the hardware has no events).
"""

from __future__ import annotations

import abc
import asyncio
import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "POWER_CYCLE_OFF_S",
    "BusBusy",
    "BusNotFound",
    "ChipNotFound",
    "PortDisabledError",
    "PortPower",
    "PortStatus",
    "PseController",
    "PseError",
    "PseEvent",
    "PseEventKind",
    "PseIoError",
    "PseUnavailable",
    "Sleep",
    "UnknownChannel",
]

# How long a power-cycle keeps the port off: long enough for the PD's input capacitor to
# discharge so it really reboots (1-2 s is the usual advice). Tests pass off_s=0.
POWER_CYCLE_OFF_S = 2.0

Sleep = Callable[[float], Awaitable[None]]


class PortPower(enum.Enum):
    """What the port is doing electrically."""

    DISABLED = "disabled"      # admin-disabled: no detection, no power
    SEARCHING = "searching"    # enabled, waiting for a valid PD signature
    DELIVERING = "delivering"  # power good: the PD is powered
    FAULT = "fault"            # enabled but in a fault state (short, overcurrent, ...)
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class PortStatus:
    """One port as the controller sees it (no chassis numbering)."""

    channel: int
    """The controller's key for the port."""
    admin_enabled: bool
    """Whether software has enabled the port (not whether power flows)."""
    power: PortPower
    pd_class: int | None = None
    """IEEE 802.3 class of the attached PD (0-8), ``None`` if not classified."""
    power_mw: int | None = None
    """Measured power drawn, mW; ``None`` if the controller cannot measure it."""
    voltage_mv: int | None = None
    current_ua: int | None = None
    limit_mw: int | None = None
    """Power limit the controller enforces on the port, if it has one."""
    fault: str | None = None
    """The last fault seen on the port, in words; cleared when it powers again."""

    @property
    def delivering(self) -> bool:
        return self.power is PortPower.DELIVERING


class PseEventKind(enum.Enum):
    POWERED = "powered"
    UNPOWERED = "unpowered"
    CLASS_DETECTED = "class_detected"
    OVERCURRENT = "overcurrent"
    DISCONNECTED = "disconnected"
    SUPPLY_FAULT = "supply_fault"


@dataclass(frozen=True, slots=True)
class PseEvent:
    kind: PseEventKind
    channel: int | None
    """``None`` for chip-wide events (supply faults)."""
    pd_class: int | None = None
    detail: str | None = None


# --- errors ----------------------------------------------------------------------------------


class PseError(Exception):
    """Base of every PoE controller error."""


class PseUnavailable(PseError):
    """The controller cannot be used at all (missing chip, busy bus, no tool): a board
    or setup problem, not worth retrying every second."""


@dataclass(eq=False)
class ChipNotFound(PseUnavailable):
    """Nothing acknowledges the address (ENXIO/EREMOTEIO): wrong address, chip unpowered,
    or the bus does not exist."""

    bus: str
    address: int

    def __str__(self) -> str:
        return f"no PSE chip answers at {self.bus} address {self.address:#04x}"


@dataclass(eq=False)
class BusNotFound(PseUnavailable):
    """``/dev/i2c-N`` does not exist: no i2c-dev, or the wrong bus in the board profile."""

    bus: str

    def __str__(self) -> str:
        return f"I²C bus {self.bus} does not exist (is i2c-dev loaded? right bus number?)"


@dataclass(eq=False)
class BusBusy(PseUnavailable):
    """EBUSY from I2C_SLAVE: a kernel driver (hwmon ``tps23861``) owns the address."""

    bus: str
    address: int

    def __str__(self) -> str:
        return (f"{self.bus} address {self.address:#04x} is busy: a kernel driver (hwmon "
                f"tps23861?) is bound to it; unbind it, e.g. echo <bus>-00{self.address:02x}"
                f" > /sys/bus/i2c/drivers/tps23861/unbind")


@dataclass(eq=False)
class PseIoError(PseError):
    """Any other bus error; may be transient (noise, arbitration lost)."""

    bus: str
    address: int
    errno: int | None
    operation: str

    def __str__(self) -> str:
        return (f"{self.operation} on {self.bus} address {self.address:#04x} failed "
                f"(errno {self.errno})")


@dataclass(eq=False)
class UnknownChannel(PseError, ValueError):
    controller: str
    channel: int

    def __str__(self) -> str:
        return f"controller {self.controller} has no channel {self.channel}"


@dataclass(eq=False)
class PortDisabledError(PseError):
    """An operation that needs an enabled port (power-cycle) was asked of a disabled one."""

    controller: str
    channel: int

    def __str__(self) -> str:
        return f"channel {self.channel} of {self.controller} is disabled"


# --- the interface ---------------------------------------------------------------------------


class PseController(abc.ABC):
    """A power-sourcing controller. See the module docstring for the contracts."""

    def __init__(self, controller_id: str, channels: Sequence[int], *,
                 sleep: Sleep = asyncio.sleep) -> None:
        self._id = controller_id
        self._channels = tuple(channels)
        self._sleep = sleep

    @property
    def id(self) -> str:
        return self._id

    @property
    def channels(self) -> tuple[int, ...]:
        return self._channels

    def _check_channel(self, channel: int) -> None:
        if channel not in self._channels:
            raise UnknownChannel(self._id, channel)

    async def start(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Probe and configure the controller without changing any port's power.
        Raises ``PseUnavailable`` (and keeps no state) when the hardware is not there."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the bus/tool. Ports keep their power (nvrd stopping is not "PoE off")."""

    @abc.abstractmethod
    async def enable(self, channel: int) -> None:
        """Admin-enable: detect and classify, and power a valid PD (now or when one is
        plugged in). Idempotent; never interrupts a port that is already powered."""

    @abc.abstractmethod
    async def disable(self, channel: int) -> None:
        """Switch the port off and hold it off (no automatic re-power)."""

    async def power_cycle(self, channel: int, off_s: float = POWER_CYCLE_OFF_S) -> None:
        """Turn the port off for ``off_s`` seconds, then on again, so the PD reboots.

        Raises ``PortDisabledError`` for an admin-disabled port: cycling must not turn on
        a port the installer switched off. The default is disable, sleep, enable; drivers
        override it when the hardware has a cheaper way.
        """
        status = await self.status(channel)
        if not status.admin_enabled:
            raise PortDisabledError(self._id, channel)
        await self.disable(channel)
        await self._sleep(off_s)
        await self.enable(channel)

    @abc.abstractmethod
    async def status(self, channel: int) -> PortStatus:
        """Read one port's state from the hardware."""

    async def statuses(self) -> dict[int, PortStatus]:
        """Every channel's status; drivers may read them in one transaction."""
        return {channel: await self.status(channel) for channel in self._channels}

    @abc.abstractmethod
    async def poll_events(self) -> list[PseEvent]:
        """Events since the last call, each reported once. Called periodically or when
        the chip's INT line fires; may also do housekeeping (e.g. power a PD that a
        semi-auto chip has just classified on an enabled port)."""
