"""Helpers of the live view tests: a virtual camera's clip muxed by the live muxer (no
RTSP: the clip's packets with their own timestamps), and the decoding of what a viewer
received."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.video.stream

from nvrd.playback.live_muxer import LiveFragment, LiveInit, LiveMuxer
from tools.fakecam.clips import ensure_video_clip
from tools.fakecam.packetfile import Packet, read_clip
from tools.fakecam.spec import StreamSpec

RAW_FORMATS = {"h264": "h264", "h265": "hevc"}


def nal_units(access_unit: bytes) -> Iterator[bytes]:
    """The NAL units of an Annex-B access unit, emulation prevention removed."""
    for chunk in access_unit.split(b"\x00\x00\x01"):
        nal = chunk.rstrip(b"\x00")
        if nal:
            yield nal.replace(b"\x00\x00\x03", b"\x00\x00")


def clip_packets(cache: Path, spec: StreamSpec
                 ) -> tuple[av.video.stream.VideoStream, list[Packet]]:
    """A video stream to use as the muxer's template (from FFmpeg's raw demuxer) and the
    clip's packets."""
    _header, packets = read_clip(ensure_video_clip(cache, spec, "live"))
    raw = b"".join(p.data for p in packets)
    container = av.open(io.BytesIO(raw), format=RAW_FORMATS[spec.codec])
    return container.streams.video[0], packets


def as_av_packets(packets: Iterable[Packet], offset_us: int = 0) -> Iterator[av.Packet]:
    """The clip's packets as a demuxer hands them out, timed in µs (+ ``offset_us``)."""
    for p in packets:
        packet = av.Packet(p.data)
        packet.time_base = Fraction(1, 1_000_000)
        packet.pts = packet.dts = p.pts_ns // 1000 + offset_us
        packet.is_keyframe = p.keyframe
        yield packet


def mux_clip(cache: Path, spec: StreamSpec) -> tuple[LiveInit, list[LiveFragment]]:
    stream, packets = clip_packets(cache, spec)
    muxer = LiveMuxer(stream)
    fragments = [f for packet in as_av_packets(packets) for f in muxer.write(packet)]
    muxer.close()
    assert muxer.init is not None
    return muxer.init, fragments


@dataclass(frozen=True, slots=True)
class Decoded:
    width: int
    height: int
    times_us: list[int]
    """Presentation time of each decoded frame, µs."""


def decode(init: bytes, fragments: Iterable[bytes]) -> Decoded:
    """Decode what a viewer got (init segment + fragments), as a browser would."""
    container = av.open(io.BytesIO(init + b"".join(fragments)), "r")
    try:
        stream = container.streams.video[0]
        time_base = stream.time_base
        assert time_base is not None
        times, size = [], (0, 0)
        for frame in container.decode(stream):
            assert frame.pts is not None
            times.append(round(frame.pts * time_base * 1_000_000))
            size = (frame.width, frame.height)
        return Decoded(size[0], size[1], times)
    finally:
        container.close()
