"""Events sent as JSON to HTTP endpoints (``[[notify.webhooks]]``).

Invariants:

1. :meth:`WebhookNotifier.on_event` never blocks and never raises: each hook has its own
   small bounded queue; an event that does not fit is dropped and counted, so one slow
   or dead receiver neither delays the event path nor the other hooks.
2. A hook sends one request at a time, in event order.
3. A request that got no answer (connection refused, timeout) or a 5xx is retried after
   each of :attr:`Retry.delays_s`, then given up (counted in ``failed``). A 4xx (or any
   other non-2xx answer) is not retried: the receiver refused the request itself, and
   sending it again would be refused again.
4. With a secret, the request carries ``X-NVR-Signature: sha256=<hex HMAC-SHA256 of the
   exact body bytes>`` (:func:`nvrd.notify.payload.signature`).

The body is ``nvrd.notify.payload.event_payload``: the same JSON as MQTT's event messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp

import nvrd
from nvrd.config.schema import WebhookConfig
from nvrd.events.model import Event, EventListener
from nvrd.notify import payload as p
from nvrd.system.logs import redact_url

logger = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 64


class EventBus(Protocol):
    def subscribe(self, listener: EventListener) -> Callable[[], None]: ...


@dataclass(frozen=True, slots=True)
class Retry:
    delays_s: tuple[float, ...] = (1.0, 5.0, 15.0, 60.0)
    """Waits before each retry; their number is the number of retries."""


@dataclass(frozen=True, slots=True)
class WebhookStatus:
    url: str
    """Any password in it masked."""
    sent: int
    """Events the receiver accepted (2xx)."""
    failed: int
    """Events given up: refused (4xx) or still failing after the retries."""
    retries: int
    dropped: int
    """Events not sent because the queue was full."""
    last_error: str | None


class _Refused(Exception):
    """A non-2xx answer that is not worth retrying."""


class _Transient(Exception):
    """No answer, or a 5xx: worth retrying."""


class WebhookSender:
    """One hook: its queue and the task that empties it."""

    def __init__(self, config: WebhookConfig, *, recorder: str, retry: Retry,
                 queue_size: int) -> None:
        self.config = config
        self.url = str(config.url)
        self._label = redact_url(self.url)
        self._recorder = recorder
        self._retry = retry
        self._kinds = frozenset(config.kinds)
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None
        self._sent = self._failed = self._retries = self._dropped = 0
        self._last_error: str | None = None

    def wants(self, event: Event) -> bool:
        return not self._kinds or event.kind in self._kinds

    def offer(self, event: Event) -> None:
        if not self.wants(event):
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 100 == 0:
                logger.warning("webhook %s: queue full, %d events dropped so far",
                               self._label, self._dropped)

    def start(self, session: aiohttp.ClientSession) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(session), name=f"webhook {self._label}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def status(self) -> WebhookStatus:
        return WebhookStatus(url=self._label, sent=self._sent, failed=self._failed,
                             retries=self._retries, dropped=self._dropped,
                             last_error=self._last_error)

    async def _run(self, session: aiohttp.ClientSession) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._deliver(session, event)
            except Exception:  # a bug must not end the hook
                logger.exception("webhook %s: unexpected error", self._label)
                self._failed += 1

    async def _deliver(self, session: aiohttp.ClientSession, event: Event) -> None:
        body = json.dumps(p.event_payload(event, recorder=self._recorder)).encode()
        headers = self._headers(body)
        for attempt, delay in enumerate((*self._retry.delays_s, None)):
            try:
                await self._attempt(session, body, headers)
            except _Refused as exc:
                self._give_up(event, str(exc))
                return
            except _Transient as exc:
                if delay is None:
                    self._give_up(event, f"{exc} (after {attempt + 1} attempts)")
                    return
                self._retries += 1
                self._last_error = str(exc)
                logger.debug("webhook %s: %s; retrying in %s s", self._label, exc, delay)
                await asyncio.sleep(delay)
            else:
                self._sent += 1
                self._last_error = None
                return

    def _headers(self, body: bytes) -> dict[str, str]:
        headers = dict(self.config.headers)
        headers["Content-Type"] = "application/json"
        headers.setdefault("User-Agent", f"nvrd/{nvrd.__version__}")
        secret = self.config.secret.get_secret_value()
        if secret:
            headers[p.SIGNATURE_HEADER] = p.signature(secret, body)
        return headers

    async def _attempt(self, session: aiohttp.ClientSession, body: bytes,
                       headers: dict[str, str]) -> None:
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_seconds)
        try:
            async with session.request(self.config.method, self.url, data=body,
                                       headers=headers, timeout=timeout,
                                       allow_redirects=False) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return
                reason = f"the receiver answered {response.status} {response.reason or ''}"
                if response.status >= 500:
                    raise _Transient(reason.strip())
                raise _Refused(reason.strip())
        except TimeoutError:
            raise _Transient(f"no answer within {self.config.timeout_seconds:g} s") from None
        except aiohttp.ClientError as exc:
            raise _Transient(f"could not reach it: {exc or type(exc).__name__}") from None

    def _give_up(self, event: Event, reason: str) -> None:
        self._failed += 1
        self._last_error = reason
        logger.warning("webhook %s: %s event from %s not delivered: %s", self._label,
                       event.kind.value, event.source, reason)


class WebhookNotifier:
    """Every configured hook. ``start()`` / ``stop()`` on the loop; ``on_event`` is the
    bus listener."""

    def __init__(self, hooks: tuple[WebhookConfig, ...] | list[WebhookConfig], *,
                 recorder: str, retry: Retry | None = None,
                 queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.senders = [WebhookSender(hook, recorder=recorder, retry=retry or Retry(),
                                      queue_size=queue_size) for hook in hooks]
        self._session: aiohttp.ClientSession | None = None

    def attach(self, bus: EventBus) -> Callable[[], None]:
        """Subscribe to the bus (``nvrd.events.bus.EventBus``); returns the remover."""
        return bus.subscribe(self.on_event)

    def on_event(self, event: Event) -> None:
        for sender in self.senders:
            sender.offer(event)

    async def start(self) -> None:
        if self._session is None and self.senders:
            self._session = aiohttp.ClientSession()
            for sender in self.senders:
                sender.start(self._session)

    async def stop(self) -> None:
        """Stop sending; events still queued are not sent."""
        for sender in self.senders:
            await sender.stop()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def status(self) -> list[WebhookStatus]:
        return [sender.status() for sender in self.senders]
