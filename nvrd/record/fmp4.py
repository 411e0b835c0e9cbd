"""Reads the fragmented MP4 (ISO BMFF) that FFmpeg's mp4 muxer writes for a segment.

The recorder muxes with ``movflags=frag_keyframe+empty_moov+default_base_moof+skip_trailer``,
so a segment is an init segment (``ftyp`` + an empty ``moov``) followed by fragments, each a
``moof`` and its ``mdat``; there is no index at the end. Three jobs need to understand that
layout without decoding anything, and this module does only that, with ``struct``:

* the writer thread cuts the muxer's output into whole top-level boxes (``BoxSplitter``) so a
  fragment reaches the disk as a unit;
* the catalog needs each fragment's decode time, duration and whether it starts on a keyframe
  (``parse_moof``), in the timescale the init segment declares (``parse_init``);
* start-up recovery finds where the last complete fragment ends (``scan_file``) so a torn
  tail can be truncated. It reads box headers and ``moof`` payloads but never ``mdat``
  payloads, so a segment costs about one small read per fragment whatever its bitrate.

Measured on the development VM (AMD EPYC, page cache warm): ``scan_file`` on a 60 s
320x240 H.264 + AAC segment (60 fragments) takes about 2 ms, some 35 µs per fragment
whatever the bitrate; ``BoxSplitter`` fed 32 KiB chunks of 1 MB fragments passes about
5 GB/s (one copy per box).

Offsets and sizes are bytes from the start of the file or stream; times are integers in the
track's timescale (``TrackInfo.timescale`` ticks per second), as in the file.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "BoxSplitter",
    "FileScan",
    "Fmp4Error",
    "FragmentInfo",
    "InitInfo",
    "SampleRun",
    "TrackInfo",
    "TrackRun",
    "TrackSamples",
    "fragment_seconds",
    "parse_init",
    "parse_moof",
    "parse_moof_samples",
    "sample_descriptions",
    "scan_file",
]

_HEADER = struct.Struct(">I4s")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_U16X2 = struct.Struct(">HH")

# sample_is_non_sync_sample in the sample flags (ISO/IEC 14496-12, 8.8.3.1).
SAMPLE_IS_NON_SYNC = 0x10000

# tfhd flags (8.8.7.1).
_TFHD_BASE_DATA_OFFSET = 0x1
_TFHD_SAMPLE_DESCRIPTION_INDEX = 0x2
_TFHD_DEFAULT_DURATION = 0x8
_TFHD_DEFAULT_SIZE = 0x10
_TFHD_DEFAULT_FLAGS = 0x20
_TFHD_DEFAULT_BASE_IS_MOOF = 0x20000

# trun flags (8.8.8.1).
_TRUN_DATA_OFFSET = 0x1
_TRUN_FIRST_SAMPLE_FLAGS = 0x4
_TRUN_DURATION = 0x100
_TRUN_SIZE = 0x200
_TRUN_FLAGS = 0x400
_TRUN_CTS_OFFSET = 0x800

_HANDLER_KINDS = {"vide": "video", "soun": "audio"}

# Top-level boxes that may sit between fragments and are skipped by scan_file. Anything
# else after the init segment that is not a moof is taken for garbage (a torn tail).
_SKIPPABLE = frozenset(
    {"free", "skip", "styp", "sidx", "ssix", "prft", "emsg", "uuid", "mfra", "udta", "meta"}
)

# A moov or moof larger than this is not one FFmpeg wrote for a segment: scan_file treats
# it as garbage rather than reading it into memory.
MAX_METADATA_BOX = 64 << 20

# scan_file reads this much at each fragment, so the moof and the next box header usually
# arrive in one read.
_PROBE_BYTES = 4096


class Fmp4Error(ValueError):
    """The bytes are not the fragmented MP4 this module reads; the message says where."""


@dataclass(frozen=True, slots=True)
class TrackInfo:
    """One track as the init segment declares it."""

    track_id: int
    kind: str
    """"video", "audio", or the handler type itself (e.g. "subt") for anything else."""
    timescale: int
    """Ticks per second of every time and duration of this track."""
    codec: str
    """Fourcc of the first sample entry: "avc1", "hvc1", "hev1", "mp4a", ..."""
    width: int | None
    """Coded size from the visual sample entry; None for tracks that are not video."""
    height: int | None
    default_sample_duration: int
    """From trex; 0 when the init segment has none."""
    default_sample_flags: int


@dataclass(frozen=True, slots=True)
class InitInfo:
    """The init segment: what a reader of the fragments needs to know about the tracks."""

    size: int
    """Bytes before the first fragment (ftyp, moov and any complete box up to the moof)."""
    tracks: tuple[TrackInfo, ...]

    def video(self) -> TrackInfo | None:
        """The first video track, the one the catalog indexes."""
        return next((t for t in self.tracks if t.kind == "video"), None)

    def track(self, track_id: int) -> TrackInfo | None:
        return next((t for t in self.tracks if t.track_id == track_id), None)


@dataclass(frozen=True, slots=True)
class TrackRun:
    """The samples of one track in one fragment."""

    track_id: int
    base_decode_time: int
    """tfdt: decode time of the first sample, in the track's timescale."""
    duration: int
    """Sum of the sample durations, in the track's timescale."""
    samples: int
    starts_with_sync: bool
    """The first sample is a sync sample (a keyframe), so playback can start here."""

    @property
    def end_decode_time(self) -> int:
        """Where the next fragment of this track should start, if nothing was lost."""
        return self.base_decode_time + self.duration


@dataclass(frozen=True, slots=True)
class FragmentInfo:
    """One moof + mdat pair."""

    offset: int
    """Byte offset of the moof in the file or stream."""
    size: int
    """Bytes of moof and mdat together."""
    sequence: int
    """mfhd sequence number (FFmpeg counts from 1 in each file)."""
    runs: tuple[TrackRun, ...]
    """One per track that has samples in this fragment, in file order."""

    @property
    def end(self) -> int:
        return self.offset + self.size

    def run(self, track_id: int) -> TrackRun | None:
        return next((r for r in self.runs if r.track_id == track_id), None)


@dataclass(frozen=True, slots=True)
class FileScan:
    """What ``scan_file`` found: the part of a segment file that is whole."""

    init: InitInfo | None
    """None when the file does not hold a complete, readable init segment."""
    fragments: tuple[FragmentInfo, ...]
    """Complete moof + mdat pairs, in file order."""
    complete_size: int
    """Offset just past the last complete fragment (init end without one; 0 without init)."""
    file_size: int

    @property
    def torn_bytes(self) -> int:
        """Bytes that recovery should cut off."""
        return self.file_size - self.complete_size


# --- box headers ---------------------------------------------------------------------------


def _fourcc(raw: bytes) -> str:
    # latin-1 never fails, so a garbage type still makes a printable message via !r.
    return raw.decode("latin-1")


def _is_printable(raw: bytes) -> bool:
    return all(0x20 <= c < 0x7F for c in raw)


def _iter_boxes(buf: bytes, start: int, end: int, where: str) -> Iterator[tuple[str, int, int]]:
    """Yields (fourcc, body start, box end) for the boxes that exactly fill buf[start:end]."""
    pos = start
    while pos < end:
        if end - pos < 8:
            raise Fmp4Error(f"{where}: {end - pos} stray bytes at offset {pos} "
                            "where a box header should be")
        size, raw = _HEADER.unpack_from(buf, pos)
        fourcc = _fourcc(raw)
        header = 8
        if size == 1:
            if end - pos < 16:
                raise Fmp4Error(f"{where}: box {fourcc!r} at offset {pos} is cut off "
                                "inside its 64-bit size")
            (size,) = _U64.unpack_from(buf, pos + 8)
            header = 16
        if size < header:
            raise Fmp4Error(f"{where}: box {fourcc!r} at offset {pos} says it is {size} bytes "
                            f"long, which is shorter than its own header")
        if size > end - pos:
            raise Fmp4Error(f"{where}: box {fourcc!r} at offset {pos} says it is {size} bytes "
                            f"long but only {end - pos} bytes are left")
        yield fourcc, pos + header, pos + size
        pos += size


def _children(buf: bytes, body: int, end: int, where: str) -> dict[str, tuple[int, int]]:
    """The first box of each type inside a container, as (body start, box end)."""
    found: dict[str, tuple[int, int]] = {}
    for fourcc, child_body, child_end in _iter_boxes(buf, body, end, where):
        found.setdefault(fourcc, (child_body, child_end))
    return found


def _need(found: dict[str, tuple[int, int]], fourcc: str, where: str) -> tuple[int, int]:
    try:
        return found[fourcc]
    except KeyError:
        raise Fmp4Error(f"{where} has no {fourcc} box") from None


def _check_room(body: int, end: int, needed: int, where: str) -> None:
    if end - body < needed:
        raise Fmp4Error(f"{where} is {end - body} bytes long; at least {needed} are needed")


# --- init segment ----------------------------------------------------------------------------


def parse_init(data: bytes) -> InitInfo:
    """Reads the tracks of an init segment.

    ``data`` starts at the beginning of the file and may run on into the fragments (or stop
    part-way through one): reading stops at the first moof or at the first box that is not
    complete, once the moov has been seen.
    """
    moov: tuple[int, int] | None = None
    size = 0
    pos = 0
    while pos < len(data):
        header = _top_level_header(data, pos, len(data))
        if isinstance(header, str):
            if moov is not None:
                break  # the tail of the data is a box cut short: not part of the init
            if pos == 0:
                raise Fmp4Error(f"not an MP4 init segment: {header}")
            raise Fmp4Error(f"no complete moov box: {header}")
        fourcc, header_size, box_size = header
        if pos == 0 and fourcc != "ftyp":
            raise Fmp4Error(f"not an MP4 init segment: it starts with a {fourcc!r} box, "
                            "not with ftyp")
        if fourcc == "moof":
            break
        if fourcc == "moov" and moov is None:
            moov = (pos + header_size, pos + box_size)
        pos += box_size
        size = pos
    if moov is None:
        raise Fmp4Error(f"no complete moov box in the first {len(data)} bytes")
    return InitInfo(size=size, tracks=_parse_moov(data, *moov))


def _top_level_header(buf: bytes, pos: int, end: int) -> tuple[str, int, int] | str:
    """(fourcc, header size, box size) of a complete box at pos, or why there is none."""
    if end - pos < 8:
        return f"only {end - pos} bytes at offset {pos}, too few for a box header"
    size, raw = _HEADER.unpack_from(buf, pos)
    if not _is_printable(raw):
        return f"the bytes at offset {pos} are not a box header (type {raw!r})"
    fourcc = _fourcc(raw)
    header = 8
    if size == 1:
        if end - pos < 16:
            return f"box {fourcc!r} at offset {pos} is cut off inside its 64-bit size"
        (size,) = _U64.unpack_from(buf, pos + 8)
        header = 16
    elif size == 0:
        return f"box {fourcc!r} at offset {pos} has size 0 (runs to the end of the file)"
    if size < header:
        return f"box {fourcc!r} at offset {pos} says it is {size} bytes, less than its header"
    if size > end - pos:
        return (f"box {fourcc!r} at offset {pos} says it is {size} bytes long but only "
                f"{end - pos} bytes are left")
    return fourcc, header, size


def _parse_moov(buf: bytes, body: int, end: int) -> tuple[TrackInfo, ...]:
    trex: dict[int, tuple[int, int]] = {}
    traks: list[tuple[int, int]] = []
    for fourcc, child_body, child_end in _iter_boxes(buf, body, end, "moov"):
        if fourcc == "trak":
            traks.append((child_body, child_end))
        elif fourcc == "mvex":
            trex = _parse_mvex(buf, child_body, child_end)
    if not traks:
        raise Fmp4Error("the moov box declares no tracks")
    return tuple(_parse_trak(buf, b, e, trex) for b, e in traks)


def _parse_mvex(buf: bytes, body: int, end: int) -> dict[int, tuple[int, int]]:
    """track_id -> (default_sample_duration, default_sample_flags)."""
    defaults: dict[int, tuple[int, int]] = {}
    for fourcc, child_body, child_end in _iter_boxes(buf, body, end, "mvex"):
        if fourcc == "trex":
            _check_room(child_body, child_end, 24, "trex")
            track_id, _index, duration, _size, flags = struct.unpack_from(
                ">5I", buf, child_body + 4)
            defaults[track_id] = (duration, flags)
    return defaults


def _parse_trak(buf: bytes, body: int, end: int,
                trex: dict[int, tuple[int, int]]) -> TrackInfo:
    trak = _children(buf, body, end, "trak")
    tkhd_body, tkhd_end = _need(trak, "tkhd", "a trak")
    track_id = _parse_tkhd(buf, tkhd_body, tkhd_end)
    where = f"track {track_id}"
    mdia = _children(buf, *_need(trak, "mdia", where), f"{where} mdia")
    timescale = _parse_mdhd(buf, *_need(mdia, "mdhd", f"{where} mdia"), where)
    handler = _parse_hdlr(buf, *_need(mdia, "hdlr", f"{where} mdia"), where)
    minf = _children(buf, *_need(mdia, "minf", f"{where} mdia"), f"{where} minf")
    stbl = _children(buf, *_need(minf, "stbl", f"{where} minf"), f"{where} stbl")
    kind = _HANDLER_KINDS.get(handler, handler)
    codec, width, height = _parse_stsd(buf, *_need(stbl, "stsd", f"{where} stbl"), where,
                                       visual=kind == "video")
    duration, flags = trex.get(track_id, (0, 0))
    return TrackInfo(track_id=track_id, kind=kind, timescale=timescale, codec=codec,
                     width=width, height=height, default_sample_duration=duration,
                     default_sample_flags=flags)


def _parse_tkhd(buf: bytes, body: int, end: int) -> int:
    _check_room(body, end, 4, "tkhd")
    version = buf[body]
    id_at = body + (20 if version == 1 else 12)
    _check_room(body, end, id_at + 4 - body, "tkhd")
    return int(_U32.unpack_from(buf, id_at)[0])


def _parse_mdhd(buf: bytes, body: int, end: int, where: str) -> int:
    _check_room(body, end, 4, f"{where} mdhd")
    version = buf[body]
    at = body + (20 if version == 1 else 12)
    _check_room(body, end, at + 4 - body, f"{where} mdhd")
    (timescale,) = _U32.unpack_from(buf, at)
    if timescale == 0:
        raise Fmp4Error(f"{where} has a timescale of 0")
    return int(timescale)


def _parse_hdlr(buf: bytes, body: int, end: int, where: str) -> str:
    _check_room(body, end, 12, f"{where} hdlr")
    return _fourcc(buf[body + 8:body + 12])


def _parse_stsd(buf: bytes, body: int, end: int, where: str,
                visual: bool) -> tuple[str, int | None, int | None]:
    """(fourcc, width, height) of the first sample entry."""
    _check_room(body, end, 8, f"{where} stsd")
    entries = _iter_boxes(buf, body + 8, end, f"{where} stsd")
    first = next(entries, None)
    if first is None:
        raise Fmp4Error(f"{where} has no sample description")
    codec, entry_body, entry_end = first
    if not visual:
        return codec, None, None
    # VisualSampleEntry: 6 reserved, data_reference_index, 16 bytes pre_defined/reserved,
    # then width and height.
    _check_room(entry_body, entry_end, 28, f"{where} sample entry {codec!r}")
    width, height = _U16X2.unpack_from(buf, entry_body + 24)
    return codec, width, height


# --- fragments ------------------------------------------------------------------------------


def parse_moof(moof: bytes, offset: int, init: InitInfo, mdat_size: int) -> FragmentInfo:
    """Reads one fragment's moof (the whole box, header included).

    ``offset`` is where the moof sits in the file and ``mdat_size`` the whole size of the
    mdat that follows it (header included); both are only recorded. Sample durations and
    flags come from the trun, else the tfhd defaults, else the trex defaults of ``init``.
    """
    header = _top_level_header(moof, 0, len(moof))
    if isinstance(header, str):
        raise Fmp4Error(f"not a moof: {header}")
    fourcc, header_size, box_size = header
    if fourcc != "moof":
        raise Fmp4Error(f"expected a moof box, found {fourcc!r}")
    sequence: int | None = None
    runs: list[TrackRun] = []
    for child, body, end in _iter_boxes(moof, header_size, box_size, "moof"):
        if child == "mfhd":
            _check_room(body, end, 8, "mfhd")
            (sequence,) = _U32.unpack_from(moof, body + 4)
        elif child == "traf":
            _merge_run(runs, _parse_traf(moof, body, end, init))
    if sequence is None:
        raise Fmp4Error(f"the moof at offset {offset} has no mfhd box")
    return FragmentInfo(offset=offset, size=box_size + mdat_size, sequence=sequence,
                        runs=tuple(runs))


def _merge_run(runs: list[TrackRun], run: TrackRun) -> None:
    """Adds a traf's run; a second traf of the same track continues the first."""
    for i, seen in enumerate(runs):
        if seen.track_id == run.track_id:
            runs[i] = TrackRun(seen.track_id, seen.base_decode_time,
                               seen.duration + run.duration, seen.samples + run.samples,
                               seen.starts_with_sync if seen.samples else run.starts_with_sync)
            return
    runs.append(run)


@dataclass(frozen=True, slots=True)
class _Defaults:
    duration: int
    flags: int


def _parse_traf(buf: bytes, body: int, end: int, init: InitInfo) -> TrackRun:
    boxes = list(_iter_boxes(buf, body, end, "traf"))
    tfhd = next(((b, e) for f, b, e in boxes if f == "tfhd"), None)
    if tfhd is None:
        raise Fmp4Error("a traf has no tfhd box")
    track_id, defaults = _parse_tfhd(buf, *tfhd, init)
    where = f"traf of track {track_id}"
    base: int | None = None
    duration = samples = 0
    sync = False
    for fourcc, child_body, child_end in boxes:
        if fourcc == "tfdt":
            base = _parse_tfdt(buf, child_body, child_end, where)
        elif fourcc == "trun":
            count, run_duration, first_sync = _parse_trun(buf, child_body, child_end,
                                                          defaults, where)
            if samples == 0:
                sync = first_sync
            duration += run_duration
            samples += count
    if base is None:
        raise Fmp4Error(f"the {where} has no tfdt box, so its decode time is unknown")
    return TrackRun(track_id=track_id, base_decode_time=base, duration=duration,
                    samples=samples, starts_with_sync=sync and samples > 0)


def _parse_tfhd(buf: bytes, body: int, end: int, init: InitInfo) -> tuple[int, _Defaults]:
    _check_room(body, end, 8, "tfhd")
    version_flags, track_id = struct.unpack_from(">II", buf, body)
    flags = version_flags & 0xFFFFFF
    track = init.track(track_id)
    if track is None:
        raise Fmp4Error(f"a fragment has samples of track {track_id}, which the init "
                        "segment does not declare")
    duration = track.default_sample_duration
    sample_flags = track.default_sample_flags
    pos = body + 8
    if flags & _TFHD_BASE_DATA_OFFSET:
        pos += 8
    if flags & _TFHD_SAMPLE_DESCRIPTION_INDEX:
        pos += 4
    fields = [bit for bit in (_TFHD_DEFAULT_DURATION, _TFHD_DEFAULT_SIZE, _TFHD_DEFAULT_FLAGS)
              if flags & bit]
    _check_room(body, end, pos - body + 4 * len(fields), f"tfhd of track {track_id}")
    for bit in fields:
        (value,) = _U32.unpack_from(buf, pos)
        pos += 4
        if bit == _TFHD_DEFAULT_DURATION:
            duration = value
        elif bit == _TFHD_DEFAULT_FLAGS:
            sample_flags = value
    return track_id, _Defaults(duration=duration, flags=sample_flags)


def _parse_tfdt(buf: bytes, body: int, end: int, where: str) -> int:
    _check_room(body, end, 4, f"tfdt in the {where}")
    if buf[body] == 1:
        _check_room(body, end, 12, f"tfdt in the {where}")
        return int(_U64.unpack_from(buf, body + 4)[0])
    _check_room(body, end, 8, f"tfdt in the {where}")
    return int(_U32.unpack_from(buf, body + 4)[0])


@dataclass(frozen=True, slots=True)
class _TrunTable:
    """A trun's header and its per-sample table (one column per field present)."""

    version: int
    flags: int
    count: int
    data_offset: int | None
    first_flags: int | None
    fields: list[int]
    values: tuple[int, ...]

    def column(self, bit: int, default: int) -> tuple[int, ...]:
        if self.flags & bit:
            stride = len(self.fields)
            return tuple(self.values[self.fields.index(bit)::stride])
        return (default,) * self.count


def _read_trun(buf: bytes, body: int, end: int, where: str) -> _TrunTable:
    _check_room(body, end, 8, f"trun in the {where}")
    version_flags, count = struct.unpack_from(">II", buf, body)
    flags = version_flags & 0xFFFFFF
    pos = body + 8
    data_offset: int | None = None
    if flags & _TRUN_DATA_OFFSET:
        _check_room(body, end, pos + 4 - body, f"trun in the {where}")
        (data_offset,) = struct.unpack_from(">i", buf, pos)
        pos += 4
    first_flags: int | None = None
    if flags & _TRUN_FIRST_SAMPLE_FLAGS:
        _check_room(body, end, pos + 4 - body, f"trun in the {where}")
        (first_flags,) = _U32.unpack_from(buf, pos)
        pos += 4
    fields = [bit for bit in (_TRUN_DURATION, _TRUN_SIZE, _TRUN_FLAGS, _TRUN_CTS_OFFSET)
              if flags & bit]
    stride = len(fields)
    if end - pos < 4 * stride * count:
        raise Fmp4Error(f"the trun in the {where} lists {count} samples but is too short "
                        "to hold them")
    values = struct.unpack_from(f">{stride * count}I", buf, pos) if stride else ()
    return _TrunTable(version_flags >> 24, flags, count, data_offset, first_flags, fields,
                      values)


def _parse_trun(buf: bytes, body: int, end: int, defaults: _Defaults,
                where: str) -> tuple[int, int, bool]:
    """(sample count, duration, first sample is sync) of one trun."""
    trun = _read_trun(buf, body, end, where)
    count, flags, values, stride = trun.count, trun.flags, trun.values, len(trun.fields)
    per_sample, first_flags = trun.fields, trun.first_flags
    if count == 0:
        return 0, 0, False
    if flags & _TRUN_DURATION:
        duration = sum(values[per_sample.index(_TRUN_DURATION)::stride])
    else:
        duration = defaults.duration * count
    if first_flags is None:
        first_flags = (values[per_sample.index(_TRUN_FLAGS)] if flags & _TRUN_FLAGS
                       else defaults.flags)
    return count, duration, not first_flags & SAMPLE_IS_NON_SYNC


def fragment_seconds(fragment: FragmentInfo, track: TrackInfo) -> tuple[float, float]:
    """(start, duration) of the track's samples in the fragment, in seconds of media time.

    Raises KeyError when the fragment holds no samples of that track (FFmpeg leaves a
    track's traf out of a fragment that has none of its samples).
    """
    run = fragment.run(track.track_id)
    if run is None:
        raise KeyError(f"fragment {fragment.sequence} has no samples of track {track.track_id}")
    return run.base_decode_time / track.timescale, run.duration / track.timescale


# --- per-sample tables (playback) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SampleRun:
    """The samples of one trun, stored back to back in the file from ``data_offset``."""

    data_offset: int
    """Absolute byte offset in the file of the first sample's data."""
    durations: tuple[int, ...]
    sizes: tuple[int, ...]
    flags: tuple[int, ...]
    """Sample flags; ``flags & SAMPLE_IS_NON_SYNC`` is 0 for a sync sample (a keyframe)."""
    composition_offsets: tuple[int, ...]
    """Presentation minus decode time per sample (signed; 0 without B-frames)."""


@dataclass(frozen=True, slots=True)
class TrackSamples:
    """One traf: a track's samples in one fragment, every one of them."""

    track_id: int
    base_decode_time: int
    runs: tuple[SampleRun, ...]


def parse_moof_samples(moof: bytes, offset: int, init: InitInfo) -> tuple[TrackSamples, ...]:
    """Every sample of a fragment with where its bytes are, for a reader that copies them.

    ``moof`` is the whole box and ``offset`` where it sits in the file. Data offsets
    follow 8.8.7.1: the tfhd's base-data-offset, else the moof (default-base-is-moof, or
    the first traf), else where the previous traf's data ended; a trun without a
    data-offset continues where the previous trun ended.
    """
    header = _top_level_header(moof, 0, len(moof))
    if isinstance(header, str):
        raise Fmp4Error(f"not a moof: {header}")
    fourcc, header_size, box_size = header
    if fourcc != "moof":
        raise Fmp4Error(f"expected a moof box, found {fourcc!r}")
    found: list[TrackSamples] = []
    data_end = offset
    for child, body, end in _iter_boxes(moof, header_size, box_size, "moof"):
        if child == "traf":
            samples, data_end = _traf_samples(moof, body, end, init, offset, data_end)
            found.append(samples)
    return tuple(found)


def _traf_samples(buf: bytes, body: int, end: int, init: InitInfo, moof_offset: int,
                  previous_end: int) -> tuple[TrackSamples, int]:
    boxes = list(_iter_boxes(buf, body, end, "traf"))
    tfhd = next(((b, e) for f, b, e in boxes if f == "tfhd"), None)
    if tfhd is None:
        raise Fmp4Error("a traf has no tfhd box")
    track_id, defaults = _parse_tfhd(buf, *tfhd, init)
    default_size, base = _tfhd_size_and_base(buf, *tfhd, moof_offset, previous_end)
    where = f"traf of track {track_id}"
    decode_time: int | None = None
    runs: list[SampleRun] = []
    position = base
    for fourcc, child_body, child_end in boxes:
        if fourcc == "tfdt":
            decode_time = _parse_tfdt(buf, child_body, child_end, where)
        elif fourcc == "trun":
            run = _trun_samples(buf, child_body, child_end, defaults, default_size, base,
                                position, where)
            runs.append(run)
            position = run.data_offset + sum(run.sizes)
    if decode_time is None:
        raise Fmp4Error(f"the {where} has no tfdt box, so its decode time is unknown")
    return TrackSamples(track_id, decode_time, tuple(runs)), position


def _tfhd_size_and_base(buf: bytes, body: int, end: int, moof_offset: int,
                        previous_end: int) -> tuple[int, int]:
    """(default sample size, base data offset) of a tfhd already checked by _parse_tfhd."""
    flags = _U32.unpack_from(buf, body)[0] & 0xFFFFFF
    pos = body + 8
    base = moof_offset if flags & _TFHD_DEFAULT_BASE_IS_MOOF else previous_end
    if flags & _TFHD_BASE_DATA_OFFSET:
        _check_room(body, end, pos + 8 - body, "tfhd")
        base = int(_U64.unpack_from(buf, pos)[0])
        pos += 8
    if flags & _TFHD_SAMPLE_DESCRIPTION_INDEX:
        pos += 4
    if flags & _TFHD_DEFAULT_DURATION:
        pos += 4
    size = int(_U32.unpack_from(buf, pos)[0]) if flags & _TFHD_DEFAULT_SIZE else 0
    return size, base


def _trun_samples(buf: bytes, body: int, end: int, defaults: _Defaults, default_size: int,
                  base: int, position: int, where: str) -> SampleRun:
    trun = _read_trun(buf, body, end, where)
    if trun.data_offset is not None:
        position = base + trun.data_offset
    sample_flags = trun.column(_TRUN_FLAGS, defaults.flags)
    if trun.first_flags is not None and trun.count:
        sample_flags = (trun.first_flags, *sample_flags[1:])
    offsets = trun.column(_TRUN_CTS_OFFSET, 0)
    if trun.version == 1:  # signed composition offsets
        offsets = tuple(o - (1 << 32) if o & 0x80000000 else o for o in offsets)
    return SampleRun(data_offset=position,
                     durations=trun.column(_TRUN_DURATION, defaults.duration),
                     sizes=trun.column(_TRUN_SIZE, default_size), flags=sample_flags,
                     composition_offsets=offsets)


def sample_descriptions(data: bytes) -> dict[int, bytes]:
    """Each track's whole stsd box (header included), by track id, from an init segment:
    what a writer of another MP4 of the same stream copies (avc1/hvc1 with avcC/hvcC,
    mp4a with esds)."""
    info = parse_init(data)
    pos = 0
    found: dict[int, bytes] = {}
    while pos < info.size:
        header = _top_level_header(data, pos, info.size)
        if isinstance(header, str):
            raise Fmp4Error(f"init segment: {header}")
        fourcc, header_size, box_size = header
        if fourcc == "moov":
            for child, body, end in _iter_boxes(data, pos + header_size, pos + box_size,
                                                 "moov"):
                if child == "trak":
                    track_id, stsd = _trak_stsd(data, body, end)
                    found[track_id] = stsd
        pos += box_size
    return found


def _trak_stsd(buf: bytes, body: int, end: int) -> tuple[int, bytes]:
    trak = _children(buf, body, end, "trak")
    track_id = _parse_tkhd(buf, *_need(trak, "tkhd", "a trak"))
    where = f"track {track_id}"
    mdia = _children(buf, *_need(trak, "mdia", where), f"{where} mdia")
    minf = _children(buf, *_need(mdia, "minf", f"{where} mdia"), f"{where} minf")
    stbl = _children(buf, *_need(minf, "stbl", f"{where} minf"), f"{where} stbl")
    stsd_body, stsd_end = _need(stbl, "stsd", f"{where} stbl")
    start = stsd_body - 8  # a 64-bit size (never written for an stsd) has 8 bytes more
    if _U32.unpack_from(buf, start)[0] != stsd_end - start:
        start -= 8
    return track_id, bytes(buf[start:stsd_end])


# --- streaming -------------------------------------------------------------------------------


class BoxSplitter:
    """Cuts a byte stream (the muxer's output) into whole top-level boxes.

    ``feed`` takes chunks of any size, as the muxer writes them, and returns the boxes that
    each chunk completes, in order, as (fourcc, bytes of the whole box with its header).
    Bytes of a box not yet complete are held (``buffered``). A size of 0 ("to the end of
    the file") or one smaller than the header cannot be split and raises Fmp4Error; the
    splitter then refuses further input, since the stream's framing is lost.
    """

    __slots__ = ("_buf", "_error", "_position")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._error: Fmp4Error | None = None
        self._position = 0

    @property
    def buffered(self) -> int:
        """Bytes held waiting for a box to complete."""
        return len(self._buf)

    @property
    def position(self) -> int:
        """Stream offset just past the last box returned (where the next box starts)."""
        return self._position

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[str, bytes]]:
        if self._error is not None:
            raise self._error
        buf = self._buf
        buf += data
        boxes: list[tuple[str, bytes]] = []
        pos = 0
        available = len(buf)
        while available - pos >= 8:
            size, raw = _HEADER.unpack_from(buf, pos)
            header = 8
            if size == 1:
                if available - pos < 16:
                    break
                (size,) = _U64.unpack_from(buf, pos + 8)
                header = 16
            if size < header:
                self._error = self._bad_size(raw, size, self._position + pos)
                raise self._error
            if available - pos < size:
                break
            boxes.append((_fourcc(raw), bytes(buf[pos:pos + size])))
            pos += size
        if pos:
            del buf[:pos]
            self._position += pos
        return boxes

    @staticmethod
    def _bad_size(raw: bytes, size: int, offset: int) -> Fmp4Error:
        where = f"box {_fourcc(raw)!r} at stream offset {offset}"
        if size == 0:
            return Fmp4Error(f"{where} has size 0 (runs to the end of the file), so the "
                             "stream cannot be cut into boxes")
        return Fmp4Error(f"{where} says it is {size} bytes long, less than its header")


# --- files ----------------------------------------------------------------------------------


def scan_file(path: str | os.PathLike[str]) -> FileScan:
    """Finds the complete part of a segment file, for recovery after a crash.

    Walks the top-level boxes with positioned reads and stops, without raising, at the
    first one that is cut short or is not a box at all (a power cut often leaves a tail of
    zeros). A moof not followed by a complete mdat, or one that does not parse, ends the
    complete part. mdat payloads are never read. I/O errors propagate as OSError.
    """
    with open(path, "rb", buffering=0) as f:
        fd = f.fileno()
        file_size = os.fstat(fd).st_size
        init = _scan_init(fd, file_size)
        if init is None:
            return FileScan(init=None, fragments=(), complete_size=0, file_size=file_size)
        fragments = _scan_fragments(fd, init, file_size)
    complete = fragments[-1].end if fragments else init.size
    return FileScan(init=init, fragments=fragments, complete_size=complete,
                    file_size=file_size)


def _file_header(chunk: bytes, remaining: int) -> tuple[str, int, int] | None:
    """(fourcc, header size, box size) of a complete box at the start of chunk, or None.

    ``chunk`` holds the first bytes at some file offset and ``remaining`` says how many
    bytes the file has from there on, so a box is complete if it fits in ``remaining``.
    """
    if len(chunk) < 16:
        chunk = chunk + bytes(16 - len(chunk))
    header = _top_level_header(chunk, 0, remaining)
    return None if isinstance(header, str) else header


def _scan_init(fd: int, file_size: int) -> InitInfo | None:
    """The init segment, or None when it is missing, cut short or unreadable."""
    pos = 0
    moov: tuple[int, int] | None = None
    while pos < file_size:
        header = _file_header(os.pread(fd, 16, pos), file_size - pos)
        if header is None:
            break
        fourcc, _header_size, box_size = header
        if (pos == 0 and fourcc != "ftyp") or fourcc == "moof":
            break
        if fourcc == "moov" and moov is None:
            moov = (pos, box_size)
        pos += box_size
    if moov is None or moov[1] > MAX_METADATA_BOX:
        return None
    data = os.pread(fd, moov[1], moov[0])
    body = 16 if _U32.unpack_from(data, 0)[0] == 1 else 8
    try:
        return InitInfo(size=pos, tracks=_parse_moov(data, body, len(data)))
    except Fmp4Error:
        return None


def _scan_fragments(fd: int, init: InitInfo, file_size: int) -> tuple[FragmentInfo, ...]:
    fragments: list[FragmentInfo] = []
    pos = init.size
    while pos < file_size:
        head = os.pread(fd, _PROBE_BYTES, pos)
        header = _file_header(head, file_size - pos)
        if header is None:
            break
        fourcc, _header_size, box_size = header
        if fourcc in _SKIPPABLE:
            pos += box_size
            continue
        if fourcc != "moof" or box_size > MAX_METADATA_BOX:
            break
        fragment = _read_fragment(fd, pos, box_size, head, init, file_size)
        if fragment is None:
            break
        fragments.append(fragment)
        pos = fragment.end
    return tuple(fragments)


def _read_fragment(fd: int, pos: int, moof_size: int, head: bytes, init: InitInfo,
                   file_size: int) -> FragmentInfo | None:
    """The fragment whose moof starts at pos, if its moof and mdat are complete."""
    if len(head) < moof_size + 16:
        head = os.pread(fd, moof_size + 16, pos)
    mdat_at = pos + moof_size
    mdat = _file_header(head[moof_size:moof_size + 16], file_size - mdat_at)
    if mdat is None or mdat[0] != "mdat":
        return None
    try:
        return parse_moof(head[:moof_size], pos, init, mdat[2])
    except Fmp4Error:
        return None
