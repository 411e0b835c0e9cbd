"""The snapshot store on real files and SQLite: layout, time queries, the size bound,
reconciling after a crash."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nvrd.config.atomic import temp_path_for
from nvrd.snapshots.store import DB_NAME, ReconcileReport, SnapshotStore, relative_path

T0 = 1_746_057_600_000_000  # 2025-05-01T00:00:00Z
KIB = 1024


def jpeg(size: int, fill: int = 0) -> bytes:
    """Stand-in JPEG bytes (the store never parses them)."""
    return b"\xff\xd8" + bytes([fill]) * (size - 4) + b"\xff\xd9"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SnapshotStore]:
    s = SnapshotStore(tmp_path / "snapshots", max_bytes=1 << 30)
    s.open()
    yield s
    s.close()


def test_a_snapshot_is_a_file_in_the_layout_and_a_row(store: SnapshotStore) -> None:
    record = store.add(3, T0 + 5, "event", 42, jpeg(10 * KIB), 640, 360)
    assert record.path == "ch003/2025-05-01/1746057600000005.jpg"
    assert (store.root / record.path).read_bytes() == jpeg(10 * KIB)
    assert (record.channel, record.reason, record.event_id) == (3, "event", 42)
    assert (record.size_bytes, record.width, record.height) == (10 * KIB, 640, 360)
    assert store.get(record.id) == record
    assert store.total_bytes == 10 * KIB
    assert not list(store.root.rglob("*.part"))


def test_the_day_directory_is_the_utc_date() -> None:
    late = int(dt.datetime(2025, 12, 31, 23, 59, 59, tzinfo=dt.UTC).timestamp() * 1e6)
    assert relative_path(12, late) == f"ch012/2025-12-31/{late}.jpg"
    assert relative_path(12, late + 1_000_000).startswith("ch012/2026-01-01/")


def test_find_by_channel_and_time_newest_first(store: SnapshotStore) -> None:
    for n in range(10):
        store.add(n % 2 + 1, T0 + n * 1_000_000, "manual", None, jpeg(100), 16, 16)
    on_one = store.find(1, T0, T0 + 10_000_000, 100)
    assert [r.time_us for r in on_one] == [T0 + n * 1_000_000 for n in (8, 6, 4, 2, 0)]
    window = store.find(None, T0 + 2_000_000, T0 + 5_000_000, 100)
    assert [r.time_us - T0 for r in window] == [4_000_000, 3_000_000, 2_000_000]
    assert len(store.find(None, T0, T0 + 10_000_000, 3)) == 3
    assert {r.channel for r in store.find(None, T0, T0 + 10**9, 100, channels=[2])} == {2}
    assert store.find(None, T0, T0 + 10**9, 100, channels=[]) == []
    assert store.channels() == [1, 2]


def test_two_pictures_of_one_instant_get_their_own_files(store: SnapshotStore) -> None:
    first = store.add(1, T0, "event", 1, jpeg(100, 1), 16, 16)
    second = store.add(1, T0, "event", 2, jpeg(100, 2), 16, 16)
    other_channel = store.add(2, T0, "manual", None, jpeg(100, 3), 16, 16)
    assert [first.time_us, second.time_us, other_channel.time_us] == [T0, T0 + 1, T0 + 2]
    assert len({first.path, second.path, other_channel.path}) == 3
    assert (store.root / second.path).read_bytes() == jpeg(100, 2)


def test_an_unknown_reason_is_refused(store: SnapshotStore) -> None:
    with pytest.raises(ValueError, match="reason"):
        store.add(1, T0, "whim", None, jpeg(100), 16, 16)


def test_the_size_bound_deletes_the_oldest_files_and_rows(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots", max_bytes=100 * KIB)
    store.open()
    try:
        records = [store.add(1 + n % 3, T0 + n * 86_400_000_000 // 2, "manual", None,
                             jpeg(30 * KIB), 16, 16) for n in range(6)]
        kept = store.find(None, 0, 2**62, 100)
        assert sorted(r.id for r in kept) == [r.id for r in records[3:]]  # 3 x 30 KiB fit
        assert store.total_bytes == 90 * KIB
        for old in records[:3]:
            assert not (store.root / old.path).exists()
            assert store.get(old.id) is None
        assert not (store.root / "ch001/2025-05-01").exists()  # emptied directories go

        assert store.set_max_bytes(40 * KIB) == 2  # shrinking the limit deletes at once
        assert [r.id for r in store.find(None, 0, 2**62, 100)] == [records[5].id]
        assert sorted(p.name for p in store.root.rglob("*.jpg")) == [
            Path(records[5].path).name]
    finally:
        store.close()


def test_reopening_reconciles_rows_and_files(tmp_path: Path) -> None:
    root = tmp_path / "snapshots"
    store = SnapshotStore(root, max_bytes=1 << 30)
    store.open()
    kept = store.add(1, T0, "manual", None, jpeg(100), 16, 16)
    lost = store.add(1, T0 + 1_000_000, "event", 7, jpeg(100), 16, 16)
    store.close()
    # a file that vanished, a picture written without its row (a crash before the
    # insert), an interrupted write, and a directory left empty
    (root / lost.path).unlink()
    orphan = root / relative_path(2, T0 + 2_000_000)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(jpeg(100))
    part = temp_path_for(root / relative_path(1, T0 + 3_000_000))
    part.write_bytes(b"\xff\xd8")
    (root / "ch009/2025-04-30").mkdir(parents=True)
    unrelated = root / "README"
    unrelated.write_text("not ours to delete")

    again = SnapshotStore(root, max_bytes=1 << 30)
    report = again.open()
    try:
        assert report == ReconcileReport(parts_removed=1, orphan_files_removed=1,
                                         rows_dropped=1, pruned=0)
        assert [r.id for r in again.find(None, 0, 2**62, 10)] == [kept.id]
        assert again.total_bytes == 100
        assert not orphan.exists() and not part.exists()
        assert not orphan.parent.parent.exists() and not (root / "ch009").exists()
        assert unrelated.exists() and (root / DB_NAME).exists()
        assert sorted(os.listdir(root / "ch001/2025-05-01")) == [Path(kept.path).name]
    finally:
        again.close()


def test_reopening_with_a_smaller_limit_prunes(tmp_path: Path) -> None:
    root = tmp_path / "snapshots"
    store = SnapshotStore(root, max_bytes=1 << 30)
    store.open()
    for n in range(4):
        store.add(1, T0 + n, "manual", None, jpeg(10 * KIB), 16, 16)
    store.close()
    smaller = SnapshotStore(root, max_bytes=25 * KIB)
    assert smaller.open().pruned == 2
    try:
        assert [r.time_us for r in smaller.find(1, 0, 2**62, 10)] == [T0 + 3, T0 + 2]
    finally:
        smaller.close()
