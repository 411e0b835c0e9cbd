"""Plain HTTP only redirects to HTTPS, and a port that cannot be bound is not fatal."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import aiohttp
import pytest

from nvrd.web.redirect import https_location
from tests.daemon_harness import free_port
from tests.web.api.harness import HeaderAuthenticator, raw_http, running_web


async def test_every_plain_http_request_is_redirected_to_https(tmp_path: Path) -> None:
    redirect_port = free_port()
    async with running_web(tmp_path, HeaderAuthenticator(), https=True,
                           http_redirect_port=redirect_port) as web, \
            aiohttp.ClientSession() as session:
        base = f"http://127.0.0.1:{redirect_port}"
        status, headers, body = await raw_http(
            redirect_port, b"GET /api/v1/health?x=1&y=%2F HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Connection: close\r\n\r\n")
        assert status == 301  # path and query exactly as sent
        assert headers["location"] == f"https://127.0.0.1:{web.port}/api/v1/health?x=1&y=%2F"
        assert body == b""  # nothing else is answered
        async with session.post(f"{base}/api/v1/init", json={"password": "x"},
                                allow_redirects=False) as response:
            assert response.status == 308  # keeps the method
            assert response.headers["Location"] == f"https://127.0.0.1:{web.port}/api/v1/init"
        async with session.get(f"{base}/", headers={"Host": "nvr.example.com:80"},
                               allow_redirects=False) as response:
            assert response.headers["Location"] == f"https://nvr.example.com:{web.port}/"
        # a Host header that is not a plain host is not echoed
        status, headers, _ = await raw_http(
            redirect_port, b"GET /a HTTP/1.1\r\nHost: evil.com/x@y\r\nConnection: close\r\n\r\n")
        assert status == 301 and headers["location"] == f"https://127.0.0.1:{web.port}/a"
        # the HTTPS server itself is unaffected
        async with session.get(f"https://127.0.0.1:{web.port}/api/v1/health",
                               ssl=False) as response:
            assert response.status == 200
            assert response.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_a_redirect_port_that_cannot_be_bound_is_logged_and_skipped(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.WARNING, logger="nvrd.web.redirect"):
            async with running_web(tmp_path, HeaderAuthenticator(), https=True,
                                   http_redirect_port=port) as web, \
                    aiohttp.ClientSession() as session, \
                    session.get(f"{web.url}api/v1/health", ssl=False) as response:
                assert response.status == 200
        assert any(f"cannot listen on 127.0.0.1:{port}" in r.getMessage()
                   for r in caplog.records)


def test_the_location_keeps_path_query_and_host_but_not_the_port() -> None:
    assert https_location("nvr.local:8080", "10.0.0.2", 8443, "/a/b?c=d") == \
        "https://nvr.local:8443/a/b?c=d"
    assert https_location("nvr.local", "10.0.0.2", 443, "/") == "https://nvr.local/"
    assert https_location("[fe80::1]:80", "10.0.0.2", 8443, "/x") == "https://[fe80::1]:8443/x"
    assert https_location("192.168.1.20", "10.0.0.2", 8443, "/") == "https://192.168.1.20:8443/"
    for bad in (None, "", "a b", "evil.com/x", "host:port", "[nothex]:80", "x\r\nSet-Cookie: a"):
        assert https_location(bad, "10.0.0.2", 8443, "/") == "https://10.0.0.2:8443/"
    assert https_location(None, "::1", 8443, "/") == "https://[::1]:8443/"
