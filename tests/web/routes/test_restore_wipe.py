"""Restore defaults without keeping the users, end to end: the real daemon with its real
accounts (no test authenticator), a browser-like HTTPS client with cookies, an API token,
a locked address; afterwards the box is uninitialized as on first boot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from nvrd.accounts.rights import ADMIN_GROUP, USER_GROUP, Rights
from nvrd.app import Application
from nvrd.web.api.auth import CSRF_HEADER
from tests.daemon_harness import camera_toml, config_toml, free_port, running_app

PASSWORD = "Kestrel-Night-47x"
NEW_PASSWORD = "Harbour-Lamp-82q"
LOCKOUT = "[security]\nlockout_attempts = 3\n"


@dataclass
class Box:
    app: Application
    base: str
    clients: list[aiohttp.ClientSession] = field(default_factory=list)

    def client(self) -> aiohttp.ClientSession:
        client = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                       connector=aiohttp.TCPConnector(ssl=False))
        self.clients.append(client)
        return client

    async def call(self, client: aiohttp.ClientSession, method: str, path: str, *,
                   json: Any = None, headers: dict[str, str] | None = None
                   ) -> tuple[int, Any]:
        async with client.request(method, self.base + path, json=json,
                                  headers=headers) as response:
            return response.status, await response.json()


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    port = free_port()
    config = config_toml(port, cameras=camera_toml(1, "rtsp://127.0.0.1:9/cam1"),
                         extra=LOCKOUT)
    async with running_app(tmp_path, config) as (app, _):
        box = Box(app, f"https://127.0.0.1:{port}")
        try:
            yield box
        finally:
            for client in box.clients:
                await client.close()


async def test_restore_without_users_makes_the_box_uninitialized(box: Box) -> None:
    admin = box.client()
    status, session = await box.call(admin, "POST", "/api/v1/init",
                                     json={"username": "boss", "password": PASSWORD})
    assert status == 201, session
    csrf = {CSRF_HEADER: session["csrf_token"]}
    status, issued = await box.call(admin, "POST", "/api/v1/tokens", json={"name": "nms"},
                                    headers=csrf)
    assert status == 201, issued
    bearer = {"Authorization": f"Bearer {issued['secret']}"}
    store = box.app.accounts.store if box.app.accounts else None
    assert store is not None
    await asyncio.to_thread(store.create_group, "guards",
                            Rights.from_json({"system": ["log_view"]}))
    # a stranger locks the address out (3 wrong passwords)
    stranger = box.client()
    for _ in range(3):
        status, _ = await box.call(stranger, "POST", "/api/v1/session",
                                   json={"username": "boss", "password": "Wrong-Guess-11"})
    status, locked = await box.call(stranger, "POST", "/api/v1/session",
                                    json={"username": "boss", "password": PASSWORD})
    assert (status, locked["error"]["code"]) == (403, "locked")
    # keeping the users: the accounts, the session and the lock stay
    status, kept = await box.call(admin, "POST", "/api/v1/maintenance/restore-defaults",
                                  json={"keep_users": True}, headers=csrf)
    assert status == 200, kept
    assert box.app.config.cameras == ()
    assert (await box.call(admin, "GET", "/api/v1/session"))[0] == 200
    status, _ = await box.call(stranger, "POST", "/api/v1/session",
                               json={"username": "boss", "password": PASSWORD})
    assert status == 403

    status, done = await box.call(admin, "POST", "/api/v1/maintenance/restore-defaults",
                                  json={"keep_users": False}, headers=csrf)
    assert status == 202, done
    assert "initialized again" in done["message"] and "session has ended" in done["message"]

    # only init and health answer now, whoever asks
    for client, headers in ((admin, None), (box.client(), bearer)):
        for path in ("/api/v1/session", "/api/v1/system", "/api/v1/cameras"):
            status, answer = await box.call(client, "GET", path, headers=headers)
            assert (status, answer["error"]["code"]) == (403, "uninitialized"), path
    assert (await box.call(box.client(), "GET", "/api/v1/health"))[0] == 200
    assert await asyncio.to_thread(store.list_users) == []
    assert await asyncio.to_thread(store.list_tokens) == []
    groups = await asyncio.to_thread(store.list_groups)
    assert sorted(g.name for g in groups) == [ADMIN_GROUP, USER_GROUP]

    # first boot again; the old session and token stay dead, the lock is gone
    fresh = box.client()
    status, again = await box.call(fresh, "POST", "/api/v1/init",
                                   json={"username": "chief", "password": NEW_PASSWORD})
    assert status == 201, again
    status, answer = await box.call(admin, "GET", "/api/v1/session")
    assert status == 401, answer
    status, answer = await box.call(box.client(), "GET", "/api/v1/system", headers=bearer)
    assert (status, answer["error"]["code"]) == (401, "token_refused")
    status, login = await box.call(box.client(), "POST", "/api/v1/session",
                                   json={"username": "chief", "password": NEW_PASSWORD})
    assert status == 201 and login["user"] == "chief"
    status, old = await box.call(box.client(), "POST", "/api/v1/session",
                                 json={"username": "boss", "password": PASSWORD})
    assert status == 401, old

    status, rows = await box.call(fresh, "GET", "/api/v1/logs?type=security&limit=1000")
    assert status == 200, rows
    wiped = [r for r in rows if r["action"].startswith("accounts wiped")]
    assert len(wiped) == 1
    assert (wiped[0]["user"], wiped[0]["source"]) == ("boss", "web 127.0.0.1")
