"""The cameras page in the browser: a second virtual camera added by its RTSP URL appears
in the channel list and goes online (and the server has it); the CSV export downloads a
file listing both channels; importing a list with a bad row imports the good one and
shows the bad row's number, column and reason; a channel is renamed and removed."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from nvrd.cameras.csvfile import COLUMNS
from tests.browser.harness import MAIN, BrowserBox, BrowserPage
from tests.browser.ui import open_page
from tools.fakecam.control import CameraSpec, OnvifSpec, StartFakeCams

GATE = "rtsp://192.0.2.10:554/gate"
"""A camera imported disabled (never connected): an address of its own (a row with the
address and port of a camera on another channel replaces that camera)."""


def csv_file(*rows: dict[str, str]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def no_script_errors(browser_page: BrowserPage) -> None:
    """The page's scripts threw nothing uncaught."""
    thrown = [line for line in browser_page.console if line.startswith("uncaught")]
    assert not thrown, thrown


async def get(browser_page: BrowserPage, path: str) -> tuple[int, Any]:
    return await browser_page.fetch("GET", path)


async def test_add_by_url_export_import_edit_and_remove(
        browser_page: BrowserPage, browser_box: BrowserBox, fakecams: StartFakeCams) -> None:
    from playwright.async_api import expect

    door = fakecams([CameraSpec("door", MAIN, None)]).url("door", "main")
    await open_page(browser_page, "settings/cameras")
    page = browser_page.page
    first = page.locator('tr[data-channel="1"]')
    await expect(first.locator(".c-online")).to_have_text("online")
    await browser_page.screenshot("cameras-list")

    # add by RTSP URL: in the list, online, and in the server's configuration
    add = page.get_by_role("form", name="Add by RTSP URL")
    await add.get_by_label("Main stream URL").fill(door)
    await add.get_by_label("Name", exact=True).fill("Door")
    await add.get_by_role("button", name="Add camera").click()
    await expect(page.locator("#notices")).to_contain_text("Camera added on channel 2 (Door)")
    second = page.locator('tr[data-channel="2"]')
    await expect(second).to_contain_text("Door")
    await expect(second.locator(".c-online")).to_have_text("online")
    await expect(second.locator(".c-streams")).to_contain_text("640×360")
    await browser_page.screenshot("cameras-added")
    status, camera = await get(browser_page, "/api/v1/cameras/2")
    assert status == 200 and camera["name"] == "Door" and camera["main"]["url"] == door, camera
    assert camera["live"]["online"], camera

    # export: a download listing both channels
    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="Download the camera list (CSV)").click()
    download = await downloading.value
    assert download.suggested_filename.startswith("RemoteConfig_"), download.suggested_filename
    text = Path(await download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["channel"], r["name"]) for r in rows] == [("1", "Camera 1"), ("2", "Door")], rows
    assert rows[1]["main_url"] == door, rows

    # import: the good row lands, the bad one is named with its column and reason
    listing = csv_file(
        {"channel": "3", "name": "Gate", "enabled": "false", "protocol": "rtsp", "main_url": GATE},
        {"channel": "4", "name": "Broken", "enabled": "false", "protocol": "rtsp",
         "main_url": "http://192.0.2.7/stream"})
    importing = page.get_by_role("form", name="Import cameras")
    await importing.get_by_label("Camera list file (CSV)").set_input_files(
        {"name": "cameras.csv", "mimeType": "text/csv", "buffer": listing})
    await importing.get_by_role("button", name="Import").click()
    report = page.locator(".import-report")
    await expect(report.get_by_role("status")).to_have_text("1 of 2 rows imported; 1 refused.")
    refused = report.locator(".rejected tbody tr")
    await expect(refused).to_have_count(1)
    await expect(refused.locator("td").nth(0)).to_have_text("3")
    await expect(refused.locator("td").nth(1)).to_have_text("main_url")
    await expect(refused.locator("td").nth(2)).to_contain_text("must be an rtsp:// or rtsps:// URL")
    await expect(report.locator("tbody tr").first).to_contain_text("new")
    await expect(page.locator('tr[data-channel="3"]')).to_contain_text("Gate")
    await browser_page.screenshot("cameras-imported")
    status, gate = await get(browser_page, "/api/v1/cameras/3")
    assert status == 200 and gate["name"] == "Gate" and not gate["enabled"], gate
    status, _ = await get(browser_page, "/api/v1/cameras/4")
    assert status == 404
    status, camera = await get(browser_page, "/api/v1/cameras/2")
    assert status == 200 and camera["name"] == "Door", camera

    # edit a channel's name and streams' transport
    await page.get_by_role("button", name="Edit channel 3 (Gate)").click()
    edit = page.get_by_role("form", name="Channel 3 settings")
    await edit.get_by_label("Name", exact=True).fill("Gate west")
    await edit.get_by_label("Main stream transport").select_option("udp")
    await edit.get_by_role("button", name="Save").click()
    await expect(page.locator('tr[data-channel="3"]')).to_contain_text("Gate west")
    await browser_page.screenshot("cameras-edited")
    status, gate = await get(browser_page, "/api/v1/cameras/3")
    assert gate["name"] == "Gate west" and gate["main"] == {"url": GATE, "transport": "udp"}, gate

    # a refused change is shown next to its field
    await edit.get_by_label("Main stream URL").fill("http://192.0.2.7/stream")
    await edit.get_by_role("button", name="Save").click()
    url_error = edit.locator(".field", has=page.get_by_label("Main stream URL")).locator(".error")
    await expect(url_error).to_contain_text("must be 'rtsp' or 'rtsps'")
    await browser_page.screenshot("cameras-edit-refused")

    # remove, after confirming
    await page.get_by_role("button", name="Remove channel 3 (Gate west)").click()
    await page.get_by_role("dialog").get_by_role("button", name="Remove channel").click()
    await expect(page.locator("#notices")).to_contain_text("Channel 3 removed")
    await expect(page.locator('tr[data-channel="3"]')).to_have_count(0)
    status, _ = await get(browser_page, "/api/v1/cameras/3")
    assert status == 404
    await page.set_viewport_size({"width": 390, "height": 844})
    await browser_page.screenshot("cameras-phone")
    no_script_errors(browser_page)


async def test_add_by_address_checks_the_camera_and_says_why_it_refuses(
        browser_page: BrowserPage, browser_box: BrowserBox, fakecams: StartFakeCams) -> None:
    from playwright.async_api import expect

    onvif = OnvifSpec()
    lobby = fakecams([CameraSpec("lobby", MAIN, None, onvif=onvif)])
    host, port = lobby.onvif_address("lobby")
    await open_page(browser_page, "settings/cameras")
    page = browser_page.page
    form = page.get_by_role("form", name="Add by address (ONVIF)")
    await form.get_by_label("Address").fill(host)
    await form.get_by_label("Port (HTTP)").fill(str(port))
    await form.get_by_label("User name").fill(onvif.username)
    await form.get_by_label("Password").fill("not-the-password")
    await form.get_by_role("button", name="Check camera").click()
    refusal = form.locator(".form-error")
    await expect(refusal).to_be_visible()
    await expect(refusal).to_contain_text("password")
    await browser_page.screenshot("onvif-wrong-password")

    await form.get_by_label("Password").fill(onvif.password)
    await form.get_by_role("button", name="Check camera").click()
    await expect(form.locator("dl.probe")).to_contain_text(f"{onvif.manufacturer} {onvif.model}")
    await expect(refusal).to_be_hidden()
    await browser_page.screenshot("onvif-checked")
    await form.get_by_label("Name", exact=True).fill("Lobby")
    await form.get_by_role("button", name="Add camera").click()
    await expect(page.locator("#notices")).to_contain_text("Camera added on channel 2 (Lobby)")
    row = page.locator('tr[data-channel="2"]')
    await expect(row.locator(".c-address")).to_have_text(f"{host}:{port}")
    await expect(row.locator(".c-online")).to_have_text("online")
    await browser_page.screenshot("onvif-added")
    status, camera = await get(browser_page, "/api/v1/cameras/2")
    assert status == 200 and camera["onvif"]["model"] == onvif.model, camera
    assert camera["main"]["url"].endswith("/lobby/main"), camera
    no_script_errors(browser_page)
