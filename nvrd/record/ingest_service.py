"""Keeps every enabled camera's streams connected and knows their status.

The recorder attaches to the same readers: each stream's packets go to the sink
``sinks(channel, stream)`` returns (its segmenter), re-asked after every configuration
change. Taps (``add_tap``: motion detection on the sub stream) receive the same packets
through a ``FanOutSink`` next to the recorder. Status changes that matter to a
technician (a camera going offline, coming back) go to the log and the audit log; the
once-a-second counters only update the snapshot the API serves.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import av.audio.stream
import av.video.stream

from nvrd.config import NvrConfig
from nvrd.record.ingest import IngestSettings, PacketSink, StreamReader, StreamStatus
from nvrd.service import Health, Service
from nvrd.system.auditlog import AuditLog

logger = logging.getLogger(__name__)

StreamListener = Callable[[int, str, StreamStatus | None], None]
"""(channel, stream, status or None): see ``IngestService.add_listener``."""


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


class FanOutSink:
    """Hands one stream's packets to several sinks: the recorder's and taps'.

    Threads: ``members`` is replaced (never mutated) from the loop; the reader thread
    notices the new tuple on the next packet and starts or ends the session only on the
    sinks that joined or left, so a tap coming or going never cuts the recording. Sinks
    must not raise and must not block (a tap queues and returns).
    """

    def __init__(self) -> None:
        self.members: tuple[PacketSink, ...] = ()
        self._attached: tuple[PacketSink, ...] = ()  # reader thread only
        self._session: tuple[av.video.stream.VideoStream,
                             av.audio.stream.AudioStream | None] | None = None

    def on_session_start(self, video: av.video.stream.VideoStream,
                         audio: av.audio.stream.AudioStream | None) -> None:
        self._session, self._attached = (video, audio), ()
        self._sync()

    def on_packet(self, packet: av.Packet) -> None:
        if self.members is not self._attached:
            self._sync()
        for sink in self._attached:
            sink.on_packet(packet)

    def on_session_end(self, reason: str) -> None:
        attached, self._attached, self._session = self._attached, (), None
        for sink in attached:
            sink.on_session_end(reason)

    def _sync(self) -> None:
        wanted = self.members
        for sink in self._attached:
            if not any(sink is w for w in wanted):
                sink.on_session_end("detached")
        if self._session is not None:
            for sink in wanted:
                if not any(sink is a for a in self._attached):
                    sink.on_session_start(*self._session)
        self._attached = wanted


SinkLookup = Callable[[int, str], PacketSink | None]


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
        self._listeners: list[StreamListener] = []
        self._taps: list[SinkLookup] = []
        self._fanouts: dict[tuple[int, str], FanOutSink] = {}

    def add_tap(self, taps: SinkLookup) -> None:
        """Loop-only: also hand each stream's packets to ``taps(channel, stream)`` (None:
        not this stream), asked again after every configuration change and on
        ``refresh_sinks``. A stream's first tap swaps the reader's sink for a fan-out
        once: a recording running then starts a new segment."""
        self._taps.append(taps)
        self.refresh_sinks()

    def remove_tap(self, taps: SinkLookup) -> None:
        self._taps.remove(taps)
        self.refresh_sinks()

    def refresh_sinks(self) -> None:
        """Loop-only: ask the sink lookups again (a tap's own settings changed)."""
        for key, reader in self._readers.items():
            reader.sink = self._sink_for(key)

    def _sink_for(self, key: tuple[int, str]) -> PacketSink | None:
        primary = self._sinks(*key)
        if not self._taps and key not in self._fanouts:
            return primary
        members = tuple(sink for sink in (primary, *(tap(*key) for tap in self._taps))
                        if sink is not None)
        fanout = self._fanouts.setdefault(key, FanOutSink())
        if len(members) != len(fanout.members) or any(
                a is not b for a, b in zip(members, fanout.members, strict=True)):
            fanout.members = members
        return fanout

    def add_listener(self, listener: StreamListener) -> Callable[[], None]:
        """Call ``listener(channel, stream, status)`` on the loop when a stream goes online
        or offline (the changes audited), and with ``None`` when it is no longer read (its
        camera removed or disabled, the daemon stopping); returns the remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners \
            else None

    def _tell(self, key: tuple[int, str], status: StreamStatus | None) -> None:
        for listener in list(self._listeners):
            try:
                listener(*key, status)
            except Exception:  # a listener must not cost the stream its status
                logger.exception("stream status listener failed")

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
            self._fanouts.pop(key, None)
            self._tell(key, None)
        for key, plan in plans.items():
            if key in self._plans:
                continue
            reader = StreamReader(plan.label, plan.url, plan.settings,
                                  on_status=functools.partial(self._on_status, key),
                                  sink=self._sink_for(key))
            self._plans[key] = plan
            self._readers[key] = reader
            self._status[key] = StreamStatus()
            reader.start()
        self.refresh_sinks()

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
            self._tell(key, status)
        elif (not status.online and status.last_error
              and (previous.online or previous.last_error is None)):
            self._audit.record("camera", f"channel {channel} {stream} stream offline",
                               result="failed", details=status.last_error)
            self._tell(key, status)
