"""Fixtures of the PoE tests (the doubles live in helpers.py)."""

from __future__ import annotations

import pytest

from tests.hal.poe.helpers import FakeClock, RecordingSleep


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleep(clock: FakeClock) -> RecordingSleep:
    return RecordingSleep(clock)
