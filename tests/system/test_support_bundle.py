"""The support bundle from the real daemon (``Application`` on the simulated board, in
this process): what is inside, that no secret is, that a part that cannot be gathered is
explained instead of failing the bundle, and that only the newest bundles are kept."""

from __future__ import annotations

import asyncio
import json
import os
import tarfile
import time
import tomllib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hal.sim.disks import sim_unavailable_reason
from nvrd.app import Application
from nvrd.system import support
from nvrd.system.logquery import query_log
from nvrd.system.support import build_support_bundle, bundle_file
from tests.daemon_harness import config_toml, free_port, running_app
from tests.web.api.harness import USER_HEADER, HeaderAuthenticator

CAMERA_PASSWORD = "cam-secret-9"
URL_PASSWORD = "url-secret-4"
MQTT_PASSWORD = "mqtt-secret-7"
SECRETS = (CAMERA_PASSWORD, URL_PASSWORD, MQTT_PASSWORD)
CONFIG_EXTRA = (
    '[system]\nname = "Front desk/NVR 1"\n\n'
    "[[cameras]]\nchannel = 1\nmain = { url = \"rtsp://127.0.0.1:9/cam1\" }\n"
    f"sub = {{ url = \"rtsp://viewer:{URL_PASSWORD}@127.0.0.1:9/cam1sub\" }}\n"
    f"username = \"nvr\"\npassword = \"{CAMERA_PASSWORD}\"\n\n"
    "[notify.mqtt]\nhost = \"192.0.2.50\"\nusername = \"nvr\"\n"
    f"password = \"{MQTT_PASSWORD}\"\n"
)
HANG_GUARD_S = 30.0
"""Only so that a broken test fails instead of hanging; never a measure."""


async def until(predicate: Callable[[], Any], what: str) -> Any:
    async with asyncio.timeout(HANG_GUARD_S):
        while not (value := predicate()):
            await asyncio.sleep(0.05)
    assert value, what
    return value


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Application]:
    async with running_app(tmp_path, config_toml(free_port(), extra=CONFIG_EXTRA)) as (
            daemon, _run):
        yield daemon


def members(path: Path) -> dict[str, bytes]:
    """The bundle's files by name inside its folder."""
    with tarfile.open(path, "r:gz") as archive:
        names = archive.getnames()
        folder = path.name.removesuffix(".tar.gz")
        assert all(n.startswith(folder + "/") for n in names), names
        files = {}
        for info in archive.getmembers():
            extracted = archive.extractfile(info)
            assert extracted is not None
            files[info.name.removeprefix(folder + "/")] = extracted.read()
    return files


async def test_bundle_holds_every_part_and_no_secret(app: Application) -> None:
    assert app.audit is not None
    app.audit.record("security", "console login", user="admin", source="console")
    # a careless writer put a password in the log: the bundle still holds none
    app.audit.record("camera", "careless", details=f"password {MQTT_PASSWORD} used")
    path = app.audit.path
    await until(lambda: query_log(path, text="careless"), "the audit rows are written")

    path = await build_support_bundle(app)

    assert path.parent == app.data_dir.root / "support"
    assert path.name.startswith("nvrd-support_Front-desk-NVR-1_")
    assert path.name.endswith("Z.tar.gz") and len(path.name.split("_")[-1]) == len(
        "20250101T120000Z.tar.gz")
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")], \
        "a temporary file was left behind"
    files = members(path)
    assert {"README.txt", "versions.txt", "status.json", "config.toml", "audit.csv",
            "events.jsonl", "network.json", "daemon.log"} <= set(files)
    assert any(name.startswith("smart/") for name in files)

    everything = b"".join(files.values()) + path.read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in everything, f"{secret} is in the bundle"
    with tarfile.open(path, "r:gz") as archive:  # also not in the compressed stream
        for info in archive.getmembers():
            assert not any(s in info.name for s in SECRETS)

    config = tomllib.loads(files["config.toml"].decode())
    camera = config["cameras"][0]
    assert "password" not in camera
    assert camera["sub"]["url"] == "rtsp://viewer:***@127.0.0.1:9/cam1sub"
    assert "password" not in config["notify"]["mqtt"]
    assert config["notify"]["mqtt"]["host"] == "192.0.2.50"

    versions = files["versions.txt"].decode()
    for word in ("nvrd ", "Python ", "kernel ", "PyAV ", "FFmpeg ", "board sim"):
        assert word in versions, versions
    status = json.loads(files["status.json"])
    assert status["status"]["version"] and "cameras online" in status["summary"]
    assert status["status"]["channels"][0]["channel"] == 1
    network = json.loads(files["network.json"])
    assert network["source"] == "ip" and any(i["ifname"] == "lo" for i in network["addr"])

    audit = files["audit.csv"].decode().splitlines()
    assert audit[0] == "time,type,user,source,action,result,details"
    assert any(",admin,console,console login," in line for line in audit[1:])
    assert any(",careless,ok,password *** used" in line for line in audit[1:])
    readme = files["README.txt"].decode()
    for name in ("versions.txt", "status.json", "config.toml", "audit.csv", "daemon.log"):
        assert name in readme
    assert "secret" in readme.lower()

    described = bundle_file(path)
    assert described.size_bytes == path.stat().st_size and len(described.sha256) == 64


async def test_a_part_that_cannot_be_gathered_is_explained_not_fatal(
        app: Application, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(support, "JOURNAL_COMMAND", ("nvrd-test-no-journalctl", "-u", "nvrd"))
    monkeypatch.setattr(support, "IP_COMMANDS", {"addr": ("nvrd-test-no-ip", "-j", "addr")})
    app.events = None  # the event service is down: the bundle reads its file instead

    files = members(await build_support_bundle(app))

    assert files["daemon.log"] == b"not available: nvrd-test-no-journalctl is not installed\n"
    readme = files["README.txt"].decode()
    assert "daemon.log" in readme and \
        "[not available: nvrd-test-no-journalctl is not installed]" in readme
    network = json.loads(files["network.json"])
    assert network["source"] == "psutil" and "nvrd-test-no-ip" in network["ip_failed"]
    assert "lo" in network["interfaces"]
    assert all(json.loads(line)["kind"] for line in files["events.jsonl"].splitlines())
    for name in ("versions.txt", "status.json", "config.toml", "audit.csv"):
        assert not files[name].startswith(b"not available"), name


async def test_only_the_newest_bundles_are_kept(app: Application) -> None:
    directory = app.data_dir.root / "support"
    directory.mkdir()
    old = []
    for i in range(support.KEEP_BUNDLES + 1):
        stale = directory / f"nvrd-support_old_2024010{i}T000000Z.tar.gz"
        stale.write_bytes(b"old")
        moment = time.time() - 86400 * (10 - i)
        os.utime(stale, (moment, moment))
        old.append(stale)
    unrelated = directory / "notes.txt"
    unrelated.write_text("kept")

    path = await build_support_bundle(app)

    left = sorted(p.name for p in directory.glob("nvrd-support_*.tar.gz"))
    assert len(left) == support.KEEP_BUNDLES and path.name in left
    assert [p.exists() for p in old] == [False, False, True, True, True, True]
    assert unrelated.exists()


@pytest.mark.root
async def test_smart_of_a_disk_in_a_bay(app: Application) -> None:
    reason = sim_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    assert app.hardware is not None and app.hardware.sim is not None
    sim_disks = app.hardware.sim.disks
    assert sim_disks is not None, app.hardware.sim.disks_unavailable
    await sim_disks.insert(1, size_mib=16, serial="BUNDLE1")
    try:
        assert app.bays is not None
        bays = app.bays
        await until(lambda: next(b for b in bays.snapshot() if b.bay == 1).identity,
                    "the disk in bay 1")
        await bays.check_smart_now()
        files = members(await build_support_bundle(app))
        smart = json.loads(files["smart/bay1.json"])
        assert smart["bay"]["bay"] == 1 and smart["bay"]["identity"].endswith("BUNDLE1.img")
        assert smart["report"]["serial"] == "BUNDLE1"  # as smartctl reported it
        assert smart["report"]["state"] in ("ok", "warning", "failing"), smart["report"]
        assert smart["history"], "the check just made is in the history"
        assert "smart/bay2.json" not in files  # an empty bay has no SMART
    finally:
        await sim_disks.remove(1)


async def test_web_download_needs_the_system_right_and_is_audited(tmp_path: Path) -> None:
    port = free_port()
    authenticator = HeaderAuthenticator(users={"tech": frozenset({"system"}),
                                               "auditor": frozenset({"log_view"})})
    async with running_app(tmp_path, config_toml(port, extra=CONFIG_EXTRA),
                           authenticator=authenticator) as (app, _run), \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
        url = f"https://127.0.0.1:{port}/api/v1/system/support-bundle"
        async with session.get(url, headers={USER_HEADER: "auditor"}) as refused:
            assert refused.status == 403
        async with session.get(url, headers={USER_HEADER: "tech"}) as response:
            assert response.status == 200
            assert response.content_type == "application/gzip"
            name = response.headers["Content-Disposition"].split('filename="')[1].rstrip('"')
            body = await response.read()
        kept = app.data_dir.root / "support" / name
        assert kept.read_bytes() == body
        assert all(s.encode() not in body for s in SECRETS)
        assert "config.toml" in " ".join(members(kept))
        assert app.audit is not None
        audit_path = app.audit.path
        rows = await until(lambda: query_log(audit_path, text="support bundle downloaded"),
                           "the download is audited")
        assert rows[0][1].user == "tech" and name in rows[0][1].details
