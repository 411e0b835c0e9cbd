"""The stable-for-a-window rule, with plain timestamps (ms → ns)."""

from __future__ import annotations

import pytest

from hal.gpio.debounce import Debouncer, LevelChange

MS = 1_000_000


def test_glitch_shorter_than_window_is_rejected() -> None:
    d = Debouncer(False, 20 * MS)
    assert d.feed(True, 100 * MS) is None
    assert d.deadline_ns == 120 * MS
    assert d.feed(False, 105 * MS) is None  # back before the window ended
    assert d.deadline_ns is None
    assert d.due(1_000 * MS) is None
    assert d.level is False


def test_level_held_for_window_is_accepted_with_its_edge_timestamp() -> None:
    d = Debouncer(False, 20 * MS)
    d.feed(True, 100 * MS)
    assert d.due(119 * MS) is None
    assert d.due(120 * MS) == LevelChange(True, 100 * MS)
    assert (d.level, d.since_ns, d.deadline_ns) == (True, 100 * MS, None)


def test_bounces_restart_the_window_from_the_last_edge() -> None:
    d = Debouncer(False, 20 * MS)
    for i, level in enumerate([True, False, True, False, True]):
        assert d.feed(level, (100 + 3 * i) * MS) is None
    assert d.due(125 * MS) is None  # 20 ms after the first bounce, but not after the last
    assert d.due(132 * MS) == LevelChange(True, 112 * MS)


def test_edges_read_late_in_one_batch_are_judged_by_their_timestamps() -> None:
    # Both edges were queued while the loop was busy; the first level held 30 ms > 20 ms.
    d = Debouncer(False, 20 * MS)
    assert d.feed(True, 100 * MS) is None
    assert d.feed(False, 130 * MS) == LevelChange(True, 100 * MS)
    assert d.deadline_ns == 150 * MS
    assert d.due(150 * MS) == LevelChange(False, 130 * MS)


def test_zero_window_passes_every_change_through() -> None:
    d = Debouncer(True, 0)
    assert d.feed(False, 5) == LevelChange(False, 5)
    assert d.feed(False, 6) is None  # no change
    assert d.feed(True, 7) == LevelChange(True, 7)
    assert d.deadline_ns is None


def test_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match="-1"):
        Debouncer(False, -1)
