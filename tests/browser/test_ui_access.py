"""Who gets in, and what they see: the web page's login form says why a login failed and,
after too many failures, that the account is locked and for how long; a user without
administrative rights sees no settings in the menu and is refused (in words) on an admin
page's address, and the API behind it refuses too. The recorder runs without cameras."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.browser.harness import BrowserBox, BrowserPage, artifact_name, logged_in_page
from tests.browser.ui import open_page, wait_until_ready
from tests.events.harness import ADMIN_PASSWORD, USER_PASSWORD, running_box_of

LOCKOUT_ATTEMPTS = 3


@pytest_asyncio.fixture
async def browser_box(tmp_path: Path) -> AsyncIterator[BrowserBox]:
    """The daemon with no cameras, locking an account after three failed logins."""
    config = f"[security]\nlockout_attempts = {LOCKOUT_ATTEMPTS}\nlockout_minutes = 2\n"
    async with running_box_of(BrowserBox, tmp_path, config) as box:
        yield box


async def test_a_failed_login_says_why_and_then_that_the_account_is_locked(
        chromium: object, browser_box: BrowserBox, request: pytest.FixtureRequest) -> None:
    from playwright.async_api import expect

    async with logged_in_page(chromium, browser_box.base,  # type: ignore[arg-type]
                              artifact_name(request.node.name), username=None) as anonymous:
        await open_page(anonymous)
        page = anonymous.page
        assert await page.get_attribute("body", "data-page") == "login"
        await anonymous.screenshot("login")
        error = page.locator("form .form-error")
        for attempt in range(1, LOCKOUT_ATTEMPTS + 1):
            await page.get_by_label("User name").fill("admin")
            await page.get_by_label("Password").fill(f"not-the-password-{attempt}")
            await page.get_by_role("button", name="Log in").click()
            await expect(error).to_contain_text("Wrong user name or password")
            await expect(page.get_by_label("Password")).to_have_value("")
            if attempt == 1:
                await anonymous.screenshot("login-failed")
            await page.wait_for_function(  # the next try waits for this one's answer
                "() => !document.querySelector('form button[type=submit]').disabled")
        # the next try, even with the right password, meets the lock, with the time left
        await page.get_by_label("User name").fill("admin")
        await page.get_by_label("Password").fill(ADMIN_PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(error).to_contain_text("this account (or this address) is locked")
        await expect(error).to_contain_text("You can try again in 1 min")
        await expect(page.get_by_role("button", name="Log in")).to_be_disabled()
        await anonymous.screenshot("login-locked")
        assert await page.get_attribute("body", "data-page") == "login"


async def test_a_user_without_rights_neither_sees_nor_reaches_admin_pages(
        chromium: object, browser_box: BrowserBox, request: pytest.FixtureRequest) -> None:
    from playwright.async_api import expect

    await browser_box.user("viewer", {"all_channels": ["live", "playback"]})
    async with logged_in_page(chromium, browser_box.base,  # type: ignore[arg-type]
                              artifact_name(request.node.name), username=None) as viewer:
        await open_page(viewer)
        page = viewer.page
        await page.get_by_label("User name").fill("viewer")
        await page.get_by_label("Password").fill(USER_PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await wait_until_ready(viewer, "dashboard")
        nav = page.get_by_role("navigation", name="Pages")
        await expect(nav.get_by_role("link", name="Dashboard")).to_be_visible()
        await expect(nav.get_by_role("link", name="Playback")).to_be_visible()
        assert await nav.get_by_text("Settings").count() == 0
        await expect(page.locator("#who")).to_contain_text("viewer (user)")
        await viewer.screenshot("viewer-dashboard")

        for route in ("settings/users", "settings/security", "settings/system",
                      "settings/cameras", "wizard"):
            await open_page(viewer, route)
            refusal = page.get_by_role("alert")
            await expect(refusal).to_contain_text("has no right to this page")
            await expect(page.locator("table, form")).to_have_count(0)
        await viewer.screenshot("viewer-refused")
        status, body = await viewer.fetch("GET", "/api/v1/users")
        assert status == 403 and body["error"]["code"] == "forbidden", body


async def test_the_administrator_sees_every_page_in_the_menu(browser_page: BrowserPage
                                                             ) -> None:
    from playwright.async_api import expect

    await open_page(browser_page)
    page = browser_page.page
    nav = page.get_by_role("navigation", name="Pages")
    await nav.get_by_text("Settings").click()
    for name in ("Cameras", "Recording", "Storage", "Events", "PTZ", "PoE", "Users",
                 "Security", "System", "Setup wizard"):
        await expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
