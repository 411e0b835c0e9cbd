"""Stored SMART history: one row per check, and "what is new since last time".

Why history and not just the last verdict: a disk with 8 reallocated sectors stays in
"warning" for years; the operator must hear about it once, then again only when it gets
worse (the counter grows, a new problem appears, the verdict drops to failing) — not at
every poll. Checks without data (disk asleep, SMART unavailable) are stored but are not
compared against, so a nap between two checks does not re-raise an old warning.

SQLite (stdlib) at an injected path; blocking, so async callers use ``asyncio.to_thread``.
The table is bounded per disk (``keep_per_disk`` newest rows).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from hal.disks.smart import SmartReason, SmartReport, SmartState, SmartValues

__all__ = ["COUNTER_CODES", "SmartChange", "SmartHistory", "StoredCheck"]

COUNTER_CODES = frozenset({
    "reallocated_sectors", "reported_uncorrect", "command_timeouts", "pending_sectors",
    "offline_uncorrectable", "crc_errors", "nvme_media_errors"})
"""Reasons whose value only grows: growth is news even when the code is not new."""

_RANK: dict[str, int] = {"ok": 0, "warning": 1, "failing": 2}
_VALUE_COLUMNS = tuple(f.name for f in dataclasses.fields(SmartValues))
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS smart_check (
    id INTEGER PRIMARY KEY,
    disk TEXT NOT NULL,          -- DiskIdentity as text (kind:value)
    at_us INTEGER NOT NULL,      -- UTC microseconds
    state TEXT NOT NULL,         -- ok / warning / failing / standby / unavailable / error
    summary TEXT NOT NULL,
    reasons TEXT NOT NULL,       -- JSON list of [code, severity, value]
    {", ".join(f"{c} INTEGER" for c in _VALUE_COLUMNS)}
);
CREATE INDEX IF NOT EXISTS smart_check_disk ON smart_check (disk, id);
"""


@dataclass(frozen=True, slots=True)
class StoredCheck:
    at_us: int
    state: SmartState
    summary: str
    reasons: tuple[tuple[str, str, int | None], ...]
    """(code, severity, value) per reason."""
    values: SmartValues

    @property
    def checked(self) -> bool:
        return self.state in _RANK


@dataclass(frozen=True, slots=True)
class SmartChange:
    """A check compared with the previous check that had data."""

    previous: StoredCheck | None
    new_reasons: tuple[SmartReason, ...]
    """Problems not present last time, or counters that grew since."""
    worse: bool
    """The verdict dropped (ok → warning, warning → failing, ...)."""

    @property
    def is_news(self) -> bool:
        return self.worse or bool(self.new_reasons)


class SmartHistory:
    def __init__(self, path: Path, *, keep_per_disk: int = 1000) -> None:
        self._keep = keep_per_disk
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def record(self, disk: str, report: SmartReport, at_us: int) -> SmartChange:
        """Store one check and say what is new compared with the last check with data."""
        with self._lock:
            previous = self._last_checked(disk)
            values = dataclasses.astuple(report.values)
            reasons = json.dumps([[r.code, r.severity, r.value] for r in report.reasons])
            with self._db:
                self._db.execute("BEGIN")
                self._db.execute(
                    f"INSERT INTO smart_check (disk, at_us, state, summary, reasons, "
                    f"{', '.join(_VALUE_COLUMNS)}) VALUES (?, ?, ?, ?, ?, "
                    f"{', '.join('?' * len(_VALUE_COLUMNS))})",
                    (disk, at_us, report.state, report.summary, reasons, *values))
                self._db.execute(
                    "DELETE FROM smart_check WHERE disk = ? AND id <= (SELECT id FROM "
                    "smart_check WHERE disk = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (disk, disk, self._keep))
        return _compare(previous, report)

    def last(self, disk: str) -> StoredCheck | None:
        with self._lock:
            rows = self._rows("WHERE disk = ? ORDER BY id DESC LIMIT 1", (disk,))
        return rows[0] if rows else None

    def checks(self, disk: str, limit: int = 100) -> list[StoredCheck]:
        """Newest first."""
        with self._lock:
            return self._rows("WHERE disk = ? ORDER BY id DESC LIMIT ?", (disk, limit))

    def _last_checked(self, disk: str) -> StoredCheck | None:
        rows = self._rows("WHERE disk = ? AND state IN ('ok', 'warning', 'failing') "
                          "ORDER BY id DESC LIMIT 1", (disk,))
        return rows[0] if rows else None

    def _rows(self, where: str, args: tuple[object, ...]) -> list[StoredCheck]:
        cursor = self._db.execute(
            f"SELECT at_us, state, summary, reasons, {', '.join(_VALUE_COLUMNS)} "
            f"FROM smart_check {where}", args)
        return [StoredCheck(row[0], row[1], row[2],
                            tuple((c, s, v) for c, s, v in json.loads(row[3])),
                            SmartValues(*row[4:]))
                for row in cursor.fetchall()]


def _compare(previous: StoredCheck | None, report: SmartReport) -> SmartChange:
    if not report.checked:
        return SmartChange(previous, (), worse=False)
    before = {code: value for code, _, value in previous.reasons} if previous else {}
    new = tuple(r for r in report.reasons if r.code not in before
                or (r.code in COUNTER_CODES and _grew(before[r.code], r.value)))
    worse = _RANK[report.state] > (_RANK[previous.state] if previous else 0)
    return SmartChange(previous, new, worse)


def _grew(before: int | None, now: int | None) -> bool:
    return now is not None and (before is None or now > before)
