"""The fake cameras' ONVIF web services: one aiohttp site per camera, SOAP dispatch, auth.

Every camera listens on its own HTTP port and serves the device (``/onvif/device_service``),
media, events and PTZ services plus its PullPoint subscriptions
(``/onvif/pullpoint/<id>``). A request is routed by its operation's qualified name, not its
path (cameras are lenient there too); only the subscription operations need the path, to
know which subscription they mean.

Authorization, in this order (issue 8's decisions):

1. GetSystemDateAndTime is always anonymous (clients read the clock before they sign).
2. An inactive camera (no user yet) refuses everything with ``ter:NotAuthorized`` "…not
   activated…", except an anonymous CreateUsers, which activates it.
3. A locked camera refuses everything, also the right password, with "…locked…".
4. A valid HTTP digest or WS-Security UsernameToken admits the request. No credentials at
   all: 401 with a digest challenge (not counted). Wrong ones: a counted failure, HTTP 400
   "Sender not authorized" (401 with a fresh challenge for a wrong digest);
   ``LOCK_AFTER_FAILURES`` within ``LOCK_WINDOW_S`` lock the camera.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from lxml import etree  # type: ignore[import-untyped]

from tools.fakecam.onvif.soap import (
    NS,
    SOAP_CONTENT_TYPE,
    Request,
    SoapFault,
    envelope,
    not_supported,
    parse_request,
    sender_fault,
    username_token,
)
from tools.fakecam.onvif.state import Camera

log = logging.getLogger("fakecam.onvif")

DEVICE_PATH = "/onvif/device_service"
MEDIA_PATH = "/onvif/media_service"
EVENTS_PATH = "/onvif/events_service"
PTZ_PATH = "/onvif/ptz_service"
PULLPOINT_PREFIX = "/onvif/pullpoint/"
ANONYMOUS_OPERATIONS = frozenset({"GetSystemDateAndTime"})
CAMERA_KEY = web.AppKey("camera", Camera)

NOT_AUTHORIZED = "Sender not authorized"
NOT_ACTIVATED = ("Sender not authorized: the camera is not activated; set the administrator "
                 "password first (CreateUsers)")


@dataclass(slots=True)
class Call:
    """One SOAP request as a handler sees it."""

    camera: Camera
    request: Request
    host: str  # the camera's address as the client wrote it (Host header), for URLs
    port: int
    local_address: str  # the IP the request arrived on (GetNetworkInterfaces)
    path: str
    username: str | None = None  # None: anonymous

    @property
    def op(self) -> etree._Element:
        return self.request.operation

    def url(self, path: str, scheme: str = "http", port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{port if port is not None else self.port}{path}"

    def subscription_id(self) -> str | None:
        if self.path.startswith(PULLPOINT_PREFIX):
            return self.path[len(PULLPOINT_PREFIX):] or None
        return None

    @property
    def camera_now(self) -> dt.datetime:
        return self.camera.clock.now()


Handler = Callable[[Call], Awaitable[etree._Element]]


def operations() -> dict[str, Handler]:
    """Every operation the fake implements, by ``{namespace}Name``."""
    from tools.fakecam.onvif import device, events, media, ptz

    table: dict[str, Handler] = {}
    for module in (device, media, events, ptz):
        table.update(module.OPERATIONS)
    return table


def make_app(camera: Camera) -> web.Application:
    app = web.Application(client_max_size=1 << 20)
    app[CAMERA_KEY] = camera
    table = operations()

    async def handle(request: web.Request) -> web.Response:
        return await _handle(request, camera, table)

    app.router.add_post("/onvif/{tail:.*}", handle)
    return app


async def _handle(http: web.Request, camera: Camera, table: dict[str, Handler]) -> web.Response:
    local = _local_address(http)
    host = http.url.host or local
    port = http.url.port or camera.port
    try:
        request = parse_request(await http.read())
        call = Call(camera, request, host, port, local, http.path)
        name = f"{{{request.op_namespace}}}{request.op_name}"
        handler = table.get(name)
        if handler is None:
            raise not_supported(request.op_name)
        _authorize(call, http)
        body = await handler(call)
        log.debug("%s: %s ok", camera.config.name, request.op_name)
        return _soap_response(envelope(body), 200)
    except SoapFault as fault:
        log.info("%s: %s: fault %s %s", camera.config.name, http.path, fault.subcodes,
                 fault.reason)
        return _soap_response(envelope(fault.body()), fault.status, fault.headers)
    except Exception as exc:  # a bug here: answer as a camera would, and say what broke
        log.exception("%s: %s failed", camera.config.name, http.path)
        internal = SoapFault("env:Receiver", ("ter:Action",), f"Internal error: {exc!r}")
        return _soap_response(envelope(internal.body()), internal.status)


def _soap_response(body: bytes, status: int, headers: dict[str, str] | None = None
                   ) -> web.Response:
    return web.Response(body=body, status=status, headers=headers,
                        content_type=SOAP_CONTENT_TYPE, charset="utf-8")


def _local_address(http: web.Request) -> str:
    sockname = http.transport.get_extra_info("sockname") if http.transport else None
    return str(sockname[0]) if sockname else "127.0.0.1"


def _authorize(call: Call, http: web.Request) -> None:
    """Admit the request or raise the fault a camera answers (see the module docstring)."""
    op = call.request.op_name
    accounts = call.camera.accounts
    if op in ANONYMOUS_OPERATIONS:
        return
    if not accounts.active:
        if op == "CreateUsers":
            return
        raise sender_fault("ter:NotAuthorized", reason=NOT_ACTIVATED)
    now = time.monotonic()
    locked_for = accounts.locked_for(now)
    if locked_for:
        raise _locked_fault(locked_for)
    passwords = accounts.passwords()
    digest, digest_user = call.camera.digest.check(
        http.headers.get("Authorization"), http.method, http.path_qs, passwords)
    if digest == "ok":
        call.username = digest_user
        return
    token = username_token(call.request.header)
    if token is not None:
        password = passwords.get(token.username)
        if password is not None and token.matches(password) and _fresh(call, token.created_at()):
            call.username = token.username
            return
    if token is not None or digest == "invalid":
        accounts.record_failure(now)
        log.info("%s: failed login as %r (%d failures)", call.camera.config.name,
                 token.username if token else digest_user, accounts.auth_failures)
    if token is None:  # only HTTP auth was tried (or none): challenge for digest
        challenge = call.camera.digest.challenge(stale=digest == "stale")
        raise SoapFault("env:Sender", ("ter:NotAuthorized",), NOT_AUTHORIZED, status=401,
                        headers={"WWW-Authenticate": challenge})
    raise sender_fault("ter:NotAuthorized", reason=NOT_AUTHORIZED)


def _locked_fault(seconds: float) -> SoapFault:
    return sender_fault("ter:NotAuthorized", reason=(
        f"{NOT_AUTHORIZED}: the account is locked after too many failed logins "
        f"({seconds:.0f} s left)"))


def _fresh(call: Call, created: dt.datetime | None) -> bool:
    """Whether a token's Created time is near enough the camera's clock (when checked)."""
    skew = call.camera.config.wsse_max_skew_s
    if skew is None:
        return True
    if created is None:
        return False
    return abs((created - call.camera_now).total_seconds()) <= skew


def require_admin(call: Call) -> None:
    """Raise unless the caller is an Administrator (anonymous activation is handled by the
    operation itself)."""
    user = call.camera.accounts.users.get(call.username or "")
    if user is None or user.level != "Administrator":
        raise sender_fault("ter:NotAuthorized", reason=f"{NOT_AUTHORIZED}: needs an "
                                                       "Administrator")


def service_xaddrs(call: Call) -> dict[str, str]:
    """The camera's services: namespace -> XAddr, as the client addressed the camera."""
    xaddrs = {NS["tds"]: call.url(DEVICE_PATH), NS["trt"]: call.url(MEDIA_PATH),
              NS["tev"]: call.url(EVENTS_PATH)}
    if call.camera.config.ptz:
        xaddrs[NS["tptz"]] = call.url(PTZ_PATH)
    return xaddrs
