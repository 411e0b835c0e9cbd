"""JPEG snapshots as files in the data directory, indexed in ``snapshots.db`` next to them.

Layout: ``<data dir>/snapshots/chNNN/YYYY-MM-DD/<time_us>.jpg`` (the UTC date of the
snapshot) and ``<data dir>/snapshots/snapshots.db``. Why the data directory and not the
recording volumes: snapshots are small, their index must answer across disks, and a
snapshot of an alarm must not wait for a disk to be attached. The cost is bounded by
``max_bytes``.

Invariants (the numbers are cited in the code):

1. A row exists only for a complete, durable file. Adding is: write ``.<name>.tmp-…``,
   fsync it, rename it to ``<name>.jpg``, fsync the directory, then insert the row. The
   row is the commit point: a crash before it leaves a file without a row.
2. ``time_us`` is unique in the store (a collision, two pictures of one key frame, is
   moved on by 1 µs), so it names the file and orders and pages snapshots exactly.
3. The files' total size stays within ``max_bytes``: after each add (and when the limit
   shrinks) the oldest snapshots go, rows first (one transaction), then their files.
   A crash between the two leaves files without rows.
4. Opening reconciles: ``.tmp-`` files (interrupted writes) and files without a row
   (inv. 1 and 3) are deleted; rows whose file is gone are dropped; empty directories are
   removed; then inv. 3 is enforced (the limit may have shrunk while stopped).

Threads: any thread may call any method; one SQLite connection behind a lock. Writes
block (fsync): callers on the event loop use a worker thread.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nvrd.config.atomic import atomic_write_bytes, fsync_directory

logger = logging.getLogger(__name__)

DB_NAME = "snapshots.db"
REASONS = ("event", "manual")
PRUNE_BATCH = 256
"""Oldest rows looked at per round when the size limit is exceeded."""
SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshot (
    id INTEGER PRIMARY KEY,
    channel INTEGER NOT NULL,
    time_us INTEGER NOT NULL UNIQUE,  -- UTC µs when the key frame arrived (inv. 2)
    reason TEXT NOT NULL,             -- 'event' | 'manual'
    event_id INTEGER,                 -- the event log's id, for reason 'event'
    path TEXT NOT NULL UNIQUE,        -- relative to the snapshots directory
    bytes INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshot_channel_time ON snapshot (channel, time_us);
"""
_COLUMNS = "id, channel, time_us, reason, event_id, path, bytes, width, height"
_CHANNEL_DIR = re.compile(r"ch\d{3,}")
_DAY_DIR = re.compile(r"\d{4}-\d{2}-\d{2}")
_TEMP_MARKER = ".tmp-"
"""In the names ``atomic_write_bytes`` gives its temporary files (``.<name>.tmp-…``)."""


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """One stored snapshot, as indexed."""

    id: int
    channel: int
    time_us: int
    reason: str
    """``event`` (linkage) or ``manual`` (someone asked)."""
    event_id: int | None
    path: str
    """Relative to the snapshots directory: ``ch003/2025-05-01/1746057600000000.jpg``."""
    size_bytes: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    parts_removed: int = 0
    orphan_files_removed: int = 0
    rows_dropped: int = 0
    """Rows whose file was gone."""
    pruned: int = 0
    """Snapshots deleted to get within the size limit."""


def relative_path(channel: int, time_us: int) -> str:
    day = dt.datetime.fromtimestamp(time_us / 1e6, dt.UTC).strftime("%Y-%m-%d")
    return f"ch{channel:03d}/{day}/{time_us}.jpg"


class SnapshotStore:
    """See the module docstring; ``open`` before use, ``close`` after."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._total = 0

    # --- lifecycle ---------------------------------------------------------------------

    def open(self) -> ReconcileReport:
        """Create or open the index and reconcile it with the files (inv. 4)."""
        self.root.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.root / DB_NAME, check_same_thread=False,
                             isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # a returned record survives a power cut
            db.executescript(SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        with self._lock:
            self._db = db
            report = self._reconcile(db)
        if report != ReconcileReport():
            logger.warning("snapshots reconciled: %d interrupted write(s) and %d file(s) "
                           "without an index row removed, %d row(s) without a file "
                           "dropped, %d deleted for the size limit",
                           report.parts_removed, report.orphan_files_removed,
                           report.rows_dropped, report.pruned)
        return report

    def close(self) -> None:
        with self._lock:
            db, self._db = self._db, None
            if db is not None:
                db.close()

    @property
    def total_bytes(self) -> int:
        return self._total

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    def set_max_bytes(self, max_bytes: int) -> int:
        """Change the size limit; returns how many snapshots were deleted to meet it."""
        with self._lock:
            self._max_bytes = max_bytes
            return self._prune(self._conn())

    # --- writing -----------------------------------------------------------------------

    def add(self, channel: int, time_us: int, reason: str, event_id: int | None,
            jpeg: bytes, width: int, height: int) -> SnapshotRecord:
        """Store a JPEG (inv. 1-3); its ``time_us`` may come back 1 µs later (inv. 2)."""
        if reason not in REASONS:
            raise ValueError(f"a snapshot's reason is one of {', '.join(REASONS)}, "
                             f"not {reason!r}")
        with self._lock:
            db = self._conn()
            while db.execute("SELECT 1 FROM snapshot WHERE time_us = ?",
                             (time_us,)).fetchone() is not None:
                time_us += 1
            path = relative_path(channel, time_us)
            self._write_file(self.root / path, jpeg)
            try:
                cursor = db.execute(
                    "INSERT INTO snapshot (channel, time_us, reason, event_id, path, bytes, "
                    "width, height) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (channel, time_us, reason, event_id, path, len(jpeg), width, height))
            except sqlite3.Error:
                _unlink(self.root / path)
                raise
            self._total += len(jpeg)
            record = SnapshotRecord(int(cursor.lastrowid or 0), channel, time_us, reason,
                                    event_id, path, len(jpeg), width, height)
            self._prune(db)
        return record

    def _write_file(self, path: Path, data: bytes) -> None:
        """Inv. 1: the project's atomic write (temporary file, fsync, rename, fsync the
        directory)."""
        _make_dirs(path.parent, self.root)
        atomic_write_bytes(path, data)

    # --- reading -----------------------------------------------------------------------

    def find(self, channel: int | None, start_us: int, end_us: int, limit: int, *,
             channels: Collection[int] | None = None) -> list[SnapshotRecord]:
        """Snapshots with ``start_us <= time_us < end_us``, newest first, at most
        ``limit``; of ``channel`` (None: any), and only of ``channels`` if given."""
        where, args = ["time_us >= ?", "time_us < ?"], [start_us, end_us]
        if channel is not None:
            where.append("channel = ?")
            args.append(channel)
        if channels is not None:
            if not channels:
                return []
            where.append(f"channel IN ({', '.join('?' * len(channels))})")
            args.extend(channels)
        with self._lock:
            rows = self._conn().execute(
                f"SELECT {_COLUMNS} FROM snapshot WHERE {' AND '.join(where)} "
                "ORDER BY time_us DESC LIMIT ?", (*args, limit)).fetchall()
        return [_record(row) for row in rows]

    def get(self, snapshot_id: int) -> SnapshotRecord | None:
        with self._lock:
            row = self._conn().execute(f"SELECT {_COLUMNS} FROM snapshot WHERE id = ?",
                                       (snapshot_id,)).fetchone()
        return None if row is None else _record(row)

    def channels(self) -> list[int]:
        """Channels with stored snapshots (cameras removed since included)."""
        with self._lock:
            rows = self._conn().execute(
                "SELECT DISTINCT channel FROM snapshot ORDER BY channel").fetchall()
        return [int(row[0]) for row in rows]

    def count(self) -> int:
        with self._lock:
            (n,) = self._conn().execute("SELECT count(*) FROM snapshot").fetchone()
        return int(n)

    # --- internals (under the lock) ------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise sqlite3.ProgrammingError("the snapshot store is not open")
        return self._db

    def _prune(self, db: sqlite3.Connection) -> int:
        """Inv. 3: delete the oldest snapshots until the total fits."""
        deleted = 0
        while self._total > self._max_bytes:
            rows = db.execute("SELECT id, path, bytes FROM snapshot ORDER BY time_us "
                              "LIMIT ?", (PRUNE_BATCH,)).fetchall()
            if not rows:
                self._total = 0
                break
            victims, freed = [], 0
            for snapshot_id, path, size in rows:
                if self._total - freed <= self._max_bytes:
                    break
                victims.append((int(snapshot_id), str(path)))
                freed += int(size)
            db.execute("BEGIN")
            db.executemany("DELETE FROM snapshot WHERE id = ?", [(i,) for i, _ in victims])
            db.execute("COMMIT")
            self._total -= freed
            for _, path in victims:
                _unlink(self.root / path)
                _remove_empty_dirs((self.root / path).parent, self.root)
            deleted += len(victims)
        if deleted:
            logger.info("deleted the %d oldest snapshot(s) to stay within %d MiB",
                        deleted, self._max_bytes >> 20)
        return deleted

    def _reconcile(self, db: sqlite3.Connection) -> ReconcileReport:
        """Inv. 4."""
        files, parts, empty = self._scan()
        for part in parts:
            _unlink(part)
        rows = {str(path): int(i) for i, path in db.execute("SELECT id, path FROM snapshot")}
        gone = [i for path, i in rows.items() if path not in files]
        if gone:
            db.execute("BEGIN")
            db.executemany("DELETE FROM snapshot WHERE id = ?", [(i,) for i in gone])
            db.execute("COMMIT")
        orphans = [path for path in files if path not in rows]
        for path in orphans:
            _unlink(self.root / path)
        touched = {(self.root / p).parent for p in orphans} | {p.parent for p in parts}
        for directory in touched | set(empty):
            _remove_empty_dirs(directory, self.root)
        (total,) = db.execute("SELECT coalesce(sum(bytes), 0) FROM snapshot").fetchone()
        self._total = int(total)
        pruned = self._prune(db)
        return ReconcileReport(len(parts), len(orphans), len(gone), pruned)

    def _scan(self) -> tuple[set[str], list[Path], list[Path]]:
        """The ``.jpg`` files of the layout (relative paths), interrupted writes, and the
        directories of the layout that hold nothing."""
        files: set[str] = set()
        parts: list[Path] = []
        empty: list[Path] = []
        for channel_dir in _subdirs(self.root, _CHANNEL_DIR):
            days = _subdirs(channel_dir, _DAY_DIR)
            if not days:
                empty.append(channel_dir)
            for day_dir in days:
                with os.scandir(day_dir) as entries:
                    names = [(entry.name, entry.is_file()) for entry in entries]
                if not names:
                    empty.append(day_dir)
                for name, is_file in names:
                    if name.startswith(".") and _TEMP_MARKER in name:
                        parts.append(day_dir / name)
                    elif name.endswith(".jpg") and is_file:
                        files.add(f"{channel_dir.name}/{day_dir.name}/{name}")
        return files, parts, empty


def _record(row: tuple[Any, ...]) -> SnapshotRecord:
    snapshot_id, channel, time_us, reason, event_id, path, size, width, height = row
    return SnapshotRecord(int(snapshot_id), int(channel), int(time_us), str(reason),
                          None if event_id is None else int(event_id), str(path), int(size),
                          int(width), int(height))


def _subdirs(parent: Path, pattern: re.Pattern[str]) -> list[Path]:
    try:
        with os.scandir(parent) as entries:
            return [Path(e.path) for e in entries
                    if pattern.fullmatch(e.name) and e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _make_dirs(directory: Path, root: Path) -> None:
    """Create ``directory`` (under ``root``) and make each new entry durable."""
    if directory.is_dir():
        return
    _make_dirs(directory.parent, root)
    with contextlib.suppress(FileExistsError):
        directory.mkdir()
        fsync_directory(directory.parent)


def _remove_empty_dirs(directory: Path, root: Path) -> None:
    """Remove ``directory`` and its parents up to ``root`` while they are empty."""
    while directory != root and root in directory.parents:
        try:
            directory.rmdir()
        except OSError:  # not empty (or gone)
            return
        directory = directory.parent


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
