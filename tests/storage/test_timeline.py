"""Timelines: recorded spans, holes, and which local days have footage."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from nvrd.storage.catalog import SegmentRow
from nvrd.storage.model import RecordType
from nvrd.storage.timeline import (
    Interval,
    days_with_recordings,
    gaps,
    local_day_bounds_us,
    merge_intervals,
)

S = 1_000_000
G, M, A = int(RecordType.GENERAL), int(RecordType.MOTION), int(RecordType.ALARM)
PARIS = ZoneInfo("Europe/Paris")


def iv(start_s: float, end_s: float, types: int = G) -> Interval:
    return Interval(int(start_s * S), int(end_s * S), types)


def row(start_s: float, end_s: float, types: int = G) -> SegmentRow:
    return SegmentRow(id=1, channel=1, stream="main", run_start_us=0, start_us=int(start_s * S),
                      end_us=int(end_s * S), bytes=0, path="x", types=types, locked=False,
                      state="closed", codec="h264", width=None, height=None, init_bytes=0,
                      fragments=(), end_reason="rotate")


def test_contiguous_and_nearly_contiguous_segments_join() -> None:
    rows = [row(120.4, 180), row(0, 60), row(60, 120)]  # unsorted; 0.4 s break tolerated
    assert merge_intervals(rows) == [iv(0, 180)]


def test_a_break_longer_than_the_tolerance_is_a_gap() -> None:
    merged = merge_intervals([iv(0, 60), iv(61.5, 120)])
    assert merged == [iv(0, 60), iv(61.5, 120)]
    assert merge_intervals([iv(0, 60), iv(61.5, 120)], max_gap_us=2 * S) == [iv(0, 120)]
    assert merge_intervals([iv(0, 60), iv(60.5, 120)], max_gap_us=0) == [iv(0, 60),
                                                                        iv(60.5, 120)]


def test_types_split_intervals_without_leaving_a_tolerated_break() -> None:
    merged = merge_intervals([iv(0, 60, G), iv(60.5, 120, G | M), iv(120, 180, G | M),
                              iv(180, 240, G)])
    assert merged == [iv(0, 60.5, G), iv(60.5, 180, G | M), iv(180, 240, G)]
    assert merge_intervals([iv(0, 60, G), iv(60.5, 120, M)], split_on_types=False) == [
        iv(0, 120, G | M)]


def test_overlapping_rows_from_two_volumes_carry_both_types() -> None:
    merged = merge_intervals([iv(0, 60, G), iv(30, 90, A), iv(0, 60, G)])
    assert merged == [iv(0, 30, G), iv(30, 60, G | A), iv(60, 90, A)]
    assert merge_intervals([iv(0, 60, G), iv(30, 90, A)], split_on_types=False) == [
        iv(0, 90, G | A)]


def test_empty_and_zero_length_rows_record_nothing() -> None:
    assert merge_intervals([]) == []
    assert merge_intervals([iv(5, 5)]) == []
    with pytest.raises(ValueError, match="negative"):
        merge_intervals([], max_gap_us=-1)


def test_gaps_within_the_query_range() -> None:
    intervals = [iv(100, 200), iv(10, 50), iv(50, 60), iv(300, 400)]
    assert gaps(intervals, 0, 350 * S) == [(0, 10 * S), (60 * S, 100 * S),
                                           (200 * S, 300 * S)]
    assert gaps(intervals, 20 * S, 55 * S) == []
    assert gaps(intervals, 150 * S, 250 * S) == [(200 * S, 250 * S)]
    assert gaps([], 0, 10) == [(0, 10)]
    assert gaps([iv(0, 1000)], 5 * S, 6 * S) == []
    assert gaps([iv(500, 600)], 0, 100 * S) == [(0, 100 * S)]


def utc_us(year: int, month: int, day: int, hour: int = 0, minute: int = 0, *,
           tz: ZoneInfo = PARIS) -> int:
    """A wall-clock time in ``tz`` as UTC microseconds."""
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=tz).timestamp()) * S


def test_local_day_bounds_are_23_and_25_hours_on_dst_days() -> None:
    spring = local_day_bounds_us(dt.date(2026, 3, 29), PARIS)
    autumn = local_day_bounds_us(dt.date(2026, 10, 25), PARIS)
    ordinary = local_day_bounds_us(dt.date(2026, 3, 28), PARIS)
    assert spring[1] - spring[0] == 23 * 3600 * S
    assert autumn[1] - autumn[0] == 25 * 3600 * S
    assert ordinary == (utc_us(2026, 3, 27, 23, tz=ZoneInfo("UTC")),
                        utc_us(2026, 3, 28, 23, tz=ZoneInfo("UTC")))
    assert ordinary[1] == spring[0]


def test_days_with_recordings_follow_local_midnight_across_dst() -> None:
    recorded = [
        iv(utc_us(2026, 3, 1, 0, 30) / S, utc_us(2026, 3, 1, 1) / S),
        # 23:30 to 23:59 on the 29th (summer time now): UTC 21:30 on the 29th
        iv(utc_us(2026, 3, 29, 23, 30) / S, utc_us(2026, 3, 29, 23, 59) / S),
        # 00:30 on the 31st is still the 30th in UTC: it belongs to local day 31
        iv(utc_us(2026, 3, 31, 0, 30) / S, utc_us(2026, 3, 31, 0, 40) / S),
        # a segment running over midnight counts for both days
        iv(utc_us(2026, 3, 10, 23, 59) / S, utc_us(2026, 3, 11, 0, 1) / S),
    ]
    calls: list[tuple[int, int]] = []

    def probe(start_us: int, end_us: int) -> bool:
        calls.append((start_us, end_us))
        return any(i.start_us < end_us and i.end_us > start_us for i in recorded)

    assert days_with_recordings(probe, 2026, 3, PARIS) == [1, 10, 11, 29, 31]
    assert len(calls) == 31
    assert all(a[1] == b[0] for a, b in itertools.pairwise(calls))  # no holes
    assert calls[0][0] == utc_us(2026, 3, 1) and calls[-1][1] == utc_us(2026, 4, 1)


def test_days_with_recordings_in_a_short_month() -> None:
    assert days_with_recordings(lambda a, b: True, 2028, 2, PARIS) == list(range(1, 30))
    assert days_with_recordings(lambda a, b: False, 2026, 2, PARIS) == []
