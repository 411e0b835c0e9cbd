"""One thread writing queued rows to SQLite in batches: what the audit log and the event
log share.

Items are queued from the loop or any thread and never wait on the disk. The thread
gathers what arrives within ``interval_s`` of the first item and writes it in one
transaction, so an alarm storm costs one fsync per batch, not one per row; a crash loses
at most one interval. ``stop`` drains the queue first.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_INTERVAL_S = 0.5


class BatchWriter(Generic[T]):
    """``write(connection, items)`` runs inside a transaction the writer opens and
    commits (rolled back if it raises, and the writer stops: ``failure`` says why)."""

    def __init__(self, name: str, write: Callable[[sqlite3.Connection, list[T]], None], *,
                 interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.name = name
        """For messages: "audit log writer"."""
        self._write = write
        self._interval_s = interval_s
        self._queue: queue.Queue[T | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._failure: str | None = None

    def start(self, connection: sqlite3.Connection) -> None:
        """Write through ``connection`` (opened by the caller, so an unusable file fails
        there) from now on; the writer thread owns and closes it."""
        self._thread = threading.Thread(target=self._loop, args=(connection,),
                                        name=self.name.replace(" ", "-"), daemon=True)
        self._thread.start()

    def put(self, item: T) -> None:
        """Queue one item; never blocks."""
        self._queue.put(item)

    async def stop(self) -> None:
        """Write what is queued, then end the thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(None)
        await asyncio.to_thread(thread.join)

    def failure(self) -> str | None:
        """Why the writer stopped, if it did (for health)."""
        if self._failure is not None:
            return f"{self.name} failed: {self._failure}"
        if self._thread is not None and not self._thread.is_alive():
            return f"{self.name} thread died"
        return None

    def _loop(self, connection: sqlite3.Connection) -> None:
        try:
            while True:
                first = self._queue.get()
                batch = [first]
                deadline = time.monotonic() + self._interval_s
                while first is not None:
                    try:
                        item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                    except queue.Empty:
                        break
                    batch.append(item)
                    if item is None:
                        break
                items = [i for i in batch if i is not None]
                if items:
                    self._commit(connection, items)
                if batch[-1] is None:
                    return
        except Exception as exc:  # the writer must say why it stopped
            self._failure = str(exc)
            logger.exception("%s stopped", self.name)
        finally:
            connection.close()

    def _commit(self, connection: sqlite3.Connection, items: list[T]) -> None:
        connection.execute("BEGIN")
        try:
            self._write(connection, items)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
