"""Simulated drive bays on real loop devices: inserting a disk is a real kernel event.

The sim profile maps bay N to ``/devices/virtual/block/loopK``. ``insert`` creates a
sparse image and makes loopK appear (``LOOP_CTL_ADD``: a real ``add`` uevent) and attaches
the image (``losetup``: ``change`` events with media); ``remove`` is a pulled disk: any
mount of it is lazily unmounted (a loop device cannot vanish while mounted, a real disk
can), the image detached and loopK deleted (``LOOP_CTL_REMOVE``: ``remove``). The real
``hal.disks`` code sees exactly what it sees on a box with hot-swap bays.

Images are named by serial and kept after removal, so re-inserting the same serial into
another bay is the same disk, with its data, moved (identity = backing file for loops).

SMART: loop devices have none, so ``smart_runner`` answers smartctl for the bay devices
with recorded-style smartctl 7.3 JSON (healthy unless set otherwise with ``set_smart``)
and passes every other command to the real runner; the real verdict code runs on it.

Needs root (loop-control, losetup, mount); ``sim_unavailable_reason`` says why not.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hal.board import DisksSection
from hal.disks.errors import CommandFailed, CommandTimeout
from hal.disks.mount import read_mounts
from hal.disks.runner import CommandResult, CommandRunner, SubprocessRunner, checked

__all__ = ["LOOP_CTL_ADD", "LOOP_CTL_REMOVE", "SimBay", "SimDiskError", "SimDisks",
           "SimSmartHealth", "bay_loops", "sim_smart_json", "sim_unavailable_reason"]

LOOP_CTL_ADD = 0x4C80
LOOP_CTL_REMOVE = 0x4C81
REMOVE_RETRY_S = 20.0
"""The loop device cannot be deleted while anything holds it open: a probe (blkid) for a
moment after detach, and a daemon recording on the (lazily unmounted) disk until it has
seen the removal and closed its files (up to its writer's stop timeout). A real disk
vanishes regardless; the simulated one waits, retrying on EBUSY."""
TOOL_TIMEOUT_S = 30.0

SimSmartHealth = Literal["healthy", "reallocated", "failing", "standby", "unavailable"]
_LOOP_DEVPATH = re.compile(r"^/devices/virtual/block/loop(\d+)$")


class SimDiskError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class SimBay:
    bay: int
    loop: int
    devnode: str
    present: bool
    serial: str | None = None
    image: Path | None = None
    size_mib: int | None = None
    smart: SimSmartHealth = "healthy"


@dataclass(slots=True)
class _Slot:
    loop: int
    serial: str | None = None
    image: Path | None = None
    size_mib: int | None = None
    smart: SimSmartHealth = "healthy"
    present: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def sim_unavailable_reason(loop_control: Path = Path("/dev/loop-control")) -> str | None:
    if os.geteuid() != 0:
        return "simulated disks need root (loop devices, losetup, mount)"
    if not loop_control.exists():
        return f"no {loop_control}: the kernel has no loop device support"
    return None


def bay_loops(disks: DisksSection) -> dict[int, int]:
    """Bay number → loop number, from bays whose devpath is exactly a loop device."""
    result = {}
    for bay in disks.bays:
        for pattern in bay.devpath:
            match = _LOOP_DEVPATH.match(pattern)
            if match:
                result[bay.number] = int(match.group(1))
    return result


class SimDisks:
    def __init__(self, disks: DisksSection, image_dir: Path, *,
                 runner: CommandRunner | None = None,
                 loop_control: Path = Path("/dev/loop-control"),
                 dev_root: Path = Path("/dev"), sysfs_root: Path = Path("/sys"),
                 mounts_path: Path = Path("/proc/self/mounts")) -> None:
        self._slots = {bay: _Slot(loop) for bay, loop in bay_loops(disks).items()}
        if not self._slots:
            raise SimDiskError("the board profile has no bay on a loop device "
                               "(devpath = '/devices/virtual/block/loopN')")
        self._images = image_dir
        self._runner = runner or SubprocessRunner()
        self._loop_control = loop_control
        self._dev = dev_root
        self._sysfs = sysfs_root
        self._mounts_path = mounts_path
        self.smart_runner = SimSmartRunner(self, self._runner)

    def snapshot(self) -> tuple[SimBay, ...]:
        return tuple(self._state(bay) for bay in sorted(self._slots))

    def set_smart(self, bay: int, health: SimSmartHealth) -> None:
        self._slot(bay).smart = health

    async def insert(self, bay: int, size_mib: int = 256, *, serial: str | None = None
                     ) -> SimBay:
        """Put a disk into ``bay``. An existing image with this serial is reused (its data
        and size kept): that is the same disk, moved or put back."""
        reason = sim_unavailable_reason(self._loop_control)
        if reason:
            raise SimDiskError(reason)
        slot = self._slot(bay)
        async with slot.lock:
            if slot.present:
                raise SimDiskError(f"bay {bay} already holds disk {slot.serial}")
            serial = serial or f"SIM{secrets.token_hex(4).upper()}"
            if any(s.present and s.serial == serial for s in self._slots.values()):
                raise SimDiskError(f"disk {serial} is already in another bay")
            image = self._images / f"{serial}.img"
            size_mib = await asyncio.to_thread(_make_image, image, size_mib)
            await asyncio.to_thread(self._loop_ctl, LOOP_CTL_ADD, slot.loop)
            devnode = str(self._dev / f"loop{slot.loop}")
            try:
                await checked(self._runner, ["losetup", devnode, str(image)],
                              timeout_s=TOOL_TIMEOUT_S)
            except (CommandFailed, CommandTimeout) as exc:
                await asyncio.to_thread(self._loop_ctl, LOOP_CTL_REMOVE, slot.loop)
                raise SimDiskError(f"cannot attach {image} to {devnode}: {exc}") from exc
            slot.serial, slot.image, slot.size_mib, slot.present = serial, image, size_mib, True
            return self._state(bay)

    async def remove(self, bay: int) -> SimBay:
        """Pull the disk out of ``bay`` (lazily unmounting it first if mounted)."""
        slot = self._slot(bay)
        async with slot.lock:
            if not slot.present:
                raise SimDiskError(f"bay {bay} is empty")
            devnode = str(self._dev / f"loop{slot.loop}")
            for entry in reversed(read_mounts(self._mounts_path)):
                if entry.source == devnode:
                    await checked(self._runner, ["umount", "-l", entry.mount_point],
                                  timeout_s=TOOL_TIMEOUT_S)
            await self._runner(["losetup", "-d", devnode], timeout_s=TOOL_TIMEOUT_S)
            await self._remove_loop(slot.loop)
            slot.present = False
            return self._state(bay)

    async def close(self, *, delete_images: bool = True) -> None:
        """Pull every disk, then delete the images. Tries everything; raises the first error."""
        first: BaseException | None = None
        for bay, slot in self._slots.items():
            if slot.present:
                try:
                    await self.remove(bay)
                except (SimDiskError, CommandFailed, CommandTimeout) as exc:
                    first = first or exc
        if delete_images:
            for image in self._images.glob("*.img"):
                image.unlink(missing_ok=True)
        if first is not None:
            raise first

    def _slot(self, bay: int) -> _Slot:
        try:
            return self._slots[bay]
        except KeyError:
            raise SimDiskError(f"no simulated bay {bay} (bays: {sorted(self._slots)})") from None

    def _state(self, bay: int) -> SimBay:
        s = self._slots[bay]
        return SimBay(bay, s.loop, str(self._dev / f"loop{s.loop}"), s.present, s.serial,
                      s.image, s.size_mib, s.smart)

    def _by_devnode(self, devnode: str) -> _Slot | None:
        return next((s for s in self._slots.values()
                     if str(self._dev / f"loop{s.loop}") == devnode), None)

    async def _remove_loop(self, loop: int) -> None:
        deadline = asyncio.get_running_loop().time() + REMOVE_RETRY_S
        while True:
            try:
                await asyncio.to_thread(self._loop_ctl, LOOP_CTL_REMOVE, loop)
                return
            except SimDiskError as exc:
                busy = isinstance(exc.__cause__, OSError) and exc.__cause__.errno == errno.EBUSY
                if not busy or asyncio.get_running_loop().time() > deadline:
                    raise
            await asyncio.sleep(0.05)

    def _loop_ctl(self, request: int, loop: int) -> None:
        fd = os.open(self._loop_control, os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.ioctl(fd, request, loop)
        except OSError as exc:
            if request == LOOP_CTL_ADD and exc.errno == errno.EEXIST:
                if not (self._sysfs / "block" / f"loop{loop}" / "loop" / "backing_file"
                        ).exists():
                    return  # left over and unbound: use it
                raise SimDiskError(f"loop{loop} is in use by another image") from exc
            if request == LOOP_CTL_REMOVE and exc.errno == errno.ENODEV:
                return
            name = "LOOP_CTL_ADD" if request == LOOP_CTL_ADD else "LOOP_CTL_REMOVE"
            raise SimDiskError(f"{name} loop{loop}: {exc.strerror}") from exc
        finally:
            os.close(fd)


def _make_image(image: Path, size_mib: int) -> int:
    image.parent.mkdir(parents=True, exist_ok=True)
    if image.exists():
        return image.stat().st_size >> 20
    with open(image, "wb") as f:
        f.truncate(size_mib << 20)
    return size_mib


class SimSmartRunner:
    """A ``CommandRunner``: smartctl for sim bay devices gets recorded-style JSON; every
    other command goes to the real runner."""

    def __init__(self, disks: SimDisks, fallback: CommandRunner) -> None:
        self._disks = disks
        self._fallback = fallback

    async def __call__(self, argv: Any, *, timeout_s: float) -> CommandResult:
        argv = tuple(argv)
        slot = self._disks._by_devnode(argv[-1]) if argv and \
            os.path.basename(argv[0]) == "smartctl" else None
        if slot is None:
            return await self._fallback(argv, timeout_s=timeout_s)
        health: SimSmartHealth | None = slot.smart if slot.present else None
        data = sim_smart_json(argv, health, slot.serial or "", (slot.size_mib or 0) << 20)
        return CommandResult(argv, data["smartctl"]["exit_status"], json.dumps(data), "")


def sim_smart_json(argv: tuple[str, ...], health: SimSmartHealth | None, serial: str,
                   size_bytes: int) -> dict[str, Any]:
    """smartctl 7.3 ``--json`` for a simulated SATA disk in the given health
    (``None``: no disk, open fails)."""
    head: dict[str, Any] = {"json_format_version": [1, 0], "smartctl": {
        "version": [7, 3], "svn_revision": "5338", "platform_info": "x86_64-linux-sim",
        "build_info": "(sim)", "argv": list(argv), "exit_status": 0}}
    dev = argv[-1]
    if health is None or health == "unavailable":
        text = (f"Smartctl open device: {dev} failed: No such device" if health is None
                else f"{dev}: Unable to detect device type")
        head["smartctl"].update(exit_status=2 if health is None else 1,
                                messages=[{"string": text, "severity": "error"}])
        return head
    head["device"] = {"name": dev, "info_name": f"{dev} [SAT]", "type": "sat",
                      "protocol": "ATA"}
    if health == "standby":
        head["smartctl"].update(exit_status=2, messages=[
            {"string": "Device is in STANDBY mode, exit(2)", "severity": "information"}])
        return head
    failing = health == "failing"
    realloc = {"healthy": 0, "reallocated": 8, "failing": 2400}[health]
    pending = 16 if failing else 0

    def attr(i: int, name: str, value: int, thresh: int, raw: int, prefail: bool = False,
             when: str = "") -> dict[str, Any]:
        return {"id": i, "name": name, "value": value, "worst": value, "thresh": thresh,
                "when_failed": when, "flags": {"prefailure": prefail},
                "raw": {"value": raw, "string": str(raw)}}

    head.update({
        "model_family": "Simulated NVR HDD", "model_name": "SIM-HDD 4000",
        "serial_number": serial, "firmware_version": "SIM0001",
        "user_capacity": {"blocks": size_bytes // 512, "bytes": size_bytes},
        "rotation_rate": 5400,
        "smart_support": {"available": True, "enabled": True},
        "smart_status": {"passed": not failing},
        "ata_smart_attributes": {"revision": 16, "table": [
            attr(5, "Reallocated_Sector_Ct", 1 if failing else 200, 140, realloc, True,
                 "now" if failing else ""),
            attr(9, "Power_On_Hours", 99, 0, 1234),
            attr(194, "Temperature_Celsius", 114, 0, 36),
            attr(197, "Current_Pending_Sector", 200, 0, pending),
            attr(198, "Offline_Uncorrectable", 200, 0, 0),
            attr(199, "UDMA_CRC_Error_Count", 200, 0, 0)]},
        "power_on_time": {"hours": 1234}, "temperature": {"current": 36}})
    head["smartctl"]["exit_status"] = (8 | 16) if failing else 0
    return head
