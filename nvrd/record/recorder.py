"""Decides, per channel and at every moment, what is recorded and where.

Inputs: the channel's mode (auto / manual / off), its weekly schedule (in the box's time
zone, holidays included), the events running on it (motion, alarm, intelligent — from
the event engine of a later issue, or ``start_event``/``stop_event`` from the API and
tests) with their post-record tails, and the volumes the storage service offers. Output:
each recorded stream's ``StreamSegmenter`` gets the record-type flags to record with (0 =
keep only the pre-record buffer) and the volume writer to send segments to.

Nothing here polls: a channel is re-evaluated when an event starts or stops, when a
post-record tail ends, and at the next schedule boundary (``next_change_us``), each
with one timer; plus a slow safety tick that also catches the wall clock being set.

Threads: everything here runs on the loop. Segmenters run in reader threads and read
``flags``/``target``/``settings`` (plain attribute swaps) once per packet; their notices
come back through ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field

from nvrd.config import NvrConfig
from nvrd.config.schema import CameraConfig
from nvrd.record.clock import Clock, SystemClock
from nvrd.record.schedule import (
    ChannelPlan,
    EventKind,
    channel_plan,
    next_change_us,
    record_flags,
    trigger_at,
)
from nvrd.record.segmenter import SegmenterSettings, SegmenterStatus, StreamSegmenter
from nvrd.service import Health, Service
from nvrd.storage.model import RecordType
from nvrd.storage.service import StorageService
from nvrd.system.auditlog import AuditLog

logger = logging.getLogger(__name__)

SAFETY_TICK_S = 10.0
STREAM_INDEX = {"main": 0, "sub": 1}
_GOLDEN = 0.6180339887498949


@dataclass(frozen=True, slots=True)
class ChannelRecording:
    channel: int
    mode: str
    types: int
    """What the channel should record now (RecordType flags; 0 = nothing)."""
    events: tuple[str, ...]
    """Events keeping it recording (running, or in their post-record tail)."""
    streams: dict[str, SegmenterStatus]


@dataclass(slots=True)
class _Channel:
    plan: ChannelPlan
    group: int
    settings_key: tuple[object, ...]
    generation: int = 0
    sources: dict[EventKind, set[str]] = field(default_factory=dict)
    post_until_us: dict[EventKind, int] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None
    flags: int = 0


def rotate_offset_us(channel: int, stream: str, segment_us: int) -> int:
    """Spread rotations of all streams over the segment length (golden-ratio steps keep
    any number of streams well apart), so fsyncs and catalog rows do not bunch up."""
    index = (channel - 1) * 2 + STREAM_INDEX.get(stream, 0)
    return int((index * _GOLDEN % 1.0) * segment_us)


def recorded_streams(camera: CameraConfig) -> list[str]:
    if not camera.enabled:
        return []
    return ["main"] + (["sub"] if camera.sub is not None and camera.record_sub else [])


class RecorderService(Service):
    name = "recorder"

    def __init__(self, config: NvrConfig, storage: StorageService, audit: AuditLog,
                 clock: Clock | None = None) -> None:
        super().__init__()
        self._config = config
        self._storage = storage
        self._audit = audit
        self._clock = clock or SystemClock()
        self._channels: dict[int, _Channel] = {}
        self._segmenters: dict[tuple[int, str], StreamSegmenter] = {}
        self._tick: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._storage.on_change(self._assign_volumes)
        self._apply(self._config)
        self._tick = asyncio.create_task(self._safety_tick(), name="recorder-tick")

    async def stop(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
        for state in self._channels.values():
            if state.timer is not None:
                state.timer.cancel()
        for segmenter in self._segmenters.values():
            segmenter.flags = RecordType(0)

    async def apply_config(self, config: NvrConfig) -> None:
        self._config = config
        self._apply(config)

    def health(self) -> Health:
        return Health(True)

    # --- what others call ----------------------------------------------------------------

    def segmenter(self, channel: int, stream: str) -> StreamSegmenter | None:
        """The recorder the ingest reader of this stream feeds (None: not recorded)."""
        return self._segmenters.get((channel, stream))

    def start_event(self, channel: int, kind: EventKind | str, source: str = "api") -> None:
        """An event began on ``channel``; it records (if the schedule says so) until
        ``stop_event`` with the same source, plus the post-record time."""
        state = self._channel(channel)
        kind = EventKind(kind)
        state.sources.setdefault(kind, set()).add(source)
        state.post_until_us.pop(kind, None)
        self._evaluate(channel)

    def stop_event(self, channel: int, kind: EventKind | str, source: str = "api") -> None:
        state = self._channel(channel)
        kind = EventKind(kind)
        sources = state.sources.get(kind)
        if not sources or source not in sources:
            return
        sources.discard(source)
        if not sources:
            state.post_until_us[kind] = self._clock.wall_us() + state.plan.post_record_us
        self._evaluate(channel)

    def snapshot(self) -> list[ChannelRecording]:
        now = self._clock.wall_us()
        return [
            ChannelRecording(
                channel=channel, mode=state.plan.mode, types=int(state.flags),
                events=tuple(sorted(str(k) for k in self._active(state, now))),
                streams={stream: seg.status() for (c, stream), seg
                         in sorted(self._segmenters.items()) if c == channel})
            for channel, state in sorted(self._channels.items())
        ]

    # --- internals -----------------------------------------------------------------------

    def _channel(self, channel: int) -> _Channel:
        state = self._channels.get(channel)
        if state is None:
            raise KeyError(f"channel {channel} has no camera configured")
        return state

    def _apply(self, config: NvrConfig) -> None:
        cameras = {c.channel: c for c in config.cameras}
        for channel in [c for c in self._channels if c not in cameras]:
            state = self._channels.pop(channel)
            if state.timer is not None:
                state.timer.cancel()
        for camera in cameras.values():
            self._apply_camera(camera, config)
        wanted = {(c.channel, s) for c in cameras.values() for s in recorded_streams(c)}
        for key in [k for k in self._segmenters if k not in wanted]:
            self._segmenters.pop(key).flags = RecordType(0)
            self._storage.release(*key)
        for channel, stream in sorted(wanted):
            self._ensure_segmenter(channel, stream, config)
        self._assign_volumes()
        for channel in self._channels:
            self._evaluate(channel)

    def _apply_camera(self, camera: CameraConfig, config: NvrConfig) -> None:
        plan = channel_plan(camera, config.recording)
        key = (plan, camera.storage_group, config.recording.segment_seconds,
               config.recording.segment_max_mb, config.recording.holidays,
               config.system.timezone)
        state = self._channels.get(camera.channel)
        if state is None:
            self._channels[camera.channel] = _Channel(plan, camera.storage_group, key)
        elif state.settings_key != key:
            state.plan, state.group, state.settings_key = plan, camera.storage_group, key
            state.generation += 1
            logger.info("channel %d: recording settings changed; its segments are cut",
                        camera.channel)

    def _ensure_segmenter(self, channel: int, stream: str, config: NvrConfig) -> None:
        state = self._channels[channel]
        segment_us = config.recording.segment_seconds * 1_000_000
        settings = SegmenterSettings(
            segment_us=segment_us, segment_max_bytes=config.recording.segment_max_mb << 20,
            pre_record_us=state.plan.pre_record_us,
            rotate_offset_us=rotate_offset_us(channel, stream, segment_us),
            generation=state.generation)
        segmenter = self._segmenters.get((channel, stream))
        if segmenter is None:
            self._segmenters[(channel, stream)] = StreamSegmenter(
                channel, stream, settings, self._clock,
                notify=functools.partial(self._notice, channel, stream))
        else:
            segmenter.settings = settings

    def _assign_volumes(self) -> None:
        for (channel, stream), segmenter in self._segmenters.items():
            state = self._channels[channel]
            target = self._storage.assign(channel, stream, state.group)
            if target is None and segmenter.target is not None:
                logger.error("channel %d %s: no writable volume; not recording", channel,
                             stream)
            segmenter.target = target

    def _active(self, state: _Channel, now_us: int) -> set[EventKind]:
        return ({kind for kind, sources in state.sources.items() if sources}
                | {kind for kind, until in state.post_until_us.items() if until > now_us})

    def _evaluate(self, channel: int) -> None:
        state = self._channels.get(channel)
        if state is None:
            return
        now = self._clock.wall_us()
        for kind in [k for k, until in state.post_until_us.items() if until <= now]:
            del state.post_until_us[kind]
        config = self._config
        tz = zoneinfo.ZoneInfo(config.system.timezone)
        schedule, holidays = state.plan.schedule, config.recording.holidays
        flags = record_flags(state.plan.mode, trigger_at(schedule, holidays, tz, now),
                             self._active(state, now))
        if flags != state.flags:
            logger.info("channel %d: recording %s", channel, _describe(flags))
        state.flags = flags
        for stream in ("main", "sub"):
            segmenter = self._segmenters.get((channel, stream))
            if segmenter is not None:
                segmenter.flags = flags
        wake = min([next_change_us(schedule, holidays, tz, now),
                    *state.post_until_us.values()])
        if state.timer is not None:
            state.timer.cancel()
        loop = self._loop or asyncio.get_running_loop()
        state.timer = loop.call_later(max(0.0, (wake - now) / 1e6) + 0.001, self._evaluate,
                                      channel)

    async def _safety_tick(self) -> None:
        while True:
            await asyncio.sleep(SAFETY_TICK_S)
            for channel in list(self._channels):
                self._evaluate(channel)

    def _notice(self, channel: int, stream: str, kind: str, message: str) -> None:
        """From a reader thread: a segmenter's run was cut for a reason a technician may
        need later (clock step, timestamp jump, disk too slow). The audit log takes
        records from any thread."""
        result = "failed" if kind == "cannot-keep-up" else "ok"
        self._audit.record("record", f"channel {channel} {stream}: {kind}", result=result,
                           details=message)


def _describe(flags: RecordType) -> str:
    if not flags:
        return "off (pre-record only)"
    return "+".join(flag.name.lower() for flag in _flags(flags) if flag.name)


def _flags(flags: RecordType) -> Iterable[RecordType]:
    return (flag for flag in RecordType if flag & flags)
