"""The segmenter against packets from a real H.264 file, with a writer that can refuse
(a disk falling behind) and a clock that follows the media: cuts, accounting, no
segment left open, no crash when the writer refuses at a rotation."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from nvrd.record.segmenter import SegmenterSettings, SegmentOpened, StreamSegmenter
from nvrd.storage.messages import AppendFragment, CloseSegment, OpenSegment, WriterMessage
from nvrd.storage.model import RecordType

FPS = 25
SECONDS = 30
START_US = 1_795_000_000_000_000


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 s of 320x240 H.264, a keyframe every second."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"g": str(FPS),
                                                              "keyint_min": str(FPS)})
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for n in range(FPS * SECONDS):
            image = np.full((240, 320, 3), n % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = n
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


class MediaClock:
    """Wall and monotonic time that advance with the packets fed (real time, no sleep)."""

    def __init__(self) -> None:
        self.now_us = 0

    def wall_us(self) -> int:
        return START_US + self.now_us

    def mono_us(self) -> int:
        return self.now_us


class Writer:
    """Takes messages like a volume writer; ``refuse`` makes it behave like a full queue
    (closes are always accepted, as the real one does)."""

    name = "test"

    def __init__(self) -> None:
        self.messages: list[WriterMessage] = []
        self.refuse = False

    def submit(self, message: WriterMessage) -> bool:
        if self.refuse and not isinstance(message, CloseSegment):
            return False
        self.messages.append(message)
        return True

    def opened(self) -> list[int]:
        return [m.key for m in self.messages if isinstance(m, OpenSegment)]

    def closed(self) -> list[CloseSegment]:
        return [m for m in self.messages if isinstance(m, CloseSegment)]


def feed(path: Path, segmenter: StreamSegmenter, clock: MediaClock,
         during: dict[int, object] | None = None) -> Iterator[int]:
    """Feed every packet; before the packet at second ``s`` run ``during[s]()``."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        segmenter.on_session_start(video, None)
        time_base = video.time_base or Fraction(1, 12800)
        pending = dict(during or {})
        for packet in container.demux(video):
            if packet.dts is None:
                continue
            clock.now_us = int(packet.dts * time_base * 1_000_000) + 50_000
            second = clock.now_us // 1_000_000
            action = pending.pop(second, None)
            if callable(action):
                action()
            segmenter.on_packet(packet)
            yield second
        segmenter.on_session_end("end of file")


def make(clock: MediaClock, writer: Writer) -> StreamSegmenter:
    segmenter = StreamSegmenter(1, "main", SegmenterSettings(segment_us=10_000_000),
                                clock=clock)
    segmenter.flags = RecordType.GENERAL
    segmenter.target = writer
    return segmenter


def test_a_clean_recording_accounts_for_every_packet(clip: Path) -> None:
    clock, writer = MediaClock(), Writer()
    segmenter = make(clock, writer)
    for _ in feed(clip, segmenter, clock):
        pass
    status = segmenter.status()
    assert status.packets_recorded == FPS * SECONDS
    assert status.packets_lost == status.cannot_keep_up == status.packets_dropped == 0
    assert len(writer.opened()) == len(writer.closed()) == status.segments >= 3
    runs = {m.run_start_us for m in writer.messages if isinstance(m, OpenSegment)}
    assert len(runs) == 1, "one recording without a break is one run"


@pytest.mark.parametrize("refuse_at_s", [5, 10, 20])
def test_a_writer_that_falls_behind_costs_a_counted_break_and_nothing_stays_open(
        clip: Path, refuse_at_s: int) -> None:
    """Refusing from inside a segment, and right at rotation instants, where the last
    fragments of the closing segment are refused (this used to leave the segment open
    and crash the reader thread)."""
    clock, writer = MediaClock(), Writer()
    segmenter = make(clock, writer)

    def refuse() -> None:
        writer.refuse = True

    def accept() -> None:
        writer.refuse = False

    for _ in feed(clip, segmenter, clock, {refuse_at_s: refuse, refuse_at_s + 3: accept}):
        pass
    status = segmenter.status()
    assert status.cannot_keep_up >= 1
    assert sorted(writer.opened()) == sorted(c.key for c in writer.closed()), \
        "every segment the writer opened was closed"
    assert any(c.reason == "volume cannot keep up" for c in writer.closed())
    # every packet is either recorded or counted lost (the run restarts on a keyframe)
    assert status.packets_recorded + status.packets_lost == FPS * SECONDS
    # at most the refused time plus the GOP in flight is lost (the new run's first
    # seconds wait in the pre-record buffer while it settles, and are kept when the
    # writer accepts again in time)
    assert FPS // 2 <= status.packets_lost <= (3 + 1) * FPS
    recorded = sum(1 for m in writer.messages if isinstance(m, AppendFragment))
    assert recorded > 0
    opened = [m for m in writer.messages if isinstance(m, OpenSegment)]
    assert len({m.run_start_us for m in opened}) == 2, "the break starts a new run"
    assert opened[-1].name.start_us >= START_US + (refuse_at_s + 3) * 1_000_000


def test_the_opened_hook_says_when_an_event_segment_opens(clip: Path) -> None:
    """Each segment is reported as it opens, in the reader's call: an alarm segment at
    the first packet after the flags ask for it, its footage starting with the
    pre-record from before; the segments that follow (rotation) are reported too."""
    clock, writer = MediaClock(), Writer()
    segmenter = StreamSegmenter(1, "main", SegmenterSettings(segment_us=10_000_000,
                                                             pre_record_us=2_000_000),
                                clock=clock)
    segmenter.target = writer
    opened: list[SegmentOpened] = []
    segmenter.opened_hook = opened.append
    asked_us: list[int] = []

    def alarm() -> None:
        segmenter.flags = RecordType.ALARM
        asked_us.append(clock.mono_us())

    for second in feed(clip, segmenter, clock, {6: alarm}):
        if second < 6:
            assert not opened, "nothing opens before recording is asked for"
    assert len(opened) == len(writer.opened()) >= 2
    first = opened[0]
    assert (first.channel, first.stream, first.types) == (1, "main", RecordType.ALARM)
    assert first.opened_mono_us == asked_us[0], "opened at the packet the flags were set on"
    # the pre-record (2 s, from a keyframe: keyframes come every second) leads it
    asked_wall_us = START_US + asked_us[0]
    assert asked_wall_us - 3_100_000 <= first.start_us <= asked_wall_us - 2_000_000
    assert [o.start_us for o in opened] == sorted(o.start_us for o in opened)
    assert all(o.types == RecordType.ALARM for o in opened)
