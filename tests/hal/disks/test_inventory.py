"""Bay inventory from block events: bay mapping, identity, media changes (no root needed:
a temporary sysfs tree and scripted events; the real-kernel version is test_hotplug.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hal.board import DisksSection, load_board_profile
from hal.disks import (
    DeviceProbe,
    DiskChanged,
    DiskEvent,
    DiskIdentity,
    DiskInserted,
    DiskInventory,
    DiskRemoved,
    FakeBlockEvents,
    Filesystem,
    path_id,
)
from hal.disks.events import BlockEvent, default_source
from tests.hal.disks.fakes import FakeRunner, SysfsTree, blkid_answer

CONFIG = Path(__file__).parents[3] / "config" / "boards"
REAL_BAYS = load_board_profile(CONFIG / "nvr8p-tps.toml").disks
SIM_BAYS = load_board_profile(CONFIG / "sim.toml").disks

AHCI = "/devices/pci0000:00/0000:00:17.0"


def ata_devpath(port: int, name: str, pci: str = AHCI) -> str:
    h = port - 1
    return f"{pci}/ata{port}/host{h}/target{h}:0:0/{h}:0:0:0/block/{name}"


class Rig:
    def __init__(self, tmp_path: Path, bays: DisksSection, *blkid: dict[str, dict[str, str]]
                 ) -> None:
        self.sysfs = SysfsTree(tmp_path / "sys")
        self.runner = FakeRunner(blkid_answer(blkid[0] if blkid else {}))
        self.source = FakeBlockEvents()
        self.inventory = DiskInventory(
            bays, self.source, DeviceProbe(self.runner, sysfs_root=self.sysfs.root))
        self.events: list[DiskEvent] = []
        self.inventory.add_listener(self.events.append)

    async def push(self, action: str, name: str, devpath: str, devtype: str = "disk",
                   **properties: str) -> list[DiskEvent]:
        before = len(self.events)
        self.source.push(BlockEvent(action, name, devpath, devtype, properties))
        await self.inventory.settle()
        return self.events[before:]


async def test_bay_by_udev_id_path_glob(tmp_path: Path) -> None:
    rig = Rig(tmp_path, REAL_BAYS)
    await rig.inventory.start()
    # a devpath no bay's fallback pattern matches: only ID_PATH can place this disk
    devpath = ata_devpath(3, "sdc", pci="/devices/pci0000:00/0000:00:1f.2")
    rig.sysfs.add_disk("sdc", devpath)
    [event] = await rig.push("add", "sdc", devpath, ID_PATH="pci-0000:00:17.0-ata-3.0",
                             ID_SERIAL_SHORT="WD-WX12", ID_WWN="0x50014ee2b5c3d4e5",
                             DEVNAME="/dev/sdc")
    assert isinstance(event, DiskInserted)
    assert event.bay == 3 and event.previous_bay is None
    assert event.disk.identity == DiskIdentity("wwn", "50014ee2b5c3d4e5")
    assert event.disk.serial == "WD-WX12" and event.disk.devnode == "/dev/sdc"
    assert rig.inventory.in_bay(3) == event.disk


async def test_bay_by_devpath_fallback_with_sysfs_identity(tmp_path: Path) -> None:
    rig = Rig(tmp_path, REAL_BAYS)
    devpath = ata_devpath(2, "sdb")
    serial = b"      WD-WXB1A2B3C4D5"  # VPD page 0x80: header, then space-padded ASCII
    vpd = b"\x00\x80" + len(serial).to_bytes(2, "big") + serial
    rig.sysfs.add_disk("sdb", devpath, size_bytes=4_000_787_030_016, files={
        "device/vpd_pg80": vpd, "device/wwid": "naa.50014ee2b5c3d4e5",
        "device/model": "WDC WD40PURZ-85A"})
    (rig.sysfs.root / "class/ata_port/ata2").mkdir(parents=True)
    (rig.sysfs.root / "class/ata_port/ata2/port_no").write_text("2\n")
    rig.source.present = [BlockEvent("add", "sdb", devpath, "disk", {"DEVNAME": "sdb"})]
    await rig.inventory.start()  # initial enumeration, kernel properties only
    [event] = rig.events
    assert isinstance(event, DiskInserted) and event.bay == 2
    disk = event.disk
    assert disk.id_path == "pci-0000:00:17.0-ata-2.0"  # computed without udev
    assert disk.serial == "WD-WXB1A2B3C4D5" and disk.model == "WDC WD40PURZ-85A"
    # the same WWN as udev's 0x... spelling: one identity whichever source saw it
    assert disk.identity == DiskIdentity("wwn", "50014ee2b5c3d4e5")
    assert disk.size_bytes == 4_000_787_030_016 and disk.devnode == "/dev/sdb"


async def test_disk_outside_the_bays_has_no_bay(tmp_path: Path) -> None:
    rig = Rig(tmp_path, REAL_BAYS)
    await rig.inventory.start()
    devpath = "/devices/pci0000:00/0000:00:02.0/virtio1/block/vda"
    rig.sysfs.add_disk("vda", devpath)
    [event] = await rig.push("add", "vda", devpath)
    assert isinstance(event, DiskInserted) and event.bay is None
    assert event.disk.id_path == "pci-0000:00:02.0"
    assert event.disk.identity == DiskIdentity("devpath", devpath)


async def test_disk_moved_to_another_bay_is_recognised(tmp_path: Path) -> None:
    rig = Rig(tmp_path, REAL_BAYS)
    await rig.inventory.start()
    bay1, bay4 = ata_devpath(1, "sda"), ata_devpath(4, "sdd")
    rig.sysfs.add_disk("sda", bay1, files={"device/serial": "ZW60A1B2"})
    [inserted] = await rig.push("add", "sda", bay1)
    rig.sysfs.remove_disk("sda")
    [removed] = await rig.push("remove", "sda", bay1)
    assert isinstance(removed, DiskRemoved) and removed.disk == inserted.disk
    assert rig.inventory.disks() == ()
    rig.sysfs.add_disk("sdd", bay4, files={"device/serial": "ZW60A1B2"})
    [moved] = await rig.push("add", "sdd", bay4)
    assert isinstance(moved, DiskInserted)
    assert moved.bay == 4 and moved.previous_bay == 1
    assert moved.disk.identity == inserted.disk.identity == DiskIdentity("serial", "ZW60A1B2")
    assert rig.inventory.by_identity(inserted.disk.identity) == moved.disk


async def test_loop_bay_media_comes_and_goes_by_change_events(tmp_path: Path) -> None:
    rig = Rig(tmp_path, SIM_BAYS, {"/dev/loop58": {"TYPE": "ext4", "UUID": "u-1",
                                                   "LABEL": "NVR_BAY2"}})
    await rig.inventory.start()
    devpath = "/devices/virtual/block/loop58"
    rig.sysfs.add_disk("loop58", devpath, size_bytes=0)
    assert await rig.push("add", "loop58", devpath) == []  # a loop device without media
    rig.sysfs.add_disk("loop58", devpath, size_bytes=64 << 20,
                       files={"loop/backing_file": "/img/SIM1.img\n"})
    [inserted] = await rig.push("change", "loop58", devpath)
    assert isinstance(inserted, DiskInserted) and inserted.bay == 2
    assert inserted.disk.identity == DiskIdentity("backing-file", "/img/SIM1.img")
    assert inserted.disk.filesystems == (Filesystem("/dev/loop58", "ext4", "u-1", "NVR_BAY2"),)
    assert await rig.push("change", "loop58", devpath) == []  # nothing new: no event
    rig.sysfs.add_disk("loop58", devpath, size_bytes=0)
    [removed] = await rig.push("change", "loop58", devpath)
    assert isinstance(removed, DiskRemoved) and removed.bay == 2


async def test_partition_event_reprobes_its_disk(tmp_path: Path) -> None:
    rig = Rig(tmp_path, REAL_BAYS, {"/dev/sda1": {"TYPE": "xfs", "UUID": "u-2"}})
    await rig.inventory.start()
    devpath = ata_devpath(1, "sda")
    rig.sysfs.add_disk("sda", devpath, files={"device/serial": "S"})
    [inserted] = await rig.push("add", "sda", devpath)
    assert isinstance(inserted, DiskInserted) and inserted.disk.filesystems == ()
    rig.sysfs.add_disk("sda", devpath, files={"device/serial": "S"}, partitions=["sda1"])
    [changed] = await rig.push("add", "sda1", f"{devpath}/sda1", "partition")
    assert isinstance(changed, DiskChanged) and changed.bay == 1
    assert changed.disk.partitions == ("/dev/sda1",)
    assert changed.disk.filesystems == (Filesystem("/dev/sda1", "xfs", "u-2"),)


async def test_other_media_in_the_same_device_is_out_then_in(tmp_path: Path) -> None:
    rig = Rig(tmp_path, REAL_BAYS)
    await rig.inventory.start()
    devpath = ata_devpath(1, "sda")
    rig.sysfs.add_disk("sda", devpath, files={"device/serial": "A"})
    await rig.push("add", "sda", devpath)
    rig.sysfs.add_disk("sda", devpath, files={"device/serial": "B"})
    removed, inserted = await rig.push("change", "sda", devpath)
    assert isinstance(removed, DiskRemoved) and removed.disk.serial == "A"
    assert isinstance(inserted, DiskInserted) and inserted.disk.serial == "B"


async def test_a_failing_listener_does_not_stop_the_others(tmp_path: Path) -> None:
    rig = Rig(tmp_path, REAL_BAYS)

    def broken(event: DiskEvent) -> None:
        raise RuntimeError("boom")

    rig.inventory._listeners.insert(0, broken)
    await rig.inventory.start()
    rig.sysfs.add_disk("sda", ata_devpath(1, "sda"))
    assert len(await rig.push("add", "sda", ata_devpath(1, "sda"))) == 1
    await rig.inventory.close()
    assert rig.source.closed


@pytest.mark.parametrize(("devpath", "expected"), [
    (ata_devpath(3, "sdc"), "pci-0000:00:17.0-ata-3.0"),
    ("/devices/pci0000:00/0000:00:1d.0/0000:03:00.0/nvme/nvme0/nvme0n1",
     "pci-0000:03:00.0-nvme-1"),
    ("/devices/pci0000:00/0000:00:02.0/virtio1/block/vda", "pci-0000:00:02.0"),
    ("/devices/virtual/block/loop57", None),
])
def test_path_id(devpath: str, expected: str | None) -> None:
    assert path_id(devpath) == expected


def test_sim_profile_maps_loops_to_bays() -> None:
    assert SIM_BAYS.bay_for(None, "/devices/virtual/block/loop57").number == 1  # type: ignore[union-attr]
    assert SIM_BAYS.bay_for(None, "/sys/devices/virtual/block/loop60").number == 4  # type: ignore[union-attr]
    assert SIM_BAYS.bay_for(None, "/devices/virtual/block/loop0") is None


def test_event_source_follows_udevd(tmp_path: Path) -> None:
    assert default_source(tmp_path / "run-udev") == "kernel"
    (tmp_path / "run-udev").mkdir()
    (tmp_path / "run-udev" / "control").touch()
    assert default_source(tmp_path / "run-udev") == "udev"
