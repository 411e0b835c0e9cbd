"""Where console sessions come from: the serial port, or the local console socket.

- :class:`SerialTransport`: the board's console UART (or a pty, or any pyserial URL) read
  from the event loop with ``add_reader``. A serial line never "hangs up"; a pty whose far
  end is gone reads ``EIO``, which ends the session, and the service opens the port again.
- :class:`StreamTransport`: one connection to the console socket (``nvrd console``
  bridges a terminal, a pty given with ``--tty``, or stdin to it).

Writes never block the loop: what the line cannot take now waits in a buffer of at most
``MAX_BUFFERED`` bytes, flushed when the port is writable; beyond that, output is dropped
(nobody is reading: a console cable left plugged into nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from typing import Any, Protocol

__all__ = ["MAX_BUFFERED", "SerialTransport", "StreamTransport", "Transport"]

logger = logging.getLogger(__name__)

MAX_BUFFERED = 256 * 1024
_READ_SIZE = 4096


class Transport(Protocol):
    name: str
    """What the session runs on, for the log and the audit: ``/dev/ttyS0``, ``socket``."""

    async def read(self) -> bytes:
        """The next bytes typed; ``b""`` once the line is gone."""
        ...

    def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


class SerialTransport:
    """A pyserial port, open and non-blocking (``hal.serial.open_serial``)."""

    def __init__(self, port: Any, name: str) -> None:
        self._port = port
        self._fd: int = port.fileno()
        self.name = name
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._out = bytearray()
        self._writing = False
        self._closed = False
        self._loop.add_reader(self._fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: the pty's other end closed
            logger.info("console line %s: %s", self.name, exc.strerror)
            data = b""
        if not data:
            self._loop.remove_reader(self._fd)
        self._queue.put_nowait(data)

    async def read(self) -> bytes:
        if self._closed:
            return b""
        return await self._queue.get()

    def write(self, data: bytes) -> None:
        if self._closed:
            return
        room = MAX_BUFFERED - len(self._out)
        self._out += data[:max(0, room)]
        self._flush()

    def _flush(self) -> None:
        while self._out:
            try:
                sent = os.write(self._fd, self._out)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                if exc.errno != errno.EAGAIN:
                    self._out.clear()
                    break
                sent = 0
            if sent == 0:
                if not self._writing:
                    self._loop.add_writer(self._fd, self._flush)
                    self._writing = True
                return
            del self._out[:sent]
        if self._writing:
            self._loop.remove_writer(self._fd)
            self._writing = False

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        if self._writing:
            self._loop.remove_writer(self._fd)
        self._queue.put_nowait(b"")
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._port.close)


class StreamTransport:
    """One connection to the console socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 name: str = "console socket") -> None:
        self._reader = reader
        self._writer = writer
        self.name = name

    async def read(self) -> bytes:
        try:
            return await self._reader.read(_READ_SIZE)
        except (ConnectionError, OSError):
            return b""

    def write(self, data: bytes) -> None:
        if self._writer.is_closing():
            return
        if self._writer.transport.get_write_buffer_size() + len(data) > MAX_BUFFERED:
            return
        self._writer.write(data)

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
