"""Retention rules: the free-space floor, quota victims across volumes, deletion logs."""

from __future__ import annotations

from nvrd.storage.catalog import SegmentRow
from nvrd.storage.retention import (
    RetentionPolicy,
    deletion_spans,
    describe_deletions,
    free_space_floor,
    quota_victims,
)

GB = 1_000_000_000


def row(id_: int, channel: int, start_s: int, size: int = 100, stream: str = "main"
        ) -> SegmentRow:
    start = 1_795_000_000_000_000 + start_s * 1_000_000
    return SegmentRow(id_, channel, stream, start, start, start + 60_000_000, size,
                      f"rec/{id_}.mp4", 1, False, "closed", "h264", 320, 240, 500, (), "rotate")


def test_floor_is_the_larger_of_percent_and_an_hour_of_writing() -> None:
    policy = RetentionPolicy(min_free_percent=5, reserve_seconds=3600)
    assert free_space_floor(1000 * GB, policy, 0) == 50 * GB
    # 64 cameras at 4 Mbit/s = 32 MB/s: an hour is 115.2 GB, more than 5 % of 1 TB
    assert free_space_floor(1000 * GB, policy, 32e6) == int(115.2 * GB)
    # never more than half the disk, or overwrite would empty it
    assert free_space_floor(100 * GB, policy, 32e6) == 50 * GB
    assert free_space_floor(100 * GB, RetentionPolicy(min_free_percent=0,
                                                     reserve_seconds=0), 32e6) == 0


def test_quota_takes_the_oldest_across_volumes_until_the_excess_is_covered() -> None:
    candidates = [("a", row(1, 3, 0)), ("b", row(2, 3, 60)), ("a", row(3, 3, 120)),
                  ("b", row(4, 3, -60))]
    assert quota_victims(150, candidates) == {"b": [4], "a": [1]}
    assert quota_victims(0, candidates) == {}
    assert quota_victims(10_000, candidates) == {"b": [4, 2], "a": [1, 3]}


def test_deletions_are_described_per_stream_with_their_time_span() -> None:
    rows = [row(1, 2, 0, 1 << 20), row(2, 2, 60, 1 << 20), row(3, 1, 30, 1 << 20, "sub")]
    spans = deletion_spans(rows)
    assert [(s.channel, s.stream, s.segments) for s in spans] == [(1, "sub", 1), (2, "main", 2)]
    assert spans[1].end_us - spans[1].start_us == 120_000_000
    text = describe_deletions("disk1", "overwrite: free space below the floor", rows)
    assert text.startswith("volume disk1: deleted channel 1 sub: 1 segment (1.0 MiB) from ")
    assert "channel 2 main: 2 segments (2.0 MiB) from 2026-" in text
    assert text.endswith("UTC (overwrite: free space below the floor)")
