"""Console commands for the recorder's network: show it, change it safely, ping.

``net set`` and ``net dhcp`` apply at once and are undone after
``network.confirm_seconds`` unless ``net confirm`` follows (the vendor's "risky settings
use apply-with-confirm and auto-revert"): a technician who cuts the box off its network
gets the old settings back without touching it. The pending change belongs to the
network service, not to this session, so a second technician sees it (``net show``) and
cannot stack another change on it. Confirmed changes are saved to ``network.interfaces``
and applied at every start. The work is done by
:class:`nvrd.system.network.settings.NetworkSettings`, which also audits it (source
"console", the logged-in user).
"""

from __future__ import annotations

from pydantic import ValidationError

from nvrd.config import ConfigError
from nvrd.config.network import MAX_DNS_SERVERS, InterfaceConfig
from nvrd.console.registry import Command, CommandError, Context, UsageError, table
from nvrd.system.network import (
    IpError,
    LinkState,
    NetworkError,
    NetworkService,
    NetworkView,
    PendingChange,
)
from nvrd.system.network.ping import MAX_COUNT
from nvrd.system.network.settings import Snapshot, describe_setting

__all__ = ["COMMANDS"]

DEFAULT_PING_COUNT = 3


def _network(ctx: Context) -> NetworkService:
    service: NetworkService = ctx.service("network")
    return service


def _link_text(link: LinkState) -> str:
    if not link.up:
        return "down"
    return "up" if link.carrier else "no carrier"


def _pending_text(pending: PendingChange) -> str:
    return (f"{pending.applied.describe()}, by {pending.user or '?'} — reverted in "
            f"{pending.seconds_left():.0f} s unless 'net confirm'")


def _snapshot_text(snapshot: Snapshot) -> str:
    text = f"{snapshot.interface}: {', '.join(snapshot.addresses) or 'no address'}"
    gateways = [r.gateway for r in snapshot.defaults
                if r.dev == snapshot.interface and r.gateway]
    return text + (f", gateway {gateways[0]}" if gateways else ", no gateway")


def show_view(view: NetworkView) -> str:
    """``net show``'s text."""
    rows = [(link.name, _link_text(link), link.mac or "-", link.mtu,
             " ".join(link.addresses) or "-") for link in view.links]
    lines = [table(["INTERFACE", "LINK", "MAC", "MTU", "IPV4"], rows)]
    for link in view.links:
        if link.ipv6:
            lines.append(f"{link.name} IPv6: {' '.join(link.ipv6)}")
    gateways = [f"{r.gateway or 'on-link'} ({r.dev}{f', metric {r.metric}' if r.metric else ''})"
                for r in view.defaults]
    lines.append(f"default gateway: {', '.join(gateways) or 'none'}")
    lines.append(f"DNS: {' '.join(view.dns) or 'not set by the recorder'}")
    configured = [describe_setting(s) for s in view.configured]
    lines.append("configured: " + ("; ".join(configured) if configured else
                                   "nothing (the operating system's settings)"))
    for name, problem in sorted(view.problems.items()):
        lines.append(f"problem: {name}: {problem}")
    if view.pending is not None:
        lines.append(f"pending: {_pending_text(view.pending)}")
    return "\n".join(lines)


async def _show(ctx: Context, args: list[str]) -> None:
    if args:
        raise UsageError("net show takes no arguments")
    try:
        view = await _network(ctx).settings.view()
    except NetworkError as exc:
        raise CommandError(str(exc)) from None
    ctx.out(show_view(view))


def _setting(**fields: object) -> InterfaceConfig:
    """The validated setting, or the schema's words for what is wrong with it."""
    try:
        return InterfaceConfig.model_validate(fields)
    except ValidationError as exc:
        problems = ConfigError.from_validation_error(exc, "net", model=InterfaceConfig).problems
        raise CommandError("; ".join(f"{p.path}: {p.message}" if p.path else p.message
                                     for p in problems)) from None


def parse_set(args: list[str]) -> InterfaceConfig:
    """``IFACE ADDRESS/PREFIX [[gw] GATEWAY] [dns IP...]`` → a static setting."""
    if len(args) < 2:
        raise UsageError("name the interface and the address with its prefix length")
    name, address, rest = args[0], args[1], list(args[2:])
    gateway: str | None = None
    if rest and rest[0].lower() in ("gw", "gateway", "via"):
        rest = rest[1:]
        if not rest or rest[0].lower() == "dns":
            raise UsageError("'gw' needs the gateway's address")
    if rest and rest[0].lower() != "dns":
        gateway, rest = rest[0], rest[1:]
    dns: list[str] = []
    if rest:
        if rest[0].lower() != "dns" or len(rest) == 1:
            raise UsageError(f"unexpected {rest[0]!r}: DNS servers follow the word 'dns'")
        dns = rest[1:]
        if len(dns) > MAX_DNS_SERVERS:
            raise CommandError(f"at most {MAX_DNS_SERVERS} DNS servers")
    return _setting(name=name, mode="static", address=address, gateway=gateway,
                    dns=tuple(dns))


async def _apply(ctx: Context, setting: InterfaceConfig) -> None:
    settings = _network(ctx).settings
    try:
        pending = await settings.change(setting, user=ctx.username, source="console")
    except NetworkError as exc:
        raise CommandError(str(exc)) from None
    seconds = settings.confirm_seconds
    ctx.out(f"applied: {pending.applied.describe()}")
    ctx.out(f"was:     {_snapshot_text(pending.snapshot)}")
    ctx.out(f"type 'net confirm' within {seconds} s, or the previous settings come back")


async def _set(ctx: Context, args: list[str]) -> None:
    await _apply(ctx, parse_set(args))


async def _dhcp(ctx: Context, args: list[str]) -> None:
    if len(args) != 1:
        raise UsageError("name the interface")
    setting = _setting(name=args[0], mode="dhcp")
    dhcp = _network(ctx).settings.dhcp
    ctx.out(f"asking for a DHCP lease on {setting.name} (up to "
            f"{dhcp.attempts * dhcp.pause_seconds} s)...")
    await _apply(ctx, setting)


async def _confirm(ctx: Context, args: list[str]) -> None:
    if args:
        raise UsageError("net confirm takes no arguments")
    try:
        pending = await _network(ctx).settings.confirm(user=ctx.username, source="console")
    except NetworkError as exc:
        raise CommandError(str(exc)) from None
    ctx.out(f"kept: {pending.applied.describe()}")
    ctx.out("saved to the configuration: applied again at every start")


async def _revert(ctx: Context, args: list[str]) -> None:
    if args:
        raise UsageError("net revert takes no arguments")
    try:
        pending = await _network(ctx).settings.revert(user=ctx.username, source="console")
    except NetworkError as exc:
        raise CommandError(str(exc)) from None
    ctx.out(f"reverted: {_snapshot_text(pending.snapshot)}")


async def _ping(ctx: Context, args: list[str]) -> None:
    if not 1 <= len(args) <= 2:
        raise UsageError("name the host to ping")
    count = DEFAULT_PING_COUNT
    if len(args) == 2:
        if not args[1].isdigit() or not 1 <= int(args[1]) <= MAX_COUNT:
            raise UsageError(f"the count must be a number from 1 to {MAX_COUNT}")
        count = int(args[1])
    ctx.out(f"pinging {args[0]} {count} time{'s' if count > 1 else ''}...")
    try:
        result = await _network(ctx).ping(args[0], count)
    except (ValueError, IpError) as exc:
        raise CommandError(str(exc)) from None
    ctx.out(result.summary())


COMMANDS = [
    Command("net show", _show, "interfaces (link, MAC, addresses), gateway, DNS, the "
            "configured settings and a change waiting for confirmation",
            aliases=("ifconfig",)),
    Command("net set", _set, "set a static address now; reverted unless 'net confirm'",
            usage="IFACE ADDRESS/PREFIX [GATEWAY] [dns IP...]", right="network",
            details="Example: net set eth0 192.168.1.20/24 192.168.1.1 dns 192.168.1.1. "
                    "The change applies at once; unless 'net confirm' follows within "
                    "network.confirm_seconds (60 s at the factory) the previous settings "
                    "come back, so a wrong address cannot lock the box out. One change "
                    "may wait for confirmation at a time."),
    Command("net dhcp", _dhcp, "get an address from a DHCP server now; reverted unless "
            "'net confirm'", usage="IFACE", right="network",
            details="Asks a DHCP server for address, gateway and DNS and applies them; "
                    "like 'net set', reverted unless confirmed. Confirmed, the interface "
                    "keeps renewing its lease."),
    Command("net confirm", _confirm, "keep the change waiting for confirmation and save it",
            right="network"),
    Command("net revert", _revert, "undo the change waiting for confirmation now",
            right="network"),
    Command("net ping", _ping, "ping a host from the recorder's network",
            usage=f"HOST [COUNT (1-{MAX_COUNT}, default {DEFAULT_PING_COUNT})]",
            aliases=("ping",)),
]
