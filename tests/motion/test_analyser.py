"""The analyser on real H.264: region events and stored bitmaps from the moving-square clip."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from nvrd.config.schema import MotionCells, MotionConfig, MotionRegion
from nvrd.motion.analyser import MotionAnalyser
from nvrd.motion.detector import Phase
from nvrd.motion.grid import from_bitmap, mask_of, mask_of_cells
from nvrd.motion.store import MotionStore
from tests.motion.clip import MOVE_END_S, MOVE_START_S

T0_US = 1_700_000_000_000_000  # the wall clock at the first packet (a whole second)
CHANNEL = 3
TOP_LEFT = MotionRegion(name="yard", cells=(MotionCells(left=0, top=0, right=10, bottom=8),))
BOTTOM_RIGHT = MotionRegion(name="gate",
                            cells=(MotionCells(left=11, top=9, right=21, bottom=17),))

Event = tuple[int, int, Phase, int]


class Arrivals:
    """The wall clock a reader reads at each packet of a camera sending in real time:
    ``feed`` moves it to T0 plus the packet's media time before handing the packet on."""

    def __init__(self) -> None:
        self.now_us = T0_US

    def __call__(self) -> int:
        return self.now_us


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MotionStore]:
    store = MotionStore(tmp_path / "motion.db")
    yield store
    store.close()


def feed(analyser: MotionAnalyser, clip: bytes, clock: Arrivals | None = None) -> None:
    """What an ingest reader does with a stream: session start, packets, session end."""
    with av.open(io.BytesIO(clip), "r") as container:
        video = container.streams.video[0]
        analyser.on_session_start(video, None)
        for packet in container.demux(video):
            if packet.size:
                if clock is not None and packet.pts is not None and video.time_base:
                    clock.now_us = T0_US + int(packet.pts * video.time_base * 1_000_000)
                analyser.on_packet(packet)
        analyser.on_session_end("the camera ended the stream")


def analyse(clip: bytes, config: MotionConfig, store: MotionStore) -> tuple[list[Event],
                                                                         MotionAnalyser]:
    events: list[Event] = []
    clock = Arrivals()
    analyser = MotionAnalyser(CHANNEL, config, lambda *e: events.append(e), store,
                              queue_packets=1000, wall_us=clock)
    analyser.start()
    try:
        feed(analyser, clip, clock)
        assert analyser.wait_idle(timeout=60)
    finally:
        analyser.stop()
    return events, analyser


@pytest.mark.parametrize("keyframes_only", [False, True], ids=["5fps", "keyframes"])
def test_the_square_triggers_its_region_only_and_marks_its_cells(
        motion_clip: bytes, store: MotionStore, keyframes_only: bool) -> None:
    config = MotionConfig(enabled=True, fps=5, keyframes_only=keyframes_only,
                          regions=(TOP_LEFT, BOTTOM_RIGHT))
    events, analyser = analyse(motion_clip, config, store)

    assert [(ch, region, phase) for ch, region, phase, _ in events] == [
        (CHANNEL, 1, "start"), (CHANNEL, 1, "stop")]
    (_, _, _, start_us), (_, _, _, stop_us) = events
    # starts when the square appears (5 fps: the 2nd of two moving frames confirms it,
    # the first is the start); stops at the first quiet frame once it is gone
    assert T0_US + MOVE_START_S * 1e6 <= start_us <= T0_US + (MOVE_START_S + 0.4) * 1e6
    assert T0_US + MOVE_END_S * 1e6 <= stop_us <= T0_US + (MOVE_END_S + 0.4) * 1e6
    stats = analyser.stats()
    assert stats.dropped == 0 and stats.decode_errors == 0
    if keyframes_only:
        assert stats.decoded == stats.analysed == 6  # one key frame a second
    else:
        assert stats.decoded == 84 and 26 <= stats.analysed <= 29  # 5 of 15 fps

    # bitmaps: the seconds the square moved, the cells it crossed, nothing elsewhere
    rows = store.bitmaps(CHANNEL, 0, 2**40)
    assert [second - T0_US // 1_000_000 for second, _ in rows] == [1, 2]
    crossed = from_bitmap(rows[0][1]) | from_bitmap(rows[1][1])
    assert crossed[3:6, 2:7].all()  # rows 3–5 (y 48–96), where the square was analysed
    outside = ~mask_of([MotionCells(left=0, top=2, right=10, bottom=6)])
    assert not (crossed & outside).any()

    # smart search: the square's cells moved in seconds 1–2; the gate never
    t1, t2 = T0_US, T0_US + 6_000_000
    square_path = mask_of_cells([(2, 4), (5, 4)])  # any of these cells
    assert store.seconds_with_motion(CHANNEL, t1, t2, square_path) == [
        T0_US // 1_000_000 + 1, T0_US // 1_000_000 + 2]
    assert store.seconds_with_motion(CHANNEL, t1, t2, mask_of(BOTTOM_RIGHT.cells)) == []
    assert store.seconds_with_motion(CHANNEL, t1, t2, mask_of_cells([(15, 4)])) == []
    assert store.seconds_with_motion(CHANNEL + 1, t1, t2, square_path) == []


def test_a_full_queue_drops_up_to_the_next_key_frame_and_counts(
        motion_clip: bytes, store: MotionStore) -> None:
    config = MotionConfig(enabled=True, fps=5, regions=(TOP_LEFT,))
    events: list[Event] = []
    analyser = MotionAnalyser(CHANNEL, config, lambda *e: events.append(e), store,
                              queue_packets=10, wall_us=lambda: T0_US)
    feed(analyser, motion_clip)  # worker not started: the queue fills up
    stats = analyser.stats()
    assert stats.packets == 84
    assert stats.dropped == 84 - 10
    analyser.start()
    assert analyser.wait_idle(timeout=60)
    analyser.stop()
    stats = analyser.stats()
    assert stats.decoded == 10 and stats.decode_errors == 0  # the first GOP's start decodes


def test_a_region_active_when_the_stream_ends_is_stopped(motion_clip: bytes,
                                                         store: MotionStore) -> None:
    cut = motion_clip[: len(motion_clip) * 2 // 5]  # ends at ~2.2 s, mid-movement
    events, _ = analyse(cut, MotionConfig(enabled=True, fps=5, regions=(TOP_LEFT,)), store)
    assert [phase for _, _, phase, _ in events] == ["start", "stop"]
    assert events[1][3] >= events[0][3]
