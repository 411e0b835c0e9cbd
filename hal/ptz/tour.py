"""Tours ("cruises") sequenced by the recorder: call preset, dwell, next preset, repeat.

Pelco has no standard way to store a tour in the dome, so the recorder runs it: one task
per running tour calls each stop's preset, sleeps its dwell time (which includes the travel
time), and moves on, looping if asked. The sleep is injected so tests step time instead of
waiting.

Stopping is clean: :meth:`TourRunner.stop` cancels the task and waits for it, so when it
returns no further preset call will be sent (a frame already being written is finished by
the bus, never cut in half by the cancel unless the kernel buffer was full). A bus error
ends the tour; the error is kept in :attr:`TourState.error` and logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hal.ptz.base import PtzCamera
from hal.ptz.errors import PtzError

__all__ = ["Sleep", "Tour", "TourRunner", "TourState", "TourStop"]

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class TourStop:
    preset: int
    dwell_s: float
    """Time at this stop, counted from the preset call (so it includes the travel)."""
    speed: int | None = None
    """Travel speed hint, passed to :meth:`PtzCamera.call_preset` (Pelco ignores it)."""

    def __post_init__(self) -> None:
        if not 1 <= self.preset <= 255:
            raise ValueError(f"tour preset {self.preset} is out of range 1..255")
        if not self.dwell_s > 0:
            raise ValueError(f"tour dwell time {self.dwell_s} s must be positive")


@dataclass(frozen=True, slots=True)
class Tour:
    stops: tuple[TourStop, ...]
    loop: bool = True

    def __post_init__(self) -> None:
        if not self.stops:
            raise ValueError("a tour needs at least one stop")


@dataclass(frozen=True, slots=True)
class TourState:
    running: bool
    index: int | None
    """The stop the camera is at (or travelling to), 0-based; ``None`` when not running."""
    laps: int
    """Completed passes over the whole list."""
    error: str | None


class TourRunner:
    """Runs one :class:`Tour` on one camera. Loop-only; not reusable concurrently."""

    def __init__(self, camera: PtzCamera, tour: Tour, *,
                 sleep: Sleep = asyncio.sleep, name: str = "tour") -> None:
        self._camera = camera
        self._tour = tour
        self._sleep = sleep
        self._name = name
        self._task: asyncio.Task[None] | None = None
        self._index: int | None = None
        self._laps = 0
        self._error: str | None = None

    @property
    def tour(self) -> Tour:
        return self._tour

    @property
    def state(self) -> TourState:
        return TourState(self.running, self._index, self._laps, self._error)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start from the first stop; a tour already running is left alone."""
        if self.running:
            return
        self._laps, self._error = 0, None
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Cancel the tour and wait until it has stopped sending."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
        self._index = None

    async def wait(self) -> None:
        """Until a non-looping tour has finished (or failed)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        try:
            while True:
                for index, stop in enumerate(self._tour.stops):
                    self._index = index
                    await self._camera.call_preset(stop.preset, speed=stop.speed)
                    await self._sleep(stop.dwell_s)
                self._laps += 1
                if not self._tour.loop:
                    break
        except PtzError as exc:
            self._error = str(exc)
            logger.warning("%s stopped: %s", self._name, exc)
        finally:
            self._index = None
