"""``kill -9`` of the real daemon in the middle of recording, then a restart on the same
data directory: what the crash protocol (nvrd/storage/writer.py) promises, checked on
the files and the catalog a real run leaves behind.

- the new daemon's start-up reconciliation closes the segments the crash left open and
  says so in its log;
- every segment file decodes with FFmpeg to its end, none has a torn tail, and the
  catalog and the files agree row for row, byte for byte;
- each stream loses at most the fragment it was receiving (one GOP) plus RTSP latency;
- recording resumes after the restart.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import av.logging
import pytest

from nvrd.record.fmp4 import scan_file
from nvrd.storage.catalog import CATALOG_FILE
from nvrd.storage.model import SEGMENT_DIR
from nvrd.storage.volume import prepare_volume
from tests.daemon_harness import Daemon, camera_toml, config_toml, free_port
from tools.fakecam.control import CameraSpec, StartFakeCams, StreamSpec

pytestmark = pytest.mark.slow

MAIN = StreamSpec(320, 240, 25, 25, 300)
FRAGMENT_US = 1_000_000
"""One fragment = one GOP: 25 frames at 25 fps."""
LATENCY_MARGIN_US = 500_000
"""RTSP delivery, the writer queue and the anchor's jitter. A fragment's wall-clock end
is the arrival of the keyframe that completes it (minus the smallest network delay), and
it is on disk a few milliseconds later; half a second is a generous bound on a loopback
camera."""
MIN_AGE_OF_OPEN_SEGMENT_US = 2_500_000
"""Kill only once every stream's current segment is this old, so that its catalog row
has been committed (``COMMIT_INTERVAL_S`` = 2 s) and its file holds complete fragments:
the crash then leaves exactly one open row per stream, each with something to recover."""
SEGMENT_S = 10
MAX_AGE_OF_OPEN_SEGMENT_US = (SEGMENT_S - 2) * 1_000_000
"""...and only while it is young enough not to have been rotated since the health answer
was taken: the web serves a status up to a second old (nvrd/web/status_cache.py), so a
segment that looks 2.5 s old may already have been replaced by a new, empty one."""
STREAMS = (1, 2)


def recording_streams(health: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Channel → status of its main stream's recorder, for channels that record it."""
    return {channel["channel"]: channel["streams"]["main"]
            for channel in health.get("recording", ()) if "main" in channel["streams"]}


def all_recording(predicate: Callable[[dict[str, Any]], bool]
                  ) -> Callable[[dict[str, Any]], bool]:
    def check(health: dict[str, Any]) -> bool:
        streams = recording_streams(health)
        return (sorted(streams) == list(STREAMS)
                and all(s["recording"] and predicate(s) for s in streams.values()))
    return check


def catalog_rows(volume: Path) -> list[dict[str, Any]]:
    """Every segment row, read-only (a read-write open could checkpoint a crashed WAL
    before the daemon gets to it)."""
    uri = f"file:{volume / CATALOG_FILE}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute(
            "SELECT id, channel, stream, start_us, end_us, bytes, path, state, end_reason "
            "FROM segments ORDER BY channel, start_us")]


def segment_files(volume: Path) -> set[str]:
    return {path.relative_to(volume).as_posix()
            for path in (volume / SEGMENT_DIR).rglob("*.mp4")}


def decode_to_end(path: Path) -> tuple[int, float]:
    """Decode every video packet of ``path``; (frames, end time in s). Fails on any
    FFmpeg error, raised or only logged (a decoder conceals damage and carries on)."""
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)  # installs the callback Capture listens to
    try:
        with av.logging.Capture() as logs, av.open(str(path)) as container:
            stream = container.streams.video[0]
            frames, end = 0, 0.0
            for packet in container.demux(stream):
                for frame in packet.decode():
                    frames += 1
                    assert frame.time is not None
                    end = max(end, frame.time + 1 / float(stream.average_rate or 25))
    finally:
        av.logging.set_level(previous)
    errors = [entry for entry in logs if entry[0] <= av.logging.ERROR]
    assert not errors, f"{path}: FFmpeg reported {errors}"
    return frames, end


def test_kill_9_mid_recording_loses_at_most_one_fragment_and_recovers(
        tmp_path: Path, fakecams: StartFakeCams) -> None:
    cams = fakecams([CameraSpec(f"cam{n}", MAIN, None) for n in STREAMS])
    volume = tmp_path / "v1"
    prepare_volume(volume, "v1")
    port = free_port()
    cameras = "".join(camera_toml(n, cams.url(f"cam{n}", "main")) + "record_sub = false\n"
                      for n in STREAMS)
    extra = ('[storage]\nfull_policy = "overwrite"\nmin_free_percent = 1\n'
             'reserve_minutes = 0\n\n[[storage.volumes]]\npath = "v1"\n\n'
             f'[recording]\nsegment_seconds = {SEGMENT_S}\n')
    (tmp_path / "nvrd.toml").write_text(config_toml(port, cameras, extra))

    first = Daemon(tmp_path, port)
    try:
        started = first.wait_health(all_recording(lambda s: True), timeout=60)
        began_us = min(s["run_start_us"] for s in recording_streams(started).values())

        def ready_to_kill(s: dict[str, Any]) -> bool:
            now_us = time.time_ns() // 1000
            return (s["segments"] > 0 and now_us - began_us >= 15_000_000
                    and MIN_AGE_OF_OPEN_SEGMENT_US <= now_us - s["segment_start_us"]
                    <= MAX_AGE_OF_OPEN_SEGMENT_US)
        first.wait_health(all_recording(ready_to_kill), timeout=45)
        kill_us = time.time_ns() // 1000
        first.signal(signal.SIGKILL)
        assert first.process.wait(timeout=10) == -signal.SIGKILL
    finally:
        first.kill()

    before = catalog_rows(volume)
    left_open = {row["id"]: row for row in before if row["state"] == "open"}
    assert sorted(row["channel"] for row in left_open.values()) == list(STREAMS), before

    log_offset = len(first.log())
    restart_us = time.time_ns() // 1000
    second = Daemon(tmp_path, port)
    try:
        second.wait_health(all_recording(
            lambda s: s["segment_start_us"] > restart_us), timeout=60)
        # wait (on the catalog's committed progress) until the new segments hold footage
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            fresh = [r for r in catalog_rows(volume)
                     if r["start_us"] > restart_us and r["end_us"] - r["start_us"] >= 2_000_000]
            if {r["channel"] for r in fresh} == set(STREAMS):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"no new footage after the restart: {catalog_rows(volume)}")
        log = second.log()[log_offset:]
    finally:
        assert second.stop() == 0

    # The new daemon's reconciliation said what it repaired.
    assert f"closed {len(left_open)} segments left open by a crash" in log, log[-3000:]

    after = catalog_rows(volume)
    by_id = {row["id"]: row for row in after}
    for row_id, old in left_open.items():
        assert row_id in by_id, f"{old['path']} lost its row in recovery"
        assert by_id[row_id]["end_reason"] == "crash-recovered", by_id[row_id]
        assert by_id[row_id]["state"] == "closed"

    # Catalog and files agree; nothing torn; everything decodes to the end.
    assert all(row["state"] == "closed" for row in after), after
    files = segment_files(volume)
    assert files == {row["path"] for row in after}, "files and catalog rows differ"
    for row in after:
        path = volume / row["path"]
        assert path.stat().st_size == row["bytes"], row
        scan = scan_file(path)
        assert scan.torn_bytes == 0, f"{path}: torn tail of {scan.torn_bytes} bytes"
        frames, end_s = decode_to_end(path)
        duration_s = (row["end_us"] - row["start_us"]) / 1e6
        assert frames > 0, row
        # decodes to the end: the decoded footage is as long as the catalog says
        assert abs(end_s - duration_s) <= 0.1, (row, frames, end_s)

    # At most one fragment (plus latency) lost per stream.
    bound_us = kill_us - FRAGMENT_US - LATENCY_MARGIN_US
    for channel in STREAMS:
        first_run = [r for r in after if r["channel"] == channel and r["start_us"] < restart_us]
        last_end = max(r["end_us"] for r in first_run)
        assert last_end >= bound_us, (
            f"channel {channel}: footage ends {(kill_us - last_end) / 1e6:.3f} s before the "
            f"kill; at most {(kill_us - bound_us) / 1e6:.1f} s may be lost")
        assert last_end <= kill_us + LATENCY_MARGIN_US, "footage recorded after the kill?"
        # recording resumed
        resumed = [r for r in after if r["channel"] == channel and r["start_us"] > restart_us]
        assert resumed and resumed[0]["bytes"] > 0, f"channel {channel} did not resume"
