"""The storage page in the browser: the recording volume is shown with its state, the
record-time estimate follows the manual's formula as bitrate and days change, the
full-disk settings and a channel's retention save and come back after a reload (and the
server has them), and — as root, on loop-device bays of the simulated board — a blank
disk is prepared through the page: typed-word confirmation, progress, then recording.

The bay test's loop devices are loop81-84 (a copy of the sim profile), clear of the sim
profile's 57-60, the HAL tests' 91/92, the bay tests' 93/94, the sim board test's 95/96
and the console's 97-100.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from hal.sim.disks import sim_unavailable_reason
from nvrd.paths import shipped_config_dir
from nvrd.web.api.auth import CSRF_HEADER
from tests.browser.harness import BrowserBox, BrowserPage, artifact_name, logged_in_page
from tests.browser.ui import open_page, wait_until_ready
from tests.daemon_harness import config_toml, free_port, running_app
from tests.events.harness import ADMIN_PASSWORD, Client

BAY_LOOPS = {57: 81, 58: 82, 59: 83, 60: 84}
DISK_MIB = 128


def _mb(text: str) -> re.Pattern[str]:
    """A number of MB as the page writes it, whatever the locale's digit grouping."""
    groups = text.split(",")
    return re.compile(r"\D?".join(groups) + " MB")


async def test_volume_estimate_and_retention_settings(browser_page: BrowserPage,
                                                       browser_box: BrowserBox) -> None:
    from playwright.async_api import expect

    await open_page(browser_page, "settings/storage")
    page = browser_page.page
    volumes = page.get_by_role("table", name="Volumes")
    await expect(volumes.get_by_role("row").filter(has_text="disk")).to_contain_text("ready")
    await browser_page.screenshot("storage")

    # the estimate: the manual's worked example, then a change of bitrate and days
    needed = page.locator('output[data-estimate="needed"]')
    await page.get_by_label("Bitrate per channel (kbit/s)").fill("4096")
    await page.get_by_label("Channels", exact=True).fill("1")
    await page.get_by_label("Hours recorded per day").fill("24")
    await page.get_by_label("Days to keep").fill("30")
    await expect(page.locator('output[data-estimate="per-hour"]')).to_have_text(_mb("1,800"))
    await expect(needed).to_have_text(re.compile(_mb("1,296,000").pattern + r" \(1\.24 TiB\)"))
    await page.get_by_label("Bitrate per channel (kbit/s)").fill("2048")
    await expect(needed).to_contain_text(_mb("648,000"))
    await page.get_by_label("Days to keep").fill("60")
    await expect(needed).to_contain_text(_mb("1,296,000"))
    await page.get_by_label("Channels", exact=True).fill("4")
    await expect(needed).to_contain_text(_mb("5,184,000"))
    await page.get_by_label("Recording", exact=True).select_option("event")
    await page.get_by_label("Share of time with events (%)").fill("25")
    await expect(needed).to_contain_text(_mb("1,296,000"))
    await page.get_by_label("Disk space (GB, as sold)").fill("1000")
    await expect(page.locator('output[data-estimate="held"]')).to_contain_text("days")
    await browser_page.screenshot("estimate")

    # full-disk settings: saved, shown again after a reload, and the server has them
    await page.get_by_label("When the disks are full").select_option("stop")
    await page.get_by_label("Keep free (% of each volume)").fill("7")
    await page.get_by_role("button", name="Save storage settings").click()
    saved = page.get_by_role("status").filter(has_text="Storage settings saved")
    await expect(saved).to_be_visible()
    status, storage = await browser_page.fetch("GET", "/api/v1/storage")
    assert status == 200 and storage["settings"]["full_policy"] == "stop"
    assert storage["settings"]["min_free_percent"] == 7

    # a refused value is shown next to its field
    await page.get_by_label("Keep free (% of each volume)").fill("80")
    await page.get_by_role("button", name="Save storage settings").click()
    min_free = page.locator(".field").filter(has=page.get_by_label("Keep free (% of each volume)"))
    await expect(min_free.locator(".error")).to_contain_text("50")
    await browser_page.screenshot("settings-refused")

    # a channel's retention
    await page.get_by_label("Channel 1: keep at most (days)").fill("14")
    await page.get_by_role("button", name="Save retention").click()
    await expect(page.get_by_role("status").filter(has_text="Retention saved")).to_be_visible()
    status, camera = await browser_page.fetch("GET", "/api/v1/cameras/1")
    assert status == 200 and camera["max_age_days"] == 14, camera

    await page.reload()  # the page again, from the server
    await wait_until_ready(browser_page, "settings/storage")
    await expect(page.get_by_label("When the disks are full")).to_have_value("stop")
    await expect(page.get_by_label("Keep free (% of each volume)")).to_have_value("7")
    await expect(page.get_by_label("Channel 1: keep at most (days)")).to_have_value("14")
    await browser_page.screenshot("settings-reloaded")


# --- preparing a bay disk (root: loop devices) --------------------------------------------

def _profile_on_test_loops(directory: Path) -> Path:
    directory.mkdir()
    text = (shipped_config_dir() / "boards" / "sim.toml").read_text()
    for old, new in BAY_LOOPS.items():
        text = text.replace(f'"/devices/virtual/block/loop{old}"',
                            f'"/devices/virtual/block/loop{new}"')
    assert all(f"loop{new}" in text for new in BAY_LOOPS.values())
    (directory / "sim.toml").write_text(text)
    return directory


@pytest_asyncio.fixture
async def bay_box(tmp_path: Path) -> AsyncIterator[BrowserBox]:
    """The daemon without cameras whose sim-board bays sit on loop81-84."""
    reason = sim_unavailable_reason() or (None if shutil.which("mkfs.ext4")
                                          else "no mkfs.ext4")
    if reason:
        pytest.skip(reason)
    boards = _profile_on_test_loops(tmp_path / "test-boards")
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    async with running_app(data, config_toml(port), board_dirs=[
            boards, shipped_config_dir() / "boards"]) as (app, run):
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                        connector=aiohttp.TCPConnector(ssl=False))
        box = BrowserBox(app, f"https://127.0.0.1:{port}", Client(session), [session], run)
        try:
            status, body = await box.call(box.admin, "POST", "/api/v1/init",
                                          json={"password": ADMIN_PASSWORD})
            assert status == 201, body
            box.admin.csrf = {CSRF_HEADER: body["csrf_token"]}
            yield box
        finally:
            await session.close()


@pytest.mark.root
async def test_a_blank_bay_disk_is_prepared_through_the_page(
        chromium: object, bay_box: BrowserBox, request: pytest.FixtureRequest) -> None:
    from playwright.async_api import expect

    app = bay_box.app
    assert app.hardware is not None and app.hardware.sim is not None
    assert app.hardware.sim.disks is not None, app.hardware.sim.disks_unavailable
    await app.hardware.sim.disks.insert(1, DISK_MIB, serial="WEB-PREP-1")
    async with logged_in_page(chromium, bay_box.base,  # type: ignore[arg-type]
                              artifact_name(request.node.name)) as browser_page:
        await open_page(browser_page, "settings/storage")
        page = browser_page.page
        bay_state = page.locator('[data-bay-state="1"]')
        await expect(bay_state).to_contain_text("blank")  # the page polls the bays
        await browser_page.screenshot("blank-bay")

        await page.get_by_label("Bay to prepare").select_option("1")
        await page.get_by_role("button", name="Prepare disk…").click()
        dialog = page.get_by_role("dialog")
        await expect(dialog).to_contain_text("ERASES everything on the disk in bay 1")
        await expect(dialog).to_contain_text("/dev/loop81")
        erase = dialog.get_by_role("button", name="Erase and prepare")
        await expect(erase).to_be_disabled()
        await dialog.get_by_label("type bay1 to confirm").fill("bay2")
        await expect(erase).to_be_disabled()
        await dialog.get_by_label("type bay1 to confirm").fill("bay1")
        await browser_page.screenshot("prepare-confirm")
        await erase.click()
        progress = page.locator("form.prepare .progress-text")
        await expect(progress).to_contain_text("Bay 1:")
        await browser_page.screenshot("prepare-progress")
        await expect(progress).to_contain_text("prepared (ext4)", timeout=120_000)
        await expect(bay_state).to_contain_text("recording")
        await browser_page.screenshot("prepared")

        status, bays = await browser_page.fetch("GET", "/api/v1/storage/bays")
        assert status == 200
        bay = next(b for b in bays if b["bay"] == 1)
        assert (bay["state"], bay["filesystem"]) == ("recording", "ext4"), bay
        status, storage = await browser_page.fetch("GET", "/api/v1/storage")
        assert any(v["name"] == "bay1" for v in storage["volumes"]), storage["volumes"]
