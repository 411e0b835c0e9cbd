"""The one thread that writes to a volume: files, fsyncs, the catalog, retention.

Every disk gets its own writer so that a slow or dead disk stalls only the streams
recorded on it (DESIGN.md "Threads only at the edges"). Recorders in the reader threads
``submit`` messages (``messages.py``) into a queue bounded in bytes: when the disk falls
that far behind, ``submit`` says no and the recorder cuts its run and counts it — never
a silent drop, never a blocked reader. Closing messages are always accepted.

Crash protocol (inv. 1–4):

1. a segment file is created with O_EXCL, its init segment written and fsynced, and its
   directory fsynced, *before* its catalog row is inserted (state 'open');
2. fragments are appended whole; the file is fsynced every ``FSYNC_INTERVAL_S`` and at
   close, before the row is closed — so a row never describes bytes that are not durable;
3. catalog changes are committed in batches every ``COMMIT_INTERVAL_S``;
4. deletions go through the catalog's pending table (``Catalog.queue_deletions``).

What kill -9 or a power cut leaves behind — an 'open' row, a torn last fragment, a file
without a row, a pending deletion — is repaired by ``reconcile`` before the writer takes
its first message.

The writer never writes into a volume whose identity file is missing: it checks before
every new segment and every ``MOUNT_CHECK_INTERVAL_S``, and fails the volume otherwise
(an unmounted mount point is a directory on the root filesystem).
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import enum
import errno
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from nvrd.config.atomic import fsync_directory
from nvrd.storage.catalog import Catalog, NewSegment, SegmentRow
from nvrd.storage.messages import AppendFragment, CloseSegment, OpenSegment, WriterMessage
from nvrd.storage.model import SegmentName
from nvrd.storage.reconcile import ReconcileReport, reconcile
from nvrd.storage.retention import (
    MAX_DELETIONS_PER_PASS,
    RetentionPolicy,
    describe_deletions,
    free_space_floor,
    overwrite_target,
)
from nvrd.storage.volume import Mounted, check_still_mounted, space

logger = logging.getLogger(__name__)

T = TypeVar("T")

COMMIT_INTERVAL_S = 2.0
FSYNC_INTERVAL_S = 5.0
"""Bounds what a power cut can take from an open segment (kill -9 loses nothing that
reached ``write``)."""
MOUNT_CHECK_INTERVAL_S = 2.0
SPACE_CHECK_INTERVAL_S = 5.0
AGE_CHECK_INTERVAL_S = 60.0
SLOW_WRITE_S = 1.0
"""A write or fsync slower than this is logged: the disk is struggling."""
DEFAULT_QUEUE_BUDGET = 256 << 20
"""How far a disk may fall behind before recorders cut their runs. Large enough for
the start-up burst (every stream hands over its first seconds at once: 64 streams at
4 Mbit/s queue ~70 MB within a second) and a few seconds of a slow disk."""
LATENCY_SAMPLES = 4096


class WriterState(enum.StrEnum):
    STARTING = "starting"
    """Reconciling the catalog with the files."""
    READY = "ready"
    FULL = "full"
    """No room: the stop policy, or nothing left that overwrite may delete."""
    FAILED = "failed"
    """Identity gone, write errors, catalog unusable: nothing more is written here."""
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class WriterNotice:
    """Something the storage service must hear about (sent from the writer thread)."""

    volume: str
    kind: str
    """'ready', 'full', 'writable', 'failed', 'deleted', 'slow'."""
    message: str
    rows: tuple[SegmentRow, ...] = ()


@dataclass(frozen=True, slots=True)
class WriterStats:
    state: WriterState
    reason: str | None
    queued_bytes: int
    open_segments: int
    fragments_written: int
    bytes_written: int
    write_latency_ms: tuple[float, ...]
    """Recent queue-to-disk latencies of fragments (ms), for percentiles."""
    heartbeat_age_s: float
    total_bytes: int | None
    free_bytes: int | None
    floor_bytes: int | None
    bytes_per_second: float


@dataclass(slots=True)
class _OpenFile:
    fd: int
    row_id: int
    path: Path
    directory: Path
    types: int
    size: int
    end_us: int
    seek: list[tuple[int, int]] = field(default_factory=list)
    synced_at: float = 0.0


class _Job:
    def __init__(self, fn: Callable[[Catalog], object]) -> None:
        self.fn = fn
        self.future: concurrent.futures.Future[object] = concurrent.futures.Future()


_STOP = object()


class VolumeWriter:
    """Writes one volume; see the module docstring."""

    def __init__(self, name: str, root: Path, mounted: Mounted, policy: RetentionPolicy,
                 on_notice: Callable[[WriterNotice], None], *,
                 queue_budget: int = DEFAULT_QUEUE_BUDGET) -> None:
        self._name = name
        self.root = root
        self.mounted = mounted
        self.policy = policy
        """Replaced by the storage service on reload; read by the writer thread."""
        self._on_notice = on_notice
        self._budget = queue_budget
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._queued = 0
        self._queued_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.state = WriterState.STARTING
        self.reason: str | None = None
        self.reconcile_report: ReconcileReport | None = None
        self._catalog: Catalog | None = None
        self._files: dict[int, _OpenFile] = {}
        self._refused: set[int] = set()
        self._latencies: collections.deque[float] = collections.deque(maxlen=LATENCY_SAMPLES)
        self._fragments = 0
        self._written = 0
        self._heartbeat = time.monotonic()
        self._rate_samples: collections.deque[tuple[float, int]] = collections.deque(maxlen=13)
        self._space: tuple[int, int, int] | None = None
        self._next = dict.fromkeys(("commit", "mount", "space", "age"), 0.0)
        self._log = logger.getChild(name)

    @property
    def name(self) -> str:
        return self._name

    # --- any thread ----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"writer-{self._name}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Close open segments and the catalog; False if the thread did not finish in
        ``timeout`` (a dead disk can hang a write forever; the thread is a daemon)."""
        self._queue.put(_STOP)
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def submit(self, message: WriterMessage) -> bool:
        size = 0
        if isinstance(message, AppendFragment):
            size = len(message.data)
        elif isinstance(message, OpenSegment):
            size = len(message.init)
        with self._queued_lock:
            if size and self._queued + size > self._budget:
                return False
            self._queued += size
        self._queue.put(message)
        return True

    def run_job(self, fn: Callable[[Catalog], T]) -> concurrent.futures.Future[T]:
        """Run ``fn(catalog)`` in the writer thread (retention, locks): the catalog has
        one owner."""
        job = _Job(fn)
        self._queue.put(job)
        return job.future  # type: ignore[return-value]

    def stats(self) -> WriterStats:
        with self._queued_lock:
            queued = self._queued
        total, free, floor = self._space or (None, None, None)
        return WriterStats(
            state=self.state, reason=self.reason, queued_bytes=queued,
            open_segments=len(self._files), fragments_written=self._fragments,
            bytes_written=self._written, write_latency_ms=tuple(self._latencies),
            heartbeat_age_s=time.monotonic() - self._heartbeat, total_bytes=total,
            free_bytes=free, floor_bytes=floor, bytes_per_second=self._rate())

    # --- writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._catalog = Catalog(self.root, self.mounted.identity.uuid)
            self.reconcile_report = reconcile(self.root, self._catalog)
        except Exception as exc:
            self._log.exception("cannot open the volume's catalog")
            self._fail(f"the catalog cannot be opened or repaired: {exc}")
        else:
            self.state = WriterState.READY
            self._notice("ready", self.reconcile_report.summary())
        while True:
            self._heartbeat = time.monotonic()
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                item = None
            if item is _STOP:
                break
            try:
                self._handle(item)
                self._housekeeping()
            except Exception as exc:  # a bug must not leave the volume half-alive
                self._log.exception("volume writer error")
                self._fail(f"internal error: {exc!r}")
        self._shutdown()

    def _handle(self, item: object) -> None:
        if isinstance(item, _Job):
            if self._catalog is None or self.state == WriterState.FAILED:
                item.future.set_exception(RuntimeError(f"volume {self._name} is not usable: "
                                                       f"{self.reason}"))
            else:
                try:
                    item.future.set_result(item.fn(self._catalog))
                except Exception as exc:
                    item.future.set_exception(exc)
            return
        if isinstance(item, OpenSegment):
            self._dequeued(len(item.init))
            self._open(item)
        elif isinstance(item, AppendFragment):
            self._dequeued(len(item.data))
            self._append(item)
        elif isinstance(item, CloseSegment):
            self._close(item.key, item.end_us, item.reason)

    def _dequeued(self, size: int) -> None:
        with self._queued_lock:
            self._queued -= size

    def _open(self, message: OpenSegment) -> None:
        if self.state != WriterState.READY:
            self._refused.add(message.key)
            return
        problem = check_still_mounted(self.root, self.mounted)
        if problem is not None:
            self._refused.add(message.key)
            self._fail(problem)
            return
        catalog = self._catalog
        assert catalog is not None
        try:
            name, path, fd = self._create(message.name)
        except OSError as exc:
            self._refused.add(message.key)
            self._io_error(exc, f"cannot create a segment in {self.root}")
            return
        try:
            started = time.monotonic()
            self._write_retrying(fd, message.init, path)
            os.fsync(fd)
            fsync_directory(path.parent)
            self._slow("creating", path, time.monotonic() - started)
        except OSError as exc:
            # no row points at it yet: remove the partial file and give up the segment
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
            self._refused.add(message.key)
            self._io_error(exc, f"cannot write {path}")
            return
        row_id = catalog.insert_open(NewSegment(
            channel=name.channel, stream=name.stream, run_start_us=message.run_start_us,
            start_us=name.start_us, path=str(name.relpath()), types=message.types,
            codec=message.codec, width=message.width, height=message.height,
            init_bytes=len(message.init)))
        self._files[message.key] = _OpenFile(
            fd, row_id, path, path.parent, message.types, len(message.init), name.start_us,
            synced_at=time.monotonic())

    def _create(self, name: SegmentName) -> tuple[SegmentName, Path, int]:
        """O_EXCL create, stepping the collision counter (clock stepped back onto an
        existing start); new directories are fsynced into their parents."""
        while True:
            path = self.root / name.relpath()
            _makedirs_durable(path.parent, self.root)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
            except FileExistsError:
                name = SegmentName(name.channel, name.stream, name.start_us,
                                   name.collision + 1)
                continue
            return name, path, fd

    def _append(self, message: AppendFragment) -> None:
        file = self._files.get(message.key)
        if file is None:
            return  # refused at open, or the volume failed under it
        started = time.monotonic()
        try:
            self._write_retrying(file.fd, message.data, file.path, file.size)
        except OSError as exc:
            self._io_error(exc, f"cannot write {file.path}", file)
            return
        done = time.monotonic()
        self._slow("writing", file.path, done - started)
        if message.seek is not None:
            file.seek.append(message.seek)
        file.size += len(message.data)
        file.end_us = message.end_us
        self._fragments += 1
        self._written += len(message.data)
        self._latencies.append((time.monotonic_ns() - message.enqueued_ns) / 1e6)

    def _write_retrying(self, fd: int, data: bytes, path: Path, size: int = 0) -> None:
        """Write ``data`` at the end of a file of ``size`` bytes. A full disk under the
        overwrite policy gets one chance: cut the partial write off, free space by
        overwriting, write again — so the floor being too small loses nothing."""
        try:
            _write_all(fd, data)
        except OSError as exc:
            if exc.errno != errno.ENOSPC or self.policy.full_policy != "overwrite":
                raise
            os.ftruncate(fd, size)
            os.lseek(fd, size, os.SEEK_SET)
            self._log.warning("the disk is full while writing %s: overwriting now",
                              path.name)
            info = space(self.root)
            self._overwrite(info.free_bytes,
                            max(self._minimum_floor(info.total_bytes), len(data) * 4))
            if self.state != WriterState.READY:
                raise  # nothing could be freed: the volume is full now
            _write_all(fd, data)

    def _close(self, key: int, end_us: int | None, reason: str) -> None:
        self._refused.discard(key)
        file = self._files.pop(key, None)
        if file is None:
            return
        failure: OSError | None = None
        try:
            started = time.monotonic()
            os.fsync(file.fd)
            self._slow("syncing", file.path, time.monotonic() - started)
        except OSError as exc:
            failure = exc  # the row still describes what was written; reconcile checks
        finally:
            os.close(file.fd)
        catalog = self._catalog
        assert catalog is not None
        catalog.close_segment(file.row_id, file.end_us if end_us is None else end_us,
                              file.size, file.types, file.seek, reason)
        self._next["space"] = 0.0  # a segment finished: look at the free space now
        if failure is not None:
            self._io_error(failure, f"cannot sync {file.path}")

    # --- periodic work -------------------------------------------------------------------

    def _housekeeping(self) -> None:
        if self._catalog is None or self.state in (WriterState.FAILED, WriterState.STOPPED):
            return
        now = time.monotonic()
        if now >= self._next["mount"]:
            self._next["mount"] = now + MOUNT_CHECK_INTERVAL_S
            problem = check_still_mounted(self.root, self.mounted)
            if problem is not None:
                self._fail(problem)
                return
        for file in list(self._files.values()):
            if now - file.synced_at >= FSYNC_INTERVAL_S:
                self._sync_open(file, now)
        if now >= self._next["commit"]:
            self._next["commit"] = now + COMMIT_INTERVAL_S
            for file in self._files.values():
                self._catalog.update_open(file.row_id, file.end_us, file.size, file.types)
            self._catalog.commit()
        if now >= self._next["space"]:
            self._next["space"] = now + SPACE_CHECK_INTERVAL_S
            self._enforce_space()
        if now >= self._next["age"]:
            self._next["age"] = now + AGE_CHECK_INTERVAL_S
            self._expire_by_age()

    def _sync_open(self, file: _OpenFile, now: float) -> None:
        try:
            os.fsync(file.fd)
        except OSError as exc:
            self._io_error(exc, f"cannot sync {file.path}", file)
            return
        self._slow("syncing", file.path, time.monotonic() - now)
        file.synced_at = now

    def _rate(self) -> float:
        samples = self._rate_samples
        if len(samples) < 2:
            return 0.0
        (t0, b0), (t1, b1) = samples[0], samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0

    def _enforce_space(self) -> None:
        self._rate_samples.append((time.monotonic(), self._written))
        info = space(self.root)
        floor = max(free_space_floor(info.total_bytes, self.policy, self._rate()),
                    self._minimum_floor(info.total_bytes))
        self._space = (info.total_bytes, info.free_bytes, floor)
        if info.free_bytes >= floor:
            if self.state == WriterState.FULL:
                self.state, self.reason = WriterState.READY, None
                self._notice("writable", f"volume {self._name} has room again "
                             f"({info.free_bytes >> 20} MiB free)")
            return
        if self.policy.full_policy == "stop":
            self._full(f"volume {self._name} is full ({info.free_bytes >> 20} MiB free, "
                       f"keeping {floor >> 20} MiB): the disk-full policy is stop, so "
                       "recording stopped here")
            return
        self._overwrite(info.free_bytes, floor)

    def _minimum_floor(self, total_bytes: int) -> int:
        """Whatever the settings say (0 % and 0 minutes are allowed), keep room for what
        arrives before the next space check, plus 1 MiB: a floor of 0 would let the disk
        fill under the writer and flip between full and writable."""
        return int(min(total_bytes / 2, (1 << 20) + SPACE_CHECK_INTERVAL_S * self._rate()))

    def _overwrite(self, free: int, floor: int) -> None:
        catalog = self._catalog
        assert catalog is not None
        goal = overwrite_target(floor)
        victims: list[SegmentRow] = []
        for row in catalog.oldest_unlocked(MAX_DELETIONS_PER_PASS):
            if free >= goal:
                break
            victims.append(row)
            free += row.bytes
        if not victims:
            what = ("holds only locked recordings" if catalog.total_bytes()
                    else "holds no recordings to overwrite (other files fill it)")
            self._full(f"volume {self._name} is full ({free >> 20} MiB free, keeping "
                       f"{floor >> 20} MiB) and {what}: recording stopped here until "
                       "space is freed")
            return
        self._delete([row.id for row in victims],
                     f"overwrite: free space below the floor of {floor >> 20} MiB")
        info = space(self.root)
        self._space = (info.total_bytes, info.free_bytes, floor)

    def _expire_by_age(self) -> None:
        catalog = self._catalog
        assert catalog is not None
        now_us = time.time_ns() // 1000
        for channel, max_age_us in sorted(self.policy.max_age_us.items()):
            while rows := catalog.oldest_unlocked(MAX_DELETIONS_PER_PASS, channel=channel,
                                                  before_us=now_us - max_age_us):
                days = max_age_us / 86_400e6
                self._delete([row.id for row in rows],
                             f"older than the channel's limit of {days:g} days")
                if len(rows) < MAX_DELETIONS_PER_PASS:
                    break

    def delete(self, ids: list[int], reason: str) -> list[SegmentRow]:
        """Writer thread only (through ``run_job``): delete unlocked segments by id."""
        return self._delete(ids, reason)

    def _delete(self, ids: list[int], reason: str) -> list[SegmentRow]:
        catalog = self._catalog
        assert catalog is not None
        rows = catalog.queue_deletions(ids)
        directories = set()
        for row in rows:
            path = self.root / row.path
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            directories.add(path.parent)
        for directory in directories:
            fsync_directory(directory)
            _remove_if_empty(directory, self.root)
        catalog.finish_deletions([row.path for row in rows])
        if rows:
            message = describe_deletions(self._name, reason, rows)
            self._log.info("%s", message)
            self._notice("deleted", message, tuple(rows))
        return rows

    # --- failures ------------------------------------------------------------------------

    def _io_error(self, exc: OSError, doing: str, file: _OpenFile | None = None) -> None:
        if exc.errno == errno.ENOSPC:
            if file is not None:
                self._truncate(file)
            self._full(f"{doing}: the disk is full")
            return
        self._fail(f"{doing}: {exc.strerror or exc}")

    def _truncate(self, file: _OpenFile) -> None:
        """Cut a partly written fragment off, so the file ends on a complete one."""
        with contextlib.suppress(OSError):  # if not, reconcile cuts it at the next start
            os.ftruncate(file.fd, file.size)

    def _full(self, message: str) -> None:
        if self.state == WriterState.FULL:
            return
        self.state, self.reason = WriterState.FULL, message
        self._log.warning("%s", message)
        self._close_all("disk full")
        self._notice("full", message)

    def _fail(self, reason: str) -> None:
        if self.state == WriterState.FAILED:
            return
        self.state, self.reason = WriterState.FAILED, reason
        self._log.error("volume %s failed: %s; nothing more is written there", self._name,
                        reason)
        for file in self._files.values():
            with contextlib.suppress(OSError):
                os.close(file.fd)
        self._files.clear()
        # Let go of the catalog too: a pulled disk stays busy (a loop device cannot even
        # be deleted) while anything holds a file open on it. Its rows are committed
        # every COMMIT_INTERVAL_S; what was not is recovered by reconcile next time.
        catalog, self._catalog = self._catalog, None
        if catalog is not None:
            with contextlib.suppress(Exception):
                catalog.close()
        self._notice("failed", reason)

    def _close_all(self, reason: str) -> None:
        for key in list(self._files):
            self._close(key, None, reason)
        if self._catalog is not None:
            self._catalog.commit()

    def _shutdown(self) -> None:
        if self.state != WriterState.FAILED:
            self._close_all("stop")
        if self._catalog is not None:
            try:
                self._catalog.close()
            except Exception:
                self._log.exception("closing the catalog")
        if self.state != WriterState.FAILED:
            self.state = WriterState.STOPPED

    def _slow(self, doing: str, path: Path, seconds: float) -> None:
        if seconds >= SLOW_WRITE_S:
            message = f"{doing} {path.name} took {seconds:.1f} s: the disk is struggling"
            self._log.warning("%s", message)
            self._notice("slow", message)

    def _notice(self, kind: str, message: str, rows: tuple[SegmentRow, ...] = ()) -> None:
        try:
            self._on_notice(WriterNotice(self._name, kind, message, rows))
        except Exception:
            self._log.exception("delivering a writer notice")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _makedirs_durable(directory: Path, root: Path) -> None:
    """Create ``directory`` (under ``root``) and fsync each new entry into its parent."""
    if directory.is_dir():
        return
    missing = []
    current = directory
    while not current.is_dir() and current != root:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o750)
        except FileExistsError:
            continue
        fsync_directory(path.parent)


def _remove_if_empty(directory: Path, root: Path) -> None:
    """Day directories emptied by retention go too (and their stream/channel parents)."""
    while directory != root and directory.name != "rec":
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
