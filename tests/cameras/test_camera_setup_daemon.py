"""Adding ONVIF cameras by address, their refusals, their own events, their clocks and
their PTZ, through the API of the real daemon (``Application`` on the simulated board,
in this process) against virtual cameras that answer ONVIF (``tools/fakecam``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from nvrd.app import Application
from nvrd.storage.volume import prepare_volume
from tests.cameras.daemon_api import ADMIN, ADMIN_RIGHTS, poll_until
from tests.daemon_harness import config_toml, free_port, running_app
from tests.web.api.harness import USER_HEADER, HeaderAuthenticator
from tools.fakecam.control import CameraSpec, FakeCamServer, StartFakeCams, StreamSpec
from tools.fakecam.spec import OnvifSpec

pytestmark = [pytest.mark.slow, pytest.mark.gst]

MAIN = StreamSpec(320, 240, 25, 25, 300)
SUB = StreamSpec(320, 180, 25, 25, 200)
PASSWORD = "Camera-Pass1"
END_OF_TIME = 1 << 62


@dataclass
class Answer:
    status: int
    body: Any


@dataclass
class Nvr:
    app: Application
    cams: FakeCamServer
    session: aiohttp.ClientSession
    base: str

    async def call(self, method: str, path: str, body: Any = None, **params: Any) -> Answer:
        async with self.session.request(method, self.base + path, json=body,
                                        headers={USER_HEADER: ADMIN},
                                        params={k: str(v) for k, v in params.items()}
                                        ) as response:
            data = (await response.json() if response.content_type == "application/json"
                    else await response.read())
            return Answer(response.status, data)

    def account(self, camera: str, password: str = PASSWORD) -> dict[str, Any]:
        host, port = self.cams.onvif_address(camera)
        return {"address": host, "port": port, "username": "admin", "password": password}


def nvr_fixture(specs: Sequence[CameraSpec], cameras_toml: Callable[[FakeCamServer], str]
                = lambda cams: "") -> Any:
    @pytest.fixture
    async def nvr(fakecams: StartFakeCams, tmp_path: Path) -> AsyncIterator[Nvr]:
        cams = fakecams(list(specs))
        prepare_volume(tmp_path / "disk", "disk")
        port = free_port()
        config = config_toml(port, cameras=cameras_toml(cams),
                             extra=f'[[storage.volumes]]\npath = "{tmp_path / "disk"}"\n\n'
                                   "[recording]\nsegment_seconds = 10\n")
        authenticator = HeaderAuthenticator(users={ADMIN: ADMIN_RIGHTS})
        async with running_app(tmp_path, config, authenticator=authenticator) as (app, _), \
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
            yield Nvr(app, cams, session, f"https://127.0.0.1:{port}")
    return nvr


def onvif_camera_toml(channel: int, cams: FakeCamServer, name: str, *, ptz: bool = False,
                      events: bool = True) -> str:
    host, port = cams.onvif_address(name)
    return (f'[[cameras]]\nchannel = {channel}\nusername = "admin"\n'
            f'password = "{PASSWORD}"\n'
            f'main = {{ url = "{cams.url(name, "main")}" }}\n'
            f'sub = {{ url = "{cams.url(name, "sub")}" }}\n'
            f'onvif = {{ host = "{host}", port = {port}, main_profile = "Profile_1", '
            f'events = {str(events).lower()}, ptz = {str(ptz).lower()} }}\n')


nvr = nvr_fixture([CameraSpec("cam1", MAIN, SUB, onvif=OnvifSpec(password=PASSWORD)),
                   CameraSpec("cam2", MAIN, SUB, onvif=OnvifSpec(password=PASSWORD,
                                                                 inactive=True))])


async def test_add_by_address_fills_main_and_sub_streams_that_record(nvr: Nvr) -> None:
    probe = await nvr.call("POST", "/api/v1/cameras/probe", nvr.account("cam1"))
    assert probe.status == 200, probe.body
    assert probe.body["manufacturer"] == "Fakecam" and probe.body["channel"] is None
    assert urlsplit(probe.body["main_url"]).path == urlsplit(nvr.cams.url("cam1", "main")).path
    assert urlsplit(probe.body["sub_url"]).path == urlsplit(nvr.cams.url("cam1", "sub")).path
    assert probe.body["mac"] == OnvifSpec().mac_for("cam1")

    added = await nvr.call("POST", "/api/v1/cameras/onvif", nvr.account("cam1"))
    assert added.status == 201, added.body
    channel = added.body["channel"]
    assert added.body["onvif"]["mac"] == probe.body["mac"]
    assert added.body["password"] == "********"
    storage = nvr.app.storage
    assert storage is not None

    async def recorded(stream: str) -> bool:
        return bool(await storage.segments(channel, stream, 0, END_OF_TIME))

    await poll_until("main recorded", lambda: recorded("main"))
    await poll_until("sub recorded", lambda: recorded("sub"))
    again = await nvr.call("POST", "/api/v1/cameras/onvif", nvr.account("cam1"))
    assert again.status == 409 and f"channel {channel}" in again.body["error"]["message"]


async def test_wrong_password_and_inactive_camera_have_their_own_errors(nvr: Nvr) -> None:
    for _ in range(3):
        wrong = await nvr.call("POST", "/api/v1/cameras/probe",
                               nvr.account("cam1", "Not-The-Pass9"))
        assert wrong.status == 422 and wrong.body["error"]["code"] == "wrong_password"
    state = nvr.cams.onvif_state("cam1")
    assert not state["locked"], "three wrong probes must not lock the camera's account"
    assert 1 <= state["auth_failures"] <= 3 * 2
    right = await nvr.call("POST", "/api/v1/cameras/probe", nvr.account("cam1"))
    assert right.status == 200, right.body

    inactive = await nvr.call("POST", "/api/v1/cameras/probe", nvr.account("cam2"))
    assert inactive.status == 422 and inactive.body["error"]["code"] == "inactive"
    assert "activat" in inactive.body["error"]["message"]
    activated = await nvr.call("POST", "/api/v1/cameras/activate", nvr.account("cam2"))
    assert activated.status == 204, activated.body
    assert nvr.cams.onvif_state("cam2")["active"]
    probe = await nvr.call("POST", "/api/v1/cameras/probe", nvr.account("cam2"))
    assert probe.status == 200, probe.body

    closed = {"address": "127.0.0.1", "port": free_port(), "username": "admin",
              "password": PASSWORD}
    unreachable = await nvr.call("POST", "/api/v1/cameras/probe", closed)
    assert unreachable.status == 502 and unreachable.body["error"]["code"] == "unreachable"
    async with web_page() as port:
        not_onvif = await nvr.call("POST", "/api/v1/cameras/probe", {**closed, "port": port})
    assert not_onvif.status == 422 and not_onvif.body["error"]["code"] == "not_onvif"


@asynccontextmanager
async def web_page() -> AsyncIterator[int]:
    """A device that speaks HTTP but not ONVIF (a printer, a router's page): its port."""
    async def page(request: web.Request) -> web.Response:
        return web.Response(status=404, text="<html><body>Not found</body></html>",
                            content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port
    finally:
        await runner.cleanup()


events_nvr = nvr_fixture(
    [CameraSpec("cam1", MAIN, SUB, onvif=OnvifSpec(password=PASSWORD, ptz=True,
                                                   clock_offset_s=-75.0))],
    lambda cams: onvif_camera_toml(1, cams, "cam1", ptz=True))


async def test_camera_events_clock_and_ptz(events_nvr: Nvr) -> None:
    nvr = events_nvr
    service = nvr.app.cameras
    assert service is not None
    await poll_until("subscribed", lambda: bool(
        service.events.states.get(1) and service.events.states[1].subscribed))

    async def logged(kind: str, phase: str) -> bool:
        page = await nvr.call("GET", "/api/v1/events", kind=kind, channel=1)
        return any(e["phase"] == phase for e in page.body["events"])

    nvr.cams.onvif_event("cam1", "motion", True)
    await poll_until("motion start", lambda: logged("camera_motion", "start"))
    nvr.cams.onvif_event("cam1", "motion", False)
    await poll_until("motion stop", lambda: logged("camera_motion", "stop"))
    nvr.cams.onvif_event("cam1", "line_crossing", True)
    await poll_until("line crossing", lambda: logged("line_crossing", "pulse"))
    nvr.cams.onvif_event("cam1", "input", True)
    await poll_until("camera input", lambda: logged("camera_input", "start"))

    # checked and set once at start: the camera was 75 s behind
    async def startup_check() -> bool:
        return bool((await nvr.call("GET", "/api/v1/cameras/clocks")).body)

    await poll_until("clock checked at start", startup_check)
    (at_start,) = (await nvr.call("GET", "/api/v1/cameras/clocks")).body
    assert at_start["corrected"] and abs(at_start["offset_before_s"] + 75) < 2
    assert abs(at_start["offset_s"]) < 2
    nvr.cams.onvif_set("cam1", clock_offset_s=40.0)  # it drifts again
    clocks = await nvr.call("POST", "/api/v1/cameras/clocks/check")
    assert clocks.status == 200, clocks.body
    (report,) = clocks.body
    assert report["corrected"] and abs(report["offset_before_s"] - 40) < 2
    assert abs(report["offset_s"]) < 2
    assert abs(nvr.cams.onvif_state("cam1")["clock_offset_s"]) < 2
    listed = await nvr.call("GET", "/api/v1/cameras/clocks")
    assert listed.body == clocks.body

    moved = await nvr.call("POST", "/api/v1/channels/1/ptz/move",
                           {"pan": "left", "pan_speed": 63})
    assert moved.status == 204, moved.body
    assert nvr.cams.onvif_state("cam1")["ptz"]["moving"]
    stopped = await nvr.call("POST", "/api/v1/channels/1/ptz/stop")
    assert stopped.status == 204, stopped.body
    assert not nvr.cams.onvif_state("cam1")["ptz"]["moving"]
    saved = await nvr.call("PUT", "/api/v1/channels/1/ptz/presets/3")
    assert saved.status == 204, saved.body
    called = await nvr.call("POST", "/api/v1/channels/1/ptz/presets/3", {})
    assert called.status == 204, called.body
    assert nvr.cams.onvif_state("cam1")["ptz"]["presets"]
