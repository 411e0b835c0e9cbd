import sqlite3
from pathlib import Path

from nvrd.system.auditlog import AuditLog


async def test_records_persist_across_restarts(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.db", max_rows=1000)
    await log.start()
    log.record("security", "login", user="admin", source="web:10.0.0.5", result="failed",
               details="wrong password")
    log.record("config", "configuration reload")
    await log.stop()

    reopened = AuditLog(tmp_path / "audit.db", max_rows=1000)
    await reopened.start()
    try:
        rows = reopened.query(limit=10)
        assert [r.action for r in rows] == ["configuration reload", "login"]
        login = rows[1]
        assert (login.type, login.user, login.source, login.result, login.details) == (
            "security", "admin", "web:10.0.0.5", "failed", "wrong password")
        assert login.time_us > 1_700_000_000_000_000  # UTC microseconds
        assert [r.action for r in reopened.query(type="security")] == ["login"]
    finally:
        await reopened.stop()


async def test_size_is_bounded_oldest_first(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.db", max_rows=50)
    await log.start()
    for i in range(400):
        log.record("camera", f"event {i}")
    await log.stop()
    with sqlite3.connect(tmp_path / "audit.db") as db:
        actions = [a for (a,) in db.execute("SELECT action FROM audit ORDER BY id")]
    assert len(actions) == 50
    assert actions[0] == "event 350" and actions[-1] == "event 399"


async def test_health_reports_a_writer_that_failed(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.db", max_rows=1000)
    await log.start()
    assert log.health().ok
    with sqlite3.connect(tmp_path / "audit.db") as db:  # someone broke the file under us
        db.execute("DROP TABLE audit")
    log.record("system", "after the damage")
    await log.stop()
    health = log.health()
    assert not health.ok
    assert "no such table: audit" in health.detail
