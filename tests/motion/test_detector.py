"""The detector on synthetic frames: which region moves, what is not motion, hysteresis."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from nvrd.config.schema import MotionCells
from nvrd.motion.detector import (
    MotionDetector,
    RegionChange,
    RegionSpec,
    level_threshold,
)
from nvrd.motion.grid import COLUMNS, ROWS, mask_of

W, H = 352, 288  # cells of 16×16 pixels
STEP_US = 200_000  # 5 frames a second
Frame = npt.NDArray[np.uint8]

TOP_LEFT = RegionSpec(1, mask_of([MotionCells(left=0, top=0, right=10, bottom=8)]))
BOTTOM_RIGHT = RegionSpec(2, mask_of([MotionCells(left=11, top=9, right=21, bottom=17)]))


def scene(seed: int = 1) -> Frame:
    """A static, textured background: a gradient plus fixed grain."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    base = 60 + (xx * 80 // W) + (yy * 40 // H) + rng.integers(0, 12, (H, W))
    return base.astype(np.uint8)


def with_square(frame: Frame, x: int, y: int, size: int = 48) -> Frame:
    out = frame.copy()
    out[y:y + size, x:x + size] = 235
    return out


def noisy(frame: Frame, rng: np.random.Generator, sigma: float = 10) -> Frame:
    return np.clip(frame + rng.normal(0, sigma, frame.shape), 0, 255).astype(np.uint8)


def run(detector: MotionDetector, frames: list[Frame]) -> list[RegionChange]:
    changes: list[RegionChange] = []
    for i, frame in enumerate(frames):
        changes.extend(detector.process(frame, i * STEP_US).changes)
    return changes


def test_a_square_moving_in_one_region_triggers_that_region_only() -> None:
    background = scene()
    detector = MotionDetector([TOP_LEFT, BOTTOM_RIGHT])
    frames = [background] * 5 + [with_square(background, 16 + 16 * i, 48) for i in range(6)]
    changes: list[RegionChange] = []
    moved = np.zeros((ROWS, COLUMNS), bool)
    for i, frame in enumerate(frames):
        result = detector.process(frame, i * STEP_US)
        changes.extend(result.changes)
        moved |= result.moving
    # starts after two moving frames in a row, at the first of them
    assert changes == [RegionChange(1, "start", 5 * STEP_US)]
    assert detector.active == {1}
    # the cells the square crossed: rows 3-5, columns 1-8, and nothing else
    assert moved[3:6, 1:9].all()
    assert not moved[:3].any() and not moved[6:].any() and not moved[:, 9:].any()


def test_sensor_noise_is_not_motion() -> None:
    rng = np.random.default_rng(7)
    background = scene()
    detector = MotionDetector([TOP_LEFT, BOTTOM_RIGHT])
    for i in range(40):
        result = detector.process(noisy(background, rng), i * STEP_US)
        assert not result.moving.any() and not result.changes


@pytest.mark.parametrize("change", ["lamp on (+60 levels)", "gain ×1.3", "darker ×0.5"])
def test_a_global_light_change_is_not_motion(change: str) -> None:
    background = scene()
    lit = {"lamp on (+60 levels)": np.clip(background.astype(int) + 60, 0, 255),
           "gain ×1.3": np.clip(background * 1.3, 0, 255),
           "darker ×0.5": background * 0.5}[change].astype(np.uint8)
    detector = MotionDetector([TOP_LEFT, BOTTOM_RIGHT])
    changes = run(detector, [background] * 5 + [lit] * 10)
    assert changes == []


def test_motion_during_a_light_change_is_still_seen_once_the_light_settles() -> None:
    background = scene()
    lit = np.clip(background.astype(int) + 60, 0, 255).astype(np.uint8)
    detector = MotionDetector([TOP_LEFT, BOTTOM_RIGHT])
    frames = [background] * 3 + [lit] * 3 + [with_square(lit, 200, 200)] * 3
    assert run(detector, frames) == [RegionChange(2, "start", 6 * STEP_US)]


def test_hysteresis_bridges_short_pauses_and_stops_after_the_quiet_time() -> None:
    background = scene()
    detector = MotionDetector([TOP_LEFT], stop_after_us=1_000_000)
    square = [with_square(background, 16 + 16 * i, 48) for i in range(4)]
    # one moving frame alone does not start (start_frames=2)
    frames = [background] * 3 + [square[0]] + [background] * 3
    assert run(detector, frames) == []
    detector = MotionDetector([TOP_LEFT], stop_after_us=1_000_000)
    frames = ([background] * 3 + square[:2]       # start at frame 3
              + [background] * 2 + square[2:]     # a pause of 0.4 s: still active
              + [background] * 8)                  # quiet from frame 9: stop 1 s later
    assert run(detector, frames) == [RegionChange(1, "start", 3 * STEP_US),
                                     RegionChange(1, "stop", 9 * STEP_US)]


def test_threshold_is_a_share_of_the_region() -> None:
    background = scene()
    small = RegionSpec(1, TOP_LEFT.mask, threshold_percent=20)  # 20 % of 99 cells
    detector = MotionDetector([small])
    assert run(detector, [background] * 3 + [with_square(background, 16, 48)] * 3) == []
    detector = MotionDetector([small])
    big = with_square(background, 16, 16, size=112)  # 7×7 = 49 cells
    assert run(detector, [background] * 3 + [big] * 3) == [RegionChange(1, "start", 3 * STEP_US)]


def test_end_stops_active_regions() -> None:
    background = scene()
    detector = MotionDetector([TOP_LEFT])
    run(detector, [background] * 3 + [with_square(background, 16, 48)] * 3)
    assert detector.end(10 * STEP_US) == (RegionChange(1, "stop", 10 * STEP_US),)
    assert detector.active == frozenset()


def test_any_frame_size_works() -> None:
    detector = MotionDetector([TOP_LEFT])
    odd = np.full((37, 51), 80, np.uint8)
    detector.process(odd, 0)
    odd2 = odd.copy()
    odd2[:10, :12] = 250
    assert detector.process(odd2, STEP_US).moving[:4, :5].any()
    with pytest.raises(ValueError, match="at least 22×18"):
        detector.process(np.zeros((10, 10), np.uint8), 2 * STEP_US)


def test_sensitivity_maps_to_levels_geometrically() -> None:
    assert level_threshold(1) == pytest.approx(48)
    assert level_threshold(100) == pytest.approx(3)
    assert level_threshold(50) == pytest.approx(12.2, abs=0.2)
    levels = [level_threshold(s) for s in range(1, 101)]
    assert levels == sorted(levels, reverse=True)
    with pytest.raises(ValueError):
        level_threshold(0)
