"""One LED-class device in sysfs: ``<root>/<device>/{brightness,max_brightness,trigger,...}``.

Kernel behaviour this driver relies on (``Documentation/leds/leds-class.rst``):

- ``brightness`` takes 0..``max_brightness``; writing 0 also removes any trigger.
- Reading ``trigger`` lists every trigger the kernel offers for the device, the active one in
  brackets: ``none [timer] heartbeat disk-activity``. Writing a name activates it; writing
  ``none`` removes the trigger and turns the LED off. An unknown name fails with EINVAL.
- ``delay_on``/``delay_off`` (ms) exist only while the ``timer`` trigger is active, and the
  timer keeps the delays it had last time, so both are written after every activation.

Side effects are never relied on: leaving a trigger always writes ``none`` before the new
brightness, so the final attribute values are the same whichever order the kernel applies
them in — and the simulated board (plain files, no kernel behind them) reads back exactly
what a real box would show.

Why synchronous: a userspace write to an LED-class attribute does not wait for the
hardware (the LED core queues drivers that sleep onto a workqueue), so a write costs a few
microseconds and can run on the event loop; a thread hop would cost more than the write.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from hal.leds.base import (
    Blink,
    Led,
    LedError,
    LedLook,
    LedNotFound,
    LedNotWritable,
    LedWriteError,
    Off,
    On,
    TriggerNotOffered,
)

__all__ = ["DEFAULT_SYSFS_ROOT", "SysfsLed", "TriggerList", "parse_trigger_list"]

DEFAULT_SYSFS_ROOT = Path("/sys/class/leds")

_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


@dataclass(frozen=True, slots=True)
class TriggerList:
    """The contents of a ``trigger`` attribute."""

    offered: tuple[str, ...]
    """Every trigger the kernel lists for the device, in its order (``none`` first)."""
    active: str
    """The bracketed entry; ``none`` when no trigger is active."""


def parse_trigger_list(text: str) -> TriggerList:
    """``"none [timer] heartbeat"`` → offered (none, timer, heartbeat), active timer."""
    offered: list[str] = []
    active = "none"
    for token in text.split():
        if len(token) > 2 and token[0] == "[" and token[-1] == "]":
            token = token[1:-1]
            active = token
        offered.append(token)
    return TriggerList(tuple(offered), active)


class SysfsLed(Led):
    """An LED-class device under an injected root (``/sys/class/leds`` on a box; a
    temporary tree in tests; the simulated board's tree in the demo)."""

    def __init__(self, device: str, root: Path = DEFAULT_SYSFS_ROOT) -> None:
        self._device = device
        self.path = root / device
        self._offered: tuple[str, ...] = ()
        self._max_brightness = 0
        self._active = "none"
        self._look: LedLook | None = None
        self._opened = False

    def __repr__(self) -> str:
        return f"SysfsLed({self._device!r}, root={str(self.path.parent)!r})"

    @property
    def name(self) -> str:
        return self._device

    @property
    def max_brightness(self) -> int:
        return self._max_brightness

    @property
    def offered(self) -> tuple[str, ...]:
        """The triggers the kernel listed at ``open``."""
        return self._offered

    @property
    def active_trigger(self) -> str:
        """The trigger this driver last activated (or found active at ``open``)."""
        return self._active

    @property
    def look(self) -> LedLook | None:
        return self._look

    # --- setup ---------------------------------------------------------------------------

    def open(self) -> None:
        if not self.path.is_dir():
            raise LedNotFound(self._device, self.path, "no such LED-class device"
                              + self._present_hint())
        max_brightness = self._read_int("max_brightness")
        if max_brightness < 1:
            raise LedWriteError(self._device, self.path / "max_brightness",
                                str(max_brightness), None, "max_brightness must be ≥ 1")
        triggers = self.read_triggers()
        for attribute in ("brightness", "trigger"):
            self._check_writable(attribute)
        self._max_brightness = max_brightness
        self._offered = triggers.offered
        self._active = triggers.active
        self._look = None
        self._opened = True

    def offers(self, trigger: str) -> bool:
        return trigger in self._offered

    # --- attributes ----------------------------------------------------------------------

    def read_brightness(self) -> int:
        """The current brightness (while a trigger runs, the kernel's instantaneous value)."""
        return self._read_int("brightness")

    def read_triggers(self) -> TriggerList:
        return parse_trigger_list(self._read("trigger"))

    def set_brightness(self, value: int) -> None:
        """0..``max_brightness``. 0 cancels any trigger: the kernel does that by itself,
        but ``none`` is written first anyway so a plain-file tree (the simulated board)
        ends in the same state as a real one."""
        self._require_open()
        if not 0 <= value <= self._max_brightness:
            raise ValueError(f"LED {self._device!r}: brightness {value} is outside "
                             f"0..{self._max_brightness}")
        self._look = None
        if value == 0 and self._active != "none":
            self._write("trigger", "none")
            self._active = "none"
        self._write("brightness", str(value))

    def set_trigger(self, trigger: str) -> None:
        """Activate a trigger the kernel offers (``none`` removes the trigger)."""
        self._require_open()
        if trigger != "none" and trigger not in self._offered:
            raise TriggerNotOffered(self._device, self.path / "trigger", trigger,
                                    self._offered)
        self._look = None
        self._write("trigger", trigger)
        self._active = trigger

    def set_blink_delays(self, on_ms: int, off_ms: int) -> None:
        """The ``timer`` trigger's on and off times; the trigger must be active."""
        self._require_open()
        if self._active != "timer":
            raise LedError(self._device, self.path, "delay_on/delay_off exist only while "
                           f"the timer trigger is active (active: {self._active})")
        self._look = None
        self._write("delay_on", str(on_ms))
        self._write("delay_off", str(off_ms))

    # --- looks ---------------------------------------------------------------------------

    def show(self, look: LedLook) -> int:
        self._require_open()
        if look == self._look:
            return 0
        known = self._look
        self._look = None  # unknown until every write below has succeeded
        try:
            writes = self._show(look, known)
        except LedError:
            self._look = None
            raise
        self._look = look
        return writes

    def _show(self, look: LedLook, known: LedLook | None) -> int:
        steady = isinstance(known, Off | On)  # known to have no trigger
        writes = 0
        if isinstance(look, Off | On):
            if not steady:
                self._write("trigger", "none")
                self._active = "none"
                writes += 1
            self._write("brightness", str(self._max_brightness if isinstance(look, On)
                                          else 0))
            return writes + 1
        if isinstance(look, Blink):
            if not self.offers("timer"):
                raise TriggerNotOffered(self._device, self.path / "trigger", "timer",
                                        self._offered)
            before = known if isinstance(known, Blink) else None
            if before is None:
                self._write("trigger", "timer")
                self._active = "timer"
                writes += 1
            if before is None or before.on_ms != look.on_ms:
                self._write("delay_on", str(look.on_ms))
                writes += 1
            if before is None or before.off_ms != look.off_ms:
                self._write("delay_off", str(look.off_ms))
                writes += 1
            return writes
        if look.name in ("none", "timer"):
            raise ValueError(f"LED {self._device!r}: show Off or Blink, not "
                             f"Trigger({look.name!r})")
        if not self.offers(look.name):
            raise TriggerNotOffered(self._device, self.path / "trigger", look.name,
                                    self._offered)
        self._write("trigger", look.name)
        self._active = look.name
        return 1

    # --- file access ---------------------------------------------------------------------

    def _require_open(self) -> None:
        if not self._opened:
            raise LedError(self._device, self.path, "not opened (call open() first)")

    def _present_hint(self) -> str:
        try:
            names = sorted(p.name for p in self.path.parent.iterdir())
        except OSError:
            return f"; {self.path.parent} is not readable"
        return f"; present: {', '.join(names)}" if names else \
            f"; {self.path.parent} has no LEDs"

    def _read(self, attribute: str) -> str:
        path = self.path / attribute
        try:
            return path.read_text()
        except FileNotFoundError as exc:
            raise LedNotFound(self._device, path, f"no {attribute} attribute") from exc
        except OSError as exc:
            raise LedWriteError(self._device, path, "", exc.errno,
                                f"reading failed: {exc.strerror}") from exc

    def _read_int(self, attribute: str) -> int:
        text = self._read(attribute)
        try:
            return int(text.strip())
        except ValueError as exc:
            raise LedWriteError(self._device, self.path / attribute, text.strip(), None,
                                "not an integer") from exc

    def _check_writable(self, attribute: str) -> None:
        path = self.path / attribute
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            raise LedNotFound(self._device, path, f"no {attribute} attribute") from exc
        except OSError as exc:
            if exc.errno in _NOT_WRITABLE:
                raise LedNotWritable(self._device, path, f"{attribute} is not writable "
                                     f"({exc.strerror})") from exc
            raise LedWriteError(self._device, path, "", exc.errno, str(exc.strerror)) \
                from exc
        os.close(fd)

    def _write(self, attribute: str, value: str) -> None:
        # O_TRUNC without O_CREAT: sysfs ignores the truncation; on a plain-file tree it
        # replaces the old value, and a missing attribute is an error, never a new file.
        path = self.path / attribute
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            raise LedNotFound(self._device, path, f"no {attribute} attribute") from exc
        except OSError as exc:
            if exc.errno in _NOT_WRITABLE:
                raise LedNotWritable(self._device, path, f"{attribute} is not writable "
                                     f"({exc.strerror})") from exc
            raise LedWriteError(self._device, path, value, exc.errno,
                                str(exc.strerror)) from exc
        try:
            os.write(fd, value.encode())
        except OSError as exc:
            raise LedWriteError(self._device, path, value, exc.errno,
                                str(exc.strerror)) from exc
        finally:
            os.close(fd)
