"""Turns the samples of a range (``samples.py``) into the tables of one MP4 file.

Pure (no I/O): wall-clock sample tables in, per-track tables in media time out, with the
chunks (runs of samples stored back to back in a source file) in the order their bytes
will follow each other in the file's mdat. The rules, numbered in
``docs/design/playback.md`` ("Playback and export"):

* the first video sample is the keyframe at or just before the start (inv. 2);
* a later segment that overlaps what came before (the same footage on two volumes, a
  clock stepped back) contributes from its first keyframe after it (inv. 3);
* a break of more than ``GAP_US`` between a frame's end and the next frame is a gap.
  ``gaps="keep"``: media time stays wall time, the frame before the gap lasts until
  the next footage; ``"skip"``: the gap is closed up (inv. 5);
* ``keyframes``: only sync samples, each lasting until the next, at their decode times
  (no composition offsets: nothing is reordered), no audio (inv. 6);
* durations are differences of absolute times (inv. 4); the composition offsets are
  moved so that none presents before 0, and the edit list starts the video at its first
  presented frame; audio that starts later than the video gets an empty edit first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from nvrd.playback.samples import US, VIDEO_TIMESCALE, Column, Footage, SegmentMedia

Ints = npt.NDArray[np.int64]
GapMode = Literal["keep", "skip"]

GAP_US = 1_000_000
"""A break longer than this between one frame's end and the next frame is missing
footage (a camera outage), not timestamp jitter at a segment boundary."""


@dataclass(frozen=True, slots=True)
class Gap:
    start_us: int
    """Wall time where footage stops (the end of the last frame before the gap)."""
    end_us: int
    """Wall time where footage resumes."""
    at_us: int
    """Where the gap is in the file's media time (µs from its first frame)."""


@dataclass(frozen=True, slots=True)
class TrackTable:
    """One track of the file: what the moov's sample tables say."""

    kind: Literal["video", "audio"]
    timescale: int
    entry: bytes
    """The stsd box, copied from the recording."""
    width: int
    height: int
    durations: Ints
    sizes: Ints
    composition: Ints | None
    """Composition offsets, None when all are 0."""
    sync: npt.NDArray[np.bool_] | None
    """Sync flags, None when every sample is a sync sample."""
    chunk_samples: Ints
    chunk_offsets: Ints
    """Byte offsets of the chunks from the start of the mdat payload."""
    media_time: int
    """Edit list: the first presented instant of the media (ticks)."""
    delay: int
    """Edit list: empty time before the track starts (ticks of the track)."""

    @property
    def duration(self) -> int:
        return int(self.durations.sum())


@dataclass(frozen=True, slots=True)
class Slice:
    """Bytes of a source file, in payload order."""

    path: Path
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class Composition:
    tracks: tuple[TrackTable, ...]
    slices: tuple[Slice, ...]
    payload_size: int
    first_frame_us: int
    """Wall time of the first video frame (decode time of the starting keyframe)."""
    last_frame_us: int
    """Wall time of the last video frame."""
    end_us: int
    """Wall time where the last video frame ends."""
    gaps: tuple[Gap, ...]
    duration_us: int
    """Length of the file's video in media time."""


class NothingToPlay(Exception):
    """The range holds no video frame."""


@dataclass(slots=True)
class _Track:
    """A track's columns as numpy arrays, being cut down."""

    decode: Ints
    duration: Ints
    offset: Ints
    size: Ints
    position: Ints
    file: Ints
    sync: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, column: Column) -> _Track:
        def ints(values: object) -> Ints:
            return np.frombuffer(values, dtype=np.int64).copy()  # type: ignore[call-overload]
        return cls(ints(column.decode), ints(column.duration), ints(column.offset),
                   ints(column.size), ints(column.position),
                   np.asarray(column.file, dtype=np.int64),
                   np.frombuffer(column.sync, dtype=np.int8).astype(bool))

    def take(self, keep: npt.NDArray[np.bool_] | slice) -> _Track:
        return _Track(self.decode[keep], self.duration[keep], self.offset[keep],
                      self.size[keep], self.position[keep], self.file[keep], self.sync[keep])

    def __len__(self) -> int:
        return len(self.decode)


def compose(footage: Footage, start_us: int, *, keyframes: bool = False,
            gaps: GapMode = "keep") -> Composition:
    """The file's tables; raises NothingToPlay when there is no video frame."""
    if not footage.segments or not len(footage.video):
        raise NothingToPlay("no video frame was recorded in the range")
    video = _trim_start(_monotonic(_Track.of(footage.video), need_sync=True),
                        _ticks(start_us, VIDEO_TIMESCALE))
    if not len(video):
        raise NothingToPlay("no keyframe was recorded in the range")
    ends = video.decode + video.duration
    breaks = np.flatnonzero(video.decode[1:] - ends[:-1] > _ticks(GAP_US, VIDEO_TIMESCALE))
    gap_walls = [(int(ends[i]), int(video.decode[i + 1])) for i in breaks]  # video ticks
    origin = int(video.decode[0])
    first_us, last_us = _us(origin), _us(int(video.decode[-1]))
    end_us = _us(int(ends[-1]))
    audio = (_monotonic(_Track.of(footage.audio), need_sync=False)
             if footage.audio is not None and len(footage.audio) and not keyframes else None)
    if keyframes:
        video = video.take(video.sync)
        video.offset = np.zeros_like(video.offset)  # in decode order: no reordering
    video_media = _media_times(video.decode, origin, gap_walls, gaps, VIDEO_TIMESCALE)
    gap_list = _gaps(gap_walls, origin, gaps)
    first = footage.segments[0]
    tracks = [_table(video, video_media, "video", VIDEO_TIMESCALE, first.video_entry, first)]
    if audio is not None:
        audio_track = _audio_in_range(audio, origin, gap_walls, gaps, footage)
        if audio_track is not None:
            tracks.append(audio_track)
    tables, slices, payload = _chunks(tracks, footage.files)
    duration = tables[0].duration
    return Composition(tables, slices, payload, first_us, last_us, end_us, gap_list,
                       _us(duration))


def _ticks(us: int, timescale: int) -> int:
    return (2 * us * timescale + US) // (2 * US)


def _us(ticks: int, timescale: int = VIDEO_TIMESCALE) -> int:
    return (2 * ticks * US + timescale) // (2 * timescale)


def _monotonic(track: _Track, *, need_sync: bool) -> _Track:
    """Drops samples that do not come after everything before them (an overlapping
    later segment), up to its next sync sample when ``need_sync``."""
    if len(track) < 2:
        return track
    before = np.maximum.accumulate(track.decode)
    if bool(np.all(track.decode[1:] > before[:-1])):
        return track
    keep = np.ones(len(track), dtype=bool)
    last = int(track.decode[0])
    waiting = False
    for i in range(1, len(track)):  # rare: only when segments overlap
        decode = int(track.decode[i])
        if decode <= last:
            keep[i], waiting = False, need_sync
        elif waiting and not track.sync[i]:
            keep[i] = False
        else:
            waiting, last = False, decode
    return track.take(keep)


def _trim_start(video: _Track, start: int) -> _Track:
    """From the keyframe at or before ``start`` (the first keyframe when none is)."""
    syncs = np.flatnonzero(video.sync)
    if not len(syncs):
        return video.take(slice(0, 0))
    before = syncs[video.decode[syncs] <= start]
    first = int(before[-1]) if len(before) else int(syncs[0])
    return video.take(slice(first, None))


def _media_times(decode: Ints, origin: int, gap_walls: list[tuple[int, int]],
                 mode: GapMode, timescale: int) -> Ints:
    """Wall ticks → ticks from the first frame, closing gaps up in ``skip`` mode.
    ``gap_walls`` are in video ticks; converted through µs for other timescales."""
    origin_t = _convert(origin, timescale)
    media = decode - origin_t
    if mode == "skip":
        for gap_start, gap_end in gap_walls:
            length = _convert(gap_end, timescale) - _convert(gap_start, timescale)
            media[decode >= _convert(gap_end, timescale)] -= length
    return media


def _convert(video_ticks: int, timescale: int) -> int:
    if timescale == VIDEO_TIMESCALE:
        return video_ticks
    return (2 * video_ticks * timescale + VIDEO_TIMESCALE) // (2 * VIDEO_TIMESCALE)


def _gaps(gap_walls: list[tuple[int, int]], origin: int, mode: GapMode) -> tuple[Gap, ...]:
    found = []
    closed = 0
    for start, end in gap_walls:
        found.append(Gap(_us(start), _us(end), _us(start - origin - closed)))
        if mode == "skip":
            closed += end - start
    return tuple(found)


def _audio_in_range(audio: _Track, origin: int, gap_walls: list[tuple[int, int]],
                    mode: GapMode, footage: Footage) -> _Timed | None:
    assert footage.audio is not None
    timescale = footage.audio.timescale
    keep = audio.decode >= _convert(origin, timescale)
    if mode == "skip":  # audio inside a closed-up gap would overlap what follows it
        for start, end in gap_walls:
            keep &= ~((audio.decode >= _convert(start, timescale))
                      & (audio.decode < _convert(end, timescale)))
    audio = audio.take(keep)
    if not len(audio):
        return None
    media = _media_times(audio.decode, origin, gap_walls, mode, timescale)
    first_audio = next(s for s in footage.segments if s.audio_entry is not None)
    return _table(audio, media, "audio", timescale, first_audio.audio_entry or b"",
                  first_audio)


def _table(track: _Track, media: Ints, kind: Literal["video", "audio"], timescale: int,
           entry: bytes, first: SegmentMedia) -> _Timed:
    """The track's timing (chunks come later, once every track is known)."""
    durations = np.empty_like(media)
    durations[:-1] = np.diff(media)
    durations[-1] = max(int(track.duration[-1]), 1)
    delay = int(media[0])
    composition = track.offset.copy()
    presented = media - delay + composition
    lowest = int(presented.min())
    if lowest < 0:  # no frame may present before the start of the media
        composition -= lowest
    media_time = int((media - delay + composition)[: min(len(media), 256)].min())
    width = (first.video.width or 0) if kind == "video" else 0
    height = (first.video.height or 0) if kind == "video" else 0
    return _Timed(kind, timescale, entry, width, height, track, durations,
                  composition if composition.any() else None,
                  None if bool(track.sync.all()) else track.sync.copy(), media_time, delay)


@dataclass(frozen=True, slots=True)
class _Timed:
    kind: Literal["video", "audio"]
    timescale: int
    entry: bytes
    width: int
    height: int
    track: _Track
    durations: Ints
    composition: Ints | None
    sync: npt.NDArray[np.bool_] | None
    media_time: int
    delay: int


def _chunks(timed: list[_Timed], files: list[Path]
            ) -> tuple[tuple[TrackTable, ...], tuple[Slice, ...], int]:
    """Cuts each track into chunks (samples back to back in one file) and lays every
    chunk out in source order, so the file is read front to back."""
    per_track: list[tuple[_Timed, Ints, Ints, Ints]] = []  # starts, counts, byte lengths
    records = []
    for index, item in enumerate(timed):
        track = item.track
        contiguous = ((track.file[1:] == track.file[:-1])
                      & (track.position[1:] == track.position[:-1] + track.size[:-1]))
        starts = np.concatenate(([0], np.flatnonzero(~contiguous) + 1)).astype(np.int64)
        counts = np.diff(np.append(starts, len(track))).astype(np.int64)
        cumulative = np.concatenate(([0], np.cumsum(track.size)))
        lengths = (cumulative[starts + counts] - cumulative[starts]).astype(np.int64)
        per_track.append((item, starts, counts, lengths))
        for chunk, start in enumerate(starts):
            records.append((int(track.file[start]), int(track.position[start]), index, chunk))
    records.sort()
    offsets = [np.zeros(len(p[1]), dtype=np.int64) for p in per_track]
    slices: list[Slice] = []
    payload = 0
    for file_index, position, index, chunk in records:
        length = int(per_track[index][3][chunk])
        offsets[index][chunk] = payload
        last = slices[-1] if slices else None
        path = files[file_index]
        if last is not None and last.path == path and last.offset + last.length == position:
            slices[-1] = Slice(path, last.offset, last.length + length)
        else:
            slices.append(Slice(path, position, length))
        payload += length
    tables = tuple(
        TrackTable(kind=item.kind, timescale=item.timescale, entry=item.entry,
                   width=item.width, height=item.height, durations=item.durations,
                   sizes=item.track.size, composition=item.composition, sync=item.sync,
                   chunk_samples=counts, chunk_offsets=offsets[i],
                   media_time=item.media_time, delay=item.delay)
        for i, (item, _starts, counts, _lengths) in enumerate(per_track))
    return tables, tuple(slices), payload
