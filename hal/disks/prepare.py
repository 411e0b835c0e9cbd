"""Prepare a bay disk for recording: wipe, (partition,) mkfs — only when told exactly so.

Formatting destroys a disk's recordings, so ``prepare`` demands a confirmation token the
caller can only have from looking at *this* disk: its identity (``serial:WD-WX12...``,
or the bare value) or its exact device name (``/dev/sdb`` or ``sdb``). A stale UI, a
renumbered device or a wrong bay then fails closed. It also refuses, whatever the
token: a disk that is mounted or held (RAID/LVM holders), and the disk the root
filesystem is on. A disk outside the bays (USB stick, the eMMC) is refused unless
``force`` is given.

Layout: production disks get a GPT with one partition (``sgdisk``), which other systems
recognise as "in use". Where ``sgdisk`` is missing or the kernel has no partition support
(the test VM), the filesystem goes on the whole disk; ``layout`` chooses explicitly and
one function handles both. mkfs options follow reference §4.3: ext4 without root reserve,
one inode per 4 MiB, inode tables and journal initialised now (no ``ext4lazyinit``
writes competing with the first recordings); XFS with defaults.

The identity file (``.nvrd-volume``) is *not* written here: that is the storage layer's
job once the new filesystem is mounted.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hal.disks.errors import DiskError, PrepareRefused
from hal.disks.model import Disk
from hal.disks.mount import Mounter
from hal.disks.probe import DeviceProbe
from hal.disks.runner import CommandRunner, checked

__all__ = ["LABEL_MAX", "MKFS_TIMEOUT_S", "DiskPreparer", "FsType", "Layout", "PreparedDisk",
           "partition_name"]

FsType = Literal["ext4", "xfs"]
Layout = Literal["whole", "partition"]

MKFS_TIMEOUT_S = 1800.0
"""Initialising inode tables and journal up front takes minutes on a 16 TB disk."""
TOOL_TIMEOUT_S = 60.0
PARTITION_WAIT_S = 10.0
LABEL_MAX: dict[str, int] = {"ext4": 16, "xfs": 12}


@dataclass(frozen=True, slots=True)
class PreparedDisk:
    """What the storage layer needs to mount the new filesystem and claim it."""

    disk: Disk
    device: str
    """The node holding the filesystem: ``/dev/sdb1`` (partition) or ``/dev/sdb``."""
    layout: Layout
    fs_type: FsType
    label: str
    uuid: str | None


def partition_name(disk_name: str, number: int = 1) -> str:
    """Kernel naming: ``sdb`` → ``sdb1``, ``nvme0n1``/``loop57``/``mmcblk0`` → ``...p1``."""
    return f"{disk_name}{'p' if disk_name[-1:].isdigit() else ''}{number}"


class DiskPreparer:
    def __init__(self, runner: CommandRunner, *, sysfs_root: Path = Path("/sys"),
                 dev_root: Path = Path("/dev"), root_path: Path = Path("/"),
                 mounter: Mounter | None = None, probe: DeviceProbe | None = None,
                 sgdisk_available: bool | None = None,
                 mkfs_timeout_s: float = MKFS_TIMEOUT_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._runner = runner
        self._sysfs = sysfs_root
        self._dev = dev_root
        self._root_path = root_path
        self._mounter = mounter or Mounter(runner)
        self._probe = probe or DeviceProbe(runner, sysfs_root=sysfs_root, dev_root=dev_root)
        self._sgdisk = (shutil.which("sgdisk") is not None if sgdisk_available is None
                        else sgdisk_available)
        self._mkfs_timeout_s = mkfs_timeout_s
        self._monotonic = monotonic

    def check(self, disk: Disk, *, confirm: str, force: bool = False) -> None:
        """Raise ``PrepareRefused`` unless ``prepare`` may format this disk."""
        tokens = {str(disk.identity), disk.identity.value, disk.devnode, disk.name}
        if confirm not in tokens:
            raise PrepareRefused(disk.devnode, "the confirmation does not match this disk: "
                                 f"give its identity ({disk.identity}) or its device name "
                                 f"({disk.devnode})")
        mounted = self._mounter.mounts_of((disk.devnode, *disk.partitions))
        if mounted:
            raise PrepareRefused(disk.devnode, "it is mounted at "
                                 + ", ".join(m.mount_point for m in mounted))
        holders = self._holders(disk)
        if holders:
            raise PrepareRefused(disk.devnode, "it is in use by " + ", ".join(holders))
        if disk.name == self.root_disk():
            raise PrepareRefused(disk.devnode, "the root filesystem is on it")
        if disk.bay is None and not force:
            raise PrepareRefused(disk.devnode, "it is not in a bay (force to override)")

    async def prepare(self, disk: Disk, *, confirm: str, label: str,
                      fs_type: FsType = "ext4", layout: Layout | None = None,
                      force: bool = False) -> PreparedDisk:
        """Wipe and format ``disk``. ``layout`` None: one GPT partition if ``sgdisk`` is
        installed, else the whole disk."""
        if not label or len(label.encode()) > LABEL_MAX[fs_type]:
            raise ValueError(f"{fs_type} label {label!r} must be 1-{LABEL_MAX[fs_type]} bytes")
        await asyncio.to_thread(self.check, disk, confirm=confirm, force=force)
        layout = layout or ("partition" if self._sgdisk else "whole")
        await checked(self._runner, ["wipefs", "-a", disk.devnode], timeout_s=TOOL_TIMEOUT_S)
        target = disk.devnode
        if layout == "partition":
            target = await self._partition(disk, label)
        await checked(self._runner, _mkfs_argv(fs_type, label, target),
                      timeout_s=self._mkfs_timeout_s)
        fs = await self._probe.filesystem(target)
        return PreparedDisk(disk, target, layout, fs_type, label, fs.uuid if fs else None)

    async def _partition(self, disk: Disk, label: str) -> str:
        await checked(self._runner, ["sgdisk", "-Z", "-n1:0:0", "-t1:8300", f"-c1:{label}",
                                     disk.devnode], timeout_s=TOOL_TIMEOUT_S)
        reread = (["partprobe", disk.devnode] if shutil.which("partprobe")
                  else ["blockdev", "--rereadpt", disk.devnode])
        await checked(self._runner, reread, timeout_s=TOOL_TIMEOUT_S)
        part = partition_name(disk.name)
        deadline = self._monotonic() + PARTITION_WAIT_S
        while not (self._sysfs / "class" / "block" / part).exists():
            if self._monotonic() > deadline:
                raise DiskError(f"partition {part} did not appear on {disk.devnode} (kernel "
                                "without partition table support? use layout='whole')")
            await asyncio.sleep(0.1)
        return str(self._dev / part)

    def root_disk(self) -> str | None:
        """Kernel name of the whole disk the root filesystem is on (None if not a disk)."""
        dev = os.stat(self._root_path).st_dev
        node = self._sysfs / "dev" / "block" / f"{os.major(dev)}:{os.minor(dev)}"
        try:
            real = Path(os.path.realpath(node))
        except OSError:
            return None
        if not real.exists():
            return None
        return real.parent.name if (real / "partition").exists() else real.name

    def _holders(self, disk: Disk) -> list[str]:
        block = self._sysfs / "block" / disk.name
        dirs = [block / "holders"] + [block / Path(p).name / "holders" for p in disk.partitions]
        found = []
        for d in dirs:
            try:
                found += [h.name for h in d.iterdir()]
            except OSError:
                continue
        return found


def _mkfs_argv(fs_type: FsType, label: str, device: str) -> list[str]:
    if fs_type == "ext4":
        return ["mkfs.ext4", "-F", "-q", "-L", label, "-m", "0", "-T", "largefile4",
                "-E", "lazy_itable_init=0,lazy_journal_init=0", device]
    return ["mkfs.xfs", "-f", "-q", "-L", label, device]
