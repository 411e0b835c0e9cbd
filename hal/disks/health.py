"""Disk health: SMART checks with history, and the kernel's I/O error counter.

SMART runs at most every ``smart_interval_s`` (30-60 min: smartctl talks to the drive,
and ``-n standby`` skips sleeping ones). The I/O error counter is a sysfs read, cheap
enough to poll every few seconds: SCSI/libata disks expose ``device/ioerr_cnt`` (hex),
which the SCSI midlayer increments for every command that completed with an error. A
rising count is the earliest sign of a dying disk or a loose cable. Disks without the
counter (NVMe, loop) simply never raise the event.

Events go to this object's listeners (``SmartWarning``, ``SmartFailing``, ``DiskIoError``);
``DiskInventory`` reports inserted/removed/changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from hal.disks.inventory import DiskInventory, DiskListener
from hal.disks.model import Disk, DiskEvent, DiskIoError, DiskRemoved, SmartFailing, SmartWarning
from hal.disks.smart import SmartChecker, SmartReport
from hal.disks.smart_history import SmartHistory, StoredCheck

__all__ = ["DiskHealth", "read_ioerr_count"]

log = logging.getLogger(__name__)


def read_ioerr_count(sysfs_root: Path, name: str) -> int | None:
    """``/sys/block/<name>/device/ioerr_cnt`` (``0x1a``), or None where there is none."""
    try:
        text = (sysfs_root / "block" / name / "device" / "ioerr_cnt").read_text().strip()
        return int(text, 0)
    except (OSError, ValueError):
        return None


class DiskHealth:
    def __init__(self, inventory: DiskInventory, checker: SmartChecker,
                 history: SmartHistory, *, clock_us: Callable[[], int],
                 sysfs_root: Path = Path("/sys"), bays_only: bool = True) -> None:
        """``clock_us``: UTC microseconds (history timestamps). ``bays_only``: leave the
        system disk and USB sticks alone."""
        self._inventory = inventory
        self._checker = checker
        self._history = history
        self._clock_us = clock_us
        self._sysfs = sysfs_root
        self._bays_only = bays_only
        self._ioerr: dict[str, int] = {}
        self._listeners: list[DiskListener] = []
        self._unsubscribe = inventory.add_listener(self._on_inventory)
        self.last_reports: dict[str, SmartReport] = {}
        """Latest report per disk identity (text), for status pages."""

    def close(self) -> None:
        self._unsubscribe()

    def add_listener(self, listener: DiskListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _disks(self) -> list[Disk]:
        return [d for d in self._inventory.disks() if d.bay is not None or not self._bays_only]

    async def check_smart(self, disk: Disk) -> SmartReport:
        report = await self._checker.check(disk.devnode)
        key = str(disk.identity)
        self.last_reports[key] = report
        change = await asyncio.to_thread(self._history.record, key, report, self._clock_us())
        if change.is_news and report.state == "failing":
            self._emit(SmartFailing(disk, report, change.new_reasons))
        elif change.is_news and report.state == "warning":
            self._emit(SmartWarning(disk, report, change.new_reasons))
        return report

    async def history(self, disk: str, limit: int = 100) -> list[StoredCheck]:
        """The stored checks of the disk whose identity is ``disk``, newest first: how its
        counters and verdict moved (it outlives the daemon and follows a moved disk)."""
        return await asyncio.to_thread(self._history.checks, disk, limit)

    async def check_io_errors(self, disk: Disk) -> int:
        """New errors since the previous read (0 on the first read: that sets the baseline)."""
        count = await asyncio.to_thread(read_ioerr_count, self._sysfs, disk.name)
        if count is None:
            return 0
        before = self._ioerr.get(disk.name, count)
        self._ioerr[disk.name] = count
        if count > before:
            self._emit(DiskIoError(disk, count - before, count))
            return count - before
        return 0

    async def check_all_smart(self) -> None:
        for disk in self._disks():
            await self.check_smart(disk)

    async def check_all_io_errors(self) -> None:
        for disk in self._disks():
            await self.check_io_errors(disk)

    async def run(self, *, smart_interval_s: float = 1800.0, ioerr_interval_s: float = 5.0,
                  sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Poll until cancelled. SMART first at start, then every ``smart_interval_s``."""
        since_smart = smart_interval_s
        while True:
            try:
                await self.check_all_io_errors()
                if since_smart >= smart_interval_s:
                    since_smart = 0.0
                    await self.check_all_smart()
            except Exception:
                log.exception("x disk health pass failed")
            await sleep(ioerr_interval_s)
            since_smart += ioerr_interval_s

    def _on_inventory(self, event: DiskEvent) -> None:
        if isinstance(event, DiskRemoved):
            self._ioerr.pop(event.disk.name, None)

    def _emit(self, event: DiskEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("x disk health listener failed on %s", type(event).__name__)
