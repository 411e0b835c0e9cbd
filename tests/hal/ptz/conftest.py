"""A real pty pair for the PTZ tests: pyserial + :class:`PtzBus` on the slave, the test
(``MasterEnd``) or :class:`SimPtzLine` playing the dome(s) on the master fd."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from hal.ptz.bus import PtzBus
from hal.serial.open import LineSettings
from hal.sim.pty import PtyPair, open_pty_pair
from tests.hal.ptz.helpers import MasterEnd


@pytest.fixture
def pty() -> Iterator[PtyPair]:
    pair = open_pty_pair()
    yield pair
    pair.close()


@pytest.fixture
def master(pty: PtyPair) -> MasterEnd:
    return MasterEnd(pty.master_fd)


@pytest.fixture
async def bus(pty: PtyPair) -> AsyncIterator[PtzBus]:
    bus = await PtzBus.open(LineSettings(pty.slave_path, baud=9600), inter_frame_gap_s=0)
    yield bus
    await bus.close()
