"""prepare: refused without the exact confirmation, on mounted/root/out-of-bay disks; the
wipe/partition/mkfs commands it runs (scripted runner; the real run is test_hotplug.py)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from hal.disks import (
    Disk,
    DiskIdentity,
    DiskPreparer,
    Mounter,
    PrepareRefused,
    partition_name,
)
from hal.disks.errors import DiskError
from hal.disks.runner import CommandResult
from tests.hal.disks.fakes import FakeRunner, SysfsTree, blkid_answer

DEVPATH = "/devices/pci0000:00/0000:00:17.0/ata2/host1/target1:0:0/1:0:0:0/block/sdb"
DISK = Disk(name="sdb", devnode="/dev/sdb", devpath=DEVPATH,
            identity=DiskIdentity("serial", "WD-WX12"), size_bytes=4 << 40, bay=2)


class Rig:
    def __init__(self, tmp_path: Path, *, mounts: str = "", sgdisk: bool = False) -> None:
        self.sysfs = SysfsTree(tmp_path / "sys")
        self.sysfs.add_disk("sdb", DEVPATH)
        self.mounts = tmp_path / "mounts"
        self.mounts.write_text(mounts)
        self.runner = FakeRunner(blkid_answer({"/dev/sdb": {"TYPE": "ext4", "UUID": "u-b"},
                                               "/dev/sdb1": {"TYPE": "xfs", "UUID": "u-p"}}))
        self.preparer = DiskPreparer(
            self.runner, sysfs_root=self.sysfs.root, root_path=tmp_path,
            mounter=Mounter(self.runner, mounts_path=self.mounts), sgdisk_available=sgdisk)


@pytest.mark.parametrize("token", ["", "sda", "/dev/sda", "WD-WX13", "yes"])
async def test_refused_without_the_exact_confirmation(tmp_path: Path, token: str) -> None:
    rig = Rig(tmp_path)
    with pytest.raises(PrepareRefused, match="confirmation does not match") as refused:
        await rig.preparer.prepare(DISK, confirm=token, label="NVR_BAY2")
    assert "serial:WD-WX12" in refused.value.reason and "/dev/sdb" in refused.value.reason
    assert rig.runner.calls == []  # nothing touched the disk


@pytest.mark.parametrize("token", ["serial:WD-WX12", "WD-WX12", "/dev/sdb", "sdb"])
async def test_whole_disk_ext4_with_recorder_options(tmp_path: Path, token: str) -> None:
    rig = Rig(tmp_path)
    prepared = await rig.preparer.prepare(DISK, confirm=token, label="NVR_BAY2")
    assert [c for c in rig.runner.calls if c[0] != "blkid"] == [
        ("wipefs", "-a", "/dev/sdb"),
        ("mkfs.ext4", "-F", "-q", "-L", "NVR_BAY2", "-m", "0", "-T", "largefile4",
         "-E", "lazy_itable_init=0,lazy_journal_init=0", "/dev/sdb")]
    assert (prepared.device, prepared.layout, prepared.fs_type, prepared.uuid) == (
        "/dev/sdb", "whole", "ext4", "u-b")


async def test_one_gpt_partition_then_xfs(tmp_path: Path) -> None:
    rig = Rig(tmp_path, sgdisk=True)

    def reread(argv: tuple[str, ...]) -> CommandResult | None:
        if argv[0] in ("partprobe", "blockdev"):  # the kernel creates the partition node
            (rig.sysfs.root / "class" / "block" / "sdb1").mkdir(parents=True)
        return None

    rig.runner.answer(reread)
    prepared = await rig.preparer.prepare(DISK, confirm="/dev/sdb", label="NVR_BAY2",
                                          fs_type="xfs")
    calls = [c for c in rig.runner.calls if c[0] != "blkid"]
    assert calls[0] == ("wipefs", "-a", "/dev/sdb")
    assert calls[1] == ("sgdisk", "-Z", "-n1:0:0", "-t1:8300", "-c1:NVR_BAY2", "/dev/sdb")
    assert calls[2][0] in ("partprobe", "blockdev") and calls[2][-1] == "/dev/sdb"
    assert calls[3] == ("mkfs.xfs", "-f", "-q", "-L", "NVR_BAY2", "/dev/sdb1")
    assert (prepared.device, prepared.layout, prepared.uuid) == ("/dev/sdb1", "partition", "u-p")


async def test_partition_that_never_appears_is_an_error(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    ticks = iter(range(0, 1000, 5))
    preparer = DiskPreparer(rig.runner, sysfs_root=rig.sysfs.root, root_path=tmp_path,
                            mounter=Mounter(rig.runner, mounts_path=rig.mounts),
                            monotonic=lambda: float(next(ticks)))
    with pytest.raises(DiskError, match="partition sdb1 did not appear"):
        await preparer.prepare(DISK, confirm="sdb", label="L", layout="partition")
    assert "mkfs.ext4" not in rig.runner.programs()


async def test_refuses_a_mounted_disk_even_when_confirmed(tmp_path: Path) -> None:
    rig = Rig(tmp_path, mounts="/dev/sdb /srv/nvr/bay2 ext4 rw,noatime 0 0\n")
    with pytest.raises(PrepareRefused, match="mounted at /srv/nvr/bay2"):
        await rig.preparer.prepare(DISK, confirm="sdb", label="L", force=True)
    assert rig.runner.calls == []


async def test_refuses_a_disk_with_holders(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    (rig.sysfs.root / DEVPATH.lstrip("/") / "holders" / "md0").mkdir(parents=True)
    with pytest.raises(PrepareRefused, match="in use by md0"):
        await rig.preparer.prepare(DISK, confirm="sdb", label="L")


async def test_refuses_the_root_disk_even_when_forced(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    dev = os.stat(tmp_path).st_dev  # the preparer's root_path is tmp_path
    link = rig.sysfs.root / "dev" / "block" / f"{os.major(dev)}:{os.minor(dev)}"
    link.parent.mkdir(parents=True)
    link.symlink_to(rig.sysfs.root / DEVPATH.lstrip("/"))
    assert rig.preparer.root_disk() == "sdb"
    with pytest.raises(PrepareRefused, match="root filesystem"):
        await rig.preparer.prepare(DISK, confirm="sdb", label="L", force=True)


async def test_disk_outside_the_bays_needs_force(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    loose = dataclasses.replace(DISK, bay=None)
    with pytest.raises(PrepareRefused, match="not in a bay"):
        await rig.preparer.prepare(loose, confirm="sdb", label="L")
    prepared = await rig.preparer.prepare(loose, confirm="sdb", label="L", force=True)
    assert prepared.device == "/dev/sdb"


async def test_label_length_is_checked_per_filesystem(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    with pytest.raises(ValueError, match="1-12 bytes"):
        await rig.preparer.prepare(DISK, confirm="sdb", label="THIRTEEN_CHAR", fs_type="xfs")
    assert rig.runner.calls == []


def test_partition_names() -> None:
    assert [partition_name(n) for n in ("sdb", "nvme0n1", "loop57", "mmcblk0")] == [
        "sdb1", "nvme0n1p1", "loop57p1", "mmcblk0p1"]
