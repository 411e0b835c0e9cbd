"""The clock button holds are timed on: "now" plus "call me back in d seconds".

A running asyncio loop is such a clock as it is (``loop.time()`` is monotonic,
``loop.call_later`` returns a cancellable handle), so the daemon passes its loop. Tests and
tools pass a :class:`ManualClock` and move time with :meth:`ManualClock.advance`: a 10 s
hold then takes no time, and timers fire in a known order.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Protocol

__all__ = ["Cancellable", "Clock", "ManualClock"]


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def time(self) -> float:
        """Monotonic seconds."""
        ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> Cancellable:
        """Run ``callback`` once, ``delay`` seconds from now, on the owner's loop."""
        ...


class _Timer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that moves only when told; timers fire inside :meth:`advance`, in time order
    (scheduling order for equal times), each seeing ``time()`` equal to its due time."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], object]) -> Cancellable:
        timer = _Timer(self._now + max(delay, 0.0), callback)
        heapq.heappush(self._timers, (timer.when, next(self._seq), timer))
        return timer

    @property
    def pending(self) -> int:
        """Timers scheduled and not cancelled."""
        return sum(1 for _, _, t in self._timers if not t.cancelled)

    def advance(self, seconds: float) -> None:
        """Move time forward, firing every timer that falls due (including ones that
        callbacks schedule within the interval)."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        end = self._now + seconds
        while self._timers and self._timers[0][0] <= end:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.callback()
        self._now = end
