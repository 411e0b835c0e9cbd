"""Simulated Pelco domes on the far end of a simulated RS-485 line.

Two pieces, at the lowest seam (the bytes on the wire):

- :class:`SimDome` is one dome's behaviour: it takes decoded frames addressed to it and
  keeps the state a real dome would (motion, lens, presets, position, aux outputs, pattern),
  answering the position queries (0x51/0x53/0x55 → 0x59/0x5B/0x5D, in the dome's own
  protocol). Pure; time comes from an injected clock (position integrates speed × time).
- :class:`SimPtzLine` is the wire: it reads the master side of a pty (or any non-blocking
  byte-stream fd) from the event loop, splits the bytes into frames with the real
  :class:`~hal.ptz.scanner.FrameScanner`, hands each frame to the dome at that protocol
  and address, and writes the replies back. Like a real bus it can echo every byte back
  (2-wire half duplex), inject noise, and it checks the line rate: a dome configured for
  another baud than the one the driver set on the pty ignores the frame (a real one would
  see garbage).

Control methods (what the sim's control socket and ``simctl`` call): ``snapshot()`` on
either, :meth:`SimDome.set_position`, :meth:`SimDome.set_answers_queries`,
:meth:`SimPtzLine.set_echo`, :meth:`SimPtzLine.inject`, :meth:`SimPtzLine.prefix_next_reply`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from hal.ptz.commands import (
    MAX_SPEED,
    QUERY_REPLY,
    Command,
    Extended,
    Focus,
    Frame,
    Iris,
    Motion,
    Op,
    Pan,
    PtzProtocol,
    Tilt,
    Zoom,
    describe,
)
from hal.ptz.scanner import FrameScanner
from hal.ptz.settings import DomeSettings
from hal.sim.pty import baud_of

__all__ = ["SimDome", "SimDomeSnapshot", "SimLineSnapshot", "SimPtzLine"]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

FULL_TURN_CDEG = 36000
MAX_TILT_CDEG = 9000
"""Tilt runs from the horizon (0) to straight down (9000); tilt down increases it."""
MAX_ZOOM = 0xFFFF
CDEG_PER_S_PER_SPEED = 100
"""Pan/tilt rate: speed 1 = 1 °/s, 0x3F = 63 °/s."""
TURBO_CDEG_PER_S = 12000
ZOOM_PER_S = 0x4000
"""Zoom rate: wide to tele in 4 s."""


@dataclass(frozen=True, slots=True)
class SimDomeSnapshot:
    """What a tester, ``simctl`` or the demo page can read off a simulated dome."""

    protocol: PtzProtocol
    address: int
    baud: int | None
    frames: int
    """Frames accepted (addressed to this dome, at its baud)."""
    wrong_baud_frames: int
    last_command: str | None
    pan: Pan
    tilt: Tilt
    pan_speed: int
    tilt_speed: int
    turbo: bool
    zoom: Zoom
    focus: Focus
    iris: Iris
    camera_on: bool
    pan_cdeg: int
    tilt_cdeg: int
    zoom_position: int
    presets: tuple[int, ...]
    last_preset_called: int | None
    aux_on: tuple[int, ...]
    pattern: str
    """``idle``, ``recording`` or ``running``."""


@dataclass(frozen=True, slots=True)
class SimLineSnapshot:
    echo: bool
    bytes_received: int
    bytes_discarded: int
    domes: tuple[SimDomeSnapshot, ...]


class SimDome:
    """One simulated dome; ``settings`` are its DIP switches (protocol, address, baud)."""

    def __init__(self, settings: DomeSettings, *, clock: Clock = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._answers_queries = True
        self._frames = 0
        self._wrong_baud = 0
        self._last: Command | None = None
        self._motion = Motion()
        self._camera_on = True
        self._pan_cdeg = 0.0
        self._tilt_cdeg = 0.0
        self._zoom = 0.0
        self._since = clock()
        self._presets: dict[int, tuple[float, float, float]] = {}
        self._last_preset: int | None = None
        self._aux: set[int] = set()
        self._pattern = "idle"

    # --- control (tests, simctl) -----------------------------------------------------------

    def snapshot(self) -> SimDomeSnapshot:
        self._advance()
        m = self._motion
        return SimDomeSnapshot(
            protocol=self.settings.protocol, address=self.settings.address,
            baud=self.settings.baud, frames=self._frames, wrong_baud_frames=self._wrong_baud,
            last_command=describe(self._last) if self._last is not None else None,
            pan=m.pan, tilt=m.tilt, pan_speed=m.pan_speed, tilt_speed=m.tilt_speed,
            turbo=m.turbo, zoom=m.zoom, focus=m.focus, iris=m.iris,
            camera_on=self._camera_on, pan_cdeg=round(self._pan_cdeg) % FULL_TURN_CDEG,
            tilt_cdeg=round(self._tilt_cdeg), zoom_position=round(self._zoom),
            presets=tuple(sorted(self._presets)), last_preset_called=self._last_preset,
            aux_on=tuple(sorted(self._aux)), pattern=self._pattern)

    def set_position(self, pan_cdeg: int | None = None, tilt_cdeg: int | None = None,
                     zoom: int | None = None) -> None:
        """Put the dome somewhere (as if moved by hand or by its own keyboard)."""
        self._advance()
        if pan_cdeg is not None:
            self._pan_cdeg = float(pan_cdeg % FULL_TURN_CDEG)
        if tilt_cdeg is not None:
            self._tilt_cdeg = float(min(max(tilt_cdeg, 0), MAX_TILT_CDEG))
        if zoom is not None:
            self._zoom = float(min(max(zoom, 0), MAX_ZOOM))

    def set_answers_queries(self, answers: bool) -> None:
        """``False``: behave like a dome without position feedback (queries time out)."""
        self._answers_queries = answers

    # --- the wire side ---------------------------------------------------------------------

    def wants(self, frame: Frame) -> bool:
        return (frame.protocol is self.settings.protocol
                and frame.address == self.settings.wire_address)

    def wrong_baud(self) -> None:
        self._wrong_baud += 1

    def handle(self, frame: Frame) -> bytes | None:
        """Act on a frame addressed to this dome; the reply bytes for a query, else None."""
        self._advance()
        self._frames += 1
        self._last = frame.command
        if isinstance(frame.command, Motion):
            self._on_motion(frame.command)
            return None
        return self._on_extended(frame.command)

    def _on_motion(self, motion: Motion) -> None:
        if motion.camera_on is not None:
            self._camera_on = motion.camera_on
        if self._pattern == "running" and not motion.is_stop:
            self._pattern = "idle"  # manual control takes over from a running pattern
        self._motion = Motion(pan=motion.pan, tilt=motion.tilt,
                              pan_speed=motion.pan_speed, tilt_speed=motion.tilt_speed,
                              turbo=motion.turbo, zoom=motion.zoom, focus=motion.focus,
                              iris=motion.iris)

    def _on_extended(self, command: Extended) -> bytes | None:
        op, number = command.op, command.data2
        if op == Op.SET_PRESET:
            self._presets[number] = (self._pan_cdeg, self._tilt_cdeg, self._zoom)
        elif op == Op.CLEAR_PRESET:
            self._presets.pop(number, None)
        elif op == Op.CALL_PRESET:
            self._last_preset = number
            if number in self._presets:
                self._motion = Motion()
                self._pan_cdeg, self._tilt_cdeg, self._zoom = self._presets[number]
        elif op in (Op.SET_AUX, Op.CLEAR_AUX):
            (self._aux.add if op == Op.SET_AUX else self._aux.discard)(number)
        elif op in (Op.PATTERN_START, Op.PATTERN_STOP, Op.PATTERN_RUN):
            self._pattern = {Op.PATTERN_START: "recording", Op.PATTERN_STOP: "idle",
                             Op.PATTERN_RUN: "running"}[Op(op)]
        elif op in (Op.SET_PAN, Op.SET_TILT, Op.SET_ZOOM):
            self.set_position(**{{Op.SET_PAN: "pan_cdeg", Op.SET_TILT: "tilt_cdeg",
                                  Op.SET_ZOOM: "zoom"}[Op(op)]: command.value})
        elif op in QUERY_REPLY and self._answers_queries:
            return self._reply(Op(op))
        return None

    def _reply(self, query: Op) -> bytes:
        value = {Op.QUERY_PAN: round(self._pan_cdeg) % FULL_TURN_CDEG,
                 Op.QUERY_TILT: round(self._tilt_cdeg),
                 Op.QUERY_ZOOM: round(self._zoom)}[query]
        return self.settings.encode(Extended.with_value(QUERY_REPLY[query], value))

    def _advance(self) -> None:
        """Integrate motion since the last look: positions move only while commanded."""
        now = self._clock()
        elapsed, self._since = max(0.0, now - self._since), now
        m = self._motion
        if m.pan is not Pan.STOP:
            rate = TURBO_CDEG_PER_S if m.turbo else m.pan_speed * CDEG_PER_S_PER_SPEED
            sign = -1 if m.pan is Pan.LEFT else 1
            self._pan_cdeg = (self._pan_cdeg + sign * rate * elapsed) % FULL_TURN_CDEG
        if m.tilt is not Tilt.STOP:
            rate = min(m.tilt_speed, MAX_SPEED) * CDEG_PER_S_PER_SPEED
            sign = -1 if m.tilt is Tilt.UP else 1
            self._tilt_cdeg = min(max(self._tilt_cdeg + sign * rate * elapsed, 0.0),
                                  float(MAX_TILT_CDEG))
        if m.zoom is not Zoom.STOP:
            sign = 1 if m.zoom is Zoom.IN else -1
            self._zoom = min(max(self._zoom + sign * ZOOM_PER_S * elapsed, 0.0),
                             float(MAX_ZOOM))


class SimPtzLine:
    """The RS-485 wire on the sim side of a pty: routes frames to domes, writes replies."""

    def __init__(self, fd: int, domes: tuple[SimDome, ...] = (), *,
                 echo: bool = False) -> None:
        self._fd = fd
        self._domes: list[SimDome] = list(domes)
        self._echo = echo
        self._scanner = FrameScanner()
        self._reply_prefix = b""
        self._received = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._frames: deque[Frame] = deque(maxlen=256)
        self._frame_count = 0
        self._changed = asyncio.Event()

    def attach(self, dome: SimDome) -> SimDome:
        self._domes.append(dome)
        return dome

    def dome(self, protocol: PtzProtocol, address: int) -> SimDome:
        """The attached dome with that protocol and (installer) address."""
        for dome in self._domes:
            if dome.settings.protocol is protocol and dome.settings.address == address:
                return dome
        raise KeyError(f"no simulated {protocol.label} dome {address}")

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        os.set_blocking(self._fd, False)
        self._loop.add_reader(self._fd, self._on_readable)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop = None

    # --- control -----------------------------------------------------------------------------

    def snapshot(self) -> SimLineSnapshot:
        return SimLineSnapshot(self._echo, self._received, self._scanner.discarded,
                               tuple(d.snapshot() for d in self._domes))

    def set_echo(self, on: bool) -> None:
        """Echo every received byte back, as a 2-wire line with RX enabled during TX does."""
        self._echo = on

    def inject(self, data: bytes) -> None:
        """Put bytes on the line now (noise, a dome powering up, another controller)."""
        self._write(data)

    def inject_hex(self, hex_bytes: str) -> None:
        """:meth:`inject` for the control socket: ``"ff 12 a0"``."""
        self.inject(bytes.fromhex(hex_bytes))

    def prefix_next_reply(self, data: bytes) -> None:
        """Send ``data`` just before the next reply (garbage the driver must skip)."""
        self._reply_prefix += data

    @property
    def frames(self) -> tuple[Frame, ...]:
        """The last frames seen on the line, for any dome (newest last)."""
        return tuple(self._frames)

    @property
    def frame_count(self) -> int:
        return self._frame_count

    async def wait_frames(self, count: int, timeout_s: float = 2.0) -> tuple[Frame, ...]:
        """Until at least ``count`` frames have been seen in total; the recent frames."""
        async with asyncio.timeout(timeout_s):
            while self._frame_count < count:
                self._changed.clear()
                await self._changed.wait()
        return self.frames

    # --- the wire ----------------------------------------------------------------------------

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            logger.warning("simulated RS-485 line closed: %s", exc)
            self.close()
            return
        if not data:
            self.close()
            return
        self._received += len(data)
        if self._echo:
            self._write(data)
        rate = baud_of(self._fd)
        for frame in self._scanner.feed(data):
            self._on_frame(frame, rate)
        self._changed.set()

    def _on_frame(self, frame: Frame, rate: int | None) -> None:
        self._frames.append(frame)
        self._frame_count += 1
        for dome in self._domes:
            if not dome.wants(frame):
                continue
            if rate is not None and dome.settings.baud is not None \
                    and dome.settings.baud != rate:
                dome.wrong_baud()
                continue
            reply = dome.handle(frame)
            if reply is not None:
                prefix, self._reply_prefix = self._reply_prefix, b""
                self._write(prefix + reply)

    def _write(self, data: bytes) -> None:
        """Best effort, like a line driver: bytes the other end cannot take are lost."""
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._fd, data)
