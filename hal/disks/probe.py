"""What a block device is, from sysfs and ``blkid``: the enrichment step of a block event.

With udevd running, events arrive with ``ID_PATH``, ``ID_SERIAL``, ``ID_WWN`` already
set. Without it (early boot, containers, this test VM) raw kernel uevents carry only
``DEVNAME``/``DEVPATH``/``DEVTYPE``, so the same facts are read here from sysfs
(``device/wwid``, ``device/serial``, ``device/vpd_pg80``, ``loop/backing_file``) and from
``blkid -p`` (a low-level probe that needs no udev database). udev's values win when
present; sysfs fills the gaps. Both paths produce the same ``Disk``.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hal.disks.errors import CommandTimeout
from hal.disks.model import Disk, DiskIdentity, Filesystem
from hal.disks.runner import CommandRunner

__all__ = ["BLKID_TIMEOUT_S", "DeviceProbe", "SysfsFacts", "normalize_wwn", "path_id"]

BLKID_TIMEOUT_S = 10.0
_PCI_RE = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
_ATA_RE = re.compile(r"^ata(\d+)$")
_NVME_NS_RE = re.compile(r"^nvme\d+n(\d+)$")


def normalize_wwn(raw: str | None) -> str | None:
    """One spelling for a WWN from udev (``0x5000c500a1b2c3d4``) or sysfs
    (``naa.5000c500a1b2c3d4``), so a disk seen both ways has one identity."""
    if not raw:
        return None
    text = " ".join(raw.split()).lower()
    for prefix in ("naa.", "0x"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text or None


def path_id(devpath: str, ata_port_no: Mapping[int, int] | None = None) -> str | None:
    """udev's ``ID_PATH`` for the common bay hardware, computed from the DEVPATH.

    Covers PCI (virtio: ``pci-0000:00:02.0``), libata behind PCI
    (``pci-0000:00:17.0-ata-3.0``; ``ata_port_no`` maps the kernel's ``ataN`` to the
    host's port number as in ``/sys/class/ata_port/ataN/port_no``) and NVMe
    (``pci-0000:01:00.0-nvme-1``). Anything else (USB, SAS expanders, virtual devices)
    returns ``None``: the board profile's DEVPATH pattern is the fallback for those.
    """
    parts = [p for p in devpath.split("/") if p]
    pci = [i for i, p in enumerate(parts) if _PCI_RE.match(p)]
    if not pci:
        return None
    result = f"pci-{parts[pci[-1]]}"
    for part in parts[pci[-1] + 1:]:
        ata = _ATA_RE.match(part)
        if ata:
            n = int(ata.group(1))
            port = (ata_port_no or {}).get(n, n)
            return f"{result}-ata-{port}.0"
        nvme = _NVME_NS_RE.match(part)
        if nvme:
            return f"{result}-nvme-{nvme.group(1)}"
    return result


@dataclass(frozen=True, slots=True)
class SysfsFacts:
    """What sysfs says about one whole disk (read in a worker thread)."""

    size_bytes: int
    partitions: tuple[str, ...]
    serial: str | None
    wwn: str | None
    model: str | None
    backing_file: str | None
    ata_port_no: Mapping[int, int]


class DeviceProbe:
    """Builds a ``Disk`` for a block device (sysfs root, /dev and runner injected)."""

    def __init__(self, runner: CommandRunner, *, sysfs_root: Path = Path("/sys"),
                 dev_root: Path = Path("/dev")) -> None:
        self._runner = runner
        self._sysfs = sysfs_root
        self._dev = dev_root

    async def probe(self, name: str, devpath: str, properties: Mapping[str, str]
                    ) -> Disk | None:
        """The disk ``name`` as it is now, or ``None`` if it has no media (an empty loop
        device, a card reader without a card) or is already gone."""
        facts = await asyncio.to_thread(self.read_sysfs, name)
        if facts is None or facts.size_bytes == 0:
            return None
        devnode = properties.get("DEVNAME") or str(self._dev / name)
        if not devnode.startswith("/"):
            devnode = str(self._dev / devnode)
        serial = (properties.get("ID_SERIAL_SHORT") or properties.get("ID_SERIAL")
                  or facts.serial)
        wwn = normalize_wwn(properties.get("ID_WWN_WITH_EXTENSION")
                            or properties.get("ID_WWN")) or facts.wwn
        id_path = properties.get("ID_PATH") or path_id(devpath, facts.ata_port_no)
        filesystems = []
        for node in (devnode, *(str(self._dev / p) for p in facts.partitions)):
            fs = await self.filesystem(node)
            if fs is not None:
                filesystems.append(fs)
        return Disk(
            name=name, devnode=devnode, devpath=devpath,
            identity=_identity(wwn, serial, facts.backing_file, devpath),
            size_bytes=facts.size_bytes, id_path=id_path, serial=serial, wwn=wwn,
            model=properties.get("ID_MODEL") or facts.model,
            backing_file=facts.backing_file, filesystems=tuple(filesystems),
            partitions=tuple(str(self._dev / p) for p in facts.partitions))

    async def filesystem(self, devnode: str) -> Filesystem | None:
        """``blkid -p -o export``: exit 2 means "nothing found", which is not an error."""
        try:
            result = await self._runner(["blkid", "-p", "-o", "export", devnode],
                                        timeout_s=BLKID_TIMEOUT_S)
        except (FileNotFoundError, CommandTimeout):
            return None
        if result.returncode != 0:
            return None
        values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        if "TYPE" not in values:
            return None
        return Filesystem(devnode=devnode, fs_type=values["TYPE"], uuid=values.get("UUID"),
                          label=values.get("LABEL"))

    def read_sysfs(self, name: str) -> SysfsFacts | None:
        """Blocking: call from a thread. ``None`` when the device is already gone."""
        block = self._sysfs / "block" / name
        size = _read(block / "size")
        if size is None:
            return None
        partitions = tuple(sorted(
            (p.name for p in _entries(block) if (p / "partition").exists()),
            key=lambda p: int(_read(block / p / "partition") or 0)))
        device = block / "device"
        wwid = _read(block / "wwid") or _read(device / "wwid")
        return SysfsFacts(
            size_bytes=int(size) * 512 if size.isdigit() else 0,
            partitions=partitions,
            serial=_read(device / "serial") or _vpd_serial(device / "vpd_pg80"),
            wwn=normalize_wwn(wwid) if wwid and not wwid.startswith("t10.") else None,
            model=_read(device / "model"),
            backing_file=_read(block / "loop" / "backing_file"),
            ata_port_no=self._ata_ports(block))

    def _ata_ports(self, block: Path) -> dict[int, int]:
        try:
            real = os.path.realpath(block)
        except OSError:
            return {}
        ports: dict[int, int] = {}
        for part in real.split("/"):
            match = _ATA_RE.match(part)
            if match:
                port = _read(self._sysfs / "class" / "ata_port" / part / "port_no")
                if port and port.isdigit():
                    ports[int(match.group(1))] = int(port)
        return ports


def _identity(wwn: str | None, serial: str | None, backing_file: str | None,
              devpath: str) -> DiskIdentity:
    if wwn:
        return DiskIdentity("wwn", wwn)
    if serial:
        return DiskIdentity("serial", serial)
    if backing_file:
        return DiskIdentity("backing-file", backing_file)
    return DiskIdentity("devpath", devpath)


def _read(path: Path) -> str | None:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return None
    return text or None


def _entries(path: Path) -> list[Path]:
    try:
        return list(path.iterdir())
    except OSError:
        return []


def _vpd_serial(path: Path) -> str | None:
    """SCSI VPD page 0x80 (unit serial number): 4 header bytes, then ASCII."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    if len(raw) < 4:
        return None
    length = int.from_bytes(raw[2:4], "big")
    text = raw[4:4 + length].decode("ascii", errors="replace").strip(" \0")
    return text or None
