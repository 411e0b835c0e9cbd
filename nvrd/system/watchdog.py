"""Health-gated systemd watchdog.

systemd restarts the daemon when ``WATCHDOG=1`` pings stop for longer than
``WatchdogSec=``. A blind timer would keep a deadlocked daemon alive, so every ping is
earned: the event loop must be responsive (its lag, measured by a probe, under a bound)
and every service must report itself healthy. When a check fails the ping is withheld
and the reason logged; if the fault clears before systemd's deadline, pinging resumes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from nvrd.system.sdnotify import SdNotifier

logger = logging.getLogger(__name__)

# How often the lag probe wakes (seconds), and the lag above which the loop counts as
# stuck. The alarm path needs milliseconds; a whole second of lag is a real fault.
LAG_PROBE_INTERVAL_SECONDS = 0.25
MAX_LOOP_LAG_SECONDS = 1.0


class LoopLagProbe:
    """Measures how late the event loop wakes a sleeping coroutine."""

    def __init__(self, interval: float = LAG_PROBE_INTERVAL_SECONDS) -> None:
        self.interval = interval
        self.last_lag = 0.0
        self.worst_lag_since_read = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.interval)
            self.last_lag = max(0.0, loop.time() - started - self.interval)
            self.worst_lag_since_read = max(self.worst_lag_since_read, self.last_lag)

    def take_worst(self) -> float:
        """The worst lag since the previous call (so one slow spell is seen once)."""
        worst, self.worst_lag_since_read = self.worst_lag_since_read, 0.0
        return worst


class HealthWatchdog:
    """Pings systemd's watchdog only while ``problems()`` is empty and the loop is live."""

    def __init__(
        self,
        notifier: SdNotifier,
        problems: Callable[[], list[str]],
        probe: LoopLagProbe,
        max_lag: float = MAX_LOOP_LAG_SECONDS,
    ) -> None:
        self._notifier = notifier
        self._problems = problems
        self._probe = probe
        self._max_lag = max_lag
        self.pings_sent = 0
        self.last_problems: list[str] = []

    def check(self) -> list[str]:
        """All reasons the daemon is not healthy right now; empty means healthy."""
        problems = list(self._problems())
        lag = self._probe.take_worst()
        if lag > self._max_lag:
            problems.append(f"event loop stalled for {lag:.2f} s (limit {self._max_lag:.2f} s)")
        return problems

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            problems = self.check()
            if problems != self.last_problems:
                if problems:
                    logger.error("health check failed, withholding watchdog ping: %s",
                                 "; ".join(problems))
                else:
                    logger.warning("health check passes again, watchdog pings resume")
            self.last_problems = problems
            if not problems and self._notifier.watchdog():
                self.pings_sent += 1
