"""Snapshots of real RTSP cameras (fakecam), tapped on the ingest's own connections."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import av
import pytest

from nvrd.config import NvrConfig, parse_config
from nvrd.paths import DataDir
from nvrd.record.ingest_service import IngestService
from nvrd.snapshots import SnapshotError, SnapshotService
from nvrd.snapshots.store import relative_path
from nvrd.system.auditlog import AuditLog
from tools.fakecam.control import CameraSpec, FakeCamServer, StartFakeCams, StreamSpec

MAIN = StreamSpec(640, 360, 25, 25, 800)
SUB = StreamSpec(320, 240, 25, 25, 300)
HANG_GUARD_S = 60.0
"""Only so that a broken test fails instead of hanging; never a measure."""


def now_us() -> int:
    return time.time_ns() // 1000


def config_of(cameras: str, snapshots: str = "", stall_timeout: int = 3) -> NvrConfig:
    return parse_config(
        f"[ingest]\nopen_timeout_seconds = 5\nstall_timeout_seconds = {stall_timeout}\n"
        "backoff_initial_seconds = 1\nbackoff_max_seconds = 2\n"
        f"[snapshots]\n{snapshots}\n{cameras}", "test")


def camera(channel: int, cams: FakeCamServer | None, name: str, *, sub: bool = True,
           url: str | None = None) -> str:
    main = url or (cams.url(name, "main") if cams else "")
    text = f'[[cameras]]\nchannel = {channel}\nmain = {{ url = "{main}" }}\n'
    if sub and cams is not None:
        text += f'sub = {{ url = "{cams.url(name, "sub")}" }}\n'
    return text


@dataclass
class Rig:
    ingest: IngestService
    service: SnapshotService
    data: DataDir


@asynccontextmanager
async def rig(tmp_path: Path, config: NvrConfig) -> AsyncIterator[Rig]:
    """Ingest and snapshots as the daemon runs them (no recorder: nothing else taps)."""
    audit = AuditLog(tmp_path / "audit.db", 1000)
    await audit.start()
    ingest = IngestService(config, audit)
    data = DataDir(tmp_path)
    service = SnapshotService(config, ingest, data)
    await ingest.start()
    await service.start()
    try:
        yield Rig(ingest, service, data)
    finally:
        await service.stop()
        await ingest.stop()
        await audit.stop()


async def until(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def online(ingest: IngestService, channel: int, stream: str) -> bool:
    for status in ingest.snapshot():
        if status.channel == channel and stream in status.streams:
            return status.streams[stream].online
    return False


def decode_jpeg(path: Path) -> av.VideoFrame:
    with av.open(str(path), format="image2") as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "mjpeg"
        frame = next(container.decode(stream))
        assert isinstance(frame, av.VideoFrame)
        return frame


async def test_a_snapshot_is_a_jpeg_of_the_stream_s_size_indexed_by_time(
        fakecams: StartFakeCams, tmp_path: Path) -> None:
    cams = fakecams([CameraSpec("cam1", MAIN, SUB), CameraSpec("cam2", MAIN, None)])
    config = config_of(camera(1, cams, "cam1") + camera(2, cams, "cam2", sub=False))
    async with rig(tmp_path, config) as r, asyncio.timeout(HANG_GUARD_S):
        await until("streams online", lambda: online(r.ingest, 1, "sub")
                    and online(r.ingest, 1, "main") and online(r.ingest, 2, "main"))
        before = now_us()
        record = await r.service.take(1)
        after = now_us()
        assert before <= record.time_us <= after
        assert (record.channel, record.reason, record.event_id) == (1, "manual", None)
        assert (record.width, record.height) == (SUB.width, SUB.height)  # sub preferred
        found = r.service.path_of(record.id)
        assert found is not None
        _, path = found
        assert path == r.data.snapshots / relative_path(1, record.time_us)
        assert path.stat().st_size == record.size_bytes
        frame = decode_jpeg(path)
        assert (frame.width, frame.height) == (SUB.width, SUB.height)

        main_only = await r.service.take(2, reason="event", event_id=17)
        assert (main_only.width, main_only.height) == (MAIN.width, MAIN.height)
        assert main_only.event_id == 17
        assert decode_jpeg(r.data.snapshots / main_only.path).width == MAIN.width

        assert r.service.find(1, before, after + 1, 10) == [record]
        assert r.service.find(None, before, now_us() + 1, 10) == [main_only, record]
        assert r.service.find(None, after + 1, now_us() + 1, 10) == [main_only]


async def test_the_main_stream_serves_when_the_sub_stream_is_down(
        fakecams: StartFakeCams, tmp_path: Path) -> None:
    cams = fakecams([CameraSpec("cam1", MAIN, SUB)])
    config = config_of(camera(1, cams, "cam1"))
    async with rig(tmp_path, config) as r, asyncio.timeout(HANG_GUARD_S):
        await until("streams online", lambda: online(r.ingest, 1, "sub")
                    and online(r.ingest, 1, "main"))
        cams.stop_camera("cam1", "sub")
        await until("the sub stream offline", lambda: not online(r.ingest, 1, "sub"))
        record = await r.service.take(1)
        assert (record.width, record.height) == (MAIN.width, MAIN.height)


async def test_takes_at_once_share_the_key_frame_but_not_the_file(
        fakecams: StartFakeCams, tmp_path: Path) -> None:
    cams = fakecams([CameraSpec("cam1", SUB, None)])
    config = config_of(camera(1, cams, "cam1", sub=False))
    async with rig(tmp_path, config) as r, asyncio.timeout(HANG_GUARD_S):
        await until("online", lambda: online(r.ingest, 1, "main"))
        records = await asyncio.gather(*(r.service.take(1, reason="event", event_id=n)
                                         for n in (1, 2, 3)))
        assert [rec.event_id for rec in records] == [1, 2, 3]
        assert len({rec.path for rec in records}) == 3
        # one key frame, one decode: the same picture, its time moved on by 1 µs per copy
        assert len({(r.data.snapshots / rec.path).read_bytes() for rec in records}) == 1
        times = sorted(rec.time_us for rec in records)
        assert times == [times[0], times[0] + 1, times[0] + 2]


async def test_an_offline_camera_gives_a_clear_error(fakecams: StartFakeCams,
                                                     tmp_path: Path) -> None:
    cams = fakecams([CameraSpec("cam1", SUB, None)])
    config = config_of(camera(1, cams, "cam1", sub=False)
                       + camera(2, None, "", url="rtsp://127.0.0.1:9/nothing"),
                       "timeout_seconds = 1\n")
    async with rig(tmp_path, config) as r, asyncio.timeout(HANG_GUARD_S):
        # before the first connection attempt fails: the timeout ends the wait
        with pytest.raises(SnapshotError) as caught:
            await r.service.take(2)
        assert str(caught.value).startswith("channel 2: no picture: the camera is offline")
        assert caught.value.code == "offline"
        # once the ingest knows why, at once and with the reason
        await until("channel 2 failed", lambda: any(
            s.channel == 2 and s.streams["main"].last_error for s in r.ingest.snapshot()))
        with pytest.raises(SnapshotError, match=r"^channel 2: no picture: the camera is "
                                                r"offline \(.*refused"):
            await r.service.take(2)
        with pytest.raises(SnapshotError, match=r"^channel 9: no picture: there is no camera"):
            await r.service.take(9)

        await until("channel 1 online", lambda: online(r.ingest, 1, "main"))
        cams.stall("cam1", "main")  # connected, but silent (stall limit 3 s > timeout 1 s)
        with pytest.raises(SnapshotError, match=r"^channel 1: no picture: the camera sent no "
                                                r"key frame within 1 s") as stalled:
            await r.service.take(1)
        assert stalled.value.code == "no_key_frame"
        cams.resume("cam1", "main")
        assert (await r.service.take(1)).channel == 1


async def test_request_is_fire_and_forget(fakecams: StartFakeCams, tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    cams = fakecams([CameraSpec("cam1", SUB, None)])
    config = config_of(camera(1, cams, "cam1", sub=False), "timeout_seconds = 1\n")
    async with rig(tmp_path, config) as r, asyncio.timeout(HANG_GUARD_S):
        await until("online", lambda: online(r.ingest, 1, "main"))
        start = now_us()
        r.service.request(1, reason="event", event_id=5)
        r.service.request(4, reason="event", event_id=6)  # no camera: a warning only
        await until("the snapshot indexed",
                    lambda: bool(r.service.find(1, start, now_us() + 1, 1)))
        assert r.service.find(1, start, now_us() + 1, 1)[0].event_id == 5
        await until("the warning", lambda: "channel 4: no picture: there is no camera"
                    in caplog.text)


async def test_a_restart_reconciles_the_index_with_the_files(
        fakecams: StartFakeCams, tmp_path: Path) -> None:
    cams = fakecams([CameraSpec("cam1", SUB, None)])
    config = config_of(camera(1, cams, "cam1", sub=False))
    async with rig(tmp_path, config) as r, asyncio.timeout(HANG_GUARD_S):
        await until("online", lambda: online(r.ingest, 1, "main"))
        kept = await r.service.take(1)
        lost = await r.service.take(1)
    root = DataDir(tmp_path).snapshots
    (root / lost.path).unlink()
    orphan = root / relative_path(1, lost.time_us + 1)
    orphan.write_bytes((root / kept.path).read_bytes())
    async with rig(tmp_path, config) as r:
        assert r.service.path_of(lost.id) is None
        assert r.service.find(None, 0, 2**62, 10) == [kept]
        assert not orphan.exists()
        assert r.service.store.total_bytes == kept.size_bytes


async def test_an_h265_camera_gives_a_jpeg_too(fakecams: StartFakeCams,
                                               tmp_path: Path) -> None:
    h265 = StreamSpec(320, 240, 25, 25, 300, codec="h265")
    cams = fakecams([CameraSpec("cam1", h265, None)])
    config = config_of(camera(1, cams, "cam1", sub=False), "quality = 1\n")
    async with rig(tmp_path, config) as r, asyncio.timeout(HANG_GUARD_S):
        await until("online", lambda: online(r.ingest, 1, "main"))
        record = await r.service.take(1)
        frame = decode_jpeg(r.data.snapshots / record.path)
        assert (frame.width, frame.height) == (h265.width, h265.height)


async def test_a_store_that_cannot_open_leaves_the_recorder_running_and_says_why(
        tmp_path: Path) -> None:
    (tmp_path / "snapshots").write_text("a file where the snapshot directory should be")
    config = config_of(camera(1, None, "cam1", url="rtsp://127.0.0.1:9/none"))
    async with rig(tmp_path, config) as running:  # starts: nothing raised
        health = running.service.health()
        assert health.ok and "cannot be opened" in health.detail
        with pytest.raises(SnapshotError) as caught:
            await running.service.take(1)
        assert caught.value.code == "storage"
        assert "the snapshot store" in str(caught.value)
        running.service.request(1, reason="event", event_id=None)  # logged, not raised
