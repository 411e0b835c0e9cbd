"""A web server with test routes and a header-based authenticator, for the API tests.

``X-Test-User: <name>`` logs in as a user of :class:`HeaderAuthenticator`; its rights are
plain strings, per-channel rights written ``live:3``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from nvrd.system.status import DaemonStatus
from nvrd.web.api.auth import AUTHENTICATOR_KEY
from nvrd.web.api.registry import ApiRegistry, RequestContext
from nvrd.web.limits import Limits
from nvrd.web.server import WebService
from tests.daemon_harness import free_port

USER_HEADER = "X-Test-User"


@dataclass(frozen=True, slots=True)
class TestPrincipal:
    name: str


@dataclass
class HeaderAuthenticator:
    users: Mapping[str, frozenset[str]] = field(default_factory=dict)
    is_initialized: bool = True
    asked: list[tuple[str, str, int | None]] = field(default_factory=list)

    async def initialized(self) -> bool:
        return self.is_initialized

    async def authenticate(self, request: web.Request) -> object | None:
        name = request.headers.get(USER_HEADER)
        return TestPrincipal(name) if name is not None and name in self.users else None

    def authorize(self, principal: object, right: str, channel: int | None) -> bool:
        assert isinstance(principal, TestPrincipal)
        self.asked.append((principal.name, right, channel))
        wanted = right if channel is None else f"{right}:{channel}"
        return wanted in self.users[principal.name]


class PortBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    port: int = Field(ge=1, le=65535)
    color: str = "blue"
    password: str | None = None


class PortOut(BaseModel):
    port: int
    by: str


class EchoQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n: int = Field(default=1, ge=1, le=10)
    tag: list[str] = []


class EchoOut(BaseModel):
    n: int
    tag: list[str]
    client_ip: str


class ChannelPath(BaseModel):
    channel: int = Field(ge=1, le=256)


class LiveOut(BaseModel):
    channel: int


routes = ApiRegistry(tags=("test",))


@routes.post("/api/v1/init", public=True, allow_uninitialized=True, only_uninitialized=True)
async def init(ctx: RequestContext) -> None:
    """Set up the recorder (the test's stand-in for the real first-boot endpoint)."""
    authenticator = ctx.app[AUTHENTICATOR_KEY]
    assert isinstance(authenticator, HeaderAuthenticator)
    authenticator.is_initialized = True


@routes.get("/api/v1/test/echo", query=EchoQuery, response=EchoOut)
async def echo(ctx: RequestContext[None, EchoQuery]) -> EchoOut:
    """Echo the query back (any logged-in user)."""
    return EchoOut(n=ctx.query.n, tag=ctx.query.tag, client_ip=ctx.client_ip)


@routes.put("/api/v1/test/port", body=PortBody, response=PortOut, right="network")
async def put_port(ctx: RequestContext[PortBody]) -> PortOut:
    """Change a port (needs the network right)."""
    assert isinstance(ctx.principal, TestPrincipal)
    return PortOut(port=ctx.body.port, by=ctx.principal.name)


@routes.get("/api/v1/test/channels/{channel:\\d+}/live", path_model=ChannelPath,
            response=LiveOut, channel_right=("live", "channel"))
async def live(ctx: RequestContext[None, None, ChannelPath]) -> LiveOut:
    """Live view of one channel (needs the live right on it)."""
    return LiveOut(channel=ctx.path.channel)


@routes.get("/api/v1/test/slow", response=LiveOut, timeout_s=0.05)
async def slow(ctx: RequestContext) -> LiveOut:
    """Takes longer than its timeout."""
    await asyncio.sleep(30)
    return LiveOut(channel=1)


@routes.get("/api/v1/test/upstream", response=LiveOut)
async def upstream(ctx: RequestContext) -> LiveOut:
    """A device the handler waits for does not answer."""
    raise TimeoutError


@routes.get("/api/v1/test/boom", response=LiveOut)
async def boom(ctx: RequestContext) -> LiveOut:
    """Fails unexpectedly."""
    raise RuntimeError("secret internals at /var/lib/nvrd")


@routes.get("/api/v1/test/wrong-type", response=LiveOut)
async def wrong_type(ctx: RequestContext) -> LiveOut:
    """Returns something else than it declares."""
    return {"channel": 1, "extra": "leak"}  # type: ignore[return-value]


@routes.get("/api/v1/test/text", response=str, media_type="text/plain", right="log_view")
async def text(ctx: RequestContext) -> web.Response:
    """Plain text, as /metrics answers."""
    return web.Response(text="hello\n")


def status() -> DaemonStatus:
    return DaemonStatus(version="0", started_us=0, uptime_s=1.0, board="sim",
                        config_source="file", config_error=None)


@dataclass(frozen=True, slots=True)
class Running:
    service: WebService
    url: str
    """``http(s)://127.0.0.1:<port>/``"""
    port: int


@asynccontextmanager
async def running_web(tmp_path: Path, authenticator: HeaderAuthenticator, *,
                      https: bool = False, limits: Limits | None = None,
                      http_redirect_port: int = 0) -> AsyncIterator[Running]:
    """A started WebService with the test routes; stopped on exit."""
    service = WebService("127.0.0.1", free_port(), https=https, tls_dir=tmp_path / "tls",
                         status=status, authenticator=authenticator, apis=[routes],
                         limits=limits or Limits(), http_redirect_port=http_redirect_port)
    await service.start()
    assert service.url is not None
    try:
        yield Running(service, service.url, service.port)
    finally:
        await service.stop()


async def raw_http(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client normalizing the path) and read the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body
