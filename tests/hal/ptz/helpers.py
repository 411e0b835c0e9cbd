"""Shared by the PTZ tests: the dome's end of a pty, read from the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os

from hal.sim.pty import baud_of

WAIT_S = 2.0
"""Upper bound for anything a test waits on; nothing here takes more than milliseconds."""


class MasterEnd:
    """The dome's end of the cable, read from the loop (no sleeps: waits on readability)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()

    async def read(self, count: int, timeout_s: float = WAIT_S) -> bytes:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout_s):
            while len(self._buffer) < count:
                ready: asyncio.Future[None] = loop.create_future()
                loop.add_reader(self.fd, _resolve, ready)
                try:
                    await ready
                finally:
                    loop.remove_reader(self.fd)
                with contextlib.suppress(BlockingIOError):
                    self._buffer += os.read(self.fd, 4096)
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def write(self, data: bytes) -> None:
        assert os.write(self.fd, data) == len(data)

    @property
    def baud(self) -> int | None:
        """The rate the bus has set the line to (the pty master reports its slave's)."""
        return baud_of(self.fd)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
