"""PTZ by camera channel: the channel's [cameras.ptz] settings reach the right dome on a
real pty bus, tours stop when someone takes the joystick, and a channel without a dome
says so."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hal.ptz import DomeSettings, Pan, PtzBus, PtzProtocol, Tilt, Tour, TourStop
from hal.serial import LineSettings
from hal.sim.dome import SimDome, SimPtzLine
from hal.sim.pty import PtyPair, open_pty_pair
from nvrd.config import parse_config
from nvrd.hardware.ptz import PtzDomes, PtzUnavailable

CONFIG = """
schema_version = 1
[[cameras]]
channel = 1
main = { url = "rtsp://192.0.2.1/1" }
ptz = { protocol = "pelco-d", address = 3, baud = 9600 }

[[cameras]]
channel = 2
main = { url = "rtsp://192.0.2.1/2" }
ptz = { protocol = "pelco-p", address = 1, baud = 4800 }

[[cameras]]
channel = 3
main = { url = "rtsp://192.0.2.1/3" }
"""

D3 = DomeSettings(PtzProtocol.PELCO_D, 3, baud=9600)
P1 = DomeSettings(PtzProtocol.PELCO_P, 1, baud=4800)


@pytest.fixture
async def line() -> AsyncIterator[tuple[PtyPair, SimPtzLine]]:
    pair = open_pty_pair()
    sim = SimPtzLine(pair.master_fd, (SimDome(D3), SimDome(P1)))
    sim.start()
    try:
        yield pair, sim
    finally:
        sim.close()
        pair.close()


async def test_each_channel_drives_its_own_dome(line: tuple[PtyPair, SimPtzLine]) -> None:
    pair, sim = line
    bus = await PtzBus.open(LineSettings(pair.slave_path, baud=9600), inter_frame_gap_s=0.001)
    domes = PtzDomes(bus, parse_config(CONFIG, "test"))
    try:
        assert domes.channels() == [1, 2]
        camera1 = await domes.camera(1)
        await camera1.move(Pan.LEFT, Tilt.UP, pan_speed=20, tilt_speed=10)
        camera2 = await domes.camera(2)
        await camera2.call_preset(7)
        await sim.wait_frames(2)
        d3 = sim.dome(PtzProtocol.PELCO_D, 3).snapshot()
        p1 = sim.dome(PtzProtocol.PELCO_P, 1).snapshot()
        assert (d3.pan, d3.tilt, d3.pan_speed) == (Pan.LEFT, Tilt.UP, 20)
        assert p1.last_preset_called == 7, "channel 2's dome at 4800 baud got its preset"
        assert d3.last_preset_called is None

        with pytest.raises(PtzUnavailable, match="channel 3 has no PTZ dome"):
            await domes.camera(3)
    finally:
        await domes.close()


async def test_a_hand_move_stops_the_tour(line: tuple[PtyPair, SimPtzLine]) -> None:
    pair, sim = line
    bus = await PtzBus.open(LineSettings(pair.slave_path, baud=9600), inter_frame_gap_s=0.001)
    domes = PtzDomes(bus, parse_config(CONFIG, "test"))
    try:
        await domes.start_tour(1, Tour((TourStop(1, 0.05), TourStop(2, 0.05))))
        await sim.wait_frames(3)
        assert domes.describe()[0]["touring"] is True
        await domes.camera(1)
        assert domes.describe()[0]["touring"] is False
        calls = sim.dome(PtzProtocol.PELCO_D, 3).snapshot().frames
        await asyncio.sleep(0.2)  # two dwell times: a running tour would have called again
        assert sim.dome(PtzProtocol.PELCO_D, 3).snapshot().frames == calls
    finally:
        await domes.close()


def test_without_a_bus_the_reason_is_given() -> None:
    domes = PtzDomes(None, parse_config(CONFIG, "test"), "/dev/ttyS1: no such device")
    with pytest.raises(PtzUnavailable, match=r"RS-485 PTZ bus is not available.*ttyS1"):
        asyncio.run(domes.camera(1))
