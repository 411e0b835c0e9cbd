"""The console's time commands over the real console pty of the real daemon: ``time show``,
``time set`` (typed confirmation, refused while NTP is on, daylight-saving ambiguities
refused) and ``time ntp sync`` against a real SNTP server on 127.0.0.1. The daemon's
clock is a :class:`SteppedClock`: the host's clock is never touched."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
import zoneinfo
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nvrd.app import Application
from nvrd.console.commands.clock import local_to_utc
from nvrd.console.registry import CommandError
from nvrd.system.auditlog import AuditRecord
from tests.console.harness import PROMPT, ConsoleLine, console_daemon
from tests.system.ntp_server import SteppedClock, ntp_server

SECOND = 1_000_000_000
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


@dataclass
class Box:
    app: Application
    line: ConsoleLine
    clock: SteppedClock

    async def change(self, **system: Any) -> None:
        """Change ``system`` settings the way an installer would (validated, applied)."""
        ntp = system.pop("ntp", {})

        def update(table: dict[str, Any]) -> None:
            section = table.setdefault("system", {})
            section.update(system)
            section.setdefault("ntp", {}).update(ntp)

        await self.app.change_config(update, what="test settings", user="test",
                                     source="test")

    async def audit(self, action: str) -> list[AuditRecord]:
        """The audit rows of ``action`` (the log is written by its own thread: wait)."""
        assert self.app.audit is not None
        audit = self.app.audit
        return await until(lambda: [r for r in audit.query(type="system", limit=1000)
                                    if r.action == action])


async def until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := await asyncio.to_thread(check)):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
    return value


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    clock = SteppedClock()
    async with console_daemon(tmp_path, wall_clock=clock) as (app, line):
        assert app.timesync is not None
        app.timesync.timeout_s = 0.3  # a silent server costs this, not the default 2 s
        await line.login()
        yield Box(app, line, clock)


# --- local time to UTC (pure) -----------------------------------------------------------

def test_local_time_to_utc_and_the_daylight_saving_hours() -> None:
    summer = local_to_utc(dt.datetime(2030, 7, 1, 14, 0), BERLIN)
    assert summer == dt.datetime(2030, 7, 1, 12, 0, tzinfo=dt.UTC)
    winter = local_to_utc(dt.datetime(2030, 1, 1, 14, 0), BERLIN)
    assert winter == dt.datetime(2030, 1, 1, 13, 0, tzinfo=dt.UTC)
    with pytest.raises(CommandError, match="does not exist in Europe/Berlin"):
        local_to_utc(dt.datetime(2030, 3, 31, 2, 30), BERLIN)  # clocks go forward
    with pytest.raises(CommandError, match="happens twice in Europe/Berlin"):
        local_to_utc(dt.datetime(2030, 10, 27, 2, 30), BERLIN)  # clocks go back
    utc = zoneinfo.ZoneInfo("UTC")
    assert local_to_utc(dt.datetime(2030, 10, 27, 2, 30), utc).hour == 2


# --- over the console -------------------------------------------------------------------

async def test_time_show_gives_zone_utc_and_ntp_state(box: Box) -> None:
    await box.change(timezone="Europe/Berlin")
    out = await box.line.run("time show")
    assert "time zone   Europe/Berlin" in out
    assert "NTP         off; servers: none" in out
    assert "last sync   none since the daemon started" in out
    local = next(x for x in out.splitlines() if x.startswith("local time"))
    utc = next(x for x in out.splitlines() if x.startswith("UTC"))
    shown_local = dt.datetime.strptime(local.split()[2] + " " + local.split()[3],
                                       "%Y-%m-%d %H:%M:%S").replace(tzinfo=BERLIN)
    shown_utc = dt.datetime.strptime(" ".join(utc.split()[1:3]), "%Y-%m-%d %H:%M:%S"
                                     ).replace(tzinfo=dt.UTC)
    assert abs(shown_local - shown_utc) <= dt.timedelta(seconds=1), (local, utc)
    assert "(UTC+01:00)" in local or "(UTC+02:00)" in local

    same = await box.line.run("date")  # the alias
    assert "time zone   Europe/Berlin" in same


async def test_time_set_asks_then_steps_the_daemon_clock(box: Box) -> None:
    await box.change(timezone="Europe/Berlin")
    await box.line.send("time set 2030-07-01 14:00:00")
    await box.line.expect(r"to 2030-07-01 14:00:00 CEST \(UTC\+02:00\)")
    await box.line.expect(r"Recordings running now are split.*\n.*Type 'yes'")
    await box.line.send("no")
    await box.line.expect("cancelled: nothing was changed")
    await box.line.expect(PROMPT)
    assert box.clock.steps == []

    await box.line.send("time set 2030-07-01 14:00:00")
    await box.line.expect("Type 'yes'")
    await box.line.send("yes")
    await box.line.expect(r"clock set: 2030-07-01 14:00:\d\d CEST")
    await box.line.expect(PROMPT)
    assert len(box.clock.steps) == 1
    assert box.clock.now_ns() >= (dt.datetime(2030, 7, 1, 12, tzinfo=dt.UTC)
                                  - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // \
        dt.timedelta(microseconds=1) * 1000
    rows = await box.audit("clock set by hand")
    assert rows[0].source == "console" and rows[0].user == "admin"
    assert " to 2030-07-01T12:00:0" in rows[0].details

    await box.line.send("time set 2030-07-02 08:00:00 utc")  # UTC given
    await box.line.expect(r"to 2030-07-02 10:00:00 CEST")
    await box.line.expect("Type 'yes'")
    await box.line.send("")
    await box.line.expect("cancelled: nothing was changed")
    await box.line.expect(PROMPT)
    assert len(box.clock.steps) == 1


async def test_time_set_refuses_bad_times_without_asking(box: Box) -> None:
    await box.change(timezone="Europe/Berlin")
    for line, message in (
            ("time set 2030-03-31 02:30:00", "does not exist in Europe/Berlin"),
            ("time set 2030-10-27 02:30:00", "happens twice in Europe/Berlin"),
            ("time set 2000-01-01 00:00:00", "must be between 2024-01-01 and 2100-01-01"),
            ("time set tomorrow", "usage: time set YYYY-MM-DD HH:MM:SS"),
            ("time set 2030-13-01 00:00:00", "is not a time like")):
        out = await box.line.run(line)
        assert message in out, out
        assert "Type 'yes'" not in out
    assert box.clock.steps == []


async def test_ntp_sync_reports_the_offset_and_time_set_is_refused_while_ntp_is_on(
        box: Box) -> None:
    out = await box.line.run("time ntp sync")
    assert "error: no NTP server is configured" in out
    async with ntp_server("good", 5 * SECOND) as ntp:
        await box.change(ntp={"servers": [ntp.address], "step_threshold_ms": 1000})
        out = await box.line.run("time ntp sync")
        found = re.search(rf"{re.escape(ntp.address)}: offset ([+-][\d.]+) s, delay "
                          r"([\d.]+) ms", out)
        assert found is not None, out
        offset_s, delay_ms = float(found[1]), float(found[2])
        # the SNTP bound (half the round trip) plus the rounding of the printed figures
        assert abs(offset_s - 5.0) <= (delay_ms + 0.1) / 2000 + 0.001, out
        assert "clock stepped (off by more than 1000 ms)" in out
        assert len(box.clock.steps) == 1

        out = await box.line.run("time ntp sync")
        assert "clock not stepped: within 1000 ms of the server" in out
        assert len(box.clock.steps) == 1
        rows = await box.audit("clock set by NTP")
        assert rows[0].source == "console"

        out = await box.line.run("time ntp on")
        assert "NTP is on" in out
        assert box.app.config.system.ntp.enabled
        out = await box.line.run("time set 2030-07-01 14:00:00")
        assert "error: NTP is on and would undo a time set by hand" in out
        assert "'time ntp off'" in out and "Type 'yes'" not in out
        show = await box.line.run("time show")
        assert "NTP         on, every 60 min" in show and ntp.address in show

        out = await box.line.run("time ntp off")
        assert "NTP is off" in out and not box.app.config.system.ntp.enabled

    async with ntp_server("silent") as silent:
        await box.change(ntp={"servers": [silent.address]})
        out = await box.line.run("time ntp sync")
        assert f"no answer from {silent.address}" in out
        assert "error: no server gave a usable time; the clock was left alone" in out
    show = await box.line.run("time show")
    assert "FAILED: no answer from" in show
