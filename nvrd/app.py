"""The application: builds the services from the configuration, starts them in
dependency order, stops them in reverse, reloads on SIGHUP, and tells systemd.

Order (each needs only what comes before it): audit log → network (the configured
interfaces; none: the operating system's set-up stays) → time sync (NTP, if on: the
clock is checked before anything records, over the network just set up) → accounts
(users, sessions) → hardware (the board's devices) → console (the technicians' serial
console: up before anything records, so a technician can log in even when a later
service is in trouble) → events (the event bus, its log and sources: alarm
inputs and PoE need the hardware; the others hook onto services built already and
judge the whole box once all have started) → storage (volumes, writers) → bays (disks
in the drive bays, mounted and attached to storage) → recorder (what to record, where)
→ snapshots and motion (taps on the ingest's streams, in place before the first reader
runs, so no reader is swapped once it records; motion publishes on the event bus) →
live video (a tap too, registered before the readers run; sources come and go with
viewers) →
recorded pictures and tags (they read storage; tags.db in the data directory) →
ingest (readers feeding the recorder and the taps) → notify (MQTT, webhooks) → linkage
(subscribed to the bus; drives relays, recording, PTZ, snapshots, notifications) → cameras
(the cameras' own events onto the bus, their clocks, ONVIF PTZ behind the PTZ service,
PoE plug-and-play adding cameras through ``change_config``) → live sources (the
services' hooks feeding the live event stream) → web.
Stopping runs in reverse, so readers close their segments before the writers drain and
stop, bay disks are unmounted before storage stops, the event log is written out after
everything that reports to it, and the relays are released last but one.

Failure rules, so that a technician can always tell what is wrong:
- A configuration file that does not validate never stops the daemon: it runs on the
  last good configuration (or the factory one) and says why, in the log, the audit log,
  the health endpoint and systemd's STATUS line.
- A service that cannot start stops the daemon with a non-zero exit; systemd restarts
  it (``Restart=always``), within its start-rate limits.
- The watchdog is pinged only while every service is healthy and the loop responsive.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import tomllib
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

import nvrd
from hal.board import (
    BoardProfile,
    BoardProfileError,
    DisksSection,
    find_board_profile,
    load_board_profile,
)
from nvrd.cameras.service import CameraService
from nvrd.config import (
    ConfigError,
    ConfigStore,
    LoadedConfig,
    NvrConfig,
    dump_config,
    parse_config,
)
from nvrd.config.atomic import atomic_write_bytes
from nvrd.config.store import CONFIG_FILE_MODE
from nvrd.console.service import ConsoleService
from nvrd.events.live import LiveFeed
from nvrd.events.live_sources import LiveSources
from nvrd.events.service import EventService
from nvrd.hardware.panel import DaemonSignals
from nvrd.hardware.service import HardwareService
from nvrd.linkage.service import LinkageService
from nvrd.motion.service import MotionService
from nvrd.notify.service import NotifyService
from nvrd.paths import DataDir
from nvrd.playback.live import LiveVideoService
from nvrd.playback.stills import StillService
from nvrd.playback.tags import TagService
from nvrd.record.ingest_service import IngestService
from nvrd.record.recorder import RecorderService
from nvrd.service import Service
from nvrd.snapshots import SnapshotService
from nvrd.storage.bays import BayService
from nvrd.storage.service import StorageService
from nvrd.system.auditlog import AuditLog
from nvrd.system.logs import set_level
from nvrd.system.network import NetworkService
from nvrd.system.sdnotify import SdNotifier
from nvrd.system.status import DaemonStatus
from nvrd.system.timesync import TimeSync, WallClock
from nvrd.system.watchdog import HealthWatchdog, LoopLagProbe
from nvrd.web.api import ApiRegistry, Authenticator
from nvrd.web.auth import AccountsService
from nvrd.web.routes.all import daemon_apis
from nvrd.web.routes.daemon import DAEMON_KEY
from nvrd.web.server import WebService

logger = logging.getLogger(__name__)

# How long one service may take to stop before the next one is stopped anyway
# (seconds). systemd's TimeoutStopSec must be larger than the sum.
SERVICE_STOP_TIMEOUT_SECONDS = 20.0
# How often systemd's STATUS= line is refreshed when something changed (seconds).
STATUS_INTERVAL_SECONDS = 2.0


class Application:
    def __init__(
        self,
        store: ConfigStore,
        data_dir: Path,
        board_dirs: Sequence[Path],
        notifier: SdNotifier | None = None,
        extra_services: Sequence[Service] = (),
        apis: Sequence[ApiRegistry] = (),
        authenticator: Authenticator | None = None,
        wall_clock: WallClock | None = None,
        network_namespace: str | None = None,
    ) -> None:
        """``apis``: API routes served besides the daemon's own; ``authenticator``: who
        may call them (tests pass their own; by default the box's accounts);
        ``wall_clock``: the clock NTP and the time API read and set (by default the
        system clock; tests pass one that does not touch the host's);
        ``network_namespace``: where the network service reads and sets interfaces (by
        default the daemon's own namespace; tests pass one of their own)."""
        self._store = store
        self._data = DataDir(data_dir)
        self._board_dirs = list(board_dirs)
        self._notifier = notifier or SdNotifier()
        self._extra_services = list(extra_services)
        self._apis = list(apis)
        self._authenticator = authenticator
        self._wall_clock = wall_clock
        self._network_namespace = network_namespace
        self._stop_requested = asyncio.Event()
        self._started: list[Service] = []
        self._tasks: set[asyncio.Task[object]] = set()
        self._started_us = time.time_ns() // 1000
        self._started_monotonic = time.monotonic()
        self._lag_probe = LoopLagProbe()
        self._watchdog = HealthWatchdog(self._notifier, self.health_problems, self._lag_probe)
        self._loaded: LoadedConfig | None = None
        self._reload_error: str | None = None
        self._after_stop: Sequence[str] = ()
        """What runs once every service has stopped: power off or reboot (the board's)."""
        self._reload_lock = asyncio.Lock()  # two quick SIGHUPs apply one after the other
        self._board: BoardProfile | None = None
        self._board_error: str | None = None
        self.audit: AuditLog | None = None
        self.timesync: TimeSync | None = None
        self.network: NetworkService | None = None
        self.accounts: AccountsService | None = None
        self.hardware: HardwareService | None = None
        self.events: EventService | None = None
        self.storage: StorageService | None = None
        self.bays: BayService | None = None
        self.recorder: RecorderService | None = None
        self.ingest: IngestService | None = None
        self.snapshots: SnapshotService | None = None
        self.motion: MotionService | None = None
        self.live_video: LiveVideoService | None = None
        """Live video for the browser (a tap on the ingest's streams while watched)."""
        self.stills: StillService | None = None
        """Recorded pictures (a past instant, timeline thumbnails)."""
        self.tags: TagService | None = None
        self.notify: NotifyService | None = None
        self.linkage: LinkageService | None = None
        self.console: ConsoleService | None = None
        """The technicians' console (serial port and local socket)."""
        self.cameras: CameraService | None = None
        """Discovery, probing, the cameras' own events and clocks, PoE plug-and-play."""
        self.web: WebService | None = None
        self.live = LiveFeed()
        """What happens in the recorder, for the web page's live event stream."""

    # --- lifecycle ---------------------------------------------------------------

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT (or ``request_stop``); the exit status for the CLI."""
        loop = asyncio.get_running_loop()
        self._install_signal_handlers(loop)
        try:
            self._loaded = self._load_config()
            set_level(self.config.logging.level)
            self._board, self._board_error = self._load_board(self.config.system.board)
            if not await self._start_services(self._build_services(self.config)):
                return 1
            self._spawn(self._lag_probe.run(), "loop-lag-probe")
            interval = self._notifier.watchdog_interval_seconds
            if interval is not None:
                self._spawn(self._watchdog.run(interval), "watchdog")
            self._spawn(self._report_status(), "status")
            self._record("system", "daemon started", details=f"nvrd {nvrd.__version__}")
            if self._loaded.error is not None:
                self._record("config", "configuration file rejected", result="rejected",
                             details=str(self._loaded.error))
            self._notifier.ready(self.status().summary())
            if self.hardware is not None:
                self.hardware.running()
            if self.events is not None:
                self.events.running()
            if self.web is not None and self.web.url:
                logger.info("ready: web page at %s", self.web.url)
            await self._stop_requested.wait()
            logger.info("stopping")
            self._notifier.stopping()
            self._record("system", "daemon stopping")
            return 0
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._stop_services()
            self._remove_signal_handlers(loop)
            self._notifier.close()
            if self._after_stop:
                await self._run_after_stop(self._after_stop)

    def request_stop(self) -> None:
        self._stop_requested.set()

    async def factory_reset(self, source: str) -> None:
        """Restore the factory configuration and run on it. Recordings stay on their
        disks (they are the owner's, not settings); the board profile stays (it says what
        the box is)."""
        logger.warning("factory reset requested by the %s: restoring the factory "
                       "configuration", source)
        await asyncio.to_thread(self._store.restore_factory,
                                {"system": {"board": self.config.system.board}})
        self._record("system", "factory reset", details=f"requested by the {source}")
        await self.reload()

    async def shut_down(self, source: str) -> None:
        """Stop cleanly (segments closed, disks unmounted), then switch the box off with
        the board's ``power_off_command``."""
        logger.warning("shutdown requested by the %s", source)
        self._after_stop = self._board.power_off_command if self._board else ()
        if not self._after_stop:
            logger.info("the board has no power-off command: only the daemon stops")
        self.request_stop()

    async def reboot(self, source: str) -> None:
        """Stop cleanly, then restart the box with the board's ``reboot_command`` (empty:
        only the daemon stops, and systemd starts it again)."""
        logger.warning("reboot requested by the %s", source)
        self._after_stop = self._board.reboot_command if self._board else ()
        if not self._after_stop:
            logger.info("the board has no reboot command: only the daemon stops (and "
                        "systemd starts it again)")
        self.request_stop()

    async def restore_last_good(self, source: str) -> bool:
        """Put the last-known-good configuration back as the live file (the console's
        recovery when the file is rejected) and run on it; False when there is none."""
        last_good = self._store.last_good_path
        try:
            data = await asyncio.to_thread(last_good.read_bytes)
        except FileNotFoundError:
            return False
        logger.warning("last good configuration restored by the %s", source)
        await asyncio.to_thread(atomic_write_bytes, self._store.path, data, CONFIG_FILE_MODE)
        self._record("config", "last good configuration restored",
                     details=f"requested by the {source}")
        await self.reload()
        return True

    async def reload(self) -> bool:
        """Re-read the configuration file. A valid file is applied to every service; an
        invalid one is refused and the daemon keeps the configuration it runs on."""
        async with self._reload_lock:
            return await self._reload()

    async def _reload(self) -> bool:
        self._notifier.reloading()
        try:
            # off the loop: loading may fsync a new last-good copy
            loaded = await asyncio.to_thread(self._store.load)
            if loaded.error is not None and loaded.source != "file":
                logger.error("configuration reload refused, keeping the running "
                             "configuration:\n%s", loaded.error)
                self._record("config", "configuration reload", result="rejected",
                             details=str(loaded.error))
                self._reload_error = f"reload refused: {loaded.error}"
                return False
            previous_board = self.config.system.board
            self._loaded, self._reload_error = loaded, None
            set_level(self.config.logging.level)
            for service in self._started:
                await service.apply_config(self.config)
            if self.config.system.board != previous_board:
                logger.warning("the board profile changes to %r at the next restart",
                               self.config.system.board)
            logger.info("configuration reloaded")
            self._record("config", "configuration reload")
            return True
        finally:
            self._notifier.ready(self.status().summary())

    async def change_config(self, change: Callable[[dict[str, Any]], None], *, what: str,
                            user: str, source: str, details: str = "") -> NvrConfig:
        """Apply an installer's change (API, console) the way an edited file is applied:
        ``change`` edits the configuration as a TOML table; the result is validated as a
        whole (``ConfigError`` naming the setting and value, nothing written), saved
        atomically with its last-good copy, applied to every service and audited with who
        did it from where (``details``: what the one line cannot hold). Changes run one at a
        time (with reloads)."""
        async with self._reload_lock:
            table = tomllib.loads(dump_config(self.config))
            change(table)
            new = parse_config(tomli_w.dumps(table), "the requested change")
            await asyncio.to_thread(self._store.save, new)
            self._loaded = LoadedConfig(new, "file", None)
            self._reload_error = None
            set_level(new.logging.level)
            for service in self._started:
                await service.apply_config(new)
            if self.audit is not None:
                self.audit.record("config", what, user=user, source=source,
                                  details=details)
            self._notifier.status(self.status().summary())
            return new

    # --- state -------------------------------------------------------------------

    @property
    def data_dir(self) -> DataDir:
        return self._data

    @property
    def config(self) -> NvrConfig:
        assert self._loaded is not None, "configuration is loaded first thing in run()"
        return self._loaded.config

    def health_problems(self) -> list[str]:
        problems = []
        for service in self._started:
            health = service.health()
            if not health.ok:
                problems.append(f"{service.name}: {health.detail}")
        return problems

    def status(self) -> DaemonStatus:
        loaded = self._loaded
        board = self._board.summary() if self._board else f"none ({self._board_error})"
        return DaemonStatus(
            version=nvrd.__version__,
            started_us=self._started_us,
            uptime_s=time.monotonic() - self._started_monotonic,
            board=board,
            config_source=loaded.source if loaded else "none",
            config_error=self._reload_error or (
                str(loaded.error) if loaded and loaded.error else None),
            problems=self.health_problems(),
            channels=self.ingest.snapshot() if self.ingest else [],
            recording=self.recorder.snapshot() if self.recorder else [],
            volumes=self.storage.snapshot() if self.storage else [],
            bays=self.bays.snapshot() if self.bays else [],
            hardware=self.hardware.snapshot() if self.hardware else None,
        )

    @staticmethod
    async def _run_after_stop(command: Sequence[str]) -> None:
        logger.info("running %s", " ".join(command))
        try:
            process = await asyncio.create_subprocess_exec(*command)
            await asyncio.wait_for(process.wait(), 30)
        except (OSError, TimeoutError) as exc:
            logger.error("%s failed: %s", " ".join(command), exc)

    def _panel_signals(self) -> DaemonSignals:
        """What the front panel lamps show of the recorder (see nvrd/hardware/panel.py)."""
        recording = self.recorder.snapshot() if self.recorder else []
        writable = self.storage.any_writable() if self.storage else False
        faults = self.bays.bay_faults() if self.bays else {}
        bays = self.bays.snapshot() if self.bays else []
        return DaemonSignals(
            recording=any(s.recording for c in recording for s in c.streams.values()),
            disk_fault=bool(self.config.cameras) and not writable,
            bays_present=frozenset(b.bay for b in bays if b.state != "empty"),
            bays_faulty=frozenset(n for n, fault in faults.items() if fault))

    # --- building blocks -----------------------------------------------------------

    def _load_config(self) -> LoadedConfig:
        loaded = self._store.load()
        if loaded.error is not None:
            logger.error("configuration file rejected, running on the %s configuration:\n%s",
                         loaded.source, loaded.error)
        logger.info("configuration: %d camera(s) from the %s configuration",
                    len(loaded.config.cameras), loaded.source)
        return loaded

    def _load_board(self, name: str) -> tuple[BoardProfile | None, str | None]:
        """A bad board profile is reported, not fatal: cameras still get recorded."""
        try:
            path = find_board_profile(name, self._board_dirs)
            board = load_board_profile(path)
        except ValidationError as exc:
            error = str(ConfigError.from_validation_error(exc, f"board profile {name!r}",
                                                          model=BoardProfile))
        except (BoardProfileError, FileNotFoundError) as exc:
            error = str(exc)
        else:
            logger.info("board: %s", board.summary())
            return board, None
        logger.error("board profile unusable, running without hardware: %s", error)
        return None, error

    def _build_services(self, config: NvrConfig) -> list[Service]:
        self.audit = AuditLog(self._data.audit_db, config.audit.max_rows)
        self.timesync = TimeSync(config, self.audit, clock=self._wall_clock)
        self.network = NetworkService(config, self.audit, self.change_config,
                                      self._data.root / "resolv.conf",
                                      netns=self._network_namespace)
        self.accounts = AccountsService(self._data.root / "accounts.db", config, self.audit)
        self.hardware = HardwareService(config, self._data.root, self.audit, self._board,
                                        signals=self._panel_signals,
                                        on_factory_reset=self.factory_reset,
                                        on_shutdown=self.shut_down)
        self.console = ConsoleService(self, config, self._board,
                                      self._data.root / "console.sock")
        self.storage = StorageService(config, self._data.root, self.audit)
        hardware = self.hardware
        self.bays = BayService(config, self._data.root, self.audit, self.storage,
                               self._board.disks if self._board else DisksSection(),
                               lambda: hardware.disks)
        self.recorder = RecorderService(config, self.storage, self.audit)
        self.ingest = IngestService(config, self.audit, sinks=self.recorder.segmenter)
        self.snapshots = SnapshotService(config, self.ingest, self._data)
        self.stills = StillService(config, self.storage)
        self.tags = TagService(self._data.tags_db)
        self.events = EventService(config, self._data.events_db, self.live,
                                   hardware=self.hardware, ingest=self.ingest,
                                   storage=self.storage, bays=self.bays,
                                   authenticator=self.accounts.authenticator)
        self.motion = MotionService(config, self.ingest, self.events.bus, self._data.motion_db,
                                    oldest_footage=self.storage.oldest_footage_us)
        self.live_video = LiveVideoService(config, self.ingest)
        self.notify = NotifyService(config)
        self.linkage = LinkageService(config, self.events, hardware=self.hardware,
                                      recorder=self.recorder, snapshots=self.snapshots,
                                      notify=self.notify, audit=self.audit)
        self.cameras = CameraService(config, self.events.bus.publish, self.change_config,
                                     hardware=self.hardware)
        self.web = WebService(config.web.host, config.web.port, config.web.https,
                              self._data.tls, self.status,
                              http_redirect_port=config.web.http_redirect_port,
                              apis=[*daemon_apis(), *self._apis],
                              authenticator=self._authenticator or self.accounts.authenticator,
                              app_values={DAEMON_KEY: self})
        return [self.audit, self.network, self.timesync, self.accounts, self.hardware,
                self.console,
                self.events,
                self.storage, self.bays, self.recorder, self.snapshots, self.motion,
                self.live_video,
                self.stills, self.tags,
                self.ingest, self.notify, self.linkage, self.cameras, *self._extra_services,
                LiveSources(self.live, status=self.status, audit=self.audit,
                            storage=self.storage, bays=self.bays, hardware=self.hardware),
                self.web]

    async def _start_services(self, services: list[Service]) -> bool:
        for service in services:
            self._notifier.status(f"starting {service.name}")
            try:
                await service.start()
            except Exception as exc:
                logger.error("cannot start %s: %s", service.name, exc,
                             exc_info=logger.isEnabledFor(logging.DEBUG))
                self._notifier.status(f"failed to start {service.name}: {exc}")
                return False
            self._started.append(service)
        return True

    async def _stop_services(self) -> None:
        while self._started:
            service = self._started.pop()
            try:
                await asyncio.wait_for(service.stop(), SERVICE_STOP_TIMEOUT_SECONDS)
            except TimeoutError:
                logger.error("%s did not stop within %g s", service.name,
                             SERVICE_STOP_TIMEOUT_SECONDS)
            except Exception:
                logger.exception("%s failed while stopping", service.name)

    async def _report_status(self) -> None:
        last = ""
        while True:
            summary = self.status().summary()
            if summary != last:
                self._notifier.status(summary)
                last = summary
            await asyncio.sleep(STATUS_INTERVAL_SECONDS)

    def _record(self, type: str, action: str, *, result: str = "ok", details: str = "") -> None:
        if self.audit is not None:
            self.audit.record(type, action, result=result, details=details)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload(), "reload"))

    @staticmethod
    def _remove_signal_handlers(loop: asyncio.AbstractEventLoop) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
