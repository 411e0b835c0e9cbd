"""Encode each camera's short clips once (PyAV) and keep them in a cache directory.

Encoding is the expensive part of a virtual camera; the server only replays packets, which
is what lets one machine serve 64 cameras. A clip's file name carries a hash of every
parameter that shapes its bytes (``CLIP_VERSION`` included), so a second run with the same
specs reuses the files and any change of spec or of this encoder makes new ones.

The encoders are set up like an IP camera's: no B-frames, zero latency, a fixed keyframe
interval with no scene-cut keyframes (the loop point would otherwise add one), and the
parameter sets repeated before every IDR so a client can join at any keyframe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from fractions import Fraction
from pathlib import Path

import av

from tools.fakecam.packetfile import ClipFormatError, ClipHeader, Packet, read_clip, write_clip
from tools.fakecam.picture import MovingBoxPicture, TestPicture, tone
from tools.fakecam.spec import MovingBox, StreamSpec

log = logging.getLogger(__name__)

CLIP_VERSION = 1
CLIP_SECONDS = 2.0  # about this long, rounded to whole GOPs so keyframes stay regular
AUDIO_RATE = 16000
AUDIO_BITRATE = 32000
AAC_FRAME = 1024  # samples per AAC frame
_ENCODERS = {"h264": "libx264", "h265": "libx265"}


def clip_frames(stream: StreamSpec) -> int:
    """Whole GOPs, so the keyframe interval holds across the loop point."""
    gops = max(1, round(CLIP_SECONDS * stream.fps / stream.gop))
    return gops * stream.gop


def video_clip_path(cache: Path, stream: StreamSpec, label: str,
                    scene: MovingBox | None = None) -> Path:
    key: dict[str, object] = {
        "v": CLIP_VERSION, "kind": "video", "codec": stream.codec, "w": stream.width,
        "h": stream.height, "fps": stream.fps, "gop": stream.gop,
        "kbps": stream.bitrate_kbps, "label": label}
    if scene is not None:  # absent for the test pattern: its cached clips keep their names
        key["scene"] = scene.key()
    kind = "" if scene is None else "box-"
    return cache / (f"{kind}{stream.codec}-{stream.width}x{stream.height}-{stream.fps}fps-"
                    f"g{stream.gop}-{stream.bitrate_kbps}k-{_digest(key)}.clip")


def audio_clip_path(cache: Path) -> Path:
    key = {"v": CLIP_VERSION, "kind": "audio", "rate": AUDIO_RATE, "bps": AUDIO_BITRATE,
           "seconds": CLIP_SECONDS}
    return cache / f"aac-{AUDIO_RATE}hz-{_digest(key)}.clip"


def ensure_video_clip(cache: Path, stream: StreamSpec, label: str,
                      scene: MovingBox | None = None) -> Path:
    """The clip's path, encoding it first unless a readable one is cached."""
    path = video_clip_path(cache, stream, label, scene)
    if not _usable(path):
        started = time.monotonic()
        header, packets = encode_video(stream, label, scene)
        write_clip(path, header, packets)
        log.info("encoded %s in %.2f s", path.name, time.monotonic() - started)
    return path


def ensure_audio_clip(cache: Path) -> Path:
    path = audio_clip_path(cache)
    if not _usable(path):
        header, packets = encode_audio()
        write_clip(path, header, packets)
    return path


def encode_video(stream: StreamSpec, label: str, scene: MovingBox | None = None
                 ) -> tuple[ClipHeader, list[Packet]]:
    frames = clip_frames(stream)
    picture = (TestPicture(stream.width, stream.height, frames, label) if scene is None
               else MovingBoxPicture(stream.width, stream.height, frames, label, scene))
    ctx = _video_encoder(stream)
    packets: list[av.Packet] = []
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(picture.yuv420(i), format="yuv420p")
        frame.pts = i
        packets.extend(ctx.encode(frame))
    packets.extend(ctx.encode(None))
    if len(packets) != frames:
        raise RuntimeError(f"encoder returned {len(packets)} packets for {frames} frames")
    frame_ns = 10**9 // stream.fps
    if any(p.pts is None for p in packets):
        raise RuntimeError("the encoder returned a packet without a timestamp")
    out = [Packet(_frame_ns(p.pts or 0, stream.fps), frame_ns, bool(p.is_keyframe), bytes(p))
           for p in sorted(packets, key=lambda p: p.pts or 0)]
    _check_gop(out, stream.gop)
    header = ClipHeader(kind="video", codec=stream.codec,
                        duration_ns=_frame_ns(frames, stream.fps), width=stream.width,
                        height=stream.height, fps=stream.fps, gop=stream.gop)
    return header, out


def encode_audio() -> tuple[ClipHeader, list[Packet]]:
    ctx = av.CodecContext.create("aac", "w")
    ctx.sample_rate = AUDIO_RATE
    ctx.layout = "mono"
    ctx.format = "fltp"
    ctx.bit_rate = AUDIO_BITRATE
    ctx.time_base = Fraction(1, AUDIO_RATE)
    n_frames = round(CLIP_SECONDS * AUDIO_RATE / AAC_FRAME)
    samples = tone(AUDIO_RATE, n_frames * AAC_FRAME)
    encoded: list[av.Packet] = []
    for i in range(n_frames):
        chunk = samples[i * AAC_FRAME:(i + 1) * AAC_FRAME].reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = i * AAC_FRAME
        encoded.extend(ctx.encode(frame))
    encoded.extend(ctx.encode(None))
    # Renumber: the encoder's priming shifts its pts; the loop only needs a steady cadence.
    frame_ns = AAC_FRAME * 10**9 // AUDIO_RATE
    out = [Packet(i * frame_ns, frame_ns, True, bytes(p)) for i, p in enumerate(encoded)]
    header = ClipHeader(kind="audio", codec="aac", duration_ns=len(out) * frame_ns,
                        sample_rate=AUDIO_RATE, channels=1,
                        codec_data=bytes(ctx.extradata or b"").hex())
    if not header.codec_data:
        raise RuntimeError("the AAC encoder gave no AudioSpecificConfig")
    return header, out


def _video_encoder(stream: StreamSpec) -> av.VideoCodecContext:
    ctx = av.CodecContext.create(_ENCODERS[stream.codec], "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width, ctx.height, ctx.pix_fmt = stream.width, stream.height, "yuv420p"
    ctx.time_base = Fraction(1, stream.fps)
    ctx.framerate = Fraction(stream.fps)
    ctx.bit_rate = stream.bitrate_kbps * 1000
    ctx.gop_size = stream.gop
    ctx.max_b_frames = 0
    ctx.options = _encoder_options(stream)
    return ctx


def _encoder_options(stream: StreamSpec) -> dict[str, str]:
    rate = f"vbv-maxrate={stream.bitrate_kbps}:vbv-bufsize={stream.bitrate_kbps}"
    gop = f"keyint={stream.gop}:min-keyint={stream.gop}:scenecut=0"
    if stream.codec == "h264":
        return {"preset": "veryfast", "tune": "zerolatency",
                "x264-params": f"{gop}:repeat-headers=1:{rate}"}
    return {"preset": "ultrafast", "tune": "zerolatency",
            "x265-params": f"{gop}:open-gop=0:bframes=0:repeat-headers=1:{rate}:log-level=error"}


def _check_gop(packets: list[Packet], gop: int) -> None:
    """Refuse a clip whose keyframes are not exactly every ``gop`` frames: tests count on it."""
    keys = [i for i, p in enumerate(packets) if p.keyframe]
    if keys != list(range(0, len(packets), gop)):
        raise RuntimeError(f"keyframes at {keys[:8]}…, expected every {gop} frames")


def _frame_ns(index: int, fps: int) -> int:
    return index * 10**9 // fps


def _digest(key: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def _usable(path: Path) -> bool:
    try:
        read_clip(path)
    except FileNotFoundError:
        return False
    except ClipFormatError:
        log.warning("re-encoding unreadable clip %s", path)
        return False
    return True

