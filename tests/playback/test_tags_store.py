"""The tag store on a real SQLite file, and the pure helpers of the tag and picture
routes (no daemon)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from nvrd.playback import tags as tags_module
from nvrd.playback.stills import describe_us, key_entry
from nvrd.playback.tags import TagCursor, TagLimitError, TagStore
from nvrd.storage.catalog import Interval
from nvrd.web.routes.stills import thumbnail_instants
from nvrd.web.routes.tags import has_footage, playback_url

S = 1_000_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TagStore]:
    ticks = itertools.count(1000)
    store = TagStore(tmp_path / "data" / "tags.db", clock_us=lambda: next(ticks))
    store.open()
    yield store
    store.close()


def test_add_get_update_delete(store: TagStore) -> None:
    tag = store.add(3, 50 * S, "Van at the gate", "white, no plates", "alice")
    assert (tag.channel, tag.at_us, tag.name, tag.note, tag.created_by) == (
        3, 50 * S, "Van at the gate", "white, no plates", "alice")
    assert tag.created_us == 1000 and tag.updated_us is None
    assert store.get(tag.id) == tag

    renamed = store.update(tag.id, name="Van")
    assert renamed is not None and renamed.name == "Van" and renamed.note == tag.note
    assert renamed.updated_us == 1001
    cleared = store.update(tag.id, clear_note=True)
    assert cleared is not None and cleared.note is None and cleared.name == "Van"
    assert store.update(tag.id + 1, name="x") is None

    assert store.delete(tag.id) and not store.delete(tag.id)
    assert store.get(tag.id) is None


def test_the_file_survives_a_reopen(tmp_path: Path) -> None:
    first = TagStore(tmp_path / "tags.db")
    first.open()
    tag = first.add(1, 5 * S, "Door", None, "bob")
    first.close()
    second = TagStore(tmp_path / "tags.db")
    second.open()
    try:
        assert second.get(tag.id) == tag
    finally:
        second.close()


def test_find_by_channel_time_and_text_newest_first_in_pages(store: TagStore) -> None:
    a = store.add(1, 10 * S, "Van", None, "alice")
    b = store.add(2, 20 * S, "Door open", "back door", "alice")
    c = store.add(1, 30 * S, "Person", "carrying a VAN key", "bob")
    d = store.add(1, 30 * S, "Second at the same instant", None, "bob")
    assert store.find([1, 2], 0, 100 * S) == [d, c, b, a]
    assert store.find([1], 0, 100 * S) == [d, c, a]
    assert store.find([], 0, 100 * S) == []
    assert store.find([1, 2], 10 * S, 30 * S) == [b, a], "start inclusive, end exclusive"
    assert store.find([1, 2], 0, 100 * S, text="van") == [c, a]
    assert store.find([1, 2], 0, 100 * S, text="door") == [b]
    assert store.find([1, 2], 0, 100 * S, text="%") == [], "LIKE wildcards are text"

    # pages: the cursor is (at, id), so tags at the same instant are neither lost nor
    # repeated across a page boundary
    page = store.find([1, 2], 0, 100 * S, limit=1)
    seen = list(page)
    while page:
        cursor = TagCursor(page[-1].at_us, page[-1].id)
        page = store.find([1, 2], 0, 100 * S, limit=1, before=cursor)
        seen += page
    assert seen == [d, c, b, a]


def test_the_number_of_tags_is_bounded(store: TagStore,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tags_module, "MAX_TAGS", 2)
    store.add(1, S, "one", None, "a")
    store.add(1, 2 * S, "two", None, "a")
    with pytest.raises(TagLimitError, match="2 tags already"):
        store.add(1, 3 * S, "three", None, "a")


def test_has_footage_and_playback_url() -> None:
    spans = [Interval(10 * S, 20 * S, 1), Interval(40 * S, 50 * S, 1)]
    assert has_footage(spans, 15 * S, 16 * S)
    assert has_footage(spans, 0, 11 * S)
    assert not has_footage(spans, 20 * S, 40 * S), "the gap, ends exclusive"
    assert has_footage(spans, 20 * S, 40 * S + 1)
    assert not has_footage(spans, 60 * S, 70 * S) and not has_footage([], 0, S)
    assert playback_url(2, 0, 300 * S) == (
        "/api/v1/channels/2/recordings.mp4?start=1970-01-01T00%3A00%3A00%2B00%3A00"
        "&end=1970-01-01T00%3A05%3A00%2B00%3A00")


def test_key_entry_is_the_last_key_fragment_at_or_before() -> None:
    seek = [(0, 900), (1 * S, 5000), (2 * S, 9000)]
    assert key_entry(seek, 0) == (0, 900)
    assert key_entry(seek, S - 1) == (0, 900)
    assert key_entry(seek, S) == (S, 5000)
    assert key_entry(seek, 99 * S) == (2 * S, 9000)
    assert key_entry(seek, -1) is None and key_entry([], S) is None


def test_describe_us() -> None:
    assert [describe_us(us) for us in (400_000, 45 * S, 200 * S, 3600 * S, 7500 * S)] == [
        "0 s", "45 s", "3 min 20 s", "1 h", "2 h 5 min"]


def test_thumbnails_skip_gaps_and_stay_in_footage() -> None:
    # footage 0-30 s and 70-100 s of a 100 s range, in ten 10 s slots
    spans = [Interval(0, 30 * S, 1), Interval(70 * S, 100 * S, 1)]
    assert thumbnail_instants(spans, 0, 100 * S, 10) == [
        5 * S, 15 * S, 25 * S, 75 * S, 85 * S, 95 * S]
    # a slot only partly recorded gets its first recorded instant
    assert thumbnail_instants([Interval(8 * S, 9 * S, 1)], 0, 10 * S, 1) == [8 * S]
    assert thumbnail_instants([Interval(0, 2 * S, 1)], 0, 10 * S, 1) == [0]
    assert thumbnail_instants([], 0, 10 * S, 5) == []
