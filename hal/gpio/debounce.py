"""Software debounce of one input: a level counts once it has been stable for a window.

Why this rule (and not "report the first edge, then ignore the line for a while"): an alarm
must not be raised by a glitch. The leading-edge rule reports instantly but turns a 1 ms
spike into an alarm; the stable-window rule rejects every pulse shorter than the window, at
the price of reporting a real change exactly one window late. The kernel's debounce
(``debounce_period``) follows the same rule, so an input behaves the same whichever does it.

What it costs and what it rejects, for a window W:

* latency: a change is reported W after its edge (plus timer wake-up), never sooner;
* rejected: any excursion shorter than W (it returns before W has passed), and any burst of
  bounces, as long as the gaps between edges stay shorter than W; the reported change then
  carries the timestamp of the *last* bounce, from which the level held;
* accepted: a level held for W or longer, even if it goes back right after.

The class is pure (no clock, no loop): callers feed kernel timestamps and ask for what is
due at a given monotonic time, so it is tested with plain numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Debouncer", "LevelChange"]


@dataclass(frozen=True, slots=True)
class LevelChange:
    """A debounced change: the line is ``level`` since ``timestamp_ns`` (CLOCK_MONOTONIC)."""

    level: bool
    timestamp_ns: int


class Debouncer:
    """The debounced level of one line; ``window_ns == 0`` passes every change through."""

    __slots__ = ("_pending", "level", "since_ns", "window_ns")

    def __init__(self, level: bool, window_ns: int, since_ns: int = 0) -> None:
        if window_ns < 0:
            raise ValueError(f"debounce window must be >= 0 ns, not {window_ns}")
        self.level = level
        self.since_ns = since_ns
        self.window_ns = window_ns
        self._pending: LevelChange | None = None

    @property
    def deadline_ns(self) -> int | None:
        """When the pending change becomes due if no edge comes first; ``None`` if none."""
        if self._pending is None:
            return None
        return self._pending.timestamp_ns + self.window_ns

    def feed(self, level: bool, timestamp_ns: int) -> LevelChange | None:
        """The line went to ``level`` at ``timestamp_ns``. Returns the change this confirms:
        the previous pending level, if it was held for the whole window before this edge
        (events read late in a batch are judged by their timestamps, not by when they were
        read), or this one if there is no window."""
        confirmed = self._confirm_if_held(timestamp_ns)
        # An edge restarts stability: whatever the line does now, it has done so since this
        # edge. Back at the debounced level means the excursion was a glitch.
        self._pending = None if level == self.level else LevelChange(level, timestamp_ns)
        if self.window_ns == 0 and self._pending is not None:
            return self._commit()
        return confirmed

    def due(self, now_ns: int) -> LevelChange | None:
        """The pending change if it has been stable until ``now_ns`` for the whole window.

        Call it when ``deadline_ns`` has passed, *after* reading every queued edge: an edge
        still sitting in the fd may cancel it."""
        return self._confirm_if_held(now_ns)

    def _confirm_if_held(self, until_ns: int) -> LevelChange | None:
        deadline = self.deadline_ns
        if deadline is None or until_ns < deadline:
            return None
        return self._commit()

    def _commit(self) -> LevelChange:
        change = self._pending
        assert change is not None
        self._pending = None
        self.level = change.level
        self.since_ns = change.timestamp_ns
        return change
