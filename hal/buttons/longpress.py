"""Press-and-hold logic for one front-panel button, timed on an injected clock.

What the buttons mean (manual digest §3 and part 3 "Reset button", "Shutdown"):

- **reset** held for ``reset_hold_s`` (default 5 s; the manual says "hold 5–10 s", so
  5..10 is accepted) → a :attr:`Request.FACTORY_RESET` request. The panel shows the
  countdown (``HoldProgress`` → ``Phase.BUTTON_HELD``) and, once the request is out,
  ``Phase.FACTORY_RESET_PENDING``. A shorter press does nothing but report ``ShortPress``.
- **power** held for ``power_hold_s`` (default and minimum 3 s: "press the power button
  ≥3 s for a proper shutdown") → a :attr:`Request.SHUTDOWN` request (graceful: close
  segments, flush catalogs, unmount). A short press only reports ``ShortPress``; the
  daemon may show its status or ignore it, and never shuts down on it. (With the box off,
  a short press powering it on is the hardware's business, not ours.)
- **wps**, **panel_lock** and any button without a rule report ``Pressed``, ``ShortPress``
  and ``Released`` only.

Rules of a hold:

1. The request is emitted **once per hold**, when the threshold is reached *while the
   button is still down* — by a timer, so it fires without repeat events (gpio-keys sends
   none unless ``autorepeat`` is set). A repeat event or the release also checks the time,
   so a timer delayed by a busy loop cannot lose a hold that really lasted long enough.
2. ``HoldProgress`` is emitted at the press (0 s) and every ``progress_interval_s`` until the
   threshold: feedback such as "reset is being held: 2 s of 5".
3. The release after a request reports ``Released(requested=True)`` and no ``ShortPress``.
4. :meth:`LongPress.cancel` (events dropped by the kernel, device gone) ends a hold with
   ``HoldCancelled`` and no request: a lost release must not become a factory reset.
5. A second press while down (a missed release) is ignored; a release while up, too.

Times are measured on the clock (``loop.time()`` in the daemon), not the events' kernel
timestamps, which are wall-clock and may step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from hal.buttons.clock import Cancellable, Clock

__all__ = [
    "DEFAULT_HOLD_POLICY",
    "ButtonEvent",
    "HoldCancelled",
    "HoldPolicy",
    "HoldProgress",
    "HoldRule",
    "LongPress",
    "Pressed",
    "Released",
    "Request",
    "Requested",
    "ShortPress",
]

# Slack for comparing float times (timers land exactly on the threshold, or a hair short).
_EPS = 1e-6


class Request(StrEnum):
    FACTORY_RESET = "factory-reset"
    SHUTDOWN = "shutdown"


@dataclass(frozen=True, slots=True)
class HoldRule:
    threshold_s: float
    request: Request


@dataclass(frozen=True, slots=True)
class HoldPolicy:
    """The daemon's hold times (nvrd.toml); limits from the manual."""

    reset_hold_s: float = 5.0
    power_hold_s: float = 3.0
    progress_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if not 5.0 <= self.reset_hold_s <= 10.0:
            raise ValueError(f"reset_hold_s must be 5..10 s (the manual's 'hold 5-10 s'), "
                             f"got {self.reset_hold_s}")
        if not 3.0 <= self.power_hold_s <= 10.0:
            raise ValueError(f"power_hold_s must be 3..10 s (the manual's 'press ≥3 s'), "
                             f"got {self.power_hold_s}")
        if self.progress_interval_s <= 0:
            raise ValueError("progress_interval_s must be positive")

    def rule(self, role: str) -> HoldRule | None:
        if role == "reset":
            return HoldRule(self.reset_hold_s, Request.FACTORY_RESET)
        if role == "power":
            return HoldRule(self.power_hold_s, Request.SHUTDOWN)
        return None


DEFAULT_HOLD_POLICY = HoldPolicy()


@dataclass(frozen=True, slots=True)
class Pressed:
    role: str
    code: int


@dataclass(frozen=True, slots=True)
class HoldProgress:
    """Still held, not yet long enough: ``held_s`` of ``threshold_s``."""

    role: str
    code: int
    held_s: float
    threshold_s: float
    request: Request


@dataclass(frozen=True, slots=True)
class Requested:
    """The hold reached its threshold: act on ``request`` (emitted once per hold)."""

    role: str
    code: int
    request: Request
    held_s: float


@dataclass(frozen=True, slots=True)
class ShortPress:
    """Released before any threshold (or a button without a hold rule)."""

    role: str
    code: int
    held_s: float


@dataclass(frozen=True, slots=True)
class Released:
    role: str
    code: int
    held_s: float
    requested: bool
    """Whether this hold produced a request."""


@dataclass(frozen=True, slots=True)
class HoldCancelled:
    """The hold ended without a release event (events dropped, device gone)."""

    role: str
    code: int
    held_s: float


ButtonEvent = Pressed | HoldProgress | Requested | ShortPress | Released | HoldCancelled


class LongPress:
    """One button's hold state machine. Call :meth:`press`, :meth:`repeat`,
    :meth:`release` as its key events arrive, on the clock's loop."""

    def __init__(self, role: str, code: int, clock: Clock, emit: Callable[[ButtonEvent], None],
                 rule: HoldRule | None, progress_interval_s: float = 1.0) -> None:
        self.role = role
        self.code = code
        self._clock = clock
        self._emit = emit
        self._rule = rule
        self._interval = progress_interval_s
        self._down_at: float | None = None
        self._requested = False
        self._timer: Cancellable | None = None

    @property
    def held(self) -> bool:
        return self._down_at is not None

    def held_s(self) -> float:
        return 0.0 if self._down_at is None else self._clock.time() - self._down_at

    def press(self) -> None:
        if self._down_at is not None:
            return
        self._down_at = self._clock.time()
        self._requested = False
        self._emit(Pressed(self.role, self.code))
        if self._rule is not None:
            self._progress(0.0)
            self._schedule()

    def repeat(self) -> None:
        if self._down_at is not None:
            self._check(self.held_s())

    def release(self) -> None:
        if self._down_at is None:
            return
        held = self.held_s()
        self._cancel_timer()
        self._check(held)
        if not self._requested:
            self._emit(ShortPress(self.role, self.code, held))
        self._emit(Released(self.role, self.code, held, self._requested))
        self._down_at = None

    def cancel(self) -> None:
        if self._down_at is None:
            return
        held = self.held_s()
        self._cancel_timer()
        self._down_at = None
        self._emit(HoldCancelled(self.role, self.code, held))

    # --- timing --------------------------------------------------------------------------

    def _check(self, held: float) -> None:
        rule = self._rule
        if rule is not None and not self._requested and held >= rule.threshold_s - _EPS:
            self._requested = True
            self._cancel_timer()
            self._emit(Requested(self.role, self.code, rule.request, held))

    def _schedule(self) -> None:
        rule = self._rule
        if rule is None or self._requested:
            return
        held = self.held_s()
        next_tick = (math.floor(held / self._interval + _EPS) + 1) * self._interval
        due = min(rule.threshold_s, next_tick)
        self._timer = self._clock.call_later(max(due - held, 0.0), self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self._down_at is None or self._rule is None:
            return
        held = self.held_s()
        self._check(held)
        if not self._requested:
            self._progress(held)
            self._schedule()

    def _progress(self, held: float) -> None:
        rule = self._rule
        if rule is not None:
            self._emit(HoldProgress(self.role, self.code, held, rule.threshold_s,
                                    rule.request))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
