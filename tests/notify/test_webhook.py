"""Webhooks against a real aiohttp server: the JSON body, the HMAC signature, the
configured method and headers, the kinds filter, retries of 5xx and unreachable
receivers, no retry of a 4xx, and a full queue that drops instead of blocking."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from nvrd.config.schema import WebhookConfig
from nvrd.events.model import Event, EventKind, Phase
from nvrd.notify.webhook import Retry, WebhookNotifier
from tests.notify.broker import free_port, wait_until

T0 = 1_714_564_800_000_000
SECRET = "correct horse battery staple"
FAST = Retry(delays_s=(0.01, 0.01))


@dataclass
class Receiver:
    """Records each request; answers with the scripted statuses, then 200."""

    server: TestServer
    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    gate: asyncio.Event | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook") -> str:
        return str(self.server.make_url(path))

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, dict(request.headers), await request.read()))
        self.arrived.set()
        if self.gate is not None:
            await self.gate.wait()
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = web.Application()
    server = TestServer(app, host="127.0.0.1")
    rx = Receiver(server)
    app.router.add_route("*", "/hook", rx.handle)
    await server.start_server()
    yield rx
    if rx.gate is not None:
        rx.gate.set()
    await server.close()


@pytest.fixture
async def make_hooks() -> AsyncIterator[Callable[..., WebhookNotifier]]:
    notifiers: list[WebhookNotifier] = []

    def make(*hooks: dict[str, Any], retry: Retry = FAST,
             queue_size: int = 8) -> WebhookNotifier:
        notifier = WebhookNotifier([WebhookConfig.model_validate(h) for h in hooks],
                                   recorder="Test NVR", retry=retry, queue_size=queue_size)
        notifiers.append(notifier)
        return notifier

    yield make
    for notifier in notifiers:
        await notifier.stop()


def event(kind: EventKind = EventKind.ALARM_INPUT, source: str = "alarm-in:3",
          phase: Phase = Phase.START, n: int = 0) -> Event:
    return Event(kind, source, None, phase, T0 + n, {"n": n}, id=n + 1)


async def test_the_event_is_posted_as_json_with_a_signature_that_verifies(
        receiver: Receiver, make_hooks: Callable[..., WebhookNotifier]) -> None:
    hooks = make_hooks({"url": receiver.url(), "secret": SECRET,
                        "headers": {"Authorization": "Bearer abc"}})
    await hooks.start()
    hooks.on_event(event())
    await wait_until(lambda: hooks.status()[0].sent == 1, "the hook delivered")

    [(method, headers, body)] = receiver.requests
    assert method == "POST"
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == "Bearer abc"
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-NVR-Signature"], expected)
    assert json.loads(body) == {
        "id": 1, "kind": "alarm_input", "source": "alarm-in:3", "channel": None,
        "phase": "start", "time_us": T0, "start_id": None, "details": {"n": 0},
        "time": "2024-05-01T12:00:00Z", "recorder": "Test NVR"}


async def test_no_secret_no_signature_and_the_method_is_configurable(
        receiver: Receiver, make_hooks: Callable[..., WebhookNotifier]) -> None:
    hooks = make_hooks({"url": receiver.url(), "method": "PUT"})
    await hooks.start()
    hooks.on_event(event())
    await wait_until(lambda: hooks.status()[0].sent == 1, "the hook delivered")
    [(method, headers, _)] = receiver.requests
    assert method == "PUT"
    assert "X-NVR-Signature" not in headers


async def test_only_the_chosen_kinds_are_sent(
        receiver: Receiver, make_hooks: Callable[..., WebhookNotifier]) -> None:
    hooks = make_hooks({"url": receiver.url(), "kinds": ["motion"]})
    await hooks.start()
    hooks.on_event(event(EventKind.ALARM_INPUT))
    hooks.on_event(event(EventKind.MOTION, "camera:5"))
    await wait_until(lambda: hooks.status()[0].sent == 1, "the motion event delivered")
    assert [json.loads(body)["kind"] for _, _, body in receiver.requests] == ["motion"]


async def test_a_500_is_retried_until_it_succeeds(
        receiver: Receiver, make_hooks: Callable[..., WebhookNotifier]) -> None:
    receiver.statuses = [500, 503]
    hooks = make_hooks({"url": receiver.url(), "secret": SECRET})
    await hooks.start()
    hooks.on_event(event())
    await wait_until(lambda: hooks.status()[0].sent == 1, "delivered on the third try")
    status = hooks.status()[0]
    assert (status.retries, status.failed, status.last_error) == (2, 0, None)
    bodies = {body for _, _, body in receiver.requests}
    assert len(receiver.requests) == 3 and len(bodies) == 1, "the same body each time"


async def test_a_500_that_persists_is_given_up_after_the_retries(
        receiver: Receiver, make_hooks: Callable[..., WebhookNotifier]) -> None:
    receiver.statuses = [500, 500, 500, 500]
    hooks = make_hooks({"url": receiver.url()})
    await hooks.start()
    hooks.on_event(event())
    await wait_until(lambda: hooks.status()[0].failed == 1, "given up")
    assert len(receiver.requests) == 3
    assert hooks.status()[0].last_error == ("the receiver answered 500 Internal Server "
                                            "Error (after 3 attempts)")


async def test_a_400_is_not_retried(
        receiver: Receiver, make_hooks: Callable[..., WebhookNotifier]) -> None:
    receiver.statuses = [400]
    hooks = make_hooks({"url": receiver.url()})
    await hooks.start()
    hooks.on_event(event(n=0))
    hooks.on_event(event(n=1))
    await wait_until(lambda: hooks.status()[0].sent == 1, "the second event delivered")
    status = hooks.status()[0]
    assert (status.failed, status.retries) == (1, 0)
    assert [json.loads(body)["details"]["n"] for _, _, body in receiver.requests] == [0, 1]


async def test_an_unreachable_receiver_is_retried_then_given_up(
        make_hooks: Callable[..., WebhookNotifier]) -> None:
    hooks = make_hooks({"url": f"http://127.0.0.1:{free_port()}/hook"})
    await hooks.start()
    hooks.on_event(event())
    await wait_until(lambda: hooks.status()[0].failed == 1, "given up")
    status = hooks.status()[0]
    assert status.retries == 2
    assert status.last_error is not None and "could not reach it" in status.last_error


async def test_a_slow_receiver_fills_the_queue_and_events_are_dropped_not_waited_for(
        receiver: Receiver, make_hooks: Callable[..., WebhookNotifier]) -> None:
    receiver.gate = asyncio.Event()
    hooks = make_hooks({"url": receiver.url()}, queue_size=2)
    await hooks.start()
    hooks.on_event(event(n=0))
    await receiver.arrived.wait()  # the first one is in flight, held by the receiver
    for n in range(1, 6):
        hooks.on_event(event(n=n))  # returns at once: 2 queued, 3 dropped
    assert hooks.status()[0].dropped == 3
    receiver.gate.set()
    await wait_until(lambda: hooks.status()[0].sent == 3, "the queued ones delivered")
    assert [json.loads(body)["details"]["n"] for _, _, body in receiver.requests] == [0, 1, 2]


async def test_a_receiver_that_does_not_answer_in_time_is_retried(
        receiver: Receiver, make_hooks: Callable[..., WebhookNotifier]) -> None:
    receiver.gate = asyncio.Event()  # never opened: every attempt times out
    hooks = make_hooks({"url": receiver.url(), "timeout_seconds": 1},
                       retry=Retry(delays_s=(0.01,)))
    await hooks.start()
    hooks.on_event(event())
    await wait_until(lambda: hooks.status()[0].failed == 1, "given up")
    assert len(receiver.requests) == 2
    assert hooks.status()[0].last_error == "no answer within 1 s (after 2 attempts)"
