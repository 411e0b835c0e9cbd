"""The daemon's lifecycle, run for real: a separate process, a test NOTIFY_SOCKET in
place of systemd, real signals, the real HTTPS health endpoint."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nvrd.app import Application
from nvrd.config import ConfigStore
from nvrd.paths import shipped_config_dir
from nvrd.service import Health, Service
from nvrd.system.sdnotify import SdNotifier
from tests.daemon_harness import Daemon, camera_toml, config_toml, free_port
from tests.notify_harness import NotifyListener


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifyListener]:
    listener = NotifyListener(tmp_path)
    yield listener
    listener.close()


def audit_rows(data_dir: Path, type: str) -> list[tuple[str, str, str]]:
    with sqlite3.connect(data_dir / "audit.db") as db:
        return list(db.execute(
            "SELECT action, result, details FROM audit WHERE type = ? ORDER BY id", (type,)))


def test_ready_then_watchdog_pings_then_stopping_on_sigterm(
        tmp_path: Path, notify: NotifyListener) -> None:
    port = free_port()
    (tmp_path / "nvrd.toml").write_text(config_toml(port))
    daemon = Daemon(tmp_path, port, notify, watchdog_usec=400_000)
    try:
        seen = notify.wait_for("READY=1", timeout=60)
        assert not any("WATCHDOG=1" in m for m in seen), "pinged before it was ready"
        pings = 0
        deadline = time.monotonic() + 5
        while pings < 3 and time.monotonic() < deadline:
            pings += notify.receive(deadline - time.monotonic()) == "WATCHDOG=1"
        assert pings >= 3
        health = daemon.wait_health(lambda h: h["status"] == "ok")
        assert health["config"] == {"source": "file", "error": None}
        daemon.signal(signal.SIGTERM)
        notify.wait_for("STOPPING=1", timeout=30)
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    actions = [action for action, _, _ in audit_rows(tmp_path, "system")]
    assert actions == ["daemon started", "daemon stopping"]


def test_first_start_seeds_the_live_configuration_from_the_factory_one(tmp_path: Path) -> None:
    """No nvrd.toml yet: the daemon writes the factory configuration and runs on it."""
    store = ConfigStore(tmp_path / "nvrd.toml",
                        defaults_path=shipped_config_dir() / "nvrd.toml")
    loaded = store.load()
    assert loaded.error is None
    assert (tmp_path / "nvrd.toml").read_text() == (shipped_config_dir() / "nvrd.toml").read_text()


def test_a_bad_file_at_start_runs_on_the_last_good_configuration(
        tmp_path: Path, notify: NotifyListener) -> None:
    port = free_port()
    good = config_toml(port, camera_toml(1, "rtsp://127.0.0.1:9/cam1/main"))
    (tmp_path / "nvrd.toml").write_text(good)
    daemon = Daemon(tmp_path, port, notify)
    notify.wait_for("READY=1", timeout=60)
    assert daemon.stop() == 0

    bad = good.replace('channel = 1', 'channel = 999')
    (tmp_path / "nvrd.toml").write_text(bad)
    daemon = Daemon(tmp_path, port, notify)
    try:
        notify.wait_for("READY=1", timeout=60)
        health = daemon.wait_health(lambda h: h["config"]["source"] == "last-good")
        error = health["config"]["error"]
        assert "cameras[0].channel" in error and "999" in error
        assert health["cameras_enabled"] == 1  # the last good configuration's camera
        assert "configuration file rejected" in daemon.log()
    finally:
        assert daemon.stop() == 0
    rejected = audit_rows(tmp_path, "config")
    assert rejected and rejected[-1][1] == "rejected" and "999" in rejected[-1][2]
    assert (tmp_path / "nvrd.toml").read_text() == bad  # the technician's file is left alone


def test_sighup_applies_a_valid_file_and_refuses_an_invalid_one(
        tmp_path: Path, notify: NotifyListener) -> None:
    port = free_port()
    one = camera_toml(1, "rtsp://127.0.0.1:9/a")
    (tmp_path / "nvrd.toml").write_text(config_toml(port, one))
    daemon = Daemon(tmp_path, port, notify)
    try:
        notify.wait_for("READY=1", timeout=60)
        two = one + camera_toml(2, "rtsp://127.0.0.1:9/b")
        (tmp_path / "nvrd.toml").write_text(config_toml(port, two))
        daemon.signal(signal.SIGHUP)
        seen = notify.wait_for("READY=1", timeout=30)
        assert any("RELOADING=1" in m for m in seen)
        daemon.wait_health(lambda h: h["cameras_enabled"] == 2)

        invalid = config_toml(port, two).replace("backoff_max_seconds = 2",
                                                 'backoff_max_seconds = 2\ntransport = "sctp"')
        (tmp_path / "nvrd.toml").write_text(invalid)
        daemon.signal(signal.SIGHUP)
        notify.wait_for("READY=1", timeout=30)
        health = daemon.wait_health(lambda h: h["config"]["error"] is not None)
        assert health["cameras_enabled"] == 2  # still running the previous configuration
        assert "reload refused" in health["config"]["error"]
    finally:
        assert daemon.stop() == 0
    results = [result for action, result, _ in audit_rows(tmp_path, "config")
               if action == "configuration reload"]
    assert results == ["ok", "rejected"]


class FlakyService(Service):
    """A service whose health the test controls (stands for a stuck recorder)."""

    name = "flaky"

    def __init__(self) -> None:
        super().__init__()
        self.ok = True

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def health(self) -> Health:
        return Health(self.ok, "" if self.ok else "writer stuck for 40 s")


async def _pings_during(listener: NotifyListener, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    pings = 0
    while (remaining := deadline - time.monotonic()) > 0:
        pings += await asyncio.to_thread(listener.receive, remaining) == "WATCHDOG=1"
    return pings


async def test_watchdog_pings_stop_while_a_service_is_unhealthy(
        tmp_path: Path, notify: NotifyListener) -> None:
    (tmp_path / "nvrd.toml").write_text(config_toml(free_port()))
    flaky = FlakyService()
    notifier = SdNotifier({"NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "200000"})
    app = Application(ConfigStore(tmp_path / "nvrd.toml"), tmp_path,
                      board_dirs=[shipped_config_dir() / "boards"], notifier=notifier,
                      extra_services=[flaky])
    run = asyncio.create_task(app.run())
    try:
        await asyncio.to_thread(notify.wait_for, "READY=1", 30)
        assert await _pings_during(notify, 1.0) >= 4
        flaky.ok = False
        await asyncio.sleep(0.2)
        while notify.receive(0) is not None:  # drop a ping sent before the flip
            pass
        assert await _pings_during(notify, 1.0) == 0
        assert app.status().problems == ["flaky: writer stuck for 40 s"]
        flaky.ok = True
        assert await _pings_during(notify, 1.0) >= 4
    finally:
        app.request_stop()
        assert await run == 0
