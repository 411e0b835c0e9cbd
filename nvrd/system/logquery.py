"""Reading the audit log for people: search by type, user, time and text, page by id,
and write rows as CSV.

Shared by the web API (``/api/v1/logs``), the console (``log tail``/``log search``) and
the support bundle, so all three find and show the same rows. It reads the database
read-only with its own connection (WAL lets it run beside the writer thread of
:class:`nvrd.system.auditlog.AuditLog`), which also works while that service is down.
``AuditLog.query`` has no upper time bound, text search or paging; this does.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel

__all__ = ["CSV_HEADER", "LogEntry", "log_csv", "query_log", "utc_us"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
CSV_HEADER = b"time,type,user,source,action,result,details\r\n"


class LogEntry(BaseModel):
    """One audit row as people read it (also the web API's answer)."""

    time: dt.datetime
    type: str
    user: str
    source: str
    action: str
    result: str
    details: str


def utc_us(moment: dt.datetime | None) -> int | None:
    """An aware time as the log's UTC microseconds (None stays None)."""
    return None if moment is None else (moment - _EPOCH) // dt.timedelta(microseconds=1)


def query_log(path: Path, *, type: str | None = None, user: str | None = None,
              since_us: int | None = None, until_us: int | None = None,
              before_id: int | None = None, text: str | None = None, limit: int = 100
              ) -> list[tuple[int, LogEntry]]:
    """Newest first, with the row ids (for paging: pass the last id as ``before_id``).
    ``text``: only rows whose action, details, user or source contain it (any case).
    Blocking: run it in a thread. ``sqlite3.Error`` when the file cannot be read."""
    clauses: list[str] = []
    params: list[object] = []
    for clause, value in (("type = ?", type), ("user = ?", user), ("time_us >= ?", since_us),
                          ("time_us < ?", until_us), ("id < ?", before_id)):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append("(" + " OR ".join(f"{column} LIKE ? ESCAPE '\\'" for column in
                                         ("action", "details", "user", "source")) + ")")
        params.extend([pattern] * 4)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        connection.execute("PRAGMA busy_timeout=5000")
        rows = connection.execute(
            "SELECT id, time_us, type, user, source, action, result, details FROM audit "
            f"{where} ORDER BY id DESC LIMIT ?", (*params, limit)).fetchall()
    finally:
        connection.close()
    return [(row[0], LogEntry(time=_EPOCH + dt.timedelta(microseconds=row[1]), type=row[2],
                              user=row[3], source=row[4], action=row[5], result=row[6],
                              details=row[7])) for row in rows]


def log_csv(entries: Iterable[LogEntry]) -> bytes:
    """CSV rows (no header: see ``CSV_HEADER``), safe to open in a spreadsheet."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for e in entries:
        writer.writerow([e.time.isoformat(), e.type, e.user, e.source, e.action, e.result,
                         _no_formula(e.details)])
    return buffer.getvalue().encode()


def _no_formula(text: str) -> str:
    """A cell starting with = + - @ is a formula to a spreadsheet: quote it."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text
