"""Key events from an evdev node (``/dev/input/eventN``), read on the event loop.

The front-panel buttons are a ``gpio-keys`` device tree node: the kernel debounces them and
reports ``struct input_event`` records (``linux/input.h``)::

    struct input_event { struct timeval time; __u16 type; __u16 code; __s32 value; };

24 bytes on 64-bit (``llHHi``: seconds, microseconds, type, code, value). A button sends
``EV_KEY`` with value 1 (press), 0 (release) or 2 (autorepeat, only if the node enables
it), each followed by an ``EV_SYN``/``SYN_REPORT``. ``SYN_DROPPED`` means the kernel's
buffer overflowed and events were lost: everything up to the next ``SYN_REPORT`` is
discarded (as ``Documentation/input/event-codes.rst`` says) and the reader tells its
owner, which treats held keys as released without acting — a lost release must never
turn into a factory reset.

A read from evdev returns whole records only; a pipe (the simulated board, tests) may
split one, so partial records are kept until the rest arrives, and a partial record left
when the device goes away is counted in :attr:`EvdevReader.discarded_bytes` and logged.

The device is named by path or by the name the input device reports
(``<sysfs_root>/eventN/device/name``, e.g. ``gpio-keys``), with both roots injected.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

__all__ = [
    "DEFAULT_DEV_ROOT",
    "DEFAULT_SYSFS_ROOT",
    "EVENT",
    "EV_KEY",
    "EV_SYN",
    "KEY_POWER",
    "KEY_RESTART",
    "KEY_WPS_BUTTON",
    "SYN_DROPPED",
    "SYN_REPORT",
    "EvdevReader",
    "InputDeviceError",
    "InputDeviceNotFound",
    "InputEvent",
    "KeyAction",
    "KeyEvent",
    "find_input_device",
    "parse_events",
]

logger = logging.getLogger(__name__)

DEFAULT_SYSFS_ROOT = Path("/sys/class/input")
DEFAULT_DEV_ROOT = Path("/dev/input")

EVENT = struct.Struct("llHHi")
"""``struct input_event`` with the platform's ``long`` (24 bytes on 64-bit)."""

EV_SYN = 0x00
EV_KEY = 0x01
SYN_REPORT = 0
SYN_DROPPED = 3
KEY_POWER = 116
KEY_RESTART = 0x198
KEY_WPS_BUTTON = 0x211

_READ_RECORDS = 64  # records per read(); a button makes a few per second at most


class KeyAction(IntEnum):
    RELEASE = 0
    PRESS = 1
    REPEAT = 2


@dataclass(frozen=True, slots=True)
class InputEvent:
    """One ``struct input_event``."""

    sec: int
    usec: int
    type: int
    code: int
    value: int

    def pack(self) -> bytes:
        return EVENT.pack(self.sec, self.usec, self.type, self.code, self.value)

    @classmethod
    def unpack(cls, record: bytes) -> InputEvent:
        return cls(*EVENT.unpack(record))

    @property
    def time_s(self) -> float:
        return self.sec + self.usec / 1e6


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """An ``EV_KEY`` event; ``time_s`` is the kernel's timestamp (``CLOCK_REALTIME`` by
    default), for logs only — hold times are measured on the owner's clock."""

    code: int
    action: KeyAction
    time_s: float


def parse_events(data: bytes) -> tuple[list[InputEvent], bytes]:
    """Whole records in ``data`` and the bytes of a trailing partial record."""
    whole = len(data) - len(data) % EVENT.size
    events = [InputEvent(*fields) for fields in EVENT.iter_unpack(data[:whole])]
    return events, data[whole:]


class InputDeviceError(Exception):
    """An input device could not be found, opened or read; names it."""

    def __init__(self, device: str, message: str) -> None:
        super().__init__(f"input device {device}: {message}")
        self.device = device
        self.detail = message


class InputDeviceNotFound(InputDeviceError):
    pass


def find_input_device(name: str, *, sysfs_root: Path = DEFAULT_SYSFS_ROOT,
                      dev_root: Path = DEFAULT_DEV_ROOT) -> Path:
    """The ``eventN`` node whose input device reports ``name`` (the lowest N if several)."""
    seen: list[str] = []
    try:
        entries = sorted(sysfs_root.glob("event*"), key=lambda p: _event_number(p.name))
    except OSError as exc:
        raise InputDeviceNotFound(f"name={name}", f"cannot list {sysfs_root}: "
                                  f"{exc.strerror}") from exc
    for entry in entries:
        try:
            reported = (entry / "device" / "name").read_text().strip()
        except OSError:
            continue
        if reported == name:
            return dev_root / entry.name
        seen.append(f"{entry.name}={reported!r}")
    raise InputDeviceNotFound(f"name={name}", f"no input device reports this name under "
                              f"{sysfs_root} (found: {', '.join(seen) or 'none'})")


def _event_number(name: str) -> int:
    digits = name.removeprefix("event")
    return int(digits) if digits.isdigit() else 1 << 30


class EvdevReader:
    """Reads one input device with ``loop.add_reader`` and reports key events.

    ``on_key`` gets every ``EV_KEY`` event whose code is in ``codes`` (all codes when
    ``None``); ``on_dropped`` is called after a ``SYN_DROPPED``; ``on_closed`` when the
    device goes away (EOF, ``ENODEV``), after which the reader has stopped by itself.
    Callbacks run on the event loop and must not block.
    """

    def __init__(self, source: Path | int, on_key: Callable[[KeyEvent], None], *,
                 codes: Iterable[int] | None = None,
                 on_dropped: Callable[[], None] | None = None,
                 on_closed: Callable[[], None] | None = None) -> None:
        self._source = source
        self._on_key = on_key
        self._codes = frozenset(codes) if codes is not None else None
        self._on_dropped = on_dropped
        self._on_closed = on_closed
        self._fd: int | None = None
        self._owns_fd = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._partial = b""
        self._dropping = False
        self.discarded_bytes = 0
        """Bytes of partial records thrown away when the device went away."""

    @property
    def name(self) -> str:
        return str(self._source) if isinstance(self._source, Path) else f"fd {self._source}"

    @property
    def running(self) -> bool:
        return self._fd is not None

    async def start(self) -> None:
        """Open the device (unless given an fd) and start reading on the running loop."""
        if self._fd is not None:
            return
        loop = asyncio.get_running_loop()
        if isinstance(self._source, Path):
            try:
                fd = os.open(self._source, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except FileNotFoundError as exc:
                raise InputDeviceNotFound(self.name, "no such device node") from exc
            except OSError as exc:
                raise InputDeviceError(self.name, f"cannot open: {exc.strerror}") from exc
            self._owns_fd = True
        else:
            fd = self._source
            os.set_blocking(fd, False)
            self._owns_fd = False
        self._fd, self._loop = fd, loop
        loop.add_reader(fd, self._on_readable)

    def stop(self) -> None:
        """Stop reading and close the device if this reader opened it (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(fd)
        if self._owns_fd:
            os.close(fd)

    def _on_readable(self) -> None:
        if self._fd is None:
            return
        try:
            data = os.read(self._fd, EVENT.size * _READ_RECORDS)
        except BlockingIOError:
            return
        except OSError as exc:  # ENODEV when unplugged; anything else is as final
            self._closed(f"read failed: {exc.strerror}")
            return
        if not data:
            self._closed("end of file")
            return
        events, self._partial = parse_events(self._partial + data)
        for event in events:
            self._dispatch(event)

    def _dispatch(self, event: InputEvent) -> None:
        if event.type == EV_SYN:
            if event.code == SYN_DROPPED:
                self._dropping = True
                logger.warning("%s: kernel dropped input events; held keys released",
                               self.name)
                if self._on_dropped is not None:
                    self._on_dropped()
            elif event.code == SYN_REPORT:
                self._dropping = False
            return
        if self._dropping or event.type != EV_KEY:
            return
        if self._codes is not None and event.code not in self._codes:
            return
        try:
            action = KeyAction(event.value)
        except ValueError:
            logger.debug("%s: key %#x with unknown value %d ignored", self.name, event.code,
                         event.value)
            return
        self._on_key(KeyEvent(event.code, action, event.time_s))

    def _closed(self, why: str) -> None:
        if self._partial:
            self.discarded_bytes += len(self._partial)
            logger.warning("%s: %d bytes of a truncated input_event discarded", self.name,
                           len(self._partial))
            self._partial = b""
        logger.warning("%s: input device gone (%s)", self.name, why)
        self.stop()
        if self._on_closed is not None:
            self._on_closed()
