"""The event engine as a service: owns the bus, the event log and the sources.

Built after the hardware (the alarm inputs and PoE ports must exist) and before the
recorder, so linkage (a later step) can reach the recorder's event recording through
the bus. The sources of services that start after it (storage, bays, ingest) only hook
on at ``start`` — their hooks are plain lists that exist from construction — and the
ones that judge the whole box (no disk, network links) begin at ``running``, once every
service has started.

Starts left open by the previous run (the recorder stopped or crashed while an alarm
was active) are stopped at start with ``details.reason`` saying so, so every start in
the log has its stop; a condition that still holds starts again at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from nvrd.config import NvrConfig
from nvrd.events.bus import EventBus
from nvrd.events.live import LiveFeed
from nvrd.events.log import EventLog
from nvrd.events.model import Event, Phase
from nvrd.events.sources.alarm import AlarmInputSource
from nvrd.events.sources.base import Source, now_us
from nvrd.events.sources.disks import DiskSource
from nvrd.events.sources.network import NetworkSource
from nvrd.events.sources.poe import PoeSource
from nvrd.events.sources.security import SecuritySource
from nvrd.events.sources.video import VideoLossSource
from nvrd.hardware.service import HardwareService
from nvrd.record.ingest_service import IngestService
from nvrd.service import Health, Service
from nvrd.storage.bays import BayService
from nvrd.storage.service import StorageService
from nvrd.web.auth.authenticator import AccountsAuthenticator

logger = logging.getLogger(__name__)

RESTARTED = "the recorder stopped while this was going on; checked again at its restart"


class EventService(Service):
    name = "events"

    def __init__(self, config: NvrConfig, log_path: Path, feed: LiveFeed | None = None, *,
                 hardware: HardwareService | None = None,
                 ingest: IngestService | None = None,
                 storage: StorageService | None = None, bays: BayService | None = None,
                 authenticator: AccountsAuthenticator | None = None,
                 extra_sources: Sequence[Source] = ()) -> None:
        super().__init__()
        self._config = config
        self.log = EventLog(log_path, config.events.log_max_rows)
        self.bus = EventBus(self.log, feed)
        self._hardware = hardware
        self._ingest = ingest
        self._storage = storage
        self._bays = bays
        self._authenticator = authenticator
        self._extra = list(extra_sources)
        self.sources: list[Source] = []

    async def start(self) -> None:
        await self.log.start()
        self.bus.bind(first_id=self.log.last_id + 1)
        await self._close_left_open()
        self.sources = self._build_sources()
        for source in self.sources:
            source.connect()

    def running(self) -> None:
        """Every service of the daemon has started: the whole-box sources begin."""
        for source in self.sources:
            try:
                source.running()
            except Exception:
                logger.exception("event source %s did not start", source.name)

    async def stop(self) -> None:
        for source in self.sources:
            source.disconnect()
        self.sources = []
        await self.log.stop()

    async def apply_config(self, config: NvrConfig) -> None:
        self._config = config
        self.log.max_rows = config.events.log_max_rows  # read at the writer's next batch
        for source in self.sources:
            source.apply_config(config)

    def health(self) -> Health:
        failure = self.log.failure()
        return Health(False, failure) if failure is not None else Health(True)

    def _build_sources(self) -> list[Source]:
        publish = self.bus.publish
        sources: list[Source] = []
        hardware = self._hardware
        if hardware is not None and hardware.alarm_io is not None:
            sources.append(AlarmInputSource(publish, hardware.alarm_io))
        if hardware is not None and hardware.poe is not None:
            sources.append(PoeSource(publish, hardware.poe))
        if self._ingest is not None:
            sources.append(VideoLossSource(publish, self._ingest))
        if self._storage is not None or self._bays is not None:
            sources.append(DiskSource(publish, self._config, self._storage, self._bays))
        if self._authenticator is not None:
            sources.append(SecuritySource(publish, self._authenticator))
        sources.append(NetworkSource(publish, self._config))
        return sources + self._extra

    async def _close_left_open(self) -> None:
        left_open = await asyncio.to_thread(self.log.open_starts)
        if not left_open:
            return
        self.bus.adopt(left_open)
        at = now_us()
        for start in left_open:
            self.bus.publish(Event(start.kind, start.source, start.channel, Phase.STOP,
                                   max(at, start.time_us), {"reason": RESTARTED}))
        logger.info("%d event(s) left open by the last run stopped", len(left_open))
