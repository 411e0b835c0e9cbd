"""An LED-class tree laid out by hand (not by the simulated board, so the driver's tests
do not depend on the sim), and the board profiles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hal.board import BoardProfile, load_board_profile

BOARDS = Path(__file__).resolve().parents[3] / "config" / "boards"

MakeLed = Callable[..., Path]


@pytest.fixture
def make_led(tmp_path: Path) -> MakeLed:
    """``make_led("nvr:red:alarm", triggers="[none] timer heartbeat", max_brightness=1)``
    → the device directory under ``tmp_path / "leds"``."""

    def make(name: str, *, triggers: str = "[none] timer heartbeat disk-activity",
             max_brightness: int = 255, delays: bool = True) -> Path:
        path = tmp_path / "leds" / name
        path.mkdir(parents=True)
        (path / "brightness").write_text("0\n")
        (path / "max_brightness").write_text(f"{max_brightness}\n")
        (path / "trigger").write_text(triggers + "\n")
        if delays:
            (path / "delay_on").write_text("500\n")
            (path / "delay_off").write_text("500\n")
        return path

    return make


@pytest.fixture(scope="session")
def sim_profile() -> BoardProfile:
    return load_board_profile(BOARDS / "sim.toml")


@pytest.fixture(scope="session")
def real_profile() -> BoardProfile:
    return load_board_profile(BOARDS / "nvr8p-tps.toml")
