"""One stream's next key frame, caught on request, and the JPEG made from it.

A ``FrameGrabber`` is a ``PacketSink`` tapped on a camera stream's reader
(``IngestService.add_tap``), so a snapshot never opens a second connection to the
camera. Idle (nobody waiting), ``on_packet`` reads one attribute and returns. Armed
(``arm(deliver)``), it copies the next key frame's bytes into a ``KeyFrame`` and hands it
to every waiter at once, then disarms: the reader thread never decodes.

``to_jpeg`` turns that ``KeyFrame`` into a ``Picture``: a decoder made from the session's
codec parameters decodes that one packet (a key frame needs no other), the frame is
converted to full-range YUV (and scaled down, when a width is asked) and PyAV's ``mjpeg``
encoder writes the JPEG at a fixed quantiser (``encode_jpeg``, which pictures decoded
from recordings share). It is blocking CPU work (a few ms for 640x360, tens for 4K):
the service runs it in a worker thread, never on the loop nor in the reader thread.

Quality: the vendor's levels 1-6 (6 = best), which the installer knows from the
camera's own "snapshot quality" setting, mapped onto the JPEG encoder's quantiser
(``QSCALE_OF_LEVEL``; 2 is the finest FFmpeg's mjpeg uses, 31 the coarsest). A 1-100
scale would promise steps the encoder does not have.

Threads: ``on_session_start``/``on_packet``/``on_session_end`` run in the reader thread
and own ``_session``; ``arm``/``disarm`` run anywhere (the loop) and touch only
``_waiters``, under ``_lock``. A ``deliver`` callback runs in the reader thread: it must
not block (the service's hands the frame to the loop with ``call_soon_threadsafe``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av
import av.audio.stream
import av.error
import av.video.stream

logger = logging.getLogger(__name__)

QSCALE_OF_LEVEL = {1: 20, 2: 14, 3: 9, 4: 6, 5: 4, 6: 2}
"""Vendor quality level → mjpeg quantiser (lower = finer). Measured on a noisy 1280x720
picture: 24 KB at level 1, 45 KB at 3, 174 KB at 5 (the default), 343 KB at 6; about
35 ms to decode and encode it on the development machine, whatever the level."""
JPEG_PIXEL_FORMAT = "yuvj420p"
"""Full-range 4:2:0: what every JPEG viewer expects. Cameras send limited-range video;
swscale converts the range (encoding limited-range samples would look washed out)."""


def wall_clock_us() -> int:
    return time.time_ns() // 1000


class PictureError(Exception):
    """A key frame that does not make a picture; the message says why."""


@dataclass(frozen=True, slots=True, eq=False)
class KeyFrame:
    """A copy of one key frame and what decoding it needs. Compared by identity: the
    waiters of one arming share one object (and one decode)."""

    channel: int
    stream: str
    codec: str
    extradata: bytes | None
    time_base: Fraction
    data: bytes
    pts: int | None
    time_us: int
    """UTC microseconds: the wall clock when the packet arrived."""


@dataclass(frozen=True, slots=True)
class Picture:
    jpeg: bytes
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class _Session:
    video_index: int
    codec: str
    extradata: bytes | None
    time_base: Fraction


Deliver = Callable[[KeyFrame], None]


class FrameGrabber:
    """One stream's tap; see the module docstring for the threading rules."""

    def __init__(self, channel: int, stream: str, *,
                 wall_us: Callable[[], int] = wall_clock_us) -> None:
        self.channel = channel
        self.stream = stream
        self._wall_us = wall_us
        self._lock = threading.Lock()
        self._waiters: tuple[Deliver, ...] = ()
        self._session: _Session | None = None  # reader thread

    @property
    def receiving(self) -> bool:
        """A session is running: packets of this stream reach the grabber."""
        return self._session is not None

    def arm(self, deliver: Deliver) -> None:
        """Call ``deliver(key_frame)`` (in the reader thread) with the next key frame."""
        with self._lock:
            self._waiters = (*self._waiters, deliver)

    def disarm(self, deliver: Deliver) -> None:
        """Forget ``deliver`` if it is still waiting (its caller gave up)."""
        with self._lock:
            self._waiters = tuple(w for w in self._waiters if w != deliver)

    # --- reader thread (PacketSink) ----------------------------------------------------

    def on_session_start(self, video: av.video.stream.VideoStream,
                         audio: av.audio.stream.AudioStream | None) -> None:
        ctx = video.codec_context
        self._session = _Session(video.index, ctx.name,
                                 bytes(ctx.extradata) if ctx.extradata else None,
                                 video.time_base or Fraction(1, 90_000))

    def on_packet(self, packet: av.Packet) -> None:
        if not self._waiters:
            return
        session = self._session
        if (session is None or packet.stream_index != session.video_index
                or not packet.is_keyframe or packet.is_corrupt):
            return
        with self._lock:
            waiters, self._waiters = self._waiters, ()
        if not waiters:
            return
        frame = KeyFrame(self.channel, self.stream, session.codec, session.extradata,
                         session.time_base, bytes(packet), packet.pts, self._wall_us())
        for deliver in waiters:
            try:
                deliver(frame)
            except Exception:  # one waiter's bug must not cost the stream its reader
                logger.exception("channel %d: cannot hand over a key frame", self.channel)

    def on_session_end(self, reason: str) -> None:
        self._session = None


def to_jpeg(key: KeyFrame, level: int, width: int | None = None) -> Picture:
    """Decode ``key`` and encode it as a JPEG at quality ``level`` (1-6), scaled to
    ``width`` (see :func:`encode_jpeg`). Blocking."""
    return encode_jpeg(_decode(key), level, width)


def scaled_size(width: int, height: int, to_width: int | None) -> tuple[int, int]:
    """The size of a ``width``x``height`` picture scaled to ``to_width`` keeping its aspect:
    never larger than the picture (the browser scales up for free, a bigger JPEG costs
    bytes), both sides even (4:2:0 chroma has half the resolution), at least 2x2."""
    if to_width is None or to_width >= width:
        return width, height
    new_width = max(2, to_width - to_width % 2)
    new_height = max(2, round(height * new_width / width / 2) * 2)
    return new_width, new_height


def encode_jpeg(frame: av.VideoFrame, level: int, width: int | None = None) -> Picture:
    """``frame`` as a JPEG at quality ``level`` (1-6), scaled down to ``width`` (None:
    its own size; see :func:`scaled_size`) in the same swscale pass that converts it to
    full range. Blocking (used for recorded pictures too, nvrd/playback/stills.py)."""
    out_width, out_height = scaled_size(frame.width, frame.height, width)
    qscale = QSCALE_OF_LEVEL[level]
    encoder = av.CodecContext.create("mjpeg", "w")
    if not isinstance(encoder, av.VideoCodecContext):
        raise PictureError("this FFmpeg has no JPEG encoder")
    encoder.width, encoder.height = out_width, out_height
    encoder.pix_fmt = JPEG_PIXEL_FORMAT
    encoder.time_base = Fraction(1, 25)  # required by the encoder; one picture has no rate
    encoder.qscale = True  # a fixed quantiser, not a bit rate
    encoder.qmin = encoder.qmax = qscale
    try:
        image = frame.reformat(width=out_width, height=out_height, format=JPEG_PIXEL_FORMAT,
                               interpolation="AREA" if out_width < frame.width else None)
        packets = [*encoder.encode(image), *encoder.encode(None)]
    except av.error.FFmpegError as exc:
        raise PictureError(f"the picture could not be encoded as a JPEG: {exc}") from exc
    jpeg = b"".join(bytes(p) for p in packets)
    if not jpeg:
        raise PictureError("the JPEG encoder produced nothing")
    return Picture(jpeg, out_width, out_height)


def _decode(key: KeyFrame) -> av.VideoFrame:
    """The key frame's picture: that one packet, then a flush (a decoder with frame
    reordering holds its first frame until told there is no more)."""
    try:
        decoder = av.CodecContext.create(key.codec, "r")
    except (av.error.FFmpegError, ValueError) as exc:
        raise PictureError(f"this recorder cannot decode {key.codec} video") from exc
    if not isinstance(decoder, av.VideoCodecContext):
        raise PictureError(f"{key.codec} is not a video codec")
    if key.extradata:
        decoder.extradata = key.extradata
    decoder.thread_count = 1
    packet = av.Packet(key.data)
    packet.pts, packet.time_base = key.pts, key.time_base
    try:
        frames = [*decoder.decode(packet), *decoder.decode(None)]
    except av.error.FFmpegError as exc:
        raise PictureError(f"the camera's {key.codec} key frame could not be decoded: "
                           f"{exc}") from exc
    for frame in frames:
        if isinstance(frame, av.VideoFrame) and frame.width and frame.height:
            return frame
    raise PictureError(f"the camera's {key.codec} key frame decoded to no picture")
