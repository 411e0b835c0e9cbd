"""A terminal on the other end of a byte stream: prompts, line reads, output.

One reader task takes everything the technician types. While a prompt waits, the bytes go
through the :class:`~nvrd.console.lineeditor.LineEditor`; while a command runs, ``Ctrl-C``
cancels it (``on_interrupt``) and the rest is kept as type-ahead (bounded). Output turns
``\\n`` into ``\\r\\n`` (a raw serial line has no line discipline to do it) and never waits on
the far end: a cable with nobody on it must not stall the daemon, so what the transport
cannot take is kept up to a bound and the excess dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from nvrd.console.lineeditor import (
    Completer,
    EndOfInput,
    Interrupted,
    LineDone,
    LineEditor,
    reprint_marker,
)
from nvrd.console.transports import Transport

__all__ = ["EndOfSession", "Hangup", "IdleTimeout", "LineInterrupted", "Terminal"]

MAX_TYPE_AHEAD = 4096


class Hangup(Exception):
    """The line went away (socket closed, pty master gone)."""


class EndOfSession(Exception):
    """``Ctrl-D`` on an empty line: log out (at the login prompt: nothing)."""


class IdleTimeout(Exception):
    """Nothing was typed for the idle time."""


class LineInterrupted(Exception):
    """``Ctrl-C`` at a prompt."""


class Terminal:
    def __init__(self, transport: Transport, *, completer: Completer | None = None) -> None:
        self.transport = transport
        self.editor = LineEditor(completer=completer)
        self._pending = bytearray()
        self._data = asyncio.Event()
        self._closed = False
        self._reading = False
        self._prompt = ""
        self.on_interrupt: Callable[[], None] | None = None
        self._task = asyncio.create_task(self._read_loop(), name="console-reader")

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.transport.close()

    # --- output -----------------------------------------------------------------------------

    def write(self, text: str) -> None:
        self.transport.write(text.replace("\r\n", "\n").replace("\n", "\r\n")
                             .encode("utf-8", "replace"))

    def line(self, text: str = "") -> None:
        self.write(text + "\n")

    # --- input ------------------------------------------------------------------------------

    async def read_line(self, prompt: str, *, secret: bool = False,
                        timeout: float | None = None) -> str:
        """Show ``prompt`` and return the line typed. Raises :class:`IdleTimeout` after
        ``timeout`` seconds without a key, :class:`LineInterrupted` on ``Ctrl-C``,
        :class:`EndOfSession` on ``Ctrl-D`` on an empty line, :class:`Hangup` when the line
        is gone."""
        self.write(prompt)
        self._prompt = prompt
        self.editor.start_line(secret=secret)
        self._reading = True
        try:
            while True:
                if not self._pending:
                    if self._closed:
                        raise Hangup()
                    self._data.clear()
                    try:
                        await asyncio.wait_for(self._data.wait(), timeout)
                    except TimeoutError:
                        raise IdleTimeout() from None
                    continue
                # one byte at a time: what follows a finished line is the next read's
                chunk, rest = self._split_at_line_end(bytes(self._pending))
                self._pending[:] = rest
                events, echo = self.editor.feed(chunk)
                if echo:
                    self.write(echo.replace(reprint_marker(), self._prompt + self.editor.text))
                for event in events:
                    if isinstance(event, LineDone):
                        return event.text
                    if isinstance(event, Interrupted):
                        raise LineInterrupted()
                    if isinstance(event, EndOfInput):
                        raise EndOfSession()
        finally:
            self._reading = False

    @staticmethod
    def _split_at_line_end(data: bytes) -> tuple[bytes, bytes]:
        """Up to and including the first line end (CR, LF, CR LF) or Ctrl-C/D, and the rest."""
        for index, byte in enumerate(data):
            if byte in (0x0A, 0x03, 0x04):
                return data[:index + 1], data[index + 1:]
            if byte == 0x0D:
                end = index + 2 if data[index + 1:index + 2] == b"\n" else index + 1
                return data[:end], data[end:]
        return data, b""

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self.transport.read()
                if not data:
                    break
                if not self._reading and b"\x03" in data:
                    # Ctrl-C while a command runs: stop it; the rest is not type-ahead
                    data = data[data.rindex(b"\x03") + 1:]
                    if self.on_interrupt is not None:
                        self.on_interrupt()
                room = MAX_TYPE_AHEAD - len(self._pending)
                self._pending += data[:max(0, room)]
                self._data.set()
        finally:
            self._closed = True
            self._data.set()
