"""The persistent audit and event log: who did what, when, from where, and how it ended.

One SQLite file in the data directory, bounded by a row count (oldest rows go first),
written by one thread so the event loop never waits on the disk. Later subsystems
(accounts, alarms, disks, the console) write to it through ``AuditLog.record``.

Threads: ``record`` may be called from the loop or any thread; it only enqueues, then
calls the listeners (``add_listener``: the live feed) on that same thread.
The writer thread owns the write connection. ``query`` opens its own read connection
(WAL lets readers run beside the writer) and blocks, so call it through ``to_thread``.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nvrd.config import NvrConfig
from nvrd.service import Health, Service
from nvrd.system.batchwriter import BatchWriter

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id       INTEGER PRIMARY KEY,          -- grows monotonically; bounding deletes the lowest
    time_us  INTEGER NOT NULL,             -- UTC microseconds since the epoch
    type     TEXT NOT NULL,                -- system | config | camera | security | operation ...
    user     TEXT NOT NULL DEFAULT '',     -- account name, '' for the daemon itself
    source   TEXT NOT NULL DEFAULT '',     -- daemon | web:<ip> | console | api-token:<name> ...
    action   TEXT NOT NULL,                -- what happened, in words
    result   TEXT NOT NULL DEFAULT 'ok',   -- ok | failed | rejected | ...
    details  TEXT NOT NULL DEFAULT ''      -- free text: the reason, the values
);
CREATE INDEX IF NOT EXISTS audit_time ON audit (time_us);
CREATE INDEX IF NOT EXISTS audit_type_time ON audit (type, time_us);
"""

# How long the writer gathers records before one commit (seconds). A crash loses at
# most this much of the log; batching keeps an alarm storm from costing one fsync each.
COMMIT_INTERVAL_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class AuditRecord:
    time_us: int
    type: str
    action: str
    user: str = ""
    source: str = ""
    result: str = "ok"
    details: str = ""


class AuditLog(Service):
    """The audit log service. See the module docstring for the threading rules."""

    name = "audit-log"

    def __init__(self, path: Path, max_rows: int) -> None:
        super().__init__()
        self.path = path
        self.max_rows = max_rows
        self._writer = BatchWriter("audit log writer", self._write,
                                   interval_s=COMMIT_INTERVAL_SECONDS)
        # replaced, never mutated: ``record`` reads it from any thread without a lock
        self._listeners: tuple[Callable[[AuditRecord], None], ...] = ()

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = _connect(self.path)  # fail here, on the caller, if the file is unusable
        connection.executescript(SCHEMA)
        self._writer.start(connection)

    async def stop(self) -> None:
        await self._writer.stop()

    async def apply_config(self, config: NvrConfig) -> None:
        self.max_rows = config.audit.max_rows  # read by the writer at its next batch

    def health(self) -> Health:
        failure = self._writer.failure()
        return Health(False, failure) if failure else Health(True)

    def record(
        self,
        type: str,
        action: str,
        *,
        user: str = "",
        source: str = "daemon",
        result: str = "ok",
        details: str = "",
        time_us: int | None = None,
    ) -> None:
        """Queue one entry, then tell the listeners; never blocks."""
        if time_us is None:
            time_us = time.time_ns() // 1000
        entry = AuditRecord(time_us, type, action, user, source, result, details)
        self._writer.put(entry)
        for listener in self._listeners:
            try:
                listener(entry)
            except Exception:  # a listener must never cost the caller its action
                logger.exception("audit log listener failed")

    def add_listener(self, listener: Callable[[AuditRecord], None]) -> Callable[[], None]:
        """Call ``listener`` with every record from now on, on the thread that records it
        (so it must be quick and thread-safe); returns the function that removes it."""
        self._listeners = (*self._listeners, listener)

        def remove() -> None:
            self._listeners = tuple(x for x in self._listeners if x is not listener)

        return remove

    def query(
        self, *, limit: int = 100, type: str | None = None, since_us: int | None = None
    ) -> list[AuditRecord]:
        """Newest first. Blocking: call through ``asyncio.to_thread`` from the loop."""
        clauses: list[str] = []
        params: list[object] = []
        if type is not None:
            clauses.append("type = ?")
            params.append(type)
        if since_us is not None:
            clauses.append("time_us >= ?")
            params.append(since_us)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        connection = _connect(self.path)
        try:
            rows = connection.execute(
                "SELECT time_us, type, action, user, source, result, details FROM audit "
                f"{where} ORDER BY id DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        finally:
            connection.close()
        return [AuditRecord(*row) for row in rows]

    def _write(self, connection: sqlite3.Connection, records: list[AuditRecord]) -> None:
        """One batch, in the writer's transaction (writer thread)."""
        connection.executemany(
            "INSERT INTO audit (time_us, type, action, user, source, result, details) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(r.time_us, r.type, r.action, r.user, r.source, r.result, r.details)
             for r in records],
        )
        connection.execute(
            "DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?",
            (self.max_rows,),
        )


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA busy_timeout=5000")
    return connection
