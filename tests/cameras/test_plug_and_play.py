"""PoE plug-and-play end to end, on real network namespaces: a virtual camera (RTSP and
ONVIF) sits behind PoE port 3, a veth whose link the simulated PSE takes up and down
with the port's power. The daemon finds it by WS-Discovery on that port's interface,
activates it, adds it to channel 3 and records it; the port switched off takes the
channel offline without losing it; switched on, recording resumes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from nvrd.app import Application
from nvrd.paths import shipped_config_dir
from nvrd.storage.volume import prepare_volume
from tests.cameras.daemon_api import ADMIN, ADMIN_RIGHTS, poll_until
from tests.daemon_harness import config_toml, free_port, running_app
from tests.poe_netns import (
    BOARD_DIR,
    PNP_PASSWORD,
    SMALL_MAIN,
    SMALL_SUB,
    PortCamera,
    StartCameraPorts,
    camera_ports,  # noqa: F401 - the fixture
    plug_and_play_toml,
)
from tests.web.api.harness import USER_HEADER, HeaderAuthenticator
from tools.fakecam.control import CameraSpec
from tools.fakecam.spec import OnvifSpec

pytestmark = [pytest.mark.root, pytest.mark.gst, pytest.mark.slow]

PORT = 3
END_OF_TIME = 1 << 62


@dataclass
class Box:
    app: Application
    port: PortCamera
    session: aiohttp.ClientSession
    base: str

    async def call(self, method: str, path: str, **params: Any) -> Any:
        async with self.session.request(method, self.base + path,
                                        headers={USER_HEADER: ADMIN},
                                        params={k: str(v) for k, v in params.items()}
                                        ) as response:
            assert response.status < 300, await response.text()
            return await response.json() if response.content_length != 0 else None

    def main_online(self) -> bool:
        assert self.app.ingest is not None
        return any(c.channel == PORT and c.streams.get("main") is not None
                   and c.streams["main"].online for c in self.app.ingest.snapshot())

    async def newest_segment_start(self) -> int:
        assert self.app.storage is not None
        rows = [row for _, row in await self.app.storage.segments(PORT, "main", 0,
                                                                  END_OF_TIME)]
        return max((row.start_us for row in rows), default=0)


@pytest.fixture
async def box(camera_ports: StartCameraPorts, tmp_path: Path) -> AsyncIterator[Box]:  # noqa: F811
    (port,) = camera_ports([PORT], lambda n: [CameraSpec(
        f"cam{n}", SMALL_MAIN, SMALL_SUB,
        onvif=OnvifSpec(inactive=True, http_port=80))])
    prepare_volume(tmp_path / "disk", "disk")
    web_port = free_port()
    config = config_toml(web_port, extra=plug_and_play_toml(tmp_path / "disk"))
    authenticator = HeaderAuthenticator(users={ADMIN: ADMIN_RIGHTS})
    async with running_app(tmp_path, config, authenticator=authenticator,
                           board_dirs=[BOARD_DIR, shipped_config_dir() / "boards"]
                           ) as (app, _), \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
        yield Box(app, port, session, f"https://127.0.0.1:{web_port}")


async def test_poe_camera_is_added_to_its_channel_goes_offline_and_comes_back(
        box: Box) -> None:
    app, camera = box.app, box.port.camera_names[0]
    assert app.hardware is not None and app.hardware.sim is not None
    assert app.config.camera(PORT) is None
    plug = next(c for c in app.hardware.sim.commands() if c.name == "poe plug")
    plug.handler(port=PORT, pd_class=3, power_mw=4_000)

    await poll_until("camera added", lambda: app.config.camera(PORT) is not None)
    added = app.config.camera(PORT)
    assert added is not None and added.onvif is not None
    state = box.port.cams.onvif_state(camera)
    assert added.onvif.mac == OnvifSpec().mac_for(camera)
    assert state["active"], "plug-and-play activated the camera with its password"
    assert added.password.get_secret_value() == PNP_PASSWORD
    assert added.onvif.host == box.port.camera_address
    await poll_until("recording", lambda: _recorded_since(box, 0))
    pnp = await box.call("GET", "/api/v1/cameras/plug-and-play")
    assert next(p for p in pnp if p["port"] == PORT)["state"] == "added"

    await box.call("POST", f"/api/v1/poe/{PORT}/disable")
    await asyncio.to_thread(box.port.link.wait_link, False)
    await poll_until("offline", lambda: not box.main_online())
    await poll_until("video loss logged", lambda: _logged(box, "video_loss", "start"))
    assert app.config.camera(PORT) is not None, "the channel keeps its camera"

    back_us = time.time_ns() // 1000
    await box.call("POST", f"/api/v1/poe/{PORT}/enable")
    await poll_until("online again", box.main_online)

    await poll_until("recording again", lambda: _recorded_since(box, back_us))
    await poll_until("bound again", lambda: _port_state(box, "bound"))
    assert [c.channel for c in app.config.cameras] == [PORT], "nothing added twice"


async def _recorded_since(box: Box, since_us: int) -> bool:
    return await box.newest_segment_start() > since_us


async def _logged(box: Box, kind: str, phase: str) -> bool:
    page = await box.call("GET", "/api/v1/events", kind=kind, channel=PORT)
    return any(e["phase"] == phase for e in page["events"])


async def _port_state(box: Box, state: str) -> bool:
    ports = await box.call("GET", "/api/v1/cameras/plug-and-play")
    return any(p["port"] == PORT and p["state"] == state for p in ports)
