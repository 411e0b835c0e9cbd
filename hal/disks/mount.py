"""Mount and unmount bay disks, and let go of a disk that was pulled without hanging.

Options (reference §4.3): ``noatime`` always (a recorder never needs access times and
atime updates are writes); ext4 adds ``lazytime`` and ``errors=remount-ro`` (a failing
disk turns read-only instead of corrupting further); XFS adds ``inode64`` and
``allocsize=64m`` (large speculative preallocation: segment files do not fragment).

Removal: once the device is gone, a plain ``umount`` would try to write the journal to a
device that no longer exists and may block for minutes. ``umount -l`` detaches the mount
from the tree at once; files still open on it stay usable by their holders until closed.
So a gone device is always released lazily, and a present one is tried normally first
and lazily if that fails or times out. Every command has a timeout and runs off the loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hal.disks.errors import CommandFailed, CommandTimeout, MountError
from hal.disks.model import Disk
from hal.disks.runner import CommandRunner, checked

__all__ = ["MOUNT_OPTIONS", "MOUNT_TIMEOUT_S", "MountEntry", "Mounter", "read_mounts"]

MOUNT_TIMEOUT_S = 60.0
"""ext4 replays its journal at mount: a large disk after a crash takes a while."""
UMOUNT_TIMEOUT_S = 30.0

MOUNT_OPTIONS: dict[str, tuple[str, ...]] = {
    "ext4": ("noatime", "lazytime", "errors=remount-ro"),
    "xfs": ("noatime", "inode64", "allocsize=64m"),
}


@dataclass(frozen=True, slots=True)
class MountEntry:
    """One line of ``/proc/self/mounts``."""

    source: str
    mount_point: str
    fs_type: str
    options: tuple[str, ...]


def read_mounts(path: Path = Path("/proc/self/mounts")) -> list[MountEntry]:
    entries = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 4:
            entries.append(MountEntry(_unescape(fields[0]), _unescape(fields[1]), fields[2],
                                      tuple(fields[3].split(","))))
    return entries


class Mounter:
    def __init__(self, runner: CommandRunner, *,
                 mounts_path: Path = Path("/proc/self/mounts")) -> None:
        self._runner = runner
        self._mounts_path = mounts_path

    def mounts(self) -> list[MountEntry]:
        return read_mounts(self._mounts_path)

    def mounts_of(self, devnodes: Iterable[str]) -> list[MountEntry]:
        """Mounts whose source is one of ``devnodes`` (by name or by resolved path)."""
        wanted = set()
        for node in devnodes:
            wanted |= {node, os.path.realpath(node)}
        return [m for m in self.mounts() if m.source in wanted]

    def mounted_at(self, mount_point: Path) -> MountEntry | None:
        target = os.path.realpath(mount_point)
        found = [m for m in self.mounts() if m.mount_point == target]
        return found[-1] if found else None  # the topmost mount wins

    async def mount(self, device: str, mount_point: Path, fs_type: str, *,
                    extra_options: Sequence[str] = ()) -> MountEntry:
        """Mount ``device`` with the recorder options for ``fs_type``; idempotent when the
        same device is already mounted there. Refuses a mount point already in use."""
        if fs_type not in MOUNT_OPTIONS:
            raise MountError(device, str(mount_point), f"unsupported filesystem {fs_type!r}")
        current = self.mounted_at(mount_point)
        if current is not None:
            if current.source in (device, os.path.realpath(device)):
                return current
            raise MountError(device, str(mount_point), f"{current.source} is mounted there")
        await asyncio.to_thread(mount_point.mkdir, parents=True, exist_ok=True)
        options = ",".join((*MOUNT_OPTIONS[fs_type], *extra_options))
        try:
            await checked(self._runner, ["mount", "-t", fs_type, "-o", options, device,
                                         str(mount_point)], timeout_s=MOUNT_TIMEOUT_S)
        except (CommandFailed, CommandTimeout) as exc:
            raise MountError(device, str(mount_point), str(exc)) from exc
        entry = self.mounted_at(mount_point)
        if entry is None:
            raise MountError(device, str(mount_point), "mount reported success but the "
                             "mount point is not in the mount table")
        return entry

    async def unmount(self, mount_point: Path, *, lazy: bool = False) -> bool:
        """False if nothing was mounted there. Raises ``MountError`` when busy or stuck
        (use ``lazy=True`` or ``release`` for a disk that must go regardless)."""
        if self.mounted_at(mount_point) is None:
            return False
        argv = ["umount", *(["-l"] if lazy else []), str(mount_point)]
        try:
            await checked(self._runner, argv, timeout_s=UMOUNT_TIMEOUT_S)
        except (CommandFailed, CommandTimeout) as exc:
            raise MountError("", str(mount_point), str(exc)) from exc
        return True

    async def release(self, disk: Disk, *, device_gone: bool | None = None) -> list[str]:
        """Unmount every mount of ``disk`` (whole disk and partitions); returns the mount
        points released. ``device_gone`` defaults to "its device node no longer exists";
        a gone device is unmounted lazily straight away, a present one lazily only if a
        normal unmount fails (busy) or hangs."""
        nodes = (disk.devnode, *disk.partitions)
        if device_gone is None:
            device_gone = not os.path.exists(disk.devnode)
        released = []
        # topmost first, so nested mounts never block their parents
        for entry in reversed(self.mounts_of(nodes)):
            point = Path(entry.mount_point)
            if not device_gone:
                try:
                    await self.unmount(point)
                    released.append(entry.mount_point)
                    continue
                except MountError:
                    pass
            await self.unmount(point, lazy=True)
            released.append(entry.mount_point)
        return released


def _unescape(field: str) -> str:
    """/proc/self/mounts escapes space, tab, newline and backslash as octal (``\\040``)."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)
