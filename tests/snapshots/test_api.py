"""The snapshot API against the real daemon (``Application`` on the simulated board, a
fakecam on channel 1, a real HTTPS client). Users come from the test's header
authenticator: an administrator with every right, a viewer with live view on channel 1
only, and a reviewer who may play channel 1 back."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest

from nvrd.accounts.rights import ChannelRight, SystemRight
from nvrd.app import Application
from nvrd.config import ConfigStore
from nvrd.config.schema import MAX_CHANNELS
from nvrd.paths import shipped_config_dir
from tests.daemon_harness import camera_toml, config_toml, free_port
from tests.web.api.harness import USER_HEADER, HeaderAuthenticator
from tools.fakecam.control import CameraSpec, StartFakeCams, StreamSpec

ADMIN, VIEWER, REVIEWER = "admin", "viewer", "reviewer"
ADMIN_RIGHTS = frozenset(
    [str(r) for r in SystemRight]
    + [f"{r}:{c}" for r in ChannelRight for c in range(1, MAX_CHANNELS + 1)])
STREAM = StreamSpec(320, 240, 25, 25, 300)
HANG_GUARD_S = 60.0
"""Only so that a broken test fails instead of hanging; never a measure."""


@dataclass
class Nvr:
    app: Application
    session: aiohttp.ClientSession
    base: str

    async def call(self, method: str, path: str, *, user: str = ADMIN,
                   params: dict[str, str] | None = None) -> tuple[int, str, Any]:
        """(status, content type, JSON or bytes)."""
        async with self.session.request(method, self.base + path, params=params,
                                        headers={USER_HEADER: user}) as response:
            body = (await response.json() if response.content_type == "application/json"
                    else await response.read())
            return response.status, response.content_type, body


@pytest.fixture
async def nvr(fakecams: StartFakeCams, tmp_path: Path) -> AsyncIterator[Nvr]:
    cams = fakecams([CameraSpec("cam1", STREAM, None)])
    port = free_port()
    (tmp_path / "nvrd.toml").write_text(config_toml(
        port, cameras=camera_toml(1, cams.url("cam1", "main"))
        + camera_toml(2, "rtsp://127.0.0.1:9/nothing")))
    authenticator = HeaderAuthenticator(users={
        ADMIN: ADMIN_RIGHTS, VIEWER: frozenset({"live:1"}),
        REVIEWER: frozenset({"playback:1"})})
    app = Application(ConfigStore(tmp_path / "nvrd.toml"), tmp_path,
                      board_dirs=[shipped_config_dir() / "boards"],
                      authenticator=authenticator)
    run = asyncio.create_task(app.run())
    try:
        async with asyncio.timeout(HANG_GUARD_S):
            while not (run.done() or (app.web is not None and app.web.url
                                      and _online(app, 1))):
                await asyncio.sleep(0.05)
        assert not run.done(), "the daemon stopped while starting"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
            yield Nvr(app, session, f"https://127.0.0.1:{port}")
    finally:
        app.request_stop()
        assert await asyncio.wait_for(run, 60) == 0


def _online(app: Application, channel: int) -> bool:
    ingest = app.ingest
    return ingest is not None and any(
        c.channel == channel and c.online for c in ingest.snapshot())


def _decode(jpeg: bytes) -> av.VideoFrame:
    with av.open(io.BytesIO(jpeg), "r", format="image2pipe") as container:
        frame = next(container.decode(video=0))
        assert isinstance(frame, av.VideoFrame)
        return frame


async def test_take_find_and_fetch_a_snapshot_with_the_channel_s_rights(nvr: Nvr) -> None:
    start_us = time.time_ns() // 1000
    status, _, taken = await nvr.call("POST", "/api/v1/channels/1/snapshot", user=VIEWER)
    assert status == 201, taken
    assert (taken["channel"], taken["reason"], taken["event_id"]) == (1, "manual", None)
    assert (taken["width"], taken["height"]) == (STREAM.width, STREAM.height)
    assert taken["url"] == f"/api/v1/snapshots/{taken['id']}"

    status, content_type, jpeg = await nvr.call("GET", taken["url"], user=REVIEWER)
    assert (status, content_type) == (200, "image/jpeg")
    assert len(jpeg) == taken["size_bytes"]
    frame = _decode(jpeg)
    assert (frame.width, frame.height) == (STREAM.width, STREAM.height)

    status, _, page = await nvr.call("GET", "/api/v1/snapshots", user=REVIEWER, params={
        "channel": "1", "from_us": str(start_us), "to_us": str(time.time_ns() // 1000)})
    assert status == 200, page
    assert page == {"snapshots": [taken], "next_to_us": None}
    status, _, page = await nvr.call("GET", "/api/v1/snapshots", user=REVIEWER)
    assert [s["id"] for s in page["snapshots"]] == [taken["id"]]


async def test_a_user_without_the_channel_right_is_refused(nvr: Nvr) -> None:
    status, _, taken = await nvr.call("POST", "/api/v1/channels/1/snapshot")
    assert status == 201, taken
    # live view on channel 1 takes pictures, but may not look at stored ones
    status, _, error = await nvr.call("GET", taken["url"], user=VIEWER)
    assert status == 403 and "'playback' right on channel 1" in error["error"]["message"]
    status, _, error = await nvr.call("GET", "/api/v1/snapshots", user=VIEWER,
                                      params={"channel": "1"})
    assert status == 403, error
    status, _, page = await nvr.call("GET", "/api/v1/snapshots", user=VIEWER)
    assert (status, page["snapshots"]) == (200, [])  # nothing it may see
    # playback on channel 1 is not live view: no new pictures
    status, _, error = await nvr.call("POST", "/api/v1/channels/1/snapshot", user=REVIEWER)
    assert status == 403 and "'live' right on channel 1" in error["error"]["message"]
    status, _, error = await nvr.call("POST", "/api/v1/channels/2/snapshot", user=VIEWER)
    assert status == 403, error


async def test_the_camera_s_state_is_said_in_the_answer(nvr: Nvr) -> None:
    status, _, error = await nvr.call("POST", "/api/v1/channels/2/snapshot")
    assert status == 409, error
    assert error["error"]["code"] == "camera_offline"
    assert error["error"]["message"].startswith("channel 2: no picture: the camera is offline")
    status, _, error = await nvr.call("POST", "/api/v1/channels/7/snapshot")
    assert status == 404 and "no camera on this channel" in error["error"]["message"]
    status, _, error = await nvr.call("GET", "/api/v1/snapshots/123456")
    assert status == 404, error
    status, _, error = await nvr.call("GET", "/api/v1/snapshots",
                                      params={"from_us": "10", "to_us": "5"})
    assert status == 422, error
