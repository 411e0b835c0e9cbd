"""Writes the head of a non-fragmented MP4: ``ftyp``, ``moov`` and the ``mdat`` header.

The sample tables come from ``layout.py``; the sample entries (``stsd``: avc1/hvc1 with
avcC/hvcC, mp4a with esds) are copied from the recording. The mdat payload that follows
is the recorded sample data itself, so this is everything we write ourselves: a few
hundred bytes plus about 4 bytes per sample (``stsz``), 24 h of 25 fps video about 9 MB.

Boxes use version 0 where their fields fit in 32 bits and version 1 otherwise; chunk
offsets are ``co64`` when the file is larger than 4 GiB; ``ctts`` is version 1 when a
composition offset is negative (ISO/IEC 14496-12: 8.6.1.3).
"""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt

from nvrd.playback.layout import Composition, Ints, TrackTable

MOVIE_TIMESCALE = 90_000
_U32_MAX = 0xFFFFFFFF
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_LANGUAGE_UND = 0x55C4


def box(fourcc: bytes, *payload: bytes) -> bytes:
    size = 8 + sum(len(p) for p in payload)
    if size > _U32_MAX:
        return struct.pack(">I4sQ", 1, fourcc, size + 8) + b"".join(payload)
    return struct.pack(">I4s", size, fourcc) + b"".join(payload)


def full_box(fourcc: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return box(fourcc, struct.pack(">I", version << 24 | flags), *payload)


def mdat_header(payload_size: int) -> bytes:
    if payload_size + 8 > _U32_MAX:
        return struct.pack(">I4sQ", 1, b"mdat", payload_size + 16)
    return struct.pack(">I4s", payload_size + 8, b"mdat")


def ftyp(tracks: tuple[TrackTable, ...]) -> bytes:
    brands = [b"isom", b"iso2", b"mp41"]
    for track in tracks:
        codec = track.entry[20:24]  # the first sample entry's type (after its size)
        if codec in (b"avc1", b"hvc1", b"hev1") and codec not in brands:
            brands.append(codec if codec != b"hev1" else b"hvc1")
    return box(b"ftyp", b"isom", struct.pack(">I", 512), *brands)


def file_head(composition: Composition) -> bytes:
    """``ftyp`` + ``moov`` + mdat header; the payload (``composition.slices``) follows."""
    head = ftyp(composition.tracks)
    mdat = mdat_header(composition.payload_size)
    wide = False
    moov = _moov(composition, 0, wide)
    if len(head) + len(moov) + len(mdat) + composition.payload_size > _U32_MAX:
        wide = True
        moov = _moov(composition, 0, wide)
    return head + _moov(composition, len(head) + len(moov) + len(mdat), wide) + mdat


def _to_movie(ticks: int, timescale: int) -> int:
    return (2 * ticks * MOVIE_TIMESCALE + timescale) // (2 * timescale)


def _moov(composition: Composition, base: int, wide: bool) -> bytes:
    traks = [_trak(track, i + 1, base, wide) for i, track in enumerate(composition.tracks)]
    duration = max(_presented(track) for track in composition.tracks)
    return box(b"moov", _mvhd(duration, len(composition.tracks) + 1), *traks)


def _presented(track: TrackTable) -> int:
    """The track's length on the movie timeline (empty edit included)."""
    return _to_movie(track.delay + track.duration, track.timescale)


def _mvhd(duration: int, next_track: int) -> bytes:
    if duration > _U32_MAX:
        times = struct.pack(">QQIQ", 0, 0, MOVIE_TIMESCALE, duration)
        version = 1
    else:
        times = struct.pack(">IIII", 0, 0, MOVIE_TIMESCALE, duration)
        version = 0
    rest = (struct.pack(">IH10x", 0x10000, 0x100) + _MATRIX + bytes(24)
            + struct.pack(">I", next_track))
    return full_box(b"mvhd", version, 0, times, rest)


def _trak(track: TrackTable, track_id: int, base: int, wide: bool) -> bytes:
    return box(b"trak", _tkhd(track, track_id, _presented(track)), _edts(track),
               box(b"mdia", _mdhd(track), _hdlr(track), _minf(track, base, wide)))


def _tkhd(track: TrackTable, track_id: int, duration: int) -> bytes:
    if duration > _U32_MAX:
        version, times = 1, struct.pack(">QQIIQ", 0, 0, track_id, 0, duration)
    else:
        version, times = 0, struct.pack(">IIIII", 0, 0, track_id, 0, duration)
    volume = 0x100 if track.kind == "audio" else 0
    rest = (bytes(8) + struct.pack(">hhH2x", 0, 0, volume) + _MATRIX
            + struct.pack(">II", track.width << 16, track.height << 16))
    return full_box(b"tkhd", version, 0x3, times, rest)  # enabled, in movie


def _edts(track: TrackTable) -> bytes:
    entries = []
    if track.delay > 0:
        entries.append((_to_movie(track.delay, track.timescale), -1))
    entries.append((_to_movie(track.duration, track.timescale), track.media_time))
    wide = any(d > _U32_MAX or t > 0x7FFFFFFF for d, t in entries)
    packed = b"".join(struct.pack(">QqhH" if wide else ">IihH", d, t, 1, 0)
                      for d, t in entries)
    return box(b"edts", full_box(b"elst", 1 if wide else 0, 0,
                                 struct.pack(">I", len(entries)), packed))


def _mdhd(track: TrackTable) -> bytes:
    duration = track.duration
    if duration > _U32_MAX:
        version, times = 1, struct.pack(">QQIQ", 0, 0, track.timescale, duration)
    else:
        version, times = 0, struct.pack(">IIII", 0, 0, track.timescale, duration)
    return full_box(b"mdhd", version, 0, times, struct.pack(">HH", _LANGUAGE_UND, 0))


def _hdlr(track: TrackTable) -> bytes:
    handler, name = ((b"vide", b"VideoHandler") if track.kind == "video"
                     else (b"soun", b"SoundHandler"))
    return full_box(b"hdlr", 0, 0, struct.pack(">I4s12x", 0, handler), name + b"\0")


def _minf(track: TrackTable, base: int, wide: bool) -> bytes:
    header = (full_box(b"vmhd", 0, 1, bytes(8)) if track.kind == "video"
              else full_box(b"smhd", 0, 0, bytes(4)))
    dinf = box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1),
                                 full_box(b"url ", 0, 1)))
    return box(b"minf", header, dinf, _stbl(track, base, wide))


def _stbl(track: TrackTable, base: int, wide: bool) -> bytes:
    tables = [track.entry, _stts(track.durations)]
    if track.composition is not None:
        tables.append(_ctts(track.composition))
    if track.sync is not None:
        tables.append(_stss(track.sync))
    tables += [_stsc(track.chunk_samples), _stsz(track.sizes),
               _chunk_offsets(track.chunk_offsets + base, wide)]
    return box(b"stbl", *tables)


def _runs(values: Ints) -> tuple[Ints, Ints]:
    """Run-length encoding: (counts, values)."""
    if not len(values):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.concatenate(([0], np.flatnonzero(values[1:] != values[:-1]) + 1))
    counts = np.diff(np.append(starts, len(values)))
    return counts.astype(np.int64), values[starts]


def _pairs(first: Ints, second: Ints, dtype: str) -> bytes:
    table = np.empty((len(first), 2), dtype=dtype)
    table[:, 0] = first
    table[:, 1] = second
    return table.tobytes()


def _stts(durations: Ints) -> bytes:
    counts, values = _runs(durations)
    return full_box(b"stts", 0, 0, struct.pack(">I", len(counts)),
                    _pairs(counts, values, ">u4"))


def _ctts(offsets: Ints) -> bytes:
    counts, values = _runs(offsets)
    negative = bool((values < 0).any())
    return full_box(b"ctts", 1 if negative else 0, 0, struct.pack(">I", len(counts)),
                    _pairs(counts, values, ">i4" if negative else ">u4"))


def _stss(sync: npt.NDArray[np.bool_]) -> bytes:
    numbers = np.flatnonzero(sync) + 1
    return full_box(b"stss", 0, 0, struct.pack(">I", len(numbers)),
                    numbers.astype(">u4").tobytes())


def _stsc(chunk_samples: Ints) -> bytes:
    starts = np.concatenate(([0], np.flatnonzero(chunk_samples[1:] != chunk_samples[:-1]) + 1))
    table = np.empty((len(starts), 3), dtype=">u4")
    table[:, 0] = starts + 1
    table[:, 1] = chunk_samples[starts]
    table[:, 2] = 1  # the sample entry: one per file (inv. 7)
    return full_box(b"stsc", 0, 0, struct.pack(">I", len(starts)), table.tobytes())


def _stsz(sizes: Ints) -> bytes:
    if len(sizes) and bool((sizes == sizes[0]).all()):
        return full_box(b"stsz", 0, 0, struct.pack(">II", int(sizes[0]), len(sizes)))
    return full_box(b"stsz", 0, 0, struct.pack(">II", 0, len(sizes)),
                    sizes.astype(">u4").tobytes())


def _chunk_offsets(offsets: Ints, wide: bool) -> bytes:
    if wide:
        return full_box(b"co64", 0, 0, struct.pack(">I", len(offsets)),
                        offsets.astype(">u8").tobytes())
    return full_box(b"stco", 0, 0, struct.pack(">I", len(offsets)),
                    offsets.astype(">u4").tobytes())
