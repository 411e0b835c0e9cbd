"""The recording volumes as a service: opens them, watches them, assigns streams, answers
"what was recorded when" across all of them.

A volume is usable only with its identity file (``volume.py``); one configured without
it (a bay whose disk is not mounted, a disk never prepared) stays "missing" and is
looked at again every ``RETRY_MISSING_S``, so a disk mounted later is picked up without a
restart. Each usable volume has its own writer thread (``writer.py``).

Assignment: each channel names a storage group (the vendor's "disk group"); its streams
go to a writable volume of that group — the one with the fewest streams — and stay
there until it stops being writable (full under the stop policy, failed, stalled,
pulled). Then they move to another writable volume of the group, or, failing that, of
any group (said in the log: footage beats the grouping). The recorder hears about every
change through ``on_change`` and re-asks.

A writer whose thread has not come round its loop in ``STALL_S`` is "stalled" (a disk
hanging in the kernel); its streams move elsewhere. Its thread cannot be killed, but
it is a daemon thread and holds nothing the others need.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from nvrd.config import NvrConfig
from nvrd.config.schema import VolumeConfig
from nvrd.service import Health, Service
from nvrd.storage.catalog import ALL as ALL_TYPES
from nvrd.storage.catalog import Catalog, CatalogReader, Interval, SegmentRow
from nvrd.storage.retention import RetentionPolicy, quota_victims
from nvrd.storage.timeline import days_with_recordings, merge_intervals
from nvrd.storage.volume import VolumeError, open_volume
from nvrd.storage.writer import VolumeWriter, WriterNotice, WriterState
from nvrd.system.auditlog import AuditLog

logger = logging.getLogger(__name__)

T = TypeVar("T")

MONITOR_INTERVAL_S = 1.0
RETRY_MISSING_S = 5.0
RETRY_FAILED_S = 30.0
STALL_S = 10.0
QUOTA_INTERVAL_S = 30.0
WRITER_STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class RecordedSegment:
    """A catalog row with where its file is now (playback and export read the file)."""

    volume: str
    path: Path
    """Absolute: the volume's root joined with the row's relative path."""
    row: SegmentRow


@dataclass(frozen=True, slots=True)
class VolumeStatus:
    name: str
    path: str
    group: int
    state: str
    """missing, starting, ready, full, failed, stalled."""
    reason: str | None
    uuid: str | None
    total_bytes: int | None
    free_bytes: int | None
    floor_bytes: int | None
    queued_bytes: int
    open_segments: int
    write_latency_ms_p50: float | None
    write_latency_ms_p99: float | None
    streams: tuple[str, ...]
    """Streams recorded here now ("ch3-main")."""


class _Volume:
    """One configured volume and, once opened, its writer."""

    def __init__(self, config: VolumeConfig, path: Path) -> None:
        self.config = config
        self.path = path
        self.name = config.name or path.name
        self.writer: VolumeWriter | None = None
        self.problem: str | None = "not opened yet"
        self.stalled = False
        self.failed = False  # its writer failed; stays so until it opens again
        self.retry_at = 0.0
        self.streams: set[tuple[int, str]] = set()

    @property
    def state(self) -> str:
        if self.writer is None:
            # a disk that failed and is still unusable at the retry is reported failed,
            # not merely missing: the technician must know it went wrong, not just away
            return "failed" if self.failed else "missing"
        if self.stalled:
            return "stalled"
        return str(self.writer.state)

    @property
    def writable(self) -> bool:
        return (self.writer is not None and not self.stalled
                and self.writer.state == WriterState.READY)

    @property
    def readable(self) -> bool:
        """Its catalog can be queried: opened and reconciled, not failed."""
        return self.writer is not None and self.writer.state in (WriterState.READY,
                                                                 WriterState.FULL)


class StorageService(Service):
    name = "storage"

    def __init__(self, config: NvrConfig, data_dir: Path, audit: AuditLog) -> None:
        super().__init__()
        self._config = config
        self._data_dir = data_dir
        self._audit = audit
        self._volumes: dict[str, _Volume] = {}
        # Volumes the daemon found itself (disks mounted in the bays), keyed by path;
        # they sit beside the configured ones and survive a configuration reload.
        self._attached: dict[str, VolumeConfig] = {}
        self._listeners: list[Callable[[], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._apply_volumes(self._config)
        if not self._volumes:
            logger.warning("no recording volume yet: storage.volumes is empty and no bay "
                           "disk is mounted; recording starts when one is")
        self._tasks = [asyncio.create_task(self._monitor(), name="storage-monitor"),
                       asyncio.create_task(self._quota_loop(), name="storage-quota")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(self._stop_writer(v) for v in self._volumes.values()))

    async def apply_config(self, config: NvrConfig) -> None:
        self._config = config
        await self._apply_volumes(config)
        for volume in self._volumes.values():
            if volume.writer is not None:
                volume.writer.policy = self._policy()
        self._changed()

    def health(self) -> Health:
        dead = [v.name for v in self._volumes.values()
                if v.writer is not None and not v.writer.alive()
                and v.writer.state not in (WriterState.FAILED, WriterState.STOPPED)]
        if dead:
            return Health(False, "volume writer thread died: " + ", ".join(dead))
        return Health(True)

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (on the loop) whenever a volume becomes or stops being
        writable."""
        self._listeners.append(listener)

    # --- assignment ----------------------------------------------------------------------

    def assign(self, channel: int, stream: str, group: int) -> VolumeWriter | None:
        """The writer ``channel``'s ``stream`` records into now (sticky), or None."""
        key = (channel, stream)
        current = next((v for v in self._volumes.values() if key in v.streams), None)
        if current is not None and current.writable and current.config.group == group:
            return current.writer
        if current is not None:
            current.streams.discard(key)
        candidates = [v for v in self._volumes.values() if v.writable]
        in_group = [v for v in candidates if v.config.group == group]
        if not in_group and candidates:
            logger.warning("channel %d %s: no writable volume in storage group %d; "
                           "recording on volume %s of group %d instead", channel, stream,
                           group, candidates[0].name, candidates[0].config.group)
        pool = in_group or candidates
        if not pool:
            return None
        chosen = min(pool, key=lambda v: (len(v.streams), v.name))
        chosen.streams.add(key)
        if current is not None and current is not chosen:
            logger.warning("channel %d %s moves from volume %s (%s) to volume %s", channel,
                           stream, current.name, current.problem or current.state,
                           chosen.name)
        return chosen.writer

    def release(self, channel: int, stream: str) -> None:
        for volume in self._volumes.values():
            volume.streams.discard((channel, stream))

    # --- status and queries --------------------------------------------------------------

    def snapshot(self) -> list[VolumeStatus]:
        result = []
        for volume in self._volumes.values():
            writer = volume.writer
            stats = writer.stats() if writer is not None else None
            latencies = sorted(stats.write_latency_ms) if stats else []
            result.append(VolumeStatus(
                name=volume.name, path=str(volume.path), group=volume.config.group,
                state=volume.state,
                reason=(stats.reason if stats and stats.reason else None) if writer
                else volume.problem,
                uuid=writer.mounted.identity.uuid if writer else None,
                total_bytes=stats.total_bytes if stats else None,
                free_bytes=stats.free_bytes if stats else None,
                floor_bytes=stats.floor_bytes if stats else None,
                queued_bytes=stats.queued_bytes if stats else 0,
                open_segments=stats.open_segments if stats else 0,
                write_latency_ms_p50=_percentile(latencies, 0.5),
                write_latency_ms_p99=_percentile(latencies, 0.99),
                streams=tuple(f"ch{c}-{s}" for c, s in sorted(volume.streams))))
        return result

    def any_writable(self) -> bool:
        """Some volume is recorded on now (cheap: no statistics, for the panel lamps)."""
        return any(v.writable for v in self._volumes.values())

    def writers(self) -> dict[str, VolumeWriter]:
        return {v.name: v.writer for v in self._volumes.values() if v.writer is not None}

    async def intervals(self, channel: int, stream: str, start_us: int, end_us: int,
                        type_mask: int = ALL_TYPES) -> list[Interval]:
        """Recorded intervals of a stream within a range (clipped to it), merged across
        volumes; what is not covered is a gap."""
        found = await self._each_reader(
            lambda reader: reader.intervals(channel, stream, start_us, end_us, type_mask))
        merged = merge_intervals(i for _, intervals in found for i in intervals)
        return [Interval(max(i.start_us, start_us), min(i.end_us, end_us), i.types)
                for i in merged]

    async def locked_intervals(self, channel: int, stream: str | None, start_us: int,
                               end_us: int) -> list[Interval]:
        """The locked spans of a channel's stream (None: of either stream) within a range
        (clipped to it), merged across volumes and streams; types are OR-ed per span."""
        streams = ("main", "sub") if stream is None else (stream,)
        found = await self._each_reader(lambda reader: [
            i for s in streams for i in reader.locked_intervals(channel, s, start_us, end_us)])
        merged = merge_intervals((i for _, intervals in found for i in intervals),
                                 split_on_types=False)
        return [Interval(max(i.start_us, start_us), min(i.end_us, end_us), i.types)
                for i in merged]

    async def segments(self, channel: int, stream: str, start_us: int, end_us: int,
                       type_mask: int = ALL_TYPES) -> list[tuple[str, SegmentRow]]:
        """The segments overlapping a range on every volume, oldest first."""
        found = await self._each_reader(
            lambda reader: reader.segments(channel, stream, start_us, end_us, type_mask))
        rows = [(name, row) for name, result in found for row in result]
        rows.sort(key=lambda item: (item[1].start_us, item[1].id))
        return rows

    async def recorded_segments(self, channel: int, stream: str, start_us: int, end_us: int,
                                type_mask: int = ALL_TYPES) -> list[RecordedSegment]:
        """:meth:`segments` with each file's absolute path, oldest first. A file may still
        vanish afterwards (retention, a pulled disk): readers must expect that."""
        roots = {v.name: v.path for v in self._volumes.values()}
        return [RecordedSegment(name, roots[name] / row.path, row)
                for name, row in await self.segments(channel, stream, start_us, end_us,
                                                     type_mask)
                if name in roots]

    async def segments_at(self, channel: int, stream: str, instant_us: int
                          ) -> list[tuple[str, SegmentRow]]:
        found = await self._each_reader(
            lambda reader: reader.segments_at(channel, stream, instant_us))
        return [(name, row) for name, result in found for row in result]

    async def days_with_recordings(self, channel: int, stream: str, year: int, month: int,
                                   tz: zoneinfo.ZoneInfo) -> list[int]:
        def query(reader: CatalogReader) -> list[int]:
            return days_with_recordings(
                lambda start, end: reader.has_recording(channel, stream, start, end),
                year, month, tz)
        found = await self._each_reader(query)
        return sorted({day for _, days in found for day in days})

    async def oldest_footage_us(self) -> dict[int, int] | None:
        """Per channel, the start of its oldest footage on every volume (locked included;
        channels without footage are absent). None when that cannot be told: no volume,
        or one is not readable now (a disk missing or starting may hold older footage)."""
        volumes = list(self._volumes.values())
        if not volumes or not all(v.readable for v in volumes):
            return None
        found = await self._each_reader(lambda reader: reader.oldest_start_by_channel())
        if len(found) != len(volumes):  # one could not be queried after all
            return None
        oldest: dict[int, int] = {}
        for _, per_channel in found:
            for channel, start_us in per_channel.items():
                oldest[channel] = min(start_us, oldest.get(channel, start_us))
        return oldest

    async def set_locked(self, channel: int, stream: str | None, start_us: int, end_us: int,
                         locked: bool) -> int:
        """Lock (or unlock) a channel's recordings in a range on every volume."""
        futures = [asyncio.wrap_future(writer.run_job(
            lambda catalog: catalog.set_locked(channel, stream, start_us, end_us, locked)))
            for writer in self._readable_writers()]
        return sum(await asyncio.gather(*futures))

    async def _each_reader(self, query: Callable[[CatalogReader], T]
                              ) -> list[tuple[str, T]]:
        def run(root: Path) -> T:
            with CatalogReader(root) as reader:
                return query(reader)
        volumes = [v for v in self._volumes.values() if v.readable]
        results = await asyncio.gather(*(asyncio.to_thread(run, v.path) for v in volumes),
                                       return_exceptions=True)
        found = []
        for volume, result in zip(volumes, results, strict=True):
            if isinstance(result, BaseException):
                logger.warning("volume %s cannot be queried: %s", volume.name, result)
                continue
            found.append((volume.name, result))
        return found

    def _readable_writers(self) -> Iterator[VolumeWriter]:
        for volume in self._volumes.values():
            if volume.readable and volume.writer is not None:
                yield volume.writer

    # --- volumes -------------------------------------------------------------------------

    def _policy(self) -> RetentionPolicy:
        storage = self._config.storage
        return RetentionPolicy(
            full_policy=storage.full_policy, min_free_percent=storage.min_free_percent,
            reserve_seconds=storage.reserve_minutes * 60,
            max_age_us={c.channel: c.max_age_days * 86_400_000_000
                        for c in self._config.cameras if c.max_age_days})

    def _resolve(self, config: VolumeConfig) -> Path:
        path = Path(config.path)
        return path if path.is_absolute() else self._data_dir / path

    async def attach(self, volume: VolumeConfig) -> None:
        """Record on ``volume`` too (a bay disk that was just mounted), until ``detach``.

        It goes through the same checks as a configured volume: no identity file, no
        writer. Attaching a path that is configured as well changes nothing.
        """
        self._attached[str(self._resolve(volume))] = volume
        await self._apply_volumes(self._config)
        self._changed()

    async def detach(self, path: str | Path) -> None:
        """Stop recording on an attached volume (its disk is being removed) and wait for
        its writer to close what it has open. Streams move to the other volumes."""
        key = str(self._resolve(VolumeConfig(path=str(path))))
        if self._attached.pop(key, None) is not None:
            await self._apply_volumes(self._config)
            self._changed()

    async def _apply_volumes(self, config: NvrConfig) -> None:
        wanted = {str(self._resolve(v)): v for v in config.storage.volumes}
        for key, attached in self._attached.items():
            wanted.setdefault(key, attached)
        for key in [k for k in self._volumes if k not in wanted]:
            volume = self._volumes.pop(key)
            logger.info("volume %s is no longer used (removed from the configuration or "
                        "its disk detached)", volume.name)
            await self._stop_writer(volume)
        for key, volume_config in wanted.items():
            known = self._volumes.get(key)
            if known is None:
                known = self._volumes[key] = _Volume(volume_config, Path(key))
            known.config = volume_config
            name = volume_config.name or Path(key).name
            if any(v.name == name for v in self._volumes.values() if v is not known):
                name = key  # two directories of the same name: the path tells them apart
            known.name = name
            if known.writer is None:
                self._try_open(known)

    def _try_open(self, volume: _Volume) -> None:
        try:
            mounted = open_volume(volume.path)
        except VolumeError as exc:
            if volume.problem != str(exc):
                logger.warning("volume %s not usable: %s", volume.name, exc)
            volume.problem = str(exc)
            volume.retry_at = time.monotonic() + RETRY_MISSING_S
            return
        loop = self._loop
        assert loop is not None
        def deliver(notice: WriterNotice) -> None:  # from the writer thread
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._on_notice, notice)

        writer = VolumeWriter(volume.name, volume.path, mounted, self._policy(), deliver)
        volume.writer, volume.problem, volume.stalled = writer, None, False
        volume.failed = False
        logger.info("volume %s (%s) opened: %s", volume.name, mounted.identity.uuid,
                    volume.path)
        writer.start()

    async def _stop_writer(self, volume: _Volume) -> None:
        writer, volume.writer = volume.writer, None
        volume.streams.clear()
        if writer is not None and not await asyncio.to_thread(writer.stop,
                                                              WRITER_STOP_TIMEOUT_S):
            logger.error("volume %s: the writer did not stop within %g s (disk hung?)",
                         volume.name, WRITER_STOP_TIMEOUT_S)

    def _on_notice(self, notice: WriterNotice) -> None:
        volume = next((v for v in self._volumes.values() if v.name == notice.volume), None)
        if volume is None:
            return
        result = "failed" if notice.kind in ("failed", "full") else "ok"
        if notice.kind != "slow":  # slow writes are logged by the writer, often
            self._audit.record("storage", f"volume {notice.volume} {notice.kind}",
                               result=result, details=notice.message)
        if notice.kind == "failed":
            volume.problem, volume.failed = notice.message, True
            volume.retry_at = time.monotonic() + RETRY_FAILED_S
        if notice.kind in ("ready", "full", "writable", "failed"):
            if notice.kind == "ready":
                logger.info("volume %s ready: %s", notice.volume, notice.message)
            self._changed()

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    async def _monitor(self) -> None:
        while True:
            await asyncio.sleep(MONITOR_INTERVAL_S)
            changed = False
            now = time.monotonic()
            for volume in list(self._volumes.values()):
                writer = volume.writer
                if writer is None:
                    if now >= volume.retry_at:
                        self._try_open(volume)
                    continue
                if writer.state == WriterState.FAILED and now >= volume.retry_at:
                    # a failed disk may come back (re-plugged, remounted): start afresh
                    await self._stop_writer(volume)
                    self._try_open(volume)
                    changed = True
                    continue
                stalled = writer.stats().heartbeat_age_s > STALL_S
                if stalled != volume.stalled:
                    volume.stalled = stalled
                    changed = True
                    message = (f"volume {volume.name} stopped responding (a write has hung "
                               f"for over {STALL_S:g} s): its streams move elsewhere"
                               if stalled else f"volume {volume.name} responds again")
                    (logger.error if stalled else logger.warning)("%s", message)
                    self._audit.record("storage", f"volume {volume.name} "
                                       f"{'stalled' if stalled else 'recovered'}",
                                       result="failed" if stalled else "ok",
                                       details=message)
            if changed:
                self._changed()

    async def _quota_loop(self) -> None:
        while True:
            await asyncio.sleep(QUOTA_INTERVAL_S)
            with contextlib.suppress(Exception):
                await self.enforce_quotas()

    async def enforce_quotas(self) -> None:
        """Delete the oldest unlocked footage of channels over their byte quota."""
        quotas = {c.channel: int(c.quota_gb * 1e9) for c in self._config.cameras
                  if c.quota_gb is not None}
        if not quotas:
            return
        writers = {v.name: v.writer for v in self._volumes.values()
                   if v.readable and v.writer is not None}
        totals: dict[int, int] = {}
        for writer in writers.values():
            sizes: dict[int, int] = await asyncio.wrap_future(
                writer.run_job(Catalog.bytes_by_channel))
            for channel, size in sizes.items():
                totals[channel] = totals.get(channel, 0) + size
        for channel, quota in quotas.items():
            excess = totals.get(channel, 0) - quota
            if excess <= 0:
                continue
            candidates: list[tuple[str, SegmentRow]] = []
            for name, writer in writers.items():
                rows = await asyncio.wrap_future(writer.run_job(
                    functools.partial(_oldest_of_channel, channel=channel)))
                candidates += [(name, row) for row in rows]
            reason = f"channel {channel} over its quota of {quota / 1e9:g} GB"
            for name, ids in quota_victims(excess, candidates).items():
                writer = writers[name]
                await asyncio.wrap_future(writer.run_job(
                    functools.partial(_delete_ids, writer=writer, ids=ids, reason=reason)))


def _oldest_of_channel(catalog: Catalog, *, channel: int) -> list[SegmentRow]:
    return catalog.oldest_unlocked(200, channel=channel)


def _delete_ids(_catalog: Catalog, *, writer: VolumeWriter, ids: list[int], reason: str
                ) -> list[SegmentRow]:
    return writer.delete(ids, reason)


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))
    return round(sorted_values[index], 2)
