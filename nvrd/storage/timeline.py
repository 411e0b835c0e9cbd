"""What was recorded when: pure functions over catalog rows.

Pure (no catalog, no clock) because a channel's footage may be spread over several
volumes after a failover or a disk swap: the caller queries each volume's
:class:`~nvrd.storage.catalog.CatalogReader` and hands all the rows here.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from zoneinfo import ZoneInfo

from nvrd.storage.catalog import Interval, SegmentRow

__all__ = ["Interval", "days_with_recordings", "gaps", "merge_intervals"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def merge_intervals(rows: Iterable[SegmentRow | Interval], *, max_gap_us: int = 1_000_000,
                    split_on_types: bool = True) -> list[Interval]:
    """The recorded spans of ``rows``, sorted and disjoint.

    Consecutive segments are joined when the break between them is at most
    ``max_gap_us``: a sub-second break between two segments of a run is timestamp
    rounding, not missing footage, and must not show as a hole in the timeline. Where
    rows overlap (the same footage on two volumes, or a clock stepped back) the overlap
    carries the union of their types.

    With ``split_on_types`` an interval has one combination of types, so the timeline
    can colour it; neighbours with different types stay separate, and a tolerated break
    between them is closed by ending the earlier one where the later one starts.
    Without it, types are OR-ed across each joined interval.
    """
    if max_gap_us < 0:
        raise ValueError(f"max_gap_us must not be negative (got {max_gap_us})")
    merged: list[Interval] = []
    for piece in _disjoint_pieces(rows):
        if not merged or piece.start_us - merged[-1].end_us > max_gap_us:
            merged.append(piece)
            continue
        last = merged[-1]
        if not split_on_types or piece.types == last.types:
            merged[-1] = Interval(last.start_us, piece.end_us, last.types | piece.types)
        else:
            merged[-1] = Interval(last.start_us, piece.start_us, last.types)
            merged.append(piece)
    return merged


def _disjoint_pieces(rows: Iterable[SegmentRow | Interval]) -> list[Interval]:
    """Cut the rows at every boundary: covered, non-overlapping pieces in time order,
    each with the OR of the types of the rows covering it (a sweep over the boundaries)."""
    events: list[tuple[int, int, int]] = []  # (time, +1 start / -1 end, types)
    for row in rows:
        if row.end_us > row.start_us:
            events.append((row.start_us, 1, row.types))
            events.append((row.end_us, -1, row.types))
    events.sort()
    active: Counter[int] = Counter()
    pieces: list[Interval] = []
    previous = None
    for time_us, delta, types in events:
        if previous is not None and time_us > previous and +active:
            covered = 0
            for active_types in +active:
                covered |= active_types
            pieces.append(Interval(previous, time_us, covered))
        active[types] += delta
        previous = time_us
    return pieces


def gaps(intervals: Sequence[Interval], start_us: int, end_us: int) -> list[tuple[int, int]]:
    """The spans of ``[start_us, end_us)`` that no interval covers, in time order."""
    found: list[tuple[int, int]] = []
    cursor = start_us
    for interval in sorted(intervals, key=lambda i: i.start_us):
        if interval.end_us <= cursor or interval.end_us <= interval.start_us:
            continue
        if interval.start_us >= end_us:
            break
        if interval.start_us > cursor:
            found.append((cursor, interval.start_us))
        cursor = interval.end_us
    if cursor < end_us:
        found.append((cursor, end_us))
    return found


def days_with_recordings(probe: Callable[[int, int], bool], year: int, month: int,
                         tz: ZoneInfo) -> list[int]:
    """The local calendar days (1..31) of a month on which ``probe(day_start_us,
    day_end_us)`` finds footage. Day bounds are local midnights, so the days around a
    DST change last 23 or 25 hours."""
    days_in_month = calendar.monthrange(year, month)[1]
    return [day for day in range(1, days_in_month + 1)
            if probe(*local_day_bounds_us(dt.date(year, month, day), tz))]


def local_day_bounds_us(day: dt.date, tz: ZoneInfo) -> tuple[int, int]:
    """``[start, end)`` of a local calendar day in UTC microseconds."""
    return _local_midnight_us(day, tz), _local_midnight_us(day + dt.timedelta(days=1), tz)


def _local_midnight_us(day: dt.date, tz: ZoneInfo) -> int:
    # Where midnight does not exist (a DST jump at midnight), fold=0 maps it to the
    # instant of the jump, which is when that day begins.
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=tz)
    return (midnight.astimezone(dt.UTC) - _EPOCH) // _MICROSECOND
