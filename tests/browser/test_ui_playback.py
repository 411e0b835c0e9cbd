"""The playback page (nvrd/web/static/js/pages/playback.js) against a daemon recording
channel 1: the calendar marks today as a day with footage, the day's timeline shows the
general recording, zooming in narrows the visible span to 30 minutes, a click on the
footage plays it (the video's own clock and the time of day shown both advance), the
4× speed sets the element's playbackRate, and a range selected on the timeline is
exported (a download), locked, and a moment tagged, which the API then reports and a
reloaded page shows."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import pytest

from tests.browser.harness import (
    MAIN,
    BrowserBox,
    BrowserPage,
    S,
    iso,
    recorded_range_across_files,
)
from tests.browser.ui import open_page
from tests.browser.video import advances, state, wait_for

if TYPE_CHECKING:
    from playwright.async_api import ViewportSize

pytestmark = pytest.mark.slow

SIDE_S = 4.0
"""Footage on each side of the first file boundary before the page opens (at least)."""
VIDEO = "playback-video"
TAG_NAME = "door opened"
TIME = re.compile(r"^\d{2}:\d{2}:\d{2}$")
PHONE: ViewportSize = {"width": 390, "height": 844}
GOP_MS = 1000 * MAIN.gop / MAIN.fps
MARGIN_PX = 20
"""A selection reaches this far past the footage on both sides (about 50 s at 30 min)."""


async def shown_ms(page: BrowserPage) -> int:
    """The instant the page says is playing (the time of day's ``data-ms``)."""
    text = await page.page.locator("#pb-time").text_content()
    assert text is not None and TIME.match(text), text
    value = await page.page.locator("#pb-time").get_attribute("data-ms")
    assert value is not None
    return int(value)


async def test_playback_page_plays_zooms_exports_locks_and_tags(
        browser_box: BrowserBox, browser_page: BrowserPage) -> None:
    from playwright.async_api import expect

    start_us, end_us = await recorded_range_across_files(browser_box, SIDE_S)
    await open_page(browser_page, "playback?channel=1")
    page = browser_page.page

    # the calendar: today is picked and marked as a day with recordings
    today = page.get_by_role("button", name=re.compile(r", today, has recordings$"))
    await expect(today).to_have_attribute("aria-pressed", "true")
    day = await today.get_attribute("data-day")
    assert day is not None and f"day={day}" in page.url and "channel=1" in page.url
    # the timeline: general footage; the whole day visible
    spans = page.locator(".pb-span")
    await expect(spans.first).to_have_attribute("data-type", "general")
    visible = page.locator(".pb-visible")
    await expect(visible).to_contain_text("(24 h)")
    await expect(page.get_by_role("list", name="Record types")).to_contain_text("Motion")
    await browser_page.screenshot("day")

    # zoom in, step by step, to 30 minutes (the footage stays in view: zoom keeps the cursor)
    zoom_in = page.get_by_role("button", name="Zoom in")
    for words in ("(12 h)", "(6 h)", "(3 h)", "(1 h)", "(30 min)"):
        await zoom_in.click()
        await expect(visible).to_contain_text(words)
    await expect(zoom_in).to_be_disabled()
    span_ms = await page.locator(".pb-timeline").get_attribute("data-visible-ms")
    assert span_ms == str(30 * 60 * 1000), span_ms
    await browser_page.screenshot("zoomed")

    # a click on the footage plays it; the video's clock and the time shown advance
    await spans.last.click()
    await advances(browser_page, 1.0, VIDEO)
    first_shown = await shown_ms(browser_page)
    recorded = urlencode({"start": iso(start_us - 3600 * S), "end": iso(end_us + 3600 * S)})
    status, line = await browser_page.fetch("GET", f"/api/v1/channels/1/timeline?{recorded}")
    assert status == 200, line
    footage = (dt.datetime.fromisoformat(line["spans"][0]["start"]).timestamp() * 1000,
               dt.datetime.fromisoformat(line["spans"][-1]["end"]).timestamp() * 1000)
    assert footage[0] - GOP_MS <= first_shown <= footage[1], (first_shown, footage)
    await advances(browser_page, 1.0, VIDEO)
    await wait_for(browser_page, "the time of day shown to advance a second",
                   "t => Number(document.getElementById('pb-time').dataset.ms) >= t",
                   first_shown + 1000, video=VIDEO)
    assert TIME.match(await page.locator("#pb-time").text_content() or ""), "not a time"
    await expect(page.get_by_role("button", name="Pause")).to_be_visible()
    await browser_page.screenshot("playing")

    # 4×: the element's playbackRate
    await page.get_by_role("button", name="Speed 4×").click()
    four = page.get_by_role("button", name="Speed 4×")
    await expect(four).to_have_attribute("aria-pressed", "true")
    await wait_for(browser_page, "playbackRate 4",
                   f"() => nvrdProbe.state('{VIDEO}').playbackRate === 4", video=VIDEO)
    assert (await state(browser_page, VIDEO))["playbackRate"] == 4
    await browser_page.screenshot("speed-4x")

    # a range selected by dragging across the footage fills From and To
    first, last = await spans.first.bounding_box(), await spans.last.bounding_box()
    assert first is not None and last is not None
    y = first["y"] + first["height"] / 2
    await page.mouse.move(first["x"] - MARGIN_PX, y)
    await page.mouse.down()
    await page.mouse.move(last["x"] + last["width"] + MARGIN_PX, y, steps=5)
    await page.mouse.up()
    await expect(page.locator(".pb-selection")).to_be_visible()
    await expect(page.get_by_label("From", exact=True)).not_to_have_value("")
    await expect(page.get_by_label("To", exact=True)).not_to_have_value("")
    await browser_page.screenshot("selected")

    # export: progress, then the file as a download
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Export", exact=True).click()
    download = await download_info.value
    assert re.match(r"ch01-main_\d{8}T\d{6}Z_\d{8}T\d{6}Z\.mp4$", download.suggested_filename)
    await expect(page.locator(".pb-range .pb-result")).to_contain_text("Exported")
    progress = page.get_by_role("progressbar", name="Export progress")
    await expect(progress).to_have_attribute("value", "1")
    await browser_page.screenshot("exported")

    # lock the range: the server lists it as locked
    await page.get_by_role("button", name="Lock range", exact=True).click()
    await expect(page.locator(".pb-range .pb-result")).to_contain_text(
        re.compile(r"\d+ recorded segments? locked"))
    window = urlencode({"start": iso(start_us - 60_000_000), "end": iso(end_us + 600_000_000)})
    status, locks = await browser_page.fetch("GET", f"/api/v1/channels/1/locks?{window}")
    assert status == 200 and locks["spans"], (status, locks)
    await expect(page.locator(".pb-lock").first).to_be_attached()
    await browser_page.screenshot("locked")

    # tag the moment playing
    await page.get_by_label("Tag name").fill(TAG_NAME)
    await page.get_by_role("button", name="Add tag").click()
    await expect(page.locator(".pb-tag-form .pb-result")).to_contain_text(f"Tag “{TAG_NAME}” added")
    status, found = await browser_page.fetch("GET", "/api/v1/tags?channel=1")
    assert status == 200 and [t["name"] for t in found["tags"]] == [TAG_NAME], found
    assert found["tags"][0]["created_by"] == "admin"

    # a picture of the frame on screen
    await page.get_by_role("button", name="Snapshot").click()
    picture = page.get_by_role("img", name=re.compile(r"^Snapshot of channel 1 at "))
    await expect(picture).to_be_visible()
    await browser_page.screenshot("tagged-and-snapshot")

    # reloaded from the server: the tag and the lock are on the day's timeline
    await open_page(browser_page, f"playback?channel=1&day={day}")
    await expect(page.get_by_role("button", name=re.compile(f"{TAG_NAME}$"))).to_be_visible()
    await expect(page.locator(".pb-lock").first).to_be_attached()
    await expect(page.locator(".pb-tags .pb-tag")).to_have_count(1)
    await browser_page.screenshot("reloaded")

    # the calendar by keyboard: the day before today has nothing recorded
    await page.get_by_role("button", name=re.compile(r", today, ")).focus()
    await page.keyboard.press("ArrowLeft")
    await page.keyboard.press("Enter")
    picked = page.locator(".pb-day[aria-pressed=true]")
    await expect(picked).to_have_attribute("aria-label", re.compile(r", no recordings$"))
    await expect(page.get_by_text("Nothing is recorded on this channel this day.")).to_be_visible()
    await expect(spans).to_have_count(0)
    assert f"day={day}" not in page.url and "day=" in page.url, page.url
    await browser_page.screenshot("day-before")

    # a phone's width: everything still reachable, nothing wider than the screen
    await page.set_viewport_size(PHONE)
    await open_page(browser_page, f"playback?channel=1&day={day}")
    overflow = await page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
    assert overflow <= 0, overflow
    await browser_page.screenshot("phone")
