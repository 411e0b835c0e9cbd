"""Motion in a channel's picture, frame by frame, on the 22×18 grid. Pure numpy, no I/O.

Steps for each analysed frame (luma only, any size):

1. **Cells.** The frame is cut into 22×18 blocks (edges spread evenly, so any size
   works) and each block becomes its mean brightness. Averaging hundreds of pixels
   removes sensor and compression noise: a pixel noise of σ = 10 levels leaves well
   under one level on a cell of a 352×288 picture.
2. **Difference.** ``diff = cell − background`` (as step 3 maps it); the background is
   an exponential running average per cell (time constant ``background_tau_s``; cells
   that moved follow 8× slower, so a passing object does not smear into it but a
   parked car is absorbed after a minute or so).
3. **Light changes.** A lamp switching on, the sun behind a cloud, or the camera's auto
   exposure move every cell together: by an offset (a lamp) or a gain (exposure). The
   background is mapped through ``gain · background + offset`` fitted over the whole
   grid (least squares, refitted without the cells that do not fit: the moving ones)
   before differencing (``light_model``), and follows that mapping at once. If even so
   at least ``LIGHT_CHANGE_SHARE`` of all cells moved, the change is called a light
   change, not motion: no cell is reported and the background is reset to the frame.
   The price: an object covering more than half the picture is taken for a light change
   too (the vendor's firmware behaves alike).
4. **Moving cells.** A cell moved when ``|diff|`` exceeds the level threshold of its
   region's sensitivity (``level_threshold``; a cell in several regions uses the most
   sensitive one; cells in no region use sensitivity 50, for the stored bitmaps).
5. **Regions.** A region is active on a frame when the share of its cells that moved
   (at its own sensitivity) reaches its threshold. It *starts* after ``start_frames``
   active frames in a row (the start time is the first of them) and *stops* once it has
   been quiet for ``stop_after_us`` (the stop time is the first quiet frame).

Sensitivity → level threshold (``level_threshold``): geometric from 48 levels (of 255)
at sensitivity 1 to 3 levels at 100, so every step is the same ratio (≈2.8 %):
sensitivity 50 → about 12 levels, 75 → 6, 25 → 24.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from nvrd.config.schema import MotionConfig
from nvrd.motion.grid import COLUMNS, ROWS, CellMask, mask_of

LIGHT_CHANGE_SHARE = 0.6
"""Share of all cells changing together above which a change is light, not motion."""
DEFAULT_SENSITIVITY = 50
MIN_LEVELS, MAX_LEVELS = 3.0, 48.0

Phase = Literal["start", "stop"]
Luma = npt.NDArray[np.uint8]


def level_threshold(sensitivity: int) -> float:
    """Brightness change (0–255 levels) of a cell's mean that counts as movement."""
    if not 1 <= sensitivity <= 100:
        raise ValueError(f"sensitivity is 1–100, not {sensitivity}")
    return MAX_LEVELS * (MIN_LEVELS / MAX_LEVELS) ** ((sensitivity - 1) / 99)


def light_model(background: npt.NDArray[np.float32],
                cells: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The background as this frame's light would show it: ``gain · background + offset``
    fitted over the grid by least squares, refitted without the cells that do not fit
    (the moving ones), so a lamp (offset) and auto exposure (gain) are both absorbed."""
    x, y = background.ravel(), cells.ravel()
    inliers = np.ones(x.size, dtype=bool)
    gain, offset = 1.0, float(np.median(y - x))
    for _ in range(2):
        xs, ys = x[inliers], y[inliers]
        if xs.size >= 8 and float(xs.std()) >= 2.0:
            gain, offset = (float(v) for v in np.polyfit(xs, ys, 1))
            gain = min(max(gain, 0.25), 4.0)
            offset = float(np.median(ys - gain * xs))
        else:  # a flat picture: only an offset can be told
            gain, offset = 1.0, float(np.median(ys - xs))
        residual = np.abs(y - (gain * x + offset))
        inliers = residual <= max(3.0 * float(np.median(residual)), MIN_LEVELS)
    return (gain * background + offset).astype(np.float32)


@dataclass(frozen=True, slots=True)
class RegionSpec:
    """A region as the detector needs it. ``number`` is the installer's 1–4."""

    number: int
    mask: CellMask
    sensitivity: int = DEFAULT_SENSITIVITY
    threshold_percent: int = 5


def regions_of(config: MotionConfig) -> list[RegionSpec]:
    """The enabled regions of a channel's configuration, numbered as configured (1–4)."""
    return [RegionSpec(i, mask_of(r.cells), r.sensitivity, r.threshold_percent)
            for i, r in enumerate(config.regions, start=1) if r.enabled]


@dataclass(frozen=True, slots=True)
class RegionChange:
    region: int
    phase: Phase
    time_us: int


@dataclass(frozen=True, slots=True)
class FrameResult:
    moving: CellMask
    """Cells that moved on this frame (all False on the first frame and on light changes)."""
    light_change: bool
    changes: tuple[RegionChange, ...]


@dataclass(slots=True)
class _RegionState:
    spec: RegionSpec
    levels: float
    cells: int
    active: bool = False
    run: int = 0
    run_start_us: int = 0
    quiet_since_us: int | None = None


@dataclass(slots=True)
class _Grid:
    """Block edges for one frame size (cached: sizes rarely change)."""

    shape: tuple[int, int]
    row_starts: npt.NDArray[np.intp] = field(init=False)
    col_starts: npt.NDArray[np.intp] = field(init=False)
    counts: npt.NDArray[np.float32] = field(init=False)

    def __post_init__(self) -> None:
        height, width = self.shape
        if height < ROWS or width < COLUMNS:
            raise ValueError(f"a frame must be at least {COLUMNS}×{ROWS} pixels, "
                             f"not {width}×{height}")
        rows = np.linspace(0, height, ROWS + 1).astype(np.intp)
        cols = np.linspace(0, width, COLUMNS + 1).astype(np.intp)
        self.row_starts, self.col_starts = rows[:-1], cols[:-1]
        self.counts = np.outer(np.diff(rows), np.diff(cols)).astype(np.float32)

    def means(self, luma: Luma) -> npt.NDArray[np.float32]:
        sums = np.add.reduceat(luma, self.row_starts, axis=0, dtype=np.uint32)
        sums = np.add.reduceat(sums, self.col_starts, axis=1, dtype=np.uint32)
        return sums.astype(np.float32) / self.counts


class MotionDetector:
    """One channel's detector; feed frames in time order from one thread."""

    def __init__(self, regions: Sequence[RegionSpec], *, background_tau_s: float = 5.0,
                 start_frames: int = 2, stop_after_us: int = 2_000_000) -> None:
        self._regions = [_RegionState(r, level_threshold(r.sensitivity), int(r.mask.sum()))
                         for r in regions]
        levels = np.full((ROWS, COLUMNS), level_threshold(DEFAULT_SENSITIVITY), np.float32)
        for state in self._regions:
            levels[state.spec.mask] = np.minimum(levels[state.spec.mask], state.levels)
        self._levels = levels
        self._tau_us = background_tau_s * 1e6
        self._start_frames = max(1, start_frames)
        self._stop_after_us = stop_after_us
        self._grid: _Grid | None = None
        self._background: npt.NDArray[np.float32] | None = None
        self._last_us = 0

    @property
    def active(self) -> frozenset[int]:
        return frozenset(s.spec.number for s in self._regions if s.active)

    def process(self, luma: Luma, time_us: int) -> FrameResult:
        if self._grid is None or self._grid.shape != luma.shape:
            self._grid = _Grid((luma.shape[0], luma.shape[1]))
            self._background = None
        cells = self._grid.means(luma)
        background = self._background
        if background is None:  # first frame (or a new size): nothing to compare with
            self._background, self._last_us = cells, time_us
            return self._regions_step(np.zeros((ROWS, COLUMNS), bool), False, time_us)
        expected = light_model(background, cells)
        diff = cells - expected
        moving = np.abs(diff) > self._levels
        light = bool(moving.mean() >= LIGHT_CHANGE_SHARE)
        if light:
            self._background = cells
            moving = np.zeros_like(moving)
        else:
            self._follow(expected, cells, moving, time_us)
        self._last_us = time_us
        return self._regions_step(moving, light, time_us, diff=None if light else diff)

    def end(self, time_us: int) -> tuple[RegionChange, ...]:
        """The stream ended: stop every active region and forget the background."""
        changes = []
        for state in self._regions:
            if state.active:
                changes.append(RegionChange(state.spec.number, "stop",
                                            state.quiet_since_us or time_us))
            state.active, state.run, state.quiet_since_us = False, 0, None
        self._background = None
        return tuple(changes)

    def _follow(self, background: npt.NDArray[np.float32], cells: npt.NDArray[np.float32],
                moving: CellMask, time_us: int) -> None:
        dt_us = min(max(time_us - self._last_us, 0), self._tau_us)
        alpha = 1.0 - math.exp(-dt_us / self._tau_us)
        rate = np.where(moving, alpha / 8, alpha).astype(np.float32)
        self._background = background + rate * (cells - background)

    def _regions_step(self, moving: CellMask, light: bool, time_us: int,
                      diff: npt.NDArray[np.float32] | None = None) -> FrameResult:
        changes: list[RegionChange] = []
        for state in self._regions:
            hit = False
            if diff is not None and state.cells:
                region_moving = (np.abs(diff) > state.levels) & state.spec.mask
                hit = region_moving.sum() * 100 >= state.spec.threshold_percent * state.cells
            change = self._hysteresis(state, hit, time_us)
            if change is not None:
                changes.append(change)
        return FrameResult(moving, light, tuple(changes))

    def _hysteresis(self, state: _RegionState, hit: bool,
                    time_us: int) -> RegionChange | None:
        if hit:
            if state.run == 0:
                state.run_start_us = time_us
            state.run += 1
            state.quiet_since_us = None
            if not state.active and state.run >= self._start_frames:
                state.active = True
                return RegionChange(state.spec.number, "start", state.run_start_us)
            return None
        state.run = 0
        if not state.active:
            return None
        if state.quiet_since_us is None:
            state.quiet_since_us = time_us
        if time_us - state.quiet_since_us >= self._stop_after_us:
            state.active = False
            stopped, state.quiet_since_us = state.quiet_since_us, None
            return RegionChange(state.spec.number, "stop", stopped)
        return None
