"""The recording settings page in the browser: a week schedule edited (two periods on
Monday of different types, Monday copied to Tuesday–Friday), saved, and back after a
reload, on the page and in the server's configuration; a channel's mode, schedule and
pre/post-record times saved, reloaded and copied to another channel; holidays saved and
reloaded, a bad range refused next to its field; a period whose
end is before its start is refused with the reason next to it and nothing is saved; a
day takes at most six periods."""

from __future__ import annotations

from typing import Any

from tests.browser.harness import CAMERA, BrowserBox, BrowserPage
from tests.browser.ui import open_page

WORKDAYS = ("Tuesday", "Wednesday", "Thursday", "Friday")
MONDAY = [{"start": "00:00", "end": "08:00", "type": "motion"},
          {"start": "08:00", "end": "18:00", "type": "general"}]


async def reload(browser_page: BrowserPage, route: str) -> None:
    """A real reload: leave the page's document, then open the route afresh (a change of
    the address's #fragment alone would not load anything again)."""
    await browser_page.open_test_page()
    await open_page(browser_page, route)


def no_script_errors(browser_page: BrowserPage) -> None:
    """The page's scripts threw nothing uncaught."""
    thrown = [line for line in browser_page.console if line.startswith("uncaught")]
    assert not thrown, thrown


async def get(browser_page: BrowserPage, path: str) -> Any:
    status, body = await browser_page.fetch("GET", path)
    assert status == 200, (path, status, body)
    return body


async def test_a_week_schedule_is_edited_copied_saved_and_back_after_a_reload(
        browser_page: BrowserPage, browser_box: BrowserBox) -> None:
    from playwright.async_api import expect

    await open_page(browser_page, "settings/recording")
    page = browser_page.page
    await expect(page.get_by_label("Recording mode")).to_have_value("auto")
    await browser_page.screenshot("recording-no-schedules")

    await page.get_by_text("New schedule…", exact=True).click()
    await page.get_by_label("Name of the new schedule").fill("office")
    await page.get_by_role("button", name="Create").click()
    monday = page.get_by_role("group", name="Monday", exact=True)
    await monday.get_by_role("button", name="Add period").click()
    await monday.get_by_label("Monday period 1 start").fill("00:00")
    await monday.get_by_label("Monday period 1 end").fill("08:00")
    await monday.get_by_label("Monday period 1 records on").select_option("motion")
    await monday.get_by_role("button", name="Add period").click()
    await expect(monday.get_by_label("Monday period 2 start")).to_have_value("08:00")
    await monday.get_by_label("Monday period 2 end").fill("18")  # typed short: 18:00
    await monday.get_by_label("Monday period 2 end").blur()
    await expect(monday.get_by_label("Monday period 2 end")).to_have_value("18:00")
    await expect(monday.get_by_role("img")).to_have_attribute(
        "aria-label", "Monday: 00:00 to 08:00 motion, 08:00 to 18:00 continuous")
    await monday.get_by_text("Copy Monday to…", exact=True).click()
    copy = monday.get_by_role("group", name="Copy the periods of Monday to")
    for day in WORKDAYS:
        await copy.get_by_label(day, exact=True).check()
    await copy.get_by_role("button", name="Copy", exact=True).click()
    await expect(copy.get_by_role("status")).to_contain_text("Copied to Tuesday, Wednesday")
    await browser_page.screenshot("recording-schedule-edited")

    await page.get_by_role("button", name="Save schedule").click()
    await expect(page.locator("#notices")).to_contain_text("Schedule “office” saved")
    saved = await get(browser_page, "/api/v1/recording/schedules/office")
    for day in ("monday", *(d.lower() for d in WORKDAYS)):
        assert saved["days"][day] == MONDAY, (day, saved)
    assert saved["days"]["saturday"] == [] and saved["days"]["sunday"] == []

    # the channel records by it, with its own pre/post-record times
    await page.get_by_label("Schedule", exact=True).select_option("office")
    await page.get_by_label("Pre-record (s)").fill("3")
    await page.get_by_label("Post-record (s)").fill("45")
    await page.get_by_role("button", name="Save channel settings").click()
    await expect(page.locator("#notices")).to_contain_text("Recording settings of channel 1 saved")

    await reload(browser_page, "settings/recording?channel=1&schedule=office")
    await expect(page.get_by_label("Schedule to edit")).to_have_value("office")
    for day in ("Monday", *WORKDAYS):
        group = page.get_by_role("group", name=day, exact=True)
        await expect(group.get_by_label(f"{day} period 1 start")).to_have_value("00:00")
        await expect(group.get_by_label(f"{day} period 1 end")).to_have_value("08:00")
        await expect(group.get_by_label(f"{day} period 1 records on")).to_have_value("motion")
        await expect(group.get_by_label(f"{day} period 2 start")).to_have_value("08:00")
        await expect(group.get_by_label(f"{day} period 2 end")).to_have_value("18:00")
        await expect(group.get_by_label(f"{day} period 2 records on")).to_have_value("general")
        await expect(group.get_by_label(f"{day} period 3 start")).to_have_count(0)
    saturday = page.get_by_role("group", name="Saturday", exact=True)
    await expect(saturday).to_contain_text("this day does not record")
    await expect(page.get_by_label("Schedule", exact=True)).to_have_value("office")
    await expect(page.get_by_label("Pre-record (s)")).to_have_value("3")
    await expect(page.get_by_label("Post-record (s)")).to_have_value("45")
    await browser_page.screenshot("recording-reloaded")
    no_script_errors(browser_page)
    camera = await get(browser_page, "/api/v1/cameras/1")
    assert (camera["mode"], camera["schedule"], camera["pre_record_seconds"],
            camera["post_record_seconds"]) == ("auto", "office", 3, 45), camera


async def test_channel_settings_and_holidays_are_saved_reloaded_and_copied(
        browser_page: BrowserPage, browser_box: BrowserBox) -> None:
    from playwright.async_api import expect

    assert browser_box.cams is not None
    status, body = await browser_page.fetch("POST", "/api/v1/cameras", {
        "channel": 2, "name": "Yard", "enabled": False,
        "main": {"url": browser_box.cams.url(CAMERA.name, "main")}})
    assert status == 201, body
    await open_page(browser_page, "settings/recording?channel=1")
    page = browser_page.page
    await page.get_by_label("Recording mode").select_option("manual")
    await page.get_by_label("Pre-record (s)").fill("7")
    await page.get_by_label("Post-record (s)").fill("120")
    await page.get_by_role("button", name="Save channel settings").click()
    await expect(page.locator("#notices")).to_contain_text("Recording settings of channel 1 saved")
    await page.get_by_text("Copy to channels…", exact=True).click()
    await page.get_by_label("2 — Yard").check()
    await page.get_by_role("button", name="Copy settings").click()
    await expect(page.get_by_text("Copied to channel 2.")).to_be_visible()
    await browser_page.screenshot("recording-copied-to-channels")
    for channel in (1, 2):
        camera = await get(browser_page, f"/api/v1/cameras/{channel}")
        assert (camera["mode"], camera["pre_record_seconds"],
                camera["post_record_seconds"]) == ("manual", 7, 120), camera

    await reload(browser_page, "settings/recording?channel=2")
    await expect(page.get_by_label("Channel", exact=True)).to_have_value("2")
    await expect(page.get_by_label("Recording mode")).to_have_value("manual")
    await expect(page.get_by_label("Pre-record (s)")).to_have_value("7")
    await expect(page.get_by_label("Post-record (s)")).to_have_value("120")

    # an out-of-range time is refused next to its field, and nothing changes
    await page.get_by_label("Post-record (s)").fill("5")
    await page.get_by_role("button", name="Save channel settings").click()
    post_error = page.locator(".field", has=page.get_by_label("Post-record (s)")).locator(".error")
    await expect(post_error).to_contain_text("10")
    await browser_page.screenshot("recording-post-record-refused")
    camera = await get(browser_page, "/api/v1/cameras/2")
    assert camera["post_record_seconds"] == 120, camera

    # holidays: a range whose last day is before its first is refused next to it; then saved
    holidays = page.get_by_role("form", name="Holidays")
    await holidays.get_by_role("button", name="Add holiday").click()
    await holidays.get_by_label("Holiday 1 name").fill("Christmas")
    await holidays.get_by_label("Holiday 1 first day").fill("2026-12-25")
    await holidays.get_by_label("Holiday 1 last day").fill("2026-12-24")
    await holidays.get_by_role("button", name="Save holidays").click()
    last_error = holidays.locator(".field", has=page.get_by_label("Holiday 1 last day")
                                  ).locator(".error")
    await expect(last_error).to_contain_text("must not be before start")
    await browser_page.screenshot("recording-holiday-refused")
    assert (await get(browser_page, "/api/v1/recording/holidays"))["holidays"] == []
    await holidays.get_by_label("Holiday 1 last day").fill("2026-12-26")
    await holidays.get_by_role("button", name="Save holidays").click()
    await expect(page.locator("#notices")).to_contain_text("Holidays saved")
    assert (await get(browser_page, "/api/v1/recording/holidays"))["holidays"] == [
        {"name": "Christmas", "date": None, "start": "2026-12-25", "end": "2026-12-26"}]
    await reload(browser_page, "settings/recording")
    await expect(page.get_by_label("Holiday 1 name")).to_have_value("Christmas")
    await expect(page.get_by_label("Holiday 1 first day")).to_have_value("2026-12-25")
    await expect(page.get_by_label("Holiday 1 last day")).to_have_value("2026-12-26")
    no_script_errors(browser_page)


async def test_a_bad_period_is_refused_next_to_it_and_nothing_is_saved(
        browser_page: BrowserPage, browser_box: BrowserBox) -> None:
    from playwright.async_api import expect

    status, before = await browser_page.fetch("PUT", "/api/v1/recording/schedules/nights", {
        "name": "nights", "days": {"monday": [{"start": "18:00", "end": "24:00",
                                               "type": "alarm"}]}})
    assert status == 200, before
    await open_page(browser_page, "settings/recording?schedule=nights")
    page = browser_page.page
    wednesday = page.get_by_role("group", name="Wednesday", exact=True)
    await wednesday.get_by_role("button", name="Add period").click()
    await wednesday.get_by_label("Wednesday period 1 start").fill("10:00")
    await wednesday.get_by_label("Wednesday period 1 end").fill("09:00")
    await page.get_by_role("button", name="Save schedule").click()
    await expect(wednesday.get_by_role("alert")).to_contain_text(
        "Period 1: must be later than start '10:00'")
    await expect(wednesday.get_by_label("Wednesday period 1 end")).to_have_attribute(
        "aria-invalid", "true")
    await expect(page.get_by_role("form", name="Schedule nights").locator(".form-error")
                 ).to_contain_text("not saved")
    await browser_page.screenshot("recording-bad-period")
    assert await get(browser_page, "/api/v1/recording/schedules/nights") == before

    # a day takes six periods at most: the seventh cannot be added
    sunday = page.get_by_role("group", name="Sunday", exact=True)
    add = sunday.get_by_role("button", name="Add period")
    for _ in range(6):
        await add.click()
    await expect(sunday.get_by_label("Sunday period 6 start")).to_be_visible()
    await expect(add).to_be_disabled()
    await expect(sunday.get_by_text("A day has at most 6 periods.")).to_be_visible()
    await browser_page.screenshot("recording-six-periods")
    await page.set_viewport_size({"width": 390, "height": 844})
    await browser_page.screenshot("recording-phone")
    no_script_errors(browser_page)
