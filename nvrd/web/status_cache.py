"""The daemon's status as the web serves it: computed at most once per ``max_age_s``.

A dashboard, a monitoring scraper and a health probe all poll the status, and a status
is not cheap while cameras record: every stream, every volume (with its write-latency
percentiles) and every hardware part is read, and each read takes the GIL from the
threads that are recording. Polled by many clients, the status would cost the recorder
more than the recording. One status per second, shared by every request, costs the
same however many ask; a dashboard does not show anything faster than that.

Code that acts on the status (the panel lamps, the watchdog) asks the daemon directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from nvrd.system.status import DaemonStatus

STATUS_MAX_AGE_S = 1.0


class CachedStatus:
    """A callable giving the daemon's status, at most ``max_age_s`` old."""

    def __init__(self, compute: Callable[[], DaemonStatus], *,
                 max_age_s: float = STATUS_MAX_AGE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._compute = compute
        self._max_age_s = max_age_s
        self._clock = clock
        self._status: DaemonStatus | None = None
        self._taken_at = 0.0

    def __call__(self) -> DaemonStatus:
        now = self._clock()
        if self._status is None or now - self._taken_at >= self._max_age_s:
            self._status, self._taken_at = self._compute(), now
        return self._status

