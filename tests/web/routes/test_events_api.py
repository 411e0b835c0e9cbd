"""``GET /api/v1/events`` and ``/api/v1/events/kinds`` against the real daemon: filters,
paging, start/stop pairs, who may see which channel's events. Events are put on the
daemon's own bus (as its sources do), so they go the real way into the log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from nvrd.events.model import Event, EventKind, Phase
from tests.events.harness import Box, running_box

pytestmark = pytest.mark.asyncio(loop_scope="module")

BASE_US = 1_700_000_000_000_000
"""The events' times: far from now, so the daemon's own events stay out of the ranges."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def box(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Box]:
    async with running_box(tmp_path_factory.mktemp("events-api")) as running:
        events = running.app.events
        assert events is not None
        publish = events.bus.publish
        for n in range(30):  # motion on channels 1-3, one second apart
            channel = n % 3 + 1
            publish(Event(EventKind.MOTION, f"camera:{channel}", channel, Phase.PULSE,
                          BASE_US + n * 1_000_000, {"n": n}))
        publish(Event(EventKind.VIDEO_LOSS, "camera:2", 2, Phase.START, BASE_US + 40_000_000))
        publish(Event(EventKind.VIDEO_LOSS, "camera:2", 2, Phase.STOP, BASE_US + 45_000_000))
        publish(Event(EventKind.DISK_FULL, "volume:v1", None, Phase.START, BASE_US + 50_000_000))
        last = publish(Event(EventKind.ALARM_INPUT, "alarm-in:9", None, Phase.PULSE,
                             BASE_US + 60_000_000))
        assert last is not None
        await running.logged(lambda e: e["id"] == last.id, source="alarm-in:9")
        yield running


def since(seconds: float = 0) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC)
            + timedelta(microseconds=BASE_US + int(seconds * 1_000_000))).isoformat()


async def test_filters_by_kind_channel_source_and_time(box: Box) -> None:
    motion = await box.search(kind="motion", since=since(), limit=1000)
    assert len(motion["events"]) == 30 and motion["next_before"] is None
    assert [e["details"]["n"] for e in motion["events"]] == list(range(29, -1, -1))
    on_two = await box.search(channel=2, since=since(), limit=1000)
    assert {e["channel"] for e in on_two["events"]} == {2}
    assert len(on_two["events"]) == 12  # 10 motion + a video loss start and stop
    window = await box.search(kind="motion", since=since(10), until=since(15))
    assert [e["details"]["n"] for e in window["events"]] == [14, 13, 12, 11, 10]
    several = await box.search(kind="disk_full,alarm_input", since=since())
    assert [e["source"] for e in several["events"]] == ["alarm-in:9", "volume:v1"]
    assert (await box.search(source="volume:v1"))["events"][0]["end_us"] is None


async def test_pages_newest_first_without_gaps_or_repeats(box: Box) -> None:
    seen: list[int] = []
    before = None
    while True:
        params: dict[str, Any] = {"kind": "motion", "since": since(), "limit": 7}
        if before is not None:
            params["before"] = before
        page = await box.search(None, **params)
        seen += [e["details"]["n"] for e in page["events"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == list(range(29, -1, -1))


async def test_a_start_shows_its_end_and_a_stop_its_start(box: Box) -> None:
    stop, start = (await box.search(kind="video_loss", since=since()))["events"]
    assert (start["phase"], start["end_us"]) == ("start", BASE_US + 45_000_000)
    assert (stop["start_id"], stop["start_us"]) == (start["id"], BASE_US + 40_000_000)


async def test_channel_events_only_for_channels_the_user_may_play_back(box: Box) -> None:
    await box.group("auditors", {"system": ["log_view"], "all_channels": ["playback"]})
    viewer = await box.user("watcher", {"system": ["log_view"],
                                        "channels": {"1": ["playback"]}}, group="auditors")
    seen = await box.search(viewer, since=since(), limit=1000)
    assert {e["channel"] for e in seen["events"]} == {1, None}
    status, body = await box.call(viewer, "GET", "/api/v1/events", params={"channel": "2"})
    assert status == 403 and "playback" in body["error"]["message"]
    no_logs = await box.user("looker", {"all_channels": ["live", "playback"]})
    status, body = await box.call(no_logs, "GET", "/api/v1/events")
    assert status == 403 and "log_view" in body["error"]["message"]


async def test_bad_queries_name_the_problem(box: Box) -> None:
    status, body = await box.call(box.admin, "GET", "/api/v1/events",
                                  params={"kind": "motion,teleport"})
    assert status == 422 and "teleport" in str(body)


async def test_the_kinds_are_listed_for_any_user(box: Box) -> None:
    viewer = await box.user("kinds", {"all_channels": ["live"]})
    status, kinds = await box.call(viewer, "GET", "/api/v1/events/kinds")
    assert status == 200
    assert {k["kind"] for k in kinds} == {kind.value for kind in EventKind}
    assert next(k for k in kinds if k["kind"] == "illegal_login")["lasting"] is False
