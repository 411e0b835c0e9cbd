"""The SNTP client against a real UDP server on 127.0.0.1, and the TimeSync service with a
clock that steps without touching the host's."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from nvrd.config import ConfigError, NvrConfig, parse_config
from nvrd.system.timesync import (
    CLOCK_NOT_SETTABLE,
    BadAnswer,
    ClockNotSettable,
    KissOfDeath,
    Measurement,
    NoAnswer,
    NtpEnabled,
    SyncFailed,
    TimeSync,
    Unreachable,
    ntp_diff_ns,
    query,
    query_servers,
    to_ntp,
)
from tests.system.ntp_server import SteppedClock, closed_udp_port, ntp_server

SHORT_S = 0.3
"""Timeout for servers that never answer (the only waits in these tests)."""
SECOND = 1_000_000_000


def assert_offset(found: Measurement, expected_ns: int) -> None:
    """The SNTP bound: with the server stamping somewhere inside the round trip, the
    error is at most half the delay (plus the 32-bit fraction's rounding)."""
    assert found.delay_ns >= 0
    assert abs(found.offset_ns - expected_ns) <= found.delay_ns // 2 + 1000, found


@dataclass
class Audit:
    rows: list[dict[str, Any]] = field(default_factory=list)

    def record(self, type: str, action: str, *, user: str = "", source: str = "daemon",
               result: str = "ok", details: str = "") -> None:
        self.rows.append({"type": type, "action": action, "user": user, "source": source,
                          "result": result, "details": details})


def ntp_config(servers: list[str], *, enabled: bool = True, threshold_ms: int = 500
               ) -> NvrConfig:
    listed = ", ".join(f'"{s}"' for s in servers)
    return parse_config(f"[system.ntp]\nenabled = {str(enabled).lower()}\n"
                        f"servers = [{listed}]\nstep_threshold_ms = {threshold_ms}\n", "test")


async def until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# --- the client ----------------------------------------------------------------------

@pytest.mark.parametrize("offset_s", [5.0, -3.25, 0.0])
async def test_offset_and_delay_from_a_real_exchange(offset_s: float) -> None:
    offset_ns = int(offset_s * SECOND)
    async with ntp_server("good", offset_ns) as ntp:
        found = await query(ntp.address, clock=SteppedClock())
    assert found.server == ntp.address and found.stratum == 2
    assert_offset(found, offset_ns)


async def test_the_offset_is_measured_against_the_injected_clock() -> None:
    async with ntp_server("good", 2 * SECOND) as ntp:
        found = await query(ntp.address, clock=SteppedClock(offset_ns=-SECOND))
    assert_offset(found, 3 * SECOND)


async def test_a_reply_that_does_not_echo_our_request_is_ignored() -> None:
    async with ntp_server("spoofed", 7 * SECOND) as ntp:
        with pytest.raises(NoAnswer) as caught:
            await query(ntp.address, clock=SteppedClock(), timeout_s=SHORT_S)
    message = str(caught.value)
    assert message.startswith(f"no answer from {ntp.address} within {SHORT_S:g} s")
    assert "originate timestamp did not match" in message and "spoofed" in message


async def test_the_genuine_reply_after_a_spoofed_one_counts() -> None:
    async with ntp_server("spoofed_then_good", 4 * SECOND) as ntp:
        found = await query(ntp.address, clock=SteppedClock())
    assert_offset(found, 4 * SECOND)


async def test_a_kiss_of_death_is_reported_with_its_code() -> None:
    async with ntp_server("kod") as ntp:
        with pytest.raises(KissOfDeath) as caught:
            await query(ntp.address, clock=SteppedClock())
    assert caught.value.code == "RATE"
    assert str(caught.value) == (f"{ntp.address} refused to give the time: kiss-o'-death "
                                 "'RATE' (asked too often; the server wants fewer requests)")


async def test_an_unsynchronized_server_is_refused() -> None:
    async with ntp_server("unsynchronized") as ntp:
        with pytest.raises(BadAnswer, match="not synchronized itself"):
            await query(ntp.address, clock=SteppedClock())


async def test_a_silent_server_times_out_in_words() -> None:
    async with ntp_server("silent") as ntp:
        with pytest.raises(NoAnswer) as caught:
            await query(ntp.address, clock=SteppedClock(), timeout_s=SHORT_S)
    assert str(caught.value) == f"no answer from {ntp.address} within {SHORT_S:g} s"
    assert ntp.server.requests == 1


async def test_nothing_listening_is_port_unreachable() -> None:
    address = f"127.0.0.1:{closed_udp_port()}"
    with pytest.raises(Unreachable, match="port unreachable"):
        await query(address, clock=SteppedClock(), timeout_s=5)


async def test_servers_are_asked_in_order_until_one_answers() -> None:
    async with ntp_server("silent") as silent, ntp_server("kod") as kod, \
            ntp_server("good", SECOND) as good:
        found = await query_servers([silent.address, kod.address, good.address],
                                    clock=SteppedClock(), timeout_s=SHORT_S)
        assert found.server == good.address
        with pytest.raises(SyncFailed) as caught:
            await query_servers([silent.address, kod.address], clock=SteppedClock(),
                                timeout_s=SHORT_S)
        assert not caught.value.timed_out
        assert str(caught.value).startswith(f"no answer from {silent.address}")
        assert "kiss-o'-death 'RATE'" in str(caught.value)
        with pytest.raises(SyncFailed) as only_silent:
            await query_servers([silent.address], clock=SteppedClock(), timeout_s=SHORT_S)
        assert only_silent.value.timed_out


def test_ntp_arithmetic_across_the_2036_era_change() -> None:
    rollover = dt.datetime(2036, 2, 7, 6, 28, 16, tzinfo=dt.UTC)
    before = int((rollover - dt.timedelta(seconds=10)).timestamp()) * SECOND
    after = int((rollover + dt.timedelta(seconds=5)).timestamp()) * SECOND
    assert to_ntp(after) < to_ntp(before)  # the era wrapped
    assert ntp_diff_ns(to_ntp(after), to_ntp(before)) == 15 * SECOND
    assert ntp_diff_ns(to_ntp(before), to_ntp(after)) == -15 * SECOND
    # a box without a battery-backed clock, back in 1970, against a 2025 server
    boot = 0
    now = int(dt.datetime(2025, 6, 1, tzinfo=dt.UTC).timestamp()) * SECOND
    assert ntp_diff_ns(to_ntp(now), to_ntp(boot)) == now


# --- the service ---------------------------------------------------------------------

async def test_the_clock_is_stepped_only_beyond_the_threshold() -> None:
    audit = Audit()
    clock = SteppedClock()
    async with ntp_server("good", SECOND // 5) as near, ntp_server("good", 5 * SECOND) as far:
        sync = TimeSync(ntp_config([near.address], threshold_ms=500), audit, clock=clock)
        result = await sync.sync_now()
        assert not result.stepped and clock.steps == [] and result.error is None
        assert result.offset_ns is not None
        assert abs(result.offset_ns - SECOND // 5) < SECOND // 10

        await sync.apply_config(ntp_config([far.address], threshold_ms=500, enabled=False))
        result = await sync.sync_now(user="alice", source="web 192.0.2.9")
        assert result.stepped and result.server == far.address
        assert len(clock.steps) == 1 and abs(clock.steps[0] - 5 * SECOND) < SECOND // 10
        # the clock now agrees with the server: nothing more to do
        again = await sync.sync_now()
        assert not again.stepped and len(clock.steps) == 1
        assert sync.last == again
    (row,) = [r for r in audit.rows if r["action"] == "clock set by NTP"]
    assert row["type"] == "system" and row["user"] == "alice"
    assert row["source"] == "web 192.0.2.9"
    assert row["details"].startswith("from ")
    assert row["details"].endswith(f" by NTP server {far.address}")
    assert "(+5.0" in row["details"] or "(+4.9" in row["details"]


async def test_start_syncs_and_a_missing_capability_is_reported_not_raised() -> None:
    audit = Audit()
    clock = SteppedClock(denied=True)
    async with ntp_server("good", 60 * SECOND) as ntp:
        sync = TimeSync(ntp_config([ntp.address]), audit, clock=clock,
                        find_os_clients=lambda: ["chronyd"])
        await sync.start()
        try:
            assert sync.last is not None and sync.last.error == CLOCK_NOT_SETTABLE
            assert "CAP_SYS_TIME" in CLOCK_NOT_SETTABLE
            assert sync.os_clients == ["chronyd"]
            with pytest.raises(ClockNotSettable):
                await sync.sync_now(user="bob", source="web 127.0.0.1")
        finally:
            await sync.stop()
    failures = [r for r in audit.rows if r["result"] == "failed"]
    # the daemon's own failure once, the person's request again
    assert [(r["action"], r["user"]) for r in failures] == [("NTP check failed", ""),
                                                             ("NTP check failed", "bob")]


async def test_a_repeated_failure_is_audited_once() -> None:
    audit = Audit()
    async with ntp_server("kod") as ntp:
        sync = TimeSync(ntp_config([ntp.address]), audit, clock=SteppedClock())
        for _ in range(3):
            with pytest.raises(SyncFailed):
                await sync.sync_now()
    assert len(audit.rows) == 1 and "RATE" in audit.rows[0]["details"]
    assert sync.last is not None and sync.last.server is None


async def test_new_settings_check_the_clock_in_the_background() -> None:
    clock = SteppedClock()
    async with ntp_server("good", 3 * SECOND) as ntp:
        sync = TimeSync(NvrConfig(), None, clock=clock, find_os_clients=lambda: [])
        await sync.start()
        try:
            assert sync.last is None  # off at the factory: nothing asked
            assert ntp.server.requests == 0
            await sync.apply_config(ntp_config([ntp.address]))
            await until(lambda: sync.last is not None)
            assert sync.last is not None and sync.last.stepped
            assert not sync.overdue
        finally:
            await sync.stop()


async def test_overdue_after_three_intervals_without_a_good_answer() -> None:
    now = [1000.0]
    async with ntp_server("kod") as ntp:
        sync = TimeSync(ntp_config([ntp.address]), None, clock=SteppedClock(),
                        monotonic=lambda: now[0])
        with pytest.raises(SyncFailed):
            await sync.sync_now()
    assert not sync.overdue
    now[0] += 3 * 60 * 60 + 1  # three intervals of 60 minutes
    assert sync.overdue


async def test_setting_the_time_by_hand() -> None:
    audit = Audit()
    clock = SteppedClock()
    async with ntp_server("good") as ntp:
        on = TimeSync(ntp_config([ntp.address]), audit, clock=clock)
        with pytest.raises(NtpEnabled, match="turn NTP off first"):
            await on.set_time(0, user="alice", source="web 127.0.0.1")
    sync = TimeSync(NvrConfig(), audit, clock=clock)
    target = int(dt.datetime(2030, 1, 1, tzinfo=dt.UTC).timestamp()) * SECOND
    step = await sync.set_time(target, user="alice", source="web 127.0.0.1")
    assert abs(clock.now_ns() - target) < SECOND and abs(step - clock.steps[0]) < SECOND
    (row,) = audit.rows
    assert row["action"] == "clock set by hand" and row["user"] == "alice"
    assert "to 2030-01-01T00:00:00.000Z" in row["details"]

    clock.denied = True
    with pytest.raises(ClockNotSettable):
        await sync.set_time(target, user="alice", source="web 127.0.0.1")
    assert audit.rows[-1]["result"] == "failed"
    assert CLOCK_NOT_SETTABLE in audit.rows[-1]["details"]


# --- the settings --------------------------------------------------------------------

@pytest.mark.parametrize(("text", "fragment"), [
    ("enabled = true", "system.ntp.servers: at least one server is needed"),
    ('servers = ["a.example", "b.example", "c.example", "d.example", "e.example"]',
     "system.ntp.servers"),
    ('servers = ["192.0.2.1", "192.0.2.1:123"]', "already used by servers[0]"),
    ('servers = ["ntp.example:0"]', "port must be a number from 1 to 65535"),
    ('servers = ["bad host"]', "must be a host name or an IP address"),
    ('servers = ["224.0.1.1"]', "not an unspecified or multicast address"),
    ("interval_minutes = 0", "system.ntp.interval_minutes"),
    ("step_threshold_ms = 0", "system.ntp.step_threshold_ms"),
])
def test_bad_ntp_settings_are_refused_in_words(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"[system.ntp]\n{text}\n", "nvrd.toml")
    assert fragment in str(caught.value)


def test_ntp_settings_accept_names_ports_and_ipv6() -> None:
    config = parse_config('[system.ntp]\nenabled = true\nservers = ["pool.ntp.org", '
                          '"192.0.2.1:1123", "2001:db8::1", "[2001:db8::2]:123"]\n', "x")
    assert config.system.ntp.servers[2] == "2001:db8::1"
    assert NvrConfig().system.ntp.enabled is False
