"""Fixtures of the GPIO tests: one simulated gpiochip and a sim backend on it."""

from __future__ import annotations

import pytest

from hal.sim.gpio import SimGpioBackend, SimGpioChip, SimGpioRegistry
from tests.hal.gpio.helpers import CHIP


@pytest.fixture
def chip() -> SimGpioChip:
    return SimGpioChip(CHIP, 16)


@pytest.fixture
def backend(chip: SimGpioChip) -> SimGpioBackend:
    return SimGpioBackend(SimGpioRegistry([chip]))
