"""Timestamp hygiene: what is dropped, what splits a run, and clock-step detection."""

from __future__ import annotations

from fractions import Fraction

from nvrd.record.timestamps import (
    BACKWARD_TOLERANCE_US,
    MAX_MEDIA_GAP_US,
    ClockStepDetector,
    TrackClock,
    Verdict,
)

TB = Fraction(1, 90_000)
FRAME = 3600  # 40 ms at 90 kHz


def ticks(us: int) -> int:
    return us * 90_000 // 1_000_000


def test_steady_packets_pass_and_missing_dts_is_dropped() -> None:
    clock = TrackClock(TB)
    assert clock.check(None, 0) is Verdict.DROP
    assert "without a decode timestamp" in clock.reason
    for n in range(10):
        assert clock.check(n * FRAME, n * 40_000) is Verdict.OK
    assert clock.last_dts_us == 9 * 40_000


def test_small_step_back_is_dropped_without_disturbing_the_timeline() -> None:
    clock = TrackClock(TB)
    clock.check(10 * FRAME, 0)
    assert clock.check(10 * FRAME, 40_000) is Verdict.DROP  # duplicate
    assert clock.check(9 * FRAME, 80_000) is Verdict.DROP  # reordered
    assert clock.last_dts_us == 400_000  # the accepted timeline is unchanged
    assert clock.check(11 * FRAME, 120_000) is Verdict.OK


def test_a_big_step_back_is_a_discontinuity() -> None:
    clock = TrackClock(TB)
    clock.check(ticks(100_000_000), 0)
    back = BACKWARD_TOLERANCE_US + 100_000
    assert clock.check(ticks(100_000_000 - back), 40_000) is Verdict.DISCONTINUITY
    assert "jumped back" in clock.reason
    # the new timeline is accepted from there on
    assert clock.check(ticks(100_000_000 - back) + FRAME, 80_000) is Verdict.OK


def test_a_jump_ahead_that_did_not_pass_on_the_monotonic_clock_is_a_discontinuity() -> None:
    clock = TrackClock(TB)
    clock.check(0, 0)
    jump = MAX_MEDIA_GAP_US + 1_000_000
    assert clock.check(ticks(jump), 40_000) is Verdict.DISCONTINUITY
    assert "jumped ahead" in clock.reason


def test_a_real_pause_longer_than_the_gap_limit_is_reported_as_missing_video() -> None:
    clock = TrackClock(TB)
    clock.check(0, 0)
    pause = MAX_MEDIA_GAP_US + 1_000_000
    assert clock.check(ticks(pause), pause) is Verdict.DISCONTINUITY
    assert "without video" in clock.reason


def test_a_short_pause_is_not_a_discontinuity() -> None:
    clock = TrackClock(TB)
    clock.check(0, 0)
    assert clock.check(ticks(MAX_MEDIA_GAP_US - 100_000), MAX_MEDIA_GAP_US) is Verdict.OK


def test_clock_step_detector_sees_steps_not_jitter() -> None:
    detector = ClockStepDetector()
    assert detector.check(1_000_000_000, 5_000) == 0  # arms
    assert detector.check(1_000_400_000, 405_000) == 0  # 0 drift
    assert detector.check(1_001_300_000, 1_000_000) == 0  # 305 ms jitter: not a step
    # measured from the armed offset (999_995_000), not from the jittered sample
    assert detector.check(4_601_000_000, 1_000_000) == 3_600_005_000
    # re-armed on the new offset: no second report for the same step
    assert detector.check(4_602_000_000, 2_000_000) == 0
    assert detector.check(2_000_000, 2_000_000) < -1_000_000
