"""The two clocks the recorder reads, behind one seam so tests can step the wall clock.

Recordings are placed on the wall clock (UTC µs) only at the start of a run; durations
come from the camera's media timestamps. The monotonic clock measures arrival gaps and
detects steps of the wall clock: ``wall - monotonic`` is constant while nobody sets the
time, so a change in it is a step (NTP syncing after boot on a box without an RTC, an
installer setting the time by hand).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def wall_us(self) -> int:
        """UTC now, in microseconds since the epoch."""
        ...

    def mono_us(self) -> int:
        """A clock that never steps, in microseconds."""
        ...


class SystemClock:
    def wall_us(self) -> int:
        return time.time_ns() // 1000

    def mono_us(self) -> int:
        return time.monotonic_ns() // 1000


class SteppableClock(SystemClock):
    """The system clock plus an offset that can be stepped, as NTP or an installer would
    step the real one (tests and the clock-step benchmark; stepping the host's clock
    would disturb everything else running on it)."""

    def __init__(self, offset_us: int = 0) -> None:
        self.offset_us = offset_us

    def step(self, delta_us: int) -> None:
        self.offset_us += delta_us

    def wall_us(self) -> int:
        return super().wall_us() + self.offset_us
