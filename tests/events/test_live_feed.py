"""The live feed on its own: ids and times, topics, the lag policy, resuming from an id,
the limits, publishing from threads, and the audit log's listener feeding it."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from nvrd.events.live import (
    LAGGED,
    LiveFeed,
    LiveMessage,
    Subscription,
    SubscriptionClosed,
    TooManySubscribers,
)
from nvrd.system.auditlog import AuditLog, AuditRecord

FIRST = 1000


class Clock:
    """Wall-clock microseconds that tests advance."""

    def __init__(self) -> None:
        self.now = 1_700_000_000_000_000

    def __call__(self) -> int:
        self.now += 1
        return self.now


def feed(**options: int) -> LiveFeed:
    return LiveFeed(clock=Clock(), first_id=FIRST, **options)


async def drain(subscription: Subscription) -> list[LiveMessage]:
    """Everything queued now (without waiting)."""
    taken = []
    while (message := subscription.next_nowait()) is not None:
        taken.append(message)
    return taken


async def take(subscription: Subscription, count: int) -> list[LiveMessage]:
    """The next ``count`` messages, waiting for them (a hang fails after 10 s)."""
    taken: list[LiveMessage] = []
    async with asyncio.timeout(10):
        while len(taken) < count:
            message = await subscription.next()
            assert message is not None
            taken.append(message)
    return taken


async def test_messages_get_increasing_ids_times_and_their_topic() -> None:
    live = feed()
    everything = live.subscribe("admin")
    storage_only = live.subscribe("admin", topics=["storage"])
    live.publish("audit", {"action": "camera added"})
    live.publish("storage", {"volumes": []})
    live.publish("alarm", {"input": 1, "active": True})

    messages = await drain(everything)
    assert [(m.id, m.topic) for m in messages] == [
        (FIRST, "audit"), (FIRST + 1, "storage"), (FIRST + 2, "alarm")]
    assert messages[0].time_us < messages[1].time_us < messages[2].time_us
    assert messages[2].data == {"input": 1, "active": True}
    assert messages[2].to_json().endswith('"data":{"input":1,"active":true}}')
    assert [m.topic for m in await drain(storage_only)] == ["storage"]
    assert live.last_id == FIRST + 2

    with pytest.raises(ValueError, match="unknown live feed topic"):
        live.publish("gossip", {})
    with pytest.raises(ValueError, match="gossip"):
        live.subscribe("admin", topics=["audit", "gossip"])


async def test_a_slow_subscriber_lags_and_the_others_do_not_wait() -> None:
    live = feed(queue_size=4)
    slow = live.subscribe("tab-left-open")
    fast = live.subscribe("admin")
    received = []
    for n in range(1, 11):
        live.publish("event", {"n": n})  # returns at once, whoever is behind
        received += await drain(fast)
    assert [m.data["n"] for m in received] == list(range(1, 11))

    # policy: at a full queue the backlog goes, one "lagged" stands for it, then onwards
    # (1-4 queued; 5 overflows: lagged(5 missed); 6-8; 9 overflows: lagged(9 missed); 10)
    behind = await drain(slow)
    assert [(m.topic, m.id) for m in behind] == [(LAGGED, FIRST + 8), ("event", FIRST + 9)]
    assert behind[0].data["missed"] == 9
    assert "refetch" in behind[0].data["reason"]
    assert [(i.owner, i.lagged, i.dropped) for i in live.subscriptions()
            if i.owner == "tab-left-open"] == [("tab-left-open", 2, 9)]

    live.publish("event", {"n": 11})
    assert [m.data["n"] for m in await drain(slow)] == [11]  # it continues normally


async def test_resuming_from_an_id_replays_what_was_missed_or_says_lagged() -> None:
    live = feed(ring_size=5)
    for n in range(10):
        live.publish("event", {"n": n})
        live.publish("status", {"n": n}, replay=False)  # periodic: never replayed
    ids = {n: FIRST + 2 * n for n in range(10)}  # event n, then status n
    assert live.last_id == ids[9] + 1

    resumed = live.subscribe("a", last_id=ids[6])
    assert [(m.topic, m.data["n"]) for m in await drain(resumed)] == [
        ("event", 7), ("event", 8), ("event", 9)]

    assert await drain(live.subscribe("b", last_id=live.last_id)) == []

    for too_old in (ids[3], ids[0], FIRST - 500):  # before the ring / another run
        lagged = await drain(live.subscribe("c", last_id=too_old))
        assert [(m.topic, m.id) for m in lagged] == [(LAGGED, live.last_id)], too_old
        assert "no longer kept" in lagged[0].data["reason"]
    # from the future (a clock that stepped back before a restart): lagged too
    assert [m.topic for m in await drain(live.subscribe("d", last_id=live.last_id + 9))] \
        == [LAGGED]


async def test_the_ring_holds_the_newest_replayable_messages() -> None:
    live = feed(ring_size=3)
    for n in range(5):
        live.publish("event", {"n": n})
    first_kept = live.last_id - 2
    resumed = live.subscribe("a", last_id=first_kept - 1)
    assert [m.data["n"] for m in await drain(resumed)] == [2, 3, 4]
    assert [m.topic for m in await drain(live.subscribe("b", last_id=first_kept - 2))] \
        == [LAGGED]


async def test_limits_per_owner_and_in_all() -> None:
    live = feed(max_per_owner=2, max_total=3)
    first = live.subscribe("alice")
    live.subscribe("Alice")
    with pytest.raises(TooManySubscribers) as refused:
        live.subscribe("ALICE")
    assert refused.value.scope == "owner"
    assert "2 live event streams open already" in str(refused.value)
    live.subscribe("bob")
    with pytest.raises(TooManySubscribers) as refused:
        live.subscribe("carol")
    assert refused.value.scope == "total"
    first.close()
    live.subscribe("carol")  # a closed subscription frees its place
    assert live.subscriber_count == 3


async def test_closing_wakes_the_reader_and_counts_subscribers() -> None:
    live = feed()
    assert live.subscriber_count == 0
    subscription = live.subscribe("admin")
    await asyncio.wait_for(live.wait_for_subscribers(), 10)
    reader = asyncio.create_task(subscription.next())
    await asyncio.sleep(0)  # the reader waits for a message
    live.close_all("shutdown", "the recorder is stopping")
    with pytest.raises(SubscriptionClosed) as closed:
        await asyncio.wait_for(reader, 10)
    assert (closed.value.reason, closed.value.message) == ("shutdown",
                                                           "the recorder is stopping")
    assert live.subscriber_count == 0
    live.publish("event", {"after": True})  # nobody left: nothing to do
    with pytest.raises(SubscriptionClosed):
        await subscription.next()


async def test_next_returns_none_when_nothing_came_in_time() -> None:
    live = feed()
    subscription = live.subscribe("admin")
    assert await subscription.next(timeout=0) is None
    live.publish("event", {})
    message = await subscription.next(timeout=0)
    assert message is not None and message.topic == "event"


async def test_publishing_from_threads_keeps_every_message_in_order() -> None:
    live = feed(queue_size=10_000)
    subscription = live.subscribe("admin")
    def publish_500(t: int) -> None:
        for n in range(500):
            live.publish("event", {"t": t, "n": n})

    threads = [threading.Thread(target=publish_500, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    messages = await take(subscription, 2000)
    for thread in threads:
        await asyncio.to_thread(thread.join)
    assert [m.id for m in messages] == list(range(FIRST, FIRST + 2000))
    for t in range(4):
        assert [m.data["n"] for m in messages if m.data["t"] == t] == list(range(500))


def test_a_thread_publishing_before_the_feed_has_a_loop_is_harmless() -> None:
    live = feed()
    worker = threading.Thread(target=live.publish, args=("audit", {"early": True}))
    worker.start()
    worker.join()
    assert live.last_id == FIRST - 1


async def test_audit_records_from_any_thread_reach_the_feed(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.db", 1000)
    await audit.start()
    live = feed()
    live.bind()
    subscription = live.subscribe("admin", topics=["audit"])
    seen: list[AuditRecord] = []

    def failing(_record: AuditRecord) -> None:
        raise RuntimeError("a broken listener")

    remove_failing = audit.add_listener(failing)
    remove_seen = audit.add_listener(seen.append)
    remove = audit.add_listener(lambda r: live.publish("audit", {"action": r.action}))
    try:
        worker = threading.Thread(target=audit.record, args=("config", "from a thread"))
        worker.start()
        await asyncio.to_thread(worker.join)
        audit.record("config", "from the loop")
        messages = await take(subscription, 2)
        assert {m.data["action"] for m in messages} == {"from a thread", "from the loop"}
        remove()
        remove_seen()
        audit.record("config", "after removal")
        assert [r.action for r in seen] == ["from a thread", "from the loop"]
        assert await subscription.next(timeout=0) is None
    finally:
        remove_failing()
        await audit.stop()
    # a listener that raised cost nobody their record
    assert {r.action for r in audit.query()} == {"from a thread", "from the loop",
                                                 "after removal"}
