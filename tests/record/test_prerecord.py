"""The pre-record buffer holds whole GOPs covering the window, and no more than one GOP
beyond it: the bound event recordings promise."""

from __future__ import annotations

import av

from nvrd.record.prerecord import BufferedPacket, PreRecordBuffer

GOP_US = 1_000_000
FRAME_US = 40_000


def feed(buffer: PreRecordBuffer, until_us: int, *, hold: bool = False) -> None:
    for media_us in range(0, until_us, FRAME_US):
        keyframe = media_us % GOP_US == 0
        packet = av.Packet(1000)
        buffer.push(BufferedPacket(packet, media_us, True, keyframe), hold=hold)


def test_window_is_covered_by_whole_gops_within_one_gop() -> None:
    for window_s in (0, 2, 5, 2.5):
        buffer = PreRecordBuffer(window_s, max_bytes=1 << 30)
        feed(buffer, 20_000_000)
        now = 20_000_000 - FRAME_US
        start = buffer.start_us()
        assert start is not None and start % GOP_US == 0, "starts on a keyframe"
        held = now - start
        assert window_s * 1e6 <= held + FRAME_US <= window_s * 1e6 + GOP_US + FRAME_US, (
            window_s, held)
        items = buffer.drain()
        assert items[0].keyframe and len(buffer) == 0


def test_packets_before_the_first_keyframe_are_not_kept() -> None:
    buffer = PreRecordBuffer(5, max_bytes=1 << 30)
    buffer.push(BufferedPacket(av.Packet(10), 0, True, False))
    buffer.push(BufferedPacket(av.Packet(10), 0, False, False))
    assert len(buffer) == 0 and buffer.start_us() is None


def test_hold_keeps_everything_and_the_byte_budget_still_applies() -> None:
    buffer = PreRecordBuffer(1, max_bytes=1 << 30)
    feed(buffer, 10_000_000, hold=True)
    assert buffer.start_us() == 0
    small = PreRecordBuffer(30, max_bytes=60_000)  # 2.4 GOPs of 25 x 1000 bytes
    feed(small, 10_000_000)
    assert small.bytes <= 60_000 + 25 * 1000
    start_us = small.start_us()
    assert start_us is not None and start_us >= 7_000_000
