"""Pictures of a channel now and at past instants, and the timeline's thumbnails, through
the API of the real daemon (``Application`` on the simulated board, in this process)
recording a virtual camera onto a volume in a temporary directory.

Users come from the test's header authenticator: a viewer with live view on channel 1
only, a reviewer who may play channel 1 back, and an administrator."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest

from nvrd.accounts.rights import ChannelRight, SystemRight
from nvrd.app import Application
from nvrd.config.schema import MAX_CHANNELS
from nvrd.storage.catalog import SegmentRow
from nvrd.storage.volume import prepare_volume
from nvrd.web.routes.recording import from_us
from tests.daemon_harness import camera_toml, config_toml, free_port, running_app
from tests.playback.conftest import decode as decode_video
from tests.web.api.harness import USER_HEADER, HeaderAuthenticator
from tools.fakecam.control import CameraSpec, FakeCamServer, StartFakeCams, StreamSpec

pytestmark = pytest.mark.slow

ADMIN, VIEWER, REVIEWER = "admin", "viewer", "reviewer"
ADMIN_RIGHTS = frozenset(
    [str(r) for r in SystemRight]
    + [f"{r}:{c}" for r in ChannelRight for c in range(1, MAX_CHANNELS + 1)])
MAIN = StreamSpec(320, 240, 25, 25, 300)
SUB = StreamSpec(320, 180, 25, 25, 200)
"""Key frames every second (25 frames) on both streams."""
END_OF_TIME = 1 << 62
HANG_GUARD_S = 90.0
"""Only so that a broken test fails instead of hanging; never a measure."""
POLL_S = 0.2


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any
    """JSON, or bytes for anything else."""


@dataclass
class Nvr:
    app: Application
    cams: FakeCamServer
    session: aiohttp.ClientSession
    base: str

    async def get(self, path: str, *, user: str = ADMIN, **params: Any) -> Answer:
        async with self.session.get(self.base + path, headers={USER_HEADER: user},
                                    params={k: str(v) for k, v in params.items()}) as response:
            body = (await response.json() if response.content_type == "application/json"
                    else await response.read())
            return Answer(response.status, dict(response.headers), body)

    async def rows(self, stream: str) -> list[SegmentRow]:
        assert self.app.storage is not None
        return [row for _, row in await self.app.storage.segments(1, stream, 0, END_OF_TIME)]


@pytest.fixture
async def nvr(fakecams: StartFakeCams, tmp_path: Path) -> AsyncIterator[Nvr]:
    cams = fakecams([CameraSpec("cam1", MAIN, SUB)])
    prepare_volume(tmp_path / "disk", "disk")
    port = free_port()
    config = config_toml(
        port, cameras=camera_toml(1, cams.url("cam1", "main"), cams.url("cam1", "sub")),
        extra=f'[[storage.volumes]]\npath = "{tmp_path / "disk"}"\n\n'
              "[recording]\nsegment_seconds = 10\n")
    authenticator = HeaderAuthenticator(users={
        ADMIN: ADMIN_RIGHTS, VIEWER: frozenset({"live:1"}),
        REVIEWER: frozenset({"playback:1"})})
    async with running_app(tmp_path, config, lambda app: _online(app, "sub"),
                           authenticator=authenticator) as (app, _run), \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
        yield Nvr(app, cams, session, f"https://127.0.0.1:{port}")


def _online(app: Application, stream: str) -> bool:
    ingest = app.ingest
    return ingest is not None and any(
        c.channel == 1 and stream in c.streams and c.streams[stream].online
        for c in ingest.snapshot())


async def poll_until(what: str, condition: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(HANG_GUARD_S):
        while not await condition():
            await asyncio.sleep(POLL_S)
    del what  # named for the reader of a timeout's traceback


def decode(jpeg: bytes) -> av.VideoFrame:
    with av.open(io.BytesIO(jpeg), "r", format="image2pipe") as container:
        frame = next(container.decode(video=0))
        assert isinstance(frame, av.VideoFrame)
        return frame


def picture_time(answer: Answer) -> int:
    moment = dt.datetime.fromisoformat(answer.headers["X-Nvrd-Picture-Time"])
    return (moment - from_us(0)) // dt.timedelta(microseconds=1)


def iso(us: int) -> str:
    return from_us(us).isoformat()


def now_us() -> int:
    return time.time_ns() // 1000


# --- tests -------------------------------------------------------------------------------


async def test_a_picture_of_now_at_the_requested_width_needs_the_live_right(nvr: Nvr) -> None:
    answer = await nvr.get("/api/v1/channels/1/picture", user=VIEWER, width=160)
    assert answer.status == 200, answer.body
    assert answer.headers["Content-Type"] == "image/jpeg"
    assert answer.headers["X-Nvrd-Picture-Stream"] == "sub"
    frame = decode(answer.body)
    assert (frame.width, frame.height) == (160, 90)  # 320x180 scaled, aspect kept
    assert picture_time(answer) <= now_us()

    answer = await nvr.get("/api/v1/channels/1/picture", user=VIEWER, stream="main",
                           width=200)
    assert answer.status == 200, answer.body
    assert answer.headers["X-Nvrd-Picture-Stream"] == "main"
    assert (decode(answer.body).width, decode(answer.body).height) == (200, 150)

    answer = await nvr.get("/api/v1/channels/1/picture", user=VIEWER, width=4000)
    assert (decode(answer.body).width, decode(answer.body).height) == (320, 180), \
        "a picture is never scaled up"

    answer = await nvr.get("/api/v1/channels/1/picture", user=REVIEWER)
    assert answer.status == 403 and "'live' right on channel 1" in answer.body["error"]["message"]
    answer = await nvr.get("/api/v1/channels/7/picture")
    assert answer.status == 404, answer.body


async def test_past_pictures_show_the_key_frame_at_or_before_the_instant(nvr: Nvr) -> None:
    async def closed_with_key_frames() -> bool:
        return any(r.state == "closed" and len(r.fragments) >= 4 for r in await nvr.rows("sub"))
    await poll_until("a closed sub segment", closed_with_key_frames)
    row = next(r for r in await nvr.rows("sub") if r.state == "closed")
    key_us = row.start_us + row.fragments[2][0]
    next_key_us = row.start_us + row.fragments[3][0]
    at_us = (key_us + next_key_us) // 2

    path = "/api/v1/channels/1/picture"
    answer = await nvr.get(path, user=REVIEWER, at=iso(at_us), stream="sub", width=160)
    assert answer.status == 200, answer.body
    assert picture_time(answer) == key_us, "not the key frame at or before the instant"
    assert answer.headers["X-Nvrd-Picture-Stream"] == "sub"
    assert (decode(answer.body).width, decode(answer.body).height) == (160, 90)

    # exactly on a key frame: that one; full size without a width
    answer = await nvr.get(path, user=REVIEWER, at=iso(next_key_us), stream="sub")
    assert answer.status == 200, answer.body
    assert picture_time(answer) == next_key_us
    assert (decode(answer.body).width, decode(answer.body).height) == (320, 180)

    # the main stream by default, from its own seek index
    answer = await nvr.get(path, user=REVIEWER, at=iso(at_us))
    assert answer.status == 200, answer.body
    assert answer.headers["X-Nvrd-Picture-Stream"] == "main"
    main_row = next(r for r in await nvr.rows("main") if r.start_us <= at_us < r.end_us)
    if main_row.state == "closed":
        assert picture_time(answer) in {main_row.start_us + offset_us
                                        for offset_us, _ in main_row.fragments}
    # (the main stream rotates at other instants: its segment may still be open, and
    # an open segment's seek index reaches the catalog only when it closes)
    assert main_row.start_us <= picture_time(answer) <= at_us
    assert at_us - picture_time(answer) < 1_000_000  # a key frame every second
    assert (decode(answer.body).width, decode(answer.body).height) == (320, 240)

    # live view alone does not show recordings
    answer = await nvr.get(path, user=VIEWER, at=iso(at_us))
    assert answer.status == 403
    assert "'playback' right on channel 1" in answer.body["error"]["message"]

    # the segment being written: its seek index is not in the catalog yet
    at_us = now_us() - 1_000_000
    open_row = next(r for r in await nvr.rows("sub") if r.state == "open")
    assert open_row.fragments == ()
    answer = await nvr.get(path, user=REVIEWER, at=iso(at_us), stream="sub", width=160)
    assert answer.status == 200, answer.body
    assert at_us - 2_000_000 < picture_time(answer) <= at_us


async def test_a_camera_outage_is_a_gap_in_pictures_thumbnails_and_playback(nvr: Nvr) -> None:
    async def recorded_some() -> bool:
        return any(r.end_us - r.start_us > 3_000_000 for r in await nvr.rows("sub"))
    await poll_until("a few seconds of footage", recorded_some)
    nvr.cams.stop_camera("cam1")

    async def footage_end() -> int:
        return max(r.end_us for r in await nvr.rows("sub"))

    async def offline_long_enough() -> bool:
        # the last row is closed once the reader has given up on the camera
        rows = await nvr.rows("sub")
        return (not _online(nvr.app, "sub") and all(r.state == "closed" for r in rows)
                and now_us() - max(r.end_us for r in rows) > 5_000_000)
    await poll_until("the camera gone for a while", offline_long_enough)
    gap_start = await footage_end()
    nvr.cams.restart_camera("cam1")

    async def back() -> bool:
        return any(r.start_us > gap_start and r.end_us - r.start_us > 3_000_000
                   for r in await nvr.rows("sub"))
    await poll_until("recording after the outage", back)
    gap_end = min(r.start_us for r in await nvr.rows("sub") if r.start_us > gap_start)
    assert gap_end - gap_start > 4_000_000

    # in the gap: 404, saying where the footage is
    middle = (gap_start + gap_end) // 2
    answer = await nvr.get("/api/v1/channels/1/picture", user=REVIEWER, at=iso(middle),
                           stream="sub")
    assert answer.status == 404, answer.body
    assert answer.body["error"]["code"] == "no_footage"
    message = answer.body["error"]["message"]
    assert "nothing is recorded at this instant; the nearest footage" in message

    # thumbnails over the outage: evenly spread, none in the gap, each one a picture
    start, end = gap_start - 3_000_000, gap_end + 3_000_000
    answer = await nvr.get("/api/v1/channels/1/thumbnails", user=REVIEWER, start=iso(start),
                           end=iso(end), count=20, width=96)
    assert answer.status == 200, answer.body
    instants = [picture_time(Answer(0, {"X-Nvrd-Picture-Time": t["at"]}, None))
                for t in answer.body]
    assert instants == sorted(instants) and len(instants) >= 10
    assert not [t for t in instants if gap_start + 1_000_000 <= t < gap_end], \
        "a thumbnail in the gap"
    assert any(t < gap_start for t in instants) and any(t >= gap_end for t in instants)
    timeline = await nvr.get("/api/v1/channels/1/timeline", user=REVIEWER, start=iso(start),
                             end=iso(end), stream="sub")
    spans = [(dt.datetime.fromisoformat(s["start"]), dt.datetime.fromisoformat(s["end"]))
             for s in timeline.body["spans"]]
    for thumbnail in answer.body:
        at = dt.datetime.fromisoformat(thumbnail["at"])
        assert any(a <= at < b for a, b in spans), (at, spans)
        assert thumbnail["url"].startswith("/api/v1/channels/1/picture?")
        picture = await nvr.get(thumbnail["url"], user=REVIEWER)
        assert picture.status == 200, (thumbnail, picture.body)
        assert decode(picture.body).width == 96
        assert picture_time(picture) <= picture_time(
            Answer(0, {"X-Nvrd-Picture-Time": thumbnail["at"]}, None))

    answer = await nvr.get("/api/v1/channels/1/thumbnails", user=VIEWER, start=iso(start),
                           end=iso(end))
    assert answer.status == 403

    # playback over the outage: the plan lists the gap, and the file keeps wall time
    # across it (the decoded timestamps jump by the outage, nothing before or after it lost)
    plan = await nvr.get("/api/v1/channels/1/recordings", user=REVIEWER, start=iso(start),
                         end=iso(end), stream="sub")
    assert plan.status == 200, plan.body
    [gap] = plan.body["gaps"]
    gap_from = dt.datetime.fromisoformat(gap["start"])
    gap_to = dt.datetime.fromisoformat(gap["end"])
    assert abs(gap_from - from_us(gap_start)) <= dt.timedelta(seconds=1)
    assert abs(gap_to - from_us(gap_end)) < dt.timedelta(milliseconds=1)  # 90 kHz ticks
    video = await nvr.get(plan.body["url"], user=REVIEWER)
    assert video.status == 200
    decoded = decode_video(video.body)
    assert not decoded.errors
    steps = [b - a for a, b in zip(decoded.video_pts, decoded.video_pts[1:], strict=False)]
    jump = max(steps)
    assert jump == pytest.approx((gap_to - gap_from).total_seconds(), abs=0.1)
    # the last frame before the jump is where the plan says the gap falls in the file
    assert decoded.video_pts[steps.index(jump)] == pytest.approx(gap["at_seconds"], abs=0.1)
    assert sorted(steps)[-2] < 0.1  # every other step is a frame
