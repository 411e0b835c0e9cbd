"""Named tags at instants of a channel's recordings ("car at the gate"), searchable by
channel, time and text, in ``tags.db`` in the data directory.

Why the data directory and not the recording volumes: a search must answer across every
disk in one query, and a tag is a few hundred bytes (``MAX_TAGS`` bounds the file).

Tags outlive their footage: retention deletes segments, never tags. A tag is a person's
note ("the van was here at 14:02"), which keeps its worth after the video is overwritten
(an incident report refers to it), and deleting tags from the writer thread of every
volume on every deletion would couple retention to a second database. So a tag stays
until someone deletes it, and a search says for each whether its footage is still there
(``recorded``, computed from the storage intervals at query time: cheap, and never
stale, which a flag written at deletion time could be).

Times are UTC microseconds (``at_us``, ``created_us``). ``name`` 1-64 characters,
``note`` at most ``MAX_NOTE`` characters.

Threads: any thread may call :class:`TagStore`'s methods (one connection behind a lock);
:class:`TagService` runs them in one worker thread, so the loop never waits on SQLite.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from nvrd.service import Health, Service, open_in_own_threads

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_NAME = 64
MAX_NOTE = 1000
MAX_TAGS = 100_000
"""Tags kept at most; beyond, adding one is refused (:class:`TagLimitError`)."""
SCHEMA = """
CREATE TABLE IF NOT EXISTS tag (
    id INTEGER PRIMARY KEY,
    channel INTEGER NOT NULL,
    at_us INTEGER NOT NULL,       -- UTC µs of the tagged instant
    name TEXT NOT NULL,
    note TEXT,
    created_by TEXT NOT NULL,     -- account name
    created_us INTEGER NOT NULL,
    updated_us INTEGER            -- last rename or note change
);
CREATE INDEX IF NOT EXISTS tag_channel_at ON tag (channel, at_us);
"""
_COLUMNS = "id, channel, at_us, name, note, created_by, created_us, updated_us"


class TagLimitError(Exception):
    """The store holds ``MAX_TAGS`` tags already."""


@dataclass(frozen=True, slots=True)
class Tag:
    id: int
    channel: int
    at_us: int
    name: str
    note: str | None
    created_by: str
    created_us: int
    updated_us: int | None


@dataclass(frozen=True, slots=True)
class TagCursor:
    """Where a newest-first page ended: the next page holds tags before it."""

    at_us: int
    id: int


def wall_clock_us() -> int:
    return time.time_ns() // 1000


class TagStore:
    """See the module doc; ``open`` before use, ``close`` after."""

    def __init__(self, path: Path, *, clock_us: Callable[[], int] = wall_clock_us) -> None:
        self.path = path
        self._clock_us = clock_us
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL: a power cut loses the last
            db.execute("PRAGMA busy_timeout=5000")   # commits at worst, never the file
            db.executescript(SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        with self._lock:
            self._db = db

    def close(self) -> None:
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            db.close()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise sqlite3.ProgrammingError("the tag store is not open")
        return self._db

    def add(self, channel: int, at_us: int, name: str, note: str | None,
            created_by: str) -> Tag:
        with self._lock:
            db = self._conn()
            (count,) = db.execute("SELECT COUNT(*) FROM tag").fetchone()
            if count >= MAX_TAGS:
                raise TagLimitError(f"the recorder holds {MAX_TAGS} tags already; delete "
                                    "old ones first")
            cur = db.execute(
                "INSERT INTO tag (channel, at_us, name, note, created_by, created_us) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (channel, at_us, name, note, created_by, self._clock_us()))
            assert cur.lastrowid is not None
            tag = self._get(db, cur.lastrowid)
        assert tag is not None
        return tag

    def get(self, tag_id: int) -> Tag | None:
        with self._lock:
            return self._get(self._conn(), tag_id)

    def update(self, tag_id: int, *, name: str | None = None, note: str | None = None,
               clear_note: bool = False) -> Tag | None:
        """Rename and/or change the note (``clear_note``: remove it); None: no such tag."""
        sets: list[str] = []
        values: list[object] = []
        if name is not None:
            sets.append("name = ?")
            values.append(name)
        if note is not None or clear_note:
            sets.append("note = ?")
            values.append(None if clear_note else note)
        with self._lock:
            db = self._conn()
            if sets:
                db.execute(f"UPDATE tag SET {', '.join(sets)}, updated_us = ? WHERE id = ?",
                           (*values, self._clock_us(), tag_id))
            return self._get(db, tag_id)

    def delete(self, tag_id: int) -> bool:
        with self._lock:
            return self._conn().execute("DELETE FROM tag WHERE id = ?",
                                        (tag_id,)).rowcount == 1

    def find(self, channels: Collection[int], start_us: int, end_us: int, *,
             text: str | None = None, limit: int = 100, before: TagCursor | None = None
             ) -> list[Tag]:
        """Tags of ``channels`` at ``[start_us, end_us)``, newest first (then by id),
        whose name or note holds ``text`` (case-insensitive); after ``before`` when
        given (the cursor of the previous page)."""
        if not channels:
            return []
        where = [f"channel IN ({','.join('?' * len(channels))})", "at_us >= ?", "at_us < ?"]
        params: list[object] = [*sorted(channels), start_us, end_us]
        if text:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace(
                "_", "\\_") + "%"
            where.append("(name LIKE ? ESCAPE '\\' OR note LIKE ? ESCAPE '\\')")
            params += [pattern, pattern]
        if before is not None:
            where.append("(at_us < ? OR (at_us = ? AND id < ?))")
            params += [before.at_us, before.at_us, before.id]
        sql = (f"SELECT {_COLUMNS} FROM tag WHERE {' AND '.join(where)} "
               "ORDER BY at_us DESC, id DESC LIMIT ?")
        with self._lock:
            rows = self._conn().execute(sql, (*params, limit)).fetchall()
        return [Tag(*row) for row in rows]

    @staticmethod
    def _get(db: sqlite3.Connection, tag_id: int) -> Tag | None:
        row = db.execute(f"SELECT {_COLUMNS} FROM tag WHERE id = ?", (tag_id,)).fetchone()
        return None if row is None else Tag(*row)


class TagService(Service):
    """The tag store as a daemon service: opened at start, queried in a worker thread."""

    name = "tags"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.store = TagStore(path)
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._unusable: str | None = None

    async def start(self) -> None:
        try:
            self._executor = await open_in_own_threads(self.store.open, 1, "tags")
        except (OSError, sqlite3.Error) as exc:
            # a broken tag file must not keep the recorder from recording
            self._unusable = f"the tag store {self.store.path} cannot be opened: {exc}"
            logger.error("tags not available: %s; recording goes on without them",
                         self._unusable)

    def health(self) -> Health:
        """An unusable tag file is said, but is no reason to restart a recorder."""
        return Health(True, self._unusable or "")

    async def stop(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True)
        self.store.close()

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` (a store method) in the worker thread."""
        executor = self._executor
        if executor is None:
            raise sqlite3.OperationalError(self._unusable or "the tag service is not running")
        return await asyncio.get_running_loop().run_in_executor(executor, function, *args)
