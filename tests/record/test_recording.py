"""Recording end to end: virtual cameras over real RTSP into segment files and the catalog.

The whole in-process stack (``recording_harness.RecordingStack``) records small streams
(320x240, 25 fps, a keyframe every second) and the tests check what a technician and a
player would see: files that decode, a catalog that matches them, a timeline without
holes where there was video and with holes where there was none, and the recorder's
counters. Faults come from the RTSP server (camera outage, timestamp jump) or from a
steppable wall clock injected into the recorder.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import av
import pytest

from nvrd.config.loader import parse_config
from nvrd.record.clock import SteppableClock
from nvrd.record.fmp4 import scan_file
from nvrd.record.ingest_service import IngestService
from nvrd.record.recorder import rotate_offset_us
from nvrd.storage import service as storage_service
from nvrd.storage.catalog import Interval, SegmentRow
from nvrd.storage.model import RecordType
from nvrd.storage.volume import IDENTITY_FILE, prepare_volume
from tests.record.recording_harness import (
    END_OF_TIME,
    EVENT_ONLY_SCHEDULE,
    RecordingStack,
    camera_toml,
    config_text,
    decode_all,
    fd_count,
)
from tools.fakecam.control import CameraSpec, StartFakeCams, StreamSpec

pytestmark = pytest.mark.slow

FPS = 25
SMALL = StreamSpec(320, 240, FPS, FPS, 300)
"""GOP of 25 frames: a keyframe every second."""
FRAME_US = 1_000_000 // FPS
GOP_US = 1_000_000
SEGMENT_US = 10_000_000
BACKOFF_MAX_S = 1.0
"""``backoff_max_seconds`` of the harness's fast ingest settings."""
GENERAL = int(RecordType.GENERAL)


def now_us() -> int:
    return time.time_ns() // 1000


def runs_of(rows: Sequence[SegmentRow]) -> dict[int, list[SegmentRow]]:
    """Rows grouped by run, each run's rows by start."""
    runs: dict[int, list[SegmentRow]] = {}
    for row in sorted(rows, key=lambda r: (r.run_start_us, r.start_us)):
        runs.setdefault(row.run_start_us, []).append(row)
    return runs


def assert_contiguous(run: Sequence[SegmentRow]) -> None:
    """A run is one continuous recording (model.py): each segment starts where the
    previous ended, to the microsecond, and ``run_start_us`` is its first segment's start.
    """
    for prev, nxt in pairwise(run):
        assert nxt.start_us == prev.end_us, (prev, nxt)
    assert run[0].start_us == run[0].run_start_us, (
        f"the run's first segment starts {(run[0].start_us - run[0].run_start_us) / 1e6:+.3f}"
        " s after its run_start_us")


def check_segment_file(volume: Path, row: SegmentRow) -> int:
    """Everything a player and the seek index rely on in one closed segment; returns
    the number of frames decoded."""
    path = volume / row.path
    assert row.state == "closed"
    assert (row.codec, row.width, row.height) == ("h264", 320, 240)
    scan = scan_file(path)
    assert scan.init is not None and scan.init.size == row.init_bytes
    assert scan.torn_bytes == 0, f"{row.path}: {scan.torn_bytes} bytes of torn tail"
    assert scan.file_size == row.bytes == path.stat().st_size

    decoded = decode_all(path)
    assert decoded.errors == (), f"{row.path}: {decoded.errors}"
    duration_s = (row.end_us - row.start_us) / 1e6
    assert abs(decoded.frames - duration_s * FPS) <= 1, (row.path, decoded.frames, duration_s)
    steps = [b - a for a, b in pairwise(decoded.pts_s)]
    assert decoded.pts_s[0] == 0.0, f"{row.path} starts at {decoded.pts_s[0]} s"
    # increasing, and without holes: every frame follows the previous one by one frame
    assert all(0 < step <= 1.5 * decoded.frame_s for step in steps), (row.path, steps)
    assert abs(decoded.end_s - duration_s) <= decoded.frame_s, (row.path, decoded.end_s)

    # the seek index: one entry per fragment that starts with a keyframe, at its moof,
    # with the fragment's own decode time
    video = scan.init.video()
    assert video is not None
    keyframe_fragments = []
    for fragment in scan.fragments:
        track_run = fragment.run(video.track_id)
        if track_run is not None and track_run.starts_with_sync:
            offset_us = round(track_run.base_decode_time * 1_000_000 / video.timescale)
            keyframe_fragments.append((offset_us, fragment.offset))
    assert list(row.fragments) == keyframe_fragments
    assert row.fragments[0] == (0, row.init_bytes)
    with path.open("rb") as f:
        for _offset_us, byte in row.fragments:
            f.seek(byte + 4)
            assert f.read(4) == b"moof", f"{row.path}: seek entry at {byte} is not a moof"
    return decoded.frames


# --- 1. four cameras -------------------------------------------------------------------


async def test_four_cameras_record_decodable_contiguous_segments_matching_the_catalog(
        fakecams: StartFakeCams, tmp_path: Path) -> None:
    cams = fakecams([CameraSpec(f"cam{i}", SMALL, SMALL) for i in range(1, 5)])
    cameras = "".join(camera_toml(i, cams.url(f"cam{i}", "main"), cams.url(f"cam{i}", "sub"),
                                  record_sub=True) for i in range(1, 5))
    streams = [(channel, stream) for channel in range(1, 5) for stream in ("main", "sub")]
    async with RecordingStack(tmp_path, config_text(cameras)) as stack:
        def recorded_25_s() -> bool:
            statuses = [stack.status(*key) for key in streams]
            return all(s.recording and s.run_start_us is not None and s.segments >= 1
                       and now_us() - s.run_start_us >= 25_000_000 for s in statuses)

        await stack.wait_for(recorded_25_s, 60, "25 s of recording on all eight streams")
        rows = await stack.finish_recording()
        intervals = {key: await stack.storage.intervals(*key, 0, END_OF_TIME)
                     for key in streams}
        statuses = {key: stack.status(*key) for key in streams}

    # after a clean stop the catalog and the files agree exactly
    rows = stack.catalog_rows()
    assert {row.path for row in rows} == stack.segment_files()
    for channel, stream in streams:
        mine = [r for r in rows if (r.channel, r.stream) == (channel, stream)]
        runs = runs_of(mine)
        assert len(runs) == 1, f"ch{channel} {stream} was cut into runs: {runs}"
        run = next(iter(runs.values()))
        assert len(run) >= 2, f"ch{channel} {stream} never rotated: {run}"
        assert_contiguous(run)
        assert run[-1].end_us - run[0].start_us >= 25_000_000
        offset = rotate_offset_us(channel, stream, SEGMENT_US)
        for prev, row in pairwise(run):
            assert prev.end_reason == "rotate", prev
            # cut at the first keyframe at or after the stream's own rotation instant
            assert 0 <= (row.start_us - offset) % SEGMENT_US < GOP_US, (row, offset)
        assert run[0].end_us - run[0].start_us >= SEGMENT_US // 2
        frames = 0
        for row in run:
            assert row.types == GENERAL
            frames += check_segment_file(stack.volume, row)
        # every packet the recorder muxed reached the disk; the only packets not recorded
        # are the connection's first GOP: FFmpeg hands over its keyframe without
        # timestamps (dropped) and the rest of that GOP cannot start a recording
        status = statuses[(channel, stream)]
        assert frames == status.packets_recorded
        assert status.cannot_keep_up == 0 and status.discontinuities == 0
        assert status.packets_lost < FPS and status.packets_dropped <= 1
        assert intervals[(channel, stream)] == [
            Interval(run[0].start_us, run[-1].end_us, GENERAL)]


# --- 2. camera outages -----------------------------------------------------------------


def ingest_online(ingest: IngestService, channel: int) -> bool:
    return next(c for c in ingest.snapshot() if c.channel == channel).online


async def test_camera_outages_leave_matching_gaps_and_leak_nothing(
        fakecams: StartFakeCams, tmp_path: Path) -> None:
    """The gap in the timeline covers each outage and is no longer than the outage plus
    the time to reconnect.

    Bounds, with the stop call made between ``a`` and ``b`` and the restart call between
    ``c`` and ``d`` (wall clock):

    - gap start in [a - 0.5 s, b + 0.1 s]: the reader closes its segment at the
      disconnect and the muxer flushes its partial fragment, so what the camera sent is
      kept up to the stop, less what was still in flight (0.5 s is generous for
      loopback); recorded times are the camera's send times, and the last frame lasts
      40 ms, hence 0.1 s after the call returned;
    - gap end >= c - 0.02 s: nothing can be recorded before the camera is back (the run's
      anchor is the earliest ``arrival - media`` seen, so it is never later than the
      truth, and the server paces from the moment the client attached; 20 ms for the
      server pushing up to 2 ms early and scheduling noise);
    - gap end <= d + backoff_max (1 s: the reader's next attempt) + one GOP (1 s: the
      connection's first keyframe arrives without a timestamp and is dropped, so the
      recording starts at the second) + 1.5 s for RTSP setup and a loaded 2-core
      machine. The 2 s settle time does *not* delay the recorded start: the run's first
      seconds are held in the pre-record buffer (5 s here) and written from the run's
      first keyframe. Measured: 1.55 s after the restart.

    So the gap is at most the outage (c - b) + 4.1 s (the slack of both ends).
    """
    cams = fakecams([CameraSpec("cam1", SMALL, None)])
    config = config_text(camera_toml(1, cams.url("cam1", "main")))
    outages: list[tuple[int, int, int, int]] = []
    async with RecordingStack(tmp_path, config) as stack:
        await stack.wait_for(lambda: stack.status(1).recording, 20, "recording")
        await stack.flush_catalog()
        fds, threads = fd_count(), threading.active_count()
        thread_names = sorted(t.name for t in threading.enumerate())
        for _ in range(3):
            a = now_us()
            cams.stop_camera("cam1")
            b = now_us()
            await stack.wait_for(lambda: not ingest_online(stack.ingest, 1), 10,
                                 "the stream offline")
            # the outage itself is the input: five seconds without the camera
            await asyncio.sleep(max(0.0, 5 - (now_us() - b) / 1e6))
            c = now_us()
            cams.restart_camera("cam1")
            d = now_us()
            outages.append((a, b, c, d))

            def resumed(after: int = b) -> bool:
                status = stack.status(1)
                return (status.recording and status.run_start_us is not None
                        and status.run_start_us > after)

            await stack.wait_for(resumed, 20, "recording after the restart")
        await stack.flush_catalog()

        # nothing leaks across reconnects: sockets, segment files, catalog connections,
        # reader threads (the reader thread is reused; writers are per volume)
        await stack.wait_for(lambda: fd_count() <= fds + 3, 10,
                             f"file descriptors back to {fds} (+3)")
        await stack.wait_for(lambda: threading.active_count() == threads, 10,
                             f"threads back to {thread_names}")
        reconnects = next(c for c in stack.ingest.snapshot() if c.channel == 1)
        assert reconnects.streams["main"].reconnects >= 3

        rows = await stack.finish_recording()
        intervals = await stack.storage.intervals(1, "main", 0, END_OF_TIME)

    runs = runs_of(rows)
    assert len(runs) == 4 and len(intervals) == 4, (runs, intervals)
    for run in runs.values():
        assert_contiguous(run)
        for row in run:
            check_segment_file(stack.volume, row)
    for (a, b, c, d), (before, after) in zip(outages, pairwise(intervals), strict=True):
        gap_start, gap_end = before.end_us, after.start_us
        assert a - 500_000 <= gap_start <= b + 100_000, (
            f"gap starts {(gap_start - a) / 1e6:+.3f} s after the stop call")
        assert c - 20_000 <= gap_end <= d + int((BACKOFF_MAX_S + 1 + 1.5) * 1e6), (
            f"gap ends {(gap_end - d) / 1e6:+.3f} s after the restart")
        assert gap_end - gap_start <= (c - b) + 4_100_000


# --- 3. clock steps --------------------------------------------------------------------


async def test_clock_steps_start_new_runs_without_losing_frames(
        fakecams: StartFakeCams, tmp_path: Path) -> None:
    cams = fakecams([CameraSpec("cam1", SMALL, None)])
    clock = SteppableClock()
    config = config_text(camera_toml(1, cams.url("cam1", "main")))
    hour = 3_600_000_000
    async with RecordingStack(tmp_path, config, clock=clock) as stack:
        seen_runs: list[int] = []

        async def record_six_seconds() -> None:
            """Wait for recording in a run not seen before, then for 6 s (150 frames)
            more of it."""
            def new_run() -> int | None:
                status = stack.status(1)
                run = status.run_start_us
                return run if status.recording and run not in seen_runs else None

            seen_runs.append(await stack.wait_for(new_run, 20, "recording in a new run"))
            start = stack.status(1).packets_recorded
            await stack.wait_for(lambda: stack.status(1).packets_recorded >= start + 6 * FPS,
                                 20, "six more seconds recorded")

        await record_six_seconds()
        before = stack.status(1)
        clock.step(hour)
        await record_six_seconds()
        clock.step(-2 * hour)
        await record_six_seconds()
        rows = await stack.finish_recording()
        status = stack.status(1)
        runs = runs_of(rows)
        first, second, third = (runs[key] for key in sorted(runs, key=lambda k: runs[k][0].id))
        windows = {name: await stack.storage.intervals(1, "main", run[0].start_us - 60_000_000,
                                                        run[-1].end_us + 60_000_000)
                   for name, run in (("first", first), ("second", second), ("third", third))}

    assert status.clock_steps == 2
    assert len(runs) == 3, runs
    for run in runs.values():
        assert_contiguous(run)
    # each run begins where the previous one ended, moved by the step (the cut waits for
    # the next keyframe and the new run starts with it); 50 ms of tolerance for the new
    # run's anchor, fixed from arrival times (measured: under 1 ms)
    assert abs(second[0].start_us - (first[-1].end_us + hour)) <= 50_000
    assert abs(third[0].start_us - (second[-1].end_us - 2 * hour)) <= 50_000
    assert first[-1].end_reason == "the system clock was stepped +3600.000 s"
    assert second[-1].end_reason == "the system clock was stepped -7200.000 s"
    # so the second run starts about an hour after the first, the third an hour before it
    assert abs(second[0].start_us - first[0].start_us - hour) <= 20_000_000
    assert abs(third[0].start_us - first[0].start_us + hour) <= 30_000_000

    # no frame lost at the steps: every frame muxed is in a file, nothing was counted
    # lost or dropped after the first recording started, and the footage spans the real
    # time from the first frame to the last (the clock ended 1 h behind)
    frames = sum(check_segment_file(stack.volume, row) for row in rows)
    assert frames == status.packets_recorded
    assert (status.packets_lost, status.packets_dropped) == (
        before.packets_lost, before.packets_dropped)
    real_span_s = (third[-1].end_us + hour - first[0].start_us) / 1e6
    assert abs(frames - real_span_s * FPS) <= 2, (frames, real_span_s)

    # the timeline query of each window finds exactly its own run
    for name, run in (("first", first), ("second", second), ("third", third)):
        assert windows[name] == [Interval(run[0].start_us, run[-1].end_us, GENERAL)], name


# --- 4. pre-record and post-record ---------------------------------------------------


async def test_an_event_records_its_pre_record_and_post_record_time(
        fakecams: StartFakeCams, tmp_path: Path) -> None:
    """Recorded span for a motion event from t0 to t1, pre-record 5 s, post-record 10 s,
    GOP 1 s:

    - start in [t0 - 5 s - 1 GOP - 0.5 s, t0 - 5 s + 0.5 s]: the pre-record buffer holds
      whole GOPs and drops the oldest only while the next still reaches 5 s back, so it
      starts between 5 s and 5 s + 1 GOP before the newest packet;
    - end in [t1 + 10 s - 0.5 s, t1 + 10 s + 1 GOP + 0.5 s]: the tail ends 10 s after
      the stop and the cut waits for the next keyframe.

    0.5 s either way absorbs RTSP latency (recorded times are the camera's send times,
    the event times are taken on arrival) and timer and thread scheduling on a loaded
    2-core box; measured: start -5.0..-5.1 s, end +10.9..+11.0 s.
    """
    cams = fakecams([CameraSpec("cam1", SMALL, None)])
    config = config_text(camera_toml(1, cams.url("cam1", "main"), schedule="ev",
                                     pre_record_seconds=5, post_record_seconds=10),
                         extra=EVENT_ONLY_SCHEDULE)
    async with RecordingStack(tmp_path, config) as stack:
        def buffered_8_s() -> bool:
            run_start = stack.status(1).run_start_us
            return run_start is not None and now_us() - run_start >= 8_000_000

        await stack.wait_for(buffered_8_s, 30, "8 s of stream in the pre-record buffer")
        status = stack.status(1)
        assert not status.recording and status.packets_recorded == 0
        t0 = now_us()
        stack.recorder.start_event(1, "motion")
        await stack.wait_for(lambda: stack.status(1).recording, 5, "the event recording")
        await asyncio.sleep(max(0.0, 3 - (now_us() - t0) / 1e6))  # the event lasts 3 s
        t1 = now_us()
        stack.recorder.stop_event(1, "motion")
        await stack.wait_for(lambda: not stack.status(1).recording, 20,
                             "the post-record tail to end")
        rows = await stack.finish_recording()
        everything = await stack.storage.intervals(1, "main", 0, END_OF_TIME)
        before_event = await stack.storage.intervals(1, "main", 0, t0 - 6_000_000 - 500_000)

    assert before_event == []
    assert len(everything) == 1, everything
    (interval,) = everything
    tolerance = 500_000
    assert t0 - 5_000_000 - GOP_US - tolerance <= interval.start_us <= t0 - 5_000_000 + tolerance, (
        f"recording starts {(interval.start_us - t0) / 1e6:+.3f} s from the event")
    assert t1 + 10_000_000 - tolerance <= interval.end_us <= t1 + 10_000_000 + GOP_US + tolerance, (
        f"recording ends {(interval.end_us - t1) / 1e6:+.3f} s from the event's end")
    assert interval.types == int(RecordType.MOTION)
    assert all(row.types == int(RecordType.MOTION) for row in rows)
    for prev, nxt in pairwise(rows):
        assert nxt.start_us == prev.end_us, (prev, nxt)
    assert rows[-1].end_reason == "recording stopped"
    # (whether run_start_us is the first segment's start, as model.py says, is
    # test_a_break_in_recording_starts_a_new_run's business)

    # the pre-record seconds are real video, not just timestamps
    frames = sum(check_segment_file(stack.volume, row) for row in rows)
    assert abs(frames - (interval.end_us - interval.start_us) / FRAME_US) <= len(rows)


# --- 5. timestamp jumps ----------------------------------------------------------------


async def test_a_timestamp_jump_splits_the_run(fakecams: StartFakeCams,
                                               tmp_path: Path) -> None:
    """FFmpeg's RTSP demuxer does not hide the jump: the fake camera shifts RTP
    timestamps and its RTCP sender reports alike, so the demuxer's dts jump 30 s ahead
    of arrival time. The segmenter ends the run before the offending packet and starts
    a new one at the next keyframe, anchored on the wall clock again: the timeline shows
    neither a 30 s hole nor an overlap, and what is lost is the frames up to that
    keyframe (under one GOP, counted in ``packets_lost``)."""
    cams = fakecams([CameraSpec("cam1", SMALL, None)])
    async with RecordingStack(tmp_path, config_text(camera_toml(1, cams.url("cam1")))) as stack:
        await stack.wait_for(lambda: stack.status(1).packets_recorded >= 4 * FPS, 20,
                             "4 s recorded")
        before = stack.status(1)
        cams.jump("cam1", "main", seconds=30)
        await stack.wait_for(lambda: stack.status(1).discontinuities >= 1, 10,
                             "the discontinuity seen")
        jumped = stack.status(1)

        def new_run_recorded_4_s() -> bool:
            status = stack.status(1)
            return (status.recording and status.run_start_us != before.run_start_us
                    and status.packets_recorded >= jumped.packets_recorded + 4 * FPS)

        await stack.wait_for(new_run_recorded_4_s, 20, "4 s recorded in a new run")
        rows = await stack.finish_recording()
        status = stack.status(1)
        intervals = await stack.storage.intervals(1, "main", 0, END_OF_TIME)

    assert status.discontinuities == 1
    runs = runs_of(rows)
    assert len(runs) == 2, runs
    first, second = runs.values()
    for run in (first, second):
        assert_contiguous(run)
    assert first[-1].end_reason == "the camera's timestamps jumped ahead 30.0 s"
    gap_us = second[0].start_us - first[-1].end_us
    assert 0 <= gap_us <= GOP_US, f"{gap_us / 1e6:+.3f} s between the runs"
    lost = status.packets_lost - before.packets_lost
    # the frames lost are the ones the break is long (±1: each run has its own anchor)
    assert abs(lost - gap_us / FRAME_US) <= 1 and lost < FPS, (lost, gap_us)
    frames = sum(check_segment_file(stack.volume, row) for row in rows)
    assert frames == status.packets_recorded
    # a break under a second is within merge_intervals' tolerance (max_gap_us), so the
    # timeline shows one span; with longer GOPs the lost frames would show as a gap
    assert intervals == [Interval(first[0].start_us, second[-1].end_us, GENERAL)]


# --- 6. runs in the catalog ------------------------------------------------------------


async def test_a_break_in_recording_starts_a_new_run(fakecams: StartFakeCams,
                                                    tmp_path: Path) -> None:
    """model.py: "Segments of one stream that follow each other without a break share a
    run_start_us (the start of the first segment of the run); a new run means the
    recording was interrupted". The channel records, is switched off for 6 s and on
    again, all on one connection: with 2 s of pre-record nothing bridges the break."""
    cams = fakecams([CameraSpec("cam1", SMALL, None)])
    on = config_text(camera_toml(1, cams.url("cam1", "main"), pre_record_seconds=2))
    off = on.replace('mode = "auto"', 'mode = "off"')
    async with RecordingStack(tmp_path, on) as stack:
        await stack.wait_for(lambda: stack.status(1).packets_recorded >= 3 * FPS, 20,
                             "3 s recorded")
        await stack.recorder.apply_config(parse_config(off, "test"))
        await stack.wait_for(lambda: not stack.status(1).recording, 10, "recording stopped")
        await asyncio.sleep(6)  # the break is the input
        recorded = stack.status(1).packets_recorded
        await stack.recorder.apply_config(stack.config)
        await stack.wait_for(lambda: stack.status(1).packets_recorded >= recorded + 3 * FPS,
                             20, "3 s recorded again")
        rows = await stack.finish_recording()
        intervals = await stack.storage.intervals(1, "main", 0, END_OF_TIME)

    # the timeline shows the break...
    assert len(intervals) == 2, intervals
    assert intervals[1].start_us - intervals[0].end_us >= 1_500_000
    assert rows[0].end_reason == "recording stopped"
    # ...and the catalog should tell the two recordings apart
    runs = runs_of(rows)
    assert len(runs) == 2, (
        "segments on both sides of a break in recording share run_start_us "
        f"{rows[0].run_start_us}: {[(r.start_us, r.end_us) for r in rows]}")
    for run in runs.values():
        assert_contiguous(run)


# --- 7. the start of a connection ------------------------------------------------------


async def test_continuous_recording_without_pre_record_keeps_the_first_seconds(
        fakecams: StartFakeCams, tmp_path: Path) -> None:
    """A channel recording around the clock with ``pre_record_seconds = 0`` must record
    a connection from its first usable keyframe: the segmenter holds the run's first
    2 s (``SETTLE_US``) until the run's wall-clock anchor is fixed, and that hold is
    there so that "a run whose start is not yet settled must not lose its beginning"
    (prerecord.py).

    Bound: the first recorded frame is at most one GOP + 0.3 s after the reader came
    online (``online_since_us``, taken once PyAV's open returned, which reads about a
    second of stream while probing). One GOP because the connection's first keyframe
    reaches the segmenter without a timestamp and is dropped (counted), so the first
    recordable keyframe is the second one; 0.3 s for a faster probe. Measured: the first
    frame is 0.08 s *before* ``online_since_us`` with 5 s of pre-record, and 1.92 s after
    it with none.
    """
    cams = fakecams([CameraSpec("cam1", SMALL, None)])
    config = config_text(camera_toml(1, cams.url("cam1", "main"), pre_record_seconds=0))
    async with RecordingStack(tmp_path, config) as stack:
        await stack.wait_for(lambda: stack.status(1).packets_recorded >= 3 * FPS, 20,
                             "3 s recorded")
        online_since = stack.ingest.snapshot()[0].streams["main"].online_since_us
        assert online_since is not None
        rows = await stack.finish_recording()
        status = stack.status(1)

    first_us = rows[0].start_us
    assert first_us <= online_since + GOP_US + 300_000, (
        f"recording starts {(first_us - online_since) / 1e6:+.3f} s after the camera came "
        f"online; the run began at {(rows[0].run_start_us - online_since) / 1e6:+.3f} s; "
        f"packets_lost = {status.packets_lost} (only the first GOP)")


# --- 8. settings and record types change the segment, not the recording -------------------

async def test_changed_settings_and_an_event_cut_the_segment_without_a_break(
        fakecams: StartFakeCams, tmp_path: Path) -> None:
    """The vendor packs the current file when a channel's settings change; an event during
    continuous recording changes the segment's record types. Both cut at a keyframe,
    inside one run: no frame lost, the timeline stays one interval."""
    cams = fakecams([CameraSpec("cam1", SMALL, None)])
    text = config_text(camera_toml(1, cams.url("cam1", "main")), segment_seconds=60)
    async with RecordingStack(tmp_path, text) as stack:
        await stack.wait_for(lambda: stack.status(1).packets_recorded >= 3 * FPS, 20,
                             "3 s recorded")
        changed = text.replace("pre_record_seconds = 5", "pre_record_seconds = 7")
        assert changed != text
        await stack.recorder.apply_config(parse_config(changed, "test"))
        await stack.wait_for(lambda: stack.status(1).segments >= 1, 10, "a cut")
        stack.recorder.start_event(1, "motion")
        await stack.wait_for(lambda: stack.status(1).types & RecordType.MOTION, 10,
                             "motion recorded")
        await stack.wait_for(lambda: stack.status(1).packets_recorded >= 8 * FPS, 20,
                             "8 s recorded")
        rows = await stack.finish_recording()
        intervals = await stack.storage.intervals(1, "main", 0, END_OF_TIME)

    assert [r.end_reason for r in rows[:2]] == ["settings changed", "record types changed"]
    assert rows[0].types == RecordType.GENERAL
    assert rows[2].types == RecordType.GENERAL | RecordType.MOTION
    assert len(runs_of(rows)) == 1
    assert_contiguous(rows)
    assert len(intervals) == len({i.types for i in intervals}) == 2  # general, then +motion
    assert intervals[0].end_us == intervals[1].start_us


# --- 9. codecs ---------------------------------------------------------------------------

async def test_h265_video_and_aac_audio_are_recorded_as_they_come(
        fakecams: StartFakeCams, tmp_path: Path) -> None:
    """Stream copy, nothing transcoded: an H.265 camera with AAC audio gives MP4 files
    with an hvc1/hev1 video track and the AAC track, both decodable."""
    spec = StreamSpec(320, 240, FPS, FPS, 300, codec="h265", audio=True)
    cams = fakecams([CameraSpec("cam1", spec, None)])
    text = config_text(camera_toml(1, cams.url("cam1", "main")))
    async with RecordingStack(tmp_path, text) as stack:
        await stack.wait_for(lambda: stack.status(1).packets_recorded >= 4 * FPS, 30,
                             "4 s recorded")
        rows = await stack.finish_recording()

    assert rows and all(row.codec == "hevc" for row in rows), [r.codec for r in rows]
    path = stack.volume / rows[0].path
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "hevc" and audio.codec_context.name == "aac"
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        samples = sum(frame.samples for frame in container.decode(audio=0))
    duration_s = (rows[0].end_us - rows[0].start_us) / 1e6
    assert abs(frames - duration_s * FPS) <= 1
    assert samples / audio.codec_context.sample_rate == pytest.approx(duration_s, abs=0.2)


# --- 10. several volumes ---------------------------------------------------------------------

async def test_a_stream_moves_to_another_volume_when_its_own_fails(
        fakecams: StartFakeCams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two volumes; the one being written loses its identity file (disk pulled): the
    writer fails it, the stream moves to the other volume and records on, the timeline
    (merged across volumes) shows at most a short gap, and the failed one is not
    written into again. The failed volume is retried at once here, and still reads
    "failed" (not merely "missing") while it cannot be opened."""
    monkeypatch.setattr(storage_service, "RETRY_FAILED_S", 0.0)
    cams = fakecams([CameraSpec("cam1", SMALL, None)])
    text = config_text(camera_toml(1, cams.url("cam1", "main"))).replace(
        '[[storage.volumes]]\npath = "v1"\n',
        '[[storage.volumes]]\npath = "v1"\n[[storage.volumes]]\npath = "v2"\n')
    prepare_volume(tmp_path / "v2", "second")
    async with RecordingStack(tmp_path, text) as stack:
        await stack.wait_for(lambda: stack.status(1).packets_recorded >= 3 * FPS, 20,
                             "3 s recorded")
        first = stack.status(1).volume
        assert first in ("v1", "v2")
        other = "v2" if first == "v1" else "v1"
        (tmp_path / first / IDENTITY_FILE).unlink()
        pulled_us = time.time_ns() // 1000
        await stack.wait_for(lambda: stack.status(1).volume == other, 20,
                             f"recording moved to {other}")
        files_left = {p for p in (tmp_path / first).rglob("*.mp4")}
        recorded = stack.status(1).packets_recorded
        await stack.wait_for(lambda: stack.status(1).packets_recorded >= recorded + 3 * FPS,
                             20, "3 s recorded on the other volume")
        def retried() -> bool:  # the failed volume was tried again and still cannot open
            return any(v.name == first and IDENTITY_FILE in (v.reason or "")
                       for v in stack.storage.snapshot())
        await stack.wait_for(retried, 10, f"{first} retried")
        states = {v.name: v.state for v in stack.storage.snapshot()}
        assert states == {first: "failed", other: "ready"}, states
        assert {p for p in (tmp_path / first).rglob("*.mp4")} == files_left
        await stack.ingest.stop()
        await stack.flush_catalog()
        intervals = await stack.storage.intervals(1, "main", 0, END_OF_TIME)
        rows = [row for _, row in await stack.storage.segments(1, "main", 0, END_OF_TIME)]

    # only the surviving volume answers (the failed one's open row waits for reconcile at
    # its next mount); what it holds starts after the failure, closed and contiguous
    assert rows and all(row.state == "closed" for row in rows)
    assert all(row.start_us >= pulled_us - 2 * GOP_US for row in rows)
    assert len(intervals) == 1, intervals
