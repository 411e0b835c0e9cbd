"""``nvrd console``: a terminal on the running daemon's console, through its local socket.

The daemon serves the same console it runs on the serial port on a Unix socket in its
data directory (owner only). This bridges a terminal to it: the calling terminal (put in
raw mode, so keys such as Ctrl-C reach the console), or another tty given with ``--tty``
(a pty a developer attached a terminal emulator to, a USB serial adapter). ``Ctrl-]``
leaves, as in telnet. The session still needs a login.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import termios
import tty
from pathlib import Path

__all__ = ["QUIT_KEY", "run_bridge"]

QUIT_KEY = b"\x1d"  # Ctrl-]


async def _bridge(socket_path: Path, in_fd: int, out_fd: int) -> None:
    reader, writer = await asyncio.open_unix_connection(str(socket_path))
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def typed() -> None:
        try:
            data = os.read(in_fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data or QUIT_KEY in data:
            data = data.split(QUIT_KEY, 1)[0]
            done.set()
        if data:
            writer.write(data)

    async def shown() -> None:
        while chunk := await reader.read(4096):
            view = memoryview(chunk)
            while view:
                try:
                    view = view[os.write(out_fd, view):]
                except BlockingIOError:
                    await asyncio.sleep(0.01)
        done.set()

    os.set_blocking(in_fd, False)
    loop.add_reader(in_fd, typed)
    output = asyncio.create_task(shown())
    try:
        await done.wait()
    finally:
        loop.remove_reader(in_fd)
        output.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await output
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def run_bridge(socket_path: Path, tty_path: Path | None = None) -> int:
    """Bridge ``tty_path`` (or stdin/stdout) to the console socket until Ctrl-] or the
    daemon closes it; the exit status for the CLI."""
    if not socket_path.exists():
        print(f"nvrd console: {socket_path} does not exist: is the daemon running with "
              "console.socket = true, and is this its data directory (--data-dir)?",
              file=sys.stderr)
        return 1
    if tty_path is not None:
        fd = os.open(tty_path, os.O_RDWR | os.O_NOCTTY)
        in_fd = out_fd = fd
    else:
        fd, in_fd, out_fd = -1, sys.stdin.fileno(), sys.stdout.fileno()
    saved = None
    if os.isatty(in_fd):
        saved = termios.tcgetattr(in_fd)
        tty.setraw(in_fd)
    try:
        if tty_path is None and saved is not None:
            os.write(out_fd, b"nvrd console: Ctrl-] leaves\r\n")
        asyncio.run(_bridge(socket_path, in_fd, out_fd))
    except OSError as exc:
        print(f"nvrd console: cannot connect to {socket_path}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    finally:
        if saved is not None:
            termios.tcsetattr(in_fd, termios.TCSADRAIN, saved)
        if fd >= 0:
            os.close(fd)
    return 0
