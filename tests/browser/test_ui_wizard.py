"""A new installer's path, in the browser: an uninitialized recorder with four virtual
ONVIF cameras, three behind PoE ports 1-3 (plugged in while the wizard shows the camera
step: plug-and-play adds them) and one on port 4's network without PoE power from the
recorder (found by "Search the network" and added with its password, after a wrong one).
The page opens on the wizard, goes through every step by label and role — the password
policy explained as it is typed, the time zone (kept across a reload), the network view,
disks, cameras, the recording default — and ends on the dashboard; every channel then
records, as the API says."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from nvrd.app import Application
from nvrd.paths import shipped_config_dir
from nvrd.storage.volume import prepare_volume
from tests.browser.harness import BrowserBox, BrowserPage, artifact_name, logged_in_page
from tests.browser.ui import open_page, wait_until_ready
from tests.daemon_harness import config_toml, free_port, running_app
from tests.events.harness import ADMIN_PASSWORD, HANG_GUARD_S
from tests.poe_netns import (
    BOARD_DIR,
    SMALL_MAIN,
    SMALL_SUB,
    PortCamera,
    StartCameraPorts,
    camera_ports,  # noqa: F401 - the fixture
    plug_and_play_toml,
)
from tools.fakecam.control import CameraSpec
from tools.fakecam.spec import OnvifSpec

if TYPE_CHECKING:
    from playwright.async_api import Browser, Locator, Page

pytestmark = [pytest.mark.gst, pytest.mark.slow]

PNP_PORTS = (1, 2, 3)
SEARCHED_PORT = 4
"""Its camera is on the network (link up) but not powered by the recorder's PSE, so
plug-and-play leaves it alone: the installer finds it by searching."""
CAMERA_PASSWORD = OnvifSpec().password
ZONE = "Europe/Berlin"
PHONE = (390, 844)
MOTION_SCHEDULE = "motion-all-day"
"""The schedule the wizard's "motion" default saves (pages/wizard/recording.js)."""
ARRIVAL_MS = 90_000
"""Guard for plug-and-play: a camera answers discovery once its link is up, then is
activated, probed and added; only so that a broken test fails instead of hanging."""


@dataclass
class WizardBox:
    app: Application
    base: str
    ports: list[PortCamera]


@pytest_asyncio.fixture
async def wizard_box(camera_ports: StartCameraPorts,  # noqa: F811
                     tmp_path: Path) -> AsyncIterator[WizardBox]:
    """The daemon on board sim-netns, uninitialized, recording onto a prepared volume, with
    plug-and-play on; cameras behind ports 1-4 (those of 1-3 inactive, as from the
    factory: plug-and-play activates them with its password)."""
    ports = camera_ports(4, lambda n: [CameraSpec(
        f"cam{n}", SMALL_MAIN, SMALL_SUB,
        onvif=OnvifSpec(inactive=n != SEARCHED_PORT, http_port=80))])
    prepare_volume(tmp_path / "disk", "disk")
    web_port = free_port()
    config = config_toml(web_port, extra=plug_and_play_toml(tmp_path / "disk"))
    async with running_app(tmp_path, config,
                           board_dirs=[BOARD_DIR, shipped_config_dir() / "boards"]) as (app, _):
        yield WizardBox(app, f"https://127.0.0.1:{web_port}", ports)


def field_error(page: Page, label: str) -> Locator:
    """The error paragraph of the field labelled ``label`` (ui.js ``field``)."""
    return page.locator(".field", has=page.get_by_label(label, exact=True)).locator(".error")


async def step(browser_page: BrowserPage, heading: str, shot: str) -> None:
    from playwright.async_api import expect

    await expect(browser_page.page.get_by_role("heading", name=heading)).to_be_visible()
    await browser_page.screenshot(shot)


async def api_get(browser_page: BrowserPage, path: str) -> Any:
    status, body = await browser_page.fetch("GET", path)
    assert status == 200, (path, status, body)
    return body


@pytest.mark.root
async def test_a_new_installer_goes_from_an_uninitialized_box_to_four_recording_cameras(
        chromium: Browser, wizard_box: WizardBox, request: pytest.FixtureRequest) -> None:
    from playwright.async_api import expect

    async with logged_in_page(chromium, wizard_box.base, artifact_name(request.node.name),
                              username=None) as installer:
        page = installer.page
        next_button = page.get_by_role("button", name="Next", exact=True)
        await open_page(installer)
        assert await page.get_attribute("body", "data-page") == "wizard"

        # 1. the administrator: the policy explained as the password is typed
        await step(installer, "Step 1 of 7: Administrator", "1-administrator")
        assert await page.get_by_label("User name").input_value() == "admin"
        policy = page.locator(".policy")
        await page.get_by_label("Password", exact=True).fill("abc")
        await expect(policy).to_contain_text("not accepted")
        await expect(policy).to_contain_text("must be at least 8 characters long")
        await installer.screenshot("1-password-refused-as-typed")
        await page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
        await expect(policy).to_contain_text("strong")
        await expect(policy.get_by_role("listitem")).to_have_count(0)
        await page.get_by_label("Repeat the password").fill(ADMIN_PASSWORD + "x")
        await next_button.click()
        await expect(field_error(page, "Repeat the password")).to_contain_text("differ")
        await installer.screenshot("1-passwords-differ")
        await page.get_by_label("Repeat the password").fill(ADMIN_PASSWORD)
        await next_button.click()

        # 2. time: a refusal next to its field, then the time zone saved
        await step(installer, "Step 2 of 7: Time", "2-time")
        await expect(page.get_by_label("The recorder's clock")).not_to_be_empty()
        await page.get_by_label("Time zone").select_option(ZONE)
        await page.get_by_label("Set the clock from NTP servers").check()
        await page.get_by_label("NTP servers", exact=True).fill("")
        await next_button.click()
        await expect(field_error(page, "NTP servers")).to_contain_text("server")
        await installer.screenshot("2-time-ntp-refused")
        await page.get_by_label("Set the clock from NTP servers").uncheck()
        await next_button.click()

        # 3. network, read-only; a reload comes back to the step, logged in
        await step(installer, "Step 3 of 7: Network", "3-network")
        interfaces = page.get_by_role("table", name="Network interfaces")
        await expect(interfaces).to_contain_text(f"{wizard_box.ports[0].interface}")
        await expect(page.get_by_role("link", name="Settings → System")).to_be_visible()
        await page.reload()
        await wait_until_ready(installer, "wizard")
        await step(installer, "Step 2 of 6: Network", "3-network-reloaded")
        await page.get_by_role("button", name="Back").click()
        await step(installer, "Step 1 of 6: Time", "3-time-from-the-server")
        await expect(page.get_by_label("Time zone")).to_have_value(ZONE)
        await expect(page.get_by_role("button", name="Back")).to_be_disabled()
        time_settings = await api_get(installer, "/api/v1/system/time")
        assert time_settings["timezone"] == ZONE and not time_settings["ntp"]["enabled"]
        await next_button.click()
        await step(installer, "Step 2 of 6: Network", "3-network-again")
        await next_button.click()

        # 4. disks: the sim's bays are empty; the configured volume is ready
        await step(installer, "Step 3 of 6: Disks", "4-disks")
        await expect(page.get_by_role("table", name="Drive bays")).to_contain_text("HDD1")
        await expect(page.get_by_role("table", name="Recording volumes")).to_contain_text("ready")
        await expect(page.get_by_text("1 volume ready to record on.")).to_be_visible()
        await next_button.click()

        # 5. cameras: three PoE cameras plugged in appear by themselves ...
        await step(installer, "Step 4 of 6: Cameras", "5-cameras-none-yet")
        cameras = page.get_by_role("table", name="Cameras on this recorder")
        await expect(cameras).to_contain_text("no camera yet")
        await plug_in(wizard_box, PNP_PORTS)
        for port in PNP_PORTS:
            row = cameras.get_by_role("row").filter(has_text=f"10.88.{port}.2")
            await expect(row).to_contain_text("new", timeout=ARRIVAL_MS)
            await expect(row.get_by_role("cell").first).to_have_text(str(port))
        await expect(page.get_by_role("status").filter(has_text="New camera on channel")
                     ).to_be_visible()
        await installer.screenshot("5-cameras-plugged-in")
        # ... the fourth is found by searching and added with its password
        await asyncio.to_thread(wizard_box.ports[SEARCHED_PORT - 1].link.set_link, True)
        found = page.get_by_role("table", name="Cameras found on the network")
        searched = f"10.88.{SEARCHED_PORT}.2"
        await page.get_by_role("button", name="Search the network").click()
        await expect(found.get_by_role("row").filter(has_text="10.88.1.2")
                     ).to_contain_text("on channel 1")
        await found.get_by_role("button", name=f"Add camera {searched}").click()
        form = page.get_by_role("form", name=f"Add the camera at {searched}")
        await expect(form.get_by_label("Address")).to_have_value(searched)
        await form.get_by_label("Camera password").fill("Not-The-Pass9")
        await form.get_by_role("button", name="Add camera").click()
        await expect(field_error(page, "Camera password")).to_contain_text("password")
        await expect(form.get_by_label("Camera password")).to_have_attribute("aria-invalid",
                                                                             "true")
        await installer.screenshot("5-camera-wrong-password")
        await form.get_by_label("Camera password").fill(CAMERA_PASSWORD)
        await form.get_by_role("button", name="Add camera").click()
        await expect(form).to_have_count(0)
        row = cameras.get_by_role("row").filter(has_text=searched)
        await expect(row.get_by_role("cell").first).to_have_text(str(SEARCHED_PORT))
        await installer.screenshot("5-cameras-all-four")
        await next_button.click()

        # 6. the recording default, applied to every channel
        await step(installer, "Step 5 of 6: Recording", "6-recording")
        await page.get_by_label("Continuous recording").check()
        await next_button.click()
        await step(installer, "Step 6 of 6: Finish", "7-finish")
        await page.get_by_role("button", name="Finish").click()
        await wait_until_ready(installer, "dashboard")

        # every channel records, as the API says, and the dashboard shows them
        channels = [*PNP_PORTS, SEARCHED_PORT]
        async with asyncio.timeout(HANG_GUARD_S * 3):
            while True:
                listed = await api_get(installer, "/api/v1/cameras")
                if sorted(c["channel"] for c in listed) == channels and all(
                        c["live"]["recording"] for c in listed):
                    break
                await asyncio.sleep(0.5)
        assert all((c["mode"], c["schedule"]) == ("auto", "always") for c in listed), listed
        log = await api_get(installer, "/api/v1/logs?type=config&limit=100")
        for channel in channels:
            assert any(f"camera {channel} changed" in e["action"] for e in log), \
                f"the wizard applied the recording default to channel {channel}"
        await installer.screenshot("8-dashboard-on-arrival")
        await open_page(installer, "dashboard")
        tiles = page.locator("[data-channel]")
        if await tiles.count():  # the dashboard's tiles (written in parallel with this test)
            await expect(tiles).to_have_count(len(channels))
        await installer.screenshot("8-dashboard")


async def plug_in(box: WizardBox, ports: tuple[int, ...]) -> None:
    """The installer plugs PoE cameras into ``ports`` (the simulated board's command)."""
    hardware = box.app.hardware
    assert hardware is not None and hardware.sim is not None
    plug = next(c for c in hardware.sim.commands() if c.name == "poe plug")
    for port in ports:
        plug.handler(port=port, pd_class=3, power_mw=4_000)


async def test_an_administrator_reruns_the_wizard_on_a_phone_and_picks_motion_recording(
        chromium: Browser, browser_box: BrowserBox, request: pytest.FixtureRequest) -> None:
    """Opened from Settings (no administrator step), on a phone's width: the recording
    default "motion" makes a motion schedule and puts the camera on it, which the API and
    a reload of the step show."""
    from playwright.async_api import expect

    async with logged_in_page(chromium, browser_box.base, artifact_name(request.node.name),
                              viewport=PHONE) as phone:
        page = phone.page
        next_button = page.get_by_role("button", name="Next", exact=True)
        await open_page(phone)
        nav = page.get_by_role("navigation", name="Pages")
        await nav.get_by_text("Settings").click()
        await nav.get_by_role("link", name="Setup wizard").click()
        await wait_until_ready(phone, "wizard")
        await step(phone, "Step 1 of 6: Time", "phone-1-time")
        await expect(page.get_by_role("button", name="Back")).to_be_disabled()
        for heading in ("Step 2 of 6: Network", "Step 3 of 6: Disks", "Step 4 of 6: Cameras"):
            await next_button.click()
            await step(phone, heading, "phone-" + heading.rsplit(": ", 1)[1].lower())
            assert await fits_the_width(page), f"{heading}: the page is wider than the phone"
        cameras = page.get_by_role("table", name="Cameras on this recorder")
        await expect(cameras.get_by_role("cell").first).to_have_text("1")
        await next_button.click()

        await step(phone, "Step 5 of 6: Recording", "phone-5-recording")
        await expect(page.get_by_label("Continuous recording")).to_be_checked()
        await page.get_by_label("Motion recording").check()
        await next_button.click()
        await step(phone, "Step 6 of 6: Finish", "phone-6-finish")

        status, camera = await phone.fetch("GET", "/api/v1/cameras/1")
        assert status == 200, camera
        assert (camera["mode"], camera["schedule"]) == ("auto", MOTION_SCHEDULE), camera
        assert camera["motion"]["enabled"], "an RTSP camera is watched by the recorder"
        status, schedule = await phone.fetch("GET",
                                             f"/api/v1/recording/schedules/{MOTION_SCHEDULE}")
        assert status == 200, schedule
        assert schedule["days"]["monday"] == [{"start": "00:00", "end": "24:00", "type": "motion"}]

        await page.reload()
        await wait_until_ready(phone, "wizard")
        await page.get_by_role("button", name="Back").click()
        await step(phone, "Step 5 of 6: Recording", "phone-5-recording-reloaded")
        await expect(page.get_by_label("Motion recording")).to_be_checked()


async def fits_the_width(page: Page) -> bool:
    return bool(await page.evaluate(
        "() => document.documentElement.scrollWidth <= window.innerWidth"))
