"""What a front-panel lamp can show, the LED seam the panel drives, and its errors.

A lamp shows one *look* at a time: off, steadily on, blinking with given on/off times, or
handed to a kernel trigger (``heartbeat``, ``disk-activity``, ``ata1``, ...). Blinking is
a look, not a loop in Python: the driver hands it to the kernel's ``timer`` trigger, so a
lamp keeps blinking while the daemon is busy, stalled or being debugged — which is also
what a user sees during a factory reset or a shutdown, when the daemon is busiest.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Blink",
    "Led",
    "LedError",
    "LedLook",
    "LedNotFound",
    "LedNotWritable",
    "LedWriteError",
    "Off",
    "On",
    "Trigger",
    "TriggerNotOffered",
]


@dataclass(frozen=True, slots=True)
class Off:
    """Dark, no trigger."""


@dataclass(frozen=True, slots=True)
class On:
    """Steadily lit at full (``max_brightness``), no trigger."""


@dataclass(frozen=True, slots=True)
class Blink:
    """Blinking in the kernel (``timer`` trigger), times in milliseconds."""

    on_ms: int
    off_ms: int

    def __post_init__(self) -> None:
        # The timer trigger treats 0/0 as "pick a default" (500/500): never ask for it.
        if self.on_ms < 1 or self.off_ms < 1:
            raise ValueError(f"blink times must be at least 1 ms, got {self.on_ms}/"
                             f"{self.off_ms}")


@dataclass(frozen=True, slots=True)
class Trigger:
    """Driven by a kernel trigger (not ``timer``: that one is :class:`Blink`)."""

    name: str


LedLook = Off | On | Blink | Trigger


class LedError(Exception):
    """An LED-class device could not be used; names the device and the file involved."""

    def __init__(self, device: str, path: Path, message: str) -> None:
        super().__init__(f"LED {device!r} ({path}): {message}")
        self.device = device
        self.path = path


class LedNotFound(LedError):
    """The device (or one of its attributes) does not exist: a wrong name in the board
    profile, a missing ``gpio-leds`` node, or ``CONFIG_NEW_LEDS`` off."""


class LedNotWritable(LedError):
    """The attribute exists but this process may not write it (permissions, read-only
    mount): run as root or give the daemon's user a udev rule for the LED class."""


class LedWriteError(LedError):
    """The kernel refused a value (e.g. ``EINVAL`` for a trigger it does not know)."""

    def __init__(self, device: str, path: Path, value: str, errno: int | None,
                 reason: str) -> None:
        super().__init__(device, path, f"writing {value!r} failed: {reason}")
        self.value = value
        self.errno = errno


class TriggerNotOffered(LedError):
    """The kernel does not list this trigger for the device (not built in, or a libata
    ``ataN`` trigger for a port that does not exist)."""

    def __init__(self, device: str, path: Path, trigger: str,
                 offered: tuple[str, ...]) -> None:
        super().__init__(device, path, f"trigger {trigger!r} is not offered (the kernel "
                         f"lists: {' '.join(offered) or 'nothing'})")
        self.trigger = trigger
        self.offered = offered


class Led(abc.ABC):
    """One lamp. The front panel drives every lamp through this seam.

    Contract:

    - ``open`` does all the checking (the device exists, is writable, which triggers the
      kernel offers) and raises a :class:`LedError` naming the device; after a failed
      ``open`` the object is unusable but holds nothing.
    - ``show`` moves the lamp to a look with as few writes as it can and returns how many
      attribute writes it made (0 when the look is already shown). It must not block the
      event loop for long: LED-class writes return at once (the LED core defers drivers
      that sleep, e.g. on I²C expanders, to a workqueue).
    - After a failed ``show`` the lamp's look is unknown, so the next ``show`` rewrites
      everything rather than trusting a cache.
    """

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The LED-class device name (``nvr:red:hdd-fault``)."""

    @abc.abstractmethod
    def open(self) -> None:
        """Check the device and read what it offers; raises :class:`LedError`."""

    @abc.abstractmethod
    def offers(self, trigger: str) -> bool:
        """Whether the kernel lists ``trigger`` for this device (after ``open``)."""

    @abc.abstractmethod
    def show(self, look: LedLook) -> int:
        """Show ``look``; returns the number of attribute writes made."""

    @property
    @abc.abstractmethod
    def look(self) -> LedLook | None:
        """The look last shown successfully; ``None`` before the first or after a failure."""
