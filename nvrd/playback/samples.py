"""Reads the samples of a time range out of recorded segment files, without decoding.

What it produces, per track (video, and audio when recorded), is a table: for every
sample its wall-clock decode time, own duration, composition offset (all in the
*output* timescale), size, sync flag and where its bytes are (file, offset). The tables
are columns (``array``), not one object per sample: 24 h of 25 fps video is two million
samples.

How (``docs/design/playback.md``, "Playback and export", inv. 1–4):

* a segment's media timeline starts at 0 at ``row.start_us`` (the muxer, ``muxer.py``),
  so a sample's wall time is ``row.start_us + ticks / timescale``; it is converted to the
  output timescale from that absolute value, once per sample, so rounding never
  accumulates across samples or segments;
* the walk of the first segment starts at the seek index's keyframe fragment at or before
  the range start (``row.fragments``); later segments from their first fragment; every
  segment box by box (moof, then its mdat) until a fragment starts at or after the range
  end, or the file ends. Only whole fragments are read, so an open segment (still being
  written) gives what it has, and the same samples again later;
* a sample belongs to the range when its wall decode time is before the end; what lies
  before the keyframe at or before the start is trimmed later (``layout.py``).

Threads: everything here blocks on file reads; callers run it in a worker thread.
"""

from __future__ import annotations

import logging
import os
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nvrd.record.fmp4 import (
    SAMPLE_IS_NON_SYNC,
    Fmp4Error,
    InitInfo,
    SampleRun,
    TrackInfo,
    TrackSamples,
    parse_init,
    parse_moof_samples,
    sample_descriptions,
)
from nvrd.storage.service import RecordedSegment

logger = logging.getLogger(__name__)

VIDEO_TIMESCALE = 90_000
"""Ticks per second of the video track we write: a multiple of every usual frame rate."""
US = 1_000_000
_HEADER_PROBE = 16
_MAX_MOOF = 64 << 20


class SegmentUnreadable(Exception):
    """A segment file cannot be used (gone, not an MP4 we understand); says which."""


@dataclass(frozen=True, slots=True)
class SegmentMedia:
    """A recorded segment and what its init segment says about its tracks."""

    segment: RecordedSegment
    init: InitInfo
    video: TrackInfo
    audio: TrackInfo | None
    video_entry: bytes
    """The video track's whole stsd box, copied into the files we make."""
    audio_entry: bytes | None


def read_media(segment: RecordedSegment) -> SegmentMedia:
    """Reads a segment's init segment (one small read). Blocking."""
    try:
        with open(segment.path, "rb", buffering=0) as f:
            data = os.pread(f.fileno(), max(segment.row.init_bytes, 0) or 64 << 10, 0)
        init = parse_init(data)
        entries = sample_descriptions(data[:init.size])
    except (OSError, Fmp4Error) as exc:
        raise SegmentUnreadable(f"segment {segment.path} cannot be read: {exc}") from exc
    video = init.video()
    if video is None:
        raise SegmentUnreadable(f"segment {segment.path} has no video track")
    audio = next((t for t in init.tracks if t.kind == "audio"), None)
    return SegmentMedia(segment, init, video, audio, entries[video.track_id],
                        entries.get(audio.track_id) if audio is not None else None)


@dataclass(slots=True)
class Column:
    """One track's samples, oldest first, as parallel arrays."""

    timescale: int
    decode: array[int] = field(default_factory=lambda: array("q"))
    """Wall decode time in ticks of ``timescale`` since the Unix epoch."""
    duration: array[int] = field(default_factory=lambda: array("q"))
    """The sample's own duration (from its file), in ticks."""
    offset: array[int] = field(default_factory=lambda: array("q"))
    """Composition offset (presentation minus decode), in ticks."""
    size: array[int] = field(default_factory=lambda: array("q"))
    position: array[int] = field(default_factory=lambda: array("q"))
    """Byte offset of the sample's data in its file."""
    file: array[int] = field(default_factory=lambda: array("l"))
    """Index into :attr:`Footage.files`."""
    sync: array[int] = field(default_factory=lambda: array("b"))

    def __len__(self) -> int:
        return len(self.decode)


@dataclass(slots=True)
class Footage:
    """What the walk found: the tables, the files they point into, how far it got."""

    video: Column
    audio: Column | None
    files: list[Path] = field(default_factory=list)
    segments: list[SegmentMedia] = field(default_factory=list)
    """The segments that gave samples, in order."""
    complete: bool = True
    """Every segment was read up to the range end or its own end once closed: reading
    again later gives the same samples (what may be cached)."""


@dataclass(frozen=True, slots=True)
class _Convert:
    """Source ticks of one track of one segment → absolute output ticks."""

    base: int
    """The segment start in output ticks since the epoch."""
    source: int
    target: int


def _scale(ticks: int, target: int, source: int) -> int:
    """``ticks * target / source`` rounded half up, exactly (integers)."""
    if target == source:
        return ticks
    return (2 * ticks * target + source) // (2 * source)


def collect(media: Sequence[SegmentMedia], start_us: int, end_us: int,
            audio_timescale: int | None) -> Footage:
    """The samples of ``media`` (oldest first, one sample-entry set) that start before
    ``end_us``, from the keyframe fragment at or before ``start_us`` on. Blocking.

    A segment whose file cannot be read (gone since the catalog was asked, damaged) is
    left out with a warning: the footage around it still plays.
    """
    footage = Footage(Column(VIDEO_TIMESCALE),
                      Column(audio_timescale) if audio_timescale else None)
    for item in media:
        try:
            read = _walk_segment(item, start_us, end_us, footage)
        except (OSError, Fmp4Error) as exc:
            logger.warning("playback leaves out segment %s: %s", item.segment.path, exc)
            footage.complete = False
            continue
        if read:
            footage.segments.append(item)
    return footage


def _walk_segment(media: SegmentMedia, start_us: int, end_us: int, footage: Footage) -> bool:
    """Appends the segment's samples in the range; False if it had none."""
    row = media.segment.row
    position = _first_fragment(row.fragments, start_us - row.start_us, media.init.size)
    video_convert = _Convert(_scale(row.start_us, VIDEO_TIMESCALE, US),
                             media.video.timescale, VIDEO_TIMESCALE)
    audio_convert: _Convert | None = None
    if media.audio is not None and footage.audio is not None:
        audio_convert = _Convert(_scale(row.start_us, footage.audio.timescale, US),
                                 media.audio.timescale, footage.audio.timescale)
    # a sample is in the range when start_us + ticks / timescale < end_us
    video_limit = (end_us - row.start_us) * media.video.timescale
    file_index = len(footage.files)
    footage.files.append(media.segment.path)
    video, audio = _Pending(), _Pending()
    reached_end = False
    with open(media.segment.path, "rb", buffering=0) as f:
        fd = f.fileno()
        file_size = os.fstat(fd).st_size
        while True:
            fragment = _read_fragment(fd, position, file_size)
            if fragment is None:
                break
            moof, moof_size, mdat_size = fragment
            tracks = parse_moof_samples(moof, position, media.init)
            if _starts_at_or_after(tracks, media, end_us, row.start_us):
                reached_end = True
                break
            for track in tracks:
                if track.track_id == media.video.track_id:
                    video.take(track.base_decode_time, track.runs, video_limit)
                elif (audio_convert is not None and media.audio is not None
                      and track.track_id == media.audio.track_id):
                    audio.take(track.base_decode_time, track.runs,
                               (end_us - row.start_us) * media.audio.timescale)
            position += moof_size + mdat_size
    if not reached_end and row.state != "closed":
        footage.complete = False
    video.flush(footage.video, video_convert, file_index)
    if audio_convert is not None and footage.audio is not None:
        audio.flush(footage.audio, audio_convert, file_index)
    return bool(video.decode)


def _first_fragment(index: Sequence[tuple[int, int]], start_offset_us: int,
                    init_size: int) -> int:
    """Byte offset of the keyframe fragment at or before the start (the init's end when
    the start is before the segment or the index has nothing that early)."""
    position = init_size
    for offset_us, byte in index:
        if offset_us > start_offset_us:
            break
        position = byte
    return position


def _read_fragment(fd: int, position: int, file_size: int) -> tuple[bytes, int, int] | None:
    """(moof bytes, moof size, mdat size) of the complete fragment at ``position``; None
    at the end of the file, at a fragment not yet complete, or at anything that is not a
    fragment (a torn tail is recovery's business, not playback's)."""
    while True:
        head = os.pread(fd, _HEADER_PROBE, position)
        box = _box_header(head, file_size - position)
        if box is None:
            return None
        fourcc, size = box
        if fourcc == "moof":
            break
        if fourcc in ("free", "skip", "styp", "sidx", "prft", "emsg", "uuid"):
            position += size
            continue
        return None
    if size > _MAX_MOOF:
        return None
    data = os.pread(fd, size + _HEADER_PROBE, position)
    mdat = _box_header(data[size:size + _HEADER_PROBE], file_size - position - size)
    if mdat is None or mdat[0] != "mdat":
        return None
    return data[:size], size, mdat[1]


def _box_header(head: bytes, remaining: int) -> tuple[str, int] | None:
    if len(head) < 8:
        return None
    size = int.from_bytes(head[0:4], "big")
    fourcc = head[4:8].decode("latin-1")
    if size == 1:
        if len(head) < 16:
            return None
        size = int.from_bytes(head[8:16], "big")
    if size < 8 or size > remaining:
        return None
    return fourcc, size


def _starts_at_or_after(tracks: Sequence[TrackSamples], media: SegmentMedia,
                        end_us: int, segment_start_us: int) -> bool:
    """Every track of the fragment starts at or after the range end: nothing in it (or
    after it, since fragments come in decode order) belongs to the range."""
    for track in tracks:
        info = media.init.track(track.track_id)
        if info is None or not any(run.sizes for run in track.runs):
            continue
        if track.base_decode_time * US < (end_us - segment_start_us) * info.timescale:
            return False
    return True


class _Pending:
    """One track's samples of one segment in its own units, converted in one go (numpy)
    when the segment is done: per-sample Python work is what a long range costs."""

    __slots__ = ("decode", "duration", "offset", "position", "size", "sync")

    def __init__(self) -> None:
        self.decode: list[int] = []
        self.duration: list[int] = []
        self.offset: list[int] = []
        self.size: list[int] = []
        self.position: list[int] = []
        self.sync: list[int] = []

    def take(self, decode: int, runs: Sequence[SampleRun], limit: int) -> None:
        """Adds the samples of one traf (one fragment of a track) that belong to a range
        ending at ``limit`` (the range end from the segment start, times the timescale:
        source ticks ``t`` are before the end when ``t * 1e6 < limit``).

        Those are the samples presented before the end, with everything before them in
        decode order (the frames they refer to), up to the first point where the samples
        kept present before every sample left out: with B-frames the file then ends on a
        whole run of frames (a frame or two past the end) instead of on a reference frame
        whose B-frames are missing. Without B-frames that is "decoded before the end".
        """
        decodes, durations, sizes, flags, offsets, positions = _flatten(decode, runs)
        if not decodes:
            return
        # Presentation on the decode timeline: minus the reorder delay (a keyframe's
        # offset), so that without B-frames nothing changes and with them the end cuts
        # where the start does (the catalog's times are decode times).
        delay = next((o for o, f in zip(offsets, flags, strict=True)
                      if not f & SAMPLE_IS_NON_SYNC), min(offsets))
        presented = [d + o - delay for d, o in zip(decodes, offsets, strict=True)]
        keep = len(decodes)
        if max(presented) * US >= limit:  # the fragment where the range ends
            keep = 0
            for i, moment in enumerate(presented):
                if moment * US < limit:
                    keep = i + 1
            if keep:
                keep = _closed_prefix(presented, keep)
        self.decode += decodes[:keep]
        self.duration += durations[:keep]
        self.offset += offsets[:keep]
        self.size += sizes[:keep]
        self.position += positions[:keep]
        self.sync += [0 if f & SAMPLE_IS_NON_SYNC else 1 for f in flags[:keep]]

    def flush(self, column: Column, convert: _Convert, file_index: int) -> None:
        if not self.decode:
            return
        column.decode.frombytes(_converted(self.decode, convert, absolute=True))
        column.duration.frombytes(_converted(self.duration, convert))
        column.offset.frombytes(_converted(self.offset, convert))
        column.size.frombytes(np.asarray(self.size, dtype=np.int64).tobytes())
        column.position.frombytes(np.asarray(self.position, dtype=np.int64).tobytes())
        column.file.extend([file_index] * len(self.decode))
        column.sync.frombytes(np.asarray(self.sync, dtype=np.int8).tobytes())


def _converted(ticks: list[int], convert: _Convert, absolute: bool = False) -> bytes:
    """Source ticks → output ticks (rounded half up, signs kept), as int64 bytes."""
    values = np.asarray(ticks, dtype=np.int64)
    if convert.source != convert.target:
        magnitude = (2 * np.abs(values) * convert.target + convert.source) \
            // (2 * convert.source)
        values = np.sign(values) * magnitude
    if absolute:
        values = values + convert.base
    return values.astype(np.int64).tobytes()


def _flatten(decode: int, runs: Sequence[SampleRun]) -> tuple[list[int], ...]:
    """The samples of a traf's runs as lists: decode time, duration, size, flags,
    composition offset, byte position."""
    decodes: list[int] = []
    durations: list[int] = []
    sizes: list[int] = []
    flags: list[int] = []
    offsets: list[int] = []
    positions: list[int] = []
    for run in runs:
        position = run.data_offset
        for duration, size in zip(run.durations, run.sizes, strict=True):
            decodes.append(decode)
            positions.append(position)
            decode += duration
            position += size
        durations += run.durations
        sizes += run.sizes
        flags += run.flags
        offsets += run.composition_offsets
    return decodes, durations, sizes, flags, offsets, positions


def _closed_prefix(presented: Sequence[int], at_least: int) -> int:
    """The shortest prefix of at least ``at_least`` samples that presents before every
    sample after it (the whole list when none does)."""
    highest = max(presented[:at_least])
    suffix_low = list(presented)
    for i in range(len(suffix_low) - 2, -1, -1):
        suffix_low[i] = min(suffix_low[i], suffix_low[i + 1])
    k = at_least
    while k < len(presented) and highest > suffix_low[k]:
        highest = max(highest, presented[k])
        k += 1
    return k
