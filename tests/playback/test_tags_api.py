"""Tags through the API of the real daemon (``Application`` on the simulated board, in
this process, with a recording volume and no camera), with the rights of several users
from the test's header authenticator."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from nvrd.app import Application
from nvrd.storage.volume import prepare_volume
from tests.daemon_harness import config_toml, free_port, running_app
from tests.web.api.harness import USER_HEADER, HeaderAuthenticator

ALICE, BOB, CAROL, CURATOR = "alice", "bob", "carol", "curator"
USERS = {
    ALICE: frozenset({"playback:1", "playback:2"}),
    BOB: frozenset({"playback:1"}),
    CAROL: frozenset({"live:1"}),
    CURATOR: frozenset({"storage", "playback:1", "playback:2"}),
}
T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
HANG_GUARD_S = 30.0


@dataclass
class Nvr:
    app: Application
    session: aiohttp.ClientSession
    base: str

    async def call(self, method: str, path: str, user: str, *, json: Any = None,
                   params: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, json=json,
                                        params=params, headers={USER_HEADER: user}) as reply:
            body = (await reply.json() if reply.content_type == "application/json"
                    else await reply.text())
            return reply.status, body

    async def tag(self, user: str, channel: int, at: dt.datetime, name: str,
                  note: str | None = None) -> dict[str, Any]:
        status, body = await self.call("POST", f"/api/v1/channels/{channel}/tags", user,
                                       json={"at": at.isoformat(), "name": name,
                                             **({"note": note} if note else {})})
        assert status == 201, body
        return dict(body)

    async def find(self, user: str, **params: Any) -> tuple[int, Any]:
        query = [(k, str(v)) for k, values in params.items()
                 for v in (values if isinstance(values, list) else [values])]
        return await self.call("GET", "/api/v1/tags", user, params=query)


@pytest.fixture
async def nvr(tmp_path: Path) -> AsyncIterator[Nvr]:
    prepare_volume(tmp_path / "disk", "disk")
    port = free_port()
    config = config_toml(port, extra=f'[[storage.volumes]]\npath = "{tmp_path / "disk"}"\n')
    async with running_app(tmp_path, config, authenticator=HeaderAuthenticator(USERS)) \
            as (app, _run), \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
        yield Nvr(app, session, f"https://127.0.0.1:{port}")


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def names(page: dict[str, Any]) -> list[str]:
    return [tag["name"] for tag in page["tags"]]


async def test_tags_are_added_and_found_by_channel_time_and_text(nvr: Nvr) -> None:
    van = await nvr.tag(ALICE, 1, at(10), "Van at the gate", "white, no plates")
    await nvr.tag(ALICE, 2, at(20), "Back door open")
    await nvr.tag(BOB, 1, at(30), "Person with a ladder")
    assert (van["channel"], van["name"], van["note"], van["created_by"]) == (
        1, "Van at the gate", "white, no plates", ALICE)
    assert dt.datetime.fromisoformat(van["at"]) == at(10)
    assert van["url"] == f"/api/v1/tags/{van['id']}"
    assert van["recorded"] is False, "nothing is recorded on this box"

    # play from `before` seconds ahead, up to 5 minutes after
    status, page = await nvr.find(ALICE, channel=1, before=30)
    assert status == 200, page
    assert names(page) == ["Person with a ladder", "Van at the gate"]  # newest first
    tag = page["tags"][1]
    assert dt.datetime.fromisoformat(tag["play_from"]) == at(10 - 30)
    link = urlsplit(tag["playback_url"])
    assert link.path == "/api/v1/channels/1/recordings.mp4"
    query = parse_qs(link.query)
    assert dt.datetime.fromisoformat(query["start"][0]) == at(10 - 30)
    assert dt.datetime.fromisoformat(query["end"][0]) == at(10 + 300)
    status, page = await nvr.find(ALICE, channel=1)
    assert dt.datetime.fromisoformat(page["tags"][1]["play_from"]) == at(0), "10 s default"

    # several channels, a time range, text in the name or the note
    status, page = await nvr.find(ALICE, channel=[1, 2])
    assert names(page) == ["Person with a ladder", "Back door open", "Van at the gate"]
    status, page = await nvr.find(ALICE, start=at(10).isoformat(), end=at(30).isoformat())
    assert names(page) == ["Back door open", "Van at the gate"]
    status, page = await nvr.find(ALICE, q="PLATES")
    assert names(page) == ["Van at the gate"]

    # pages
    status, page = await nvr.find(ALICE, limit=2)
    assert names(page) == ["Person with a ladder", "Back door open"] and page["next_cursor"]
    status, page = await nvr.find(ALICE, limit=2, cursor=page["next_cursor"])
    assert names(page) == ["Van at the gate"] and page["next_cursor"] is None


async def test_only_channels_one_may_play_back_are_seen(nvr: Nvr) -> None:
    await nvr.tag(ALICE, 1, at(10), "Van")
    door = await nvr.tag(ALICE, 2, at(20), "Door")

    status, page = await nvr.find(BOB)
    assert status == 200 and names(page) == ["Van"], "channel 2's tag shown to bob"
    status, body = await nvr.find(BOB, channel=2)
    assert status == 403 and "'playback' right on channel 2" in body["error"]["message"]
    status, body = await nvr.call("GET", door["url"], BOB)
    assert status == 403, body
    status, page = await nvr.find(CAROL)
    assert status == 200 and page["tags"] == [], "live view alone shows no tags"
    status, body = await nvr.call("POST", "/api/v1/channels/1/tags", CAROL,
                                  json={"at": at(5).isoformat(), "name": "x"})
    assert status == 403, body


async def test_only_the_creator_or_the_storage_right_changes_a_tag(nvr: Nvr) -> None:
    van = await nvr.tag(ALICE, 1, at(10), "Van", "white")
    status, body = await nvr.call("PATCH", van["url"], BOB, json={"name": "Truck"})
    assert status == 403 and "made by alice" in body["error"]["message"], body
    status, body = await nvr.call("DELETE", van["url"], BOB)
    assert status == 403, body

    status, body = await nvr.call("PATCH", van["url"], ALICE, json={"name": "  Truck  "})
    assert status == 200, body
    assert (body["name"], body["note"]) == ("Truck", "white") and body["updated"]
    status, body = await nvr.call("PATCH", van["url"], CURATOR, json={"note": None})
    assert status == 200 and (body["name"], body["note"]) == ("Truck", None), body
    status, body = await nvr.call("GET", van["url"], BOB)
    assert status == 200 and body["name"] == "Truck", body

    status, body = await nvr.call("DELETE", van["url"], CURATOR)
    assert status == 204, body
    status, body = await nvr.call("GET", van["url"], ALICE)
    assert status == 404, body

    audit = nvr.app.audit
    assert audit is not None
    async with asyncio.timeout(HANG_GUARD_S):  # the audit log is written in batches
        while True:
            actions = [(r.action, r.user) for r in await asyncio.to_thread(
                audit.query, type="playback")]
            if len(actions) >= 4:
                break
            await asyncio.sleep(0.1)
    assert actions == [("channel 1 tag deleted", CURATOR), ("channel 1 tag changed", CURATOR),
                       ("channel 1 tag changed", ALICE), ("channel 1 tag added", ALICE)]


BAD_BODIES = [
    {"at": "2026-03-01T08:00:00Z", "name": "   "},
    {"at": "2026-03-01T08:00:00Z", "name": "x" * 65},
    {"at": "2026-03-01T08:00:00", "name": "no zone"},
    {"at": "9999-12-31T23:59:00Z", "name": "too late"},
    {"at": "2026-03-01T08:00:00Z", "name": "x", "note": "n" * 1001},
    {"at": "2026-03-01T08:00:00Z", "name": "x", "colour": "red"},
]


async def test_a_bad_tag_is_refused(nvr: Nvr) -> None:
    for body in BAD_BODIES:
        status, answer = await nvr.call("POST", "/api/v1/channels/1/tags", ALICE, json=body)
        assert status == 422, (body, answer)
    status, page = await nvr.find(ALICE)
    assert page["tags"] == []
