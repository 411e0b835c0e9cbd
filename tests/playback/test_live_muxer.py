"""The live muxer on a virtual camera's clip (its packets, their timestamps; no RTSP), and
the live timeline it puts frames on."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from nvrd.playback.live_muxer import LiveClock, LiveMuxer
from nvrd.record.fmp4 import parse_init
from tests.playback.live_harness import as_av_packets, clip_packets, decode, mux_clip
from tools.fakecam.spec import StreamSpec

SPEC = StreamSpec(320, 240, 25, 25, 300)
FRAME_US = 40_000


def test_one_fragment_per_frame_that_a_player_decodes_in_order(fakecam_clips: Path) -> None:
    _stream, packets = clip_packets(fakecam_clips, SPEC)
    init, fragments = mux_clip(fakecam_clips, SPEC)
    assert parse_init(init.data).video() is not None
    # the muxer holds the last frame until the next one tells its duration
    assert len(fragments) == len(packets) - 1
    assert fragments[0].keyframe
    assert [f.keyframe for f in fragments] == [p.keyframe for p in packets[:-1]]
    assert [f.dts_us for f in fragments] == [i * FRAME_US for i in range(len(fragments))]
    assert {f.duration_us for f in fragments} == {FRAME_US}
    decoded = decode(init.data, (f.data for f in fragments))
    assert (decoded.width, decoded.height) == (320, 240)
    assert decoded.times_us == [i * FRAME_US for i in range(len(fragments))]


def test_starts_at_a_key_frame_and_leaves_the_reader_s_packets_alone(
        fakecam_clips: Path) -> None:
    stream, packets = clip_packets(fakecam_clips, SPEC)
    muxer = LiveMuxer(stream)
    given = list(as_av_packets(packets[3:], offset_us=7_000_000))  # joined mid-GOP
    before = [(p.dts, p.pts, p.time_base, p.is_keyframe, bytes(p)) for p in given]
    fragments = [f for packet in given for f in muxer.write(packet)]
    muxer.close()
    assert [(p.dts, p.pts, p.time_base, p.is_keyframe, bytes(p)) for p in given] == before
    first_key = next(i for i, p in enumerate(packets[3:]) if p.keyframe)
    assert muxer.skipped == first_key
    assert fragments[0].keyframe and fragments[0].dts_us == 0
    assert muxer.init is not None
    assert len(decode(muxer.init.data, (f.data for f in fragments)).times_us) \
        == len(fragments)


def test_the_timeline_follows_the_camera_s_steps() -> None:
    clock = LiveClock()
    assert [clock.place(t, t) for t in (5_000_000, 5_033_333, 5_066_667)] == [
        (0, 0), (33_333, 33_333), (66_667, 66_667)]
    assert clock.frame_us == 33_334
    assert clock.jumps == 0


def test_jumps_stalls_and_rebased_timestamps_count_as_one_frame() -> None:
    clock = LiveClock(FRAME_US)
    times = [clock.place(t, t)[0] for t in (
        1_000_000, 1_040_000,
        9_000_000,            # a jump forwards (or a stall of 8 s)
        9_040_000,
        0,                    # the recorder's next segment: back to 0
        40_000,
        40_000,               # a repeated timestamp
    )]
    assert times == [0, 40_000, 80_000, 120_000, 160_000, 200_000, 240_000]
    assert clock.jumps == 3


def test_a_first_frame_without_timestamps_and_reordered_frames() -> None:
    clock = LiveClock(FRAME_US)
    assert clock.place(None, None) == (0, 0)
    assert clock.place(2_000_000, 2_080_000) == (40_000, 120_000)  # B-frame reordering
    assert clock.place(2_040_000, 2_040_000) == (80_000, 80_000)


def test_a_closed_muxer_takes_nothing(fakecam_clips: Path) -> None:
    stream, packets = clip_packets(fakecam_clips, SPEC)
    muxer = LiveMuxer(stream)
    first = next(as_av_packets(packets[:1]))
    muxer.write(first)
    muxer.close()
    again = av.Packet(packets[1].data)
    again.time_base, again.dts, again.pts = Fraction(1, 1000), 80, 80
    assert muxer.write(again) == []  # a closed muxer takes nothing and raises nothing
