"""Live video over WebSocket against the real daemon (``Application`` on the simulated
board, virtual cameras on a real RTSP server, HTTPS clients): what viewers receive
decodes, one RTSP session feeds them all, access is checked, a slow viewer costs only
itself, an outage is told and survived, and the recorder's segment cuts do not show."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from nvrd.playback.live import VIEWER_MAX_BYTES, LiveVideoService, ViewerStats
from nvrd.storage.volume import prepare_volume
from tests.daemon_harness import RECORDING_VOLUME, camera_toml
from tests.events.harness import Box, Client, running_box
from tests.playback.live_harness import decode
from tools.fakecam.control import CameraSpec, FakeCamServer, StartFakeCams, StreamSpec

MAIN = StreamSpec(1280, 720, 25, 25, 2000)
SUB = StreamSpec(320, 240, 25, 25, 300)
FRAME_US = 40_000
HANG_GUARD_S = 60.0
"""Only so that a broken test fails instead of hanging; never a measure."""
LIVE = "/api/v1/channels/{}/live"
LIVE_RIGHTS = {"system": [], "channels": {"1": ["live"]}}


@dataclass
class Received:
    """What one viewer got: init messages (JSON), init segments, fragments per session."""

    inits: list[dict[str, Any]] = field(default_factory=list)
    segments: list[bytes] = field(default_factory=list)
    fragments: list[list[bytes]] = field(default_factory=list)
    offline: list[str] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""


class Viewer:
    """A WebSocket client of the live route, reading as a player does."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.got = Received()
        self._next_is_init = False

    async def read_one(self) -> None:
        message = await self.ws.receive()
        got = self.got
        if message.type == aiohttp.WSMsgType.TEXT:
            data = json.loads(message.data)
            if data["type"] == "init":
                got.inits.append(data)
                self._next_is_init = True
            elif data["type"] == "offline":
                got.offline.append(data["message"])
        elif message.type == aiohttp.WSMsgType.BINARY:
            if self._next_is_init:
                got.segments.append(message.data)
                got.fragments.append([])
                self._next_is_init = False
            else:
                assert got.fragments, "a fragment came before an init segment"
                got.fragments[-1].append(message.data)
        else:
            got.close_code = self.ws.close_code
            got.close_reason = str(message.extra or "")
            raise ConnectionError(f"closed: {message.type!r} {got.close_code}")

    async def read_until(self, condition: Callable[[Received], bool]) -> Received:
        async with asyncio.timeout(HANG_GUARD_S):
            while not condition(self.got):
                await self.read_one()
        return self.got

    async def frames(self, n: int) -> Received:
        return await self.read_until(lambda got: bool(got.fragments)
                                     and len(got.fragments[-1]) >= n)

    async def closed(self) -> Received:
        async with asyncio.timeout(HANG_GUARD_S):
            try:
                while True:
                    await self.read_one()
            except ConnectionError:
                return self.got


@asynccontextmanager
async def viewing(box: Box, client: Client, channel: int = 1, stream: str = "sub",
                  **kwargs: Any) -> AsyncIterator[Viewer]:
    async with client.session.ws_connect(box.base + LIVE.format(channel),
                                         params={"stream": stream}, **kwargs) as ws:
        yield Viewer(ws)


async def refused(box: Box, client: Client, channel: int = 1, *,
                  params: dict[str, str] | None = None,
                  headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """The status and JSON of a handshake the recorder refuses."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as refusal:
        async with client.session.ws_connect(box.base + LIVE.format(channel), params=params,
                                             headers=headers):
            pass
    status = refusal.value.status
    # the same address without the upgrade says why (as the player asks)
    code, body = await box.call(client, "GET", LIVE.format(channel), params=params,
                                headers=headers or {})
    assert code == status, body
    return status, dict(body["error"])


def service(box: Box) -> LiveVideoService:
    assert box.app.live_video is not None
    return box.app.live_video


async def until(what: str, condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(HANG_GUARD_S):
        while not condition():
            await asyncio.sleep(0.05)
    assert condition(), what


async def rtsp_clients(cams: FakeCamServer, stream: str) -> int:
    stats = await asyncio.to_thread(cams.stats, "cam1")
    return int(stats[stream]["clients"])


def assert_plays(got: Received, session: int = -1, width: int = 320) -> list[int]:
    """The session's init and fragments decode, each fragment one frame, in order and
    without a frame missing; the presentation times."""
    decoded = decode(got.segments[session], got.fragments[session])
    assert (decoded.width, got.inits[session]["width"]) == (width, width)
    assert len(decoded.times_us) == len(got.fragments[session])
    steps = {b - a for a, b in zip(decoded.times_us, decoded.times_us[1:], strict=False)}
    assert steps == {FRAME_US}, sorted(steps)
    return decoded.times_us


def camera(cams: FakeCamServer) -> str:
    return camera_toml(1, cams.url("cam1", "main"), cams.url("cam1", "sub"))


@pytest.fixture
def cams(fakecams: StartFakeCams) -> FakeCamServer:
    return fakecams([CameraSpec("cam1", MAIN, SUB)])


async def test_two_viewers_share_one_rtsp_session_and_decode_what_they_get(
        tmp_path: Path, cams: FakeCamServer) -> None:
    async with running_box(tmp_path, camera(cams)) as box:
        live = service(box)
        live.linger_s = 0
        await until("the sub stream is read", lambda: _online(box, "sub"))
        assert live.sources() == []  # nobody watches: no tap
        other = await box.user("other", LIVE_RIGHTS)
        async with viewing(box, box.admin) as first, viewing(box, other) as second:
            for viewer in (first, second):
                got = await viewer.frames(30)
                assert got.inits[0]["mime"].startswith('video/mp4; codecs="avc1.')
                assert (got.inits[0]["channel"], got.inits[0]["stream"]) == (1, "sub")
                assert (got.inits[0]["width"], got.inits[0]["height"]) == (320, 240)
                assert_plays(got)
            assert await rtsp_clients(cams, "sub") == 1
            assert [(s.channel, s.stream, s.viewers) for s in live.sources()] \
                == [(1, "sub", 2)]
            # the same bytes: one muxer serves both
            assert first.got.segments[0] == second.got.segments[0]
            stats = live.viewers()
            assert all(s.delay_ms is not None for s in stats)
            print("live delay (ms, frame in the muxer to socket):",
                  [round(s.delay_ms or 0, 1) for s in stats])
            async with viewing(box, box.admin, stream="main") as main:
                got = await main.frames(5)
                assert (got.inits[0]["width"], got.inits[0]["height"]) == (1280, 720)
                assert_plays(got, width=1280)
                assert await rtsp_clients(cams, "main") == 1
        await until("the last viewer's leaving releases the taps", lambda: not live.sources())
        assert await rtsp_clients(cams, "sub") == 1  # the recorder's reader goes on

        async with viewing(box, box.admin) as viewer:
            await viewer.frames(3)
            box.app.request_stop()
            got = await viewer.closed()
        assert got.close_code == 1001, got.close_reason


async def test_access_origin_limits_and_missing_cameras(tmp_path: Path) -> None:
    cameras = camera_toml(1, "rtsp://127.0.0.1:9/nothing") \
        + camera_toml(2, "rtsp://127.0.0.1:9/nothing")
    async with running_box(tmp_path, cameras) as box:
        nobody = await box.user("nobody", {"system": [], "channels": {"2": ["live"]}})
        status, body = await refused(box, nobody)
        assert (status, body["code"]) == (403, "forbidden")
        assert "'live' right on channel 1" in body["message"]

        evil = {"Origin": "https://evil.example"}
        status, body = await refused(box, box.admin, headers=evil)
        assert (status, body["code"]) == (403, "foreign_origin")
        other_port = {"Origin": box.base.rsplit(":", 1)[0] + ":1"}
        assert (await refused(box, box.admin, headers=other_port))[0] == 403
        plain = {"Origin": box.base.replace("https", "http")}
        assert (await refused(box, box.admin, headers=plain))[0] == 403

        status, body = await refused(box, box.admin, channel=3)
        assert (status, body["code"]) == (404, "no_camera")
        status, body = await refused(box, box.admin, params={"stream": "sub"})
        assert (status, body["code"]) == (404, "no_stream")
        code, body = await box.call(box.admin, "GET", LIVE.format(1), params={"stream": "main"})
        assert (code, body["error"]["code"]) == (426, "websocket_expected")

        # the player the pages import
        async with box.admin.session.get(box.base + "/static/js/live-player.js") as response:
            assert response.status == 200
            # a JavaScript MIME type, as a module script needs (Python 3.11's table says
            # application/javascript; 3.12's text/javascript: browsers take either)
            assert response.content_type in ("text/javascript", "application/javascript")
            assert "export function playLive(video, url, { onStatus } = {})" \
                in await response.text()

        # its own pages may (and a camera that is down is told, not an error)
        same = {"Origin": box.base}
        async with viewing(box, box.admin, stream="main", headers=same) as viewer:
            got = await viewer.read_until(lambda got: bool(got.offline))
            assert "down" in got.offline[0]

            live = service(box)
            live.max_per_owner = 1
            status, body = await refused(box, box.admin, channel=2, params={"stream": "main"})
            assert (status, body["code"]) == (429, "too_many_live_views")
            live.max_per_owner, live.max_total = 16, 1
            status, body = await refused(box, nobody, channel=2, params={"stream": "main"})
            assert (status, body["code"]) == (503, "too_many_live_views")


@asynccontextmanager
async def stalled_viewer(box: Box, client: Client, path: str) -> AsyncIterator[None]:
    """A WebSocket client that opens the view and then reads nothing, on a socket with a
    small receive buffer (a viewer on a slow link, or a frozen tab). A plain blocking TLS
    socket (its handshake in a thread), so nothing in the client reads ahead."""
    url = URL(box.base)
    cookies = "; ".join(f"{name}={morsel.value}" for name, morsel
                        in client.session.cookie_jar.filter_cookies(url).items())
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET {path} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Cookie: {cookies}\r\n\r\n").encode()

    def open_view() -> ssl.SSLSocket:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 10)
        raw.settimeout(HANG_GUARD_S)
        raw.connect((url.host, url.port))
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # its own cert
        sock = context.wrap_socket(raw, server_hostname=url.host)
        sock.sendall(request)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(1)  # byte by byte: read nothing of the video
            assert chunk, head
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
        return sock

    sock = await asyncio.to_thread(open_view)
    try:
        yield
    finally:
        sock.close()


async def test_a_viewer_that_does_not_read_costs_only_itself(
        tmp_path: Path, cams: FakeCamServer) -> None:
    async with running_box(tmp_path, camera(cams)) as box:
        live = service(box)
        await until("the main stream is read", lambda: _online(box, "main"))
        fast_client = await box.user("fast", LIVE_RIGHTS)
        async with stalled_viewer(box, box.admin, LIVE.format(1) + "?stream=main"), \
                viewing(box, fast_client, stream="main") as fast:

            def slow_stats() -> ViewerStats:
                return next(s for s in live.viewers() if s.owner == "admin")

            sent = 0
            async with asyncio.timeout(HANG_GUARD_S):
                while slow_stats().gops_skipped < 1:
                    await fast.read_one()
                    sent += 1
                    assert slow_stats().max_queued_bytes <= VIEWER_MAX_BYTES
            got = await fast.frames(len(fast.got.fragments[-1]) + 25)
            assert_plays(got, width=1280)
            assert sent > 50
            stats = slow_stats()
            assert stats.fragments_dropped > 0
            assert stats.queued_bytes <= VIEWER_MAX_BYTES
            assert await rtsp_clients(cams, "main") == 1


async def test_an_outage_is_told_and_the_view_resumes_with_a_new_init(
        tmp_path: Path, cams: FakeCamServer) -> None:
    async with running_box(tmp_path, camera(cams)) as box, viewing(box, box.admin) as viewer:
        await viewer.frames(10)
        await asyncio.to_thread(cams.stop_camera, "cam1")
        got = await viewer.read_until(lambda got: bool(got.offline))
        assert "down" in got.offline[-1]
        await asyncio.to_thread(cams.restart_camera, "cam1")
        got = await viewer.read_until(lambda got: len(got.fragments) == 2
                                      and len(got.fragments[1]) >= 10)
        assert len(got.inits) == 2
        for session in (0, 1):
            assert_plays(got, session)
        assert not viewer.ws.closed


async def test_a_logout_ends_the_live_view(tmp_path: Path, cams: FakeCamServer) -> None:
    async with running_box(tmp_path, camera(cams)) as box:
        user = await box.user("leaving", LIVE_RIGHTS)
        async with viewing(box, user) as viewer:
            await viewer.frames(3)
            code, body = await box.call(user, "DELETE", "/api/v1/session")
            assert code == 204, body
            got = await viewer.closed()
        assert got.close_code == 1008, got.close_reason




@pytest.mark.slow
async def test_the_recorder_s_segment_cuts_do_not_show_in_live_view(
        tmp_path: Path, cams: FakeCamServer) -> None:
    """The recorder sees each packet first and muxes it onto its segment's timeline
    (from 0 at each cut); it hands the packet back unchanged, so live view, a tap after
    it, plays straight through the cut on the camera's own timeline."""
    prepare_volume(tmp_path / "v1", "v1")
    async with running_box(tmp_path, RECORDING_VOLUME + camera(cams)) as box:
        await until("the sub stream records", lambda: _segment_start(box) is not None)
        async with viewing(box, box.admin) as viewer:
            await viewer.frames(2)
            first_segment = _segment_start(box)
            async with asyncio.timeout(HANG_GUARD_S):
                while _segment_start(box) in (first_segment, None):
                    await viewer.read_one()
            got = await viewer.frames(len(viewer.got.fragments[-1]) + 25)
            assert len(got.inits) == 1
            times = assert_plays(got)
            assert times[-1] - times[0] >= 1_000_000
            # no step back to 0 reached the tap: nothing had to be retimed
            assert [source.retimed for source in service(box).sources()] == [0]


def _online(box: Box, stream: str) -> bool:
    ingest = box.app.ingest
    return ingest is not None and any(
        status.channel == 1 and status.streams.get(stream) is not None
        and status.streams[stream].online for status in ingest.snapshot())


def _segment_start(box: Box) -> int | None:
    recorder = box.app.recorder
    if recorder is None:
        return None
    for channel in recorder.snapshot():
        if channel.channel == 1 and "sub" in channel.streams:
            return channel.streams["sub"].segment_start_us
    return None
