"""Mount options per filesystem, and letting go of a disk without hanging (scripted runner)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hal.disks import Disk, DiskIdentity, Mounter, MountError, read_mounts
from hal.disks.runner import CommandResult
from tests.hal.disks.fakes import FakeRunner

DISK = Disk(name="sdb", devnode="/dev/sdb", devpath="/devices/x/block/sdb",
            identity=DiskIdentity("serial", "S"), size_bytes=1 << 40, bay=2,
            partitions=("/dev/sdb1",))


class Rig:
    """A runner whose mount/umount edit a fake mount table, as the kernel would."""

    def __init__(self, tmp_path: Path, *, busy: bool = False) -> None:
        self.table = tmp_path / "mounts"
        self.table.write_text("/dev/vda / ext4 rw,relatime 0 0\n")
        self.busy = busy
        self.runner = FakeRunner(self._answer)
        self.mounter = Mounter(self.runner, mounts_path=self.table)

    def _answer(self, argv: tuple[str, ...]) -> CommandResult | None:
        if argv[0] == "mount":
            options, device, point = argv[4], argv[5], argv[6]
            with self.table.open("a") as table:
                table.write(f"{device} {point} {argv[2]} rw,{options} 0 0\n")
        elif argv[0] == "umount":
            if self.busy and "-l" not in argv:
                return CommandResult(argv, 32, "", "umount: target is busy.")
            lines = self.table.read_text().splitlines(keepends=True)
            self.table.write_text("".join(x for x in lines if x.split()[1] != argv[-1]))
        return None


@pytest.mark.parametrize(("fs_type", "options"), [
    ("ext4", "noatime,lazytime,errors=remount-ro"),
    ("xfs", "noatime,inode64,allocsize=64m"),
])
async def test_mount_options(tmp_path: Path, fs_type: str, options: str) -> None:
    rig = Rig(tmp_path)
    point = tmp_path / "bay2"
    entry = await rig.mounter.mount("/dev/sdb", point, fs_type)
    assert rig.runner.calls == [("mount", "-t", fs_type, "-o", options, "/dev/sdb", str(point))]
    assert point.is_dir()
    assert "noatime" in entry.options and entry.mount_point == str(point)
    again = await rig.mounter.mount("/dev/sdb", point, fs_type)  # idempotent
    assert again == entry and len(rig.runner.calls) == 1


async def test_mount_point_in_use_by_another_disk(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    await rig.mounter.mount("/dev/sdc", tmp_path / "bay2", "ext4")
    with pytest.raises(MountError, match="/dev/sdc is mounted there"):
        await rig.mounter.mount("/dev/sdb", tmp_path / "bay2", "ext4")
    with pytest.raises(MountError, match="unsupported filesystem"):
        await rig.mounter.mount("/dev/sdb", tmp_path / "x", "ntfs")


async def test_release_of_a_gone_device_is_lazy_at_once(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    await rig.mounter.mount("/dev/sdb1", tmp_path / "bay2", "ext4")
    released = await rig.mounter.release(DISK)  # /dev/sdb does not exist here: gone
    assert released == [str(tmp_path / "bay2")]
    assert rig.runner.calls[-1] == ("umount", "-l", str(tmp_path / "bay2"))
    assert rig.mounter.mounts_of(["/dev/sdb1"]) == []
    assert await rig.mounter.release(DISK) == []  # nothing left: no command
    assert rig.runner.programs().count("umount") == 1


async def test_release_of_a_busy_present_device_falls_back_to_lazy(tmp_path: Path) -> None:
    rig = Rig(tmp_path, busy=True)
    await rig.mounter.mount("/dev/sdb", tmp_path / "bay2", "xfs")
    with pytest.raises(MountError, match="busy"):
        await rig.mounter.unmount(tmp_path / "bay2")
    released = await rig.mounter.release(DISK, device_gone=False)
    assert released == [str(tmp_path / "bay2")]
    assert rig.runner.calls[-2:] == [("umount", str(tmp_path / "bay2")),
                                     ("umount", "-l", str(tmp_path / "bay2"))]


async def test_unmount_of_nothing_runs_nothing(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    assert await rig.mounter.unmount(tmp_path / "nothing") is False
    assert rig.runner.calls == []


def test_read_mounts_unescapes_octal(tmp_path: Path) -> None:
    table = tmp_path / "mounts"
    table.write_text("/dev/sdb /srv/nvr/bay\\0402 ext4 rw,noatime 0 0\n")
    [entry] = read_mounts(table)
    assert entry.mount_point == "/srv/nvr/bay 2" and entry.options == ("rw", "noatime")
