"""Timestamp hygiene for packets straight from a camera.

Cameras send packets without timestamps, timestamps that go backwards, and timestamps
that jump (a camera that reboots its encoder, an RTP wrap mishandled upstream, a
clock set on the camera). Muxing any of these either fails or writes a file whose
timeline lies. The rules, per track (video and audio each keep their own last DTS):

- no DTS: dropped and counted (the muxer cannot place it);
- DTS not after the previous one by less than ``BACKWARD_TOLERANCE_US``: dropped and
  counted (a reordered or duplicated packet);
- DTS backwards by more, or a gap in media time of more than ``MAX_MEDIA_GAP_US`` that
  did not also pass on the monotonic clock: a discontinuity — the recorder ends the run
  and starts a new one at the next keyframe, so no file holds a broken timeline. A real
  pause (no packets for a few seconds, and the media clock agrees) is a gap too when it
  exceeds ``MAX_MEDIA_GAP_US``: the catalog must show a gap where there is no video.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction

BACKWARD_TOLERANCE_US = 500_000
MAX_MEDIA_GAP_US = 5_000_000


class Verdict(enum.Enum):
    OK = "ok"
    DROP = "drop"
    DISCONTINUITY = "discontinuity"


@dataclass(slots=True)
class TrackClock:
    """One track's timestamp state; ``check`` returns what to do with a packet."""

    time_base: Fraction
    last_dts_us: int | None = None
    _num: int = 0
    _den: int = 1
    last_arrival_us: int | None = None
    reason: str = ""
    """Why the last packet was not OK, in words (for the log and the status)."""

    def __post_init__(self) -> None:
        # integer arithmetic: Fraction maths was a third of the per-packet cost
        self._num = self.time_base.numerator * 1_000_000
        self._den = self.time_base.denominator

    def to_us(self, ticks: int) -> int:
        return ticks * self._num // self._den

    def check(self, dts: int | None, arrival_mono_us: int) -> Verdict:
        if dts is None:
            self.reason = "a packet without a decode timestamp"
            return Verdict.DROP
        dts_us = self.to_us(dts)
        last, last_arrival = self.last_dts_us, self.last_arrival_us
        if last is None or last_arrival is None:
            self._accept(dts_us, arrival_mono_us)
            return Verdict.OK
        step = dts_us - last
        if step <= 0:
            if -step <= BACKWARD_TOLERANCE_US:
                self.reason = f"a timestamp {-step / 1e6:.3f} s behind the previous packet"
                return Verdict.DROP
            self.reason = f"the camera's timestamps jumped back {-step / 1e6:.1f} s"
            self._accept(dts_us, arrival_mono_us)
            return Verdict.DISCONTINUITY
        if step > MAX_MEDIA_GAP_US:
            waited = arrival_mono_us - last_arrival
            if step - waited > MAX_MEDIA_GAP_US:
                self.reason = f"the camera's timestamps jumped ahead {step / 1e6:.1f} s"
            else:
                self.reason = f"{step / 1e6:.1f} s without video from the camera"
            self._accept(dts_us, arrival_mono_us)
            return Verdict.DISCONTINUITY
        self._accept(dts_us, arrival_mono_us)
        return Verdict.OK

    def reset(self) -> None:
        self.last_dts_us = self.last_arrival_us = None

    def _accept(self, dts_us: int, arrival_mono_us: int) -> None:
        self.last_dts_us, self.last_arrival_us = dts_us, arrival_mono_us


CLOCK_STEP_THRESHOLD_US = 1_000_000
"""A change of ``wall - monotonic`` larger than this is a step, not drift or jitter."""


@dataclass(slots=True)
class ClockStepDetector:
    """Notices the system's wall clock being set: ``wall - mono`` is constant otherwise."""

    offset_us: int | None = None

    def check(self, wall_us: int, mono_us: int) -> int:
        """The size of the step since the last call (0 when none); re-arms itself."""
        offset = wall_us - mono_us
        if self.offset_us is None:
            self.offset_us = offset
            return 0
        step = offset - self.offset_us
        if abs(step) > CLOCK_STEP_THRESHOLD_US:
            self.offset_us = offset
            return step
        return 0
