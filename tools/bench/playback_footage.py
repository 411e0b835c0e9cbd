"""Recorded footage made to order: segment files written by the recorder's own muxer, with
their catalog rows, at any wall-clock time, without cameras or waiting.

Playback tests and ``tools/bench/playback.py`` need footage with known frames: several
segments, B-frames, audio, a camera outage, a change of resolution, 24 hours of 16
channels. Recording it from virtual cameras would take as long as the footage lasts, so
a clip is encoded once (PyAV, like a camera: fixed GOP, optional B-frames and AAC), then
cut on keyframes into segments by ``nvrd.record.muxer.SegmentMuxer`` (the recorder's
muxer, same options) and indexed through ``nvrd.storage.catalog.Catalog`` with the seek
index the recorder would write. A segment's media timeline starts at 0 at its first
video packet, so the same file can be catalogued at any ``start_us`` (the bench
hard-links a few files under many names).

    clip = encode_clip(tmp / "clip.mp4", ClipSpec(bframes=2, audio=True, seconds=20))
    rows = write_footage(clip, volume, channel=1, pieces=[Piece(t0, 0, 4), Piece(t0 + 4e6, 4, 4)])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.container
import numpy as np

from nvrd.record.muxer import SegmentMuxer
from nvrd.storage.catalog import Catalog, NewSegment, SegmentRow
from nvrd.storage.model import RecordType, SegmentName
from nvrd.storage.volume import IDENTITY_FILE, prepare_volume, read_identity

US = 1_000_000


@dataclass(frozen=True, slots=True)
class ClipSpec:
    width: int = 320
    height: int = 240
    fps: int = 25
    gop: int = 25
    """Frames per GOP (keyframe interval)."""
    bframes: int = 0
    audio: bool = False
    seconds: int = 20
    bitrate_kbps: int = 400


def encode_clip(path: Path, spec: ClipSpec) -> Path:
    """An MP4 clip of moving gradient frames (each frame's brightness says its number
    modulo 256), fixed GOP, no scene-cut keyframes; reused when it already exists."""
    if path.exists():
        return path
    partial = path.with_suffix(".part")
    with av.open(str(partial), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=spec.fps, options={
            "g": str(spec.gop), "keyint_min": str(spec.gop), "sc_threshold": "0",
            "bf": str(spec.bframes), "preset": "ultrafast" if not spec.bframes else "veryfast",
            "x264-params": f"bframes={spec.bframes}:scenecut=0:repeat-headers=1"})
        video.width, video.height, video.pix_fmt = spec.width, spec.height, "yuv420p"
        video.bit_rate = spec.bitrate_kbps * 1000
        audio = out.add_stream("aac", rate=16000) if spec.audio else None
        if audio is not None:
            audio.layout = "mono"
        frames = spec.seconds * spec.fps
        ramp = np.linspace(0, 255, spec.width, dtype=np.float32)
        for i in range(frames):
            picture = np.empty((spec.height, spec.width, 3), np.uint8)
            picture[..., 0] = i % 256
            picture[..., 1] = np.roll(ramp, i * 4).astype(np.uint8)
            picture[..., 2] = 128
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, spec.fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if audio is not None:
            samples = 1024
            t = np.arange(spec.seconds * 16000, dtype=np.float32) / 16000
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, len(tone) - samples + 1, samples):
                chunk = av.AudioFrame.from_ndarray(tone[None, start:start + samples],
                                                   format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 16000, start
                chunk.time_base = Fraction(1, 16000)
                for packet in audio.encode(chunk):
                    out.mux(packet)
            for packet in audio.encode():
                out.mux(packet)
    partial.rename(path)
    return path


@dataclass(frozen=True, slots=True)
class Piece:
    """One segment: GOPs ``[first_gop, first_gop + gops)`` of the clip, at ``start_us``."""

    start_us: int
    first_gop: int
    gops: int


@dataclass(frozen=True, slots=True)
class SegmentFile:
    """A segment written by :func:`mux_segment`, before it is catalogued."""

    data: bytes
    init_bytes: int
    duration_us: int
    fragments: tuple[tuple[int, int], ...]
    """Seek index: (µs from the segment start, byte offset) of keyframe fragments."""
    codec: str
    width: int | None
    height: int | None


def mux_segment(clip: Path, first_gop: int, gops: int) -> SegmentFile:
    """GOPs of ``clip`` through the recorder's muxer, as the recorder writes a segment."""
    with av.open(str(clip)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        packets = [p for p in container.demux() if p.dts is not None and p.size]
        keyframes = [p for p in packets if p.stream.index == video.index and p.is_keyframe]
        if first_gop + gops > len(keyframes):
            raise ValueError(f"the clip has {len(keyframes)} GOPs, not {first_gop + gops}")
        assert video.time_base is not None
        begin = keyframes[first_gop].dts
        stop = keyframes[first_gop + gops].dts if first_gop + gops < len(keyframes) else None
        assert begin is not None
        base_us = round(begin * video.time_base * US)
        muxer = SegmentMuxer(video, audio, base_us)
        fragments = []
        for packet in packets:
            tb = packet.stream.time_base
            assert tb is not None and packet.dts is not None
            at_us = packet.dts * tb * US
            if at_us < base_us:
                continue
            if stop is not None and at_us >= stop * video.time_base * US:
                continue
            fragments += muxer.write(packet)
        fragments += muxer.close()
    assert muxer.init is not None and muxer.init_info is not None
    info = muxer.init_info.video()
    assert info is not None
    data = muxer.init + b"".join(f.data for f in fragments)
    index = tuple((f.start_us, f.info.offset) for f in fragments if f.keyframe)
    end_us = max(f.end_us for f in fragments)
    return SegmentFile(data, len(muxer.init), end_us, index, info.codec, info.width,
                       info.height)


def catalogue(volume: Path, catalog: Catalog, segment: SegmentFile, *, channel: int,
              stream: str, start_us: int, run_start_us: int | None = None,
              data_path: Path | None = None) -> SegmentRow:
    """Writes ``segment`` (or hard-links ``data_path``) under its name and adds its row."""
    name = SegmentName(channel, stream, start_us)
    relpath = name.relpath()
    path = volume / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    if data_path is not None:
        path.hardlink_to(data_path)
    else:
        path.write_bytes(segment.data)
    seg = NewSegment(channel=channel, stream=stream,
                     run_start_us=start_us if run_start_us is None else run_start_us,
                     start_us=start_us, path=str(relpath), types=int(RecordType.GENERAL),
                     codec=segment.codec, width=segment.width, height=segment.height,
                     init_bytes=segment.init_bytes)
    row_id = catalog.insert_closed(seg, start_us + segment.duration_us, len(segment.data),
                                   segment.fragments, "rotate")
    return SegmentRow(row_id, channel, stream, seg.run_start_us, start_us,
                      start_us + segment.duration_us, len(segment.data), str(relpath),
                      seg.types, False, "closed", seg.codec, seg.width, seg.height,
                      seg.init_bytes, segment.fragments, "rotate")


def write_footage(clip: Path, volume: Path, *, channel: int = 1, stream: str = "main",
                  pieces: Sequence[Piece]) -> list[SegmentRow]:
    """Segments of ``clip`` on ``volume`` (prepared if it is not), catalogued."""
    identity = (read_identity(volume) if (volume / IDENTITY_FILE).exists()
                else prepare_volume(volume, "footage"))
    catalog = Catalog(volume, identity.uuid)
    try:
        rows = [catalogue(volume, catalog, mux_segment(clip, p.first_gop, p.gops),
                          channel=channel, stream=stream, start_us=p.start_us)
                for p in pieces]
        catalog.commit()
    finally:
        catalog.close()
    return rows
