"""Camera clocks: read each ONVIF camera's clock, report its drift, set it when it is off.

Why the recorder cares: recordings are timed by the recorder's clock, but a camera stamps
its own events and burns its clock into the picture (the OSD). A camera that drifted a
minute shows a different time than the timeline next to it, and its event times lie.

Every ``camera_network.time.interval_minutes`` (and on demand, ``check_now``) each camera
with ``onvif`` is asked for its time (``GetSystemDateAndTime``, which needs no login).
The offset is camera minus recorder, corrected by half the round trip. When it is past
``max_drift_seconds`` and the camera has ``onvif.time_sync``, the camera's clock is set
to the recorder's UTC (``SetSystemDateAndTime``, manual) and read again, so what is
reported is what the camera says afterwards. Setting is done only past the threshold:
some cameras restart their stream when their clock is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from nvrd.cameras.onvif.client import OnvifDevice
from nvrd.cameras.onvif.errors import CameraError
from nvrd.config import NvrConfig
from nvrd.config.schema import CameraConfig
from nvrd.events.sources.base import now_us

logger = logging.getLogger(__name__)

OpenDevice = Callable[[CameraConfig], OnvifDevice]
CHECK_CONCURRENCY = 8
"""Cameras asked at once: a recorder with 64 cameras must not open 64 connections."""


@dataclass(frozen=True, slots=True)
class ClockReport:
    """One camera's clock as last checked."""

    channel: int
    checked_us: int
    offset_s: float | None
    """Camera minus recorder (positive: the camera is ahead); None when unreadable."""
    corrected: bool = False
    """The camera was set at this check (``offset_s`` is after setting)."""
    offset_before_s: float | None = None
    """The drift found before setting it."""
    ntp: bool = False
    """The camera says it takes its time from NTP."""
    error: str | None = None


class CameraClocks:
    def __init__(self, open_device: OpenDevice) -> None:
        self._open_device = open_device
        self._config: NvrConfig | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.reports: dict[int, ClockReport] = {}

    async def start(self, config: NvrConfig) -> None:
        self._config = config
        self._task = asyncio.get_running_loop().create_task(self._loop(),
                                                            name="camera-clocks")

    async def apply_config(self, config: NvrConfig) -> None:
        self._config = config
        channels = {c.channel for c in config.cameras if c.onvif is not None}
        for channel in [c for c in self.reports if c not in channels]:
            del self.reports[channel]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def check_now(self, channels: set[int] | None = None) -> list[ClockReport]:
        """Check (and correct) the cameras of ``channels`` (None: every ONVIF camera)."""
        assert self._config is not None, "started first"
        config = self._config
        cameras = [c for c in config.cameras if c.onvif is not None and c.enabled
                   and (channels is None or c.channel in channels)]
        limit = asyncio.Semaphore(CHECK_CONCURRENCY)

        async def one(camera: CameraConfig) -> ClockReport:
            async with limit:
                return await self._check(camera, config)

        async with self._lock:
            reports = await asyncio.gather(*(one(c) for c in cameras))
        for report in reports:
            self.reports[report.channel] = report
        return list(reports)

    async def _loop(self) -> None:
        while True:
            try:
                await self.check_now()
            except Exception:
                logger.exception("checking the cameras' clocks failed")
            assert self._config is not None
            await asyncio.sleep(self._config.camera_network.time.interval_minutes * 60)

    async def _check(self, camera: CameraConfig, config: NvrConfig) -> ClockReport:
        assert camera.onvif is not None
        limits = config.camera_network.time
        at = now_us()
        try:
            async with self._open_device(camera) as device:
                clock = await device.clock()
                if not (camera.onvif.time_sync
                        and abs(clock.offset_s) > limits.max_drift_seconds):
                    return ClockReport(camera.channel, at, clock.offset_s, ntp=clock.ntp)
                before = clock.offset_s
                await device.set_clock()
                after = await device.clock()
        except CameraError as exc:
            return ClockReport(camera.channel, at, None, error=str(exc))
        except (OSError, TimeoutError) as exc:
            return ClockReport(camera.channel, at, None,
                               error=f"{camera.onvif.host}: {exc or type(exc).__name__}")
        logger.info("channel %d: camera clock was %+.1f s off, set (now %+.1f s)",
                    camera.channel, before, after.offset_s)
        return ClockReport(camera.channel, at, after.offset_s, corrected=True,
                           offset_before_s=before, ntp=after.ntp)
