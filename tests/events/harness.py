"""The real daemon (``Application`` on the simulated board, in this process) for the event
engine's tests, with an admin logged in over HTTPS, a reader of the live event stream
(as EventSource reads it) and a poller of the event search API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from nvrd.app import Application
from nvrd.web.api.auth import CSRF_HEADER
from tests.daemon_harness import config_toml, free_port, running_app

ADMIN_PASSWORD = "Kestrel-Night-47x"
USER_PASSWORD = "Tr4il-Ridge-9"
HANG_GUARD_S = 30.0
"""Only so that a broken test fails instead of hanging; never a measure."""


@dataclass
class Client:
    session: aiohttp.ClientSession
    csrf: dict[str, str] = field(default_factory=dict)


class LiveReader:
    """Reads ``text/event-stream`` messages (comments and ``retry`` skipped)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self) -> tuple[str, dict[str, Any]]:
        fields: dict[str, str] = {}
        while True:
            raw = await self.response.content.readline()
            assert raw, "the live stream ended"
            line = raw.decode().rstrip("\n")
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
            elif "data" in fields:
                return fields.get("event", "message"), json.loads(fields["data"])

    async def event(self, found: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The data of the first ``event`` message ``found`` accepts."""
        async with asyncio.timeout(HANG_GUARD_S):
            while True:
                topic, message = await self.next()
                if topic == "event" and found(message["data"]):
                    return dict(message["data"])


@dataclass
class Box:
    app: Application
    base: str
    admin: Client
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)
    run: asyncio.Task[int] | None = None
    """The daemon's ``run()``: its exit status once stopped."""

    def new_client(self) -> Client:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                        connector=aiohttp.TCPConnector(ssl=False))
        self.sessions.append(session)
        return Client(session)

    async def call(self, client: Client, method: str, path: str, **kwargs: Any
                   ) -> tuple[int, Any]:
        headers = {**client.csrf, **kwargs.pop("headers", {})}
        async with client.session.request(method, self.base + path, headers=headers,
                                          **kwargs) as response:
            body = (await response.json() if response.content_type == "application/json"
                    else await response.text())
            return response.status, body

    async def login(self, name: str, password: str = USER_PASSWORD) -> Client:
        client = self.new_client()
        status, body = await self.call(client, "POST", "/api/v1/session",
                                       json={"username": name, "password": password})
        assert status == 201, body
        client.csrf = {CSRF_HEADER: body["csrf_token"]}
        return client

    async def group(self, name: str, rights: dict[str, Any]) -> None:
        status, body = await self.call(self.admin, "POST", "/api/v1/groups",
                                       json={"name": name, "rights": rights})
        assert status == 201, body

    async def user(self, name: str, rights: dict[str, Any], group: str = "user") -> Client:
        """A new user (created by the admin through the API), logged in."""
        status, body = await self.call(self.admin, "POST", "/api/v1/users", json={
            "name": name, "password": USER_PASSWORD, "rights": rights, "group": group})
        assert status == 201, body
        return await self.login(name)

    @asynccontextmanager
    async def live(self, client: Client | None = None) -> AsyncIterator[LiveReader]:
        client = client or self.admin
        async with client.session.get(self.base + "/api/v1/events/live",
                                      params={"topics": "event"},
                                      timeout=aiohttp.ClientTimeout(total=None)) as response:
            assert response.status == 200, await response.text()
            yield LiveReader(response)

    async def search(self, client: Client | None = None, **params: Any) -> dict[str, Any]:
        status, body = await self.call(client or self.admin, "GET", "/api/v1/events",
                                       params={k: str(v) for k, v in params.items()})
        assert status == 200, body
        return dict(body)

    async def logged(self, found: Callable[[dict[str, Any]], bool], **params: Any
                     ) -> dict[str, Any]:
        """The first event of a search ``found`` accepts, once the log has it (the log is
        written in batches)."""
        async with asyncio.timeout(HANG_GUARD_S):
            while True:
                for event in (await self.search(**params))["events"]:
                    if found(event):
                        return dict(event)
                await asyncio.sleep(0.1)


BoxT = TypeVar("BoxT", bound=Box)


def running_box(tmp_path: Path, extra: str = "") -> AbstractAsyncContextManager[Box]:
    """The daemon on the simulated board in ``tmp_path`` (``extra``: more configuration),
    initialized, with its admin logged in."""
    return running_box_of(Box, tmp_path, extra)


@asynccontextmanager
async def running_box_of(box_class: type[BoxT], tmp_path: Path, extra: str = ""
                         ) -> AsyncIterator[BoxT]:
    """``running_box`` yielding a ``box_class``: a ``Box`` with a test module's own
    helpers."""
    port = free_port()

    def ready(app: Application) -> bool:
        hardware = app.hardware
        return bool(app.events is not None and app.events.sources and hardware is not None
                    and hardware.alarm_io is not None and hardware.poe is not None)

    async with running_app(tmp_path, config_toml(port, extra=extra), ready) as (app, run):
        admin = Client(aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                             connector=aiohttp.TCPConnector(ssl=False)))
        box = box_class(app, f"https://127.0.0.1:{port}", admin, [admin.session], run)
        try:
            status, body = await box.call(admin, "POST", "/api/v1/init",
                                          json={"password": ADMIN_PASSWORD})
            assert status == 201, body
            admin.csrf = {CSRF_HEADER: body["csrf_token"]}
            yield box
        finally:
            for session in box.sessions:
                await session.close()
