"""Runs the real daemon as a separate process, as systemd would, for end-to-end tests
(``Daemon``), or in the test's own event loop (``running_app``)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from nvrd.app import Application
from nvrd.config import ConfigStore
from nvrd.paths import shipped_config_dir
from tests.notify_harness import NotifyListener


@asynccontextmanager
async def running_app(data_dir: Path, config: str,
                      ready: Callable[[Application], object] = lambda app: True,
                      **options: Any) -> AsyncIterator[tuple[Application, asyncio.Task[int]]]:
    """``Application`` (with ``options`` as its keyword arguments) on ``data_dir``, the
    simulated board and the live configuration ``config``, once its web server listens
    and ``ready(app)`` holds: (the application, its ``run()`` task). Stopped at the end,
    with exit status 0."""
    (data_dir / "nvrd.toml").write_text(config)
    options.setdefault("board_dirs", [shipped_config_dir() / "boards"])
    app = Application(ConfigStore(data_dir / "nvrd.toml"), data_dir, **options)
    run = asyncio.create_task(app.run())
    try:
        async with asyncio.timeout(60):
            while not (run.done() or (app.web is not None and app.web.url and ready(app))):
                await asyncio.sleep(0.05)
        assert not run.done(), "the daemon stopped while starting"
        yield app, run
    finally:
        app.request_stop()
        assert await asyncio.wait_for(run, 60) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def camera_toml(channel: int, main_url: str, sub_url: str | None = None) -> str:
    text = f'[[cameras]]\nchannel = {channel}\nmain = {{ url = "{main_url}" }}\n'
    if sub_url:
        text += f'sub = {{ url = "{sub_url}" }}\n'
    return text


RECORDING_VOLUME = """
[storage]
full_policy = "overwrite"
min_free_percent = 1
reserve_minutes = 0

[[storage.volumes]]
path = "v1"

[recording]
segment_seconds = 10
"""
"""Recording onto ``<data dir>/v1`` (prepare it first: ``prepare_volume``) in 10 s
segments, overwriting when full."""


def config_toml(web_port: int, cameras: str = "", extra: str = "") -> str:
    """A small live configuration: fast reconnects so outage tests stay short."""
    return (
        f'[web]\nhost = "127.0.0.1"\nport = {web_port}\nhttp_redirect_port = 0\n\n'
        "[ingest]\nopen_timeout_seconds = 5\nstall_timeout_seconds = 3\n"
        "backoff_initial_seconds = 1\nbackoff_max_seconds = 2\n\n"
        f"{extra}\n{cameras}"
    )


class Daemon:
    def __init__(self, data_dir: Path, web_port: int, notify: NotifyListener | None = None,
                 watchdog_usec: int | None = None) -> None:
        self.data_dir = data_dir
        self.web_port = web_port
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        env["PYTHONUNBUFFERED"] = "1"
        if notify is not None:
            env["NOTIFY_SOCKET"] = notify.address
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        self.log_path = data_dir / "daemon.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nvrd", "run", "--data-dir", str(data_dir)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def health(self) -> dict[str, Any]:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        url = f"https://127.0.0.1:{self.web_port}/api/v1/health"
        try:
            with urllib.request.urlopen(url, context=context, timeout=5) as response:
                return dict(json.load(response))
        except urllib.error.HTTPError as exc:  # 503 still carries the JSON body
            return dict(json.load(exc))

    def wait_health(self, predicate: Callable[[dict[str, Any]], bool],
                    timeout: float = 30.0) -> dict[str, Any]:
        """Poll the health endpoint until ``predicate`` holds; fail with the last answer."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | str = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited {self.process.returncode}:\n{self.log()}")
            try:
                last = self.health()
                if predicate(last):
                    return last
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise AssertionError(f"health condition not met in {timeout} s; last: {last}\n"
                             f"{self.log()[-3000:]}")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
