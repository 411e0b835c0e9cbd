"""Fixtures for the button tests (helpers live in ``records.py``)."""

from __future__ import annotations

import pytest

from tests.hal.buttons.records import Recorder


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
