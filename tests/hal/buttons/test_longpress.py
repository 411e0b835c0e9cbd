"""Hold logic on a manual clock: thresholds, one request per hold, progress feedback, and
holds that must never turn into a request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from hal.buttons import (
    KEY_POWER,
    KEY_RESTART,
    ButtonEvent,
    Cancellable,
    HoldCancelled,
    HoldPolicy,
    HoldProgress,
    HoldRule,
    LongPress,
    ManualClock,
    Pressed,
    Released,
    Request,
    Requested,
    ShortPress,
)
from hal.buttons.longpress import DEFAULT_HOLD_POLICY


class StalledClock:
    """A clock whose timers never fire: the loop was too busy to run them."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], object]) -> Cancellable:
        return ManualClock().call_later(delay, callback)


def machine(role: str, clock: ManualClock | StalledClock,
            policy: HoldPolicy = DEFAULT_HOLD_POLICY) -> tuple[LongPress, list[ButtonEvent]]:
    events: list[ButtonEvent] = []
    code = KEY_RESTART if role == "reset" else KEY_POWER
    return LongPress(role, code, clock, events.append, policy.rule(role),
                     policy.progress_interval_s), events


def kinds(events: list[ButtonEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_reset_held_five_seconds_requests_a_factory_reset_once() -> None:
    clock = ManualClock()
    hold, events = machine("reset", clock)
    hold.press()
    clock.advance(4.9)
    assert not any(isinstance(e, Requested) for e in events)
    progress = [e for e in events if isinstance(e, HoldProgress)]
    assert [p.held_s for p in progress] == [0.0, 1.0, 2.0, 3.0, 4.0]  # "2 s of 5"
    assert {(p.threshold_s, p.request) for p in progress} == {(5.0, Request.FACTORY_RESET)}
    clock.advance(0.1)
    assert events[-1] == Requested("reset", KEY_RESTART, Request.FACTORY_RESET,
                                   5.0)
    clock.advance(20)  # still held: nothing more, no second request
    hold.release()
    assert kinds(events).count("Requested") == 1
    assert events[-1] == Released("reset", KEY_RESTART, 25.0, True)
    assert not any(isinstance(e, ShortPress) for e in events)
    assert clock.pending == 0


def test_power_held_three_seconds_requests_shutdown() -> None:
    clock = ManualClock()
    hold, events = machine("power", clock)
    hold.press()
    clock.advance(3.0)
    assert [e for e in events if isinstance(e, Requested)] == [
        Requested("power", KEY_POWER, Request.SHUTDOWN, 3.0)]


def test_short_power_press_is_only_reported() -> None:
    clock = ManualClock()
    hold, events = machine("power", clock)
    hold.press()
    clock.advance(0.4)
    hold.release()
    assert kinds(events) == ["Pressed", "HoldProgress", "ShortPress", "Released"]
    assert events[2] == ShortPress("power", KEY_POWER, 0.4)
    assert events[3] == Released("power", KEY_POWER, 0.4, False)
    clock.advance(10)
    assert len(events) == 4  # the hold timer was cancelled


def test_release_just_before_the_threshold_does_nothing() -> None:
    clock = ManualClock()
    hold, events = machine("reset", clock)
    hold.press()
    clock.advance(4.99)
    hold.release()
    clock.advance(10)
    assert not any(isinstance(e, Requested) for e in events)
    assert isinstance(events[-2], ShortPress)


def test_configured_reset_time() -> None:
    clock = ManualClock()
    hold, events = machine("reset", clock, HoldPolicy(reset_hold_s=8.0))
    hold.press()
    clock.advance(7.5)
    assert not any(isinstance(e, Requested) for e in events)
    clock.advance(0.5)
    assert isinstance(events[-1], Requested)


@pytest.mark.parametrize("kwargs", [{"reset_hold_s": 4.0}, {"reset_hold_s": 10.5},
                                    {"power_hold_s": 2.0}, {"progress_interval_s": 0}])
def test_policy_limits(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        HoldPolicy(**kwargs)


def test_repeat_events_catch_a_hold_whose_timer_is_late() -> None:
    clock = StalledClock()
    hold, events = machine("reset", clock)
    hold.press()
    for t in (2.0, 4.0, 5.5, 6.0):
        clock.now = t
        hold.repeat()
    requests = [e for e in events if isinstance(e, Requested)]
    assert requests == [Requested("reset", KEY_RESTART, Request.FACTORY_RESET, 5.5)]


def test_release_catches_a_hold_whose_timer_never_ran() -> None:
    clock = StalledClock()
    hold, events = machine("power", clock)
    hold.press()
    clock.now = 3.2
    hold.release()
    assert kinds(events)[-2:] == ["Requested", "Released"]
    assert events[-1] == Released("power", KEY_POWER, 3.2, True)


def test_cancelled_hold_never_requests() -> None:
    clock = ManualClock()
    hold, events = machine("reset", clock)
    hold.press()
    clock.advance(4.0)
    hold.cancel()
    clock.advance(10)
    hold.release()  # the release that arrives after a drop is ignored too
    assert events[-1] == HoldCancelled("reset", KEY_RESTART, 4.0)
    assert not any(isinstance(e, Requested | Released) for e in events)


def test_second_press_while_down_does_not_restart_the_hold() -> None:
    clock = ManualClock()
    hold, events = machine("reset", clock)
    hold.press()
    clock.advance(3.0)
    hold.press()
    clock.advance(2.0)
    assert kinds(events).count("Pressed") == 1
    assert isinstance(events[-1], Requested)


def test_button_without_rule_reports_presses_only() -> None:
    clock = ManualClock()
    events: list[ButtonEvent] = []
    hold = LongPress("wps", 0x211, clock, events.append, HoldPolicy().rule("wps"))
    hold.press()
    clock.advance(30)
    hold.release()
    assert events == [Pressed("wps", 0x211), ShortPress("wps", 0x211, 30.0),
                      Released("wps", 0x211, 30.0, False)]


async def test_the_event_loop_is_a_clock_and_its_timer_fires_without_repeats() -> None:
    loop = asyncio.get_running_loop()
    requested = asyncio.Event()
    events: list[ButtonEvent] = []

    def emit(event: ButtonEvent) -> None:
        events.append(event)
        if isinstance(event, Requested):
            requested.set()

    hold = LongPress("power", KEY_POWER, loop, emit, HoldRule(0.05, Request.SHUTDOWN), 0.02)
    started = loop.time()
    hold.press()
    await asyncio.wait_for(requested.wait(), 2.0)  # no repeat, no release: the timer did it
    assert loop.time() - started >= 0.05
    progress = [e.held_s for e in events if isinstance(e, HoldProgress)]
    assert progress[0] == 0.0  # then a tick every 0.02 s while below 0.05 s
    assert progress == sorted(progress) and progress[-1] < 0.05
    hold.release()
    assert isinstance(events[-1], Released) and events[-1].requested
