"""The on-the-fly MP4 of a range against real segments from the recorder's muxer: decoded
by FFmpeg from the bytes we serve, frame by frame, across segments and outages, with
B-frames and audio, by ranges, key frames only, across a change of format, at the live
edge, and with a source file gone."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
from pathlib import Path

import pytest

from nvrd.playback.layout import NothingToPlay
from nvrd.playback.plan import Playback, build_playback
from nvrd.playback.virtualfile import FilePiece, SourceGone, VirtualFile
from tests.playback.conftest import FRAME_S, T0, Clips, S, decode, recorded
from tools.bench.playback_footage import Piece, write_footage


def play(volume: Path, start_s: float, end_s: float, **options: object) -> list[Playback]:
    return build_playback(recorded(volume), T0 + round(start_s * S), T0 + round(end_s * S),
                          **options)  # type: ignore[arg-type]


def expected_pts(start_s: float, end_s: float, footage_end_s: float) -> list[float]:
    """Frames from the keyframe at or before the start (GOPs are whole seconds) to the
    last one that starts before the end, as seconds from the first."""
    first = math.floor(start_s)
    last = min(end_s, footage_end_s)
    count = math.ceil(round((last - first) / FRAME_S, 6))
    return [round(i * FRAME_S, 6) for i in range(count)]


@pytest.fixture(scope="module")
def five_segments(clips: Clips, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s in five 4 s segments, back to back, B-frames and audio."""
    volume = tmp_path_factory.mktemp("five") / "v"
    write_footage(clips.bframes, volume, pieces=[Piece(T0 + 4 * i * S, 4 * i, 4)
                                                 for i in range(5)])
    return volume


@pytest.fixture(scope="module")
def outage(clips: Clips, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s, then a camera outage of 5 s, then 4 s (B-frames and audio)."""
    volume = tmp_path_factory.mktemp("outage") / "v"
    write_footage(clips.bframes, volume, pieces=[Piece(T0, 0, 4), Piece(T0 + 9 * S, 8, 4)])
    return volume


@pytest.mark.parametrize("seed", range(4))
def test_a_random_range_across_segments_plays_every_frame(five_segments: Path,
                                                          seed: int) -> None:
    rng = random.Random(seed)
    start_s = round(rng.uniform(0.2, 12), 3)
    end_s = round(rng.uniform(start_s + 1.5, 21), 3)
    [playback] = play(five_segments, start_s, end_s)
    decoded = decode(playback.file.read_all())

    assert not decoded.errors
    # every frame from the keyframe at or before the start to the end; with B-frames the
    # file ends on a whole reorder run, at most 2 frames (the clip's B-frames) past it
    wanted = expected_pts(start_s, end_s, 20)
    got = [round(p, 6) for p in decoded.video_pts]
    assert got[:len(wanted)] == wanted
    assert got == [round(i * FRAME_S, 6) for i in range(len(got))]
    assert len(got) - len(wanted) <= 2
    assert decoded.keyframes[0]
    assert playback.composition.first_frame_us == T0 + math.floor(start_s) * S
    assert not playback.composition.gaps
    # audio from the first frame on, in order, without a hole: the recorder's muxer
    # (FFmpeg, fragmented) starts each segment's audio at 0 by stretching its first
    # AAC frame (64 ms) by up to one more, which the file keeps as recorded
    assert decoded.audio_pts and 0 <= decoded.audio_pts[0] < 0.1
    steps = [b - a for a, b in zip(decoded.audio_pts, decoded.audio_pts[1:], strict=False)]
    assert min(steps) > 0 and max(steps) < 0.13


def test_the_file_is_faststart_and_sized_up_front(five_segments: Path) -> None:
    [playback] = play(five_segments, 3, 9)
    data = playback.file.read_all()
    assert len(data) == playback.file.size
    assert data[4:8] == b"ftyp"
    moov_at = int.from_bytes(data[:4], "big")
    assert data[moov_at + 4:moov_at + 8] == b"moov"
    # everything but the head is the recorded bytes themselves
    assert sum(p.length for p in playback.file.pieces if isinstance(p, FilePiece)) \
        == playback.composition.payload_size


def test_a_range_over_a_camera_outage_keeps_wall_time_and_says_where(outage: Path) -> None:
    [playback] = play(outage, 1.5, 12)
    decoded = decode(playback.file.read_all())

    assert not decoded.errors
    jumps = [(a, b) for a, b in zip(decoded.video_pts, decoded.video_pts[1:], strict=False)
             if b - a > 2 * FRAME_S]
    assert len(jumps) == 1
    assert jumps[0][0] == pytest.approx(3 - 1 - FRAME_S + 1, abs=1e-3)  # 3.96 s wall - 1 s
    assert jumps[0][1] == pytest.approx(8, abs=1e-3)  # resumes at 9 s wall = 8 s in
    [gap] = playback.composition.gaps
    assert (gap.start_us, gap.end_us) == (T0 + 4 * S, T0 + 9 * S)
    assert gap.at_us == 3 * S
    assert len(decoded.video_pts) == (3 + 3) * 25  # 1..4 s and 9..12 s


def test_a_range_over_a_camera_outage_can_close_the_gap_up(outage: Path) -> None:
    [playback] = play(outage, 1.5, 12, gaps="skip")
    decoded = decode(playback.file.read_all())

    assert not decoded.errors
    assert [round(p, 6) for p in decoded.video_pts] == expected_pts(1, 7, 99)
    [gap] = playback.composition.gaps  # still reported
    assert (gap.start_us, gap.end_us, gap.at_us) == (T0 + 4 * S, T0 + 9 * S, 3 * S)
    assert max(decoded.audio_pts) < 6.1


def test_any_byte_range_reads_the_same_bytes_as_the_whole_file(five_segments: Path) -> None:
    [playback] = play(five_segments, 2.5, 17.3)
    whole = playback.file.read_all()
    rng = random.Random(7)

    async def read(start: int, end: int, chunk: int) -> bytes:
        return b"".join([c async for c in playback.file.read(start, end, chunk)])

    for _ in range(40):
        start = rng.randrange(playback.file.size)
        end = rng.randrange(start, playback.file.size + 1)
        chunk = rng.choice((1, 100, 4096, 1 << 20))
        if chunk == 1:
            end = min(end, start + 300)
        assert asyncio.run(read(start, end, chunk)) == whole[start:end]


def test_the_same_range_always_makes_the_same_file(five_segments: Path) -> None:
    first = play(five_segments, 2.5, 17.3)[0]
    again = play(five_segments, 2.5, 17.3)[0]
    assert first.file.etag == again.file.etag
    assert first.file.read_all() == again.file.read_all()
    other = play(five_segments, 2.5, 17.2)[0]
    assert other.file.etag != first.file.etag


def test_key_frames_only_for_scrubbing(five_segments: Path) -> None:
    [playback] = play(five_segments, 2.5, 17.3, keyframes=True)
    decoded = decode(playback.file.read_all())

    assert not decoded.errors
    assert all(decoded.keyframes)
    assert [round(p, 6) for p in decoded.video_pts] == [float(i) for i in range(16)]
    assert decoded.audio_pts == ()


def test_a_change_of_format_ends_the_file_and_the_next_one_takes_over(
        clips: Clips, tmp_path: Path) -> None:
    volume = tmp_path / "v"
    write_footage(clips.plain, volume, pieces=[Piece(T0, 0, 4)])
    write_footage(clips.small, volume, pieces=[Piece(T0 + 4 * S, 0, 4)])
    first, second = play(volume, 1, 7)

    assert first.continues_at_us == T0 + 4 * S
    assert second.continues_at_us is None
    one, two = decode(first.file.read_all()), decode(second.file.read_all())
    assert (one.width, one.height, len(one.video_pts)) == (320, 240, 75)
    assert (two.width, two.height, len(two.video_pts)) == (160, 120, 75)
    assert not one.errors and not two.errors


def test_nothing_recorded_is_said(five_segments: Path) -> None:
    with pytest.raises(NothingToPlay):
        play(five_segments, 30, 40)


def test_at_the_live_edge_the_pinned_range_gives_the_same_file_once_more_is_written(
        clips: Clips, tmp_path: Path) -> None:
    volume = tmp_path / "v"
    write_footage(clips.plain, volume, pieces=[Piece(T0, 0, 8)])
    [segment] = recorded(volume)
    full = segment.path.read_bytes()
    # the file as the writer left it mid-way: whole fragments, then half a fragment
    cut = segment.row.fragments[5][1] + 1000
    segment.path.write_bytes(full[:cut])
    growing = dataclasses.replace(segment, row=dataclasses.replace(segment.row,
                                                                   state="open"))
    [now] = build_playback([growing], T0 + 2 * S, T0 + 60 * S)
    assert not now.complete
    assert now.composition.last_frame_us == T0 + 5 * S - 40_000
    pinned_end = now.composition.last_frame_us + 1
    [pinned] = build_playback([growing], T0 + 2 * S, pinned_end)

    segment.path.write_bytes(full)  # the writer caught up (and closed the segment)
    [later] = build_playback([segment], T0 + 2 * S, pinned_end)
    assert later.complete
    assert later.file.etag == pinned.file.etag
    assert later.file.read_all() == pinned.file.read_all()
    assert len(decode(later.file.read_all()).video_pts) == 3 * 25


def test_a_source_file_gone_mid_read_ends_the_read_and_says_which(tmp_path: Path) -> None:
    source = tmp_path / "segment.mp4"
    source.write_bytes(bytes(1000))
    file = VirtualFile([b"head", FilePiece(source, 0, 1000), FilePiece(tmp_path / "gone", 0, 10)])

    async def read_all() -> list[bytes]:
        return [chunk async for chunk in file.read(chunk=600)]

    with pytest.raises(SourceGone, match="gone"):
        asyncio.run(read_all())
    source.write_bytes(bytes(500))  # cut short by a crash recovery, say
    file = VirtualFile([FilePiece(source, 0, 1000)])
    with pytest.raises(SourceGone, match="ends at byte 500"):
        asyncio.run(read_all())
