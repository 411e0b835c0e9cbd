"""Per-second bitmaps in SQLite: merge, smart search, intervals, pruning, the row cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from nvrd.motion.grid import BITMAP_BYTES, from_bitmap, mask_of_cells, to_bitmap
from nvrd.motion.store import MotionInterval, MotionStore

S = 1_700_000_000


def test_bitmap_layout_is_row_major_msb_first() -> None:
    bitmap = to_bitmap(mask_of_cells([(0, 0), (21, 17)]))
    assert len(bitmap) == BITMAP_BYTES == 50
    assert bitmap[0] == 0x80  # cell (0, 0): the top bit of byte 0
    assert bitmap[49] == 0x10  # cell 395 = bit 3 of byte 49 (the last 4 bits unused)
    assert from_bitmap(bitmap).sum() == 2
    with pytest.raises(ValueError, match="outside the 22×18 grid"):
        mask_of_cells([(22, 0)])


def test_query_merge_intervals_and_prune(tmp_path: Path) -> None:
    store = MotionStore(tmp_path / "motion.db")
    store.add(1, S, mask_of_cells([(1, 1)]))
    store.add(1, S, mask_of_cells([(5, 5)]))  # same second again: OR
    store.add(1, S + 1, mask_of_cells([(5, 5)]))
    store.add(1, S + 4, mask_of_cells([(5, 5)]))
    store.add(2, S + 2, mask_of_cells([(5, 5)]))
    assert from_bitmap(store.bitmaps(1, S, S + 1)[0][1]).sum() == 2
    cells = mask_of_cells([(5, 5), (6, 6)])
    assert store.seconds_with_motion(1, S * 10**6, (S + 5) * 10**6, cells) == [S, S + 1, S + 4]
    # the range is [t1, t2): a second counts when it overlaps
    assert store.seconds_with_motion(1, S * 10**6 + 500_000, (S + 4) * 10**6, cells) == [
        S, S + 1]
    assert store.seconds_with_motion(1, S * 10**6, (S + 5) * 10**6,
                                     mask_of_cells([(1, 1)])) == [S]
    assert store.intervals_with_motion(1, S * 10**6, (S + 5) * 10**6, cells) == [
        MotionInterval(S, S + 2), MotionInterval(S + 4, S + 5)]
    assert store.intervals_with_motion(1, S * 10**6, (S + 5) * 10**6, cells, gap_s=3) == [
        MotionInterval(S, S + 5)]
    assert store.prune_before(S + 2, channel=1) == 2
    assert store.rows == 2
    store.close()
    reopened = MotionStore(tmp_path / "motion.db")
    assert reopened.rows == 2
    assert [s for s, _ in reopened.bitmaps(2, 0, 2**40)] == [S + 2]
    reopened.close()


def test_the_row_cap_drops_the_oldest_seconds(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("nvrd.motion.store.PRUNE_BATCH_ROWS", 2)
    store = MotionStore(tmp_path / "motion.db", max_rows=10)
    for i in range(11):
        store.add(1 + i % 2, S + i, mask_of_cells([(0, 0)]))
    assert store.rows == 8  # 11 rows, over the cap by 1: 1 + a batch of 2 dropped
    kept = [s for ch in (1, 2) for s, _ in store.bitmaps(ch, 0, 2**40)]
    assert sorted(kept) == [S + i for i in range(3, 11)]
    store.close()
