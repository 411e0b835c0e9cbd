"""The administration pages in the browser: users (a user created through the page, the
password policy's words shown next to the field as the password is typed, the new user
able to log in), security (lockout settings saved and shown again after a reload), and
system (the log search finds the user's creation; the configuration export downloads a
file). The recorder runs without cameras."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.browser.harness import BrowserBox, BrowserPage
from tests.browser.ui import open_page, wait_until_ready
from tests.events.harness import HANG_GUARD_S, running_box_of

NEW_USER = "installer2"
NEW_PASSWORD = "Kq7#wPz2mV"


async def reload(browser_page: BrowserPage) -> None:
    """The same page loaded again from the server (``open_page`` of the address already
    shown would only change nothing)."""
    route = await browser_page.page.get_attribute("body", "data-page")
    await browser_page.page.reload()
    await wait_until_ready(browser_page, route)


@pytest_asyncio.fixture
async def browser_box(tmp_path: Path) -> AsyncIterator[BrowserBox]:
    """The daemon with no cameras."""
    async with running_box_of(BrowserBox, tmp_path) as box:
        yield box


async def test_a_user_created_on_the_page_can_log_in(browser_page: BrowserPage,
                                                     browser_box: BrowserBox) -> None:
    from playwright.async_api import expect

    await open_page(browser_page, "settings/users")
    page = browser_page.page
    await expect(page.get_by_role("heading", name="Users & groups")).to_be_visible()
    await expect(page.locator("table").first).to_contain_text("admin")
    await browser_page.screenshot("users")

    await page.get_by_role("button", name="Add user").click()
    await page.get_by_label("User name").fill(NEW_USER)
    password = page.get_by_label("Password", exact=True)
    await password.press_sequentially("ab1")
    # the policy's own words, next to the field, while typing (nothing sent yet)
    error = page.locator(".field", has=password).locator(".error")
    await expect(error).to_contain_text("must be at least 8 characters long")
    await expect(password).to_have_attribute("aria-invalid", "true")
    await browser_page.screenshot("password-too-short")

    await password.fill(NEW_PASSWORD)
    await expect(error).to_be_hidden()
    await page.get_by_label("Group", exact=True).select_option("user")
    await page.get_by_role("button", name="Create user").click()
    row = page.locator("tr", has_text=NEW_USER)
    await expect(row).to_contain_text("user")
    await expect(row).to_contain_text("never")  # not logged in yet
    await browser_page.screenshot("user-created")

    status, users = await browser_page.fetch("GET", "/api/v1/users")
    assert status == 200, users
    created = next(u for u in users if u["name"] == NEW_USER)
    assert created["group"] == "user" and created["enabled"] is True
    await browser_box.login(NEW_USER, NEW_PASSWORD)  # asserts the login is accepted

    await reload(browser_page)  # shown again, with the login now
    row = page.locator("tr", has_text=NEW_USER)
    await expect(row).not_to_contain_text("never")
    await browser_page.screenshot("user-logged-in")


async def test_lockout_settings_are_saved(browser_page: BrowserPage) -> None:
    from playwright.async_api import expect

    await open_page(browser_page, "settings/security")
    page = browser_page.page
    await expect(page.locator("ul.findings, .ok").first).to_be_visible()
    await browser_page.screenshot("security")
    await page.get_by_label("Failed logins before locking").fill("4")
    await page.get_by_label("Lock for (minutes)").fill("7")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.locator("#notices")).to_contain_text("Security settings saved")

    await reload(browser_page)
    await expect(page.get_by_label("Failed logins before locking")).to_have_value("4")
    await expect(page.get_by_label("Lock for (minutes)")).to_have_value("7")
    await browser_page.screenshot("security-saved")
    status, answer = await browser_page.fetch("GET", "/api/v1/security/status")
    assert status == 200, answer
    assert answer["settings"]["lockout_attempts"] == 4
    assert answer["settings"]["lockout_minutes"] == 7

    # a value out of range is refused in words next to its field
    await page.get_by_label("Failed logins before locking").fill("50")
    await page.get_by_role("button", name="Save", exact=True).click()
    field = page.locator(".field", has=page.get_by_label("Failed logins before locking"))
    await expect(field.locator(".error")).to_contain_text("10")
    await browser_page.screenshot("security-refused")


async def test_log_search_finds_the_user_creation_and_config_export_downloads(
        browser_page: BrowserPage, browser_box: BrowserBox) -> None:
    from playwright.async_api import expect

    await browser_box.user(NEW_USER, {"all_channels": ["live"]})
    # the audit log is written in batches: wait until the API finds the row
    async with asyncio.timeout(HANG_GUARD_S):
        while True:
            status, rows = await browser_page.fetch("GET", f"/api/v1/logs?text={NEW_USER}")
            assert status == 200, rows
            if any(r["action"] == "user created" for r in rows):
                break
            await asyncio.sleep(0.1)

    await open_page(browser_page, "settings/system")
    page = browser_page.page
    await expect(page.get_by_role("heading", name="System", exact=True)).to_be_visible()
    await browser_page.screenshot("system")
    search = page.get_by_role("search", name="Search the log")
    await search.get_by_label("Type").select_option("security")
    await search.get_by_label("Text").fill(NEW_USER)
    await search.get_by_role("button", name="Search").click()
    results = page.locator(".log-search + .table-wrap table")
    await expect(results.locator("tbody tr", has_text="user created")).to_contain_text(
        f"user '{NEW_USER}' in group 'user'")
    await expect(results.locator("caption")).to_contain_text("entries found")
    await search.get_by_label("Text").fill("no-such-words-anywhere")
    await search.get_by_role("button", name="Search").click()
    await expect(results).to_contain_text("nothing found")
    await search.get_by_label("Text").fill(NEW_USER)
    await search.get_by_role("button", name="Search").click()
    await expect(results).to_contain_text("user created")
    await results.scroll_into_view_if_needed()
    await browser_page.screenshot("log-search")

    async with page.expect_download() as info:
        await page.get_by_role("link", name="Export configuration").click()
    download = await info.value
    assert download.suggested_filename.startswith("nvrd-config-")
    saved = Path(await download.path())
    bundle = json.loads(saved.read_text())
    assert bundle["format"] == "nvrd-config" and bundle["secrets"] is False
    assert bundle["config"]["system"]["name"] == browser_box.app.config.system.name
