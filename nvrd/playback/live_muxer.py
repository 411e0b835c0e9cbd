"""A camera stream's live video as fragmented MP4 a browser's Media Source Extensions
play: an init segment, then one fragment (moof + mdat) per video frame.

FFmpeg's mp4 muxer through PyAV, stream copy, as the recorder's segment muxer
(``nvrd/record/muxer.py``) does, with these differences:

* ``frag_every_frame``: a fragment per frame instead of per GOP, so a frame reaches the
  viewer as soon as the muxer can describe it. The muxer writes a frame's fragment when
  the next frame arrives (a sample's duration is the distance to the next one), so the
  muxer holds one frame interval: 40 ms at 25 fps. ``frag_custom`` would let the caller
  flush after each frame, but only with ``av_write_frame(NULL)``, which PyAV does not
  expose (its ``mux`` always interleaves); measured, ``frag_custom`` through PyAV writes
  no fragment until the muxer is closed.
* Video only. See ``docs/design/playback.md`` ("Live view") for why.
* Its own timeline (``LiveClock``): from 0 at the first frame, advancing by the
  camera's frame intervals, and by one frame across anything else (a timestamp jump, a
  stall, the camera's clock restarting, the packets the recorder rebased: see below).
  A live viewer wants frames in order without holes, not the camera's timestamps.
* The packet it is given is never changed: other sinks of the same reader (the
  recorder's pre-record buffer) still hold it. The muxer muxes a copy.

Why a copy and why the timeline ignores jumps: the reader hands every sink the same
``av.Packet``; the recorder's muxer, which sees it first, rewrites its timestamps onto
the segment's timeline (from 0 at each segment) and its time base. Timestamps are read
with the packet's own time base, so the steps between frames stay right within a
segment, and the step back to 0 at a segment's start counts as one frame.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction

import av
import av.container
import av.error
import av.video.stream

from nvrd.playback.live_codec import CodecStringError, mse_codec_string
from nvrd.record.fmp4 import Fmp4Error, InitInfo, parse_init, parse_moof
from nvrd.record.muxer import BoxSink

__all__ = ["MUXER_OPTIONS", "LiveClock", "LiveFragment", "LiveInit", "LiveMuxer",
           "LiveMuxerError"]

MUXER_OPTIONS = {
    # frag_every_frame: one fragment per frame (see the module doc); empty_moov: the init
    # segment comes first and alone; default_base_moof: each fragment stands alone, as
    # MSE wants.
    "movflags": "frag_every_frame+empty_moov+default_base_moof",
    # hand each box over as soon as it is written, not in 32 KiB chunks
    "flush_packets": "1",
}
MICROSECONDS = Fraction(1, 1_000_000)
DEFAULT_FRAME_US = 40_000
"""Assumed frame interval until the camera's timestamps tell (25 fps)."""
MAX_STEP_US = 1_000_000
"""A step between two frames longer than this is a jump or a stall, not a frame rate."""
MAX_COMPOSITION_US = 10_000_000
"""A presentation offset (pts - dts) beyond this is a broken timestamp, not reordering."""


class LiveMuxerError(Exception):
    """The stream cannot be muxed for live view; the message says why."""


@dataclass(frozen=True, slots=True)
class LiveInit:
    """A session's init segment (ftyp + moov) and what the player needs to know first."""

    data: bytes
    codec: str
    """RFC 6381, e.g. ``avc1.64001f``."""
    width: int | None
    height: int | None

    @property
    def mime(self) -> str:
        return f'video/mp4; codecs="{self.codec}"'


@dataclass(frozen=True, slots=True, eq=False)
class LiveFragment:
    """One frame as a moof + mdat. Compared by identity: every viewer shares it."""

    data: bytes
    keyframe: bool
    dts_us: int
    """Decode time on the live timeline (µs from the session's first frame)."""
    duration_us: int
    received_ns: int
    """``time.monotonic_ns()`` when the frame reached the muxer (for the latency)."""


class LiveClock:
    """Places frames on the live timeline (see the module doc). Pure: no clock read."""

    def __init__(self, frame_us: int = DEFAULT_FRAME_US) -> None:
        self.frame_us = frame_us
        """The last sane step between frames: used for steps that are not."""
        self.jumps = 0
        """Steps replaced by one frame (jumps, stalls, rebased timestamps)."""
        self._last_in: int | None = None
        self._last_out: int | None = None

    def place(self, dts_us: int | None, pts_us: int | None) -> tuple[int, int]:
        """(decode time, presentation time) on the live timeline of a frame the camera
        timed ``dts_us``/``pts_us`` (either may be None: RTSP's first frame has none)."""
        if dts_us is None:
            dts_us = pts_us
        composition = 0
        if dts_us is not None and pts_us is not None \
                and 0 <= pts_us - dts_us <= MAX_COMPOSITION_US:
            composition = pts_us - dts_us
        if self._last_out is None:
            out = 0
        else:
            step = None if dts_us is None or self._last_in is None else dts_us - self._last_in
            if step is not None and 0 < step <= MAX_STEP_US:
                self.frame_us = step
            else:
                step = self.frame_us
                self.jumps += 1
            out = self._last_out + step
        if dts_us is not None:
            self._last_in = dts_us
        self._last_out = out
        return out, out + composition


class LiveMuxer:
    """One session of one stream: feed it the reader's packets, get fragments.

    Threads: one thread at a time (the reader's); nothing here blocks on I/O.
    """

    def __init__(self, video: av.video.stream.VideoStream) -> None:
        self._sink = BoxSink()
        try:
            self._out = av.open(self._sink, "w", format="mp4", options=dict(MUXER_OPTIONS))
            self._video = self._out.add_stream_from_template(video)
        except (av.error.FFmpegError, ValueError) as exc:
            raise LiveMuxerError(f"{video.codec_context.name} video cannot be put in MP4: "
                                 f"{exc}") from exc
        rate = video.average_rate or video.guessed_rate
        frame_us = round(1_000_000 / rate) if rate else DEFAULT_FRAME_US
        self.clock = LiveClock(frame_us if 0 < frame_us <= MAX_STEP_US else DEFAULT_FRAME_US)
        self.init: LiveInit | None = None
        self._init_info: InitInfo | None = None
        self._init_boxes: list[bytes] = []
        self._moof: bytes | None = None
        self._received: deque[int] = deque()
        self._started = False
        self._closed = False
        self.skipped = 0
        """Frames before the session's first key frame (nothing can decode them)."""

    def write(self, packet: av.Packet) -> list[LiveFragment]:
        """Mux a copy of video ``packet``; the fragments it completed (zero or one).
        Raises ``LiveMuxerError`` when the muxer refuses (then this muxer is done)."""
        keyframe = bool(packet.is_keyframe)
        if not self._started and not keyframe:
            self.skipped += 1
            return []
        data = bytes(packet)
        if not data or self._closed:
            return []
        self._started = True
        dts_us, pts_us = self.clock.place(_us(packet.dts, packet.time_base),
                                          _us(packet.pts, packet.time_base))
        copy = av.Packet(data)
        copy.time_base = MICROSECONDS
        copy.dts, copy.pts = dts_us, pts_us
        copy.is_keyframe = keyframe
        copy.stream = self._video
        self._received.append(time.monotonic_ns())
        try:
            self._out.mux(copy)
        except (av.error.FFmpegError, ValueError) as exc:
            self.close()
            raise LiveMuxerError(f"the muxer refused a frame: {exc}") from exc
        return self._collect()

    def close(self) -> None:
        """Release the muxer; what it still holds (the last frame) is dropped."""
        if self._closed:
            return
        self._closed = True
        # it only held the last frame, which nobody waits for any more
        with contextlib.suppress(av.error.FFmpegError, ValueError):
            self._out.close()

    def _collect(self) -> list[LiveFragment]:
        fragments = []
        for fourcc, box in self._sink.boxes:
            if self.init is None:
                if fourcc == "moof":
                    raise LiveMuxerError("the muxer wrote a fragment before the init segment")
                self._init_boxes.append(box)
                if fourcc == "moov":
                    self._finish_init()
            elif fourcc == "moof":
                self._moof = box
            elif fourcc == "mdat" and self._moof is not None:
                fragments.append(self._fragment(self._moof, box))
                self._moof = None
        self._sink.boxes.clear()
        return fragments

    def _finish_init(self) -> None:
        data = b"".join(self._init_boxes)
        self._init_boxes.clear()
        try:
            info = parse_init(data)
            codec = mse_codec_string(data)
        except (Fmp4Error, CodecStringError) as exc:
            raise LiveMuxerError(f"the init segment cannot be played: {exc}") from exc
        video = info.video()
        if video is None:
            raise LiveMuxerError("the init segment has no video track")
        self._init_info = info
        self.init = LiveInit(data, codec, video.width or None, video.height or None)

    def _fragment(self, moof: bytes, mdat: bytes) -> LiveFragment:
        info = self._init_info
        assert info is not None
        video = info.video()
        assert video is not None
        try:
            run = parse_moof(moof, 0, info, len(mdat)).run(video.track_id)
        except Fmp4Error as exc:
            raise LiveMuxerError(f"the muxer wrote a fragment that does not parse: {exc}"
                                 ) from exc
        received = self._received.popleft() if self._received else time.monotonic_ns()
        if run is None:
            raise LiveMuxerError("the muxer wrote a fragment without video")
        scale = 1_000_000 / video.timescale
        return LiveFragment(moof + mdat, run.starts_with_sync,
                            round(run.base_decode_time * scale), round(run.duration * scale),
                            received)


def _us(ticks: int | None, time_base: Fraction | None) -> int | None:
    if ticks is None or not time_base:
        return None
    return round(ticks * time_base * 1_000_000)
