"""The dashboard (nvrd/web/static/js/pages/dashboard.js) against the real daemon
recording a virtual camera on channel 1, on the simulated board: the channel's live tile
paints the camera's picture and says it is online and recording; the PoE panel shows the
board's 8 ports and its budget and follows a device plugged in; the alarm panel shows the
4 inputs and 2 relays; an alarm contact closed on the board appears in the recent events
and in the alarm panel without a reload; the page fits a phone. A viewer sees the tiles
of their channels and no panel they have no right to, and no error about it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.harness import SUB, BrowserBox, BrowserPage, artifact_name, logged_in_page
from tests.browser.ui import open_page, wait_until_ready
from tests.browser.video import painted_frame
from tests.events.harness import USER_PASSWORD

if TYPE_CHECKING:
    from playwright.async_api import Browser

pytestmark = pytest.mark.slow

ALARM_INPUT = 2
"""A normally-open input of the simulated board: closing its contact is an alarm."""
POE_PORT = 5
PD_CLASS = 2
PD_DRAW_MW = 4_000
PHONE = (390, 844)


def sim_board(box: BrowserBox) -> Any:
    hardware = box.app.hardware
    assert hardware is not None and hardware.sim is not None, "not on the simulated board"
    return hardware.sim


def plug_powered_device(box: BrowserBox, port: int) -> None:
    """A camera's PoE cable plugged into ``port``, through the board's control commands
    (``simctl poe plug``)."""
    plug = next(c for c in sim_board(box).commands() if c.name == "poe plug")
    plug.handler(port=port, pd_class=PD_CLASS, power_mw=PD_DRAW_MW)


async def test_the_dashboard_shows_live_video_states_and_events_as_they_happen(
        chromium: Browser, browser_box: BrowserBox, browser_page: BrowserPage,
        request: pytest.FixtureRequest) -> None:
    from playwright.async_api import expect

    await open_page(browser_page, "dashboard")
    page = browser_page.page
    await page.evaluate("() => { window.nvrdSamePage = true; }")  # gone after a reload

    # the live tile of channel 1 paints the camera's (sub stream) picture
    tile = page.locator('.dash-tile[data-channel="1"]')
    await expect(tile).to_have_count(1)
    frame = await painted_frame(browser_page, "live-1")
    assert (frame.width, frame.height) == (SUB.width, SUB.height), frame
    status = tile.locator(".dash-state")
    await expect(status).to_contain_text("online")
    await expect(status).to_contain_text("recording general")
    await expect(status).to_contain_text("kbit/s")
    code, cameras = await browser_page.fetch("GET", "/api/v1/cameras")
    assert code == 200, cameras
    live = cameras[0]["live"]
    assert live["online"] and live["recording"], live
    await expect(tile).to_contain_text(cameras[0]["name"])

    # PoE: the board's 8 ports and its budget
    poe = page.locator('[data-panel="poe"]')
    await expect(poe.locator("tbody tr")).to_have_count(8)
    code, budget = await browser_page.fetch("GET", "/api/v1/poe/budget")
    assert code == 200 and budget["ports"] == 8, budget
    await expect(poe.locator(".dash-budget")).to_contain_text(
        f"of {budget['budget_mw'] / 1000:.1f} W")
    # alarm terminals: 4 inputs, 2 relays, all quiet
    alarms = page.locator('[data-panel="alarms"]')
    await expect(alarms.locator('tr[data-terminal^="alarm-in-"]')).to_have_count(4)
    await expect(alarms.locator('tr[data-terminal^="alarm-out-"]')).to_have_count(2)
    await expect(alarms.locator(f'tr[data-terminal="alarm-in-{ALARM_INPUT}"]')
                 ).to_contain_text("normal")
    # disks: the recording volume, with its retention estimate
    disks = page.locator('[data-panel="disks"]')
    await expect(disks.locator("tbody")).to_contain_text("disk")
    await expect(disks.locator("tbody")).to_contain_text("≈")
    await browser_page.screenshot("dashboard")

    # a powered device plugged in shows in its port's row, with the budget used
    plug_powered_device(browser_box, POE_PORT)
    row = poe.locator("tbody tr").nth(POE_PORT - 1)
    await expect(row).to_contain_text("delivering")
    await expect(row).to_contain_text(f"{PD_DRAW_MW / 1000:.1f} W")
    code, ports = await browser_page.fetch("GET", "/api/v1/poe")
    assert code == 200 and ports[POE_PORT - 1]["power"] == "delivering", ports

    # an alarm on the board: in the recent events and the alarm panel, without a reload
    events = page.locator('[data-panel="events"]')
    await expect(events.get_by_role("status")).to_contain_text("Live")
    sim_board(browser_box).set_alarm_contact(ALARM_INPUT, closed=True)
    started = events.locator("tbody tr", has_text="Alarm input started")
    await expect(started).to_have_count(1)
    await expect(started).to_contain_text(f"IN {ALARM_INPUT}")
    await expect(alarms.locator(f'tr[data-terminal="alarm-in-{ALARM_INPUT}"]')
                 ).to_contain_text("ALARM")
    await browser_page.screenshot("alarm")
    sim_board(browser_box).set_alarm_contact(ALARM_INPUT, closed=False)
    await expect(events.locator("tbody tr", has_text="Alarm input ended")).to_have_count(1)
    await expect(alarms.locator(f'tr[data-terminal="alarm-in-{ALARM_INPUT}"]')
                 ).to_contain_text("normal")
    assert await page.evaluate("() => window.nvrdSamePage === true"), "the page reloaded"
    # the row is the event the recorder logged
    shown = int(await started.get_attribute("data-event-id") or 0)
    logged = await browser_box.logged(
        lambda e: e["phase"] == "start" and e["source"] == f"alarm-in:{ALARM_INPUT}",
        kind="alarm_input")
    assert logged["id"] == shown, (logged, shown)

    # the same dashboard on a phone: one column, nothing wider than the screen
    async with logged_in_page(chromium, browser_box.base,
                              artifact_name(request.node.name) + "-phone",
                              viewport=PHONE) as phone:
        await open_page(phone, "dashboard")
        await painted_frame(phone, "live-1")
        box = await phone.page.locator('.dash-tile[data-channel="1"]').bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0], box
        width = await phone.page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE[0], f"the page is {width} px wide on a {PHONE[0]} px screen"
        await expect(phone.page.locator('[data-panel="poe"] tbody tr')).to_have_count(8)
        await phone.screenshot("dashboard-phone")


async def test_a_viewer_sees_their_channels_and_no_panel_they_have_no_right_to(
        chromium: Browser, browser_box: BrowserBox, request: pytest.FixtureRequest) -> None:
    from playwright.async_api import expect

    await browser_box.user("viewer", {"channels": {"1": ["live", "playback"]}})
    async with logged_in_page(chromium, browser_box.base, artifact_name(request.node.name),
                              username="viewer", password=USER_PASSWORD) as viewer:
        await open_page(viewer, "dashboard")
        await wait_until_ready(viewer, "dashboard")
        page = viewer.page
        tile = page.locator('.dash-tile[data-channel="1"]')
        await expect(tile.locator(".dash-state")).to_contain_text("online")
        await expect(tile.locator(".dash-state")).to_contain_text("recording")
        await painted_frame(viewer, "live-1")
        for panel in ("poe", "alarms", "disks"):
            await expect(page.locator(f'[data-panel="{panel}"]')).to_have_count(0)
        await expect(page.locator('[data-panel="events"]')).to_have_count(1)
        await expect(page.get_by_role("alert")).to_have_count(0)
        await viewer.screenshot("viewer-dashboard")
        code, body = await viewer.fetch("GET", "/api/v1/poe")
        assert code == 403, body
