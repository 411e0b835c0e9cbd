"""A real, small ext4 filesystem on a loop device, for tests that need a disk that fills
up or disappears (root only).

Why a loop device and not a directory: free space, ENOSPC and "the disk was pulled"
(``umount -l``) are properties of a filesystem; a directory on the root filesystem has
79 GB free and cannot be unmounted. The kernel has no partition support on the test VM,
so the whole loop device is formatted (docs: hardware-interfaces-and-testing.md §4.3).

Usage::

    with loop_filesystem(tmp_path, size_mib=64) as fs:
        prepare_volume(fs.mount_point, "bay1")
        ...
        fs.pull()  # umount -l: the disk goes away under whoever has files open

Cleanup (unmount, detach, delete the image) runs even when the body fails, and each
step is attempted even when an earlier one failed, so a failing test never leaves a
mount or a loop device behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_TOOLS = ("losetup", "mkfs.ext4", "mount", "umount")


def loop_unavailable_reason() -> str | None:
    """None if loop-device filesystems can be made here, else why not (for skips)."""
    if os.geteuid() != 0:
        return "needs root to attach loop devices and mount filesystems"
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    if missing:
        return f"missing tools: {', '.join(missing)}"
    if not os.path.exists("/dev/loop-control"):
        return "no /dev/loop-control: the kernel has no loop device support"
    return None


@dataclass(slots=True)
class LoopFilesystem:
    image: Path
    device: str
    """``/dev/loopN``."""
    mount_point: Path
    mounted: bool = True

    def pull(self) -> None:
        """The disk is pulled: lazily unmount, as the daemon's own removal path would.
        Files open on it stay usable by their holders; the mount point becomes an empty
        directory of the filesystem below."""
        _run("umount", "-l", str(self.mount_point))
        self.mounted = False


def is_mount_point(path: Path) -> bool:
    """Whether ``path`` is mounted on now (``/proc/self/mountinfo``, field 5)."""
    target = os.path.realpath(path)
    with open("/proc/self/mountinfo") as mountinfo:
        return any(_unescape(line.split()[4]) == target for line in mountinfo)


@contextlib.contextmanager
def loop_filesystem(directory: Path, size_mib: int, *, label: str = "nvrtest"
                    ) -> Iterator[LoopFilesystem]:
    """An ext4 filesystem of ``size_mib`` MiB mounted at ``directory/mnt`` (the image
    file is ``directory/disk.img``). No root reserve (``-m 0``): what statvfs reports free
    is what a writer gets, root or not; inode tables and journal are initialised now so
    no background ext4lazyinit I/O runs during the test."""
    image = directory / "disk.img"
    mount_point = directory / "mnt"
    mount_point.mkdir()
    with open(image, "wb") as f:
        f.truncate(size_mib << 20)
    device: str | None = None
    failed = True
    try:
        device = _run("losetup", "--find", "--show", str(image)).strip()
        _run("mkfs.ext4", "-q", "-F", "-m", "0", "-L", label,
             "-E", "lazy_itable_init=0,lazy_journal_init=0", device)
        _run("mount", "-o", "noatime", device, str(mount_point))
        yield LoopFilesystem(image, device, mount_point)
        failed = False
    finally:
        errors: list[str] = []
        if is_mount_point(mount_point):
            _try(errors, "umount", str(mount_point))
            if is_mount_point(mount_point):  # busy: at least take it out of the tree
                _try(errors, "umount", "-l", str(mount_point))
        if device is not None:
            # after umount -l with files still open the device is busy: -d then sets
            # autoclear and the kernel detaches it when the last holder closes
            _try(errors, "losetup", "-d", device)
        with contextlib.suppress(FileNotFoundError):
            image.unlink()
        if errors and not failed:  # never mask the test's own failure
            raise RuntimeError("loop filesystem cleanup failed: " + "; ".join(errors))


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): "
                           f"{done.stderr.strip()}")
    return done.stdout


def _try(errors: list[str], *command: str) -> None:
    try:
        _run(*command)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        errors.append(str(exc))


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    return field.encode().decode("unicode_escape") if "\\" in field else field
