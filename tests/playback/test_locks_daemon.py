"""Locked ranges through the API of the real daemon (``Application`` on the simulated
board, in this process) recording a virtual camera: listed as spans on the timeline,
released by unlocking, and kept when retention overwrites a full disk (a real ext4
filesystem on a loop device) while older and newer unlocked footage goes. Tags on
overwritten footage stay, marked as no longer recorded."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
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
from nvrd.storage.retention import RetentionPolicy, free_space_floor
from nvrd.storage.volume import prepare_volume
from nvrd.web.routes.recording import from_us
from tests.daemon_harness import camera_toml, config_toml, free_port, running_app
from tests.storage.loopdev import LoopFilesystem, loop_filesystem, loop_unavailable_reason
from tests.web.api.harness import USER_HEADER, HeaderAuthenticator
from tools.fakecam.control import CameraSpec, StartFakeCams, StreamSpec

pytestmark = pytest.mark.slow

ADMIN, REVIEWER = "admin", "reviewer"
USERS = {
    ADMIN: frozenset([str(r) for r in SystemRight]
                     + [f"{r}:{c}" for r in ChannelRight for c in range(1, MAX_CHANNELS + 1)]),
    REVIEWER: frozenset({"playback:1"}),
}
SMALL = StreamSpec(320, 240, 25, 25, 300)
BIG = StreamSpec(1920, 1080, 25, 25, 8000)
"""About 0.3 MB/s from the fake camera (its picture compresses well): a 10 s segment is
about 3 MB, so a few MiB above the floor fill within seconds (tests/storage/
test_disk_full.py)."""
VOLUME_MIB = 64
MIN_FREE_PERCENT = 10
END_OF_TIME = 1 << 62
HANG_GUARD_S = 150.0
"""Only so that a broken test fails instead of hanging; never a measure."""
POLL_S = 0.2


@dataclass
class Nvr:
    app: Application
    session: aiohttp.ClientSession
    base: str

    async def call(self, method: str, path: str, *, user: str = ADMIN, json: Any = None,
                   **params: Any) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, json=json,
                                        params={k: str(v) for k, v in params.items()},
                                        headers={USER_HEADER: user}) as reply:
            body = (await reply.json() if reply.content_type == "application/json"
                    else await reply.read())
            return reply.status, body

    async def rows(self) -> list[SegmentRow]:
        assert self.app.storage is not None
        return [row for _, row in await self.app.storage.segments(1, "main", 0, END_OF_TIME)]

    async def closed(self) -> list[SegmentRow]:
        return [row for row in await self.rows() if row.state == "closed"]

    async def locks(self, start_us: int, end_us: int, **params: Any) -> list[tuple[int, int]]:
        status, body = await self.call("GET", "/api/v1/channels/1/locks", user=REVIEWER,
                                       start=iso(start_us), end=iso(end_us), **params)
        assert status == 200, body
        return [(us(span["start"]), us(span["end"])) for span in body["spans"]]

    async def lock(self, start_us: int, end_us: int, locked: bool = True) -> int:
        status, body = await self.call("POST", "/api/v1/channels/1/locks", json={
            "start": iso(start_us), "end": iso(end_us), "locked": locked})
        assert status == 200, body
        return int(body["segments"])


@asynccontextmanager
async def nvr_on(volume: Path, data_dir: Path, url: str) -> AsyncIterator[Nvr]:
    port = free_port()
    config = config_toml(
        port, cameras=camera_toml(1, url) + "record_sub = false\n",
        extra=f'[storage]\nfull_policy = "overwrite"\nmin_free_percent = {MIN_FREE_PERCENT}\n'
              f'reserve_minutes = 0\n\n[[storage.volumes]]\npath = "{volume}"\n\n'
              "[recording]\nsegment_seconds = 10\n")
    async with running_app(data_dir, config, authenticator=HeaderAuthenticator(USERS)) \
            as (app, _run), \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
        yield Nvr(app, session, f"https://127.0.0.1:{port}")


async def poll_until(what: str, condition: Callable[[], Awaitable[bool]]) -> None:
    try:
        async with asyncio.timeout(HANG_GUARD_S):
            while not await condition():
                await asyncio.sleep(POLL_S)
    except TimeoutError:
        raise AssertionError(f"gave up waiting for {what}") from None


def iso(us_: int) -> str:
    return from_us(us_).isoformat()


def us(text: str) -> int:
    return (dt.datetime.fromisoformat(text) - from_us(0)) // dt.timedelta(microseconds=1)


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def decode_jpeg(jpeg: bytes) -> av.VideoFrame:
    with av.open(io.BytesIO(jpeg), "r", format="image2pipe") as container:
        frame = next(container.decode(video=0))
        assert isinstance(frame, av.VideoFrame)
        return frame


# --- the disk ----------------------------------------------------------------------------

@pytest.fixture
def loopfs(tmp_path: Path) -> Iterator[LoopFilesystem]:
    reason = loop_unavailable_reason()
    if reason:
        pytest.skip(reason)
    (tmp_path / "loop").mkdir()
    with loop_filesystem(tmp_path / "loop", VOLUME_MIB) as fs:
        yield fs


def floor_of(path: Path) -> int:
    """The free space the writer keeps (reserve_minutes = 0: the percentage alone)."""
    st = os.statvfs(path)
    return free_space_floor(st.f_blocks * st.f_frsize,
                            RetentionPolicy(min_free_percent=MIN_FREE_PERCENT,
                                            reserve_seconds=0), 0.0)


def fill_until_free(path: Path, leave: int) -> None:
    """A filler file (outside ``rec/``: not a recording) leaving ``leave`` bytes free."""
    st = os.statvfs(path)
    size = st.f_bavail * st.f_frsize - leave
    assert size > 0
    fd = os.open(path / "filler", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.posix_fallocate(fd, 0, size)
        os.fsync(fd)
    finally:
        os.close(fd)


# --- tests -------------------------------------------------------------------------------

async def test_locked_spans_are_listed_and_released(tmp_path: Path,
                                                    fakecams: StartFakeCams) -> None:
    cams = fakecams([CameraSpec("cam1", SMALL, None)])
    prepare_volume(tmp_path / "disk", "disk")
    async with nvr_on(tmp_path / "disk", tmp_path, cams.url("cam1")) as nvr:
        async def two_closed() -> bool:
            return len(await nvr.closed()) >= 2
        await poll_until("two closed segments", two_closed)
        first, second = (await nvr.closed())[:2]
        start, end = first.start_us - 60_000_000, second.end_us + 60_000_000
        assert await nvr.locks(start, end) == []

        # a range inside the second segment locks all of it; both streams by default
        assert await nvr.lock(second.start_us + 1_000_000, second.end_us - 1_000_000) == 1
        assert await nvr.locks(start, end) == [(second.start_us, second.end_us)]
        assert await nvr.locks(start, end, stream="main") == [(second.start_us,
                                                                second.end_us)]
        assert await nvr.locks(start, end, stream="sub") == []
        # clipped to the range asked
        middle = (second.start_us + second.end_us) // 2
        assert await nvr.locks(middle, end) == [(middle, second.end_us)]
        # two neighbours merge into one span
        assert await nvr.lock(first.start_us, first.end_us) == 1
        assert await nvr.locks(start, end) == [(first.start_us, second.end_us)]

        assert await nvr.lock(first.start_us, second.end_us, locked=False) == 2
        assert await nvr.locks(start, end) == []

        status, body = await nvr.call("GET", "/api/v1/channels/2/locks", user=REVIEWER,
                                      start=iso(start), end=iso(end))
        assert status == 403, body
        status, body = await nvr.call("GET", "/api/v1/channels/1/locks", start=iso(end),
                                      end=iso(start))
        assert status == 422, body


@pytest.mark.root
async def test_locked_ranges_survive_forced_overwrite(tmp_path: Path, loopfs: LoopFilesystem,
                                                      fakecams: StartFakeCams) -> None:
    volume = loopfs.mount_point
    prepare_volume(volume, "bay1")
    floor = floor_of(volume)
    cams = fakecams([CameraSpec("cam1", BIG, None)])
    async with nvr_on(volume, tmp_path, cams.url("cam1")) as nvr:
        async def three_closed() -> bool:
            return len(await nvr.closed()) >= 3
        await poll_until("three closed segments", three_closed)
        older, locked, newer = (await nvr.closed())[:3]
        assert await nvr.lock(locked.start_us + 1_000_000, locked.end_us - 1_000_000) == 1
        for name, row in (("on older footage", older), ("on locked footage", locked)):
            status, body = await nvr.call("POST", "/api/v1/channels/1/tags", json={
                "at": iso(row.start_us + 2_000_000), "name": name})
            assert status == 201 and body["recorded"], body

        # Fill the disk to a few MiB above the floor: retention must now overwrite, oldest
        # first, stepping over the locked segment.
        fill_until_free(volume, floor + (3 << 20))

        async def overwritten_past_the_lock() -> bool:
            ids = {row.id for row in await nvr.rows()}
            return older.id not in ids and newer.id not in ids
        await poll_until("the segments around the locked one overwritten",
                         overwritten_past_the_lock)

        rows = {row.id: row for row in await nvr.rows()}
        assert locked.id in rows and rows[locked.id].locked, "the locked segment is gone"
        assert rows[locked.id].bytes == locked.bytes
        span = (locked.start_us, locked.end_us)
        assert await nvr.locks(older.start_us, newer.end_us) == [span]

        # it still plays: the whole file decodes, and a picture from inside it
        frames = await asyncio.to_thread(decoded_frames, volume / locked.path)
        assert frames >= (locked.end_us - locked.start_us) * 25 // 1_000_000 - 1
        status, jpeg = await nvr.call("GET", "/api/v1/channels/1/picture", user=REVIEWER,
                                      at=iso(locked.start_us + 5_000_000), width=320)
        assert status == 200, jpeg
        assert (decode_jpeg(jpeg).width, decode_jpeg(jpeg).height) == (320, 180)
        status, body = await nvr.call("GET", "/api/v1/channels/1/picture", user=REVIEWER,
                                      at=iso(older.start_us + 5_000_000))
        assert status == 404, body

        # tags outlive their footage, marked as no longer recorded
        status, page = await nvr.call("GET", "/api/v1/tags", user=REVIEWER, before=0)
        assert status == 200, page
        assert {t["name"]: t["recorded"] for t in page["tags"]} == {
            "on older footage": False, "on locked footage": True}
    assert (volume / locked.path).is_file()
