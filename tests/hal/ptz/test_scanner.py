"""Resynchronisation: frames out of noisy, split and mixed byte streams."""

from __future__ import annotations

import pytest

from hal.ptz import pelco_d, pelco_p
from hal.ptz.commands import Extended, Motion, Op, Pan, PtzProtocol, Zoom
from hal.ptz.scanner import FrameScanner

REPLY = pelco_d.encode(1, Extended.with_value(Op.PAN_REPLY, 9000))
P_FRAME = pelco_p.encode(0, Motion(pan=Pan.LEFT, pan_speed=0x20))


def test_frame_split_across_reads() -> None:
    scanner = FrameScanner()
    for byte in REPLY[:-1]:
        assert scanner.feed(bytes([byte])) == []
    assert scanner.pending == REPLY[:-1]
    (frame,) = scanner.feed(REPLY[-1:])
    assert frame.raw == REPLY
    assert scanner.discarded == 0


def test_garbage_before_and_between_frames_is_discarded() -> None:
    scanner = FrameScanner()
    frames = scanner.feed(b"\x00\x13\x37" + REPLY + b"\x55\xaa" + P_FRAME)
    assert [f.raw for f in frames] == [REPLY, P_FRAME]
    assert scanner.discarded == 5


def test_false_sync_byte_in_noise() -> None:
    """A stray 0xFF just before a frame: the 7 bytes from it fail the checksum, the scanner
    drops only that byte and finds the real frame one byte later."""
    scanner = FrameScanner()
    (frame,) = scanner.feed(b"\xff" + REPLY)
    assert frame.raw == REPLY
    assert scanner.discarded == 1


def test_truncated_frame_followed_by_a_good_one() -> None:
    scanner = FrameScanner()
    frames = scanner.feed(REPLY[:4] + REPLY)
    assert [f.raw for f in frames] == [REPLY]
    assert scanner.pending == b""


def test_bad_checksum_frame_is_dropped_and_the_next_one_kept() -> None:
    corrupt = REPLY[:-1] + bytes([REPLY[-1] ^ 0x01])
    scanner = FrameScanner()
    frames = scanner.feed(corrupt + REPLY)
    assert [f.raw for f in frames] == [REPLY]
    assert scanner.discarded == len(corrupt)


def test_stray_stx_before_a_pelco_d_frame() -> None:
    scanner = FrameScanner()
    (frame,) = scanner.feed(b"\xa0" + REPLY)
    assert frame.protocol is PtzProtocol.PELCO_D


def test_sync_bytes_inside_data_do_not_lose_frames() -> None:
    """Position values containing 0xFF/0xA0 (e.g. 0xA0FF) still parse as one frame."""
    tricky = pelco_d.encode(0xA0, Extended.with_value(Op.TILT_REPLY, 0xA0FF))
    scanner = FrameScanner()
    frames = scanner.feed(tricky + tricky[:3])
    assert [f.raw for f in frames] == [tricky]
    assert scanner.feed(tricky[3:])[0].raw == tricky


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8, 64])
def test_any_chunking_gives_the_same_frames(chunk: int) -> None:
    stream = (b"\x01" + REPLY + b"\xff\xff" + P_FRAME + REPLY[:3] +
              pelco_d.encode(2, Motion(zoom=Zoom.OUT)))
    scanner = FrameScanner()
    frames = []
    for start in range(0, len(stream), chunk):
        frames += scanner.feed(stream[start:start + chunk])
    assert [f.raw for f in frames] == [REPLY, P_FRAME, pelco_d.encode(2, Motion(zoom=Zoom.OUT))]


def test_only_the_protocols_asked_for() -> None:
    scanner = FrameScanner([PtzProtocol.PELCO_D])
    assert [f.raw for f in scanner.feed(P_FRAME + REPLY)] == [REPLY]
