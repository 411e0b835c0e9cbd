"""The RS-485 PTZ bus: one serial line shared by several domes, driven from the event loop.

Contract:

1. **One frame at a time.** Every transaction (write one frame; for a query, also wait for
   the reply) holds the bus lock, so two domes' commands never interleave and a reply is
   attributed to the query that caused it.
2. **Per-dome baud.** Before talking to a dome the bus switches the line to that dome's
   rate (the previous frame has already drained: see 4).
3. **Gaps.** At least :data:`INTER_FRAME_GAP_S` of silence between the end of one frame
   (or reply) and the next frame; some domes drop a frame that follows too closely.
   Tests pass ``inter_frame_gap_s=0``.
4. **Drained writes.** After writing, the bus waits (``tcdrain`` in a thread) until the
   UART has shifted the frame out, so the gap and the reply timeout start when the frame
   has left the wire, and a baud switch never garbles a frame still in the FIFO.
5. **Echo ignored.** On 2-wire half duplex the receiver hears our own frames. A received
   frame equal to one sent in the last :data:`ECHO_WINDOW_S` is dropped (counted in
   :attr:`BusStats.echoes_ignored`); other non-reply frames (another controller on the
   bus) are dropped as foreign traffic.
6. **Lost port.** A read/write error or EOF (USB adapter unplugged, pty closed) closes the
   bus: the pending query and every later call raise :class:`BusClosedError`.

Threads: everything runs on the loop except ``tcdrain``, which runs in the default
executor and touches only the fd.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import termios
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import serial

from hal.ptz.commands import QUERY_REPLY, Command, Extended, Frame, Op, describe
from hal.ptz.errors import BusClosedError, BusError, NoReplyError
from hal.ptz.scanner import FrameScanner
from hal.ptz.settings import DomeSettings
from hal.serial.open import LineSettings, SerialFactory, open_serial

__all__ = [
    "DRAIN_TIMEOUT_S",
    "ECHO_WINDOW_S",
    "INTER_FRAME_GAP_S",
    "WRITE_TIMEOUT_S",
    "BusStats",
    "PtzBus",
]

logger = logging.getLogger(__name__)

INTER_FRAME_GAP_S = 0.010
"""Silence between frames on the wire (≈ 2 frame-times at 9600 baud)."""
ECHO_WINDOW_S = 1.0
"""How long a sent frame may take to come back as its own echo."""
WRITE_TIMEOUT_S = 1.0
"""A transmitter that takes no bytes for this long is stalled."""
DRAIN_TIMEOUT_S = 2.0
"""Longest wait for the UART to shift a frame out (8 bytes at 1200 baud is 67 ms)."""
_ECHO_BACKLOG = 32


@dataclass(frozen=True, slots=True)
class BusStats:
    """Counters for the diagnostics page."""

    frames_sent: int
    replies: int
    echoes_ignored: int
    foreign_frames: int
    bytes_discarded: int
    baud_switches: int


@dataclass(slots=True)
class _Pending:
    dome: DomeSettings
    reply_op: int
    future: asyncio.Future[Frame]

    def matches(self, frame: Frame) -> bool:
        command = frame.command
        return (isinstance(command, Extended) and command.op == self.reply_op
                and frame.protocol is self.dome.protocol
                and frame.address == self.dome.wire_address)


class PtzBus:
    """An open RS-485 line (pyserial port with a ``fileno()``) that domes talk through."""

    def __init__(self, port: Any, line: LineSettings, *,
                 inter_frame_gap_s: float = INTER_FRAME_GAP_S,
                 echo_window_s: float = ECHO_WINDOW_S) -> None:
        self._port = port
        self._fd: int = port.fileno()
        self._tty = os.isatty(self._fd)
        self._line = line
        self._gap_s = inter_frame_gap_s
        self._echo_window_s = echo_window_s
        self._baud = line.baud
        self._lock = asyncio.Lock()
        self._scanner = FrameScanner()
        self._echoes: deque[tuple[bytes, float]] = deque(maxlen=_ECHO_BACKLOG)
        self._pending: _Pending | None = None
        self._last_activity = -float("inf")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed: BusClosedError | None = None
        self._sent = self._replies = self._echoes_ignored = 0
        self._foreign = self._baud_switches = 0

    @classmethod
    async def open(cls, line: LineSettings, *, factory: SerialFactory | None = None,
                   inter_frame_gap_s: float = INTER_FRAME_GAP_S,
                   echo_window_s: float = ECHO_WINDOW_S) -> PtzBus:
        """Open the port (in a thread: opening can block) and start reading."""
        kwargs = {} if factory is None else {"factory": factory}
        port = await asyncio.to_thread(open_serial, line, **kwargs)
        bus = cls(port, line, inter_frame_gap_s=inter_frame_gap_s,
                  echo_window_s=echo_window_s)
        bus.start()
        return bus

    @property
    def line(self) -> LineSettings:
        return self._line

    @property
    def baud(self) -> int:
        """The rate the line is set to now (the last dome talked to)."""
        return self._baud

    @property
    def closed(self) -> bool:
        return self._closed is not None

    @property
    def stats(self) -> BusStats:
        return BusStats(self._sent, self._replies, self._echoes_ignored, self._foreign,
                        self._scanner.discarded, self._baud_switches)

    def start(self) -> None:
        """Start reading the line (loop only)."""
        self._loop = asyncio.get_running_loop()
        os.set_blocking(self._fd, False)
        self._loop.add_reader(self._fd, self._on_readable)

    async def close(self) -> None:
        """Stop reading, fail a pending query, close the port once the current frame is out."""
        if self._closed is None:
            self._shut(BusClosedError(self._line.device, "the bus is closed"))
        async with self._lock:
            self._port.close()

    async def send(self, dome: DomeSettings, command: Command) -> None:
        """Send one command to ``dome``; returns once it has left the UART."""
        await self._transact(dome, command, None, 0.0)

    async def query(self, dome: DomeSettings, command: Extended, *,
                    timeout_s: float) -> Frame:
        """Send a query (``Op.QUERY_PAN``/``TILT``/``ZOOM``) and return the dome's reply.

        Raises :class:`NoReplyError` when no matching reply arrives within ``timeout_s``
        of the query leaving the UART.
        """
        try:
            reply_op = QUERY_REPLY.get(Op(command.op))
        except ValueError:
            reply_op = None
        if reply_op is None:
            raise ValueError(f"{describe(command)} is not a query")
        return await self._transact(dome, command, reply_op, timeout_s)

    async def _transact(self, dome: DomeSettings, command: Command, reply_op: int | None,
                        timeout_s: float) -> Frame:
        raw = dome.encode(command)
        async with self._lock:
            self._check_open()
            baud = dome.baud or self._line.baud
            await self._wait_gap()
            self._switch_baud(baud)
            pending = None
            if reply_op is not None:
                pending = _Pending(dome, reply_op, asyncio.get_running_loop().create_future())
                self._pending = pending
            try:
                self._echoes.append((raw, time.monotonic() + self._echo_window_s))
                await self._write_all(raw)
                await self._drain()
                self._sent += 1
                logger.debug("> %s: %s [%s]", dome.label, describe(command), raw.hex(" "))
                if pending is None:
                    return Frame(dome.protocol, dome.wire_address, command, raw)
                try:
                    async with asyncio.timeout(timeout_s):
                        return await pending.future
                except TimeoutError as exc:
                    raise NoReplyError(dome.label, self._line.describe(baud), timeout_s,
                                       describe(command)) from exc
            finally:
                self._pending = None
                self._last_activity = time.monotonic()
                if pending is not None and pending.future.done() \
                        and not pending.future.cancelled():
                    pending.future.exception()  # retrieved: the error raised is ours

    def _check_open(self) -> None:
        if self._closed is not None:
            raise self._closed
        if self._loop is None:
            raise BusError(self._line.device, "the bus was not started")

    async def _wait_gap(self) -> None:
        remaining = self._last_activity + self._gap_s - time.monotonic()
        if remaining > 0:
            await asyncio.sleep(remaining)

    def _switch_baud(self, baud: int) -> None:
        if baud == self._baud:
            return
        try:
            self._port.baudrate = baud
        except (ValueError, OSError, serial.SerialException) as exc:
            raise BusError(self._line.device, f"cannot switch to {baud} baud: {exc}") from exc
        logger.debug("- %s: %d -> %d baud", self._line.device, self._baud, baud)
        self._baud = baud
        self._baud_switches += 1

    async def _write_all(self, raw: bytes) -> None:
        assert self._loop is not None
        data = memoryview(raw)
        deadline = self._loop.time() + WRITE_TIMEOUT_S
        while data:
            try:
                written = os.write(self._fd, data)
            except BlockingIOError:
                written = 0
            except OSError as exc:
                raise self._lose(exc) from exc
            data = data[written:]
            if data:
                await self._writable(deadline)

    async def _writable(self, deadline: float) -> None:
        assert self._loop is not None
        ready: asyncio.Future[None] = self._loop.create_future()

        def on_writable() -> None:
            if not ready.done():
                ready.set_result(None)

        self._loop.add_writer(self._fd, on_writable)
        try:
            async with asyncio.timeout_at(deadline):
                await ready
        except TimeoutError as exc:
            raise BusError(self._line.device, f"the transmitter took no data for "
                           f"{WRITE_TIMEOUT_S:g} s") from exc
        finally:
            self._loop.remove_writer(self._fd)

    async def _drain(self) -> None:
        """Wait for the UART to send everything (no-op for sockets: nothing to wait for)."""
        if not self._tty:
            return
        try:
            async with asyncio.timeout(DRAIN_TIMEOUT_S):
                await asyncio.to_thread(termios.tcdrain, self._fd)
        except TimeoutError as exc:
            raise BusError(self._line.device, f"the UART did not finish sending within "
                           f"{DRAIN_TIMEOUT_S:g} s") from exc
        except termios.error as exc:
            raise self._lose(OSError(*exc.args)) from exc

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lose(exc)
            return
        if not data:
            self._lose(None)
            return
        for frame in self._scanner.feed(data):
            self._on_frame(frame)

    def _on_frame(self, frame: Frame) -> None:
        now = time.monotonic()
        while self._echoes and self._echoes[0][1] < now:
            self._echoes.popleft()
        for index, (raw, _) in enumerate(self._echoes):
            if raw == frame.raw:
                del self._echoes[index]
                self._echoes_ignored += 1
                logger.debug("x echo of our own frame [%s]", frame.raw.hex(" "))
                return
        pending = self._pending
        if pending is not None and not pending.future.done() and pending.matches(frame):
            self._replies += 1
            logger.debug("< %s: %s", pending.dome.label, describe(frame.command))
            pending.future.set_result(frame)
            return
        self._foreign += 1
        logger.debug("x unexpected frame from address %d: %s [%s]", frame.address,
                     describe(frame.command), frame.raw.hex(" "))

    def _lose(self, exc: OSError | None) -> BusClosedError:
        """The port failed under us: close the bus with a reason a technician can act on."""
        if self._closed is not None:
            return self._closed
        if exc is None or exc.errno in (errno.EIO, errno.ENXIO, errno.ENODEV, errno.EBADF):
            reason = ("the port went away (serial adapter unplugged, or the other end "
                      "closed)")
        else:
            reason = f"I/O error: {exc.strerror or exc}"
        error = BusClosedError(self._line.device, reason)
        logger.error("%s", error)
        self._shut(error)
        return error

    def _shut(self, error: BusClosedError) -> None:
        self._closed = error
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
        pending = self._pending
        if pending is not None and not pending.future.done():
            pending.future.set_exception(error)
