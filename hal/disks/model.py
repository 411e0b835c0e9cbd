"""Values that cross the disk layer's boundary: disks, their identity, and disk events.

Bays and identities are separate on purpose: a bay is *where* a disk is (the board
profile's udev path or DEVPATH pattern), an identity is *which* disk it is (WWN, serial,
or for a loop device its backing file). The daemon keys a volume's state on the identity,
so a disk moved from bay 1 to bay 3 is the same volume in a new place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from hal.disks.smart import SmartReason, SmartReport

__all__ = [
    "Disk",
    "DiskChanged",
    "DiskEvent",
    "DiskIdentity",
    "DiskInserted",
    "DiskIoError",
    "DiskRemoved",
    "Filesystem",
    "IdentityKind",
    "SmartFailing",
    "SmartWarning",
]

IdentityKind = Literal["wwn", "serial", "backing-file", "devpath"]


@dataclass(frozen=True, slots=True)
class DiskIdentity:
    """Which disk this is, in order of preference: the WWN (world-wide, survives every
    path change), the serial number, the backing file (loop devices), and as a last resort
    the DEVPATH (a disk that reports nothing; recognised only while it stays put)."""

    kind: IdentityKind
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True, slots=True)
class Filesystem:
    """What ``blkid -p`` found on the whole disk or on one partition."""

    devnode: str
    fs_type: str | None
    uuid: str | None = None
    label: str | None = None


@dataclass(frozen=True, slots=True)
class Disk:
    """A whole disk with media, as the inventory last saw it."""

    name: str
    """Kernel name: ``sda``, ``nvme0n1``, ``loop57``."""
    devnode: str
    """``/dev/sda``."""
    devpath: str
    """Kernel DEVPATH, without ``/sys``: ``/devices/pci0000:00/.../block/sda``."""
    identity: DiskIdentity
    size_bytes: int
    bay: int | None = None
    """Chassis bay number; ``None`` for a disk outside the bays (USB stick, system disk)."""
    id_path: str | None = None
    serial: str | None = None
    wwn: str | None = None
    model: str | None = None
    backing_file: str | None = None
    filesystems: tuple[Filesystem, ...] = ()
    """Whole-disk filesystem (if any) first, then one entry per partition."""
    partitions: tuple[str, ...] = ()
    """Partition devnodes (``/dev/sda1``), in kernel order."""


class _AboutDisk:
    """Every disk event says which bay it is about (``None``: a disk outside the bays)."""

    __slots__ = ()
    disk: Disk

    @property
    def bay(self) -> int | None:
        return self.disk.bay


@dataclass(frozen=True, slots=True)
class DiskInserted(_AboutDisk):
    disk: Disk
    previous_bay: int | None = None
    """The bay this same disk (by identity) was last seen in, if it was another one."""


@dataclass(frozen=True, slots=True)
class DiskRemoved(_AboutDisk):
    disk: Disk
    """The disk as it was last seen (the device node is gone by now)."""


@dataclass(frozen=True, slots=True)
class DiskChanged(_AboutDisk):
    """Same disk, same bay, something else changed (filesystems after mkfs, size)."""

    disk: Disk
    previous: Disk


@dataclass(frozen=True, slots=True)
class SmartWarning(_AboutDisk):
    """A SMART problem that is *new* since the previous check (raised once, not per poll)."""

    disk: Disk
    report: SmartReport
    new_reasons: tuple[SmartReason, ...]


@dataclass(frozen=True, slots=True)
class SmartFailing(_AboutDisk):
    """The disk is failing (or newly worse while failing): replace it."""

    disk: Disk
    report: SmartReport
    new_reasons: tuple[SmartReason, ...]


@dataclass(frozen=True, slots=True)
class DiskIoError(_AboutDisk):
    """The kernel counted I/O errors on the disk since the previous check."""

    disk: Disk
    new_errors: int
    total_errors: int


DiskEvent = DiskInserted | DiskRemoved | DiskChanged | SmartWarning | SmartFailing | DiskIoError
