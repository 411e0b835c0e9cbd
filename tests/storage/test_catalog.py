"""The per-volume catalog: write side, deletion protocol, locks, and overlap queries."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from nvrd.storage.catalog import (
    CATALOG_FILE,
    Catalog,
    CatalogError,
    CatalogReader,
    Interval,
    NewSegment,
    SegmentRow,
)
from nvrd.storage.model import RecordType, SegmentName

S = 1_000_000
T0 = 1_763_712_000 * S  # 2025-11-21T08:00:00Z
UUID = "4b0c1f0e-8a53-4f57-9d5f-2b1f6a3c9e01"


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    cat = Catalog(tmp_path, UUID)
    yield cat
    cat.close()


@pytest.fixture
def reader(tmp_path: Path, catalog: Catalog) -> Iterator[CatalogReader]:
    with CatalogReader(tmp_path) as r:
        yield r


def new(channel: int, start_us: int, *, stream: str = "main", types: int = RecordType.GENERAL,
        init_bytes: int = 700) -> NewSegment:
    path = SegmentName(channel, stream, start_us).relpath().as_posix()
    return NewSegment(channel=channel, stream=stream, run_start_us=start_us, start_us=start_us,
                      path=path, types=int(types), codec="h264", width=1920, height=1080,
                      init_bytes=init_bytes)


def add(cat: Catalog, channel: int, start_s: float, end_s: float, *, stream: str = "main",
        types: int = RecordType.GENERAL, size: int = 1000) -> int:
    """A closed segment from T0 + start_s to T0 + end_s."""
    seg = new(channel, T0 + int(start_s * S), stream=stream, types=types)
    return cat.insert_closed(seg, T0 + int(end_s * S), size, [], "rotate")


def starts(rows: list[SegmentRow]) -> list[float]:
    return [(row.start_us - T0) / S for row in rows]


def test_an_open_segment_grows_and_closes(catalog: Catalog, reader: CatalogReader) -> None:
    seg = new(3, T0, types=RecordType.GENERAL)
    sid = catalog.insert_open(seg)
    catalog.commit()
    assert reader.segments(3, "main", T0, T0 + 60 * S) == []  # no footage in it yet
    [row] = catalog.open_segments()
    assert (row.id, row.state, row.end_us, row.bytes, row.fragments, row.end_reason) == (
        sid, "open", T0, 700, (), None)
    assert (row.path, row.codec, row.width, row.height, row.locked) == (
        seg.path, "h264", 1920, 1080, False)

    catalog.update_open(sid, T0 + 10 * S, 50_000, RecordType.MOTION)
    assert reader.segments_at(3, "main", T0 + 5 * S) == []  # not committed yet
    catalog.commit()
    [row] = reader.segments_at(3, "main", T0 + 5 * S)
    assert (row.end_us, row.bytes, row.types) == (T0 + 10 * S, 50_000,
                                                  RecordType.GENERAL | RecordType.MOTION)

    seek = [(0, 700), (2 * S, 40_000), (-1, 2**62)]
    catalog.close_segment(sid, T0 + 60 * S, 300_000, RecordType.ALARM, seek, "rotate")
    catalog.commit()
    [row] = reader.segments(3, "main", T0, T0 + 1)
    assert row.state == "closed" and row.end_reason == "rotate"
    assert row.fragments == tuple(seek)
    assert row.types == RecordType.GENERAL | RecordType.MOTION | RecordType.ALARM
    assert catalog.open_segments() == []
    with pytest.raises(CatalogError, match=f"no open segment with id {sid}"):
        catalog.update_open(sid, T0 + 61 * S, 1, 1)


def test_open_segments_lists_what_a_crash_left_open(catalog: Catalog) -> None:
    first = catalog.insert_open(new(1, T0))
    add(catalog, 1, 60, 120)
    second = catalog.insert_open(new(2, T0))
    assert [row.id for row in catalog.open_segments()] == [first, second]


def test_a_path_is_cataloged_once(catalog: Catalog) -> None:
    catalog.insert_open(new(1, T0))
    with pytest.raises(CatalogError, match="rec/ch001/main/2025-11-21/"):
        catalog.insert_open(new(1, T0))


def test_a_catalog_of_another_volume_is_refused(tmp_path: Path) -> None:
    Catalog(tmp_path, UUID).close()
    with pytest.raises(CatalogError, match=f"belongs to volume {UUID}, not to volume other"):
        Catalog(tmp_path, "other")
    Catalog(tmp_path, UUID).close()  # its own volume still opens it


def test_a_damaged_or_missing_catalog_is_reported_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="does not exist"):
        CatalogReader(tmp_path)
    (tmp_path / CATALOG_FILE).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CatalogError, match=str(tmp_path / CATALOG_FILE)):
        Catalog(tmp_path, UUID)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    Catalog(tmp_path, UUID).close()
    with sqlite3.connect(tmp_path / CATALOG_FILE) as db:
        db.execute("UPDATE meta SET value = 99 WHERE key = 'schema_version'")
    db.close()
    with pytest.raises(CatalogError, match="schema version 99, written by a newer nvrd"):
        Catalog(tmp_path, UUID)
    with pytest.raises(CatalogError, match="schema version 99"):
        CatalogReader(tmp_path)


def test_the_catalog_is_in_wal_mode(tmp_path: Path, catalog: Catalog) -> None:
    with sqlite3.connect(tmp_path / CATALOG_FILE) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_overlap_edges(catalog: Catalog, reader: CatalogReader) -> None:
    for start in range(0, 300, 60):
        add(catalog, 1, start, start + 60)
    add(catalog, 1, 0, 60, stream="sub")
    add(catalog, 2, 0, 60)
    catalog.commit()
    # straddling the query start is included; ending exactly at it is not
    assert starts(reader.segments(1, "main", T0 + 90 * S, T0 + 150 * S)) == [60, 120]
    assert starts(reader.segments(1, "main", T0 + 60 * S, T0 + 120 * S)) == [60]
    # starting exactly at the query end is not
    assert starts(reader.segments(1, "main", T0 + 30 * S, T0 + 60 * S)) == [0]
    assert starts(reader.segments(1, "main", T0 + 30 * S, T0 + 60 * S + 1)) == [0, 60]
    assert reader.segments(1, "main", T0 + 300 * S, T0 + 400 * S) == []
    assert reader.segments(1, "main", T0 + 10 * S, T0 + 10 * S) == []  # empty range
    assert starts(reader.segments_at(1, "main", T0 + 60 * S)) == [60]
    assert starts(reader.segments_at(1, "main", T0 + 60 * S - 1)) == [0]
    assert reader.segments_at(1, "main", T0 + 300 * S) == []


def test_a_long_segment_widens_the_overlap_bound(catalog: Catalog,
                                                 reader: CatalogReader) -> None:
    """The scan starts max_duration before the query; a segment longer than all before it
    (open and growing, or recorded with a longer rotation) must still be found."""
    add(catalog, 1, 0, 60)
    sid = catalog.insert_open(new(1, T0 + 60 * S))
    catalog.commit()
    assert reader.segments_at(1, "main", T0 + 500 * S) == []
    catalog.update_open(sid, T0 + 660 * S, 10_000, 0)  # ten minutes long and still open
    catalog.commit()
    assert starts(reader.segments_at(1, "main", T0 + 600 * S)) == [60]
    assert starts(reader.segments(1, "main", T0 + 600 * S, T0 + 601 * S)) == [60]
    assert reader.has_recording(1, "main", T0 + 650 * S, T0 + 700 * S)
    add(catalog, 1, 1000, 2000)  # inserted closed: also widens the bound
    catalog.commit()
    assert starts(reader.segments_at(1, "main", T0 + 1999 * S)) == [1000]


def test_type_masks(catalog: Catalog, reader: CatalogReader) -> None:
    add(catalog, 1, 0, 60, types=RecordType.GENERAL)
    add(catalog, 1, 60, 120, types=RecordType.MOTION | RecordType.GENERAL)
    add(catalog, 1, 200, 260, types=RecordType.ALARM)
    catalog.commit()
    day = (T0, T0 + 86_400 * S)
    assert starts(reader.segments(1, "main", *day, RecordType.MOTION | RecordType.ALARM)) == [
        60, 200]
    assert reader.has_recording(1, "main", *day)
    assert reader.has_recording(1, "main", T0 + 100 * S, T0 + 300 * S, RecordType.ALARM)
    assert not reader.has_recording(1, "main", T0, T0 + 150 * S, RecordType.ALARM)
    assert not reader.has_recording(1, "sub", *day)
    assert not reader.has_recording(1, "main", T0 + 120 * S, T0 + 200 * S)
    assert reader.intervals(1, "main", T0 + 100 * S, T0 + 300 * S) == [
        Interval(T0 + 60 * S, T0 + 120 * S, RecordType.MOTION | RecordType.GENERAL),
        Interval(T0 + 200 * S, T0 + 260 * S, RecordType.ALARM)]
    assert reader.intervals(1, "main", *day, RecordType.GENERAL) == [
        Interval(row.start_us, row.end_us, row.types)
        for row in reader.segments(1, "main", *day, RecordType.GENERAL)]


def test_queue_deletions_skips_locked_and_open_segments(catalog: Catalog) -> None:
    a, b, c = (add(catalog, 1, s, s + 60, size=100) for s in (0, 60, 120))
    opened = catalog.insert_open(new(1, T0 + 180 * S, init_bytes=50))
    assert catalog.set_locked(1, "main", T0 + 70 * S, T0 + 80 * S, True) == 1
    assert catalog.total_bytes() == 350

    queued = catalog.queue_deletions([c, b, a, opened], now_us=T0)
    assert [row.id for row in queued] == [a, c]
    assert catalog.pending_deletions() == sorted(row.path for row in queued)
    assert [row.id for row in catalog.oldest_unlocked(10)] == []
    assert {row.id for row in catalog.open_segments()} == {opened}
    assert catalog.total_bytes() == 150 and catalog.bytes_by_channel() == {1: 150}

    catalog.finish_deletions([queued[0].path])
    assert catalog.pending_deletions() == [queued[1].path]
    catalog.finish_deletions([queued[1].path])
    assert catalog.pending_deletions() == []


def test_queued_deletions_are_committed(tmp_path: Path, catalog: Catalog) -> None:
    a = add(catalog, 1, 0, 60)
    catalog.queue_deletions([a])
    with CatalogReader(tmp_path) as r:  # another connection sees the commit
        assert r.segments(1, "main", T0, T0 + 60 * S) == []
    with sqlite3.connect(tmp_path / CATALOG_FILE) as db:
        assert db.execute("SELECT COUNT(*) FROM pending_delete").fetchone()[0] == 1
    db.close()


def test_set_locked_by_range_and_stream(catalog: Catalog, reader: CatalogReader) -> None:
    for start in (0, 60, 120, 180):
        add(catalog, 1, start, start + 60)
        add(catalog, 1, start, start + 60, stream="sub")
    add(catalog, 2, 60, 120)
    # [60 s, 120 s) touches segment 0-60 and 120-180 only at their ends: not locked
    assert catalog.set_locked(1, "main", T0 + 60 * S, T0 + 120 * S, True) == 1
    assert catalog.set_locked(1, None, T0 + 150 * S, T0 + 200 * S, True) == 4
    locked = [(row.stream, (row.start_us - T0) // S)
              for stream in ("main", "sub")
              for row in reader.segments(1, stream, T0, T0 + 300 * S) if row.locked]
    assert locked == [("main", 60), ("main", 120), ("main", 180), ("sub", 120), ("sub", 180)]
    assert not reader.segments(2, "main", T0, T0 + 300 * S)[0].locked
    assert catalog.set_locked(1, None, T0, T0 + 300 * S, False) == 8
    assert len(catalog.oldest_unlocked(100)) == 9


def test_oldest_unlocked_for_retention(catalog: Catalog) -> None:
    a = add(catalog, 2, 0, 60)
    b = add(catalog, 1, 30, 90)
    c = add(catalog, 1, 90, 150)
    d = add(catalog, 2, 60, 120)
    e = add(catalog, 1, 60, 120, stream="sub")
    catalog.insert_open(new(1, T0 + 150 * S))
    catalog.set_locked(2, "main", T0 + 60 * S, T0 + 61 * S, True)
    assert [row.id for row in catalog.oldest_unlocked(10)] == [a, b, e, c]
    assert [row.id for row in catalog.oldest_unlocked(2)] == [a, b]
    assert [row.id for row in catalog.oldest_unlocked(10, channel=1)] == [b, e, c]
    assert [row.id for row in catalog.oldest_unlocked(2, channel=1)] == [b, e]
    assert [row.id for row in catalog.oldest_unlocked(10, before_us=T0 + 90 * S)] == [a, b]
    assert [row.id for row in catalog.oldest_unlocked(
        10, channel=2, before_us=T0 + 200 * S)] == [a]
    assert d not in [row.id for row in catalog.oldest_unlocked(10)]


def test_byte_totals_follow_every_change(catalog: Catalog) -> None:
    assert catalog.total_bytes() == 0 and catalog.bytes_by_channel() == {}
    assert catalog.oldest_start_us() is None
    a = add(catalog, 1, 60, 120, size=1000)
    add(catalog, 2, 0, 60, size=500)
    sid = catalog.insert_open(new(1, T0 + 120 * S, init_bytes=10))
    assert catalog.bytes_by_channel() == {1: 1010, 2: 500}
    catalog.update_open(sid, T0 + 130 * S, 70, 0)
    catalog.close_segment(sid, T0 + 180 * S, 200, 0, [], "stop")
    assert catalog.bytes_by_channel() == {1: 1200, 2: 500}
    catalog.delete_rows([a, sid])
    assert catalog.bytes_by_channel() == {2: 500} and catalog.total_bytes() == 500
    assert catalog.oldest_start_us() == T0


def test_directories_and_paths_in(catalog: Catalog) -> None:
    a = add(catalog, 1, 0, 60)
    b = add(catalog, 1, 60, 120)
    c = add(catalog, 1, 86_400, 86_460)  # next UTC day
    d = add(catalog, 12, 0, 60, stream="sub")
    assert catalog.directories() == ["rec/ch001/main/2025-11-21", "rec/ch001/main/2025-11-22",
                                     "rec/ch012/sub/2025-11-21"]
    assert sorted(catalog.paths_in("rec/ch001/main/2025-11-21").values()) == [a, b]
    assert list(catalog.paths_in("rec/ch001/main/2025-11-22").values()) == [c]
    assert list(catalog.paths_in("rec/ch012/sub/2025-11-21").values()) == [d]
    assert catalog.paths_in("rec/ch001/main") == {}
    assert sum(len(catalog.paths_in(d)) for d in catalog.directories()) == 4
