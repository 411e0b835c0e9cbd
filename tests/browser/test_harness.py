"""The browser harness itself, on a daemon without cameras (this module overrides
``browser_box``, as a test of another page would): the page is logged in through the
cookie, sends the CSRF header on changes, runs the daemon's own page under its
Content-Security-Policy, and leaves a screenshot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.browser.harness import TEST_PAGE_PATH, BrowserBox, BrowserPage
from tests.browser.ui import open_page
from tests.events.harness import running_box_of


@pytest_asyncio.fixture
async def browser_box(tmp_path: Path) -> AsyncIterator[BrowserBox]:
    async with running_box_of(BrowserBox, tmp_path) as box:
        yield box


async def test_the_page_is_logged_in_and_shows_the_web_page(browser_page: BrowserPage
                                                            ) -> None:
    page = browser_page.page
    assert page.url == browser_page.base + TEST_PAGE_PATH
    assert await page.evaluate("typeof window.nvrdProbe.video") == "function"
    status, me = await browser_page.fetch("GET", "/api/v1/session")
    assert status == 200 and me["user"] == "admin", (status, me)

    await open_page(browser_page)  # the daemon's page, logged in: the dashboard
    assert await page.get_attribute("body", "data-page") == "dashboard"
    assert await page.locator("h1").first.text_content() == "Dashboard"
    shot = await browser_page.screenshot("dashboard")
    assert shot.stat().st_size > 1000
    assert not [line for line in browser_page.console if "Content Security Policy" in line], \
        browser_page.console

    # a change carries the CSRF token: logging out ends the browser's session
    status, body = await browser_page.fetch("DELETE", "/api/v1/session")
    assert status in (200, 204), (status, body)
    status, body = await browser_page.fetch("GET", "/api/v1/session")
    assert status == 401, (status, body)
