"""Disk hot-plug with real kernel events: simulated bays on loop devices (root only).

insert → the inventory reports it in the right bay → prepare (refused without the
confirmation) → mount noatime → write → pull → removed, and the mount gone without a hang.
The bays here use loop91/92, clear of the sim profile's 57-60 and of ``losetup -f``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeVar

import pytest

from hal.board import DisksSection
from hal.disks import (
    DeviceProbe,
    DiskChanged,
    DiskEvent,
    DiskInserted,
    DiskInventory,
    DiskPreparer,
    DiskRemoved,
    Mounter,
    PrepareRefused,
    PyudevBlockEvents,
    SmartChecker,
    SubprocessRunner,
    read_mounts,
)
from hal.sim.disks import SimDisks, sim_unavailable_reason

pytestmark = pytest.mark.root

BAYS = DisksSection.model_validate({"bays": [
    {"number": 1, "devpath": "/devices/virtual/block/loop91", "hot_swap": True},
    {"number": 2, "devpath": "/devices/virtual/block/loop92", "hot_swap": True}]})
EVENT_TIMEOUT_S = 10.0

E = TypeVar("E", bound=DiskEvent)


def _unavailable() -> str | None:
    reason = sim_unavailable_reason()
    missing = [t for t in ("losetup", "mkfs.ext4", "blkid", "mount", "umount", "wipefs")
               if shutil.which(t) is None]
    return reason or (f"missing tools: {', '.join(missing)}" if missing else None)


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimDisks]:
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    disks = SimDisks(BAYS, tmp_path / "images")
    try:
        yield disks
    finally:  # pull everything (lazy unmount, detach, LOOP_CTL_REMOVE), delete images
        await disks.close()


@pytest.fixture
async def inventory(sim: SimDisks) -> AsyncIterator[DiskInventory]:
    inv = DiskInventory(BAYS, PyudevBlockEvents("kernel"), DeviceProbe(SubprocessRunner()))
    await inv.start()
    try:
        yield inv
    finally:
        await inv.close()


class Events:
    def __init__(self, inventory: DiskInventory) -> None:
        self.queue: asyncio.Queue[DiskEvent] = asyncio.Queue()
        inventory.add_listener(self.queue.put_nowait)

    async def next(self, kind: type[E]) -> E:
        """The next event of ``kind`` (others are skipped), or fail after the timeout."""
        async with asyncio.timeout(EVENT_TIMEOUT_S):
            while True:
                event = await self.queue.get()
                if isinstance(event, kind):
                    return event


def mount_options(device: str) -> list[tuple[str, ...]]:
    return [m.options for m in read_mounts() if m.source == device]


async def test_insert_prepare_mount_write_pull(sim: SimDisks, inventory: DiskInventory,
                                               tmp_path: Path) -> None:
    events = Events(inventory)
    state = await sim.insert(1, size_mib=64, serial="SIMHOT1")
    inserted = await events.next(DiskInserted)
    disk = inserted.disk
    assert inserted.bay == 1 and disk.devnode == "/dev/loop91" == state.devnode
    assert disk.identity.kind == "backing-file" and disk.identity.value == str(state.image)
    assert disk.size_bytes == 64 << 20 and disk.filesystems == ()
    assert inventory.in_bay(1) == disk and inventory.in_bay(2) is None

    runner = SubprocessRunner()
    preparer = DiskPreparer(runner)
    for wrong in ("", "/dev/loop92", "loop9", "yes"):
        with pytest.raises(PrepareRefused, match="confirmation"):
            await preparer.prepare(disk, confirm=wrong, label="NVR_BAY1")
    # this kernel has no partition tables, so the filesystem goes on the whole device
    prepared = await preparer.prepare(disk, confirm=str(disk.identity), label="NVR_BAY1",
                                      layout="whole")
    assert prepared.device == "/dev/loop91" and prepared.uuid
    refreshed = await inventory.refresh(disk.name)
    changed = await events.next(DiskChanged)
    assert refreshed is not None and changed.disk == refreshed
    [fs] = refreshed.filesystems
    assert (fs.fs_type, fs.uuid, fs.label) == ("ext4", prepared.uuid, "NVR_BAY1")

    mounter = Mounter(runner)
    point = tmp_path / "bay1"
    entry = await mounter.mount(prepared.device, point, "ext4")
    [options] = mount_options("/dev/loop91")
    assert {"noatime", "lazytime"} <= set(options) and "relatime" not in options
    assert entry.mount_point == str(point)
    (point / "segment.mp4").write_bytes(b"\0" * 4096)
    with open(point / "segment.mp4", "rb") as f:
        os.fsync(f.fileno())
    with pytest.raises(PrepareRefused, match="mounted"):
        await preparer.prepare(refreshed, confirm="loop91", label="X", layout="whole")

    async with asyncio.timeout(EVENT_TIMEOUT_S):
        await sim.remove(1)  # the disk is pulled
    removed = await events.next(DiskRemoved)
    assert removed.bay == 1 and removed.disk.identity == disk.identity
    assert not os.path.exists("/dev/loop91") and not os.path.exists("/sys/block/loop91")
    async with asyncio.timeout(EVENT_TIMEOUT_S):  # nothing left to release, and no hang
        await mounter.release(removed.disk)
    assert mount_options("/dev/loop91") == [] and mounter.mounted_at(point) is None
    assert inventory.in_bay(1) is None


async def test_release_lazily_unmounts_a_disk_still_in_use(
        sim: SimDisks, inventory: DiskInventory, tmp_path: Path) -> None:
    """The daemon's own removal path: a writer still has a file open, the disk is gone
    (``device_gone``), ``release`` must not wait for the writer."""
    events = Events(inventory)
    await sim.insert(2, size_mib=64, serial="SIMBUSY")
    disk = (await events.next(DiskInserted)).disk
    runner = SubprocessRunner()
    prepared = await DiskPreparer(runner).prepare(disk, confirm="loop92", label="B",
                                                  layout="whole")
    mounter = Mounter(runner)
    point = tmp_path / "bay2"
    await mounter.mount(prepared.device, point, "ext4")
    writer = open(point / "open.mp4", "wb")  # noqa: SIM115 - held across the release
    try:
        async with asyncio.timeout(EVENT_TIMEOUT_S):
            released = await mounter.release(disk, device_gone=True)
        assert released == [str(point)]
        assert mounter.mounted_at(point) is None and mount_options("/dev/loop92") == []
        writer.write(b"still writable after the lazy unmount")
        writer.flush()
    finally:
        writer.close()
    await sim.remove(2)
    assert (await events.next(DiskRemoved)).bay == 2


async def test_disk_moved_to_another_bay_keeps_identity_and_data(
        sim: SimDisks, inventory: DiskInventory, tmp_path: Path) -> None:
    events = Events(inventory)
    await sim.insert(1, size_mib=64, serial="SIMMOVE")
    first = await events.next(DiskInserted)
    runner = SubprocessRunner()
    prepared = await DiskPreparer(runner).prepare(first.disk, confirm="loop91", label="M",
                                                  layout="whole")
    await sim.remove(1)
    await events.next(DiskRemoved)
    state = await sim.insert(2, serial="SIMMOVE")  # same disk, other bay
    moved = await events.next(DiskInserted)
    assert moved.bay == 2 and moved.previous_bay == 1
    assert moved.disk.identity == first.disk.identity and moved.disk.devnode == "/dev/loop92"
    assert state.size_mib == 64  # the image was reused, not recreated
    assert [fs.uuid for fs in moved.disk.filesystems] == [prepared.uuid]


async def test_sim_smart_runner_feeds_the_real_verdict(sim: SimDisks) -> None:
    checker = SmartChecker(sim.smart_runner)
    assert (await checker.check("/dev/loop91")).state == "unavailable"  # empty bay
    await sim.insert(1, size_mib=16, serial="SIMSMART")
    healthy = await checker.check("/dev/loop91")
    assert healthy.state == "ok" and healthy.serial == "SIMSMART"
    for health, state in (("reallocated", "warning"), ("failing", "failing"),
                          ("standby", "standby"), ("unavailable", "unavailable")):
        sim.set_smart(1, health)  # type: ignore[arg-type]
        assert (await checker.check("/dev/loop91")).state == state
    assert [b.smart for b in sim.snapshot()] == ["unavailable", "healthy"]
    assert [b.present for b in sim.snapshot()] == [True, False]
