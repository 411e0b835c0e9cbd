"""The live feed: what happens in the recorder, pushed to whoever watches now (the web
page's live event stream, later the console), as it happens.

A fan-out in the daemon's process, not a bus: services publish small JSON-ready dicts
under a topic, every subscriber gets its own bounded queue, and nobody waits on anybody.

Messages
    Each message gets an integer ``id`` (strictly increasing, in the order subscribers
    receive them) and ``time_us``, the UTC wall clock in microseconds when it was
    published. Ids start at the feed's creation time in microseconds, not at 1, so a
    ``Last-Event-ID`` a browser kept from before a daemon restart is never taken for an
    id of this run (it is older than anything here: the client is told it lagged).
    Topics are a closed set (:data:`TOPICS`); ``lagged`` and ``end`` are control
    messages a subscriber gets whatever topics it chose.

Slow subscribers (the policy)
    A subscriber's queue holds ``queue_size`` messages. When a message arrives at a full
    queue, the whole backlog is dropped and replaced by one ``lagged`` message (``missed``:
    how many were dropped, ``id``: the newest of them), and the subscriber goes on with
    the messages that follow. A subscriber that lagged must refetch the state it shows
    (through the API); what it had queued is stale by then anyway, so dropping the
    backlog rather than the newest messages frees its memory at once and lets it catch
    up sooner. Publishers never wait, and one stuck subscriber never delays another.

Resuming (``Last-Event-ID``)
    The last ``ring_size`` replayable messages are kept. A subscriber that names the last
    id it saw gets every later message it would have received, if the ring still holds
    all of them; otherwise it gets ``lagged`` first. Periodic messages (``status``, sent
    every few seconds anyway) are published with ``replay=False``: they are not kept, so
    they cannot push the messages that matter out of the ring.

Limits
    At most ``max_per_owner`` subscriptions per owner (a user name) and ``max_total`` in
    all: :class:`TooManySubscribers` says which limit was hit.

Threads
    ``publish`` may be called from the loop or any thread (audit records are made on
    whatever thread acts): off the loop it hands the message over with
    ``call_soon_threadsafe``; ids are given on the loop, so id order is delivery order.
    Everything else (``subscribe``, the subscriptions, ``close_all``) is loop-only. The
    feed learns its loop from the first call made on it (``bind``, ``subscribe`` or a
    ``publish`` on the loop); a message published from a thread before that is dropped,
    as nobody can be subscribed yet.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

TOPICS = frozenset({"audit", "storage", "bay", "alarm", "poe", "status", "event",
                    "linkage"})
"""What services publish: audit records, volume states, bay states, alarm inputs, PoE
events, the periodic status summary, the event engine's events, and linkage's incidents
(opened, ended) and disarm changes."""
LAGGED = "lagged"
"""Control message: messages were lost for this subscriber; refetch the state."""
END = "end"
"""Control message: the subscription ended (``reason`` says why); nothing follows."""
CONTROL_TOPICS = frozenset({LAGGED, END})

DEFAULT_QUEUE_SIZE = 256
DEFAULT_RING_SIZE = 256
DEFAULT_MAX_PER_OWNER = 8
DEFAULT_MAX_TOTAL = 64


def wall_clock_us() -> int:
    return time.time_ns() // 1000


def _to_json(data: Mapping[str, Any]) -> str:
    # default=str: a stray enum or path in a source's dict must not lose the message
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass(frozen=True, slots=True)
class LiveMessage:
    id: int
    topic: str
    """One of :data:`TOPICS`, or ``lagged`` / ``end``."""
    time_us: int
    data: Mapping[str, Any]
    data_json: str = field(repr=False)
    """``data`` as JSON, made once by the publisher for every subscriber."""

    def to_json(self) -> str:
        """The message as one JSON object (what the event stream's ``data:`` line holds)."""
        return (f'{{"id":{self.id},"topic":{json.dumps(self.topic)},'
                f'"time_us":{self.time_us},"data":{self.data_json}}}')


def control_message(topic: str, id: int, time_us: int, **data: Any) -> LiveMessage:
    return LiveMessage(id, topic, time_us, data, _to_json(data))


class TooManySubscribers(Exception):
    """A subscription was refused: ``scope`` is ``"owner"`` (this user has ``limit``
    open already) or ``"total"`` (the recorder has ``limit`` open)."""

    def __init__(self, scope: str, limit: int) -> None:
        super().__init__(scope, limit)
        self.scope = scope
        self.limit = limit

    def __str__(self) -> str:
        if self.scope == "owner":
            return f"you have {self.limit} live event streams open already; close one first"
        return (f"the recorder serves {self.limit} live event streams already; "
                "try again later")


class SubscriptionClosed(Exception):
    """The subscription ended; ``reason`` is the code of its ``end`` message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason, message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class SubscriptionInfo:
    """A subscription as diagnostics show it."""

    owner: str
    topics: frozenset[str] | None
    queued: int
    lagged: int
    """How many times it lagged."""
    dropped: int
    """How many messages it lost to lagging, in all."""


class Subscription:
    """One subscriber's view of the feed (see the module doc for the queue policy).

    Loop-only. Read with :meth:`next`; :meth:`close` when done (idempotent).
    """

    def __init__(self, feed: LiveFeed, owner: str, topics: frozenset[str] | None,
                 queue_size: int) -> None:
        self._feed = feed
        self.owner = owner
        self.topics = topics
        self._queue_size = queue_size
        self._queue: collections.deque[LiveMessage] = collections.deque()
        self._ready = asyncio.Event()
        self._closed: SubscriptionClosed | None = None
        self.lagged = 0
        self.dropped = 0

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def wants(self, topic: str) -> bool:
        return topic in CONTROL_TOPICS or self.topics is None or topic in self.topics

    async def next(self, timeout: float | None = None) -> LiveMessage | None:
        """The next message; None if none came within ``timeout`` seconds. Raises
        :class:`SubscriptionClosed` once closed (what was still queued is discarded)."""
        while True:
            if self._closed is not None:
                raise self._closed
            if self._queue:
                return self._queue.popleft()
            self._ready.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
            except TimeoutError:
                return None

    def next_nowait(self) -> LiveMessage | None:
        """The next queued message, or None (raises :class:`SubscriptionClosed`)."""
        if self._closed is not None:
            raise self._closed
        return self._queue.popleft() if self._queue else None

    def close(self, reason: str = "closed", message: str = "the subscription was closed"
              ) -> None:
        """End the subscription; a waiting :meth:`next` raises at once."""
        if self._closed is None:
            self._closed = SubscriptionClosed(reason, message)
            self._queue.clear()
            self._ready.set()
            self._feed._forget(self)

    def info(self) -> SubscriptionInfo:
        return SubscriptionInfo(self.owner, self.topics, len(self._queue), self.lagged,
                                self.dropped)

    def _offer(self, message: LiveMessage) -> None:
        if self._closed is not None or not self.wants(message.topic):
            return
        if len(self._queue) >= self._queue_size:
            self._lag(message)
        else:
            self._queue.append(message)
        self._ready.set()

    def _lag(self, newest: LiveMessage) -> None:
        dropped_now = 1 + sum(1 for m in self._queue if m.topic != LAGGED)
        # a "lagged" still queued is replaced too: the new one counts its losses as well
        missed = dropped_now + sum(int(m.data.get("missed") or 0) for m in self._queue
                                   if m.topic == LAGGED)
        self._queue.clear()
        self.lagged += 1
        self.dropped += dropped_now
        self._queue.append(control_message(
            LAGGED, newest.id, newest.time_us, missed=missed,
            reason="events came faster than this subscriber took them; refetch the state"))

    def _put_lagged_resume(self, id: int, time_us: int) -> None:
        self._queue.append(control_message(
            LAGGED, id, time_us, missed=None,
            reason="the events since the last one you saw are no longer kept; "
                   "refetch the state"))


class LiveFeed:
    """The fan-out. See the module docstring for ids, the lag policy, resuming, threads."""

    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE,
                 ring_size: int = DEFAULT_RING_SIZE,
                 max_per_owner: int = DEFAULT_MAX_PER_OWNER,
                 max_total: int = DEFAULT_MAX_TOTAL,
                 clock: Callable[[], int] = wall_clock_us,
                 first_id: int | None = None) -> None:
        if min(queue_size, ring_size, max_per_owner, max_total) < 1:
            raise ValueError("queue_size, ring_size and the limits must be at least 1")
        self.queue_size = queue_size
        self.max_per_owner = max_per_owner
        self.max_total = max_total
        self._clock = clock
        start = first_id if first_id is not None else clock()
        self._last_id = start - 1
        self._ring: collections.deque[LiveMessage] = collections.deque(maxlen=ring_size)
        self._evicted_upto = start - 1
        """The newest replayable id no longer in the ring (resuming before it loses)."""
        self._subscriptions: set[Subscription] = set()
        self._has_subscribers = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- publishing (any thread) -----------------------------------------------------------

    def publish(self, topic: str, data: Mapping[str, Any], *, replay: bool = True) -> None:
        """Send ``data`` (JSON-ready) to every subscriber of ``topic``; never blocks.

        ``replay=False``: not kept for resuming clients (periodic state)."""
        if topic not in TOPICS:
            raise ValueError(f"unknown live feed topic {topic!r}")
        time_us = self._clock()
        data_json = _to_json(data)
        loop = self._loop
        if loop is None:
            loop = self._running_loop()
            if loop is None:
                return  # a thread, before the feed has a loop: nobody is subscribed
            self._loop = loop
        if self._running_loop() is loop:
            self._deliver(topic, time_us, data, data_json, replay)
            return
        # RuntimeError: the loop is closed; the daemon is gone, and so are its subscribers
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._deliver, topic, time_us, data, data_json, replay)

    # --- subscribing (loop) ----------------------------------------------------------------

    def bind(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Deliver on ``loop`` (default: the running one) from now on."""
        self._loop = loop or asyncio.get_running_loop()

    def subscribe(self, owner: str, *, topics: Iterable[str] | None = None,
                  last_id: int | None = None) -> Subscription:
        """A new subscription to ``topics`` (None: all). ``last_id``: the last id the
        subscriber saw before (``Last-Event-ID``): what it missed is queued first, or
        ``lagged`` if the ring no longer holds it all. Raises :class:`TooManySubscribers`
        or ``ValueError`` (an unknown topic)."""
        self.bind(self._loop or asyncio.get_running_loop())
        wanted = frozenset(topics) if topics is not None else None
        if wanted is not None and not wanted <= TOPICS:
            raise ValueError(f"unknown live feed topic(s): {', '.join(sorted(wanted - TOPICS))}")
        if len(self._subscriptions) >= self.max_total:
            raise TooManySubscribers("total", self.max_total)
        folded = owner.casefold()
        if sum(1 for s in self._subscriptions if s.owner.casefold() == folded) \
                >= self.max_per_owner:
            raise TooManySubscribers("owner", self.max_per_owner)
        subscription = Subscription(self, owner, wanted, self.queue_size)
        if last_id is not None:
            self._replay(subscription, last_id)
        self._subscriptions.add(subscription)
        self._has_subscribers.set()
        return subscription

    def _replay(self, subscription: Subscription, last_id: int) -> None:
        if self._evicted_upto <= last_id <= self._last_id:
            for message in self._ring:
                if message.id > last_id:
                    subscription._offer(message)
        else:
            subscription._put_lagged_resume(self._last_id, self._clock())

    @property
    def last_id(self) -> int:
        """The id of the newest message published so far."""
        return self._last_id

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    async def wait_for_subscribers(self) -> None:
        """Return when at least one subscription is open."""
        await self._has_subscribers.wait()

    def subscriptions(self) -> list[SubscriptionInfo]:
        return [s.info() for s in self._subscriptions]

    def close_all(self, reason: str, message: str) -> None:
        """End every subscription (the daemon stops)."""
        for subscription in list(self._subscriptions):
            subscription.close(reason, message)

    # --- internals (loop) ------------------------------------------------------------------

    def _deliver(self, topic: str, time_us: int, data: Mapping[str, Any], data_json: str,
                 replay: bool) -> None:
        self._last_id += 1
        message = LiveMessage(self._last_id, topic, time_us, data, data_json)
        if replay:
            if len(self._ring) == self._ring.maxlen:
                self._evicted_upto = self._ring[0].id
            self._ring.append(message)
        for subscription in list(self._subscriptions):
            subscription._offer(message)

    def _forget(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        if not self._subscriptions:
            self._has_subscribers.clear()

    @staticmethod
    def _running_loop() -> asyncio.AbstractEventLoop | None:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            return None
