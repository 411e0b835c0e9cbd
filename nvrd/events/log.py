"""The event log: every event the bus published, searchable afterwards (the vendor's
"alarm/exception log"), in ``events.db`` in the data directory.

Written as the audit log is (``nvrd/system/auditlog.py``): one writer thread gathers what
``append`` queued and commits it in batches (an alarm storm costs one fsync per batch,
not one per event), then drops the oldest rows beyond ``max_rows``. The event loop
never waits on the disk.

Ids: the bus gives each event its id before it is queued (``next_id`` starts after the
highest id on disk), so a ``stop`` can name its ``start`` (``start_id``) even while
that start is still in the queue; the query joins the two (``end_us`` of a start,
``start_us`` of a stop). A stop whose start was dropped by the bound keeps ``start_id``
but has no ``start_us``.

Threads: ``append`` from the loop (the bus); the writer thread owns the write
connection; ``query``/``open_starts`` open their own read connection (WAL lets them run
beside the writer) and block, so call them through ``to_thread``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nvrd.events.model import Event, EventKind, Phase
from nvrd.system.batchwriter import BatchWriter

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id        INTEGER PRIMARY KEY,     -- given by the bus, in publishing order
    time_us   INTEGER NOT NULL,        -- UTC microseconds: when it happened
    kind      TEXT NOT NULL,           -- EventKind value
    source    TEXT NOT NULL,           -- alarm-in:3, camera:5, volume:v1, user:bob@ip ...
    channel   INTEGER,                 -- camera channel, NULL when none
    phase     TEXT NOT NULL,           -- start | stop | pulse
    start_id  INTEGER,                 -- a stop: the id of the start it ends
    details   TEXT NOT NULL DEFAULT '{}'  -- JSON object
);
CREATE INDEX IF NOT EXISTS events_time ON events (time_us);
CREATE INDEX IF NOT EXISTS events_kind ON events (kind, id);
CREATE INDEX IF NOT EXISTS events_channel ON events (channel, id);
CREATE INDEX IF NOT EXISTS events_start ON events (start_id);
"""

COMMIT_INTERVAL_SECONDS = 0.5
"""How long the writer gathers events before one commit; a crash loses at most this."""
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """An event as the log answers: with its pair's time when known."""

    event: Event
    end_us: int | None = None
    """A start: when its stop came (None: still going, or the stop is not logged yet)."""
    start_us: int | None = None
    """A stop: when its start was (None: the start is no longer in the log)."""

    def to_dict(self) -> dict[str, Any]:
        return {**self.event.to_dict(), "end_us": self.end_us, "start_us": self.start_us}


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What a search asks for; every part optional."""

    kinds: Collection[str] = ()
    channels: Collection[int] = ()
    source: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    """Exclusive."""
    before_id: int | None = None
    """Paging: only events older than this id (the last id of the previous page)."""
    visible_channels: Collection[int] | None = None
    """None: every event; else events without a channel plus these channels' only."""


class EventLog:
    """The log. ``start`` opens it (and says the next free id), ``stop`` drains it."""

    def __init__(self, path: Path, max_rows: int) -> None:
        self.path = path
        self.max_rows = max_rows
        self._writer = BatchWriter("event log writer", self._write,
                                   interval_s=COMMIT_INTERVAL_SECONDS)
        self.last_id = 0
        """The highest id on disk when the log was opened."""

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = _connect(self.path)  # fail here, on the caller, if the file is unusable
        try:
            connection.executescript(SCHEMA)
            self.last_id = connection.execute(
                "SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
        except BaseException:
            connection.close()
            raise
        self._writer.start(connection)

    async def stop(self) -> None:
        await self._writer.stop()

    def failure(self) -> str | None:
        """Why the writer stopped, if it did (for health)."""
        return self._writer.failure()

    def append(self, event: Event) -> None:
        """Queue an event that has its id; never blocks."""
        self._writer.put(event)

    # --- reading (blocking: through to_thread) -------------------------------------------

    def query(self, where: EventFilter, limit: int = 100) -> list[LoggedEvent]:
        """Newest first (by id, i.e. publishing order), at most ``limit``."""
        clauses, params = _where(where)
        sql = ("SELECT e.id, e.time_us, e.kind, e.source, e.channel, e.phase, e.start_id, "
               "e.details, "
               "(SELECT s.time_us FROM events s WHERE e.phase = 'start' AND s.start_id = e.id"
               " ORDER BY s.id LIMIT 1), "
               "(SELECT b.time_us FROM events b WHERE b.id = e.start_id) "
               f"FROM events e {'WHERE ' + ' AND '.join(clauses) if clauses else ''} "
               "ORDER BY e.id DESC LIMIT ?")
        with _reading(self.path) as connection:
            rows = connection.execute(sql, (*params, min(limit, MAX_PAGE))).fetchall()
        return [LoggedEvent(_event(row), end_us=row[8], start_us=row[9]) for row in rows]

    def open_starts(self) -> list[Event]:
        """Starts without a stop (left open when the recorder last stopped)."""
        with _reading(self.path) as connection:
            rows = connection.execute(
                "SELECT e.id, e.time_us, e.kind, e.source, e.channel, e.phase, e.start_id, "
                "e.details FROM events e WHERE e.phase = 'start' AND NOT EXISTS "
                "(SELECT 1 FROM events s WHERE s.start_id = e.id) ORDER BY e.id "
                f"LIMIT {MAX_PAGE}").fetchall()
        return [_event(row) for row in rows]

    def channels(self) -> list[int]:
        """The channels events were logged for (to work out what a user may see)."""
        with _reading(self.path) as connection:
            return [row[0] for row in connection.execute(
                "SELECT DISTINCT channel FROM events WHERE channel IS NOT NULL")]

    def count(self) -> int:
        with _reading(self.path) as connection:
            return int(connection.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    # --- writer thread ---------------------------------------------------------------------

    def _write(self, connection: sqlite3.Connection, events: list[Event]) -> None:
        """One batch, in the writer's transaction (writer thread)."""
        connection.executemany(
            "INSERT INTO events (id, time_us, kind, source, channel, phase, start_id, "
            "details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(e.id, e.time_us, e.kind.value, e.source, e.channel, e.phase.value,
              e.start_id, json.dumps(dict(e.details), default=str)) for e in events])
        connection.execute(
            "DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?",
            (self.max_rows,))


def _where(where: EventFilter) -> tuple[list[str], list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    for column, values in (("e.kind", list(where.kinds)), ("e.channel", list(where.channels))):
        if values:
            clauses.append(f"{column} IN ({','.join('?' * len(values))})")
            params.extend(values)
    for clause, value in (("e.source = ?", where.source), ("e.time_us >= ?", where.since_us),
                          ("e.time_us < ?", where.until_us), ("e.id < ?", where.before_id)):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if where.visible_channels is not None:
        visible = list(where.visible_channels)
        clauses.append(f"(e.channel IS NULL OR e.channel IN ({','.join('?' * len(visible))}))"
                       if visible else "e.channel IS NULL")
        params.extend(visible)
    return clauses, params


def _event(row: tuple[Any, ...]) -> Event:
    try:
        details = json.loads(row[7])
    except ValueError:
        details = {"raw": row[7]}
    return Event(EventKind(row[2]), row[3], row[4], Phase(row[5]), row[1],
                 details if isinstance(details, dict) else {"raw": details},
                 id=row[0], start_id=row[6])


class _reading:
    """A short-lived read connection (``with _reading(path) as connection``)."""

    def __init__(self, path: Path) -> None:
        self._connection = _connect(path)

    def __enter__(self) -> sqlite3.Connection:
        return self._connection

    def __exit__(self, *exc: object) -> None:
        self._connection.close()


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA busy_timeout=5000")
    return connection
