"""``make demo``: the daemon on the simulated board with four virtual cameras.

Everything lives under ``var/demo`` (the data directory, with the recording volume in
``var/demo/volumes/disk1``, prepared at first run) and ``var/clips`` (the encoded test
clips, made once). The cameras are served by tools/fakecam on a real RTSP server;
the daemon is started exactly as systemd would start it, as a separate process.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import tomli_w

from nvrd.config import dump_config, parse_config
from nvrd.config.atomic import atomic_write_bytes
from nvrd.storage.volume import IDENTITY_FILE, prepare_volume
from tools.fakecam.control import FakeCamServer, cameras_from_count

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_SECONDS = 60.0
DEMO_VOLUME = "volumes/disk1"


def demo_config(shipped: Path, camera_urls: list[tuple[str, str]], web_port: int) -> str:
    """The factory configuration plus one channel per virtual camera, recording
    continuously onto the demo volume."""
    raw = tomllib.loads(shipped.read_text())
    raw.setdefault("web", {})["port"] = web_port
    raw.setdefault("system", {})["board"] = "sim"
    raw.setdefault("storage", {})["volumes"] = [{"path": DEMO_VOLUME, "name": "disk1"}]
    raw["cameras"] = [
        {"channel": n, "name": f"Demo camera {n}", "main": {"url": main}, "sub": {"url": sub}}
        for n, (main, sub) in enumerate(camera_urls, start=1)
    ]
    return dump_config(parse_config(tomli_w.dumps(raw), "demo configuration"))


def wait_for_health(url: str, process: subprocess.Popen[bytes], timeout: float) -> dict:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the box's own self-signed certificate
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"demo: the daemon exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, context=context, timeout=2) as response:
                health = json.load(response)
            recording = sum(stream["recording"] for channel in health["recording"]
                            for stream in channel["streams"].values())
            if (health["cameras_online"] == health["cameras_enabled"]
                    and recording == sum(len(c["streams"]) for c in health["recording"])):
                return health
        except (OSError, ValueError) as exc:
            last_error = exc
        time.sleep(0.5)
    raise SystemExit(f"demo: the daemon did not report its cameras online and recording in "
                     f"{timeout:g} s ({last_error})")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--rtsp-port", type=int, default=8554)
    parser.add_argument("--web-port", type=int, default=8443)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var" / "demo")
    args = parser.parse_args()

    # SIGTERM (a service manager, `timeout`) ends the demo like Ctrl-C: cameras and daemon too
    signal.signal(signal.SIGTERM, _interrupt)
    data_dir: Path = args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    volume = data_dir / DEMO_VOLUME
    if not (volume / IDENTITY_FILE).exists():
        # on a real box this is "prepare disk" (nvrd prepare-volume), an explicit step
        prepare_volume(volume, "demo disk")
    with FakeCamServer(cameras_from_count(args.cameras), port=args.rtsp_port,
                       clip_cache=ROOT / "var" / "clips") as cameras:
        urls = [(cameras.url(f"cam{n}", "main"), cameras.url(f"cam{n}", "sub"))
                for n in range(1, args.cameras + 1)]
        config = demo_config(ROOT / "config" / "nvrd.toml", urls, args.web_port)
        atomic_write_bytes(data_dir / "nvrd.toml", config.encode())
        daemon = subprocess.Popen(
            [sys.executable, "-m", "nvrd", "run", "--data-dir", str(data_dir)],
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            health_url = f"https://127.0.0.1:{args.web_port}/api/v1/health"
            health = wait_for_health(health_url, daemon, STARTUP_TIMEOUT_SECONDS)
            print(f"\nnvrd demo is running: {health['cameras_online']} cameras online and "
                  "recording\n"
                  f"  web page : https://127.0.0.1:{args.web_port}/  (self-signed certificate)\n"
                  f"  health   : curl -k {health_url}\n"
                  f"  cameras  : {', '.join(main for main, _ in urls)}\n"
                  f"  data     : {data_dir}\n"
                  f"  footage  : {volume}/rec (catalog: {volume}/catalog.sqlite3)\n"
                  "  hardware : .venv/bin/python -m tools.simctl help  (alarms, PoE, buttons, "
                  "disks)\n"
                  "Ctrl-C stops it.\n", flush=True)
            daemon.wait()
        except KeyboardInterrupt:
            pass
        finally:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(timeout=60)
    return daemon.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
