"""The live event stream against the real daemon (``Application`` on the simulated board,
with its own accounts), read by a real HTTPS client as a browser's EventSource reads it.

One daemon serves the module (starting one and hashing its passwords takes seconds);
each test uses its own users or streams, and the daemon-stop test starts its own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from nvrd.events.live import LAGGED
from tests.events.harness import Box, Client, running_box_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

LIVE = "/api/v1/events/live"
VIEWER_RIGHTS = {"system": [], "all_channels": ["live"]}
HANG_GUARD_S = 30.0
"""Only so that a broken stream fails the test instead of hanging it; never a measure."""


@dataclass
class Event:
    event: str
    id: str | None
    data: dict[str, Any]


class EventReader:
    """Reads ``text/event-stream`` as EventSource does (comments and ``retry`` skipped)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.comments = 0

    async def next(self) -> Event | None:
        """The next event; None when the server ended the stream."""
        fields: dict[str, str] = {}
        async with asyncio.timeout(HANG_GUARD_S):
            while True:
                raw = await self.response.content.readline()
                if not raw:
                    return None
                line = raw.decode().rstrip("\n")
                if line.startswith(":"):
                    self.comments += 1
                    continue
                if line:
                    name, _, value = line.partition(": ")
                    fields[name] = value
                    continue
                if "data" in fields:
                    return Event(fields.get("event", "message"), fields.get("id"),
                                 json.loads(fields["data"]))
                fields = {}

    async def until(self, found: Callable[[Event], bool]) -> list[Event]:
        """Every event up to and including the first one ``found`` accepts."""
        events: list[Event] = []
        while True:
            event = await self.next()
            assert event is not None, f"the stream ended before the event came: {events}"
            events.append(event)
            if found(event):
                return events

    async def rest(self) -> list[Event]:
        """Every event until the server ends the stream."""
        events: list[Event] = []
        while (event := await self.next()) is not None:
            events.append(event)
        return events


class LiveBox(Box):
    """The events harness's box, with this module's stream reader and feed markers."""

    @asynccontextmanager
    async def stream(self, client: Client, *, topics: str | None = None,
                     last_id: str | None = None) -> AsyncIterator[EventReader]:
        headers = {"Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        params = {"topics": topics} if topics is not None else {}
        async with client.session.get(self.base + LIVE, headers=headers, params=params,
                                      timeout=aiohttp.ClientTimeout(total=None)) as response:
            assert response.status == 200, await response.text()
            assert response.headers["Content-Type"].startswith("text/event-stream")
            yield EventReader(response)

    def marker(self, n: int, pad: int = 0) -> None:
        """A message published straight into the daemon's feed (topic ``event``)."""
        self.app.live.publish("event", {"marker": n, "pad": "x" * pad})

    async def viewer(self, name: str) -> Client:
        """A new user with live view on every channel, logged in."""
        return await self.user(name, VIEWER_RIGHTS)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def box(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveBox]:
    async with running_box_of(LiveBox, tmp_path_factory.mktemp("live")) as running:
        yield running


def is_marker(n: int) -> Callable[[Event], bool]:
    return lambda event: event.event == "event" and event.data["data"]["marker"] == n


async def flood_until_lagged(box: LiveBox, reader: EventReader, first: int, *,
                             dropped: int = 1) -> tuple[list[Event], int]:
    """Publish 1 MiB batches of markers, each read by ``reader`` before the next, until
    a stream that does not read has lost ``dropped`` messages to lagging; what ``reader``
    saw, and the next marker."""
    n = first
    seen: list[Event] = []
    for _batch in range(400):  # at most 400 MiB; the socket buffers fill after a few
        batch = range(n, n + 64)
        for m in batch:
            box.marker(m, pad=16_000)
        seen += await reader.until(is_marker(batch[-1]))
        n += 64
        if any(info.dropped >= dropped for info in box.app.live.subscriptions()):
            return seen, n
    raise AssertionError("the stream that does not read never lagged")


# --- access --------------------------------------------------------------------------------

async def test_only_a_logged_in_user_may_listen_and_only_to_known_topics(box: LiveBox) -> None:
    nobody = box.new_client()
    status, body = await box.call(nobody, "GET", LIVE)
    assert status == 401 and body["error"]["code"] == "unauthenticated"

    viewer = await box.viewer("viewer1")
    status, body = await box.call(viewer, "GET", LIVE, params={"topics": "status,gossip"})
    assert status == 422
    assert "gossip" in body["error"]["message"] and "alarm" in body["error"]["message"]
    status, body = await box.call(viewer, "GET", LIVE, params={"topics": "audit"})
    assert status == 403 and "log_view" in body["error"]["message"]
    status, body = await box.call(viewer, "GET", LIVE, headers={"Last-Event-ID": "yes"})
    assert status == 400 and body["error"]["code"] == "invalid_last_event_id"

    status, document = await box.call(box.admin, "GET", "/api/v1/openapi.json")
    operation = document["paths"][LIVE]["get"]
    assert list(operation["responses"]["200"]["content"]) == ["text/event-stream"]
    assert operation["x-streaming"] is True and "x-timeout-seconds" not in operation


async def test_an_audit_record_of_another_request_arrives(box: LiveBox) -> None:
    async with box.stream(box.admin) as reader:
        status, body = await box.call(box.admin, "PUT", "/api/v1/storage/settings",
                                      json={"min_free_percent": 7})
        assert status == 200, body
        events = await reader.until(lambda e: e.event == "audit"
                                    and "min_free_percent" in e.data["data"]["action"])
        record = events[-1].data["data"]
        assert (record["type"], record["user"], record["result"]) == ("config", "admin", "ok")
        assert record["source"].startswith("web 127.0.0.1")
        assert events[-1].id is not None and int(events[-1].id) == events[-1].data["id"]
        # status comes every few seconds to whoever listens
        if not any(e.event == "status" for e in events):
            events += await reader.until(lambda e: e.event == "status")
        summary = next(e for e in events if e.event == "status").data["data"]
        assert {"cameras_online", "streams_recording", "volumes_writable",
                "problems"} <= set(summary)


async def test_volume_changes_arrive(box: LiveBox, tmp_path: Path) -> None:
    def volumes(change: Callable[[list[dict[str, Any]]], None]) -> Callable[
            [dict[str, Any]], None]:
        return lambda table: change(table.setdefault("storage", {}).setdefault("volumes", []))

    async with box.stream(box.admin, topics="storage") as reader:
        # as an edited configuration file is applied (volumes are not set through the API)
        await box.app.change_config(volumes(lambda v: v.append({"path": str(tmp_path)})),
                                    what="volume added", user="test", source="test")
        event = (await reader.until(lambda e: e.event == "storage"))[-1]
        volume, = event.data["data"]["volumes"]
        assert (volume["name"], volume["state"]) == (tmp_path.name, "missing")
        assert "identity" in volume["reason"]  # not prepared: never written into
        await box.app.change_config(volumes(lambda v: v.clear()), what="volume removed",
                                    user="test", source="test")
        event = (await reader.until(lambda e: e.event == "storage"))[-1]
        assert event.data["data"] == {"volumes": []}


async def test_a_user_without_log_view_gets_no_audit_messages(box: LiveBox) -> None:
    viewer = await box.viewer("viewer2")
    async with box.stream(viewer) as viewer_reader, box.stream(box.admin) as admin_reader:
        status, _ = await box.call(box.admin, "PUT", "/api/v1/storage/settings",
                                   json={"min_free_percent": 8})
        assert status == 200
        await admin_reader.until(lambda e: e.event == "audit"
                                 and "min_free_percent" in e.data["data"]["action"])
        box.marker(1)  # published after the audit record: the viewer has had its chance
        seen = await viewer_reader.until(is_marker(1))
    assert not [e for e in seen if e.event == "audit"], seen


async def test_a_user_sees_the_events_of_its_channels_and_no_login_events(
        box: LiveBox) -> None:
    viewer = await box.user("channel1", {"system": [], "channels": {"1": ["playback"]}})
    published: list[dict[str, Any]] = [
        {"kind": "alarm_input", "channel": None, "marker": 1},
        {"kind": "motion", "channel": 2, "marker": 2},      # not its channel
        {"kind": "illegal_login", "channel": None, "marker": 3},  # names users: log_view
        {"kind": "motion", "channel": 1, "marker": 4}]
    async with box.stream(viewer, topics="event") as viewer_reader, \
            box.stream(box.admin, topics="event") as admin_reader:
        for data in published:
            box.app.live.publish("event", data)
        box.marker(5)
        viewer_seen = await viewer_reader.until(is_marker(5))
        admin_seen = await admin_reader.until(is_marker(5))
    assert [e.data["data"]["marker"] for e in viewer_seen] == [1, 4, 5]
    assert [e.data["data"]["marker"] for e in admin_seen] == [1, 2, 3, 4, 5]


async def test_last_event_id_resumes_without_loss(box: LiveBox) -> None:
    async with box.stream(box.admin, topics="event") as reader:
        box.marker(101)
        first = (await reader.until(is_marker(101)))[-1]
    assert first.id is not None
    for n in range(102, 107):  # published while nobody listens
        box.marker(n)

    async with box.stream(box.admin, topics="event", last_id=first.id) as reader:
        box.marker(107)
        events = await reader.until(is_marker(107))
    assert [e.data["data"]["marker"] for e in events] == list(range(102, 108))
    ids = [int(e.id) for e in events if e.id is not None]
    assert ids == sorted(ids) and ids[0] > int(first.id)

    # an id from before the ring (or from before a restart): told to refetch
    async with box.stream(box.admin, topics="event", last_id="1") as reader:
        lagged = await reader.next()
    assert lagged is not None and lagged.event == LAGGED
    assert "refetch" in lagged.data["data"]["reason"]


async def test_a_slow_subscriber_lags_and_does_not_hold_others_back(box: LiveBox) -> None:
    """The slow client reads nothing: the server's writes to it stall once the socket
    buffers are full, its queue overflows, and it gets "lagged"; the fast client gets
    every message, in order, meanwhile."""
    async with box.stream(box.admin, topics="event") as slow, \
            box.stream(box.admin, topics="event") as fast:
        fast_seen, n = await flood_until_lagged(box, fast, 1000)
        assert [e.data["data"]["marker"] for e in fast_seen] == list(range(1000, n))

        box.marker(n)  # one more after the lag: the slow client continues with it
        slow_seen = await slow.until(is_marker(n))
    topics = [e.event for e in slow_seen]
    assert LAGGED in topics
    after = slow_seen[topics.index(LAGGED) + 1:]
    assert after and after[-1].data["data"]["marker"] == n
    # nothing vanished unannounced: what it got plus what it was told it missed covers
    # every marker (missed may also count audit records, which this stream filters out)
    got = [e.data["data"]["marker"] for e in slow_seen if e.event == "event"]
    assert got == sorted(got)
    missed = sum(e.data["data"]["missed"] for e in slow_seen if e.event == LAGGED)
    assert len(got) + missed >= n - 1000 + 1


async def test_a_kicked_session_stream_ends(box: LiveBox) -> None:
    viewer = await box.viewer("viewer3")
    status, session = await box.call(viewer, "GET", "/api/v1/session")
    assert status == 200
    async with box.stream(viewer) as reader:
        status, body = await box.call(box.admin, "DELETE",
                                      f"/api/v1/sessions/{session['session_id']}")
        assert status == 204, body
        events = await reader.rest()
    assert events[-1].event == "end", events
    assert events[-1].id is None
    assert events[-1].data["data"]["reason"] == "session_ended"
    status, _ = await box.call(viewer, "GET", LIVE)
    assert status == 401  # EventSource's reconnect is refused: it stops trying


async def test_a_logged_out_session_stream_ends_and_the_others_go_on(box: LiveBox) -> None:
    viewer = await box.viewer("viewer4")
    other = await box.login("viewer4")
    async with box.stream(viewer) as ended, box.stream(other, topics="event") as going_on:
        status, _ = await box.call(viewer, "DELETE", "/api/v1/session")
        assert status == 204
        events = await ended.rest()
        box.marker(5000)
        await going_on.until(is_marker(5000))
    assert events[-1].data["data"]["reason"] == "session_ended"


async def test_streams_per_user_are_limited(box: LiveBox) -> None:
    viewer = await box.viewer("viewer5")
    limit = box.app.live.max_per_owner
    responses = []
    try:
        for _ in range(limit):
            response = await viewer.session.get(box.base + LIVE)
            responses.append(response)
            assert response.status == 200
        status, body = await box.call(viewer, "GET", LIVE)
        assert status == 429, body
        assert body["error"]["code"] == "too_many_streams"
        assert f"{limit} live event streams" in body["error"]["message"]
    finally:
        for response in responses:
            response.close()
    # closed streams give their places back (once the server has noticed)
    async with asyncio.timeout(HANG_GUARD_S):
        while any(i.owner == "viewer5" for i in box.app.live.subscriptions()):
            await asyncio.sleep(0.05)
    async with box.stream(viewer, topics="event") as reader:
        box.marker(6000)
        await reader.until(is_marker(6000))


async def test_alarm_and_poe_changes_arrive(box: LiveBox) -> None:
    hardware = box.app.hardware
    assert hardware is not None and hardware.sim is not None
    commands = {c.name: c.handler for c in hardware.sim.commands()}
    async with box.stream(box.admin, topics="alarm,poe") as reader:
        hardware.sim.set_alarm_contact(1, closed=True)
        events = await reader.until(lambda e: e.event == "alarm")
        alarm = events[-1].data["data"]
        assert (alarm["input"], alarm["active"], alarm["cause"]) == (1, True, "edge")
        assert alarm["name"]
        hardware.sim.set_alarm_contact(1, closed=False)
        await reader.until(lambda e: e.event == "alarm" and not e.data["data"]["active"])

        commands["poe plug"](port=2, pd_class=3, power_mw=6500)
        events = await reader.until(lambda e: e.event == "poe"
                                    and e.data["data"]["kind"] == "powered")
        assert events[-1].data["data"]["port"] == 2
        assert {e.event for e in events} <= {"alarm", "poe"}


# --- the daemon stops -----------------------------------------------------------------------

async def test_the_stream_ends_when_the_daemon_stops(tmp_path: Path) -> None:
    """Every stream ends with "end" (``reader``: behind, but it reads on once the daemon
    stops); one whose client stopped reading altogether (its handler stuck in a write)
    is cut, so the daemon stops without waiting out aiohttp's one-minute timeout."""
    async with running_box_of(LiveBox, tmp_path) as own, own.stream(own.admin) as reader, \
            own.stream(own.admin, topics="event") as stuck, \
            own.stream(own.admin, topics="event") as fast:
        # far more than the socket buffers hold: the writes to ``stuck`` (and ``reader``)
        # block, their queues overflow again and again
        await flood_until_lagged(own, fast, 1, dropped=2000)
        own.app.request_stop()
        events = await reader.rest()
        async with asyncio.timeout(HANG_GUARD_S):  # well below aiohttp's 60 s
            assert own.run is not None and await own.run == 0
        with pytest.raises(aiohttp.ClientPayloadError):
            await stuck.rest()  # cut after the grace: it never read what was sent
    assert events[-1].event == "end", events
    assert events[-1].data["data"]["reason"] == "shutdown"
    assert "stopping" in events[-1].data["data"]["message"]
