"""Bay disks as the daemon uses them, on real loop devices with real kernel events (root):
a blank disk waits for "prepare"; prepare needs the confirmation, then the disk records;
a pulled disk is let go of; the same disk in another bay is recognised and records again
with its recordings; a failing SMART verdict shows on the bay."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hal.board import DisksSection
from hal.disks import (
    DeviceProbe,
    DiskHealth,
    DiskInventory,
    DiskPreparer,
    Mounter,
    PrepareRefused,
    PyudevBlockEvents,
    SmartChecker,
    SmartHistory,
    SubprocessRunner,
    read_mounts,
)
from hal.sim.disks import SimDisks, sim_unavailable_reason
from nvrd.config.loader import parse_config
from nvrd.storage.bays import BayService, BayStatus, DiskStack
from nvrd.storage.service import StorageService
from nvrd.storage.volume import IDENTITY_FILE
from nvrd.system.auditlog import AuditLog

pytestmark = pytest.mark.root

# loop93/94: clear of the sim profile's 57-60, the HAL tests' 91/92 and `losetup -f`
BAYS = DisksSection.model_validate({"bays": [
    {"number": 1, "devpath": "/devices/virtual/block/loop93", "hot_swap": True},
    {"number": 2, "devpath": "/devices/virtual/block/loop94", "hot_swap": True}]})
CONFIG = """
schema_version = 1
[storage]
mount_root = "bays"
[[storage.bays]]
bay = 2
group = 3
"""


@dataclass
class Stack:
    sim: SimDisks
    bays: BayService
    storage: StorageService
    audit: AuditLog
    root: Path

    def bay(self, number: int) -> BayStatus:
        return next(b for b in self.bays.snapshot() if b.bay == number)

    async def wait_for_audit(self, actions: set[str]) -> None:
        """The audit log is written by its own thread: wait until it shows ``actions``."""
        for _ in range(100):
            rows = await asyncio.to_thread(self.audit.query, type="storage")
            if actions <= {row.action for row in rows}:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the audit log does not show {actions}")

    async def wait(self, predicate: Callable[[], bool], what: str, timeout: float = 20.0
                   ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {self.bays.snapshot()}")
            await asyncio.sleep(0.05)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    reason = sim_unavailable_reason() or (None if shutil.which("mkfs.ext4") else "no mkfs")
    if reason:
        pytest.skip(reason)
    sim = SimDisks(BAYS, tmp_path / "images")
    runner = SubprocessRunner()
    inventory = DiskInventory(BAYS, PyudevBlockEvents("kernel"), DeviceProbe(runner))
    health = DiskHealth(inventory, SmartChecker(sim.smart_runner),
                        SmartHistory(tmp_path / "smart.db"),
                        clock_us=lambda: time.time_ns() // 1000)
    config = parse_config(CONFIG, "test")
    audit = AuditLog(tmp_path / "audit.db", 1000)
    storage = StorageService(config, tmp_path, audit)
    bays = BayService(config, tmp_path, audit, storage, BAYS,
                      DiskStack(inventory, health, Mounter(runner),
                                DiskPreparer(runner, sgdisk_available=False)))
    running = []
    try:
        for service in (audit, storage):
            await service.start()
            running.append(service)
        await inventory.start()
        await bays.start()
        yield Stack(sim, bays, storage, audit, tmp_path)
    finally:
        await bays.stop()
        await inventory.close()
        for service in reversed(running):
            await service.stop()
        await sim.close()


async def test_a_blank_disk_is_prepared_only_when_confirmed_then_records(stack: Stack
                                                                         ) -> None:
    await stack.sim.insert(1, size_mib=128, serial="DISK-A")
    await stack.wait(lambda: stack.bay(1).state == "blank", "bay 1 blank")
    status = stack.bay(1)
    assert status.identity is not None and status.device is not None
    assert "prepare" in (status.problem or "")

    with pytest.raises(PrepareRefused, match="confirmation does not match"):
        await stack.bays.prepare(1, confirm="yes")
    assert stack.bay(1).state == "blank", "a refused prepare changes nothing"

    status = await stack.bays.prepare(1, confirm=stack.bay(1).device or "")
    assert status.state == "recording"
    mount_point = stack.root / "bays" / "bay1"
    assert status.mount_point == str(mount_point)
    assert (mount_point / IDENTITY_FILE).exists()
    options = next(m.options for m in read_mounts() if m.mount_point == str(mount_point))
    assert "noatime" in options
    await stack.wait(lambda: any(v.name == "bay1" and v.state == "ready"
                                 for v in stack.storage.snapshot()), "volume bay1 ready")
    writer = stack.storage.assign(1, "main", 1)
    assert writer is not None and writer.name == "bay1"


async def test_a_pulled_disk_is_let_go_and_recognised_in_another_bay(stack: Stack) -> None:
    await stack.sim.insert(1, size_mib=128, serial="DISK-B")
    await stack.wait(lambda: stack.bay(1).state == "blank", "bay 1 blank")
    await stack.bays.prepare(1, confirm=stack.bay(1).device or "")
    identity = stack.bay(1).identity
    mount_point = str(stack.root / "bays" / "bay1")

    await stack.sim.remove(1)
    await stack.wait(lambda: stack.bay(1).state == "empty", "bay 1 empty")
    assert not any(m.mount_point == mount_point for m in read_mounts())
    assert [v.name for v in stack.storage.snapshot()] == []

    # the same disk (same image, same serial) goes into bay 2: mounted and recorded on
    # as it is, in bay 2's storage group, without being prepared again
    await stack.sim.insert(2, size_mib=128, serial="DISK-B")
    await stack.wait(lambda: stack.bay(2).state == "recording", "bay 2 recording")
    assert stack.bay(2).identity == identity
    volumes = stack.storage.snapshot()
    assert [(v.name, v.group) for v in volumes] == [("bay2", 3)]
    await stack.wait_for_audit({"disk removed from bay 1", "disk inserted in bay 2"})


async def test_a_foreign_filesystem_is_not_recorded_on(stack: Stack, tmp_path: Path) -> None:
    slot = await stack.sim.insert(1, size_mib=128, serial="DISK-C")
    await stack.wait(lambda: stack.bay(1).state == "blank", "bay 1 blank")
    proc = await asyncio.create_subprocess_exec("mkfs.ext4", "-q", "-F", slot.devnode)
    assert await proc.wait() == 0
    await stack.sim.remove(1)
    await stack.wait(lambda: stack.bay(1).state == "empty", "bay 1 empty")
    await stack.sim.insert(1, size_mib=128, serial="DISK-C")
    await stack.wait(lambda: stack.bay(1).state == "foreign", "bay 1 foreign")
    assert stack.bay(1).mount_point is None, "someone else's disk is not left mounted"
    assert stack.storage.snapshot() == []


async def test_smart_failing_shows_on_the_bay(stack: Stack) -> None:
    await stack.sim.insert(1, size_mib=128, serial="DISK-D")
    await stack.wait(lambda: stack.bay(1).state == "blank", "bay 1 blank")
    stack.sim.set_smart(1, "failing")
    await stack.bays.check_smart_now()
    assert stack.bay(1).smart == "failing"
    assert stack.bays.bay_faults() == {1: True, 2: False}
    assert "disk failing" in stack.bays.health().detail


async def test_a_bay_switched_to_playback_only_stops_being_recorded_on(stack: Stack) -> None:
    await stack.sim.insert(2, size_mib=128, serial="DISK-E")
    await stack.wait(lambda: stack.bay(2).state == "blank", "bay 2 blank")
    await stack.bays.prepare(2, confirm=stack.bay(2).device or "")
    assert [(v.name, v.group) for v in stack.storage.snapshot()] == [("bay2", 3)]

    await stack.bays.apply_config(parse_config(CONFIG + "record = false\n", "test"))
    await stack.wait(lambda: stack.bay(2).state == "mounted", "bay 2 playback only")
    assert stack.storage.snapshot() == []
    assert stack.bay(2).mount_point is not None, "still mounted: its recordings play back"

    await stack.bays.apply_config(parse_config(CONFIG.replace("group = 3", "group = 4"),
                                               "test"))
    await stack.wait(lambda: stack.bay(2).state == "recording", "bay 2 recording again")
    assert [(v.name, v.group) for v in stack.storage.snapshot()] == [("bay2", 4)]
