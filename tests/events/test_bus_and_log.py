"""The event bus and the event log on their own: edges, ids, subscribers, the live feed,
the persisted log (bound, search, start/stop pairs) and a restart closing what the last
run left open. Real SQLite files; the writer thread is waited for, never slept on."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from nvrd.config import NvrConfig
from nvrd.events.bus import EventBus
from nvrd.events.live import LiveFeed
from nvrd.events.log import EventFilter, EventLog
from nvrd.events.model import Event, EventKind, Phase
from nvrd.events.service import RESTARTED, EventService
from nvrd.events.sources.network import NetworkSource

HANG_GUARD_S = 20.0


def alarm(n: int, phase: Phase, time_us: int = 1_000) -> Event:
    return Event(EventKind.ALARM_INPUT, f"alarm-in:{n}", None, phase, time_us, {"n": n})


async def until_logged(log: EventLog, last_id: int) -> None:
    """The writer commits in batches: wait until event ``last_id`` is written."""
    async with asyncio.timeout(HANG_GUARD_S):
        while not await asyncio.to_thread(log.query, EventFilter(), 1) or \
                (await asyncio.to_thread(log.query, EventFilter(), 1))[0].event.id < last_id:
            await asyncio.sleep(0.05)


@pytest_asyncio.fixture
async def log(tmp_path: Path) -> AsyncIterator[EventLog]:
    log = EventLog(tmp_path / "events.db", max_rows=50)
    await log.start()
    yield log
    await log.stop()


async def test_only_edges_pass_and_stops_name_their_start() -> None:
    bus = EventBus()
    bus.bind()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    first = bus.publish(alarm(1, Phase.START))
    assert bus.publish(alarm(1, Phase.START)) is None, "a repeated start is dropped"
    assert bus.publish(alarm(2, Phase.STOP)) is None, "a stop without a start is dropped"
    stop = bus.publish(alarm(1, Phase.STOP))
    assert first is not None and stop is not None
    assert [e.phase for e in seen] == [Phase.START, Phase.STOP]
    assert stop.start_id == first.id and stop.id == first.id + 1
    assert bus.active() == []
    pulses = [bus.publish(Event(EventKind.ILLEGAL_LOGIN, "user:x@192.0.2.7", None,
                                Phase.PULSE, 5)) for _ in range(2)]
    assert all(p is not None for p in pulses), "pulses always pass"


async def test_a_failing_subscriber_is_skipped_and_the_rest_are_called_in_order(
        caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    bus.bind()
    order: list[str] = []

    def broken(event: Event) -> None:
        order.append("broken")
        raise RuntimeError("boom")

    bus.subscribe(lambda e: order.append("first"))
    bus.subscribe(broken)
    bus.subscribe(lambda e: order.append("last"))
    bus.publish(alarm(1, Phase.START))
    assert order == ["first", "broken", "last"]
    assert "event subscriber" in caplog.text


async def test_events_from_a_thread_arrive_on_the_loop_and_on_the_live_feed() -> None:
    feed = LiveFeed()
    bus = EventBus(feed=feed)
    bus.bind()
    subscription = feed.subscribe("tester", topics=["event"])
    loop_thread = threading.get_ident()
    threads: list[int] = []
    bus.subscribe(lambda e: threads.append(threading.get_ident()))
    worker = threading.Thread(target=bus.publish_threadsafe, args=(alarm(3, Phase.START),))
    worker.start()
    worker.join()
    message = await subscription.next(timeout=HANG_GUARD_S)
    assert message is not None and message.topic == "event"
    assert message.data["kind"] == "alarm_input" and message.data["source"] == "alarm-in:3"
    assert message.data["phase"] == "start" and message.data["id"] == 1
    assert threads == [loop_thread]


async def test_the_log_keeps_the_newest_rows_and_searches_them(log: EventLog) -> None:
    bus = EventBus(log)
    bus.bind(first_id=log.last_id + 1)
    for n in range(60):
        bus.publish(Event(EventKind.MOTION, f"camera:{n % 3 + 1}", n % 3 + 1, Phase.PULSE,
                          1_000 + n))
    await until_logged(log, 60)
    rows = await asyncio.to_thread(log.query, EventFilter(), 1000)
    assert len(rows) == 50, "the bound holds"
    assert [r.event.id for r in rows] == list(range(60, 10, -1)), "newest first"
    camera2 = await asyncio.to_thread(log.query, EventFilter(channels=[2]), 1000)
    assert {r.event.channel for r in camera2} == {2}
    page1 = await asyncio.to_thread(log.query, EventFilter(since_us=1_040), 8)
    page2 = await asyncio.to_thread(
        log.query, EventFilter(since_us=1_040, before_id=page1[-1].event.id), 8)
    assert [r.event.time_us for r in page1 + page2] == list(range(1_059, 1_043, -1))
    hidden = await asyncio.to_thread(log.query, EventFilter(visible_channels=[1]), 1000)
    assert {r.event.channel for r in hidden} == {1}


async def test_a_start_and_its_stop_are_joined(log: EventLog) -> None:
    bus = EventBus(log)
    bus.bind(first_id=log.last_id + 1)
    bus.publish(alarm(1, Phase.START, 10_000))
    bus.publish(alarm(1, Phase.STOP, 25_000))
    await until_logged(log, 2)
    stop, start = await asyncio.to_thread(log.query, EventFilter(), 10)
    assert (start.event.phase, start.end_us, start.start_us) == (Phase.START, 25_000, None)
    assert (stop.event.start_id, stop.start_us) == (start.event.id, 10_000)
    assert stop.event.details == {"n": 1}


async def test_a_restart_stops_what_the_last_run_left_open(tmp_path: Path) -> None:
    config = NvrConfig()
    first = EventService(config, tmp_path / "events.db")
    await first.start()
    first.bus.publish(alarm(4, Phase.START))
    first.bus.publish(alarm(5, Phase.START))
    first.bus.publish(alarm(5, Phase.STOP))
    await first.stop()

    second = EventService(config, tmp_path / "events.db")
    await second.start()
    try:
        assert not second.bus.active()
        again = second.bus.publish(alarm(4, Phase.START))  # the condition holds again
        assert again is not None and again.id == 5
        await until_logged(second.log, 5)
        rows = await asyncio.to_thread(second.log.query, EventFilter(source="alarm-in:4"), 10)
        assert [(r.event.id, r.event.phase) for r in rows] == [
            (5, Phase.START), (4, Phase.STOP), (1, Phase.START)]
        assert rows[1].event.start_id == 1 and rows[1].event.details == {"reason": RESTARTED}
    finally:
        await second.stop()


async def test_a_network_link_going_down_starts_and_coming_back_stops() -> None:
    bus = EventBus()
    bus.bind()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    source = NetworkSource(bus.publish, NvrConfig(), links=dict)
    source.connect()
    source.check({"lo": True, "eth0": True, "eth1": False})  # watched: eth0 (up at start)
    source.check({"lo": True, "eth0": False, "eth1": False})
    source.check({"lo": True, "eth0": False, "eth1": True})
    source.check({"lo": True, "eth0": True, "eth1": True})
    assert [(e.source, e.phase) for e in seen] == [("net:eth0", Phase.START),
                                                   ("net:eth0", Phase.STOP)]
