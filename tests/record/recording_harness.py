"""The recording stack (audit, storage, recorder, ingest) assembled in-process on a tmp dir.

End-to-end recording tests need the real services wired as the daemon wires them, but
in the test's process: so a test can inject a steppable clock, call ``start_event``,
read segmenter counters and count its own file descriptors and threads. Everything is
real (RTSP from ``fakecams``, files on disk, SQLite); nothing is mocked.

    async with RecordingStack(tmp_path, config_text(cameras)) as stack:
        await stack.wait_for(lambda: stack.status(1, "main").recording, 20, "recording")
        ...
        await stack.finish_recording()      # readers stop, every segment closed
        intervals = await stack.storage.intervals(1, "main", 0, END_OF_TIME)
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar
from urllib.parse import quote

import av
import av.logging

from nvrd.config.loader import parse_config
from nvrd.record.clock import Clock
from nvrd.record.ingest_service import IngestService
from nvrd.record.recorder import RecorderService
from nvrd.record.segmenter import SegmenterStatus
from nvrd.storage.catalog import CATALOG_FILE, CatalogReader, SegmentRow
from nvrd.storage.model import SEGMENT_DIR
from nvrd.storage.service import StorageService
from nvrd.storage.volume import prepare_volume
from nvrd.storage.writer import WriterState
from nvrd.system.auditlog import AuditLog

T = TypeVar("T")

END_OF_TIME = 1 << 62
"""An upper bound for "the whole range" queries (any µs instant we record is far below)."""
FAST_INGEST = ("[ingest]\nopen_timeout_seconds = 5\nstall_timeout_seconds = 3\n"
               "backoff_initial_seconds = 0.5\nbackoff_max_seconds = 1\n")
"""Reconnects within a second, so outage tests stay short."""
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
         "holiday")
_ALL_DAY_MOTION = '[{ start = "00:00", end = "24:00", type = "motion" }]'
EVENT_ONLY_SCHEDULE = ('[[recording.schedules]]\nname = "ev"\n[recording.schedules.days]\n'
                       + "".join(f"{day} = {_ALL_DAY_MOTION}\n" for day in _DAYS))
"""A schedule named "ev" that records only on motion events, every day and holiday."""


def camera_toml(channel: int, main_url: str, sub_url: str | None = None, *,
                schedule: str = "always", pre_record_seconds: int = 5,
                post_record_seconds: int = 10, record_sub: bool = False) -> str:
    """One ``[[cameras]]`` entry in "auto" mode."""
    text = (f'[[cameras]]\nchannel = {channel}\nmain = {{ url = "{main_url}" }}\n'
            f'mode = "auto"\nschedule = "{schedule}"\n'
            f"pre_record_seconds = {pre_record_seconds}\n"
            f"post_record_seconds = {post_record_seconds}\n"
            f"record_sub = {'true' if record_sub else 'false'}\n")
    if sub_url is not None:
        text += f'sub = {{ url = "{sub_url}" }}\n'
    return text


def config_text(cameras: str, *, segment_seconds: int = 10, extra: str = "") -> str:
    """A configuration with one volume ("v1"), fast ingest and ``cameras``.

    ``extra`` goes inside ``[recording]`` first (schedules), so it must only hold
    ``[[recording.schedules]]`` tables or keys of ``[recording]``."""
    return (f"[recording]\nsegment_seconds = {segment_seconds}\n{extra}\n"
            '[[storage.volumes]]\npath = "v1"\n\n'
            f"{FAST_INGEST}\n{cameras}")


async def _resolve(value: T | Awaitable[T]) -> T:
    if inspect.isawaitable(value):
        return await value
    return value


class RecordingStack:
    """Audit log, storage (one prepared volume "v1"), recorder and ingest on ``root``."""

    def __init__(self, root: Path, config: str, *, clock: Clock | None = None) -> None:
        self.root = root
        self.config = parse_config(config, "test")
        self.clock = clock
        self.volume = root / "v1"
        prepare_volume(self.volume, "test")
        self.audit = AuditLog(root / "audit.db", 1000)
        self.storage = StorageService(self.config, root, self.audit)
        self.recorder = RecorderService(self.config, self.storage, self.audit, clock=clock)
        self.ingest = IngestService(self.config, self.audit, sinks=self.recorder.segmenter)
        self._running: list[Callable[[], Awaitable[None]]] = []

    async def start(self) -> Self:
        for service in (self.audit, self.storage, self.recorder, self.ingest):
            await service.start()
            self._running.append(service.stop)
        return self

    async def stop(self) -> None:
        """Stop in reverse order (ingest first, so segments close before their writer
        stops), every service even if one fails (the first failure is raised); safe to
        call twice."""
        failure: BaseException | None = None
        while self._running:
            try:
                await self._running.pop()()
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    async def __aenter__(self) -> Self:
        try:
            return await self.start()
        except BaseException:
            await self.stop()
            raise

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    # --- waiting -------------------------------------------------------------------------

    @staticmethod
    async def wait_for(predicate: Callable[[], T | Awaitable[T | None] | None],
                       timeout: float, what: str = "condition", interval: float = 0.1) -> T:
        """Poll ``predicate`` (sync or async) until it returns something truthy, which is
        returned; fail after ``timeout`` seconds saying ``what`` was awaited."""
        deadline = time.monotonic() + timeout
        while True:
            result = await _resolve(predicate())
            if result:
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout:g} s waiting for {what}"
                                     f" (last result: {result!r})")
            await asyncio.sleep(interval)

    async def flush_catalog(self) -> None:
        """Make the catalog show everything submitted so far: a commit job queued behind
        every writer's pending messages (the writer commits only every 2 s by itself)."""
        for writer in self.storage.writers().values():
            if writer.state in (WriterState.READY, WriterState.FULL):  # a failed one is gone
                await asyncio.wrap_future(writer.run_job(lambda catalog: catalog.commit()))

    async def finish_recording(self) -> list[SegmentRow]:
        """Stop the camera readers (their segments close: a reader's thread ends its
        session before ``stop`` returns) and flush the writers; the storage stays up for
        queries. Returns every row, all closed."""
        await self.ingest.stop()
        self._running.remove(self.ingest.stop)
        await self.flush_catalog()
        rows = self.catalog_rows()
        assert all(row.state == "closed" for row in rows), \
            [row for row in rows if row.state != "closed"]
        return rows

    # --- reading what was recorded -------------------------------------------------------

    def status(self, channel: int, stream: str = "main") -> SegmenterStatus:
        segmenter = self.recorder.segmenter(channel, stream)
        assert segmenter is not None, f"channel {channel} {stream} is not recorded"
        return segmenter.status()

    def catalog_rows(self, channel: int | None = None, stream: str | None = None
                     ) -> list[SegmentRow]:
        """The committed catalog rows of the volume (optionally of one stream), by stream
        then start; [] before the writer created the catalog."""
        if not (self.volume / CATALOG_FILE).is_file():
            return []
        uri = f"file:{quote(str((self.volume / CATALOG_FILE).resolve()))}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            keys = db.execute("SELECT DISTINCT channel, stream FROM segments "
                              "ORDER BY channel, stream").fetchall()
        rows: list[SegmentRow] = []
        with CatalogReader(self.volume) as reader:
            for key_channel, key_stream in keys:
                if channel in (None, key_channel) and stream in (None, key_stream):
                    rows += reader.segments(key_channel, key_stream, 0, END_OF_TIME)
        return rows

    def segment_files(self) -> set[str]:
        """Every .mp4 under the volume's rec/, relative to the volume (as catalog paths)."""
        return {str(path.relative_to(self.volume))
                for path in (self.volume / SEGMENT_DIR).rglob("*.mp4")}


# --- decoding ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decoded:
    """What decoding every video frame of a segment file found."""

    frames: int
    pts_s: tuple[float, ...]
    """Presentation time of each frame (seconds from the file's start), in output order."""
    frame_s: float
    """One frame's duration (1 / average rate)."""
    errors: tuple[str, ...]
    """FFmpeg's error messages while decoding: the H.264 decoder conceals damaged
    macroblocks without failing, and only says so in its log."""

    @property
    def end_s(self) -> float:
        """Where the last frame ends: the file's playable duration."""
        return self.pts_s[-1] + self.frame_s if self.pts_s else 0.0


def decode_all(path: Path) -> Decoded:
    """Decode every video frame of ``path``; a decoder that cannot go on raises, one
    that conceals damage leaves its complaints in ``errors``."""
    pts: list[float] = []
    level = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        # local capture: only this thread's messages (not a reader thread's), so the
        # decoder must not log from worker threads either
        with av.logging.Capture(True) as logs, av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            assert stream.time_base is not None and stream.average_rate
            for frame in container.decode(stream):
                assert frame.pts is not None, f"{path}: a frame without a timestamp"
                pts.append(float(frame.pts * stream.time_base))
            frame_s = float(1 / stream.average_rate)
    finally:
        av.logging.set_level(level)
    errors = tuple(f"{name}: {message.strip()}" for _level, name, message in logs)
    return Decoded(len(pts), tuple(pts), frame_s, errors)


def fd_count() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))
