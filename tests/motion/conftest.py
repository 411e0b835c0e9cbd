from __future__ import annotations

import pytest

from tests.motion.clip import encode_clip


@pytest.fixture(scope="session")
def motion_clip() -> bytes:
    """The moving-square clip (tests/motion/clip.py), encoded once per run."""
    return encode_clip()
