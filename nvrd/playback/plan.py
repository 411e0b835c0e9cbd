"""A range of a channel's recordings as MP4 files: which segments, which file, how big.

Puts the steps together (``docs/design/playback.md``, "Playback and export"): the
catalog's segments → their init segments (``samples.read_media``) → parts with one set
of sample entries each (inv. 7) → the samples of the range (``samples.collect``) → the
tables (``layout.compose``) → the file's head (``moov.file_head``) → a
:class:`~nvrd.playback.virtualfile.VirtualFile` of that head and the recorded bytes.

Building the head means reading every fragment header of the range: about a millisecond
per minute of footage. A browser fetching a file by ranges asks many times for the same
file, so finished files (nothing more can change them: inv. 8) are kept in a small cache
keyed by the range and the catalog rows used.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from nvrd.playback.layout import Composition, GapMode, NothingToPlay, compose
from nvrd.playback.moov import file_head
from nvrd.playback.samples import SegmentMedia, SegmentUnreadable, collect, read_media
from nvrd.playback.virtualfile import FilePiece, VirtualFile
from nvrd.storage.service import RecordedSegment

__all__ = ["NothingToPlay", "Part", "Playback", "build_playback", "make_playback", "parts"]

logger = logging.getLogger(__name__)

CACHE_BYTES = 64 << 20
"""Bytes of file heads (moov) the cache holds: a 10-minute range is about 60 KB."""
FORMAT_CHANGED = "the camera's video or audio format changed here"


@dataclass(frozen=True, slots=True)
class Part:
    """Consecutive segments of one format (one set of sample entries)."""

    media: tuple[SegmentMedia, ...]
    start_us: int
    """Where the part's footage starts (its first segment's start)."""


@dataclass(frozen=True, slots=True)
class Playback:
    """One MP4 file of a range and what it holds."""

    file: VirtualFile
    composition: Composition
    start_us: int
    end_us: int
    """The range asked for; the file holds the samples that start before ``end_us``."""
    continues_at_us: int | None
    """The range goes on in another file from here (the format changed: inv. 7)."""
    complete: bool
    """Reading again later gives the same file (no segment of it is still growing)."""
    head_size: int
    """Bytes of ftyp + moov + mdat header: what the file holds in memory."""


def parts(media: Sequence[SegmentMedia]) -> list[Part]:
    """Splits segments where the sample entries change. A segment without audio does not
    split (the audio track just has no samples there); different audio does."""
    found: list[Part] = []
    current: list[SegmentMedia] = []
    video_entry: bytes | None = None
    audio_entry: bytes | None = None
    for item in media:
        differs = (video_entry is not None and item.video_entry != video_entry) or (
            audio_entry is not None and item.audio_entry is not None
            and item.audio_entry != audio_entry)
        if differs and current:
            found.append(Part(tuple(current), current[0].segment.row.start_us))
            current, audio_entry = [], None
        current.append(item)
        video_entry = item.video_entry
        audio_entry = audio_entry or item.audio_entry
    if current:
        found.append(Part(tuple(current), current[0].segment.row.start_us))
    return found


def starting_segments(segments: Sequence[RecordedSegment], start_us: int
                      ) -> list[RecordedSegment]:
    """The segments that reach past ``start_us``, from the last one that starts at or
    before it on: where footage overlaps (two volumes, a segment ending a µs after the
    next starts), the one holding the start wins."""
    segments = [s for s in segments  # an open row's end lags its file
                if s.row.end_us > start_us or s.row.state == "open"]
    first = 0
    for i, segment in enumerate(segments):
        if segment.row.start_us <= start_us:
            first = i
    return list(segments[first:])


def build_playback(segments: Sequence[RecordedSegment], start_us: int, end_us: int, *,
                   keyframes: bool = False, gaps: GapMode = "keep") -> list[Playback]:
    """Every file of the range, one per part (usually one); blocking. Raises
    NothingToPlay when no video frame of the range can be read."""
    media = []
    for segment in starting_segments([s for s in segments if s.row.start_us < end_us],
                                     start_us):
        try:
            media.append(read_media(segment))
        except SegmentUnreadable as exc:
            logger.warning("playback leaves out a segment: %s", exc)
    found: list[Playback] = []
    split = parts(media)
    for i, part in enumerate(split):
        part_start = start_us if i == 0 else part.start_us
        next_start = split[i + 1].start_us if i + 1 < len(split) else None
        try:
            found.append(_build_part(part, part_start, next_start or end_us, keyframes, gaps,
                                     next_start))
        except NothingToPlay:
            continue
    if not found:
        raise NothingToPlay("nothing is recorded in this range")
    return found


def _build_part(part: Part, start_us: int, end_us: int, keyframes: bool, gaps: GapMode,
                continues_at_us: int | None) -> Playback:
    audio = next((m.audio for m in part.media if m.audio is not None and m.audio_entry), None)
    footage = collect(part.media, start_us, end_us, audio.timescale if audio else None)
    composition = compose(footage, start_us, keyframes=keyframes, gaps=gaps)
    head = file_head(composition)
    pieces: list[bytes | FilePiece] = [head]
    pieces += [FilePiece(s.path, s.offset, s.length) for s in composition.slices]
    return Playback(VirtualFile(pieces), composition, start_us, end_us, continues_at_us,
                    footage.complete, len(head))


class PlaybackCache:
    """Finished files by (range, options, catalog rows); least recently used out first.
    Thread-safe (built in worker threads, looked up on the loop)."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self._max_bytes = max_bytes
        self._entries: OrderedDict[tuple[object, ...], tuple[list[Playback], int]] = (
            OrderedDict())
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> list[Playback] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: tuple[object, ...], files: list[Playback]) -> None:
        if not all(f.complete for f in files):
            return
        size = sum(f.head_size for f in files)
        if size > self._max_bytes // 4:
            return
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = (files, size)
            self._bytes += size
            while self._bytes > self._max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped


_CACHE = PlaybackCache()


async def make_playback(segments: Sequence[RecordedSegment], start_us: int, end_us: int, *,
                        keyframes: bool = False, gaps: GapMode = "keep",
                        cache: PlaybackCache | None = _CACHE) -> list[Playback]:
    """:func:`build_playback` in a worker thread, through the cache."""
    key = (start_us, end_us, keyframes, gaps,
           tuple((str(s.path), s.row.id) for s in segments))
    if cache is not None:
        found = cache.get(key)
        if found is not None:
            return found
    files = await asyncio.to_thread(build_playback, segments, start_us, end_us,
                                    keyframes=keyframes, gaps=gaps)
    if cache is not None:
        cache.put(key, files)
    return files
