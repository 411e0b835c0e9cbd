"""Keeps every enabled camera's streams connected and knows their status.

The recorder attaches to the same readers: each stream's packets go to the sink
``sinks(channel, stream)`` returns (its segmenter), re-asked after every configuration
change. Status changes that matter to a technician (a camera going offline, coming
back) go to the log and the audit log; the once-a-second counters only update the
snapshot the API serves.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from nvrd.config import NvrConfig
from nvrd.record.ingest import IngestSettings, PacketSink, StreamReader, StreamStatus
from nvrd.service import Health, Service
from nvrd.system.auditlog import AuditLog

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """Everything a reader is built from; a change in any field means a new connection."""

    channel: int
    stream: str  # "main" | "sub"
    url: str
    settings: IngestSettings

    @property
    def label(self) -> str:
        return f"ch{self.channel}-{self.stream}"


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    channel: int
    name: str
    enabled: bool
    streams: dict[str, StreamStatus]

    @property
    def online(self) -> bool:
        main = self.streams.get("main")
        return main is not None and main.online


def plan_streams(config: NvrConfig) -> dict[tuple[int, str], StreamPlan]:
    """The connections the configuration asks for, keyed by (channel, stream)."""
    plans: dict[tuple[int, str], StreamPlan] = {}
    ingest = config.ingest
    for camera in config.cameras:
        if not camera.enabled:
            continue
        for stream_name, stream in (("main", camera.main), ("sub", camera.sub)):
            if stream is None:
                continue
            settings = IngestSettings(
                transport=stream.transport or ingest.transport,
                open_timeout_s=ingest.open_timeout_seconds,
                stall_timeout_s=ingest.stall_timeout_seconds,
                backoff_initial_s=ingest.backoff_initial_seconds,
                backoff_max_s=ingest.backoff_max_seconds,
            )
            url = with_credentials(str(stream.url), camera.username, _secret(camera.password))
            plans[(camera.channel, stream_name)] = StreamPlan(
                camera.channel, stream_name, url, settings)
    return plans


def with_credentials(url: str, username: str, password: str) -> str:
    """Put the camera's account into the URL unless the URL already carries one."""
    parts = urlsplit(url)
    if not username or parts.username:
        return url
    userinfo = quote(username, safe="")
    if password:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


def _secret(value: object) -> str:
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if getter is not None else value or "")


class IngestService(Service):
    name = "ingest"

    def __init__(self, config: NvrConfig, audit: AuditLog,
                 sinks: Callable[[int, str], PacketSink | None] | None = None) -> None:
        super().__init__()
        self._config = config
        self._audit = audit
        self._sinks = sinks or (lambda channel, stream: None)
        self._readers: dict[tuple[int, str], StreamReader] = {}
        self._plans: dict[tuple[int, str], StreamPlan] = {}
        self._status: dict[tuple[int, str], StreamStatus] = {}

    async def start(self) -> None:
        await self._apply(plan_streams(self._config))

    async def stop(self) -> None:
        await self._apply({})

    async def apply_config(self, config: NvrConfig) -> None:
        self._config = config
        await self._apply(plan_streams(config))

    def health(self) -> Health:
        dead = [reader.label for reader in self._readers.values() if not reader.alive()]
        if dead:
            return Health(False, "ingest thread died: " + ", ".join(sorted(dead)))
        return Health(True)

    def snapshot(self) -> list[ChannelStatus]:
        """Every configured channel with the status of each stream it should have."""
        channels = []
        for camera in self._config.cameras:
            streams = {
                name: self._status.get((camera.channel, name), StreamStatus())
                for name, spec in (("main", camera.main), ("sub", camera.sub))
                if spec is not None and camera.enabled
            }
            channels.append(ChannelStatus(camera.channel, camera.name, camera.enabled, streams))
        return channels

    async def _apply(self, plans: dict[tuple[int, str], StreamPlan]) -> None:
        """Stop readers whose plan vanished or changed, then start the new ones."""
        stale = [key for key, plan in self._plans.items() if plans.get(key) != plan]
        await asyncio.gather(*(self._readers.pop(key).stop() for key in stale))
        for key in stale:
            del self._plans[key]
            self._status.pop(key, None)
        for key, plan in plans.items():
            if key in self._plans:
                continue
            reader = StreamReader(plan.label, plan.url, plan.settings,
                                  on_status=functools.partial(self._on_status, key),
                                  sink=self._sinks(*key))
            self._plans[key] = plan
            self._readers[key] = reader
            self._status[key] = StreamStatus()
            reader.start()
        for key, reader in self._readers.items():
            reader.sink = self._sinks(*key)

    def _on_status(self, key: tuple[int, str], status: StreamStatus) -> None:
        """Loop-only: a reader's new snapshot."""
        if key not in self._readers:
            return  # a late report from a reader that was just stopped
        previous = self._status.get(key, StreamStatus())
        self._status[key] = status
        channel, stream = key
        if status.online and not previous.online:
            self._audit.record("camera", f"channel {channel} {stream} stream online",
                               details=f"{status.codec} {status.width}x{status.height}")
        elif (not status.online and status.last_error
              and (previous.online or previous.last_error is None)):
            self._audit.record("camera", f"channel {channel} {stream} stream offline",
                               result="failed", details=status.last_error)
