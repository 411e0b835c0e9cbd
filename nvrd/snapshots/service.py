"""JPEG snapshots of camera channels: taken from the live streams, stored and indexed.

``take(channel)`` waits for the channel's next key frame on a stream the ingest already
reads (its sub stream when that is online, else its main stream; while neither is, the
first of them to come back), decodes that one frame and stores a JPEG
(``nvrd/snapshots/store.py``). Event linkage calls ``request`` (fire and forget); the
API calls ``take``, ``find`` and ``path_of``.

Failures are ``SnapshotError``s whose message a technician can act on, all starting
``channel N: ...``: no camera on the channel, camera disabled, camera offline (at once
when the ingest already knows; else after ``snapshots.timeout_seconds``), no key frame
within the timeout (a camera whose key frame interval is longer), a key frame that does
not decode, or the picture not saved.

Threads: the grabbers' taps run in the ingest's reader threads and hand key frames to the
loop with ``call_soon_threadsafe``; decoding, encoding and the store's writes run in this
service's two worker threads (``snapshot_0``, ``snapshot_1``), so at most two pictures are
being made at once whatever the alarm storm, and the loop never blocks. Everything else
is loop-only. Concurrent takes on one channel share the key frame and its decode; each
gets its own stored file.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from nvrd.config import NvrConfig
from nvrd.config.schema import CameraConfig
from nvrd.paths import DataDir
from nvrd.record.ingest import PacketSink, StreamStatus
from nvrd.record.ingest_service import IngestService
from nvrd.service import Health, Service, open_in_own_threads
from nvrd.snapshots.grabber import FrameGrabber, KeyFrame, Picture, PictureError, to_jpeg
from nvrd.snapshots.store import REASONS, SnapshotRecord, SnapshotStore

logger = logging.getLogger(__name__)
T = TypeVar("T")

WORKERS = 2
"""Pictures made at once (decode + encode + fsync); more wait their turn."""
MAX_REQUESTS = 256
"""Fire-and-forget requests pending at once; beyond, new ones are refused (logged)."""

ErrorCode = Literal["no_camera", "disabled", "offline", "no_key_frame", "undecodable",
                    "storage", "not_running"]


class SnapshotError(Exception):
    """A snapshot that could not be taken; ``str()`` is the sentence for the technician."""

    def __init__(self, channel: int, problem: str, code: ErrorCode) -> None:
        super().__init__(f"channel {channel}: {problem}")
        self.channel = channel
        self.problem = problem
        self.code = code


@dataclass(frozen=True, slots=True)
class LivePicture:
    """A picture of a channel now (:meth:`SnapshotService.picture`), not stored."""

    picture: Picture
    stream: str
    """The stream its key frame came from: main or sub."""
    time_us: int
    """UTC microseconds: when the key frame arrived."""


@dataclass(frozen=True, slots=True)
class _Settings:
    quality: int
    timeout_s: float
    max_bytes: int

    @classmethod
    def of(cls, config: NvrConfig) -> _Settings:
        section = config.snapshots
        return cls(section.quality, section.timeout_seconds, section.max_mb << 20)


class SnapshotService(Service):
    name = "snapshots"

    def __init__(self, config: NvrConfig, ingest: IngestService, data_dir: DataDir) -> None:
        super().__init__()
        self._config = config
        self._settings = _Settings.of(config)
        self._ingest = ingest
        self._store = SnapshotStore(data_dir.snapshots, self._settings.max_bytes)
        self._grabbers: dict[tuple[int, str], FrameGrabber] = {}
        self._encoding: dict[KeyFrame, asyncio.Future[Picture]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._running = False
        self._unusable: str | None = None

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        try:
            self._executor = await open_in_own_threads(self._store.open, WORKERS, "snapshot")
        except (OSError, sqlite3.Error) as exc:
            # a broken snapshot store must not keep the recorder from recording
            self._unusable = f"the snapshot store {self._store.root} cannot be opened: {exc}"
            logger.error("snapshots not available: %s; recording goes on without them",
                         self._unusable)
            return
        self._running = True
        self._ingest.add_tap(self._tap)

    async def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        self._ingest.remove_tap(self._tap)
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True)
        self._store.close()

    async def apply_config(self, config: NvrConfig) -> None:
        self._config = config
        settings = _Settings.of(config)
        changed_limit = settings.max_bytes != self._settings.max_bytes
        self._settings = settings
        wanted = {(c.channel, s) for c in config.cameras
                  for s, spec in (("main", c.main), ("sub", c.sub)) if spec is not None}
        for key in [key for key in self._grabbers if key not in wanted]:
            del self._grabbers[key]  # the ingest stopped its reader
        if changed_limit and self._running:
            await self._in_worker(self._store.set_max_bytes, settings.max_bytes)

    # --- the API -------------------------------------------------------------------------

    async def take(self, channel: int, *, reason: str = "manual",
                   event_id: int | None = None) -> SnapshotRecord:
        """Take, store and index a snapshot of ``channel`` now (see the module doc)."""
        if reason not in REASONS:
            raise ValueError(f"a snapshot's reason is one of {', '.join(REASONS)}, "
                             f"not {reason!r}")
        self._check_running(channel)
        key = await self._key_frame(channel)
        self._check_running(channel)
        try:
            picture = await self._picture(key)
        except PictureError as exc:
            raise SnapshotError(channel, f"no picture: {exc}", "undecodable") from exc
        self._check_running(channel)  # no await from here to the worker's queue
        try:
            record = await self._in_worker(self._store.add, channel, key.time_us, reason,
                                           event_id, picture.jpeg, picture.width,
                                           picture.height)
        except (OSError, sqlite3.Error) as exc:
            raise SnapshotError(channel, f"the snapshot could not be saved: {exc}",
                                "storage") from exc
        logger.debug("channel %d: snapshot %d (%s, %dx%d, %d bytes)", channel, record.id,
                     reason, record.width, record.height, record.size_bytes)
        return record

    async def picture(self, channel: int, *, stream: str | None = None,
                      width: int | None = None) -> LivePicture:
        """The channel's next key frame as a JPEG scaled to ``width``, not stored (the
        picture API's "now", live thumbnails): of ``stream`` when given, else of the
        stream ``take`` would use. Raises ``SnapshotError`` as ``take`` does."""
        self._check_running(channel)
        streams = None if stream is None else [stream]
        key = await self._key_frame(channel, streams)
        self._check_running(channel)
        try:
            picture = await self._in_worker(to_jpeg, key, self._settings.quality, width)
        except PictureError as exc:
            raise SnapshotError(channel, f"no picture: {exc}", "undecodable") from exc
        return LivePicture(picture, key.stream, key.time_us)

    def request(self, channel: int, *, reason: str, event_id: int | None) -> None:
        """Take a snapshot in the background (event linkage): returns at once; a failure
        is logged as a warning, never raised. Loop-only."""
        if not self._running:
            logger.warning("channel %d: snapshot not taken: the snapshot service is not "
                           "running", channel)
            return
        if len(self._tasks) >= MAX_REQUESTS:
            logger.warning("channel %d: snapshot not taken: %d snapshots are pending "
                           "already", channel, len(self._tasks))
            return
        self._create_task(self._request(channel, reason, event_id),
                          f"snapshot-ch{channel}")

    def find(self, channel: int | None, start_us: int, end_us: int, limit: int, *,
             channels: Collection[int] | None = None) -> list[SnapshotRecord]:
        """Snapshots in ``[start_us, end_us)``, newest first; of ``channel`` (None: all),
        and only of ``channels`` when given (what the asker may see). Blocks briefly on
        SQLite: the web calls it in a thread."""
        return self._store.find(channel, start_us, end_us, limit, channels=channels)

    def path_of(self, snapshot_id: int) -> tuple[SnapshotRecord, Path] | None:
        """A snapshot's record and file (None: no such snapshot, or deleted since)."""
        record = self._store.get(snapshot_id)
        if record is None:
            return None
        return record, self._store.root / record.path

    def channels(self) -> list[int]:
        """Channels that have snapshots stored."""
        return self._store.channels()

    @property
    def store(self) -> SnapshotStore:
        return self._store

    # --- taking a picture -------------------------------------------------------------

    def _tap(self, channel: int, stream: str) -> PacketSink | None:
        """The ingest's tap lookup: every stream gets a grabber (idle until armed)."""
        return self._grabber(channel, stream)

    def _grabber(self, channel: int, stream: str) -> FrameGrabber:
        grabber = self._grabbers.get((channel, stream))
        if grabber is None:
            grabber = self._grabbers[(channel, stream)] = FrameGrabber(channel, stream)
        return grabber

    async def _key_frame(self, channel: int, streams: list[str] | None = None) -> KeyFrame:
        camera = self._camera(channel)
        if streams is None:
            streams = self._streams_to_try(camera)
        elif streams == ["sub"] and camera.sub is None:
            raise SnapshotError(channel, "no picture: the camera has no sub stream",
                                "no_camera")
        loop = asyncio.get_running_loop()
        got: asyncio.Future[KeyFrame] = loop.create_future()

        def deliver(key: KeyFrame) -> None:  # a reader thread
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_set_result, got, key)

        armed = [self._grabber(channel, stream) for stream in streams]
        for grabber in armed:
            grabber.arm(deliver)
        try:
            async with asyncio.timeout(self._settings.timeout_s):
                return await got
        except TimeoutError:
            raise self._timed_out(channel) from None
        finally:
            for grabber in armed:
                grabber.disarm(deliver)

    def _camera(self, channel: int) -> CameraConfig:
        camera = self._config.camera(channel)
        if camera is None:
            raise SnapshotError(channel, "no picture: there is no camera on this channel",
                                "no_camera")
        if not camera.enabled:
            raise SnapshotError(channel, "no picture: the camera is disabled", "disabled")
        return camera

    def _streams_to_try(self, camera: CameraConfig) -> list[str]:
        """The sub stream if it is online, else the main one; while neither is, both
        (the first back serves). Known offline (both failed): SnapshotError at once."""
        statuses = self._statuses(camera.channel)
        online: list[str] = [name for name in ("sub", "main")
                             if name in statuses and statuses[name].online]
        if online:
            return online[:1]
        failed = [status.last_error for status in statuses.values() if status.last_error]
        if statuses and len(failed) == len(statuses):
            raise _offline(camera.channel, statuses)
        if not statuses:  # not read yet (a camera just added)
            return ["main"]
        return list(statuses)

    def _statuses(self, channel: int) -> dict[str, StreamStatus]:
        for status in self._ingest.snapshot():
            if status.channel == channel:
                return dict(status.streams)
        return {}

    def _timed_out(self, channel: int) -> SnapshotError:
        """Why no key frame came: the channel's state now."""
        self._camera(channel)  # removed or disabled meanwhile: say so
        statuses = self._statuses(channel)
        timeout = self._settings.timeout_s
        if any(status.online for status in statuses.values()):
            return SnapshotError(channel, f"no picture: the camera sent no key frame within "
                                 f"{timeout:g} s (its key frame interval may be longer; "
                                 "shorten it, or raise snapshots.timeout_seconds)",
                                 "no_key_frame")
        if any(status.last_error for status in statuses.values()):
            return _offline(channel, statuses)
        return SnapshotError(channel, f"no picture: the camera is offline (not connected "
                             f"within {timeout:g} s)", "offline")

    async def _picture(self, key: KeyFrame) -> Picture:
        """The key frame's JPEG, made once for every take that got this key frame."""
        future = self._encoding.get(key)
        if future is None:
            future = self._in_worker(to_jpeg, key, self._settings.quality)
            self._encoding[key] = future
            future.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(future)

    def _forget(self, key: KeyFrame, done: asyncio.Future[Picture]) -> None:
        self._encoding.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved: its takers may all have been cancelled

    async def _request(self, channel: int, reason: str, event_id: int | None) -> None:
        try:
            record = await self.take(channel, reason=reason, event_id=event_id)
        except SnapshotError as exc:
            logger.warning("snapshot%s not taken: %s",
                           f" for event {event_id}" if event_id else "", exc)
        except Exception:
            logger.exception("channel %d: snapshot failed", channel)
        else:
            logger.info("channel %d: snapshot %d taken%s", channel, record.id,
                        f" for event {event_id}" if event_id else "")

    # --- plumbing ----------------------------------------------------------------------

    def health(self) -> Health:
        """A store that cannot be opened is the disk's or the file's fault: said, but
        not a reason for systemd to restart a recorder that records."""
        return Health(True, self._unusable or "")

    def _check_running(self, channel: int) -> None:
        if self._unusable is not None:
            raise SnapshotError(channel, f"no picture: {self._unusable}", "storage")
        if not self._running:
            raise SnapshotError(channel, "no picture: the snapshot service is not running "
                                "(the recorder is starting or stopping)", "not_running")

    def _in_worker(self, function: Callable[..., T], *args: object) -> asyncio.Future[T]:
        executor = self._executor
        if executor is None:
            raise RuntimeError("the snapshot service is not running")
        return asyncio.get_running_loop().run_in_executor(executor, function, *args)

    def _create_task(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _set_result(future: asyncio.Future[KeyFrame], key: KeyFrame) -> None:
    if not future.done():
        future.set_result(key)


def _offline(channel: int, statuses: dict[str, StreamStatus]) -> SnapshotError:
    errors = [f"{name}: {s.last_error}" if len(statuses) > 1 else str(s.last_error)
              for name, s in statuses.items() if s.last_error]
    return SnapshotError(channel, f"no picture: the camera is offline ({'; '.join(errors)})",
                         "offline")
