"""Per-second motion bitmaps in ``<data dir>/motion.db``, and the smart-search query.

One row per channel and UTC second in which any cell moved: the OR of that second's
moving cells as a 50-byte bitmap (``grid``). Seconds without motion have no row, so a
quiet channel costs nothing; a channel moving all day costs 86 400 rows (≈6 MB).

Why the data directory and not each volume's catalog: a smart search asks one channel
over a time range that may span several disks; the analysers write from their own
threads and must not become a second writer of every volume catalog; and the bitmaps are
small. The cost: a disk moved to another box brings its footage but not its bitmaps.
The table is bounded by the footage kept: ``prune_before`` (called with the oldest
recording still kept, per channel or for all) and a row cap (``max_rows``) that drops
the oldest seconds first, so it can never fill the data partition.

Threads: any thread may call any method; one connection behind a lock. Writes commit
one row at a time in WAL mode with ``synchronous=NORMAL`` (no fsync per row: losing the
last seconds of bitmaps in a power cut is acceptable, corrupting the file is not).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from nvrd.motion.grid import BITMAP_BYTES, CellMask, to_bitmap

SCHEMA = """
CREATE TABLE IF NOT EXISTS motion_second (
    channel INTEGER NOT NULL,
    second INTEGER NOT NULL,   -- UTC seconds since the epoch
    cells BLOB NOT NULL,       -- 50-byte bitmap, see nvrd/motion/grid.py
    PRIMARY KEY (channel, second)
) WITHOUT ROWID;
"""
DEFAULT_MAX_ROWS = 20_000_000
"""≈1.4 GB at most; 230 channel-days of continuous motion."""
PRUNE_BATCH_ROWS = 10_000
"""Rows dropped beyond the cap at once, so the cap is enforced once per batch."""


@dataclass(frozen=True, slots=True)
class MotionInterval:
    """Seconds ``[start_s, end_s)`` with motion in the asked cells."""

    start_s: int
    end_s: int


class MotionStore:
    def __init__(self, path: Path, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        self.path = path
        self._max_rows = max_rows
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        (self._rows,) = self._db.execute("SELECT count(*) FROM motion_second").fetchone()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, channel: int, second: int, moving: CellMask | bytes) -> None:
        """Record the cells that moved in ``second``; a second written twice (a stream
        reconnecting within it) keeps the OR of both."""
        bitmap = moving if isinstance(moving, bytes) else to_bitmap(moving)
        if len(bitmap) != BITMAP_BYTES:
            raise ValueError(f"a motion bitmap is {BITMAP_BYTES} bytes, not {len(bitmap)}")
        with self._lock:
            row = self._db.execute(
                "SELECT cells FROM motion_second WHERE channel = ? AND second = ?",
                (channel, second)).fetchone()
            if row is not None:
                bitmap = bytes(a | b for a, b in zip(row[0], bitmap, strict=True))
            else:
                self._rows += 1
            self._db.execute("INSERT OR REPLACE INTO motion_second VALUES (?, ?, ?)",
                             (channel, second, bitmap))
            if self._rows > self._max_rows:
                self._drop_oldest(self._rows - self._max_rows + PRUNE_BATCH_ROWS)

    def bitmaps(self, channel: int, start_s: int, end_s: int) -> list[tuple[int, bytes]]:
        """(second, bitmap) rows in ``[start_s, end_s)``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT second, cells FROM motion_second WHERE channel = ? AND second >= ? "
                "AND second < ? ORDER BY second", (channel, start_s, end_s)).fetchall()
        return [(int(s), bytes(c)) for s, c in rows]

    def seconds_with_motion(self, channel: int, start_us: int, end_us: int,
                            cells: CellMask) -> list[int]:
        """Smart search: the UTC seconds in ``[start_us, end_us)`` in which any of
        ``cells`` moved."""
        wanted = int.from_bytes(to_bitmap(cells), "big")
        if not wanted:
            return []
        start_s = start_us // 1_000_000
        end_s = -(-end_us // 1_000_000)
        return [second for second, bitmap in self.bitmaps(channel, start_s, end_s)
                if int.from_bytes(bitmap, "big") & wanted]

    def intervals_with_motion(self, channel: int, start_us: int, end_us: int,
                              cells: CellMask, gap_s: int = 0) -> list[MotionInterval]:
        """The same seconds merged into intervals (bridging gaps up to ``gap_s``), what
        a playback of "motion only" plays."""
        intervals: list[MotionInterval] = []
        for second in self.seconds_with_motion(channel, start_us, end_us, cells):
            if intervals and second - intervals[-1].end_s <= gap_s:
                intervals[-1] = MotionInterval(intervals[-1].start_s, second + 1)
            else:
                intervals.append(MotionInterval(second, second + 1))
        return intervals

    def prune_before(self, before_s: int, channel: int | None = None) -> int:
        """Forget seconds before ``before_s`` (the oldest footage kept); returns rows gone."""
        with self._lock:
            if channel is None:
                cursor = self._db.execute("DELETE FROM motion_second WHERE second < ?",
                                          (before_s,))
            else:
                cursor = self._db.execute(
                    "DELETE FROM motion_second WHERE channel = ? AND second < ?",
                    (channel, before_s))
            self._rows -= cursor.rowcount
            return cursor.rowcount

    def channels(self) -> list[int]:
        """The channels that have rows (retention prunes each by its own footage)."""
        with self._lock:
            return [int(c) for (c,) in self._db.execute(
                "SELECT DISTINCT channel FROM motion_second ORDER BY channel")]

    @property
    def rows(self) -> int:
        return self._rows

    def _drop_oldest(self, count: int) -> None:
        cursor = self._db.execute(
            "DELETE FROM motion_second WHERE (channel, second) IN (SELECT channel, second "
            "FROM motion_second ORDER BY second LIMIT ?)", (count,))
        self._rows -= cursor.rowcount
