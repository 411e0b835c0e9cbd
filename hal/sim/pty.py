"""A pty pair standing in for a serial cable: the driver opens the slave, the sim the master.

The real drivers (pyserial, termios, the asyncio reader) run unchanged on the slave; the
simulated device (a PTZ dome, a technician's terminal) reads and writes the master fd. The
helper keeps its own slave fd open for the pair's lifetime: with no slave open, the master
reads EIO, and a reader on it would spin.

Both ends are put in raw mode up front so no line discipline rewrites bytes (``0x0D`` →
``0x0A``, echo) before pyserial configures the slave. The master is non-blocking, ready for
``loop.add_reader``. ``termios.tcgetattr(master_fd)`` reports the slave's settings, so the
sim can see the baud rate the driver chose.
"""

from __future__ import annotations

import contextlib
import os
import termios
import tty
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = ["PtyPair", "baud_of", "open_pty_pair"]

_BAUD_CONSTANTS = {
    getattr(termios, f"B{rate}"): rate
    for rate in (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400,
                 460800, 921600)
    if hasattr(termios, f"B{rate}")
}


@dataclass(frozen=True, slots=True)
class PtyPair:
    master_fd: int
    slave_fd: int
    slave_path: str
    """``/dev/pts/N``: what the driver opens (a ``device`` in the board profile)."""
    link: Path | None = None
    """A stable symlink to ``slave_path`` (like socat's ``link=``), if one was asked for."""

    @property
    def device(self) -> str:
        """The path a driver should open: the link when there is one."""
        return str(self.link) if self.link is not None else self.slave_path

    def close(self) -> None:
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        for fd in (self.master_fd, self.slave_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PtyPair:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def open_pty_pair(*, link: Path | None = None) -> PtyPair:
    """A raw pty pair; ``link`` (replaced if present) points at the slave."""
    master_fd, slave_fd = os.openpty()
    try:
        tty.setraw(master_fd)
        tty.setraw(slave_fd)
        os.set_blocking(master_fd, False)
        slave_path = os.ttyname(slave_fd)
        if link is not None:
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            link.symlink_to(slave_path)
    except BaseException:
        os.close(master_fd)
        os.close(slave_fd)
        raise
    return PtyPair(master_fd, slave_fd, slave_path, link)


def baud_of(fd: int) -> int | None:
    """The line rate a tty (or a pty master, reporting its slave) is set to, else ``None``."""
    try:
        speed = termios.tcgetattr(fd)[4]
    except termios.error:
        return None
    return _BAUD_CONSTANTS.get(speed)
