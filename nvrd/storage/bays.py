"""The drive bays as the daemon uses them: a prepared disk put in a bay is mounted and
recorded on; a pulled one is let go of without hanging; a blank one waits for "prepare".

What is a recording disk is decided by the identity file (``volume.py``), never by a
label or a filesystem type: a disk from another recorder of ours brings its recordings
and is used as it is; a disk with someone else's filesystem is left alone (unmounted
again) until an installer prepares it, which wipes it and so needs an explicit
confirmation (the disk's identity or device name, ``DiskPreparer.check``).

States of a bay (``BayStatus.state``):

- ``empty``: no disk.
- ``blank``: a disk without a filesystem we can use (ext4/xfs) — prepare it.
- ``foreign``: an ext4/xfs filesystem without our identity file — prepare it (wipes it).
- ``mounting``, ``preparing``: on the way.
- ``recording``: mounted and attached to storage (``storage.bays[].record``).
- ``mounted``: mounted, not recorded on (``record = false``): playback only.
- ``unmounted``: unmounted by hand (``unmount``, e.g. from the console) so the disk can be
  pulled safely; ``mount`` (or a pull and re-insert) uses it again.
- ``error``: the last step failed; ``problem`` says why. A pull and re-insert retries.

Everything that touches the disk runs in one task per bay at a time (``_run_in_bay``), so
an insert whose mount is slow is never overtaken by the removal that follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from hal.board import DisksSection
from hal.disks import (
    Disk,
    DiskChanged,
    DiskError,
    DiskEvent,
    DiskHealth,
    DiskInserted,
    DiskInventory,
    DiskIoError,
    DiskPreparer,
    DiskRemoved,
    Filesystem,
    FsType,
    Mounter,
    PrepareRefused,
    SmartFailing,
    SmartWarning,
)
from nvrd.config import NvrConfig
from nvrd.config.schema import VolumeConfig
from nvrd.service import Health, Service
from nvrd.storage.service import StorageService
from nvrd.storage.volume import IDENTITY_FILE, VolumeError, prepare_volume
from nvrd.system.auditlog import AuditLog

logger = logging.getLogger(__name__)

USABLE_FILESYSTEMS = ("ext4", "xfs")


@dataclass(frozen=True, slots=True)
class BayStatus:
    bay: int
    label: str | None
    state: str
    problem: str | None = None
    device: str | None = None
    identity: str | None = None
    model: str | None = None
    serial: str | None = None
    size_bytes: int | None = None
    filesystem: str | None = None
    mount_point: str | None = None
    smart: str | None = None
    """ok, warning, failing, standby, unavailable, error; None before the first check."""
    smart_summary: str | None = None


@dataclass(slots=True)
class _Bay:
    number: int
    label: str | None
    state: str = "empty"
    problem: str | None = None
    disk: Disk | None = None
    filesystem: Filesystem | None = None
    mounted_at: Path | None = None
    attached: bool = False
    lock: asyncio.Lock | None = None


@dataclass(frozen=True, slots=True)
class DiskStack:
    """The HAL's disk pieces the bays are run with (built by the hardware layer)."""

    inventory: DiskInventory
    health: DiskHealth
    mounter: Mounter
    preparer: DiskPreparer


class BayService(Service):
    name = "bays"

    def __init__(self, config: NvrConfig, data_dir: Path, audit: AuditLog,
                 storage: StorageService, bays: DisksSection,
                 disks: DiskStack | Callable[[], DiskStack | None],
                 on_change: Callable[[], None] | None = None) -> None:
        """``disks``: the HAL's disk pieces, or a function giving them at ``start`` (the
        hardware service opens them only when it starts); None = no disk hardware."""
        super().__init__()
        self._config = config
        self._data_dir = data_dir
        self._audit = audit
        self._storage = storage
        self._disks_source = disks
        self._disks: DiskStack | None = None
        self._no_disks = "the disk hardware is not available (see the hardware problems)"
        self._listeners: list[Callable[[], None]] = [on_change] if on_change else []
        self._bays = {b.number: _Bay(b.number, b.label) for b in bays.bays}
        self._tasks: set[asyncio.Task[None]] = set()
        self._health_task: asyncio.Task[None] | None = None
        self._unsubscribe: list[Callable[[], None]] = []

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def _hw(self) -> DiskStack:
        if self._disks is None:
            raise DiskError(self._no_disks)
        return self._disks

    async def start(self) -> None:
        for bay in self._bays.values():
            bay.lock = asyncio.Lock()
        source = self._disks_source
        self._disks = source() if callable(source) else source
        if self._disks is None:
            if self._bays:
                logger.error("drive bays unusable: %s", self._no_disks)
                for bay in self._bays.values():
                    bay.state, bay.problem = "error", self._no_disks
            return
        self._unsubscribe = [self._hw.inventory.add_listener(self._on_event),
                             self._hw.health.add_listener(self._on_event)]
        for disk in self._hw.inventory.disks():
            if disk.bay in self._bays:
                self._on_event(DiskInserted(disk))
        self._health_task = asyncio.create_task(self._hw.health.run(
            smart_interval_s=self._config.storage.smart_interval_minutes * 60.0),
            name="disk-health")

    async def stop(self) -> None:
        """Close what is recorded on the bay disks and unmount them (a graceful shutdown
        leaves clean filesystems)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for bay in self._bays.values():
            await self._let_go(bay, device_gone=False)

    async def apply_config(self, config: NvrConfig) -> None:
        self._config = config
        for bay in self._bays.values():
            if bay.mounted_at is not None and bay.state in ("recording", "mounted"):
                self._in_bay(bay, self._use_mounted)

    def health(self) -> Health:
        failing = [f"bay {b.number}" for b in self._bays.values()
                   if self._smart_state(b) == "failing"]
        if failing:
            return Health(True, "disk failing (replace it): " + ", ".join(failing))
        return Health(True)

    # --- status and actions --------------------------------------------------------------

    def snapshot(self) -> list[BayStatus]:
        return [self._status(b) for b in sorted(self._bays.values(), key=lambda b: b.number)]

    def bay_faults(self) -> dict[int, bool]:
        """Per bay: a disk is there and something is wrong with it (for the bay lamps)."""
        return {b.number: b.disk is not None and (
            b.state == "error" or self._smart_state(b) in ("warning", "failing"))
            for b in self._bays.values()}

    async def check_smart_now(self) -> None:
        """Read every bay disk's SMART data now (after a disk swap, from the console)."""
        await self._hw.health.check_all_smart()
        self._changed()

    async def unmount(self, number: int) -> BayStatus:
        """Stop recording on the disk in bay ``number`` and unmount it, so that it can be
        pulled safely (its streams move to the other volumes). It stays unmounted until
        :meth:`mount` or a re-insert. Raises ``DiskError`` when the bay is empty or its
        disk is not mounted."""
        bay = self._bay_or_error(number)
        assert bay.lock is not None
        async with bay.lock:
            if bay.disk is None:
                raise DiskError(f"bay {number} is empty")
            if bay.mounted_at is None:
                raise DiskError(f"the disk in bay {number} is not mounted ({bay.state})")
            await self._let_go(bay, device_gone=False)
            self._set(bay, "unmounted", "unmounted by hand: safe to pull; mount it to use "
                      "it again")
            self._record(f"disk in bay {number} unmounted", _describe(bay.disk))
        return self._status(bay)

    async def mount(self, number: int) -> BayStatus:
        """Mount the disk in bay ``number`` again (after :meth:`unmount` or an error) and
        record on it if it is a recording disk. Raises ``DiskError`` with the reason when
        it cannot be used (empty, blank, not ours, the mount failed)."""
        bay = self._bay_or_error(number)
        assert bay.lock is not None
        async with bay.lock:
            if bay.disk is None:
                raise DiskError(f"bay {number} is empty")
            if bay.mounted_at is not None and bay.state in ("recording", "mounted"):
                raise DiskError(f"the disk in bay {number} is already mounted at "
                                f"{bay.mounted_at}")
            try:
                if bay.mounted_at is None:
                    await self._adopt(bay)
                else:  # mounted, but attaching it to storage failed: try that again
                    await self._use_mounted(bay)
            except (DiskError, VolumeError, OSError) as exc:
                self._set(bay, "error", f"mount failed: {exc}")
                raise
            if bay.state not in ("recording", "mounted"):
                raise DiskError(f"bay {number} is {bay.state}: {bay.problem}")
            self._record(f"disk in bay {number} mounted", _describe(bay.disk))
        return self._status(bay)

    def _bay_or_error(self, number: int) -> _Bay:
        bay = self._bays.get(number)
        if bay is None:
            raise DiskError(f"there is no bay {number}; this box has bays "
                            f"{', '.join(map(str, sorted(self._bays)))}")
        return bay

    async def prepare(self, number: int, *, confirm: str, fs_type: FsType = "ext4") -> BayStatus:
        """Wipe the disk in bay ``number`` and make it a recording disk.

        ``confirm`` must be the disk's identity or device name (shown in the bay status):
        preparing destroys what is on it. Raises ``DiskError`` (``PrepareRefused`` for a
        wrong confirmation or a disk in use) with the reason; the bay keeps its state then.
        """
        bay = self._bay_or_error(number)
        disk = bay.disk
        if disk is None:
            raise DiskError(f"bay {number} is empty")
        if confirm not in {str(disk.identity), disk.identity.value, disk.devnode, disk.name}:
            # checked before anything is stopped or unmounted
            raise PrepareRefused(disk.devnode, "the confirmation does not match this disk: "
                                 f"give its identity ({disk.identity}) or its device name "
                                 f"({disk.devnode})")
        assert bay.lock is not None
        async with bay.lock:
            await self._let_go(bay, device_gone=False)
            self._set(bay, "preparing")
            try:
                label = f"NVR_BAY{number}"
                prepared = await self._hw.preparer.prepare(disk, confirm=confirm,
                                                              label=label, fs_type=fs_type)
                self._record(f"disk in bay {number} prepared",
                             f"{_describe(disk)}: {fs_type} on {prepared.device}")
                bay.disk = await self._hw.inventory.refresh(disk.name) or disk
                bay.filesystem = Filesystem(prepared.device, fs_type, prepared.uuid, label)
                mount_point = await self._mount(bay)
                await asyncio.to_thread(prepare_volume, mount_point, f"bay {number}")
                await self._use_mounted(bay)
            except (DiskError, VolumeError, OSError) as exc:
                self._set(bay, "error", f"prepare failed: {exc}")
                raise
        return self._status(bay)

    # --- event handling ------------------------------------------------------------------

    def _on_event(self, event: DiskEvent) -> None:
        bay = self._bays.get(event.bay) if event.bay is not None else None
        if isinstance(event, DiskRemoved):
            # a removal is for whichever bay still holds this disk
            bay = next((b for b in self._bays.values() if b.disk is not None
                        and b.disk.identity == event.disk.identity), bay)
        if bay is None:
            return
        if isinstance(event, DiskInserted):
            moved = (f" (it was in bay {event.previous_bay} before)"
                     if event.previous_bay not in (None, bay.number) else "")
            self._record(f"disk inserted in bay {bay.number}",
                         f"{_describe(event.disk)}{moved}")
            bay.disk = event.disk
            self._in_bay(bay, self._adopt)
        elif isinstance(event, DiskRemoved):
            self._record(f"disk removed from bay {bay.number}", _describe(event.disk),
                         result="failed" if bay.attached else "ok")
            self._in_bay(bay, self._removed)
        elif isinstance(event, DiskChanged):
            bay.disk = event.disk
        elif isinstance(event, SmartWarning | SmartFailing):
            verdict = "failing" if isinstance(event, SmartFailing) else "warning"
            reasons = "; ".join(r.message for r in event.new_reasons) or event.report.summary
            self._record(f"disk in bay {bay.number}: SMART {verdict}", reasons,
                         result="failed")
            (logger.error if verdict == "failing" else logger.warning)(
                "bay %d: SMART %s: %s", bay.number, verdict, reasons)
            self._changed()
        elif isinstance(event, DiskIoError):
            self._record(f"disk in bay {bay.number}: I/O errors",
                         f"{event.new_errors} new, {event.total_errors} in all",
                         result="failed")
            self._changed()

    def _in_bay(self, bay: _Bay, step: Callable[[_Bay], Awaitable[None]]) -> None:
        async def run() -> None:
            assert bay.lock is not None
            async with bay.lock:
                try:
                    await step(bay)
                except Exception as exc:
                    logger.exception("bay %d: %s failed", bay.number, step.__name__)
                    self._set(bay, "error", str(exc))

        task = asyncio.create_task(run(), name=f"bay{bay.number}-{step.__name__}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _adopt(self, bay: _Bay) -> None:
        """A disk came: mount it if it has a usable filesystem, record on it if it is ours."""
        disk = bay.disk
        if disk is None:
            return
        bay.filesystem = next((f for f in disk.filesystems
                               if f.fs_type in USABLE_FILESYSTEMS), None)
        if bay.filesystem is None:
            found = ", ".join(f"{f.fs_type} on {f.devnode}" for f in disk.filesystems
                              if f.fs_type) or "no filesystem"
            self._set(bay, "blank", f"{found}: prepare the disk to record on it")
            return
        self._set(bay, "mounting")
        mount_point = await self._mount(bay)
        if not (mount_point / IDENTITY_FILE).exists():
            await self._let_go(bay, device_gone=False)
            self._set(bay, "foreign", f"{bay.filesystem.fs_type} filesystem that is not a "
                      "recording disk of this recorder: prepare it to record on it (this "
                      "erases it)")
            return
        await self._use_mounted(bay)

    async def _mount(self, bay: _Bay) -> Path:
        assert bay.filesystem is not None and bay.filesystem.fs_type is not None
        mount_point = self._mount_root() / f"bay{bay.number}"
        await self._hw.mounter.mount(bay.filesystem.devnode, mount_point,
                                        bay.filesystem.fs_type)
        bay.mounted_at = mount_point
        return mount_point

    async def _use_mounted(self, bay: _Bay) -> None:
        assert bay.mounted_at is not None
        settings = self._config.storage.bay(bay.number)
        if settings.record:
            # attaching again only updates the group: the writer keeps running
            await self._storage.attach(VolumeConfig(path=str(bay.mounted_at),
                                                    name=f"bay{bay.number}",
                                                    group=settings.group))
            bay.attached = True
            self._set(bay, "recording")
        else:
            if bay.attached:
                await self._storage.detach(bay.mounted_at)
                bay.attached = False
            self._set(bay, "mounted", "storage.bays: record = false (playback only)")

    async def _removed(self, bay: _Bay) -> None:
        await self._let_go(bay, device_gone=True)
        bay.disk = None
        bay.filesystem = None
        self._set(bay, "empty")

    async def _let_go(self, bay: _Bay, *, device_gone: bool) -> None:
        """Stop recording on the bay's disk and unmount it (lazily if the device is
        gone: a plain umount would try to write to it and may hang)."""
        if bay.attached and bay.mounted_at is not None:
            await self._storage.detach(bay.mounted_at)
            bay.attached = False
        if bay.mounted_at is not None and bay.disk is not None:
            try:
                await self._hw.mounter.release(bay.disk, device_gone=device_gone or None)
            except DiskError as exc:
                logger.error("bay %d: could not unmount %s: %s", bay.number, bay.mounted_at,
                             exc)
            bay.mounted_at = None

    # --- helpers -------------------------------------------------------------------------

    def _mount_root(self) -> Path:
        root = Path(self._config.storage.mount_root)
        return root if root.is_absolute() else self._data_dir / root

    def _smart_state(self, bay: _Bay) -> str | None:
        if bay.disk is None or self._disks is None:
            return None
        report = self._hw.health.last_reports.get(str(bay.disk.identity))
        return report.state if report is not None else None

    def _status(self, bay: _Bay) -> BayStatus:
        disk = bay.disk
        report = (self._disks.health.last_reports.get(str(disk.identity))
                  if disk is not None and self._disks is not None else None)
        return BayStatus(
            bay=bay.number, label=bay.label, state=bay.state, problem=bay.problem,
            device=disk.devnode if disk else None,
            identity=str(disk.identity) if disk else None,
            model=disk.model if disk else None, serial=disk.serial if disk else None,
            size_bytes=disk.size_bytes if disk else None,
            filesystem=bay.filesystem.fs_type if bay.filesystem else None,
            mount_point=str(bay.mounted_at) if bay.mounted_at else None,
            smart=report.state if report else None,
            smart_summary=report.summary if report else None)

    def _set(self, bay: _Bay, state: str, problem: str | None = None) -> None:
        if (bay.state, bay.problem) != (state, problem):
            bay.state, bay.problem = state, problem
            if state == "error":
                logger.error("bay %d: %s", bay.number, problem)
            else:
                logger.info("bay %d: %s%s", bay.number, state, f" ({problem})" if problem
                            else "")
            self._changed()

    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` (on the loop) whenever a bay's state, problem or SMART
        reading may have changed; returns the function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners \
            else None

    def _changed(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                logger.exception("bay change listener failed")

    def _record(self, action: str, details: str, result: str = "ok") -> None:
        self._audit.record("storage", action, result=result, details=details)


def _describe(disk: Disk) -> str:
    size_gb = disk.size_bytes / 1e9
    what = " ".join(x for x in (disk.model, f"serial {disk.serial}" if disk.serial else None)
                    if x)
    return f"{disk.devnode}, {size_gb:.1f} GB, {what or disk.identity}"
