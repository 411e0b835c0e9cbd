"""Limits of the web server: connections per address, header sizes."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from nvrd.web.limits import ConnectionLimiter, Limits
from tests.web.api.harness import HeaderAuthenticator, raw_http, running_web

GET_HEALTH = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"


async def _status_of(reader: asyncio.StreamReader) -> int:
    line = await asyncio.wait_for(reader.readline(), 10)
    return int(line.split()[1])


async def test_connections_beyond_the_limit_of_an_address_get_503(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    limits = Limits(max_connections_per_ip=2)
    async with running_web(tmp_path, HeaderAuthenticator(), limits=limits) as web:
        held = [await asyncio.open_connection("127.0.0.1", web.port) for _ in range(2)]
        for reader, writer in held:  # the first two are served
            writer.write(GET_HEALTH)
            assert await _status_of(reader) == 200
        with caplog.at_level(logging.WARNING, logger="nvrd.web.limits"):
            for _ in range(3):
                status, headers, body = await raw_http(web.port, GET_HEALTH)
                assert status == 503
                assert headers["connection"] == "close"
                assert json.loads(body)["error"]["code"] == "too_many_connections"
        refusals = [r for r in caplog.records if "refusing requests from" in r.getMessage()]
        assert len(refusals) == 1  # logged once per address per minute, not per request

        _, writer = held.pop()
        writer.close()
        await writer.wait_closed()
        for _ in range(100):  # the server sees the close shortly after
            status, _, _ = await raw_http(web.port, GET_HEALTH.replace(
                b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
            if status == 200:
                break
            await asyncio.sleep(0.02)
        assert status == 200
        for _, writer in held:
            writer.close()


def test_the_limiter_counts_per_address_and_logs_once_per_interval() -> None:
    now = [100.0]
    limiter = ConnectionLimiter(1, log_interval_s=60, clock=lambda: now[0])
    a1, a2, b1 = object(), object(), object()
    limiter.opened(a1, "10.0.0.1")
    limiter.opened(a2, "10.0.0.1")
    limiter.opened(b1, "10.0.0.2")
    assert limiter.excess_address(a1) is None and limiter.excess_address(b1) is None
    assert limiter.excess_address(a2) == "10.0.0.1"
    assert limiter.should_log("10.0.0.1") and not limiter.should_log("10.0.0.1")
    now[0] += 59
    assert not limiter.should_log("10.0.0.1")
    now[0] += 1
    assert limiter.should_log("10.0.0.1")
    limiter.closed(a2)
    limiter.closed(a1)
    assert limiter.open_connections("10.0.0.1") == 0
    assert limiter.open_connections("10.0.0.2") == 1


async def test_oversized_headers_are_refused(tmp_path: Path) -> None:
    async with running_web(tmp_path, HeaderAuthenticator()) as web:
        long_line = b"GET /api/v1/health?x=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        status, _, _ = await raw_http(web.port, long_line)
        assert status in (400, 414, 431)
        long_header = (b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000
                       + b"\r\n\r\n")
        status, _, _ = await raw_http(web.port, long_header)
        assert status in (400, 431)
        many = b"".join(b"X-H%d: 1\r\n" % i for i in range(100))
        status, _, _ = await raw_http(web.port, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n"
                                      + many + b"\r\n")
        assert status in (400, 431)
        status, _, _ = await raw_http(web.port, GET_HEALTH.replace(
            b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        assert status == 200
