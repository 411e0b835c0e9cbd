"""One channel's motion analyser: sub-stream packets in, region start/stop and bitmaps out.

It is a ``PacketSink`` tapped on the sub stream's reader (``IngestService.add_tap``).
In the reader thread it only copies the packet's bytes into a bounded queue and returns;
when the queue is full (the decoder is behind) it drops packets up to the next key frame
(H.264 cannot decode a P frame whose reference was dropped) and counts them.

A worker thread per channel (``motion-ch3``) decodes with a PyAV ``CodecContext``, one
decoder thread (so one channel costs one core's share, as the benchmark measures):
every packet is decoded (P frames need their references) but only ``fps`` frames a
second are analysed; with ``keyframes_only`` only key frames are queued and decoded.
Each analysed frame's luma plane goes to the ``MotionDetector``; region starts and stops
go to ``on_region(channel, region, phase, time_us)``, on the event loop when one is
given (``call_soon_threadsafe``), else in the worker thread; the OR of the moving
cells over each UTC second goes to the ``MotionStore``.

Time: a frame's UTC time is an anchor plus its media time, as the recorder stamps its
footage (``nvrd/record/segmenter.py``): the anchor is the smallest (arrival − media time)
over the first ``SETTLE_US`` of media, so the burst a connection delivers after probing
does not make motion late against the recording; a media timestamp that goes back or
jumps more than ``MAX_MEDIA_JUMP_US`` re-anchors on the wall clock.

Threads: ``on_session_start``/``on_packet``/``on_session_end`` run in the reader thread
and touch only the queue and the ``_in_*`` fields; the worker owns the decoder, the
detector and the per-second bitmap; counters are plain ints read by anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av
import av.audio.stream
import av.video.stream
import numpy as np
import numpy.typing as npt

from nvrd.config.schema import MotionConfig
from nvrd.motion.detector import MotionDetector, Phase, RegionChange, regions_of
from nvrd.motion.grid import CellMask, empty_mask
from nvrd.motion.store import MotionStore
from nvrd.record.segmenter import SETTLE_US

logger = logging.getLogger(__name__)

RegionCallback = Callable[[int, int, Phase, int], None]
"""(channel, region 1–4, "start" | "stop", time_us)."""

QUEUE_PACKETS = 64
"""Packets waiting for the decoder: ~2.5 s of a 25 fps sub stream."""
MAX_MEDIA_JUMP_US = 5_000_000
_LUMA_FIRST = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p",
               "nv12", "gray"}


@dataclass(frozen=True, slots=True)
class _Start:
    codec: str
    extradata: bytes | None
    time_base: Fraction


@dataclass(frozen=True, slots=True)
class _Packet:
    data: bytes
    key: bool
    pts: int | None
    dts: int | None
    wall_us: int


@dataclass(frozen=True, slots=True)
class _End:
    reason: str


_Item = _Start | _Packet | _End | None  # None: stop the worker


@dataclass(frozen=True, slots=True)
class MotionStats:
    packets: int
    dropped: int
    """Packets dropped because the decoder was behind (or waiting for a key frame)."""
    decoded: int
    analysed: int
    decode_errors: int


def wall_clock_us() -> int:
    return time.time_ns() // 1000


class MotionAnalyser:
    def __init__(self, channel: int, config: MotionConfig, on_region: RegionCallback,
                 store: MotionStore | None = None, *,
                 loop: asyncio.AbstractEventLoop | None = None,
                 queue_packets: int = QUEUE_PACKETS,
                 wall_us: Callable[[], int] = wall_clock_us) -> None:
        self.channel = channel
        self.config = config
        self._on_region = on_region
        self._store = store
        self._loop = loop
        self._wall_us = wall_us
        self._limit = queue_packets
        self._queue: deque[_Item] = deque()
        self._ready = threading.Condition()
        self._busy = False  # the worker is handling an item it took
        self._queued_packets = 0  # under _ready; control items do not count
        self._thread: threading.Thread | None = None
        self._log = logger.getChild(f"ch{channel}")
        # reader thread
        self._in_video_index: int | None = None
        self._in_resync = False
        # counters
        self.packets = self.dropped = self.decoded = self.analysed = self.decode_errors = 0
        # worker thread
        self._detector = self._new_detector()
        self._period_us = round(1_000_000 / config.fps)
        self._next_due_us = 0
        self._anchor: tuple[int, int] | None = None  # (wall − media µs, settle from)
        self._last_media_us: int | None = None
        self._second: int | None = None
        self._second_mask: CellMask = empty_mask()

    def _new_detector(self) -> MotionDetector:
        keyframes = self.config.keyframes_only
        return MotionDetector(regions_of(self.config), start_frames=1 if keyframes else 2)

    def stats(self) -> MotionStats:
        return MotionStats(self.packets, self.dropped, self.decoded, self.analysed,
                           self.decode_errors)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"motion-ch{self.channel}",
                                        daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        """The worker thread runs (False before ``start`` and after ``stop``)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def stop(self) -> None:
        """Blocking: ends the worker after what is queued (call via ``asyncio.to_thread``
        from the loop)."""
        self._put(None)
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Until the queue is empty and the worker has finished what it took (tests)."""
        with self._ready:
            return self._ready.wait_for(lambda: not self._queue and not self._busy, timeout)

    # --- reader thread (PacketSink) ----------------------------------------------------

    def on_session_start(self, video: av.video.stream.VideoStream,
                         audio: av.audio.stream.AudioStream | None) -> None:
        ctx = video.codec_context
        self._in_video_index = video.index
        self._in_resync = True  # decoding starts at a key frame
        self._put(_Start(ctx.name, bytes(ctx.extradata) if ctx.extradata else None,
                         video.time_base or Fraction(1, 90_000)))

    def on_packet(self, packet: av.Packet) -> None:
        if packet.stream_index != self._in_video_index:
            return
        self.packets += 1
        key = bool(packet.is_keyframe)
        if self.config.keyframes_only and not key:
            return
        if self._in_resync and not key:
            self.dropped += 1
            return
        with self._ready:
            if self._queued_packets >= self._limit:
                self.dropped += 1
                self._in_resync = True
                return
            self._in_resync = False
            self._queue.append(_Packet(bytes(packet), key, packet.pts, packet.dts,
                                       self._wall_us()))
            self._queued_packets += 1
            self._ready.notify_all()

    def on_session_end(self, reason: str) -> None:
        self._in_video_index = None
        self._put(_End(reason))

    def _put(self, item: _Item) -> None:
        """Control items are never dropped (they do not count against the bound)."""
        with self._ready:
            self._queue.append(item)
            self._ready.notify_all()

    # --- worker thread ---------------------------------------------------------------

    def _run(self) -> None:
        decoder: av.VideoCodecContext | None = None
        time_base = Fraction(1, 90_000)
        while True:
            with self._ready:
                self._busy = False
                self._ready.notify_all()
                self._ready.wait_for(lambda: bool(self._queue))
                item = self._queue.popleft()
                if isinstance(item, _Packet):
                    self._queued_packets -= 1
                self._busy = True
            try:
                if item is None:
                    self._end_session(None)
                    return
                if isinstance(item, _Start):
                    self._end_session(None)
                    decoder, time_base = self._open_decoder(item), item.time_base
                elif isinstance(item, _End):
                    self._end_session(item.reason)
                    decoder = None
                elif decoder is not None:
                    self._decode(decoder, item, time_base)
            except Exception:  # one bad frame must not end motion detection
                self._log.exception("motion analysis failed")

    def _open_decoder(self, start: _Start) -> av.VideoCodecContext:
        decoder = av.CodecContext.create(start.codec, "r")
        if not isinstance(decoder, av.VideoCodecContext):
            raise ValueError(f"{start.codec} is not a video codec")
        if start.extradata:
            decoder.extradata = start.extradata
        decoder.thread_count = 1
        if self.config.keyframes_only:
            decoder.skip_frame = "NONKEY"
        self._anchor = self._last_media_us = None
        self._next_due_us = 0
        return decoder

    def _decode(self, decoder: av.VideoCodecContext, item: _Packet, time_base: Fraction) -> None:
        packet = av.Packet(item.data)
        packet.pts, packet.dts, packet.time_base = item.pts, item.dts, time_base
        try:
            frames = decoder.decode(packet)
        except av.error.FFmpegError as exc:
            self.decode_errors += 1
            self._log.debug("cannot decode a packet: %s", exc)
            return
        for frame in frames:
            if not isinstance(frame, av.VideoFrame):
                continue
            self.decoded += 1
            time_us = self._frame_time_us(frame.pts, time_base, item.wall_us)
            if time_us < self._next_due_us:
                continue
            late = time_us - self._next_due_us
            self._next_due_us = (self._next_due_us + self._period_us
                                 if late < self._period_us else time_us + self._period_us)
            self._analyse(_luma(frame), time_us)

    def _frame_time_us(self, pts: int | None, time_base: Fraction, wall_us: int) -> int:
        if pts is None:
            self._anchor = None
            return wall_us
        media_us = int(pts * time_base * 1_000_000)
        last = self._last_media_us
        if (self._anchor is None or last is None or media_us < last - MAX_MEDIA_JUMP_US
                or media_us > last + MAX_MEDIA_JUMP_US):
            self._anchor = (wall_us - media_us, media_us)
        self._last_media_us = media_us
        offset, settle_from = self._anchor
        if media_us - settle_from < SETTLE_US:  # the segmenter's rule: the earliest
            offset = min(offset, wall_us - media_us)  # arrival, not a probing burst's
            self._anchor = (offset, settle_from)
        return offset + media_us

    def _analyse(self, luma: npt.NDArray[np.uint8], time_us: int) -> None:
        self.analysed += 1
        result = self._detector.process(luma, time_us)
        second = time_us // 1_000_000
        if second != self._second:
            self._flush_second()
            self._second = second
        self._second_mask |= result.moving
        self._emit(result.changes)

    def _end_session(self, reason: str | None) -> None:
        self._flush_second()
        self._second = None
        changes = self._detector.end(self._last_time_us())
        if changes:
            self._log.info("stream ended (%s): stopping motion", reason or "stopped")
        self._emit(changes)

    def _last_time_us(self) -> int:
        if self._anchor is None or self._last_media_us is None:
            return self._wall_us()
        return self._anchor[0] + self._last_media_us

    def _flush_second(self) -> None:
        if self._second is not None and self._second_mask.any() and self._store is not None:
            try:
                self._store.add(self.channel, self._second, self._second_mask)
            except Exception:
                self._log.exception("cannot store the motion bitmap of second %d",
                                    self._second)
        self._second_mask = empty_mask()

    def _emit(self, changes: tuple[RegionChange, ...]) -> None:
        for change in changes:
            args = (self.channel, change.region, change.phase, change.time_us)
            loop = self._loop
            if loop is None:
                self._on_region(*args)
            elif not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(self._on_region, *args)


def _luma(frame: av.VideoFrame) -> npt.NDArray[np.uint8]:
    """The Y plane without a colour conversion (a view; cropped to the picture)."""
    if frame.format.name not in _LUMA_FIRST:
        return np.asarray(frame.to_ndarray(format="gray"), dtype=np.uint8)
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), dtype=np.uint8)
    size = frame.height * plane.line_size
    return rows[:size].reshape(frame.height, plane.line_size)[:, :frame.width]
