"""Motion detection in the daemon: a fakecam box moving in one corner of a still picture
becomes events of that corner's region only, bitmaps of that corner's cells, and a smart
search that finds it there and nowhere else; plus the service's retention of motion.db,
its every-start-has-a-stop rule and its health."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np

from nvrd.config import NvrConfig, parse_config
from nvrd.config.schema import MotionCells
from nvrd.events.bus import EventBus
from nvrd.events.model import Event, EventKind, Phase
from nvrd.motion.grid import empty_mask, from_bitmap, mask_of
from nvrd.motion.service import (
    NO_FOOTAGE_GRACE_US,
    MotionService,
    decode_trouble,
    prune_cutoffs,
)
from nvrd.motion.store import MotionStore
from nvrd.record.ingest_service import IngestService
from nvrd.service import Health
from nvrd.storage.catalog import Catalog, NewSegment
from nvrd.storage.model import RecordType, SegmentName
from nvrd.storage.service import StorageService
from nvrd.storage.volume import prepare_volume
from nvrd.system.auditlog import AuditLog
from tests.events.harness import HANG_GUARD_S, running_box
from tools.fakecam.control import CameraSpec, MovingBox, StartFakeCams, StreamSpec

MAIN = StreamSpec(320, 240, 15, 15, 300)
SUB = StreamSpec(352, 288, 15, 15, 400)  # 16×16 pixels a grid cell
SCENE = MovingBox(0, 0, 0.5, 0.5)
"""The box moves in the top-left quarter only: grid columns 0–10, rows 0–8."""
DRIVEWAY = MotionCells(left=0, top=0, right=10, bottom=8)
GARDEN = MotionCells(left=12, top=10, right=21, bottom=17)
S = 1_000_000
T0 = 1_700_000_000 * S


def motion_camera(main_url: str, sub_url: str, sensitivity: int = 50) -> str:
    return (f'[[cameras]]\nchannel = 1\nmain = {{ url = "{main_url}" }}\n'
            f'sub = {{ url = "{sub_url}" }}\n'
            "[cameras.motion]\nenabled = true\nfps = 5\n"
            "[[cameras.motion.regions]]\nname = \"Driveway\"\n"
            f"sensitivity = {sensitivity}\n"
            "cells = [{ left = 0, top = 0, right = 10, bottom = 8 }]\n"
            "[[cameras.motion.regions]]\nname = \"Garden\"\n"
            "cells = [{ left = 12, top = 10, right = 21, bottom = 17 }]\n")


async def until(what: str, condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(HANG_GUARD_S):
        while not condition():
            await asyncio.sleep(0.1)
    assert condition(), what


def is_(phase: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["phase"] == phase and all(e[k] == v for k, v in fields.items())


async def test_a_box_moving_in_one_corner_is_motion_of_that_region_only(
        fakecams: StartFakeCams, tmp_path: Path) -> None:
    cams = fakecams([CameraSpec("cam1", MAIN, SUB, scene=SCENE)])
    main_url, sub_url = cams.url("cam1", "main"), cams.url("cam1", "sub")
    async with running_box(tmp_path, extra=motion_camera(main_url, sub_url)) as box:
        motion = box.app.motion
        assert motion is not None and motion.store is not None
        store = motion.store
        query: dict[str, Any] = {"kind": "motion", "channel": 1}
        start = await box.logged(is_("start"), **query)
        assert start["source"] == "camera:1/region:1"
        assert start["details"] == {"region": 1, "name": "Driveway"}
        await until("three seconds of bitmaps", lambda: len(store.bitmaps(1, 0, 2**40)) >= 3)

        # new settings for the channel replace its analyser: the open start is stopped
        def more_sensitive(table: dict[str, Any]) -> None:
            table["cameras"][0]["motion"]["regions"][0]["sensitivity"] = 60

        await box.app.change_config(more_sensitive, what="test", user="test", source="test")
        stopped = await box.logged(is_("stop", start_id=start["id"]), **query)
        again = await box.logged(lambda e: is_("start")(e) and e["id"] > stopped["id"],
                                 **query)
        assert again["source"] == "camera:1/region:1"

        # the camera goes away: its stream ends, and so does the motion
        cams.stop_camera("cam1")
        last = await box.logged(is_("stop", start_id=again["id"]), **query)
        assert last["time_us"] >= again["time_us"]
        events = (await box.search(**query, limit=500))["events"]
        assert {e["source"] for e in events} == {"camera:1/region:1"}
        assert all(e["end_us"] is not None for e in events if e["phase"] == "start")

        moved = empty_mask()
        for _, bitmap in store.bitmaps(1, 0, 2**40):
            moved |= from_bitmap(bitmap)
        driveway = mask_of([DRIVEWAY])
        with_edge = mask_of([MotionCells(left=0, top=0, right=11, bottom=9)])
        assert int((moved & driveway).sum()) >= 10, moved.astype(int)
        assert not (moved & ~with_edge).any(), moved.astype(int)

        now_us = time.time_ns() // 1000
        found = store.intervals_with_motion(1, 0, now_us, driveway)
        start_s = start["time_us"] // S
        assert any(i.start_s <= start_s < i.end_s for i in found), (start_s, found)
        assert store.intervals_with_motion(1, 0, now_us, mask_of([GARDEN])) == []


# --- the service on its own ---------------------------------------------------------------


def camera_config(extra: str = "") -> NvrConfig:
    return parse_config(
        '[[cameras]]\nchannel = 1\nmain = { url = "rtsp://192.0.2.1/main" }\n'
        'sub = { url = "rtsp://192.0.2.1/sub" }\n'
        "motion = { enabled = true, regions = [{ name = \"Door\" }] }\n" + extra, "test")


async def test_a_start_left_open_is_stopped_when_the_service_stops(tmp_path: Path) -> None:
    """A worker that died never stops its regions; the service does, saying why."""
    config = camera_config()
    audit = AuditLog(tmp_path / "audit.db", 100)
    await audit.start()
    bus = EventBus()
    bus.bind()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    service = MotionService(config, IngestService(config, audit), bus, tmp_path / "motion.db",
                            now_us=lambda: T0 + 9 * S)
    await service.start()
    try:
        service._on_region(1, 1, "start", T0)  # as the analyser's worker does, then dies
        assert service.health().ok
    finally:
        await service.stop()
        await audit.stop()
    assert [(e.source, e.phase, e.time_us) for e in seen] == [
        ("camera:1/region:1", Phase.START, T0), ("camera:1/region:1", Phase.STOP, T0 + 9 * S)]
    assert seen[0].kind is EventKind.MOTION and seen[0].channel == 1
    assert seen[1].details == {"region": 1, "name": "Door",
                               "reason": "motion detection stopped"}
    assert seen[1].start_id == seen[0].id


async def test_a_sub_stream_that_does_not_decode_is_told_in_the_health(
        tmp_path: Path, motion_clip: bytes) -> None:
    config = camera_config()
    audit = AuditLog(tmp_path / "audit.db", 100)
    await audit.start()
    bus = EventBus()
    bus.bind()
    service = MotionService(config, IngestService(config, audit), bus, tmp_path / "motion.db")
    await service.start()
    try:
        assert service.detection is not None
        analyser = service.detection.analyser(1)
        assert analyser is not None
        assert service.health() == Health(True, "")
        with av.open(io.BytesIO(motion_clip), "r") as container:
            analyser.on_session_start(container.streams.video[0], None)
        for _ in range(5):
            # an IDR slice NAL of junk, no parameter sets: never decodes
            packet = av.Packet(b"\x00\x00\x00\x01\x65" + b"\xff" * 300)
            packet.is_keyframe = True
            analyser.on_packet(packet)
        assert await asyncio.to_thread(analyser.wait_idle, HANG_GUARD_S)
        health = service.health()
        assert health.ok, "a camera's bad stream is no reason to restart the daemon"
        assert "channel 1: the sub stream does not decode for motion detection" in health.detail
        assert "5 packet(s) failed, 0 frame(s) decoded" in health.detail
    finally:
        await service.stop()
        await audit.stop()


async def test_an_unusable_motion_db_costs_the_bitmaps_not_the_daemon(tmp_path: Path) -> None:
    config = camera_config()
    (tmp_path / "motion.db").mkdir()  # cannot be opened as a database
    audit = AuditLog(tmp_path / "audit.db", 100)
    await audit.start()
    bus = EventBus()
    bus.bind()
    service = MotionService(config, IngestService(config, audit), bus, tmp_path / "motion.db")
    await service.start()
    try:
        assert service.store is None
        assert service.detection is not None and service.detection.analyser(1) is not None
        health = service.health()
        assert health.ok and "motion.db unusable, motion bitmaps not kept" in health.detail
    finally:
        await service.stop()
        await audit.stop()


def test_decode_trouble_is_only_about_new_errors() -> None:
    from nvrd.motion.analyser import MotionStats

    before = MotionStats(packets=100, dropped=0, decoded=90, analysed=20, decode_errors=3)
    assert decode_trouble(2, before, before, 30) is None
    now = MotionStats(packets=150, dropped=0, decoded=130, analysed=30, decode_errors=13)
    assert decode_trouble(2, before, now, 30) == (
        "channel 2: the sub stream does not decode for motion detection (10 packet(s) "
        "failed, 40 frame(s) decoded in the last 30 s)")


def test_prune_cutoffs_follow_the_footage_else_the_maximum_age() -> None:
    config = parse_config(
        '[[cameras]]\nchannel = 1\nmain = { url = "rtsp://192.0.2.1/m" }\nmax_age_days = 2\n'
        '[[cameras]]\nchannel = 2\nmain = { url = "rtsp://192.0.2.2/m" }\n', "test")
    now = T0 + 30 * 86_400 * S
    # every volume answered: the footage says, for every channel (removed ones too)
    footage = {1: T0 + 1_500_000, 5: T0 + 7 * S}
    assert prune_cutoffs([1, 2, 5], config, footage, now) == {
        1: T0 // S + 1, 2: (now - NO_FOOTAGE_GRACE_US) // S, 5: T0 // S + 7}
    # a disk missing or starting: only the channels with a maximum age
    assert prune_cutoffs([1, 2, 5], config, None, now) == {1: now // S - 2 * 86_400}


async def test_retention_drops_bitmaps_older_than_the_footage_at_start(tmp_path: Path) -> None:
    prepare_volume(tmp_path / "disk", "disk")
    config = parse_config('[[storage.volumes]]\npath = "disk"\n', "test")
    audit = AuditLog(tmp_path / "audit.db", 100)
    await audit.start()
    storage = StorageService(config, tmp_path, audit)
    await storage.start()
    now = T0 + 86_400 * S
    store = MotionStore(tmp_path / "motion.db")
    moving = mask_of([DRIVEWAY])
    for channel, second in [(1, T0 // S + 50), (1, T0 // S + 100), (1, T0 // S + 150),
                            (2, now // S - 7200), (2, now // S - 600)]:
        store.add(channel, second, moving)
    store.close()
    service: MotionService | None = None
    try:
        await until("the volume ready", lambda: storage.snapshot()[0].state == "ready")
        writer = storage.writers()["disk"]

        def add_footage(catalog: Catalog) -> None:
            start = T0 + 100 * S + 250_000
            path = SegmentName(1, "main", start).relpath().as_posix()
            catalog.insert_closed(NewSegment(1, "main", start, start, path,
                                             int(RecordType.GENERAL), "h264", 320, 240, 700),
                                  start + 60 * S, 1000, [], "rotate")
            catalog.commit()

        await asyncio.wrap_future(writer.run_job(add_footage))
        assert await storage.oldest_footage_us() == {1: T0 + 100 * S + 250_000}

        bus = EventBus()
        bus.bind()
        service = MotionService(config, IngestService(config, audit), bus,
                                tmp_path / "motion.db", oldest_footage=storage.oldest_footage_us,
                                now_us=lambda: now)
        await service.start()
        motion = service.store
        assert motion is not None
        await until("the start's pass", lambda: motion.rows == 3)
        assert [s - T0 // S for s, _ in motion.bitmaps(1, 0, 2**40)] == [100, 150]
        assert [now // S - s for s, _ in motion.bitmaps(2, 0, 2**40)] == [600]
        assert await service.prune() == 0
    finally:
        if service is not None:
            await service.stop()
        await storage.stop()
        await audit.stop()


def test_the_scene_keeps_the_box_inside_its_area() -> None:
    from tools.fakecam.picture import MovingBoxPicture

    picture = MovingBoxPicture(352, 288, 30, "cam1", SCENE)
    still = picture.yuv420(0)[:288].astype(int)
    for i in range(30):
        frame = picture.yuv420(i)[:288].astype(int)
        changed = np.argwhere(frame != still)
        if changed.size:
            assert changed[:, 0].max() < 144 and changed[:, 1].max() < 176
        x, y = picture.box_at(i)
        assert 0 <= x <= 176 - 48 and 0 <= y <= 144 - 48
