"""Pelco-D frames against published examples, round trips and rejections."""

from __future__ import annotations

import pytest

from hal.ptz import pelco_d
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

H = bytes.fromhex


@pytest.mark.parametrize(("command", "frame"), [
    # reference §1.1 / probe script: tilt up at speed 0x20
    (Motion(tilt=Tilt.UP, tilt_speed=0x20), "ff 01 00 08 00 20 29"),
    (Motion(camera_on=True), "FF 01 88 00 00 00 89"),
    (Motion(camera_on=False), "FF 01 08 00 00 00 09"),
    (Extended(Op.SET_PRESET, 0, 95), "FF 01 00 03 00 5F 63"),  # opens the OSD menu
    (Motion(), "FF 01 00 00 00 00 01"),  # stop
    (Extended(Op.CALL_PRESET, 0, 1), "FF 01 00 07 00 01 09"),
    (Extended(Op.CLEAR_PRESET, 0, 1), "FF 01 00 05 00 01 07"),
    (Motion(pan=Pan.RIGHT, pan_speed=0x20), "FF 01 00 02 20 00 23"),
    (Motion(zoom=Zoom.IN), "FF 01 00 20 00 00 21"),
    (Motion(zoom=Zoom.OUT), "FF 01 00 40 00 00 41"),
    (Motion(focus=Focus.FAR), "FF 01 00 80 00 00 81"),
    (Motion(focus=Focus.NEAR), "FF 01 01 00 00 00 02"),
    (Motion(iris=Iris.OPEN), "FF 01 02 00 00 00 03"),
    (Motion(iris=Iris.CLOSE), "FF 01 04 00 00 00 05"),
    (Extended(Op.QUERY_PAN), "FF 01 00 51 00 00 52"),
    (Extended(Op.PATTERN_RUN), "FF 01 00 23 00 00 24"),
    (Extended(Op.SET_AUX, 0, 2), "FF 01 00 09 00 02 0C"),
])
def test_published_frames(command: Motion | Extended, frame: str) -> None:
    assert pelco_d.encode(1, command) == H(frame)
    decoded = pelco_d.decode(H(frame))
    assert decoded.command == command
    assert decoded.address == 1
    assert decoded.protocol is PtzProtocol.PELCO_D


def test_combined_directions_or_the_bits() -> None:
    up_left = pelco_d.encode(1, Motion(pan=Pan.LEFT, tilt=Tilt.UP, pan_speed=1, tilt_speed=1))
    down_right = pelco_d.encode(1, Motion(pan=Pan.RIGHT, tilt=Tilt.DOWN, pan_speed=1,
                                          tilt_speed=1))
    assert up_left[3] == 0x0C
    assert down_right[3] == 0x12


def test_speeds_are_clamped_and_zero_on_a_still_axis() -> None:
    frame = pelco_d.encode(3, Motion(pan=Pan.LEFT, pan_speed=200, tilt_speed=40))
    assert frame[4:6] == bytes([0x3F, 0x00])
    assert pelco_d.encode(3, Motion(pan=Pan.LEFT, pan_speed=-5))[4] == 0


@pytest.mark.parametrize("turbo", [0x40, 0xFF])
def test_turbo_uses_the_domes_byte_and_decodes_back(turbo: int) -> None:
    motion = Motion(pan=Pan.RIGHT, pan_speed=0x3F, turbo=True)
    frame = pelco_d.encode(1, motion, turbo=turbo)
    assert frame[4] == turbo
    assert pelco_d.decode(frame).command == motion


def test_turbo_without_a_turbo_byte_is_full_speed() -> None:
    assert pelco_d.encode(1, Motion(pan=Pan.LEFT, turbo=True))[4] == 0x3F


@pytest.mark.parametrize("command", [
    Motion(pan=Pan.LEFT, tilt=Tilt.DOWN, pan_speed=10, tilt_speed=63, zoom=Zoom.OUT,
           focus=Focus.FAR, iris=Iris.CLOSE),
    Motion(pan=Pan.RIGHT, pan_speed=1, focus=Focus.NEAR, iris=Iris.OPEN, camera_on=True),
    Extended(Op.SET_PAN, 0x8C, 0x9F),
    Extended.with_value(Op.PAN_REPLY, 35999),
    Extended(Op.WRITE_CHAR, 0x10, ord("A")),
])
@pytest.mark.parametrize("address", [1, 0x7F, 0xFF])
def test_round_trip(command: Motion | Extended, address: int) -> None:
    frame = pelco_d.decode(pelco_d.encode(address, command))
    assert (frame.address, frame.command) == (address, command)


def test_position_reply_value() -> None:
    reply = pelco_d.decode(pelco_d.encode(1, Extended.with_value(Op.PAN_REPLY, 12345)))
    assert isinstance(reply.command, Extended)
    assert reply.command.is_reply
    assert reply.command.value == 12345
    assert reply.raw == H("ff 01 00 59 30 39") + bytes([(1 + 0x59 + 0x30 + 0x39) & 0xFF])


def test_bad_checksum_is_rejected() -> None:
    with pytest.raises(FrameError, match="bad checksum") as info:
        pelco_d.decode(H("ff 01 00 08 00 20 28"))
    assert info.value.data == H("ff 01 00 08 00 20 28")


def test_missing_sync_and_wrong_length_are_rejected() -> None:
    with pytest.raises(FrameError, match="sync"):
        pelco_d.decode(H("fe 01 00 08 00 20 29"))
    with pytest.raises(FrameError, match="6 bytes"):
        pelco_d.decode(H("ff 01 00 08 00 20"))


def test_truncated_fixture_is_rejected() -> None:
    """A zoom frame cut off mid-way, as a line glitch leaves it."""
    truncated = pelco_d.encode(1, Motion(zoom=Zoom.IN))[:5]
    with pytest.raises(FrameError):
        pelco_d.decode(truncated)


def test_out_of_range_fields_and_even_opcodes_raise() -> None:
    with pytest.raises(ValueError, match="address 256"):
        pelco_d.encode(256, Motion())
    with pytest.raises(ValueError, match="odd"):
        Extended(0x04)
