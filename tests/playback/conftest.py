"""Fixtures of the on-the-fly MP4 tests (playback and export): encoded clips, cut into
segments by the recorder's muxer (``tools/bench/playback_footage.py``), and decoding.

The clips are encoded once per session: 24 s with B-frames and AAC (the hardest case
for timing: composition offsets, an edit list, a second track), 12 s plain H.264 as
IP cameras send it, and 8 s at another size (a camera reconfigured)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import av
import av.logging
import pytest

from nvrd.storage.catalog import CatalogReader
from nvrd.storage.service import RecordedSegment
from tools.bench.playback_footage import ClipSpec, encode_clip

S = 1_000_000
T0 = 1_800_000_000 * S
"""2027-01-15T08:00:00Z: footage starts on a whole second, GOPs are 1 s."""
FRAME_S = 0.04
END_OF_TIME = 1 << 62


@dataclass(frozen=True, slots=True)
class Clips:
    bframes: Path
    """24 s, 320x240, 25 fps, GOP 25, 2 B-frames, AAC 16 kHz mono."""
    plain: Path
    """12 s, 320x240, 25 fps, GOP 25, no audio."""
    small: Path
    """8 s, 160x120, otherwise as ``plain``."""


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Clips:
    folder = tmp_path_factory.mktemp("mp4-clips")
    return Clips(
        encode_clip(folder / "bframes.mp4", ClipSpec(bframes=2, audio=True, seconds=24)),
        encode_clip(folder / "plain.mp4", ClipSpec(seconds=12)),
        encode_clip(folder / "small.mp4", ClipSpec(width=160, height=120, seconds=8)))


def recorded(volume: Path, channel: int = 1, stream: str = "main") -> list[RecordedSegment]:
    """The catalogued segments of a volume, as StorageService.recorded_segments gives them."""
    with CatalogReader(volume) as reader:
        return [RecordedSegment("v", volume / row.path, row)
                for row in reader.segments(channel, stream, 0, END_OF_TIME)]


@dataclass(frozen=True, slots=True)
class Decoded:
    video_pts: tuple[float, ...]
    """Seconds, presentation order."""
    keyframes: tuple[bool, ...]
    width: int
    height: int
    audio_pts: tuple[float, ...]
    errors: tuple[str, ...]


def decode(data: bytes) -> Decoded:
    """Every frame of an MP4 in memory, decoded by FFmpeg (PyAV), with its complaints."""
    level = av.logging.get_level()
    av.logging.set_level(av.logging.WARNING)
    pts: list[float] = []
    keys: list[bool] = []
    audio: list[float] = []
    try:
        with av.logging.Capture(True) as logs, av.open(io.BytesIO(data), "r") as container:
            video = container.streams.video[0]
            video.codec_context.thread_count = 1
            assert video.time_base is not None
            width, height = video.codec_context.width, video.codec_context.height
            for frame in container.decode(video):
                assert frame.pts is not None
                pts.append(float(frame.pts * video.time_base))
                keys.append(frame.key_frame)
        with av.open(io.BytesIO(data), "r") as container:
            if container.streams.audio:
                stream = container.streams.audio[0]
                assert stream.time_base is not None
                for packet in container.demux(stream):
                    if packet.pts is not None:
                        audio.append(float(packet.pts * stream.time_base))
    finally:
        av.logging.set_level(level)
    return Decoded(tuple(pts), tuple(keys), width, height, tuple(audio),
                   tuple(f"{name}: {message.strip()}" for _level, name, message in logs))
