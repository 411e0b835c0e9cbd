"""A disk that fills up or disappears, on a real ext4 filesystem (loop device), under the
real recording stack (ingest → recorder → storage writer) fed by a virtual camera.

- overwrite: the free space stays at the floor while the oldest unlocked segments go,
  locked ones stay, recording goes on, and each deletion is logged with its time span;
- stop: recording stops at the floor, the volume says "full" in a technician's words,
  nothing is deleted and what was recorded still plays;
- a pulled disk (``umount -l``) fails its volume and nothing is written into the empty
  mount point left on the root filesystem; a volume directory never prepared is
  "missing" and never written into.

The stack runs in this process (as ``nvrd.app`` builds it, without the web server) so
the test can lock segments and read the storage service's state directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.logging
import pytest

from nvrd.config import parse_config
from nvrd.record.fmp4 import scan_file
from nvrd.record.ingest_service import IngestService
from nvrd.record.recorder import RecorderService
from nvrd.record.segmenter import SegmenterStatus
from nvrd.storage.catalog import CatalogReader, SegmentRow
from nvrd.storage.model import SEGMENT_DIR
from nvrd.storage.retention import RetentionPolicy, free_space_floor
from nvrd.storage.service import StorageService, VolumeStatus
from nvrd.storage.volume import IDENTITY_FILE, prepare_volume
from nvrd.system.auditlog import AuditLog
from tests.storage.loopdev import LoopFilesystem, loop_filesystem, loop_unavailable_reason
from tools.fakecam.control import CameraSpec, StartFakeCams, StreamSpec

pytestmark = pytest.mark.slow

MAIN = StreamSpec(1920, 1080, 25, 25, 8000)
"""The fake camera's synthetic picture compresses far below the asked bitrate: this one
delivers about 0.3 MB/s (a 10 s segment ≈ 3 MB), enough to fill a few MiB in seconds."""
VOLUME_MIB = 64
"""ext4 on 64 MiB leaves about 54.7 MiB for files."""
MIN_FREE_PERCENT = 10
"""A floor of about 5.5 MiB: above one segment, so "floor minus one segment" is a real
bound, and a few seconds of writing away from the filler's limit."""
VOLUME = "bay1"
END_OF_TIME = 1 << 62
POLL_S = 0.2


@pytest.fixture
def loopfs(tmp_path: Path) -> Iterator[LoopFilesystem]:
    reason = loop_unavailable_reason()
    if reason:
        pytest.skip(reason)
    with loop_filesystem(tmp_path, VOLUME_MIB) as fs:
        yield fs


# --- the stack ---------------------------------------------------------------------------


@dataclass(slots=True)
class Stack:
    audit: AuditLog
    storage: StorageService
    recorder: RecorderService
    ingest: IngestService

    def volume(self, name: str = VOLUME) -> VolumeStatus:
        return next(v for v in self.storage.snapshot() if v.name == name)

    def stream(self, channel: int = 1) -> SegmenterStatus:
        recording = next(c for c in self.recorder.snapshot() if c.channel == channel)
        return recording.streams["main"]

    async def rows(self, channel: int = 1) -> list[SegmentRow]:
        """The stream's committed catalog rows, oldest first."""
        return [row for _, row in await self.storage.segments(channel, "main", 0,
                                                                 END_OF_TIME)]


def config_text(url: str, volumes: dict[str, Path], full_policy: str = "overwrite") -> str:
    text = ("[ingest]\nopen_timeout_seconds = 5\nstall_timeout_seconds = 3\n"
            "backoff_initial_seconds = 1\nbackoff_max_seconds = 2\n\n"
            f'[storage]\nfull_policy = "{full_policy}"\n'
            f"min_free_percent = {MIN_FREE_PERCENT}\nreserve_minutes = 0\n\n")
    for name, path in volumes.items():
        text += f'[[storage.volumes]]\npath = "{path}"\nname = "{name}"\n\n'
    return (text + "[recording]\nsegment_seconds = 10\n\n"
            f'[[cameras]]\nchannel = 1\nmain = {{ url = "{url}" }}\nrecord_sub = false\n')


@contextlib.asynccontextmanager
async def nvr_stack(text: str, data_dir: Path) -> AsyncIterator[Stack]:
    """audit → storage → recorder → ingest, as the application starts them; stopped in
    reverse order whatever happens."""
    cfg = parse_config(text, "test")
    audit = AuditLog(data_dir / "audit.db", 1000)
    storage = StorageService(cfg, data_dir, audit)
    recorder = RecorderService(cfg, storage, audit)
    ingest = IngestService(cfg, audit, sinks=recorder.segmenter)
    started: list[AuditLog | StorageService | RecorderService | IngestService] = []
    try:
        for service in (audit, storage, recorder, ingest):
            await service.start()
            started.append(service)
        yield Stack(audit, storage, recorder, ingest)
    finally:
        for service in reversed(started):
            await service.stop()


async def poll_until(what: str, condition: Callable[[], bool | Awaitable[bool]],
                     timeout: float) -> None:
    """Check ``condition()`` (sync or async) every ``POLL_S`` until it holds; fail with
    ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


# --- the disk ----------------------------------------------------------------------------


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def floor_of(path: Path) -> int:
    """The floor the writer keeps (reserve_minutes = 0: the percentage alone)."""
    st = os.statvfs(path)
    return free_space_floor(st.f_blocks * st.f_frsize,
                            RetentionPolicy(min_free_percent=MIN_FREE_PERCENT,
                                            reserve_seconds=0), 0.0)


def fill_until_free(path: Path, name: str, leave: int) -> None:
    """Allocate a filler file (outside ``rec/``: not a recording) so that ``leave`` bytes
    stay free."""
    size = free_bytes(path) - leave
    assert size > 0, f"only {free_bytes(path)} bytes free, cannot leave {leave}"
    fd = os.open(path / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.posix_fallocate(fd, 0, size)
        os.fsync(fd)
    finally:
        os.close(fd)


def segment_files(volume: Path) -> set[str]:
    return {p.relative_to(volume).as_posix() for p in (volume / SEGMENT_DIR).rglob("*.mp4")}


def catalog_after_stop(volume: Path) -> list[SegmentRow]:
    with CatalogReader(volume) as reader:
        return reader.segments(1, "main", 0, END_OF_TIME)


def assert_catalog_matches_files_and_decodes(volume: Path) -> list[SegmentRow]:
    rows = catalog_after_stop(volume)
    assert rows, "nothing was recorded"
    assert segment_files(volume) == {row.path for row in rows}
    for row in rows:
        path = volume / row.path
        assert row.state == "closed", row
        assert path.stat().st_size == row.bytes, row
        assert scan_file(path).torn_bytes == 0, row
        frames = decoded_frames(path)
        assert frames >= (row.end_us - row.start_us) * 25 // 1_000_000 - 1, (row, frames)
    return rows


def decoded_frames(path: Path) -> int:
    """Decode every video frame; fail on any FFmpeg error, raised or only logged."""
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture() as logs, av.open(str(path)) as container:
            frames = sum(1 for _ in container.decode(video=0))
    finally:
        av.logging.set_level(previous)
    errors = [entry for entry in logs if entry[0] <= av.logging.ERROR]
    assert not errors, f"{path}: FFmpeg reported {errors}"
    return frames


_SPAN = re.compile(r"from (\S+ \S+ UTC) to (\S+ \S+ UTC)")


def utc(us: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(us // 1_000_000))


# --- tests -------------------------------------------------------------------------------


@pytest.mark.root
async def test_overwrite_keeps_the_floor_and_the_locked_segments(
        tmp_path: Path, loopfs: LoopFilesystem, fakecams: StartFakeCams,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="nvrd.storage")
    volume = loopfs.mount_point
    prepare_volume(volume, VOLUME)
    floor = floor_of(volume)
    cams = fakecams([CameraSpec("cam1", MAIN, None)])
    text = config_text(cams.url("cam1"), {VOLUME: volume})

    samples: list[tuple[int, str]] = []  # (free bytes, volume state) after the floor
    seen: dict[int, SegmentRow] = {}
    async with nvr_stack(text, tmp_path) as stack:
        # Lock the first segment as soon as it is closed.
        async def first_closed() -> bool:
            return any(r.state == "closed" for r in await stack.rows())
        await poll_until("a first closed segment", first_closed, 30)
        locked = next(r for r in await stack.rows() if r.state == "closed")
        assert await stack.storage.set_locked(1, None, locked.start_us, locked.end_us,
                                              True) == 1

        # Once an unlocked segment is closed too, fill the disk to a few MiB above the
        # floor: the camera then reaches the floor within seconds, with something that
        # overwrite may delete (only locked footage would make the volume "full").
        async def two_closed() -> bool:
            return sum(r.state == "closed" for r in await stack.rows()) >= 2
        await poll_until("a second closed segment", two_closed, 30)
        fill_until_free(volume, "filler", floor + (3 << 20))

        first_deletion_us: int | None = None
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            free = free_bytes(volume)
            state = stack.volume().state
            rows = await stack.rows()
            for row in rows:
                seen[row.id] = row
            current = {row.id for row in rows}
            if free < floor or samples or len(current) < len(seen):
                samples.append((free, state))
            if first_deletion_us is None and len(current) < len(seen):
                first_deletion_us = time.time_ns() // 1000
            if first_deletion_us is not None and any(
                    r.start_us > first_deletion_us and r.bytes > r.init_bytes for r in rows):
                break
            await asyncio.sleep(POLL_S)
        else:
            raise AssertionError(f"no overwrite, or no recording after it, in 45 s; "
                                 f"free {free_bytes(volume)}, floor {floor}, "
                                 f"volume {stack.volume()}, rows {len(seen)}")
        status = stack.volume()
        assert status.floor_bytes == floor, status
        assert stack.stream().recording, "recording stopped after the overwrite"
        audit_details = [r.details for r in await asyncio.to_thread(
            stack.audit.query, type="storage") if r.action == f"volume {VOLUME} deleted"]

    final = {row.id: row for row in catalog_after_stop(volume)}
    deleted = [row for id_, row in seen.items() if id_ not in final]
    assert deleted, "nothing was deleted"

    # The floor held: never more than one segment below it, and never "full".
    biggest = max(row.bytes for row in seen.values())
    assert samples and min(free for free, _ in samples) >= floor - biggest, (
        f"free space fell to {min(free for free, _ in samples)} bytes; floor {floor}, "
        f"largest segment {biggest}")
    assert {state for _, state in samples} == {"ready"}, samples

    # The locked segment survived, row and file; the deleted ones are gone from both.
    assert locked.id in final and final[locked.id].locked
    assert (volume / locked.path).stat().st_size == final[locked.id].bytes
    for row in deleted:
        assert not row.locked
        assert not (volume / row.path).exists(), f"{row.path} deleted but still on disk"
    # oldest first: every deleted segment is older than every surviving unlocked one
    survivors = [row for row in final.values() if not row.locked]
    assert max(r.start_us for r in deleted) < min(r.start_us for r in survivors)

    # Logged and audited with its time span.
    assert audit_details, "no deletion in the audit log"
    first = audit_details[-1]  # query() is newest first
    oldest = min(deleted, key=lambda r: r.start_us)
    assert first.startswith(f"volume {VOLUME}: deleted channel 1 main: "), first
    assert "(overwrite: free space below the floor" in first, first
    span = _SPAN.search(first)
    assert span is not None and span[1] == utc(oldest.start_us), (first, oldest)
    logged = [r.getMessage() for r in caplog.records if " deleted channel " in r.getMessage()]
    assert first in logged, logged

    assert_catalog_matches_files_and_decodes(volume)


@pytest.mark.root
async def test_stop_policy_stops_recording_at_the_floor_and_deletes_nothing(
        tmp_path: Path, loopfs: LoopFilesystem, fakecams: StartFakeCams) -> None:
    volume = loopfs.mount_point
    prepare_volume(volume, VOLUME)
    floor = floor_of(volume)
    fill_until_free(volume, "filler", floor + (3 << 20))
    cams = fakecams([CameraSpec("cam1", MAIN, None)])
    text = config_text(cams.url("cam1"), {VOLUME: volume}, full_policy="stop")

    seen: set[str] = set()
    async with nvr_stack(text, tmp_path) as stack:
        async def full() -> bool:
            seen.update(row.path for row in await stack.rows())
            return stack.volume().state == "full"
        await poll_until("the volume to be full", full, 40)
        assert free_bytes(volume) < floor
        reason = stack.volume().reason or ""
        assert re.search(r"\bfull\b", reason) and "policy is stop" in reason, reason
        assert "recording stopped" in reason, reason

        # Recording stops: the stream lets go of the volume and the disk stops filling.
        await poll_until("the stream to stop recording", lambda: not stack.stream().recording,
                         15)
        stopped_at = free_bytes(volume)
        rows_then = {row.path for row in await stack.rows()}
        deadline = time.monotonic() + 6  # camera keeps sending: nothing may be written
        while time.monotonic() < deadline:
            assert not stack.stream().recording
            assert stack.volume().state == "full"
            await asyncio.sleep(POLL_S)
        assert free_bytes(volume) >= stopped_at - (256 << 10), "still writing after full"
        assert {row.path for row in await stack.rows()} == rows_then
        audit = await asyncio.to_thread(stack.audit.query, type="storage")
        assert any(r.action == f"volume {VOLUME} full" for r in audit), audit

    rows = assert_catalog_matches_files_and_decodes(volume)
    assert seen <= {row.path for row in rows}, "a segment was deleted under the stop policy"
    assert not any(r.action.endswith(" deleted") for r in audit)


@pytest.mark.root
async def test_overwrite_without_a_floor_still_overwrites_when_the_disk_is_full(
        tmp_path: Path, loopfs: LoopFilesystem, fakecams: StartFakeCams) -> None:
    """``min_free_percent = 0`` and ``reserve_minutes = 0`` (both allowed: "use the whole
    disk") must not let the disk fill until writes fail with ENOSPC and the volume flips
    between full and writable: the writer keeps a minimum floor (what arrives between
    two space checks), so the overwrite policy still makes room by deleting the oldest
    footage and records on."""
    volume = loopfs.mount_point
    prepare_volume(volume, VOLUME)
    cams = fakecams([CameraSpec("cam1", MAIN, None)])
    text = config_text(cams.url("cam1"), {VOLUME: volume}).replace(
        f"min_free_percent = {MIN_FREE_PERCENT}", "min_free_percent = 0")

    async with nvr_stack(text, tmp_path) as stack:
        async def first_closed() -> bool:
            return any(r.state == "closed" for r in await stack.rows())
        await poll_until("a first closed segment", first_closed, 30)
        before = {r.id for r in await stack.rows() if r.state == "closed"}
        fill_until_free(volume, "filler", 10 << 20)  # room for about three segments
        filled_us = time.time_ns() // 1000

        async def overwritten_and_recording() -> bool:
            rows = await stack.rows()
            return (not before <= {r.id for r in rows}
                    and any(r.start_us > filled_us and r.bytes > r.init_bytes + (1 << 20)
                            for r in rows))
        try:
            await poll_until("the oldest segment to be overwritten and recording to go on",
                             overwritten_and_recording, 30)
        except AssertionError as exc:
            rows = [(r.path, r.bytes, r.end_reason) for r in await stack.rows()]
            raise AssertionError(
                f"{exc}: the disk filled up (ENOSPC) under the overwrite policy; free "
                f"{free_bytes(volume)} bytes, volume {stack.volume()}, rows {rows}") from None

    assert_catalog_matches_files_and_decodes(volume)


@pytest.mark.root
async def test_a_pulled_disk_fails_and_its_empty_mount_point_is_never_written(
        tmp_path: Path, loopfs: LoopFilesystem, fakecams: StartFakeCams) -> None:
    volume = loopfs.mount_point
    prepare_volume(volume, VOLUME)
    never_prepared = tmp_path / "bay2"
    never_prepared.mkdir()
    cams = fakecams([CameraSpec("cam1", StreamSpec(320, 240, 25, 25, 300), None)])
    text = config_text(cams.url("cam1"), {VOLUME: volume, "bay2": never_prepared})

    async with nvr_stack(text, tmp_path) as stack:
        await poll_until("recording on the loop volume",
                         lambda: stack.stream().recording and stack.stream().volume == VOLUME
                         and stack.stream().bytes_written > 0, 30)
        loopfs.pull()
        assert not (volume / IDENTITY_FILE).exists()  # the bare mount point directory

        await poll_until("the volume to fail", lambda: stack.volume().state == "failed", 10)
        reason = stack.volume().reason or ""
        assert "pulled" in reason or "unmounted" in reason, reason
        # The camera keeps sending; over more than a segment rotation's worth of checks
        # nothing may appear in the mount point (it is the root filesystem now) nor in
        # the directory that was never prepared.
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            assert list(volume.iterdir()) == [], list(volume.iterdir())
            assert list(never_prepared.iterdir()) == []
            await asyncio.sleep(POLL_S)
        assert not stack.stream().recording
        bay2 = stack.volume("bay2")
        assert bay2.state == "missing" and "never prepared" in (bay2.reason or ""), bay2
        audit = await asyncio.to_thread(stack.audit.query, type="storage")
        assert any(r.action == f"volume {VOLUME} failed" for r in audit), audit
    assert list(volume.iterdir()) == []
    assert list(never_prepared.iterdir()) == []


async def test_a_volume_never_prepared_is_missing_and_never_written(
        tmp_path: Path, fakecams: StartFakeCams) -> None:
    """No root needed: a configured directory without an identity file (an empty bay's
    mount point, a disk never prepared) is not recorded into, and says why."""
    bay = tmp_path / "bay1"
    bay.mkdir()
    cams = fakecams([CameraSpec("cam1", StreamSpec(320, 240, 25, 25, 300), None)])
    async with nvr_stack(config_text(cams.url("cam1"), {VOLUME: bay}), tmp_path) as stack:
        def online() -> bool:
            channels = stack.ingest.snapshot()
            return bool(channels) and channels[0].online and channels[0].streams[
                "main"].packets > 100  # 4 s of video that could have been recorded
        await poll_until("the camera to be online", online, 30)
        status = stack.volume()
        assert status.state == "missing", status
        assert IDENTITY_FILE in (status.reason or "") and "never prepared" in (
            status.reason or ""), status
        assert not stack.stream().recording
    assert list(bay.iterdir()) == []
