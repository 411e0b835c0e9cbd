"""The time API end to end: the real daemon (``Application`` on the simulated board), a
real HTTPS client, real SNTP servers on 127.0.0.1, and a wall clock that steps without
touching the host's (``Application(wall_clock=...)``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from nvrd.accounts.rights import SystemRight
from nvrd.app import Application
from tests.daemon_harness import config_toml, free_port, running_app
from tests.system.ntp_server import SteppedClock, closed_udp_port, ntp_server
from tests.web.api.harness import USER_HEADER, HeaderAuthenticator

ADMIN = "admin"
VIEWER = "viewer"
SECOND_MS = 1000.0


@dataclass
class Box:
    app: Application
    clock: SteppedClock
    session: aiohttp.ClientSession
    base: str

    async def call(self, method: str, path: str, *, user: str = ADMIN, json: Any = None,
                   params: dict[str, str] | None = None) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, json=json, params=params,
                                        headers={USER_HEADER: user}) as response:
            return response.status, await response.json()

    async def set_ntp(self, **ntp: Any) -> dict[str, Any]:
        status, answer = await self.call("PUT", "/api/v1/system/time", json={"ntp": ntp})
        assert status == 200, answer
        return dict(answer)


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := await check()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
    return value


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    port = free_port()
    authenticator = HeaderAuthenticator(users={
        ADMIN: frozenset(str(r) for r in SystemRight), VIEWER: frozenset({"live:1"})})
    clock = SteppedClock()
    async with running_app(tmp_path, config_toml(port), authenticator=authenticator,
                           wall_clock=clock) as (app, _):
        assert app.timesync is not None
        app.timesync.timeout_s = 0.3  # silent servers cost this, not the default 2 s
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
            yield Box(app, clock, session, f"https://127.0.0.1:{port}")


async def test_the_factory_time_settings_and_the_rules_on_them(box: Box) -> None:
    status, answer = await box.call("GET", "/api/v1/system/time")
    assert status == 200, answer
    assert answer["ntp"] == {"enabled": False, "servers": [], "interval_minutes": 60,
                             "step_threshold_ms": 500}
    assert answer["last_sync"] is None and answer["sync_overdue"] is False
    assert "NTP" not in " ".join(answer["missing"])

    status, error = await box.call("PUT", "/api/v1/system/time", json={"ntp": {"enabled": True}})
    assert status == 422 and error["error"]["code"] == "config_invalid"
    assert "system.ntp.servers: at least one server is needed" in error["error"]["message"]
    status, error = await box.call("PUT", "/api/v1/system/time",
                                   json={"ntp": {"servers": ["bad host"]}})
    assert status == 422 and "body.ntp.servers[0]" in error["error"]["message"]
    status, error = await box.call("POST", "/api/v1/system/time/sync")
    assert (status, error["error"]["code"]) == (409, "ntp_no_servers")

    for path, body in (("/api/v1/system/time/sync", None),
                       ("/api/v1/system/time/set", {"utc": "2030-01-01T00:00:00Z"})):
        status, error = await box.call("POST", path, user=VIEWER, json=body)
        assert (status, error["error"]["code"]) == (403, "forbidden")


async def test_ntp_steps_the_clock_and_sync_now_reports_the_offset(box: Box) -> None:
    async with ntp_server("good", 5_000_000_000) as ntp:
        answer = await box.set_ntp(enabled=True, servers=[ntp.address],
                                   step_threshold_ms=1000)
        assert answer["ntp"]["enabled"] is True
        # new settings check the clock at once, in the background
        first = await until(lambda: _last_sync(box))
        assert first["server"] == ntp.address and first["stepped"] is True
        assert abs(first["offset_ms"] - 5 * SECOND_MS) <= first["delay_ms"] / 2 + 1
        assert len(box.clock.steps) == 1

        status, now = await box.call("GET", "/api/v1/system/time")
        shown = dt.datetime.fromisoformat(now["utc"])
        assert shown - dt.datetime.now(dt.UTC) > dt.timedelta(seconds=4)  # the daemon's clock

        status, result = await box.call("POST", "/api/v1/system/time/sync")
        assert status == 200, result
        assert result["server"] == ntp.address and result["stepped"] is False
        assert abs(result["offset_ms"]) <= result["delay_ms"] / 2 + 1
        assert len(box.clock.steps) == 1  # within the threshold: left alone

        status, error = await box.call("POST", "/api/v1/system/time/set",
                                       json={"utc": "2030-01-01T00:00:00Z"})
        assert (status, error["error"]["code"]) == (409, "ntp_enabled")
        assert "turn NTP off first" in error["error"]["message"]

    rows = await until(lambda: _logs(box, "clock set by NTP"))
    assert rows[0]["type"] == "system"
    assert rows[0]["details"].startswith("from ")
    assert rows[0]["details"].endswith(f"s) by NTP server {ntp.address}")


async def test_failed_syncs_answer_in_words(box: Box) -> None:
    async with ntp_server("silent") as silent, ntp_server("kod") as kod:
        await box.set_ntp(servers=[silent.address])
        status, error = await box.call("POST", "/api/v1/system/time/sync")
        assert (status, error["error"]["code"]) == (504, "ntp_no_answer")
        assert error["error"]["message"] == f"no answer from {silent.address} within 0.3 s"

        closed = f"127.0.0.1:{closed_udp_port()}"
        await box.set_ntp(servers=[kod.address, closed])
        status, error = await box.call("POST", "/api/v1/system/time/sync")
        assert (status, error["error"]["code"]) == (502, "ntp_failed")
        assert "kiss-o'-death 'RATE'" in error["error"]["message"]
        assert f"nothing answers NTP at {closed}" in error["error"]["message"]

        last = await _last_sync(box)
        assert last is not None and last["server"] is None and "RATE" in last["error"]
    assert box.clock.steps == []


async def test_setting_the_time_by_hand(box: Box) -> None:
    status, answer = await box.call("POST", "/api/v1/system/time/set",
                                    json={"utc": "2030-01-01T01:00:00+01:00"})
    assert status == 200, answer
    assert answer["utc"].startswith("2030-01-01T00:00:0")
    assert answer["step_ms"] > 0 and len(box.clock.steps) == 1

    status, error = await box.call("POST", "/api/v1/system/time/set",
                                   json={"utc": "2000-01-01T00:00:00Z"})
    assert status == 422 and "between 2024-01-01 and 2100-01-01" in error["error"]["message"]
    status, error = await box.call("POST", "/api/v1/system/time/set",
                                   json={"utc": "2030-01-01T00:00:00"})  # no offset
    assert status == 422 and "body.utc" in error["error"]["message"]

    box.clock.denied = True
    status, error = await box.call("POST", "/api/v1/system/time/set",
                                   json={"utc": "2031-01-01T00:00:00Z"})
    assert (status, error["error"]["code"]) == (503, "clock_not_settable")
    assert "CAP_SYS_TIME" in error["error"]["message"]

    rows = await until(lambda: _logs(box, "clock set by hand", count=2))
    assert [r["result"] for r in rows] == ["failed", "ok"]  # newest first
    assert all(r["user"] == ADMIN and r["source"] == "127.0.0.1" for r in rows)
    assert "to 2030-01-01T00:00:00.000Z" in rows[1]["details"]


async def _last_sync(box: Box) -> dict[str, Any] | None:
    status, answer = await box.call("GET", "/api/v1/system/time")
    assert status == 200, answer
    last: dict[str, Any] | None = answer["last_sync"]
    return last


async def _logs(box: Box, action: str, count: int = 1) -> list[dict[str, Any]] | None:
    status, rows = await box.call("GET", "/api/v1/logs", params={"type": "system"})
    assert status == 200, rows
    found = [r for r in rows if r["action"] == action]
    return found if len(found) >= count else None
