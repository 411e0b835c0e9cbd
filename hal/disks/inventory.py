"""Which disk is in which bay, kept current from block events.

State-based, not event-based: every event for a disk triggers a fresh probe of that disk
and the *difference* to what the inventory held is what gets reported. That makes the
handler indifferent to duplicated, reordered-by-enumeration or missed events (a loop
device attach arrives as ``add`` with size 0 followed by several ``change`` events; a
card reader reports media changes as ``change``): a disk is present while its device
exists and has media (size > 0).

Events are probed and applied one at a time, in arrival order, by one task, so an
``add`` whose probe is slow (blkid) is never overtaken by the ``remove`` that follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable

from hal.board import DisksSection
from hal.disks.events import BlockEvent, BlockEventSource
from hal.disks.model import Disk, DiskChanged, DiskEvent, DiskIdentity, DiskInserted, DiskRemoved
from hal.disks.probe import DeviceProbe

__all__ = ["DiskInventory", "DiskListener"]

log = logging.getLogger(__name__)

DiskListener = Callable[[DiskEvent], None]


class DiskInventory:
    """Disks in bays (and outside them: ``bay is None``), with inserted/removed/changed
    events to listeners. Listeners run on the loop and must not block."""

    def __init__(self, bays: DisksSection, source: BlockEventSource, probe: DeviceProbe
                 ) -> None:
        self._bays = bays
        self._source = source
        self._probe = probe
        self._by_name: dict[str, Disk] = {}
        self._last_bay: dict[DiskIdentity, int | None] = {}
        self._listeners: list[DiskListener] = []
        self._queue: asyncio.Queue[BlockEvent] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Listen, then enumerate what is there: returns once the initial disks are known
        (and their ``DiskInserted`` events delivered)."""
        self._source.start(self._queue.put_nowait)
        for event in self._source.existing():
            self._queue.put_nowait(event)
        self._worker = asyncio.create_task(self._run(), name="disk-inventory")
        await self.settle()

    async def close(self) -> None:
        self._source.close()
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def settle(self) -> None:
        """Wait until every event received so far has been applied."""
        await self._queue.join()

    def add_listener(self, listener: DiskListener) -> Callable[[], None]:
        """Subscribe; returns the function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # --- queries -------------------------------------------------------------------------

    def disks(self) -> tuple[Disk, ...]:
        return tuple(sorted(self._by_name.values(),
                            key=lambda d: (d.bay is None, d.bay or 0, d.name)))

    def in_bay(self, bay: int) -> Disk | None:
        return next((d for d in self._by_name.values() if d.bay == bay), None)

    def by_name(self, name: str) -> Disk | None:
        return self._by_name.get(name.removeprefix("/dev/"))

    def by_identity(self, identity: DiskIdentity) -> Disk | None:
        return next((d for d in self._by_name.values() if d.identity == identity), None)

    async def refresh(self, name: str) -> Disk | None:
        """Probe a disk again now, e.g. after mkfs (with no udevd there is no ``change``
        event for a new filesystem). Emits ``DiskChanged`` if something changed."""
        disk = self.by_name(name)
        if disk is None:
            return None
        self._queue.put_nowait(BlockEvent("change", disk.name, disk.devpath, "disk"))
        await self.settle()
        return self.by_name(name)

    # --- event handling ------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._apply(event)
            except Exception:
                log.exception("x block event %s %s", event.action, event.name)
            finally:
                self._queue.task_done()

    async def _apply(self, event: BlockEvent) -> None:
        name, devpath = event.name, event.devpath
        if event.devtype == "partition":
            parent = devpath.rstrip("/").rsplit("/", 2)[-2]
            known = self._by_name.get(parent)
            if known is None:
                return
            name, devpath = parent, known.devpath
            event = BlockEvent("change", name, devpath, "disk")
        elif event.devtype != "disk":
            return
        if event.action == "remove":
            self._drop(name)
            return
        disk = await self._probe.probe(name, devpath, event.properties)
        if disk is None:
            self._drop(name)
            return
        bay = self._bays.bay_for(disk.id_path, disk.devpath)
        self._upsert(dataclasses.replace(disk, bay=bay.number if bay else None))

    def _upsert(self, disk: Disk) -> None:
        previous = self._by_name.get(disk.name)
        if previous is not None and previous.identity != disk.identity:
            self._drop(disk.name)  # other media in the same device: out, then in
            previous = None
        self._by_name[disk.name] = disk
        if previous is None:
            last_bay = self._last_bay.get(disk.identity)
            self._last_bay[disk.identity] = disk.bay
            moved_from = last_bay if last_bay is not None and last_bay != disk.bay else None
            # disks outside the bays (system disk, USB sticks, loop devices) only at debug
            (log.info if disk.bay is not None else log.debug)(
                "disk %s (%s) is in %s", disk.name, disk.identity, _where(disk))
            self._emit(DiskInserted(disk, previous_bay=moved_from))
        elif previous != disk:
            self._emit(DiskChanged(disk, previous))

    def _drop(self, name: str) -> None:
        disk = self._by_name.pop(name, None)
        if disk is not None:
            (log.info if disk.bay is not None else log.debug)(
                "disk %s (%s) removed from %s", disk.name, disk.identity, _where(disk))
            self._emit(DiskRemoved(disk))

    def _emit(self, event: DiskEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("x disk listener failed on %s", type(event).__name__)


def _where(disk: Disk) -> str:
    return f"bay {disk.bay}" if disk.bay is not None else "no bay"
