"""Events and alarm states published to an MQTT broker, the way Home Assistant expects.

Client library: ``aiomqtt`` (2.x) on ``paho-mqtt`` 2.x. paho is the Eclipse reference
client, maintained, and speaks MQTT 3.1.1 and 5 with TLS and a last will; aiomqtt drives
it from the asyncio loop (its socket callbacks, no network thread of ours) and turns
acknowledgements into awaitables. The alternatives were gmqtt (less maintained) and
driving paho's own thread (a second thread touching our state).

Invariants:

1. :meth:`MqttNotifier.on_event` never blocks and never raises: it queues and returns.
2. While connected, everything queued is published in order, QoS 1.
3. While disconnected, the latest retained value of each topic (discovery configuration,
   ON/OFF states) is kept and all of them are published again on every (re)connection,
   so a broker that restarted without persistence learns the whole state back; events
   (not retained) are dropped and counted (:attr:`MqttStatus.dropped`).
4. The connection is kept: a lost or refused connection is retried with exponential
   backoff (reset once a connection stayed up for a while); a broker that is down never
   stops the daemon or delays the event path.
5. ``<base>/status`` reads ``online`` while connected. The broker publishes the last will
   ``offline`` (retained) when the connection drops; a clean stop publishes it first.
6. When Home Assistant announces itself (``<discovery prefix>/status`` = ``online``), the
   discovery configuration and states are published again (its documented "birth"
   handshake, for an HA that restarted on a broker without retained messages).

Threads: none of ours. aiomqtt runs paho's I/O on the loop; only the TCP connect runs in
the default executor (aiomqtt does that itself).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiomqtt

import nvrd
from nvrd.config.schema import MqttConfig
from nvrd.events.model import Event, EventKind, EventListener
from nvrd.notify import payload as p

logger = logging.getLogger(__name__)

QOS = 1
"""At least once: a state or an event is worth a duplicate rather than a loss."""
DEFAULT_QUEUE_LIMIT = 1000
"""Events waiting to be published while connected; beyond, new ones are dropped."""


class EventBus(Protocol):
    """What :meth:`MqttNotifier.attach` needs of the event bus."""

    def subscribe(self, listener: EventListener) -> Callable[[], None]: ...


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays between connection attempts: ``first_s``, doubled up to ``max_s``; back
    to ``first_s`` after a connection that lasted ``healthy_s``."""

    first_s: float = 1.0
    max_s: float = 60.0
    healthy_s: float = 30.0


@dataclass(frozen=True, slots=True)
class MqttStatus:
    """For the status page and the tests."""

    connected: bool
    broker: str
    """``host:port``."""
    connections: int
    """Successful connections since start (1 = never reconnected)."""
    published: int
    dropped: int
    """Events not published: while disconnected, or the queue was full."""
    last_error: str | None


@dataclass(frozen=True, slots=True)
class _Outgoing:
    topic: str
    payload: bytes | None
    """None: a retained topic, published with its value at sending time."""


class MqttNotifier:
    """Keeps a connection to the broker and publishes events, ON/OFF states and Home
    Assistant discovery. ``start()`` / ``stop()`` on the loop; ``on_event`` is the bus
    listener."""

    def __init__(self, config: MqttConfig, *, device_name: str,
                 backoff: Backoff | None = None,
                 queue_limit: int = DEFAULT_QUEUE_LIMIT) -> None:
        if config.host is None:
            raise ValueError("notify.mqtt.host is not set")
        self.config = config
        self.device = p.Device(identifier=config.client_id, name=device_name,
                               sw_version=nvrd.__version__)
        self._host = config.host
        self._base = config.base_topic
        self._backoff = backoff or Backoff()
        self._queue_limit = queue_limit
        self._tls = ssl.create_default_context() if config.tls else None
        self._retained: dict[str, bytes] = {}
        """Every retained topic's latest value (inv. 3): discovery first, then states."""
        self._announced: set[tuple[EventKind, str]] = set()
        self._queue: collections.deque[_Outgoing] = collections.deque()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._connected = asyncio.Event()
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connections = 0
        self._published = 0
        self._dropped = 0
        self._last_error: str | None = None

    # --- the event path (inv. 1) ----------------------------------------------------

    def attach(self, bus: EventBus) -> Callable[[], None]:
        """Subscribe to the bus (``nvrd.events.bus.EventBus``); returns the remover."""
        return bus.subscribe(self.on_event)

    def on_event(self, event: Event) -> None:
        """Queue the event's message and, for a start or stop, its new state."""
        message = p.event_payload(event, recorder=self.device.name)
        self._send(p.event_topic(self._base, event.kind), json.dumps(message).encode())
        state = p.state_value(event.phase)
        if state is not None:
            self._announce(event.kind, event.source, None)
            self._set_retained(p.state_topic(self._base, event.kind, event.source),
                               state.encode())

    def announce(self, kind: EventKind, source: str, *, name: str | None = None,
                 state: bool | None = None) -> None:
        """Make a sensor known before its first event (Home Assistant lists it at once),
        e.g. every configured alarm input; ``state`` sets its initial ON/OFF."""
        self._announce(kind, source, name)
        if state is not None:
            self._set_retained(p.state_topic(self._base, kind, source),
                               (p.STATE_ON if state else p.STATE_OFF).encode())

    def _announce(self, kind: EventKind, source: str, name: str | None) -> None:
        if (kind, source) in self._announced and name is None:
            return
        self._announced.add((kind, source))
        if not self.config.discovery:
            return
        config = p.discovery_config(base=self._base, device=self.device, kind=kind,
                                    source=source, name=name)
        self._set_retained(p.discovery_topic(self.config.discovery_prefix, self.device,
                                             kind, source),
                           json.dumps(config).encode())

    def _set_retained(self, topic: str, value: bytes) -> None:
        self._retained[topic] = value
        if self._connected.is_set():
            self._queue.append(_Outgoing(topic, None))
            self._wake.set()

    def _send(self, topic: str, data: bytes) -> None:
        if not self._connected.is_set() or len(self._queue) >= self._queue_limit:
            self._dropped += 1
            return
        self._queue.append(_Outgoing(topic, data))
        self._wake.set()

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Start keeping the connection (returns at once; the broker may be down)."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="mqtt-notifier")

    async def stop(self, timeout: float = 5.0) -> None:
        """Publish ``offline``, disconnect cleanly (so the broker does not send the
        will) and stop reconnecting."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_synced(self) -> None:
        """Until connected and every retained value has been published on this
        connection (what a subscriber that comes later will find on the broker)."""
        await self._synced.wait()

    def status(self) -> MqttStatus:
        return MqttStatus(connected=self._connected.is_set(),
                          broker=f"{self._host}:{self.config.port}",
                          connections=self._connections, published=self._published,
                          dropped=self._dropped, last_error=self._last_error)

    # --- the connection (inv. 4) ----------------------------------------------------

    def _client(self) -> aiomqtt.Client:
        cfg = self.config
        return aiomqtt.Client(
            self._host, cfg.port, identifier=cfg.client_id,
            username=cfg.username or None,
            password=cfg.password.get_secret_value() or None,
            keepalive=cfg.keepalive_seconds, tls_context=self._tls,
            will=aiomqtt.Will(p.availability_topic(self._base), p.OFFLINE, qos=QOS,
                              retain=True),
            logger=logger.getChild("client"))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self._backoff.first_s
        while not self._stopping.is_set():
            since = loop.time()
            try:
                async with self._client() as client:
                    await self._serve(client)
            except aiomqtt.MqttError as exc:
                self._lost(str(exc) or type(exc).__name__)
            except Exception as exc:  # a bug must not end the reconnection loop
                logger.exception("MQTT: unexpected error on the connection to %s",
                                 self.status().broker)
                self._lost(repr(exc))
            else:
                self._lost(None)
            if loop.time() - since >= self._backoff.healthy_s:
                delay = self._backoff.first_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, self._backoff.max_s)

    def _lost(self, reason: str | None) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        self._synced.clear()
        dropped = sum(1 for item in self._queue if item.payload is not None)
        self._dropped += dropped
        self._queue.clear()
        if reason is None:
            return
        if was_connected or reason != self._last_error:
            logger.warning("MQTT: no connection to the broker %s (%s); retrying, events "
                           "are dropped until it is back, states are kept",
                           self.status().broker, reason)
        self._last_error = reason

    async def _serve(self, client: aiomqtt.Client) -> None:
        """One connection: announce, publish the retained state, then pump the queue
        and listen (for Home Assistant's birth message) until it drops or we stop."""
        self._connections += 1
        logger.info("MQTT: connected to %s as %r", self.status().broker,
                    self.config.client_id)
        self._last_error = None
        if self.config.discovery:
            await client.subscribe(f"{self.config.discovery_prefix}/status", qos=QOS)
        await self._publish(client, p.availability_topic(self._base), p.ONLINE.encode(),
                            retain=True)
        self._queue.clear()  # states queued before are in the flush below
        self._connected.set()
        for topic, value in list(self._retained.items()):
            await self._publish(client, topic, value, retain=self._retain(topic))
        self._synced.set()
        await self._until_done(client, self._pump(client), self._listen(client))
        if self._stopping.is_set():
            self._connected.clear()
            self._synced.clear()
            await self._publish(client, p.availability_topic(self._base),
                                p.OFFLINE.encode(), retain=True)

    async def _until_done(self, client: aiomqtt.Client, *coros: Any) -> None:
        tasks = [asyncio.ensure_future(c) for c in coros]
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            done, _ = await asyncio.wait([*tasks, stop],
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in [*tasks, stop]:
                task.cancel()
            await asyncio.gather(*tasks, stop, return_exceptions=True)
        for task in done:
            error = None if task is stop or task.cancelled() else task.exception()
            if error is not None:
                raise error

    async def _pump(self, client: aiomqtt.Client) -> None:
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            item = self._queue[0]
            if item.payload is None:
                value = self._retained[item.topic]
                await self._publish(client, item.topic, value, retain=self._retain(
                    item.topic))
            else:
                await self._publish(client, item.topic, item.payload, retain=False)
            self._queue.popleft()

    async def _listen(self, client: aiomqtt.Client) -> None:
        """Ends with MqttError when the connection drops (aiomqtt's signal for it)."""
        birth = f"{self.config.discovery_prefix}/status"
        async for message in client.messages:
            if message.topic.matches(birth) and message.payload == p.ONLINE.encode():
                logger.info("MQTT: Home Assistant came online; publishing discovery and "
                            "states again")
                self._queue.extend(_Outgoing(topic, None) for topic in self._retained)
                self._wake.set()

    def _retain(self, topic: str) -> bool:
        return self.config.retain or not topic.endswith("/state")

    async def _publish(self, client: aiomqtt.Client, topic: str, data: bytes, *,
                       retain: bool) -> None:
        await client.publish(topic, data, qos=QOS, retain=retain)
        self._published += 1
