"""Searching the audit log (shared by the web API, the console and the support bundle)
on a real audit database written by the real ``AuditLog``."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from nvrd.system.auditlog import AuditLog
from nvrd.system.logquery import CSV_HEADER, log_csv, query_log


async def _log(path: Path) -> None:
    log = AuditLog(path, max_rows=1000)
    await log.start()
    log.record("security", "console login", user="admin", source="console", time_us=1_000)
    log.record("config", "discount 100% applied", user="eve", source="web 192.0.2.7",
               details="=HYPERLINK(\"x\")", time_us=2_000)
    log.record("config", "file_name changed", user="admin", source="console", time_us=3_000)
    log.record("config", "filename changed", user="admin", source="console", time_us=4_000)
    await log.stop()


async def test_text_search_is_literal_and_case_blind(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    await _log(path)

    def actions(**where: object) -> list[str]:
        return [e.action for _, e in query_log(path, **where)]  # type: ignore[arg-type]

    assert actions(text="LOGIN") == ["console login"]
    assert actions(text="100%") == ["discount 100% applied"]  # % is not a wildcard
    assert actions(text="file_name") == ["file_name changed"]  # nor is _
    assert actions(text="192.0.2.7") == ["discount 100% applied"]  # the source too
    assert actions(text="changed", user="admin", since_us=3_500) == ["filename changed"]
    assert actions(type="config", limit=2) == ["filename changed", "file_name changed"]
    newest_id = query_log(path, limit=1)[0][0]
    assert actions(before_id=newest_id, limit=1) == ["file_name changed"]


async def test_csv_rows_are_safe_in_a_spreadsheet(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    await _log(path)
    text = (CSV_HEADER + log_csv(e for _, e in query_log(path, type="config"))).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["time", "type", "user", "source", "action", "result", "details"]
    formula = next(r for r in rows if r[2] == "eve")
    assert formula[6] == "'=HYPERLINK(\"x\")"
    assert formula[0] == "1970-01-01T00:00:00.002000+00:00"
