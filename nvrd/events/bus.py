"""The event bus: where every source hands its events, and where the event log, the live
stream and (later) linkage get them, in that order, on the event loop.

Invariants
1. Edges only: a ``start`` for a (kind, source) already started, or a ``stop`` for one
   not started, is dropped (a source that repeats itself never floods the log or
   fires linkage twice). Pulses always pass.
2. Ids: each published event gets the next id (after the log's highest), and a stop
   the id of its start (``start_id``); subscribers see the event with its ids.
3. Order: the log queues it, the live feed gets it (topic ``event``), then the
   subscribers in the order they subscribed. A subscriber that raises is logged and
   the next one still gets the event; none may block (the alarm path's latency).

Threads: ``publish`` belongs on the loop; called from another thread it hands over with
``call_soon_threadsafe`` (as ``publish_threadsafe`` does), so a source need not know
where its hook runs. Everything else is loop-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable

from nvrd.events.live import LiveFeed
from nvrd.events.log import EventLog
from nvrd.events.model import Event, EventKind, EventListener, Phase

logger = logging.getLogger(__name__)

LIVE_TOPIC = "event"


class EventBus:
    def __init__(self, log: EventLog | None = None, feed: LiveFeed | None = None, *,
                 first_id: int = 1) -> None:
        self._log = log
        self._feed = feed
        self._next_id = first_id
        self._open: dict[tuple[EventKind, str], Event] = {}
        # replaced, never mutated, so a subscriber may unsubscribe while being called
        self._listeners: tuple[EventListener, ...] = ()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, first_id: int | None = None) -> None:
        """Publish on the running loop from now on (``first_id``: ids start there)."""
        self._loop = asyncio.get_running_loop()
        if first_id is not None:
            self._next_id = first_id

    @property
    def feed(self) -> LiveFeed | None:
        """The live stream events are shown on (linkage shows its incidents there too)."""
        return self._feed

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener`` with every event from now on; returns the remover."""
        self._listeners = (*self._listeners, listener)

        def remove() -> None:
            self._listeners = tuple(x for x in self._listeners if x is not listener)

        return remove

    def active(self) -> list[Event]:
        """The starts without their stop yet, oldest first."""
        return sorted(self._open.values(), key=lambda e: e.id)

    def is_active(self, kind: EventKind, source: str) -> bool:
        return (kind, source) in self._open

    def publish(self, event: Event) -> Event | None:
        """Log, show and hand on ``event``; returns it with its ids, or None when it was
        dropped (not an edge, see inv. 1) or handed to the loop from another thread."""
        loop = self._loop
        if loop is not None and _running_loop() is not loop:
            self.publish_threadsafe(event)
            return None
        admitted = self._admit(event)
        if admitted is None:
            return None
        event = admitted
        if self._log is not None:
            self._log.append(event)
        if self._feed is not None:
            try:
                self._feed.publish(LIVE_TOPIC, event.to_dict())
            except Exception:
                logger.exception("event not shown on the live stream")
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("event subscriber %r failed on %s %s %s", listener,
                                 event.kind.value, event.phase.value, event.source)
        return event

    def publish_threadsafe(self, event: Event) -> None:
        """From any thread: publish on the loop (dropped once the loop is closed)."""
        loop = self._loop
        if loop is None:
            logger.warning("event %s %s dropped: the event bus is not running",
                           event.kind.value, event.source)
            return
        with contextlib.suppress(RuntimeError):  # the loop closed: the daemon is gone
            loop.call_soon_threadsafe(self.publish, event)

    def _admit(self, event: Event) -> Event | None:
        key = event.key
        start_id: int | None = None
        if event.phase is Phase.START:
            if key in self._open:
                logger.debug("repeated start of %s %s dropped", *key)
                return None
        elif event.phase is Phase.STOP:
            started = self._open.pop(key, None)
            if started is None:
                logger.debug("stop of %s %s without a start dropped", *key)
                return None
            start_id = started.id
        event = dataclasses.replace(event, id=self._next_id, start_id=start_id)
        self._next_id += 1
        if event.phase is Phase.START:
            self._open[key] = event
        return event

    def adopt(self, starts: list[Event]) -> None:
        """Take starts published earlier (the log's, from before a restart) as open, so
        their stops are paired with them."""
        for event in starts:
            self._open.setdefault(event.key, event)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
