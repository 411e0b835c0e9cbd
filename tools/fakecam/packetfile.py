"""The clip file: encoded packets handed from the clip encoder to the RTSP server.

Clips are encoded once, in the venv (PyAV), and replayed by the server, which runs on the
system python with GStreamer and has no PyAV. This module is the only contract between the
two sides, so it is stdlib-only and imported by both.

Layout (little-endian)::

    magic    b"NVRDCLIP1\\n"
    u32      length of the JSON header, then the header (ClipHeader fields)
    records  per packet: i64 pts_ns, i64 duration_ns, u8 flags (1 = keyframe), u32 size, bytes

Video payloads are Annex-B access units (start codes, parameter sets repeated before every
IDR), audio payloads are raw AAC frames whose AudioSpecificConfig is ``codec_data``.
Timestamps are nanoseconds from the start of the clip; ``duration_ns`` of the whole clip is
what the server adds per loop, so a looped stream has continuous timestamps.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

MAGIC = b"NVRDCLIP1\n"
_HEADER_LEN = struct.Struct("<I")
_RECORD = struct.Struct("<qqBI")
FLAG_KEYFRAME = 1


class ClipFormatError(ValueError):
    """The file is not a clip this version can read (torn, foreign or from an old format)."""


@dataclass(frozen=True, slots=True)
class ClipHeader:
    """What the server needs to build caps for the stream without parsing the payload."""

    kind: str  # "video" | "audio"
    codec: str  # "h264" | "h265" | "aac"
    duration_ns: int  # length of one loop
    width: int = 0
    height: int = 0
    fps: int = 0
    gop: int = 0
    sample_rate: int = 0
    channels: int = 0
    codec_data: str = ""  # hex; AudioSpecificConfig for AAC, empty for Annex-B video


@dataclass(frozen=True, slots=True)
class Packet:
    pts_ns: int
    duration_ns: int
    keyframe: bool
    data: bytes


def write_clip(path: Path, header: ClipHeader, packets: Iterable[Packet]) -> None:
    """Write atomically (temp file + rename): two processes may encode the same clip at once
    and a reader must never see a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            meta = json.dumps(asdict(header)).encode()
            out.write(MAGIC + _HEADER_LEN.pack(len(meta)) + meta)
            for p in packets:
                flags = FLAG_KEYFRAME if p.keyframe else 0
                out.write(_RECORD.pack(p.pts_ns, p.duration_ns, flags, len(p.data)))
                out.write(p.data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_clip(path: Path) -> tuple[ClipHeader, list[Packet]]:
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        raise ClipFormatError(f"{path}: not a clip file")
    offset = len(MAGIC)
    (meta_len,) = _HEADER_LEN.unpack_from(data, offset)
    offset += _HEADER_LEN.size
    try:
        header = ClipHeader(**json.loads(data[offset:offset + meta_len]))
    except (ValueError, TypeError) as exc:
        raise ClipFormatError(f"{path}: bad header") from exc
    offset += meta_len
    packets: list[Packet] = []
    while offset < len(data):
        if offset + _RECORD.size > len(data):
            raise ClipFormatError(f"{path}: truncated record at byte {offset}")
        pts, duration, flags, size = _RECORD.unpack_from(data, offset)
        offset += _RECORD.size
        if offset + size > len(data):
            raise ClipFormatError(f"{path}: truncated payload at byte {offset}")
        packets.append(Packet(pts, duration, bool(flags & FLAG_KEYFRAME),
                              data[offset:offset + size]))
        offset += size
    if not packets:
        raise ClipFormatError(f"{path}: no packets")
    return header, packets
