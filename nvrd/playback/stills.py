"""Pictures from the recordings: a JPEG of a channel at a past instant, and the timeline's
thumbnails (which are such pictures, small).

A picture at instant *t* is the key frame at or before *t* of the segment that covers
*t*, decoded from the file without reading more than one fragment:

1. the catalog rows overlapping ``[t - LOOKBACK_US, t]`` (every volume), latest first;
2. the row's seek index (``SegmentRow.fragments``: µs from the segment start and byte
   offset of each fragment that starts with a key frame) gives the last key fragment at
   or before *t*. An open segment's index is written only when it closes, and its row's
   end lags the file by a couple of seconds, so for an open row the file's fragments are
   scanned instead (``fmp4.scan_file``: box headers and ``moof``\\ s only, about 35 µs a
   fragment);
3. the init segment (the first ``init_bytes`` of the file) and that one fragment
   (``moof`` + ``mdat``, sized from their box headers) are read; together they are a
   valid fragmented MP4 (the recorder muxes with ``default_base_moof``, so the fragment's
   data offsets are relative to its own ``moof``), which PyAV opens from memory;
4. its first frame (the key frame) is decoded, scaled and encoded by the snapshot code
   (``nvrd.snapshots.grabber.encode_jpeg``).

The frame shown is at ``row.start_us + offset_us``: up to one GOP before *t* (one second
or two with most cameras); that instant is what the API reports. *t* must lie in
recorded footage, give or take ``GAP_TOLERANCE_US`` (the break the timeline itself
tolerates between two segments); otherwise :class:`NoFootage` says how far the nearest
footage is.

Caching: pictures are immutable (a fragment never changes once written), so the
JPEGs of recent requests are kept in an LRU keyed by file, fragment offset, width and
quality (``CACHE_BYTES`` in all): a timeline scrolled back and forth decodes nothing
twice. Identical requests in flight share one decode.

Threads: decoding and encoding run in this service's ``WORKERS`` worker threads
(``still_0``...), so a thumbnail strip of 200 pictures never takes more than that many
cores; scanning an open segment runs in the default executor (it is a few reads).
Everything else is loop-only.
"""

from __future__ import annotations

import asyncio
import bisect
import concurrent.futures
import io
import logging
import os
import struct
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import av.error

from nvrd.config import NvrConfig
from nvrd.record.fmp4 import Fmp4Error, scan_file
from nvrd.service import Service
from nvrd.snapshots.grabber import Picture, PictureError, encode_jpeg
from nvrd.storage.service import RecordedSegment, StorageService

logger = logging.getLogger(__name__)

WORKERS = 2
"""Pictures decoded at once."""
LOOKBACK_US = 15_000_000
"""How far before *t* a segment covering it may start and still be missed by a query
for ``[t - GAP, t]`` because its row lags: an open row's end is updated every 2 s."""
GAP_TOLERANCE_US = 1_000_000
"""*t* up to this far past a segment's end still shows its last key frame: a break this
short between segments is timestamp rounding (``timeline.merge_intervals``)."""
NEAREST_WINDOW_US = 86_400_000_000
"""How far the "nearest footage" of a refusal is looked for."""
MAX_FRAGMENT_BYTES = 64 << 20
"""A moof + mdat larger than this is not one the recorder wrote: refused, not read."""
CACHE_BYTES = 8 << 20
CACHE_MAX_PICTURE_BYTES = 1 << 20
"""Larger pictures (a 4K main stream at full size) are not cached."""

_BOX = struct.Struct(">I4s")
_LARGE = struct.Struct(">Q")


class NoFootage(Exception):
    """Nothing is recorded at (or just before) the instant; the message says how far the
    nearest footage is, when that is known."""

    def __init__(self, message: str, nearest_us: int | None = None) -> None:
        super().__init__(message)
        self.nearest_us = nearest_us
        """UTC µs of the nearest recorded instant (start or end of a span), if any."""


class StillError(Exception):
    """Footage exists but gives no picture: a file that cannot be read or decoded."""


@dataclass(frozen=True, slots=True)
class Still:
    """A recorded picture."""

    jpeg: bytes
    width: int
    height: int
    time_us: int
    """UTC µs of the frame shown: the key frame at or before the instant asked for."""


@dataclass(frozen=True, slots=True)
class KeyFragment:
    """Where a key frame is: a fragment starting with one, in a segment file."""

    path: Path
    init_bytes: int
    offset: int
    """Byte offset of the fragment's ``moof``."""
    time_us: int
    """UTC µs of its first (key) frame."""


# --- pure parts -------------------------------------------------------------------------

def key_entry(seek: Sequence[tuple[int, int]], offset_us: int) -> tuple[int, int] | None:
    """The seek index entry (µs from the segment start, byte offset) of the last key
    fragment starting at or before ``offset_us``; None if there is none."""
    index = bisect.bisect_right(seek, offset_us, key=lambda entry: entry[0]) - 1
    return seek[index] if index >= 0 else None


def describe_us(us: int) -> str:
    """A duration as a person reads it: ``45 s``, ``3 min 20 s``, ``2 h 5 min``."""
    seconds = max(0, round(us / 1_000_000))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(seconds // 60, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


# --- blocking parts (worker threads) ------------------------------------------------------

def read_key_fragment(fragment: KeyFragment) -> bytes:
    """The init segment followed by the fragment at ``fragment.offset``: a fragmented
    MP4 of one fragment. Reads two box headers and the bytes themselves."""
    with open(fragment.path, "rb", buffering=0) as f:
        fd = f.fileno()
        init = os.pread(fd, fragment.init_bytes, 0)
        if len(init) != fragment.init_bytes:
            raise StillError(f"{fragment.path} is shorter than its init segment")
        moof = _box_size(fd, fragment.offset, "moof", fragment.path)
        mdat = _box_size(fd, fragment.offset + moof, "mdat", fragment.path)
        size = moof + mdat
        if size > MAX_FRAGMENT_BYTES:
            raise StillError(f"{fragment.path}: the fragment at byte {fragment.offset} is "
                             f"{size} bytes long, more than the recorder writes")
        data = os.pread(fd, size, fragment.offset)
    if len(data) != size:
        raise StillError(f"{fragment.path}: the fragment at byte {fragment.offset} is cut "
                         "short")
    return init + data


def _box_size(fd: int, offset: int, fourcc: str, path: Path) -> int:
    header = os.pread(fd, 16, offset)
    if len(header) < _BOX.size:
        raise StillError(f"{path}: no {fourcc} box at byte {offset} (the file ends)")
    size, kind = _BOX.unpack_from(header)
    if kind != fourcc.encode():
        raise StillError(f"{path}: expected a {fourcc} box at byte {offset}, found "
                         f"{kind!r} (the seek index does not match the file)")
    if size == 1 and len(header) == 16:
        size = _LARGE.unpack_from(header, 8)[0]
    if size < _BOX.size:
        raise StillError(f"{path}: the {fourcc} box at byte {offset} has a bad size "
                         f"({size})")
    return int(size)


def decode_first_frame(data: bytes) -> av.VideoFrame:
    """The first video frame of a fragmented MP4 held in memory."""
    try:
        with av.open(io.BytesIO(data), "r", format="mp4") as container:
            if not container.streams.video:
                raise StillError("the recording has no video track")
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            for frame in container.decode(stream):
                if frame.width and frame.height:
                    return frame
    except av.error.FFmpegError as exc:
        raise StillError(f"the recorded key frame could not be decoded: {exc}") from exc
    raise StillError("the recorded fragment decoded to no picture")


def make_still(fragment: KeyFragment, level: int, width: int | None) -> Still:
    """Read, decode, scale and encode the key frame of ``fragment``. Blocking."""
    try:
        picture: Picture = encode_jpeg(decode_first_frame(read_key_fragment(fragment)),
                                       level, width)
    except PictureError as exc:
        raise StillError(str(exc)) from exc
    return Still(picture.jpeg, picture.width, picture.height, fragment.time_us)


def open_segment_seek(path: Path) -> tuple[tuple[tuple[int, int], ...], int]:
    """(seek index, µs of footage) of a segment being written, from its file: what the
    catalog will know once it closes (as ``reconcile.py`` computes it)."""
    scan = scan_file(path)
    video = scan.init.video() if scan.init is not None else None
    if video is None:
        return (), 0
    scale = 1_000_000 / video.timescale
    seek: list[tuple[int, int]] = []
    end = 0
    for fragment in scan.fragments:
        run = fragment.run(video.track_id)
        if run is None:
            continue
        if run.starts_with_sync:
            seek.append((round(run.base_decode_time * scale), fragment.offset))
        end = round(run.end_decode_time * scale)
    return tuple(seek), end


# --- the service ------------------------------------------------------------------------

_CacheKey = tuple[str, int, int | None, int]


class StillService(Service):
    """Recorded pictures for the API (see the module doc)."""

    name = "stills"

    def __init__(self, config: NvrConfig, storage: StorageService) -> None:
        super().__init__()
        self._storage = storage
        self._quality = config.snapshots.quality
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._cache: OrderedDict[_CacheKey, Still] = OrderedDict()
        self._cache_bytes = 0
        self._pending: dict[_CacheKey, asyncio.Future[Still]] = {}

    async def start(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(WORKERS,
                                                               thread_name_prefix="still")

    async def stop(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
        self._cache.clear()
        self._cache_bytes = 0

    async def apply_config(self, config: NvrConfig) -> None:
        self._quality = config.snapshots.quality

    async def at(self, channel: int, stream: str, at_us: int, width: int | None) -> Still:
        """The picture of ``channel``'s ``stream`` at ``at_us`` (UTC µs), scaled down to
        ``width``: raises :class:`NoFootage` or :class:`StillError`."""
        fragment = await self.locate(channel, stream, at_us)
        key: _CacheKey = (str(fragment.path), fragment.offset, width, self._quality)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        future = self._pending.get(key)
        if future is None:
            executor = self._executor
            if executor is None:
                raise StillError("the picture service is not running (the recorder is "
                                 "starting or stopping)")
            future = asyncio.get_running_loop().run_in_executor(
                executor, make_still, fragment, self._quality, width)
            self._pending[key] = future
            future.add_done_callback(lambda done: self._done(key, done))
        try:
            return await asyncio.shield(future)
        except FileNotFoundError:
            raise NoFootage(f"channel {channel} ({stream} stream): the recording at "
                            "this instant was deleted meanwhile (retention)") from None
        except OSError as exc:
            raise StillError(f"the recording {fragment.path} cannot be read: {exc}") from exc

    async def locate(self, channel: int, stream: str, at_us: int) -> KeyFragment:
        """The key fragment at or before ``at_us`` in the footage covering it."""
        found = await self._storage.recorded_segments(channel, stream, at_us - LOOKBACK_US,
                                                      at_us + 1)
        candidates = sorted((s for s in found if s.row.start_us <= at_us),
                            key=lambda s: (s.row.start_us, s.row.id), reverse=True)
        for segment in candidates:
            fragment = await self._key_fragment(segment, at_us)
            if fragment is not None:
                return fragment
        raise await self._no_footage(channel, stream, at_us)

    async def _key_fragment(self, segment: RecordedSegment, at_us: int
                            ) -> KeyFragment | None:
        row = segment.row
        seek, end_us = row.fragments, row.end_us
        if row.state == "open" or not seek:
            try:
                seek, footage_us = await asyncio.to_thread(open_segment_seek, segment.path)
            except (OSError, Fmp4Error) as exc:
                logger.debug("%s cannot be scanned: %s", segment.path, exc)
                return None
            end_us = max(end_us, row.start_us + footage_us)
        if at_us >= end_us + GAP_TOLERANCE_US:
            return None
        entry = key_entry(seek, at_us - row.start_us)
        if entry is None:
            return None
        offset_us, offset = entry
        return KeyFragment(segment.path, row.init_bytes, offset, row.start_us + offset_us)

    async def _no_footage(self, channel: int, stream: str, at_us: int) -> NoFootage:
        """The refusal, with the distance to the nearest footage (one interval query)."""
        what = f"channel {channel} ({stream} stream): nothing is recorded at this instant"
        spans = await self._storage.intervals(channel, stream, at_us - NEAREST_WINDOW_US,
                                              at_us + NEAREST_WINDOW_US)
        before = [s.end_us for s in spans if s.end_us <= at_us]
        after = [s.start_us for s in spans if s.start_us > at_us]
        options = [(at_us - max(before), "ends", "before", max(before))] if before else []
        if after:
            options.append((min(after) - at_us, "starts", "after", min(after)))
        if not options:
            return NoFootage(f"{what}, nor within a day of it")
        distance, verb, side, nearest = min(options)
        return NoFootage(f"{what}; the nearest footage {verb} {describe_us(distance)} "
                         f"{side} it", nearest)

    def _done(self, key: _CacheKey, done: asyncio.Future[Still]) -> None:
        self._pending.pop(key, None)
        if done.cancelled() or done.exception() is not None:
            return
        still = done.result()
        size = len(still.jpeg)
        if size > CACHE_MAX_PICTURE_BYTES or key in self._cache:
            return
        self._cache[key] = still
        self._cache_bytes += size
        while self._cache_bytes > CACHE_BYTES:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= len(old.jpeg)
