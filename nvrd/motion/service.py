"""Motion detection as a daemon service: analysers on the sub streams, events on the bus,
bitmaps in ``motion.db`` and their retention.

``MotionDetection`` is the mechanism: one ``MotionAnalyser`` per channel with motion
enabled, tapped on the ingest's sub stream (``attach_motion`` builds one on its own, for
tests of the tap); ``apply_config`` replaces the analysers whose settings changed (a new
detector: its background restarts) and keeps the others. ``MotionService`` runs it in
the daemon:

- Each region start/stop is a ``motion`` event with source ``camera:<channel>/region:<n>``
  (n = the region's 1-based place in ``cameras[].motion.regions``, as the installer
  numbers them), the detector's time, and ``details`` ``{"region": n, "name": …}``. A
  linkage rule naming ``camera:<channel>`` covers every region of the channel.
- Every start gets its stop: an analyser being replaced or removed (settings changed,
  camera removed) and the service stopping end the analysers' sessions, which stops
  their active regions at the last analysed frame; a start still open after that (a
  worker that died) is stopped at once, with ``details.reason``. A region's name is the
  one it had at its start.
- Retention of ``motion.db``: bitmaps of seconds without footage are useless to a smart
  search, so at start and every ``PRUNE_INTERVAL_S`` each channel's rows are pruned
  (off the loop) before ``prune_cutoffs`` (see there).

Threads: everything here is loop-only; the analysers' workers call back through
``call_soon_threadsafe``; the store and pruning run in the default executor.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nvrd.config import NvrConfig
from nvrd.config.schema import MotionConfig
from nvrd.events.bus import EventBus
from nvrd.events.model import Event, EventKind, Phase
from nvrd.motion.analyser import MotionAnalyser, MotionStats, RegionCallback
from nvrd.motion.detector import Phase as RegionPhase
from nvrd.motion.store import MotionStore
from nvrd.record.ingest import PacketSink
from nvrd.record.ingest_service import IngestService
from nvrd.service import Health, Service

logger = logging.getLogger(__name__)

PRUNE_INTERVAL_S = 3600.0
NO_FOOTAGE_GRACE_US = 3_600_000_000
"""A channel without any footage keeps the last hour of bitmaps: a recording that has
just begun (event recording with its pre-record) may not be in the catalog yet."""
DECODE_WINDOW_S = 30.0
"""Decode errors are judged over about this long (health)."""
STOPPED = "motion detection stopped"
REPLACED = "the channel's motion settings changed"

OldestFootage = Callable[[], Awaitable[Mapping[int, int] | None]]
"""Per channel, the start (UTC µs) of its oldest footage kept; None if unknown
(``StorageService.oldest_footage_us``)."""


def motion_settings(config: NvrConfig) -> dict[int, MotionConfig]:
    """Channels whose sub stream is analysed, with their settings."""
    return {camera.channel: camera.motion for camera in config.cameras
            if camera.enabled and camera.sub is not None and camera.motion.enabled}


def region_source(channel: int, region: int) -> str:
    """The event source of a channel's motion region (1-based)."""
    return f"camera:{channel}/region:{region}"


class MotionDetection:
    """The analysers tapped on the ingest (loop-only)."""

    def __init__(self, ingest: IngestService, on_region: RegionCallback,
                 store: MotionStore | None) -> None:
        self._ingest = ingest
        self._on_region = on_region
        self._store = store
        self._analysers: dict[int, MotionAnalyser] = {}

    def analyser(self, channel: int) -> MotionAnalyser | None:
        return self._analysers.get(channel)

    def analysers(self) -> dict[int, MotionAnalyser]:
        return dict(self._analysers)

    def _tap(self, channel: int, stream: str) -> PacketSink | None:
        return self._analysers.get(channel) if stream == "sub" else None

    async def apply_config(self, config: NvrConfig) -> None:
        """The replaced analysers are detached and stopped (their active regions stop)
        before their successors start, so a region's stop never follows its successor's
        start."""
        wanted = motion_settings(config)
        stale = [ch for ch, a in self._analysers.items() if wanted.get(ch) != a.config]
        removed = [self._analysers.pop(ch) for ch in stale]
        if removed:
            self._ingest.refresh_sinks()  # detaches them (their sessions end)
            await asyncio.gather(*(asyncio.to_thread(a.stop) for a in removed))
        loop = asyncio.get_running_loop()
        for channel, settings in wanted.items():
            if channel not in self._analysers:
                analyser = MotionAnalyser(channel, settings, self._on_region, self._store,
                                          loop=loop)
                analyser.start()
                self._analysers[channel] = analyser
        self._ingest.refresh_sinks()

    async def stop(self) -> None:
        self._ingest.remove_tap(self._tap)
        analysers, self._analysers = list(self._analysers.values()), {}
        await asyncio.gather(*(asyncio.to_thread(a.stop) for a in analysers))


async def attach_motion(ingest: IngestService, config: NvrConfig, on_region: RegionCallback,
                        store: MotionStore | None) -> MotionDetection:
    """Tap motion detection on ``ingest``'s sub streams as ``config`` asks."""
    motion = MotionDetection(ingest, on_region, store)
    await motion.apply_config(config)
    ingest.add_tap(motion._tap)
    return motion


def prune_cutoffs(channels: Collection[int], config: NvrConfig,
                  oldest_footage: Mapping[int, int] | None, now_us: int) -> dict[int, int]:
    """Per channel of ``channels``, the UTC second before which its bitmaps can go.

    With the oldest footage of every volume known: that footage's start (its second is
    kept), or ``now − NO_FOOTAGE_GRACE_US`` for a channel without footage. Unknown (no
    volume, or a disk missing or starting, which may hold older footage): the channel's
    ``max_age_days`` (retention deletes older unlocked footage on every disk), else
    nothing. The catalog goes first because it is exact and keeps the bitmaps of locked
    footage, which outlives ``max_age_days``.
    """
    max_age_days = {c.channel: c.max_age_days for c in config.cameras if c.max_age_days}
    cutoffs: dict[int, int] = {}
    for channel in channels:
        if oldest_footage is not None:
            cutoff_us = oldest_footage.get(channel, now_us - NO_FOOTAGE_GRACE_US)
        elif channel in max_age_days:
            cutoff_us = now_us - max_age_days[channel] * 86_400_000_000
        else:
            continue
        cutoffs[channel] = cutoff_us // 1_000_000
    return cutoffs


@dataclass(frozen=True, slots=True)
class _Sample:
    at: float
    """``time.monotonic()``."""
    stats: MotionStats


def decode_trouble(channel: int, before: MotionStats, now: MotionStats,
                   seconds: float) -> str | None:
    """In words, a channel whose sub stream failed to decode between two samples."""
    errors = now.decode_errors - before.decode_errors
    if errors <= 0:
        return None
    frames = now.decoded - before.decoded
    return (f"channel {channel}: the sub stream does not decode for motion detection "
            f"({errors} packet(s) failed, {frames} frame(s) decoded in the last "
            f"{max(1, round(seconds))} s)")


class MotionService(Service):
    name = "motion"

    def __init__(self, config: NvrConfig, ingest: IngestService, bus: EventBus,
                 db_path: Path, *, oldest_footage: OldestFootage | None = None,
                 now_us: Callable[[], int] = lambda: time.time_ns() // 1000) -> None:
        """``oldest_footage``: what retention prunes the bitmaps by (without it, only by
        the cameras' ``max_age_days``)."""
        super().__init__()
        self._config = config
        self._ingest = ingest
        self._bus = bus
        self._db_path = db_path
        self._oldest_footage = oldest_footage
        self._now_us = now_us
        self.store: MotionStore | None = None
        self._detection: MotionDetection | None = None
        self._open: dict[tuple[int, int], str] = {}  # (channel, region) → name at start
        self._samples: dict[int, list[_Sample]] = {}
        self._store_error: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def detection(self) -> MotionDetection | None:
        return self._detection

    async def start(self) -> None:
        """A ``motion.db`` that cannot be opened costs the bitmaps (said in the health),
        not the events, and never the recording: the daemon starts without it."""
        try:
            store: MotionStore | None = await asyncio.to_thread(MotionStore, self._db_path)
        except sqlite3.Error as exc:
            self._store_error = f"{self._db_path} unusable, motion bitmaps not kept: {exc}"
            logger.error("%s", self._store_error)
            store = None
        try:
            self._detection = await attach_motion(self._ingest, self._config,
                                                  self._on_region, store)
        except BaseException:
            if store is not None:
                store.close()
            raise
        self.store = store
        if store is not None:
            self._create_task(self._prune_loop(), "motion-prune")

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        detection, self._detection = self._detection, None
        if detection is not None:
            await detection.stop()
        self._close_open(None, STOPPED)
        store, self.store = self.store, None
        if store is not None:
            await asyncio.to_thread(store.close)

    async def apply_config(self, config: NvrConfig) -> None:
        self._config = config
        detection = self._detection
        if detection is None:
            return
        before = detection.analysers()
        await detection.apply_config(config)
        after = detection.analysers()
        self._close_open({ch for ch, a in before.items() if after.get(ch) is not a}, REPLACED)

    def health(self) -> Health:
        detection = self._detection
        if detection is None:
            return Health(True)
        analysers = detection.analysers()
        dead = sorted(f"channel {ch}" for ch, a in analysers.items() if not a.alive())
        if dead:
            return Health(False, "motion analyser thread died: " + ", ".join(dead))
        # a stream that does not decode is the camera's fault: said, but no restart
        trouble = self._decode_trouble(analysers)
        if self._store_error is not None:
            trouble.insert(0, self._store_error)
        return Health(True, "; ".join(trouble))

    async def prune(self) -> int:
        """One retention pass over ``motion.db``; returns the rows dropped."""
        store = self.store
        if store is None:
            return 0
        oldest = await self._oldest_footage() if self._oldest_footage is not None else None
        channels = await asyncio.to_thread(store.channels)
        cutoffs = prune_cutoffs(channels, self._config, oldest, self._now_us())

        def run() -> int:
            return sum(store.prune_before(second, channel)
                       for channel, second in cutoffs.items())

        dropped = await asyncio.to_thread(run)
        if dropped:
            logger.info("motion bitmaps: %d second(s) older than the footage kept dropped",
                        dropped)
        return dropped

    # --- loop-only -------------------------------------------------------------------

    def _on_region(self, channel: int, region: int, phase: RegionPhase, time_us: int) -> None:
        key = (channel, region)
        if phase == "start":
            name = self._region_name(channel, region)
            self._open[key] = name
            self._publish(channel, region, name, Phase.START, time_us)
        else:
            name = self._open.pop(key, "") or self._region_name(channel, region)
            self._publish(channel, region, name, Phase.STOP, time_us)

    def _close_open(self, channels: Collection[int] | None, reason: str) -> None:
        """Stop the starts still open on ``channels`` (None: all) now."""
        for key in [k for k in self._open if channels is None or k[0] in channels]:
            channel, region = key
            name = self._open.pop(key)
            self._publish(channel, region, name, Phase.STOP, self._now_us(), reason=reason)

    def _publish(self, channel: int, region: int, name: str, phase: Phase, time_us: int,
                 reason: str | None = None) -> None:
        details: dict[str, object] = {"region": region, "name": name}
        if reason is not None:
            details["reason"] = reason
        self._bus.publish(Event(EventKind.MOTION, region_source(channel, region), channel,
                                phase, time_us, details))

    def _region_name(self, channel: int, region: int) -> str:
        for camera in self._config.cameras:
            if camera.channel == channel and 1 <= region <= len(camera.motion.regions):
                return camera.motion.regions[region - 1].name
        return f"Region {region}"

    def _decode_trouble(self, analysers: Mapping[int, MotionAnalyser]) -> list[str]:
        """Compares each analyser's counters with a sample about ``DECODE_WINDOW_S`` old
        (samples every tenth of the window, so the answer is cheap and recent)."""
        now = time.monotonic()
        trouble = []
        for channel in list(self._samples):
            if channel not in analysers:
                del self._samples[channel]
        for channel, analyser in sorted(analysers.items()):
            stats = analyser.stats()
            samples = self._samples.setdefault(channel, [])
            if not samples or now - samples[-1].at >= DECODE_WINDOW_S / 10:
                samples.append(_Sample(now, stats))
            while len(samples) > 1 and now - samples[1].at >= DECODE_WINDOW_S:
                samples.pop(0)
            words = decode_trouble(channel, samples[0].stats, stats, now - samples[0].at)
            if words is not None:
                trouble.append(words)
        return trouble

    async def _prune_loop(self) -> None:
        while True:
            try:
                await self.prune()
            except Exception:
                logger.exception("motion bitmaps not pruned")
            await asyncio.sleep(PRUNE_INTERVAL_S)

    def _create_task(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
