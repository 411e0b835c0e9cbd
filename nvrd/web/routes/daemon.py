"""What the API routes act on: the running daemon, seen through the few things they need.

A Protocol rather than the ``Application`` class itself, so ``nvrd.web`` does not import
``nvrd.app`` (which builds the web service) and route tests can hand in any daemon that
has these parts. The application sets itself on the aiohttp app under ``DAEMON_KEY``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from nvrd.cameras.service import CameraService
from nvrd.config import NvrConfig
from nvrd.events.live import LiveFeed
from nvrd.events.service import EventService
from nvrd.hardware.service import HardwareService
from nvrd.linkage.service import LinkageService
from nvrd.notify.service import NotifyService
from nvrd.paths import DataDir
from nvrd.playback.live import LiveVideoService
from nvrd.playback.stills import StillService
from nvrd.playback.tags import TagService
from nvrd.record.ingest_service import IngestService
from nvrd.record.recorder import RecorderService
from nvrd.snapshots import SnapshotService
from nvrd.storage.bays import BayService
from nvrd.storage.service import StorageService
from nvrd.system.auditlog import AuditLog
from nvrd.system.status import DaemonStatus
from nvrd.system.timesync import TimeSync
from nvrd.web.auth import AccountsService
from nvrd.web.server import WebService


class Daemon(Protocol):
    audit: AuditLog | None
    timesync: TimeSync | None
    accounts: AccountsService | None
    hardware: HardwareService | None
    events: EventService | None
    cameras: CameraService | None
    """The event engine (bus, event log, sources)."""
    linkage: LinkageService | None
    """What events set off (rules, disarm, the outputs they hold)."""
    notify: NotifyService | None
    storage: StorageService | None
    bays: BayService | None
    recorder: RecorderService | None
    ingest: IngestService | None
    snapshots: SnapshotService | None
    """JPEG snapshots: take one now, find them, serve their files."""
    stills: StillService | None
    """Pictures of recorded instants (timeline thumbnails)."""
    tags: TagService | None
    live_video: LiveVideoService | None
    web: WebService | None
    live: LiveFeed
    """The live event feed (``GET /api/v1/events/live`` subscribes to it)."""

    @property
    def config(self) -> NvrConfig: ...

    @property
    def data_dir(self) -> DataDir: ...

    def status(self) -> DaemonStatus: ...

    async def change_config(self, change: Callable[[dict[str, Any]], None], *, what: str,
                            user: str, source: str, details: str = "") -> NvrConfig:
        """Edit the configuration as a TOML table; validated whole (``ConfigError``),
        saved, applied to every service, audited."""
        ...

    async def factory_reset(self, source: str) -> None: ...

    async def shut_down(self, source: str) -> None: ...

    def request_stop(self) -> None: ...


DAEMON_KEY: web.AppKey[Daemon] = web.AppKey("daemon", Daemon)


def daemon_of(request: web.Request) -> Daemon:
    return request.app[DAEMON_KEY]
