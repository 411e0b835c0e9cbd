"""Changing the recorder's own network over the web, safely (right ``network``).

The same flow as the console's ``net set`` / ``net dhcp`` / ``net confirm`` / ``net
revert`` (nvrd/console/commands/net.py), done by the same
:class:`~nvrd.system.network.settings.NetworkSettings` of the daemon's network service:

1. ``PUT /api/v1/system/network/interfaces/{name}`` applies a static address or a DHCP
   lease *now* and answers the pending change with its deadline;
2. unless ``POST /api/v1/system/network/confirm`` follows before the deadline, the
   previous settings come back by themselves (a wrong address cannot lock the installer
   out: the page that set it may no longer reach the box, and it does not have to);
3. ``POST /api/v1/system/network/revert`` undoes it at once.

One change is pending at a time, box-wide, whoever made it (a console technician sees a
web change and the other way round); a second one is refused (409). Every step is audited
by ``NetworkSettings`` (type ``network``) with the user and the source (``web <ip>``), as
the console's are; a confirmed change is saved to ``network.interfaces`` through the
daemon's configuration change (audited too).

``GET /api/v1/system/network/interfaces`` shows the interfaces as the network service
sees them (in its namespace, if it has one), the configured settings, the problems and
the pending change. ``GET /api/v1/system/network`` (system.py) stays the operating
system's view for dashboards.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nvrd.config.network import MAX_DNS_SERVERS, InterfaceConfig
from nvrd.system.network import NetworkError, NetworkService, NetworkView, PendingChange
from nvrd.system.network.settings import describe_setting
from nvrd.web.api.errors import ApiError, Conflict, RequestInvalid
from nvrd.web.api.registry import ApiRegistry, RequestContext
from nvrd.web.routes.common import daemon, source_of, unavailable, user_of

routes = ApiRegistry(tags=("system",))

APPLY_TIMEOUT_S = 120.0
"""Applying DHCP asks the server a few times (``DhcpClient.attempts`` × its pause)."""
INTERFACE_PATH = "/api/v1/system/network/interfaces/{name:[A-Za-z0-9_:-][A-Za-z0-9_.:-]{0,14}}"


# --- models -----------------------------------------------------------------------------

class InterfaceIn(BaseModel):
    """The new setting of one interface. ``static`` needs ``address`` (``A.B.C.D/P``);
    ``gateway`` must be in its subnet. ``dhcp`` takes no address or gateway; ``dns``
    given with it replaces the DHCP server's."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["dhcp", "static"]
    address: Annotated[str, Field(max_length=64)] | None = None
    gateway: Annotated[str, Field(max_length=64)] | None = None
    dns: Annotated[list[Annotated[str, Field(max_length=64)]],
                   Field(max_length=MAX_DNS_SERVERS)] = []


class InterfacePath(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str


class SettingOut(BaseModel):
    """An interface setting (as configured or as asked for)."""

    name: str
    mode: Literal["dhcp", "static"]
    address: str | None
    gateway: str | None
    dns: list[str]
    text: str
    """The setting in words (``lan0: 10.89.1.50/24 via 10.89.1.1``)."""

    @classmethod
    def of(cls, setting: InterfaceConfig) -> SettingOut:
        return cls(name=setting.name, mode=setting.mode, address=setting.address,
                   gateway=setting.gateway, dns=list(setting.dns),
                   text=describe_setting(setting))


class PendingOut(BaseModel):
    """A change applied and not confirmed yet: reverted at ``deadline`` unless confirmed."""

    interface: str
    setting: SettingOut
    applied: str
    """What was applied, in words (with the DHCP lease's address)."""
    address: str
    gateway: str | None
    dns: list[str]
    previous: str
    """What a revert puts back, in words."""
    previous_addresses: list[str]
    previous_gateway: str | None
    user: str
    source: str
    seconds_left: float
    deadline: dt.datetime
    """When the previous settings come back (the recorder's clock)."""

    @classmethod
    def of(cls, pending: PendingChange) -> PendingOut:
        applied, snapshot = pending.applied, pending.snapshot
        gateways = [r.gateway for r in snapshot.defaults
                    if r.dev == snapshot.interface and r.gateway]
        previous = f"{snapshot.interface}: {', '.join(snapshot.addresses) or 'no address'}"
        previous += f", gateway {gateways[0]}" if gateways else ", no gateway"
        left = pending.seconds_left()
        return cls(interface=pending.interface, setting=SettingOut.of(applied.setting),
                   applied=applied.describe(), address=applied.address,
                   gateway=applied.gateway, dns=list(applied.dns), previous=previous,
                   previous_addresses=list(snapshot.addresses),
                   previous_gateway=gateways[0] if gateways else None,
                   user=pending.user, source=pending.source, seconds_left=round(left, 1),
                   deadline=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=left))


class LinkOut(BaseModel):
    name: str
    up: bool
    carrier: bool
    """A cable (or peer) is there."""
    mac: str
    mtu: int
    addresses: list[str]
    """IPv4 with prefix length."""
    ipv6: list[str]


class RouteOut(BaseModel):
    interface: str
    gateway: str | None
    """None: directly on the link."""
    metric: int


class NetworkStateOut(BaseModel):
    """The recorder's network as its network service sees and sets it."""

    interfaces: list[LinkOut]
    default_routes: list[RouteOut]
    dns: list[str]
    """The DNS servers the recorder wrote; empty: the operating system's."""
    configured: list[SettingOut]
    """Settings the recorder applies at every start; empty: the operating system's own."""
    problems: dict[str, str]
    """Why a configured interface is not as configured, by interface."""
    pending: PendingOut | None
    confirm_seconds: int
    """How long a change waits for confirmation before it is reverted."""


class ConfirmedOut(BaseModel):
    kept: str
    """What is kept and saved, in words."""
    setting: SettingOut


class RevertedOut(BaseModel):
    reverted: str
    """What came back, in words."""


# --- helpers ----------------------------------------------------------------------------

def _service(ctx: RequestContext[Any, Any, Any]) -> NetworkService:
    service = getattr(daemon(ctx), "network", None)
    if not isinstance(service, NetworkService):
        raise unavailable("the network service", code="service_unavailable")
    return service


def _state(view: NetworkView, confirm_seconds: int) -> NetworkStateOut:
    return NetworkStateOut(
        interfaces=[LinkOut(name=link.name, up=link.up, carrier=link.carrier, mac=link.mac,
                            mtu=link.mtu, addresses=list(link.addresses),
                            ipv6=list(link.ipv6)) for link in view.links],
        default_routes=[RouteOut(interface=r.dev, gateway=r.gateway, metric=r.metric)
                        for r in view.defaults],
        dns=list(view.dns), configured=[SettingOut.of(s) for s in view.configured],
        problems=dict(view.problems),
        pending=PendingOut.of(view.pending) if view.pending is not None else None,
        confirm_seconds=confirm_seconds)


def _refused(exc: NetworkError) -> ApiError:
    """A pending change in the way, or nothing to confirm: 409; an apply that failed
    (the interface is as it was): 422 with the reason."""
    message = str(exc)
    if message.startswith("there is no network change"):
        return Conflict(message, code="no_pending_change")
    if message.endswith("confirm or revert it first"):
        return Conflict(message, code="network_change_pending")
    if message.startswith("the network service is stopping"):
        return ApiError(503, "service_unavailable", message)
    return ApiError(422, "network_change_failed", message)


# --- routes -----------------------------------------------------------------------------

@routes.get("/api/v1/system/network/interfaces", response=NetworkStateOut, right="network")
async def get_network_state(ctx: RequestContext) -> NetworkStateOut:
    """The interfaces (link, MAC, addresses), default routes and DNS as the recorder's
    network service sees them, the configured settings, and the change waiting for
    confirmation, if any."""
    settings = _service(ctx).settings
    try:
        view = await settings.view()
    except NetworkError as exc:
        raise ApiError(502, "network_unreadable", str(exc)) from None
    return _state(view, settings.confirm_seconds)


@routes.put(INTERFACE_PATH, path_model=InterfacePath, body=InterfaceIn, response=PendingOut,
            right="network", timeout_s=APPLY_TIMEOUT_S)
async def put_interface(ctx: RequestContext[InterfaceIn, None, InterfacePath]) -> PendingOut:
    """Set an interface now: a static address (with gateway and DNS) or a DHCP lease.

    The change applies at once and is *pending*: unless ``POST
    /api/v1/system/network/confirm`` follows before ``deadline``
    (``network.confirm_seconds``), the previous settings come back by themselves. 409
    while another change is pending; 422 when the setting is invalid or cannot be applied
    (the interface is then as it was)."""
    try:
        setting = InterfaceConfig.model_validate(
            {"name": ctx.path.name, **ctx.body.model_dump(exclude_none=True)})
    except ValidationError as exc:
        raise RequestInvalid.from_validation_error(exc, "body", InterfaceConfig) from None
    try:
        pending = await _service(ctx).settings.change(setting, user=user_of(ctx),
                                                      source=source_of(ctx))
    except NetworkError as exc:
        raise _refused(exc) from None
    return PendingOut.of(pending)


@routes.post("/api/v1/system/network/confirm", response=ConfirmedOut, right="network")
async def confirm_network(ctx: RequestContext) -> ConfirmedOut:
    """Keep the change waiting for confirmation: it is saved to the configuration
    (``network.interfaces``) and applied again at every start. 409 when none waits."""
    try:
        pending = await _service(ctx).settings.confirm(user=user_of(ctx),
                                                       source=source_of(ctx))
    except NetworkError as exc:
        raise _refused(exc) from None
    return ConfirmedOut(kept=pending.applied.describe(),
                        setting=SettingOut.of(pending.applied.setting))


@routes.post("/api/v1/system/network/revert", response=RevertedOut, right="network")
async def revert_network(ctx: RequestContext) -> RevertedOut:
    """Undo the change waiting for confirmation now. 409 when none waits."""
    try:
        pending = await _service(ctx).settings.revert(user=user_of(ctx),
                                                      source=source_of(ctx))
    except NetworkError as exc:
        raise _refused(exc) from None
    return RevertedOut(reverted=PendingOut.of(pending).previous)
