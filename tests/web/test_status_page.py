"""The web server in-process: HTTPS with the box's own certificate, the health endpoint,
and the web page."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509

from nvrd.config import parse_config
from nvrd.system.status import DaemonStatus
from nvrd.web.server import WebService
from tests.daemon_harness import free_port


def _status() -> DaemonStatus:
    return DaemonStatus(version="0", started_us=0, uptime_s=1.0, board="sim",
                        config_source="file", config_error=None)


async def test_https_by_default_with_a_generated_certificate(tmp_path: Path) -> None:
    web = WebService("127.0.0.1", free_port(), https=True, tls_dir=tmp_path / "tls",
                     status=_status)
    await web.start()
    try:
        assert web.url is not None and web.url.startswith("https://")
        cert = x509.load_pem_x509_certificate((tmp_path / "tls" / "server.crt").read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "localhost" in names.get_values_for_type(x509.DNSName)
        assert (tmp_path / "tls" / "server.key").stat().st_mode & 0o077 == 0  # key is private

        context = ssl.create_default_context(cafile=tmp_path / "tls" / "server.crt")
        context.check_hostname = False  # verified against the box's own certificate
        async with aiohttp.ClientSession() as session:
            async with session.get(web.url + "api/v1/health", ssl=context) as response:
                assert response.status == 200
                body = await response.json()
                assert body["status"] == "ok" and body["cameras"] == []
            async with session.get(web.url, ssl=context) as response:
                assert response.status == 200  # the web page (tests/web/test_assets.py)
                assert '<script type="module" src="/assets/js/app.' in await response.text()
    finally:
        await web.stop()
    # the certificate is generated once and kept (browsers remember the exception)
    first = (tmp_path / "tls" / "server.crt").read_bytes()
    web2 = WebService("127.0.0.1", free_port(), https=True, tls_dir=tmp_path / "tls",
                      status=_status)
    await web2.start()
    await web2.stop()
    assert (tmp_path / "tls" / "server.crt").read_bytes() == first


async def test_an_unhealthy_daemon_answers_503(tmp_path: Path) -> None:
    def sick() -> DaemonStatus:
        return DaemonStatus(version="0", started_us=0, uptime_s=1.0, board="sim",
                            config_source="file", config_error=None,
                            problems=["ingest: ingest thread died: ch1-main"])

    web = WebService("127.0.0.1", free_port(), https=False, tls_dir=tmp_path, status=sick)
    await web.start()
    try:
        async with aiohttp.ClientSession() as session, \
                session.get(f"{web.url}api/v1/health") as response:
            assert response.status == 503
            assert (await response.json())["problems"] == ["ingest: ingest thread died: ch1-main"]
    finally:
        await web.stop()


async def test_a_new_port_in_the_configuration_moves_the_server(tmp_path: Path) -> None:
    old_port, new_port = free_port(), free_port()
    web = WebService("127.0.0.1", old_port, https=False, tls_dir=tmp_path, status=_status)
    await web.start()
    try:
        config = parse_config(f'[web]\nhost = "127.0.0.1"\nport = {new_port}\nhttps = false\n',
                              "test")
        await web.apply_config(config)
        assert web.url == f"http://127.0.0.1:{new_port}/"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{web.url}api/v1/health") as response:
                assert response.status == 200
            with pytest.raises(aiohttp.ClientConnectionError):
                await session.get(f"http://127.0.0.1:{old_port}/api/v1/health")
    finally:
        await web.stop()
