"""The simulated dome and line on their own: state, replies, echo, noise, the pty helper."""

from __future__ import annotations

import dataclasses
import os
import termios
from pathlib import Path

import pytest

from hal.ptz import pelco_d, pelco_p
from hal.ptz.commands import Extended, Frame, Motion, Op, Pan, PtzProtocol, Tilt, Zoom
from hal.ptz.scanner import FrameScanner
from hal.ptz.settings import DomeSettings
from hal.sim.dome import SimDome, SimPtzLine
from hal.sim.pty import baud_of, open_pty_pair
from tests.hal.ptz.helpers import MasterEnd


class StepClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def frame(command: Motion | Extended, address: int = 1) -> Frame:
    return pelco_d.decode(pelco_d.encode(address, command))


def test_snapshot_is_frozen_and_starts_idle() -> None:
    snap = SimDome(DomeSettings(PtzProtocol.PELCO_D, address=1)).snapshot()
    assert (snap.pan, snap.zoom, snap.pattern, snap.presets, snap.last_command) == (
        Pan.STOP, Zoom.STOP, "idle", (), None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.pan = Pan.LEFT  # type: ignore[misc]


def test_position_integrates_motion_over_the_injected_clock() -> None:
    clock = StepClock()
    dome = SimDome(DomeSettings(PtzProtocol.PELCO_D, address=1), clock=clock)
    dome.handle(frame(Motion(pan=Pan.LEFT, tilt=Tilt.DOWN, pan_speed=10, tilt_speed=5,
                             zoom=Zoom.IN)))
    clock.now = 3.0
    snap = dome.snapshot()
    assert (snap.pan_cdeg, snap.tilt_cdeg) == (36000 - 3000, 1500)
    assert snap.zoom_position == 3 * 0x4000
    dome.handle(frame(Motion()))
    clock.now = 10.0
    assert dome.snapshot().pan_cdeg == 33000  # stopped: no further drift


def test_queries_answer_in_the_domes_protocol() -> None:
    d_dome = SimDome(DomeSettings(PtzProtocol.PELCO_D, address=9))
    d_dome.set_position(pan_cdeg=2500, tilt_cdeg=100, zoom=7)
    assert d_dome.handle(frame(Extended(Op.QUERY_PAN), 9)) == pelco_d.encode(
        9, Extended.with_value(Op.PAN_REPLY, 2500))
    assert d_dome.handle(frame(Extended(Op.QUERY_TILT), 9)) == pelco_d.encode(
        9, Extended.with_value(Op.TILT_REPLY, 100))
    assert d_dome.handle(frame(Extended(Op.QUERY_ZOOM), 9)) == pelco_d.encode(
        9, Extended.with_value(Op.ZOOM_REPLY, 7))
    assert d_dome.handle(frame(Extended(Op.CALL_PRESET, 0, 1), 9)) is None
    p_dome = SimDome(DomeSettings(PtzProtocol.PELCO_P, address=1))
    query = pelco_p.decode(pelco_p.encode(0, Extended(Op.QUERY_PAN)))
    assert p_dome.handle(query) == pelco_p.encode(0, Extended.with_value(Op.PAN_REPLY, 0))


def test_set_position_commands_and_manual_move_ends_a_pattern() -> None:
    dome = SimDome(DomeSettings(PtzProtocol.PELCO_D, address=1))
    dome.handle(frame(Extended.with_value(Op.SET_PAN, 12000)))
    dome.handle(frame(Extended.with_value(Op.SET_TILT, 20000)))  # clamped to straight down
    dome.handle(frame(Extended(Op.PATTERN_RUN)))
    assert dome.snapshot().pattern == "running"
    dome.handle(frame(Motion(pan=Pan.RIGHT, pan_speed=1)))
    snap = dome.snapshot()
    assert (snap.pan_cdeg, snap.tilt_cdeg, snap.pattern) == (12000, 9000, "idle")
    dome.handle(frame(Motion(camera_on=False)))
    assert not dome.snapshot().camera_on


async def test_line_over_a_pty(tmp_path: Path) -> None:
    """The sim on the master, a raw fd on the slave standing in for the driver."""
    with open_pty_pair(link=tmp_path / "ttyPTZ") as pair:
        assert os.readlink(tmp_path / "ttyPTZ") == pair.slave_path
        assert pair.device == str(tmp_path / "ttyPTZ")
        slave = MasterEnd(pair.slave_fd)  # same helper, other end
        os.set_blocking(pair.slave_fd, False)
        dome = SimDome(DomeSettings(PtzProtocol.PELCO_D, address=1, baud=9600))
        line = SimPtzLine(pair.master_fd, (dome,), echo=True)
        line.start()
        try:
            attrs = termios.tcgetattr(pair.slave_fd)
            attrs[4] = attrs[5] = termios.B9600
            termios.tcsetattr(pair.slave_fd, termios.TCSANOW, attrs)
            assert baud_of(pair.master_fd) == 9600
            line.inject(b"\x00\x01")
            line.prefix_next_reply(b"\xff\x01")
            query = pelco_d.encode(1, Extended(Op.QUERY_TILT))
            os.write(pair.slave_fd, query)
            reply = pelco_d.encode(1, Extended.with_value(Op.TILT_REPLY, 0))
            received = await slave.read(2 + 7 + 2 + 7)
            assert received == b"\x00\x01" + query + b"\xff\x01" + reply
            assert [f.raw for f in FrameScanner().feed(received)] == [query, reply]
            assert line.frame_count == 1
            assert dome.snapshot().last_command == "query tilt"
            # at another rate the dome does not understand
            attrs[4] = attrs[5] = termios.B4800
            termios.tcsetattr(pair.slave_fd, termios.TCSANOW, attrs)
            os.write(pair.slave_fd, query)
            await line.wait_frames(2)
            assert dome.snapshot().wrong_baud_frames == 1
            assert dome.snapshot().frames == 1
            snap = line.snapshot()
            assert (snap.echo, snap.bytes_received) == (True, 2 * len(query))
            assert snap.domes == (dome.snapshot(),)
        finally:
            line.close()
    assert not (tmp_path / "ttyPTZ").exists()
