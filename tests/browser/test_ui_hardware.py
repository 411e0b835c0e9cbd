"""The PoE and PTZ pages in the browser, against the simulated board: switching a PoE port
off (asked first) and on again and power-cycling one reach the board's ports
(``/api/v1/poe``, the audit log); the PTZ page's control pad (mouse held, arrow keys held)
and its presets (set with a name, go to) reach the simulated Pelco-D dome on the RS-485
pty. Channel 1's camera does not exist (its stream is refused): PTZ does not need it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest_asyncio

from hal.ptz import Pan, PtzProtocol, Tilt
from hal.sim.dome import SimDomeSnapshot
from tests.browser.harness import BrowserBox, BrowserPage
from tests.browser.ui import open_page
from tests.events.harness import HANG_GUARD_S, running_box_of

DOME_ADDRESS = 2
PTZ_CAMERA = f"""
[[cameras]]
channel = 1
name = "Gate dome"
main = {{ url = "rtsp://127.0.0.1:9/none" }}
ptz = {{ protocol = "pelco-d", address = {DOME_ADDRESS} }}
"""


@pytest_asyncio.fixture
async def browser_box(tmp_path: Path) -> AsyncIterator[BrowserBox]:
    """The daemon on the simulated board with a Pelco-D dome on channel 1."""
    async with running_box_of(BrowserBox, tmp_path, PTZ_CAMERA) as box:
        yield box


async def _port(browser_page: BrowserPage, number: int) -> dict[str, object]:
    status, ports = await browser_page.fetch("GET", "/api/v1/poe")
    assert status == 200, ports
    return dict(next(p for p in ports if p["port"] == number))


async def test_poe_ports_switch_off_on_and_power_cycle(browser_page: BrowserPage) -> None:
    from playwright.async_api import expect

    await open_page(browser_page, "settings/poe")
    page = browser_page.page
    await expect(page.locator('[data-budget="used"]')).to_contain_text(" W of ")
    ports = page.get_by_role("table", name="PoE ports")
    await expect(ports.get_by_role("row")).to_have_count(9)  # the heading and 8 ports
    await browser_page.screenshot("poe")

    # switching off asks first; "Cancel" changes nothing
    await page.get_by_role("button", name="Switch port 2 off").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("Switch PoE port 2 off?")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_have_count(0)
    assert (await _port(browser_page, 2))["admin_enabled"] is True

    await page.get_by_role("button", name="Switch port 2 off").click()
    await browser_page.screenshot("poe-confirm-off")
    await dialog.get_by_role("button", name="Switch off").click()
    await expect(page.locator('[data-port-state="2"]')).to_have_text("switched off")
    port = await _port(browser_page, 2)
    assert (port["admin_enabled"], port["power"]) == (False, "disabled"), port
    await browser_page.screenshot("poe-port-off")

    await page.get_by_role("button", name="Switch port 2 on").click()
    await expect(page.get_by_role("button", name="Switch port 2 off")).to_be_visible()
    assert (await _port(browser_page, 2))["admin_enabled"] is True

    await page.get_by_role("button", name="Power-cycle port 3").click()
    await dialog.get_by_role("button", name="Power-cycle").click()
    await expect(page.get_by_role("status").filter(has_text="Port 3 power-cycled")).to_be_visible()
    status, logs = await browser_page.fetch("GET", "/api/v1/logs?type=poe")
    assert status == 200 and "PoE port 3 power-cycled" in str(logs), logs


async def test_ptz_pad_and_presets_reach_the_dome(browser_page: BrowserPage,
                                                  browser_box: BrowserBox) -> None:
    from playwright.async_api import expect

    hardware = browser_box.app.hardware
    assert hardware is not None and hardware.sim is not None and hardware.sim.ptz is not None
    line = hardware.sim.ptz

    def dome() -> SimDomeSnapshot:
        return line.dome(PtzProtocol.PELCO_D, DOME_ADDRESS).snapshot()

    async def until(found: Callable[[SimDomeSnapshot], bool]) -> None:
        async with asyncio.timeout(HANG_GUARD_S):
            while not found(dome()):
                await asyncio.sleep(0.05)

    await open_page(browser_page, "settings/ptz")
    page = browser_page.page
    await expect(page.get_by_label("Channel", exact=True)).to_have_value("1")
    await browser_page.screenshot("ptz")

    # the pad: held with the mouse
    left = page.get_by_role("button", name="Move left", exact=True)
    await left.hover()
    await page.mouse.down()
    await until(lambda d: d.pan is Pan.LEFT)
    await page.mouse.up()
    await until(lambda d: d.pan is Pan.STOP)
    # ... and with the arrow keys on the pad
    await page.get_by_role("button", name="Move up", exact=True).focus()
    await page.keyboard.down("ArrowUp")
    await until(lambda d: d.tilt is Tilt.UP)
    await page.keyboard.up("ArrowUp")
    await until(lambda d: d.tilt is Tilt.STOP)

    # a preset set with a name, then called
    await page.get_by_label("Preset number").fill("5")
    await page.get_by_label("Preset name").fill("Gate")
    await page.get_by_role("button", name="Set preset here").click()
    await until(lambda d: 5 in d.presets)
    presets = page.get_by_role("table", name="Presets set from this browser")
    await expect(presets).to_contain_text("Gate")
    await page.get_by_label("Preset number").fill("1")
    await page.get_by_role("button", name="Go to preset 5").click()
    await until(lambda d: d.last_preset_called == 5)
    await expect(page.get_by_role("status").filter(has_text="Going to preset 5")).to_be_visible()
    await browser_page.screenshot("ptz-preset")
