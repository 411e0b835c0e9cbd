"""Pelco-P frames: published examples, the XOR over all seven bytes, bit positions that
differ from Pelco-D, zero-based addresses."""

from __future__ import annotations

import functools
import operator

import pytest

from hal.ptz import pelco_p
from hal.ptz.commands import (
    Extended,
    Focus,
    Iris,
    Motion,
    Op,
    Pan,
    PtzProtocol,
    Tilt,
    Zoom,
)
from hal.ptz.errors import FrameError
from hal.ptz.settings import DomeSettings

H = bytes.fromhex


@pytest.mark.parametrize(("command", "frame"), [
    # reference §1.2 (pyPelco_P README, vendor manuals): camera 1, speed 0x20
    (Motion(pan=Pan.LEFT, pan_speed=0x20), "a0 00 00 04 20 00 af 2b"),
    (Motion(pan=Pan.RIGHT, pan_speed=0x20), "a0 00 00 02 20 00 af 2d"),
    (Motion(), "a0 00 00 00 00 00 af 0f"),
    (Extended(Op.SET_PRESET, 0, 1), "a0 00 00 03 00 01 af 0d"),
    (Extended(Op.CALL_PRESET, 0, 1), "a0 00 00 07 00 01 af 09"),
])
def test_published_frames(command: Motion | Extended, frame: str) -> None:
    assert pelco_p.encode(0, command) == H(frame)
    decoded = pelco_p.decode(H(frame))
    assert decoded.command == command
    assert decoded.protocol is PtzProtocol.PELCO_P


def test_checksum_xors_stx_and_etx_too() -> None:
    frame = pelco_p.encode(5, Motion(tilt=Tilt.DOWN, tilt_speed=0x11, zoom=Zoom.IN))
    assert frame[-1] == functools.reduce(operator.xor, frame[:7], 0)
    # the "bytes 2..6" reading of the spec would differ by STX ^ ETX
    assert frame[-1] != functools.reduce(operator.xor, frame[1:6], 0)


@pytest.mark.parametrize(("command", "data1"), [
    (Motion(focus=Focus.FAR), 0x01),
    (Motion(focus=Focus.NEAR), 0x02),
    (Motion(iris=Iris.OPEN), 0x04),
    (Motion(iris=Iris.CLOSE), 0x08),
    (Motion(camera_on=True), 0x50),
    (Motion(camera_on=False), 0x10),
])
def test_lens_and_power_bits_are_pelco_p_positions(command: Motion, data1: int) -> None:
    frame = pelco_p.encode(0, command)
    assert (frame[2], frame[3]) == (data1, 0)
    assert pelco_p.decode(frame).command == command


@pytest.mark.parametrize(("command", "data2"), [
    (Motion(zoom=Zoom.IN), 0x20),
    (Motion(zoom=Zoom.OUT), 0x40),
    (Motion(tilt=Tilt.UP, tilt_speed=1), 0x08),
    (Motion(pan=Pan.LEFT, tilt=Tilt.UP, pan_speed=1, tilt_speed=1), 0x0C),
    (Motion(pan=Pan.RIGHT, tilt=Tilt.DOWN, pan_speed=1, tilt_speed=1), 0x12),
])
def test_direction_and_zoom_bits(command: Motion, data2: int) -> None:
    assert pelco_p.encode(0, command)[3] == data2


def test_extended_parameters_go_in_data3_data4() -> None:
    frame = pelco_p.encode(2, Extended.with_value(Op.SET_TILT, 0x1234))
    assert frame[1:6] == H("02 00 4d 12 34")


@pytest.mark.parametrize("command", [
    Motion(pan=Pan.LEFT, tilt=Tilt.DOWN, pan_speed=7, tilt_speed=63, zoom=Zoom.OUT,
           focus=Focus.NEAR, iris=Iris.OPEN, camera_on=False),
    Motion(pan=Pan.RIGHT, pan_speed=0x3F, turbo=True),
    Extended(Op.SET_AUX, 0, 8),
    Extended.with_value(Op.ZOOM_REPLY, 0xFFFF),
])
def test_round_trip(command: Motion | Extended) -> None:
    frame = pelco_p.decode(pelco_p.encode(31, command, turbo=0x40))
    assert (frame.address, frame.command) == (31, command)


def test_speeds_clamped() -> None:
    frame = pelco_p.encode(0, Motion(pan=Pan.LEFT, tilt=Tilt.UP, pan_speed=99,
                                     tilt_speed=1000))
    assert frame[4:6] == bytes([0x3F, 0x3F])


def test_bad_checksum_and_etx_rejected() -> None:
    with pytest.raises(FrameError, match="bad checksum"):
        pelco_p.decode(H("a0 00 00 04 20 00 af 2c"))
    with pytest.raises(FrameError, match="ETX"):
        pelco_p.decode(H("a0 00 00 04 20 00 ae 2b"))
    with pytest.raises(FrameError, match="7 bytes"):
        pelco_p.decode(H("a0 00 00 04 20 00 af"))


def test_zero_based_addresses_by_default() -> None:
    camera1 = DomeSettings(PtzProtocol.PELCO_P, address=1)
    assert camera1.wire_address == 0
    assert camera1.encode(Motion())[1] == 0x00
    one_based = DomeSettings(PtzProtocol.PELCO_P, address=1, p_zero_based=False)
    assert one_based.encode(Motion())[1] == 0x01
    with pytest.raises(ValueError, match=r"address 0 is out of range 1\.\.256"):
        DomeSettings(PtzProtocol.PELCO_P, address=0)
    assert DomeSettings(PtzProtocol.PELCO_P, address=0, p_zero_based=False).wire_address == 0


def test_pelco_d_addresses_are_not_shifted() -> None:
    assert DomeSettings(PtzProtocol.PELCO_D, address=3).encode(Motion())[1] == 3
    with pytest.raises(ValueError, match="Pelco-D dome address 0"):
        DomeSettings(PtzProtocol.PELCO_D, address=0)
