"""Retention rules as pure functions: the free-space floor, quota victims, deletion logs.

The vendor model (manual part C §1.1): when a disk fills up either the oldest recordings
are overwritten (default) or recording stops; independently, recordings older than a
channel's limit expire, and a channel may have a byte quota. Locked recordings are never
deleted by any of these. The writer thread of each volume applies them (``writer.py``);
what to delete and how to say so is decided here so it can be tested without a disk.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from nvrd.storage.catalog import SegmentRow

HYSTERESIS = 0.1
"""Overwrite frees 10 % more than the floor, so it runs in batches, not per segment."""
MAX_DELETIONS_PER_PASS = 500
"""One pass deletes at most this many files, so the writer goes back to writing soon."""


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    full_policy: str = "overwrite"
    """"overwrite" the oldest unlocked recordings, or "stop" recording."""
    min_free_percent: float = 5.0
    reserve_seconds: float = 3600.0
    """Keep free what the volume receives in this long at its current rate."""
    max_age_us: dict[int, int] = field(default_factory=dict)
    """Per channel: recordings that ended longer ago than this expire."""


def free_space_floor(total_bytes: int, policy: RetentionPolicy, bytes_per_second: float
                     ) -> int:
    """The free space a volume keeps: max(min_free_percent of the disk, reserve_seconds of
    what it is being written at). The second term matters on small disks with many
    cameras: 5 % of 1 TB is 50 GB, but 64 cameras at 4 Mbit/s write 115 GB an hour."""
    by_percent = total_bytes * policy.min_free_percent / 100
    by_rate = bytes_per_second * policy.reserve_seconds
    # never ask for more than half the disk: a floor above that would delete everything
    return int(min(max(by_percent, by_rate), total_bytes / 2))


def overwrite_target(floor: int) -> int:
    return int(floor * (1 + HYSTERESIS))


def quota_victims(excess_bytes: int, candidates: Iterable[tuple[str, SegmentRow]]
                  ) -> dict[str, list[int]]:
    """Oldest first across volumes until ``excess_bytes`` are covered: {volume: [ids]}.
    ``candidates`` are (volume name, row) pairs of one channel's unlocked segments."""
    chosen: dict[str, list[int]] = {}
    for volume, row in sorted(candidates, key=lambda c: c[1].start_us):
        if excess_bytes <= 0:
            break
        chosen.setdefault(volume, []).append(row.id)
        excess_bytes -= row.bytes
    return chosen


@dataclass(frozen=True, slots=True)
class DeletionSpan:
    channel: int
    stream: str
    segments: int
    bytes: int
    start_us: int
    end_us: int


def deletion_spans(rows: Sequence[SegmentRow]) -> list[DeletionSpan]:
    """What a deletion batch removed, per channel and stream, as time spans."""
    spans: dict[tuple[int, str], DeletionSpan] = {}
    for row in rows:
        key = (row.channel, row.stream)
        old = spans.get(key)
        spans[key] = DeletionSpan(
            row.channel, row.stream, (old.segments if old else 0) + 1,
            (old.bytes if old else 0) + row.bytes,
            min(old.start_us, row.start_us) if old else row.start_us,
            max(old.end_us, row.end_us) if old else row.end_us)
    return sorted(spans.values(), key=lambda s: (s.channel, s.stream))


def describe_deletions(volume: str, reason: str, rows: Sequence[SegmentRow]) -> str:
    """One line a technician can read in the log: what went, from when to when, why."""
    parts = [
        f"channel {s.channel} {s.stream}: {s.segments} segment{'s' * (s.segments != 1)} "
        f"({_mib(s.bytes)}) from {_utc(s.start_us)} to {_utc(s.end_us)}"
        for s in deletion_spans(rows)
    ]
    return f"volume {volume}: deleted {'; '.join(parts)} ({reason})"


def _utc(us: int) -> str:
    return dt.datetime.fromtimestamp(us / 1e6, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"
