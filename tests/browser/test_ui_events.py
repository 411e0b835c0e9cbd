"""The events and linkage page in the browser: a rule for alarm input 1 driving relay 1 is
added and saved through the page, comes back after a reload (and the server has it); a
refused setting is shown next to its field; the rule's "Test" fires it — relay 1 goes on
on the simulated board, visible through ``/api/v1/alarms`` — and says what it did; the
one-switch disarm and the alarm reset act through the page. No cameras are needed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.browser.harness import BrowserBox, BrowserPage
from tests.browser.ui import open_page, wait_until_ready
from tests.events.harness import running_box_of


@pytest_asyncio.fixture
async def browser_box(tmp_path: Path) -> AsyncIterator[BrowserBox]:
    """The daemon on the simulated board (4 alarm inputs, 2 relays), without cameras."""
    async with running_box_of(BrowserBox, tmp_path) as box:
        yield box


async def test_a_rule_is_edited_saved_tested_and_disarmed(browser_page: BrowserPage) -> None:
    from playwright.async_api import expect

    await open_page(browser_page, "settings/events")
    page = browser_page.page
    await expect(page.locator('[data-armed="yes"]')).to_contain_text("Armed")
    await page.get_by_role("button", name="Add a rule for Alarm input").click()
    rule = page.locator('[data-rule="new-1"]')
    await rule.get_by_label("Name").fill("door")
    await rule.get_by_label("Alarm input", exact=True).select_option("alarm-in:1")
    await rule.get_by_label("Relay 1", exact=False).check()
    await rule.get_by_label("Anti-dither (s)").fill("0")
    await rule.get_by_label("Record channels").fill("7")  # no camera there: refused
    await browser_page.screenshot("rule-added")
    await page.get_by_role("button", name="Save rules").click()
    record = rule.locator(".field").filter(has=page.get_by_label("Record channels"))
    error = record.locator(".error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("7")
    await browser_page.screenshot("rule-refused")
    status, settings = await browser_page.fetch("GET", "/api/v1/events/linkage/settings")
    assert status == 200 and settings["rules"] == [], "a refused save changes nothing"

    await rule.get_by_label("Record channels").fill("")
    await page.get_by_role("button", name="Save rules").click()
    await expect(page.get_by_role("status").filter(has_text="Rules saved")).to_be_visible()
    status, settings = await browser_page.fetch("GET", "/api/v1/events/linkage/settings")
    assert status == 200
    (saved,) = settings["rules"]
    assert (saved["name"], saved["kind"], saved["source"], saved["relays"],
            saved["anti_dither_seconds"]) == ("door", "alarm_input", "alarm-in:1", [1], 0), saved

    await page.reload()  # the page again, from the server
    await wait_until_ready(browser_page, "settings/events")
    rule = page.locator('[data-rule="door"]')
    await expect(rule.get_by_label("Alarm input", exact=True)).to_have_value("alarm-in:1")
    await expect(rule.get_by_label("Relay 1", exact=False)).to_be_checked()
    await expect(rule.get_by_label("Relay 2", exact=False)).not_to_be_checked()

    # the test button fires the rule: relay 1 is on at the board, the page says so
    await rule.get_by_role("button", name="Test").click()
    await expect(rule.locator(".test-result")).to_contain_text("relay 1 on")
    status, alarms = await browser_page.fetch("GET", "/api/v1/alarms")
    assert status == 200 and next(o for o in alarms["outputs"] if o["number"] == 1)["on"], alarms
    await expect(page.get_by_role("table", name="Open incidents")).to_contain_text("door (test)")
    await browser_page.screenshot("rule-tested")
    await page.get_by_role("button", name="Alarm reset (relays, buzzer, lamp off)").click()
    await expect(page.locator("p.outputs")).to_contain_text("relay 1 off")
    status, alarms = await browser_page.fetch("GET", "/api/v1/alarms")
    assert not next(o for o in alarms["outputs"] if o["number"] == 1)["on"], alarms

    # disarm and arm again
    await page.get_by_role("button", name="Disarm now").click()
    await expect(page.locator('[data-armed="no"]')).to_contain_text("Disarmed")
    status, disarm = await browser_page.fetch("GET", "/api/v1/events/disarm")
    assert status == 200 and disarm["disarmed"] and disarm["enabled"], disarm
    await browser_page.screenshot("disarmed")
    await page.get_by_role("button", name="Arm again").click()
    await expect(page.locator('[data-armed="yes"]')).to_contain_text("Armed")
    status, disarm = await browser_page.fetch("GET", "/api/v1/events/disarm")
    assert not disarm["disarmed"], disarm
