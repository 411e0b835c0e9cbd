"""Fixtures of the browser tests (tests/browser/harness.py says how they work).

``chromium``: Debian's Chromium under Playwright (skipped, with the reason, only where
one of them is missing). ``browser_box``: the daemon the page talks to: by default one
recording a virtual camera on channel 1; a test module overrides the fixture for another
set-up. ``browser_page``: a page logged in to ``browser_box`` as its administrator. A
failed test leaves a screenshot and the page's console next to its other artefacts.

Tests using ``chromium`` (or a fixture built on it) get the ``browser`` marker, so
``-m "not browser"`` leaves them out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from tests.browser.harness import (
    CAMERA,
    BrowserBox,
    BrowserPage,
    artifact_name,
    browser_unavailable_reason,
    launched_chromium,
    logged_in_page,
    recording_box,
)
from tools.fakecam.control import StartFakeCams

if TYPE_CHECKING:
    from playwright.async_api import Browser

CALL_REPORT = pytest.StashKey[pytest.TestReport]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[CALL_REPORT] = report
    return report


@pytest_asyncio.fixture
async def chromium() -> AsyncIterator[Browser]:
    reason = browser_unavailable_reason()
    if reason:
        pytest.skip(reason)
    async with launched_chromium() as browser:
        yield browser


@pytest_asyncio.fixture
async def browser_box(tmp_path: Path, fakecams: StartFakeCams) -> AsyncIterator[BrowserBox]:
    """The daemon recording channel 1 (main and sub) from a virtual camera."""
    cams = fakecams([CAMERA])
    async with recording_box(tmp_path, cams) as box:
        yield box


@pytest_asyncio.fixture
async def browser_page(chromium: Browser, browser_box: BrowserBox,
                       request: pytest.FixtureRequest) -> AsyncIterator[BrowserPage]:
    prefix = artifact_name(request.node.name)
    async with logged_in_page(chromium, browser_box.base, prefix) as page:
        yield page
        report = request.node.stash.get(CALL_REPORT, None)
        if report is not None and report.failed:
            await page.screenshot("failed")
            page.save_console()
