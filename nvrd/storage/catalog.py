"""The per-volume catalog: which segments the volume holds, ``<volume>/catalog.sqlite3``.

The catalog lives on the disk it describes, so a disk moved to another box brings its
index along (the ``meta`` table records the volume uuid, and a catalog of another volume
is refused). SQLite in WAL mode: readers (playback, timeline) never block the writer.

Durability: ``synchronous=NORMAL`` in WAL mode means a power cut may lose the last
commits but never corrupts the file. That is enough because the files are the truth:
a segment file is fsynced before its row is written, deletions go through
``pending_delete``, and start-up reconciliation (``reconcile.py``) re-indexes files
without rows and drops rows without files.

Deletion protocol (crash-safe at every step):

1. :meth:`Catalog.queue_deletions` moves rows from ``segments`` to ``pending_delete`` in
   one transaction and commits;
2. the caller unlinks the files and fsyncs their directories;
3. :meth:`Catalog.finish_deletions` removes the ``pending_delete`` rows.

A crash between 1 and 3 leaves ``pending_delete`` rows that reconciliation finishes.

Overlap queries: a segment ``[start, end)`` overlaps ``[q0, q1)`` iff ``start < q1`` and
``end > q0``. Only ``start_us`` is indexed, so the scan is bounded below by
``start > q0 - max_duration_us``, where ``meta.max_duration_us`` is the longest segment
ever recorded on the volume (kept by a trigger on every insert and update, so it can
never be stale; it never shrinks, which only loosens the bound).

Per-channel totals: a ``channel_totals`` table maintained by triggers in the same
transaction as the row change, so it cannot drift, and retention (which asks after
every segment) reads a handful of rows instead of summing millions.

Threads: a :class:`Catalog` belongs to the volume's writer thread (SQLite enforces that
it is used only by the thread that opened it). A :class:`CatalogReader` opens the file
read-only and likewise belongs to the thread that created it.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import struct
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from nvrd.storage.model import ALL_RECORD_TYPES

logger = logging.getLogger(__name__)

CATALOG_FILE = "catalog.sqlite3"
SCHEMA_VERSION = 1
ALL = int(ALL_RECORD_TYPES)
STREAMS = ("main", "sub")
END_REASONS = ("rotate", "stop", "disconnect", "clock-step", "crash-recovered",
               "orphan-recovered")
"""The end reasons nvrd writes; the column is free text so new reasons need no migration."""

_T = TypeVar("_T")
_CHUNK = 500  # ids per "IN (...)" statement, well under SQLite's variable limit
_FRAGMENT = struct.Struct("<qq")

_SCHEMA = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value NOT NULL
);
CREATE TABLE segments (
    id INTEGER PRIMARY KEY,
    channel INTEGER NOT NULL,
    stream TEXT NOT NULL CHECK (stream IN ('main', 'sub')),
    run_start_us INTEGER NOT NULL,
    start_us INTEGER NOT NULL,
    end_us INTEGER NOT NULL CHECK (end_us >= start_us),
    bytes INTEGER NOT NULL,
    path TEXT NOT NULL UNIQUE,          -- relative to the volume root
    types INTEGER NOT NULL,             -- RecordType flags
    locked INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1)),
    state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    codec TEXT NOT NULL,
    width INTEGER,
    height INTEGER,
    init_bytes INTEGER NOT NULL,
    fragments BLOB NOT NULL DEFAULT x'', -- little-endian int64 pairs (offset_us, byte_offset)
    end_reason TEXT
);
CREATE INDEX segments_by_stream ON segments (channel, stream, start_us);
CREATE INDEX segments_by_start ON segments (start_us);
CREATE INDEX segments_open ON segments (id) WHERE state = 'open';
CREATE TABLE pending_delete (
    path TEXT PRIMARY KEY,
    queued_us INTEGER NOT NULL
);
CREATE TABLE channel_totals (
    channel INTEGER PRIMARY KEY,
    bytes INTEGER NOT NULL,
    segments INTEGER NOT NULL
);
CREATE TRIGGER segments_totals_insert AFTER INSERT ON segments BEGIN
    INSERT INTO channel_totals (channel, bytes, segments) VALUES (NEW.channel, NEW.bytes, 1)
        ON CONFLICT (channel) DO UPDATE SET bytes = bytes + excluded.bytes,
                                            segments = segments + 1;
END;
CREATE TRIGGER segments_totals_delete AFTER DELETE ON segments BEGIN
    UPDATE channel_totals SET bytes = bytes - OLD.bytes, segments = segments - 1
        WHERE channel = OLD.channel;
END;
CREATE TRIGGER segments_totals_update AFTER UPDATE OF bytes, channel ON segments
WHEN OLD.bytes != NEW.bytes OR OLD.channel != NEW.channel BEGIN
    UPDATE channel_totals SET bytes = bytes - OLD.bytes, segments = segments - 1
        WHERE channel = OLD.channel;
    INSERT INTO channel_totals (channel, bytes, segments) VALUES (NEW.channel, NEW.bytes, 1)
        ON CONFLICT (channel) DO UPDATE SET bytes = bytes + excluded.bytes,
                                            segments = segments + 1;
END;
CREATE TRIGGER segments_max_duration_insert AFTER INSERT ON segments
WHEN NEW.end_us - NEW.start_us > (SELECT value FROM meta WHERE key = 'max_duration_us') BEGIN
    UPDATE meta SET value = NEW.end_us - NEW.start_us WHERE key = 'max_duration_us';
END;
CREATE TRIGGER segments_max_duration_update AFTER UPDATE OF start_us, end_us ON segments
WHEN NEW.end_us - NEW.start_us > (SELECT value FROM meta WHERE key = 'max_duration_us') BEGIN
    UPDATE meta SET value = NEW.end_us - NEW.start_us WHERE key = 'max_duration_us';
END;
"""

_COLUMNS = ("id, channel, stream, run_start_us, start_us, end_us, bytes, path, types, locked, "
            "state, codec, width, height, init_bytes, fragments, end_reason")
_MAX_DURATION = "(SELECT value FROM meta WHERE key = 'max_duration_us')"
# Overlap with [?start, ?end): the lower bound on start_us keeps the scan on the index.
_OVERLAPS = (f":start < :end AND start_us > :start - {_MAX_DURATION} AND start_us < :end "
             "AND end_us > :start")


class CatalogError(Exception):
    """The catalog cannot be used or was asked something impossible; names the path."""


@dataclass(frozen=True, slots=True)
class NewSegment:
    """What the writer knows when it creates a segment file."""

    channel: int
    stream: str
    run_start_us: int
    start_us: int
    path: str
    """Relative to the volume root (``SegmentName.relpath()``)."""
    types: int
    codec: str
    width: int | None
    height: int | None
    init_bytes: int


@dataclass(frozen=True, slots=True)
class SegmentRow:
    id: int
    channel: int
    stream: str
    run_start_us: int
    start_us: int
    end_us: int
    bytes: int
    path: str
    types: int
    locked: bool
    state: str
    """'open' while being written (end_us and bytes lag the file), then 'closed'."""
    codec: str
    width: int | None
    height: int | None
    init_bytes: int
    fragments: tuple[tuple[int, int], ...]
    """Seek index: (µs from the segment start, byte offset of the moof) per fragment that
    starts with a keyframe."""
    end_reason: str | None


def pack_fragments(fragments: Iterable[tuple[int, int]]) -> bytes:
    """The ``fragments`` column for a seek index."""
    return b"".join(_FRAGMENT.pack(offset_us, byte) for offset_us, byte in fragments)


def unpack_fragments(blob: bytes) -> tuple[tuple[int, int], ...]:
    if len(blob) % _FRAGMENT.size:
        raise CatalogError(f"damaged seek index ({len(blob)} bytes, not a multiple of "
                           f"{_FRAGMENT.size})")
    return tuple(_FRAGMENT.iter_unpack(blob))


def _row(values: tuple[Any, ...]) -> SegmentRow:
    (id_, channel, stream, run_start_us, start_us, end_us, size, path, types, locked, state,
     codec, width, height, init_bytes, fragments, end_reason) = values
    return SegmentRow(id_, channel, stream, run_start_us, start_us, end_us, size, path, types,
                      bool(locked), state, codec, width, height, init_bytes,
                      unpack_fragments(fragments), end_reason)


def _statements(script: str) -> Iterator[str]:
    """Split a schema script into statements (``executescript`` would commit first)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement: {pending!r}")


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _check_meta(db: sqlite3.Connection, path: Path) -> tuple[int, str]:
    """Schema version and volume uuid; refuses a catalog this version cannot read."""
    try:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError as exc:
        raise CatalogError(f"{path} is not an nvrd catalog or is damaged: {exc}") from exc
    version, volume_uuid = meta.get("schema_version"), meta.get("volume_uuid")
    if not isinstance(version, int) or not isinstance(volume_uuid, str) \
            or "max_duration_us" not in meta:
        raise CatalogError(f"{path} is damaged: its meta table is incomplete")
    if version > SCHEMA_VERSION:
        raise CatalogError(f"{path} has schema version {version}, written by a newer nvrd; "
                           f"this version reads up to {SCHEMA_VERSION}")
    if version < SCHEMA_VERSION:
        raise CatalogError(f"{path} has schema version {version}, which this version "
                           "cannot upgrade")
    return version, volume_uuid


class Catalog:
    """The write side. Changes accumulate in one transaction until :meth:`commit`, so
    the owner batches several segments' updates into one fsync; the deletion-protocol
    and lock methods commit themselves because their callers act on the result."""

    def __init__(self, volume_root: Path, volume_uuid: str) -> None:
        self.path = Path(volume_root) / CATALOG_FILE
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise CatalogError(f"cannot open the catalog {self.path}: {exc}") from exc
        try:
            self._setup(volume_uuid)
        except BaseException:
            self._db.close()
            raise

    def _setup(self, volume_uuid: str) -> None:
        db = self._db
        try:
            db.execute("PRAGMA busy_timeout = 5000")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("BEGIN IMMEDIATE")
            exists = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
            if not exists:
                for statement in _statements(_SCHEMA):
                    db.execute(statement)
                db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [
                    ("schema_version", SCHEMA_VERSION), ("volume_uuid", volume_uuid),
                    ("max_duration_us", 0)])
                logger.info("created the catalog %s for volume %s", self.path, volume_uuid)
            db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"cannot use the catalog {self.path}: {exc} "
                               "(damaged file or failing disk)") from exc
        if mode.lower() != "wal":
            raise CatalogError(f"{self.path}: the filesystem does not support SQLite's WAL "
                               f"mode (journal mode is {mode})")
        _, stored_uuid = _check_meta(db, self.path)
        if stored_uuid != volume_uuid:
            raise CatalogError(
                f"{self.path} belongs to volume {stored_uuid}, not to volume {volume_uuid} "
                "whose identity file is next to it; refusing to use it (was the catalog "
                "copied from another disk?)")

    # -- transactions ---------------------------------------------------------------------

    def _write(self, sql: str, params: Sequence[object] | dict[str, object] = ()
               ) -> sqlite3.Cursor:
        if not self._db.in_transaction:
            self._db.execute("BEGIN IMMEDIATE")
        return self._db.execute(sql, params)

    def commit(self) -> None:
        """Make everything written since the last commit durable (one WAL sync)."""
        if self._db.in_transaction:
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Commit what is pending and close."""
        with contextlib.suppress(sqlite3.ProgrammingError):  # already closed
            self.commit()
        self._db.close()

    # -- segments being written -----------------------------------------------------------

    def insert_open(self, seg: NewSegment) -> int:
        """A segment the writer has just created (its init segment is on disk)."""
        return self._insert(seg, end_us=seg.start_us, size=seg.init_bytes, state="open",
                            fragments=b"", end_reason=None)

    def update_open(self, id: int, end_us: int, bytes: int, types: int) -> None:
        """Progress of an open segment. ``types`` is OR-ed in: a reason that applied to
        part of the segment stays on it."""
        cur = self._write("UPDATE segments SET end_us = ?, bytes = ?, types = types | ? "
                          "WHERE id = ? AND state = 'open'", (end_us, bytes, types, id))
        if cur.rowcount != 1:
            raise CatalogError(f"{self.path}: no open segment with id {id}")

    def close_segment(self, id: int, end_us: int, bytes: int, types: int,
                      fragments: Sequence[tuple[int, int]], end_reason: str) -> None:
        """The writer finished (and fsynced) the segment's file."""
        cur = self._write(
            "UPDATE segments SET end_us = ?, bytes = ?, types = types | ?, fragments = ?, "
            "end_reason = ?, state = 'closed' WHERE id = ? AND state = 'open'",
            (end_us, bytes, types, pack_fragments(fragments), end_reason, id))
        if cur.rowcount != 1:
            raise CatalogError(f"{self.path}: no open segment with id {id}")

    def insert_closed(self, seg: NewSegment, end_us: int, bytes: int,
                      fragments: Sequence[tuple[int, int]], end_reason: str) -> int:
        """A complete segment in one step (reconciliation of a file without a row)."""
        return self._insert(seg, end_us=end_us, size=bytes, state="closed",
                            fragments=pack_fragments(fragments), end_reason=end_reason)

    def _insert(self, seg: NewSegment, *, end_us: int, size: int, state: str,
                fragments: bytes, end_reason: str | None) -> int:
        try:
            cur = self._write(
                "INSERT INTO segments (channel, stream, run_start_us, start_us, end_us, bytes, "
                "path, types, state, codec, width, height, init_bytes, fragments, end_reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (seg.channel, seg.stream, seg.run_start_us, seg.start_us, end_us, size,
                 seg.path, seg.types, state, seg.codec, seg.width, seg.height, seg.init_bytes,
                 fragments, end_reason))
        except sqlite3.IntegrityError as exc:
            raise CatalogError(f"{self.path}: cannot add segment {seg.path}: {exc}") from exc
        assert cur.lastrowid is not None
        return cur.lastrowid

    # -- deletion ---------------------------------------------------------------------------

    def delete_rows(self, ids: Sequence[int]) -> None:
        """Forget rows whose files are already gone (no deletion protocol needed)."""
        for chunk in _chunks(list(ids)):
            self._write(f"DELETE FROM segments WHERE id IN ({_marks(len(chunk))})", chunk)

    def queue_deletions(self, ids: Sequence[int], *, now_us: int | None = None
                        ) -> list[SegmentRow]:
        """Step 1 of the deletion protocol for closed, unlocked segments (locked or open
        ids are skipped: a locked segment is never deleted, an open one is being written).
        Commits; returns the rows queued, oldest first: unlink their files next."""
        queued_us = time.time_ns() // 1000 if now_us is None else now_us
        queued: list[SegmentRow] = []
        for chunk in _chunks(list(ids)):
            queued += self._select(
                f"id IN ({_marks(len(chunk))}) AND locked = 0 AND state = 'closed'", chunk)
        for row in queued:
            self._write("INSERT OR REPLACE INTO pending_delete (path, queued_us) VALUES (?, ?)",
                        (row.path, queued_us))
        self.delete_rows([row.id for row in queued])
        self.commit()
        queued.sort(key=lambda row: (row.start_us, row.id))
        return queued

    def pending_deletions(self) -> list[str]:
        """Paths queued for deletion whose removal may not have finished."""
        return [path for (path,) in self._db.execute(
            "SELECT path FROM pending_delete ORDER BY queued_us, path")]

    def finish_deletions(self, paths: Sequence[str]) -> None:
        """Step 3: the files are unlinked and their directories fsynced. Commits."""
        for chunk in _chunks(list(paths)):
            self._write(f"DELETE FROM pending_delete WHERE path IN ({_marks(len(chunk))})",
                        chunk)
        self.commit()

    # -- locks ------------------------------------------------------------------------------

    def set_locked(self, channel: int, stream: str | None, start_us: int, end_us: int,
                   locked: bool) -> int:
        """Lock (protect from retention) or unlock the segments of a channel overlapping
        ``[start_us, end_us)``, of one stream or both. Commits; returns how many matched."""
        streams = STREAMS if stream is None else (stream,)
        cur = self._write(
            f"UPDATE segments SET locked = :locked WHERE channel = :channel "
            f"AND stream IN ({','.join(f':s{i}' for i in range(len(streams)))}) AND {_OVERLAPS}",
            {"locked": int(locked), "channel": channel, "start": start_us, "end": end_us,
             **{f"s{i}": s for i, s in enumerate(streams)}})
        self.commit()
        return cur.rowcount

    # -- queries for the owner --------------------------------------------------------------

    def _select(self, where: str, params: Sequence[object] | dict[str, object] = (),
                tail: str = "") -> list[SegmentRow]:
        return [_row(r) for r in self._db.execute(
            f"SELECT {_COLUMNS} FROM segments WHERE {where} {tail}", params)]

    def open_segments(self) -> list[SegmentRow]:
        """Rows still 'open': after a crash, segments whose file may have a torn tail."""
        return self._select("state = 'open'", (), "ORDER BY id")

    def directories(self) -> list[str]:
        """The distinct directories of segment paths (``rec/ch003/main/2026-11-21``),
        with one index seek per directory instead of a scan of every row. Segment paths
        are :class:`~nvrd.storage.model.SegmentName` paths, all at the same depth; a
        directory's subdirectories are skipped with it."""
        found: list[str] = []
        cursor = ""
        while (hit := self._db.execute("SELECT path FROM segments WHERE path >= ? "
                                       "ORDER BY path LIMIT 1", (cursor,)).fetchone()):
            directory, slash, _ = hit[0].rpartition("/")
            if not slash:  # not in a directory: step past this one path
                cursor = hit[0] + "\x00"
                continue
            found.append(directory)
            cursor = directory + "0"  # '0' sorts right after '/': past "<directory>/..."
        return found

    def paths_in(self, directory: str) -> dict[str, int]:
        """Path → id of the segments directly in ``directory`` (an index range)."""
        prefix = directory + "/"
        rows = self._db.execute("SELECT path, id FROM segments WHERE path >= ? AND path < ?",
                                (prefix, directory + "0"))
        return {path: id_ for path, id_ in rows if "/" not in path[len(prefix):]}

    def oldest_unlocked(self, limit: int, *, channel: int | None = None,
                        before_us: int | None = None) -> list[SegmentRow]:
        """Retention candidates: closed, unlocked segments, oldest first; with
        ``before_us``, only those that ended by then (expiry by age)."""
        where = ["state = 'closed'", "locked = 0"]
        params: dict[str, object] = {"limit": limit}
        if before_us is not None:
            where.append("end_us <= :before")
            params["before"] = before_us
        tail = "ORDER BY start_us, id LIMIT :limit"
        if channel is None:
            return self._select(" AND ".join(where), params, tail)
        # One query per stream walks (channel, stream, start_us) in order; a single
        # query on the channel would sort all of its rows (40 ms at 44 000 rows).
        where.append("channel = :channel AND stream = :stream")
        found: list[SegmentRow] = []
        for stream in STREAMS:
            found += self._select(" AND ".join(where),
                                  {**params, "channel": channel, "stream": stream}, tail)
        found.sort(key=lambda row: (row.start_us, row.id))
        return found[:limit]

    def bytes_by_channel(self) -> dict[int, int]:
        return {channel: size for channel, size in self._db.execute(
            "SELECT channel, bytes FROM channel_totals WHERE segments > 0 ORDER BY channel")}

    def total_bytes(self) -> int:
        return int(self._db.execute(
            "SELECT COALESCE(SUM(bytes), 0) FROM channel_totals").fetchone()[0])

    def oldest_start_us(self) -> int | None:
        """Start of the oldest footage on the volume (locked included)."""
        value = self._db.execute("SELECT MIN(start_us) FROM segments").fetchone()[0]
        return None if value is None else int(value)


@dataclass(frozen=True, slots=True)
class Interval:
    """A recorded span ``[start_us, end_us)`` and why it was recorded (RecordType flags)."""

    start_us: int
    end_us: int
    types: int


class CatalogReader:
    """The read side for playback and timelines: a read-only connection that sees the
    last committed state. Belongs to the thread that created it."""

    def __init__(self, volume_root: Path) -> None:
        self.path = Path(volume_root) / CATALOG_FILE
        if not self.path.is_file():
            raise CatalogError(f"{self.path} does not exist: the volume has no catalog yet "
                               "(it is created when recording starts)")
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        try:
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            raise CatalogError(f"cannot open the catalog {self.path}: {exc}") from exc
        try:
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute("PRAGMA query_only = 1")
            _check_meta(self._db, self.path)
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> CatalogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, select: str, where: str, params: dict[str, object], tail: str = ""
               ) -> sqlite3.Cursor:
        try:
            return self._db.execute(f"SELECT {select} FROM segments WHERE {where} {tail}",
                                    params)
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"cannot read the catalog {self.path}: {exc}") from exc

    def segments(self, channel: int, stream: str, start_us: int, end_us: int,
                 type_mask: int = ALL) -> list[SegmentRow]:
        """Segments overlapping ``[start_us, end_us)`` with any of ``type_mask``'s types,
        by start time."""
        return [_row(r) for r in self._query(
            _COLUMNS, f"channel = :channel AND stream = :stream AND {_OVERLAPS} "
                      "AND types & :mask != 0",
            {"channel": channel, "stream": stream, "start": start_us, "end": end_us,
             "mask": type_mask}, "ORDER BY start_us, id")]

    def segments_at(self, channel: int, stream: str, instant_us: int) -> list[SegmentRow]:
        """Segments covering an instant (``start <= t < end``); usually one, two where
        recordings overlap (clock stepped back)."""
        return [_row(r) for r in self._query(
            _COLUMNS, f"channel = :channel AND stream = :stream AND start_us > :t - "
                      f"{_MAX_DURATION} AND start_us <= :t AND end_us > :t",
            {"channel": channel, "stream": stream, "t": instant_us}, "ORDER BY start_us, id")]

    def intervals(self, channel: int, stream: str, start_us: int, end_us: int,
                  type_mask: int = ALL) -> list[Interval]:
        """What :meth:`segments` finds, as bare intervals for timelines: about ten times
        cheaper, since the seek indexes are neither read nor decoded."""
        return [Interval(*r) for r in self._query(
            "start_us, end_us, types", f"channel = :channel AND stream = :stream AND "
                                       f"{_OVERLAPS} AND types & :mask != 0",
            {"channel": channel, "stream": stream, "start": start_us, "end": end_us,
             "mask": type_mask}, "ORDER BY start_us, id")]

    def locked_intervals(self, channel: int, stream: str, start_us: int, end_us: int
                         ) -> list[Interval]:
        """The locked segments overlapping ``[start_us, end_us)`` as bare intervals, by
        start time (the timeline's lock marks; retention never deletes these)."""
        return [Interval(*r) for r in self._query(
            "start_us, end_us, types", f"channel = :channel AND stream = :stream AND "
                                       f"{_OVERLAPS} AND locked = 1",
            {"channel": channel, "stream": stream, "start": start_us, "end": end_us},
            "ORDER BY start_us, id")]

    def oldest_start_by_channel(self) -> dict[int, int]:
        """Per channel with footage, the start of its oldest segment (locked included):
        data derived from recordings (motion bitmaps) is useless before it. One indexed
        ``MIN`` per channel and stream, not a scan."""
        try:
            channels = [int(c) for (c,) in self._db.execute(
                "SELECT channel FROM channel_totals WHERE segments > 0")]
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"cannot read the catalog {self.path}: {exc}") from exc
        oldest: dict[int, int] = {}
        for channel in channels:
            starts = [row[0] for stream in STREAMS for row in self._query(
                "MIN(start_us)", "channel = :channel AND stream = :stream",
                {"channel": channel, "stream": stream}) if row[0] is not None]
            if starts:
                oldest[channel] = int(min(starts))
        return oldest

    def has_recording(self, channel: int, stream: str, start_us: int, end_us: int,
                      type_mask: int = ALL) -> bool:
        """Whether anything overlaps ``[start_us, end_us)``: the calendar's per-day probe."""
        return self._query(
            "1", f"channel = :channel AND stream = :stream AND {_OVERLAPS} "
                 "AND types & :mask != 0",
            {"channel": channel, "stream": stream, "start": start_us, "end": end_us,
             "mask": type_mask}, "LIMIT 1").fetchone() is not None
