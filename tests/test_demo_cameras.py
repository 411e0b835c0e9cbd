"""What ``make demo`` promises, end to end: the daemon, started as systemd would, with
four virtual cameras, reports all four online on its health endpoint; a camera that
goes away is reported offline in plain words and is reconnected when it returns."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tests.daemon_harness import Daemon, camera_toml, config_toml, free_port
from tools.fakecam.control import StartFakeCams, StreamSpec, cameras_from_count

MAIN = StreamSpec(320, 240, 25, 25, 300)
SUB = StreamSpec(160, 120, 10, 10, 100)


def all_streams_online(health: dict[str, Any], count: int) -> bool:
    streams = [s for c in health["cameras"] for s in c["streams"].values()]
    return len(streams) == 2 * count and all(s["online"] for s in streams)


def test_four_cameras_online_and_a_camera_outage_is_seen(
        tmp_path: Path, fakecams: StartFakeCams) -> None:
    cams = fakecams(cameras_from_count(4, main=MAIN, sub=SUB))
    cameras = "".join(camera_toml(n, cams.url(f"cam{n}", "main"), cams.url(f"cam{n}", "sub"))
                      for n in range(1, 5))
    port = free_port()
    (tmp_path / "nvrd.toml").write_text(config_toml(port, cameras))
    daemon = Daemon(tmp_path, port)
    try:
        health = daemon.wait_health(lambda h: all_streams_online(h, 4), timeout=60)
        assert health["status"] == "ok" and health["board"].startswith("sim:")
        for camera in health["cameras"]:
            main, sub = camera["streams"]["main"], camera["streams"]["sub"]
            assert (main["codec"], main["width"], main["height"]) == ("h264", 320, 240)
            assert (sub["codec"], sub["width"], sub["height"]) == ("h264", 160, 120)
            assert main["online"] and sub["online"]

        cams.stop_camera("cam3")
        health = daemon.wait_health(lambda h: h["cameras_online"] == 3)
        cam3 = next(c for c in health["cameras"] if c["channel"] == 3)
        assert not cam3["online"]
        assert cam3["streams"]["main"]["last_error"]  # in words, e.g. "404 Not Found ..."
        assert health["status"] == "ok"  # a dead camera is not a sick daemon

        cams.restart_camera("cam3")
        health = daemon.wait_health(lambda h: h["cameras_online"] == 4, timeout=30)
        cam3 = next(c for c in health["cameras"] if c["channel"] == 3)
        assert cam3["streams"]["main"]["reconnects"] >= 1
    finally:
        assert daemon.stop() == 0
    with sqlite3.connect(tmp_path / "audit.db") as db:
        actions = [a for (a,) in db.execute("SELECT action FROM audit WHERE type = 'camera'")]
    assert "channel 3 main stream offline" in actions
    assert actions.count("channel 3 main stream online") == 2
