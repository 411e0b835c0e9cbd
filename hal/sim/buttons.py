"""The simulated board's buttons: a ``gpio-keys`` input device the real evdev reader reads.

Each simulated input device is a named pipe standing in for ``/dev/input/eventN``, plus the
sysfs entry that names it, under one directory::

    <dir>/dev/input/event0                    FIFO: packed struct input_event records
    <dir>/dev/input/sim-keys -> event0        the profile's device name (like by-path links)
    <dir>/sys/class/input/event0/device/name  "gpio-keys"

so :class:`hal.buttons.Keypad` runs unchanged with ``dev_root=<dir>/dev/input`` and
``sysfs_root=<dir>/sys/class/input``, finding keys by ``device`` or by ``input_name``.
:meth:`SimButtons.press` and friends write the records gpio-keys would: ``EV_KEY`` with
value 1/0/2, each followed by ``SYN_REPORT``, stamped with the wall clock like the kernel.

The sim holds its FIFO open read-write from :meth:`SimButtons.open` to :meth:`close`, so
the reader never sees end-of-file while the board exists (open the sim before the
daemon's reader), and sees it — "device gone" — when the board closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType

from hal.board import ButtonsSection
from hal.buttons.evdev import (
    EV_KEY,
    EV_SYN,
    KEY_POWER,
    KEY_RESTART,
    KEY_WPS_BUTTON,
    SYN_DROPPED,
    SYN_REPORT,
    InputEvent,
)
from hal.sim.control import Command, CommandError, command

__all__ = ["SimButtons", "SimInputDevice"]

_KEY_NAMES = {"KEY_POWER": KEY_POWER, "KEY_RESTART": KEY_RESTART,
              "KEY_WPS_BUTTON": KEY_WPS_BUTTON}


class SimInputDevice:
    """One simulated ``/dev/input/eventN``."""

    def __init__(self, directory: Path, number: int, *, input_name: str = "gpio-keys",
                 alias: str | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.dev_root = directory / "dev" / "input"
        self.sysfs_root = directory / "sys" / "class" / "input"
        self.path = self.dev_root / f"event{number}"
        self.number = number
        self.input_name = input_name
        self.alias = alias
        self._wall_clock = wall_clock
        self._fd: int | None = None

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    def open(self) -> None:
        self.dev_root.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.mkfifo(self.path, 0o600)
        if self.alias is not None and self.alias != self.path.name:
            link = self.dev_root / self.alias
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            link.symlink_to(self.path.name)
        entry = self.sysfs_root / self.path.name / "device"
        entry.mkdir(parents=True, exist_ok=True)
        (entry / "name").write_text(self.input_name + "\n")
        # Read-write: opening needs no reader, and the pipe never reports EOF while open.
        self._fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)

    def close(self) -> None:
        """Close the pipe: a reader sees end-of-file (the device went away)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def write(self, data: bytes) -> None:
        """Raw bytes into the device (garbage, truncated records, ...)."""
        if self._fd is None:
            raise RuntimeError(f"simulated input device {self.path} is not open")
        try:
            written = os.write(self._fd, data)
        except BlockingIOError as exc:
            raise RuntimeError(f"simulated input device {self.path}: the pipe is full "
                               "(is anything reading it?)") from exc
        if written != len(data):
            raise RuntimeError(f"simulated input device {self.path}: short write")

    def emit(self, *events: tuple[int, int, int]) -> None:
        """``(type, code, value)`` records, stamped now, in one write (≤ PIPE_BUF is
        atomic, so a reader never sees half a key press)."""
        now = self._wall_clock()
        sec = int(now)
        usec = int((now - sec) * 1_000_000)
        self.write(b"".join(InputEvent(sec, usec, t, c, v).pack() for t, c, v in events))

    def key(self, code: int, value: int) -> None:
        self.emit((EV_KEY, code, value), (EV_SYN, SYN_REPORT, 0))

    def dropped(self) -> None:
        """A ``SYN_DROPPED``, as the kernel sends when its buffer overflowed."""
        self.emit((EV_SYN, SYN_DROPPED, 0))


class SimButtons:
    """The board's buttons: ``press``/``release``/``hold`` by role, key name or code.

    ``keys`` maps role → (device name, key code); keys sharing a device name share one
    simulated input device, whose ``dev/input`` alias and sysfs ``name`` are that name.
    Methods meant for the control socket: :meth:`press`, :meth:`release`, :meth:`hold`,
    :meth:`states`.
    """

    def __init__(self, directory: Path, keys: dict[str, tuple[str, int]], *,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self._keys = dict(keys)
        self._devices: dict[str, SimInputDevice] = {}
        # The device name is both the dev/input alias and the name sysfs reports, so a
        # key may name it by ``device`` or by ``input_name``.
        for number, name in enumerate(dict.fromkeys(d for d, _ in keys.values())):
            self._devices[name] = SimInputDevice(directory, number, input_name=name,
                                                 alias=name, wall_clock=wall_clock)
        self._down: set[str] = set()

    @classmethod
    def from_section(cls, section: ButtonsSection, directory: Path, *,
                     wall_clock: Callable[[], float] = time.time) -> SimButtons:
        """One simulated device per distinct ``device`` (a sim name) or ``input_name``."""
        keys: dict[str, tuple[str, int]] = {
            k.role: (k.device if k.device is not None else str(k.input_name), k.key_code)
            for k in section.keys}
        return cls(directory, keys, wall_clock=wall_clock)

    @property
    def dev_root(self) -> Path:
        return self.directory / "dev" / "input"

    @property
    def sysfs_root(self) -> Path:
        return self.directory / "sys" / "class" / "input"

    def device(self, name: str) -> SimInputDevice:
        return self._devices[name]

    def open(self) -> SimButtons:
        for device in self._devices.values():
            device.open()
        return self

    def close(self) -> None:
        for device in self._devices.values():
            device.close()

    def __enter__(self) -> SimButtons:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # --- control -------------------------------------------------------------------------

    def press(self, key: str | int) -> None:
        """Press a button: ``"reset"`` (role), ``"KEY_POWER"``, ``116`` or ``"0x198"``."""
        role, device, code = self._resolve(key)
        device.key(code, 1)
        self._down.add(role)

    def release(self, key: str | int) -> None:
        role, device, code = self._resolve(key)
        device.key(code, 0)
        self._down.discard(role)

    def repeat(self, key: str | int) -> None:
        """An autorepeat event (gpio-keys sends them only with ``autorepeat`` set)."""
        _, device, code = self._resolve(key)
        device.key(code, 2)

    async def hold(self, key: str | int, seconds: float, *,
                   repeat_every_s: float | None = None,
                   sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Press, wait ``seconds`` (optionally sending repeats), release — even if
        cancelled midway, so the button never stays down."""
        if seconds < 0:
            raise ValueError("seconds must be ≥ 0")
        self.press(key)
        try:
            remaining = seconds
            while repeat_every_s is not None and remaining > repeat_every_s:
                await sleep(repeat_every_s)
                remaining -= repeat_every_s
                self.repeat(key)
            await sleep(remaining)
        finally:
            self.release(key)

    def states(self) -> dict[str, bool]:
        """Role → whether the simulated button is down."""
        return {role: role in self._down for role in self._keys}

    def commands(self) -> list[Command]:
        """The control socket's button commands (``simctl button hold reset 6``)."""

        def press(button: str | int) -> dict[str, bool]:
            self.press(button)
            return self.states()

        def release(button: str | int) -> dict[str, bool]:
            self.release(button)
            return self.states()

        async def hold(button: str | int, seconds: float) -> dict[str, bool]:
            await self.hold(button, float(seconds))
            return self.states()

        return [
            command("button press", press, "press a button (role, KEY_ name or code) and "
                    "keep it down"),
            command("button release", release, "release a button"),
            command("button hold", hold, "press, hold for SECONDS, release (reset ≥5 s: "
                    "factory reset; power ≥3 s: shutdown)"),
            command("button list", self.states, "which buttons are down"),
        ]

    def _resolve(self, key: str | int) -> tuple[str, SimInputDevice, int]:
        if isinstance(key, str) and key in self._keys:
            name, code = self._keys[key]
            return key, self._devices[name], code
        wanted = _code(key)
        for role, (name, known) in self._keys.items():
            if known == wanted:
                return role, self._devices[name], known
        known_keys = ", ".join(f"{r}={c:#x}" for r, (_, c) in self._keys.items())
        raise CommandError(f"no simulated button {key!r}; the board has {known_keys} (name "
                           "one by role, KEY_ name or code)")


def _code(key: str | int) -> int | None:
    if isinstance(key, int):
        return key
    if key.upper() in _KEY_NAMES:
        return _KEY_NAMES[key.upper()]
    try:
        return int(key, 0)
    except ValueError:
        return None
