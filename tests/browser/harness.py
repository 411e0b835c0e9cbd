"""Headless Chromium against the real daemon: Debian's ``chromium`` driven by Playwright
(its async API, on the test's own event loop, next to the in-process daemon of
tests/events/harness.py).

Why Debian's browser: it plays H.264 in ``<video>`` and through MSE, as the recorder's
users' browsers do, and it comes from the package registry like everything else
(scripts/setup installs it); Playwright's own browser download is neither possible on
the build machines nor needed. Playwright is only the remote control.

What a test gets (tests/browser/conftest.py)::

    async def test_x(browser_page: BrowserPage) -> None:
        # the page starts empty, on the daemon's origin (TEST_PAGE_PATH)
        await browser_page.page.evaluate("nvrdProbe.video()")
        await browser_page.screenshot("playing")     # saved under artifacts_dir()

The page is logged in to the daemon (``browser_box``; a module overrides that fixture for
another daemon set-up, e.g. one without cameras) as its administrator through the API,
as the web UI does: a ``fetch`` POST of /api/v1/session from the page, so the session
cookie sits in the browser and every request of the page carries it. The daemon's
self-signed certificate is accepted (``ignore_https_errors``). Its Content-Security-Policy
is kept (no ``bypass_csp``): what the tests run on the page obeys the same rules as the
real UI, except the probe (tests/browser/probe.js), which Playwright installs as an init
script.

Screenshots (and, for a failed test, the page's console) go to ``artifacts_dir()``:
``$NVRD_ARTIFACTS`` or ``<repo>/.artifacts/browser/`` (git-ignored), one file per test
and label, so CI can keep them.

Playwright itself is imported lazily, so the test package still collects (and skips with
the reason) where it is not installed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nvrd.storage.volume import prepare_volume
from nvrd.web.api.auth import CSRF_HEADER
from tests.daemon_harness import camera_toml
from tests.events.harness import ADMIN_PASSWORD, HANG_GUARD_S, Box, running_box_of
from tools.fakecam.control import CameraSpec, FakeCamServer, StreamSpec

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

REPO = Path(__file__).resolve().parents[2]
PROBE_JS = Path(__file__).with_name("probe.js")
CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_ARGS = (
    "--no-sandbox",  # CI containers run as root, where Chromium's sandbox cannot start
    "--disable-dev-shm-usage",  # a container's small /dev/shm must not crash the renderer
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
)
TEST_PAGE_PATH = "/__browser_test__/"
"""A path the daemon does not serve. Its 404 answer is a document of the daemon's origin
(same-origin requests, the cookie) that comes from the daemon's address with the
daemon's headers (Content-Security-Policy included) and runs none of the UI's scripts;
``open_test_page`` empties it. A page Playwright answers itself (``route.fulfill``)
would not do: Chromium counts a response that came from no address as one from the
public internet and blocks its WebSockets to the loopback daemon (Local Network Access:
``ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS``), which the daemon's own pages never meet."""
TIMEOUT_MS = HANG_GUARD_S * 1000
"""Playwright's default for every wait: only so that a broken test fails instead of
hanging; never a measure."""
S = 1_000_000
MAIN = StreamSpec(640, 360, 25, 25, 800)
SUB = StreamSpec(320, 240, 15, 15, 300)
CAMERA = CameraSpec("cam1", MAIN, SUB)
"""The camera ``browser_box`` records: a keyframe a second on both streams, so seeks
and live starts land close to where asked."""


def chromium_executable() -> str | None:
    """The browser: ``$NVRD_CHROMIUM`` or Debian's ``chromium`` on the PATH."""
    configured = os.environ.get("NVRD_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_unavailable_reason() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return ("Playwright for Python is not installed (it is in the dev extra: "
                "scripts/setup, or pip install -e '.[dev]')")
    if chromium_executable() is None:
        configured = os.environ.get("NVRD_CHROMIUM")
        if configured:
            return f"NVRD_CHROMIUM={configured} is not an executable file"
        return ("Debian's chromium is not installed (scripts/setup installs it; or point "
                "NVRD_CHROMIUM at a Chromium binary)")
    return None


def artifacts_dir() -> Path:
    """Where screenshots go: ``$NVRD_ARTIFACTS``, else ``<repo>/.artifacts/browser``."""
    path = Path(os.environ.get("NVRD_ARTIFACTS") or REPO / ".artifacts" / "browser")
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifact_name(test_name: str) -> str:
    """A file-name prefix for a test (its id without characters a file system dislikes)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name).strip("_")[:120]


@asynccontextmanager
async def launched_chromium(extra_args: Sequence[str] = ()) -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright; closed at the end."""
    from playwright.async_api import async_playwright

    executable = chromium_executable()
    assert executable is not None, browser_unavailable_reason()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable,
                                                   args=[*CHROMIUM_ARGS, *extra_args],
                                                   headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class BrowserPage:
    """A Playwright page in its own browser context, logged in to the daemon at ``base``."""

    page: Page
    base: str
    artifact_prefix: str
    csrf: dict[str, str] = field(default_factory=dict)
    console: list[str] = field(default_factory=list)
    """The page's console messages, uncaught errors, refused and failed requests (the
    first is the test page's own 404), for failure messages."""
    screenshots: list[Path] = field(default_factory=list)

    async def open_test_page(self) -> None:
        """An empty document at ``TEST_PAGE_PATH`` on the daemon's origin, under the
        daemon's Content-Security-Policy."""
        await self.page.goto(self.base + TEST_PAGE_PATH)
        await self.page.evaluate("""() => {
            document.documentElement.replaceChildren(document.createElement("head"),
                                                     document.createElement("body"));
            document.title = "nvrd browser test";
        }""")

    async def fetch(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A ``fetch`` from the page (its cookie, the CSRF header on unsafe methods):
        (status, JSON body or text)."""
        answer = await self.page.evaluate(
            """async ([method, path, headers, body]) => {
                const init = {method, headers: {...headers}, credentials: "same-origin"};
                if (body !== null) {
                    init.headers["Content-Type"] = "application/json";
                    init.body = JSON.stringify(body);
                }
                const response = await fetch(path, init);
                return [response.status, await response.text()];
            }""",
            [method, path, self.csrf if method not in ("GET", "HEAD") else {}, body])
        status, text = int(answer[0]), str(answer[1])
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    async def log_in(self, username: str, password: str) -> None:
        """Log in as the web UI does (must be on the daemon's origin)."""
        status, body = await self.fetch("POST", "/api/v1/session",
                                        {"username": username, "password": password})
        assert status == 201, (status, body)
        self.csrf = {CSRF_HEADER: body["csrf_token"]}

    async def screenshot(self, label: str) -> Path:
        """The page as it looks now, saved as an artefact."""
        path = artifacts_dir() / f"{self.artifact_prefix}-{artifact_name(label)}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        self.screenshots.append(path)
        return path

    def forget_old_artifacts(self) -> None:
        """Removes what an earlier run of the same test left (a stale "failed" shot)."""
        for old in artifacts_dir().glob(f"{self.artifact_prefix}-*"):
            old.unlink(missing_ok=True)

    def save_console(self) -> Path:
        path = artifacts_dir() / f"{self.artifact_prefix}-console.txt"
        path.write_text("\n".join(self.console or ["(nothing logged)"]) + "\n")
        return path


@asynccontextmanager
async def logged_in_page(browser: Browser, base: str, artifact_prefix: str,
                         username: str | None = "admin", password: str = ADMIN_PASSWORD,
                         viewport: tuple[int, int] = (1024, 768)
                         ) -> AsyncIterator[BrowserPage]:
    """A new browser context and page on the daemon at ``base``, logged in as
    ``username`` (None: nobody) and left on the blank test page; closed at the end."""
    context = await browser.new_context(ignore_https_errors=True,
                                        viewport={"width": viewport[0],
                                                  "height": viewport[1]})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        await context.add_init_script(path=PROBE_JS)
        page = await context.new_page()
        found = BrowserPage(page, base, artifact_prefix)
        found.forget_old_artifacts()
        page.on("console", lambda m: found.console.append(f"console.{m.type}: {m.text}"))
        page.on("pageerror", lambda e: found.console.append(f"uncaught: {e}"))
        page.on("response", lambda r: found.console.append(
            f"HTTP {r.status} {r.request.method} {r.url}") if r.status >= 400 else None)
        page.on("requestfailed", lambda r: found.console.append(
            f"request failed: {r.method} {r.url}: {r.failure}"))
        await found.open_test_page()
        if username is not None:
            await found.log_in(username, password)
        yield found
    finally:
        await context.close()


# --- a recording daemon --------------------------------------------------------------------

@dataclass
class BrowserBox(Box):
    """The daemon (tests/events/harness.py ``Box``) with the virtual cameras it records."""

    cams: FakeCamServer | None = None


def recording_config(volume: str, cameras: str) -> str:
    """Configuration for a daemon recording ``cameras`` on the prepared ``volume``
    (a path relative to the data directory), in short segments."""
    return (f'[[storage.volumes]]\npath = "{volume}"\n\n'
            "[recording]\nsegment_seconds = 10\n\n" + cameras)


@asynccontextmanager
async def recording_box(tmp_path: Path, cams: FakeCamServer) -> AsyncIterator[BrowserBox]:
    """The daemon in ``tmp_path`` recording channel 1 from the camera ``cam1`` of
    ``cams`` (main and, if it has one, sub stream) on a fresh volume."""
    prepare_volume(tmp_path / "disk", "disk")
    sub = cams.url("cam1", "sub") if "sub" in cams.cameras["cam1"].streams else None
    config = recording_config("disk", camera_toml(1, cams.url("cam1", "main"), sub))
    async with running_box_of(BrowserBox, tmp_path, config) as box:
        box.cams = cams
        yield box


async def recorded_range_across_files(box: Box, side_s: float, channel: int = 1,
                                      stream: str = "main") -> tuple[int, int]:
    """Waits until the first file boundary of the recording has ``side_s`` recorded on
    its far side and returns the range from ``side_s`` before it (or the recording's
    start, if nearer) to ``side_s`` after it (UTC µs), recorded without a gap. (A first
    segment lasts a half to one and a half segment lengths: a range from the recording's
    start may lie in one file.)"""
    storage = box.app.storage
    assert storage is not None, "the daemon has no storage service"
    side_us = round(side_s * S)
    async with asyncio.timeout(HANG_GUARD_S + 3 * side_s):
        while True:
            files = await storage.recorded_segments(channel, stream, 0, 2**62)
            if len(files) >= 2:
                boundary = files[1].row.start_us
                start, end = max(files[0].row.start_us, boundary - side_us), boundary + side_us
                covered = await storage.intervals(channel, stream, start, end)
                if len(covered) == 1 and (covered[0].start_us, covered[0].end_us) == (start,
                                                                                      end):
                    return start, end
            await asyncio.sleep(0.25)


def iso(us: int) -> str:
    """A UTC instant as the API takes it (ISO 8601 with its zone)."""
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)
    return moment.isoformat()
