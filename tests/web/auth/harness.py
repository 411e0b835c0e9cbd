"""A running web server with the real accounts: AccountsService (cheap scrypt, a settable
monotonic clock), a real AuditLog file, the account routes, and helpers for clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from nvrd.accounts.rights import Rights
from nvrd.config import NvrConfig
from nvrd.system.auditlog import AuditLog, AuditRecord
from nvrd.web.api import ApiRegistry
from nvrd.web.api.auth import CSRF_HEADER
from nvrd.web.auth import AccountsService
from nvrd.web.routes.accounts import routes
from nvrd.web.server import WebService
from tests.accounts.helpers import FAST
from tests.daemon_harness import free_port
from tests.web.api.harness import status

ADMIN_PASSWORD = "Kx9#mQ2vLp"
USER_PASSWORD = "Tr4il-Ridge"


class MonoClock:
    """A monotonic clock tests advance (seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]
    text: str


@dataclass
class Env:
    service: AccountsService
    web: WebService
    audit: AuditLog
    clock: MonoClock
    url: str
    """``http(s)://127.0.0.1:<port>``, no trailing slash."""
    clients: list[aiohttp.ClientSession] = field(default_factory=list)

    def client(self) -> aiohttp.ClientSession:
        """A browser-like client: keeps cookies (also for an IP address host). Closed when
        the server stops, if the test did not close it."""
        client = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                       connector=aiohttp.TCPConnector(ssl=False))
        self.clients.append(client)
        return client

    async def call(self, client: aiohttp.ClientSession, method: str, path: str,
                   **kwargs: Any) -> Reply:
        async with client.request(method, self.url + path, **kwargs) as response:
            text = await response.text()
            body = await response.json() if response.content_type == "application/json" \
                else None
            return Reply(response.status, body, dict(response.headers), text)

    async def init(self, client: aiohttp.ClientSession, username: str = "admin",
                   password: str = ADMIN_PASSWORD) -> Reply:
        return await self.call(client, "POST", "/api/v1/init",
                               json={"username": username, "password": password})

    async def login(self, client: aiohttp.ClientSession, username: str,
                    password: str) -> Reply:
        return await self.call(client, "POST", "/api/v1/session",
                               json={"username": username, "password": password})

    async def admin(self) -> tuple[aiohttp.ClientSession, dict[str, str]]:
        """A logged-in admin client (initializing the box if needed) and its CSRF header."""
        client = self.client()
        reply = await self.init(client)
        if reply.status == 404:
            reply = await self.login(client, "admin", ADMIN_PASSWORD)
        assert reply.status == 201, reply.text
        return client, {CSRF_HEADER: reply.body["csrf_token"]}

    async def user(self, name: str, *, group: str = "user", rights: dict[str, Any] | None = None,
                   password: str = USER_PASSWORD) -> tuple[aiohttp.ClientSession, dict[str, str]]:
        """Create ``name`` (through the store, as the system) and log it in."""
        store = self.service.store
        assert store is not None
        store.create_user(name, password, group,
                          rights=Rights.from_json(rights) if rights is not None else None)
        client = self.client()
        reply = await self.login(client, name, password)
        assert reply.status == 201, reply.text
        return client, {CSRF_HEADER: reply.body["csrf_token"]}

    async def audit_rows(self) -> list[AuditRecord]:
        """Every audit row, oldest first (stops the audit log so its writer flushes)."""
        await self.audit.stop()
        rows = self.audit.query(limit=10_000)
        return list(reversed(rows))


@asynccontextmanager
async def running_accounts(tmp_path: Path, *, config: NvrConfig | None = None,
                           https: bool = False,
                           extra: tuple[ApiRegistry, ...] = ()) -> AsyncIterator[Env]:
    config = config or NvrConfig()
    clock = MonoClock()
    audit = AuditLog(tmp_path / "audit.db", 100_000)
    await audit.start()
    service = AccountsService(tmp_path / "accounts.db", config, audit, params=FAST,
                              clock=clock)
    await service.start()
    web = WebService("127.0.0.1", free_port(), https=https, tls_dir=tmp_path / "tls",
                     status=status, authenticator=service.authenticator,
                     apis=[routes, *extra])
    await web.start()
    assert web.url is not None
    env = Env(service, web, audit, clock, web.url.rstrip("/"))
    try:
        yield env
    finally:
        for client in env.clients:
            await client.close()
        await web.stop()
        await service.stop()
        await audit.stop()
