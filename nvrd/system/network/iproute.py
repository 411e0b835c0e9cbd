"""Reading and setting interfaces with iproute2's ``ip``, optionally in a network namespace.

State is read as JSON (``ip -j addr show``, ``ip -j -4 route show default``), so nothing
depends on the text layout of a given iproute2 version. Changes are the few commands a
recorder needs: flush the IPv4 addresses of one interface, add one, set the link up, and
replace or drop the default route. IPv6 is left to the kernel (SLAAC) and never touched.

Every command may run inside a network namespace (``ip -n NS ...``; other programs through
``ip netns exec NS ...``): that is how the tests, and a simulated board in its own
namespace, use this without touching the host's network.

Commands run as asyncio subprocesses with a timeout; a failure raises :class:`IpError`
with the command and ``ip``'s own message.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DefaultRoute", "IpError", "IpRoute", "LinkState", "ip_binary"]

COMMAND_TIMEOUT_S = 10.0


class IpError(RuntimeError):
    """An ``ip`` (or other network) command failed; the message says which and why."""


def ip_binary() -> str:
    return shutil.which("ip") or "/usr/sbin/ip"


@dataclass(frozen=True, slots=True)
class LinkState:
    """One interface as the kernel has it."""

    name: str
    up: bool
    """Administratively up (``ip link set up``)."""
    carrier: bool
    """A cable (or peer) is there: ``LOWER_UP``."""
    mac: str
    mtu: int
    addresses: tuple[str, ...]
    """IPv4 addresses with prefix: ``192.168.1.20/24``."""
    ipv6: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DefaultRoute:
    """An IPv4 default route: through ``gateway`` (None: directly on the link) on ``dev``."""

    dev: str
    gateway: str | None
    metric: int = 0


class IpRoute:
    """``ip`` on the host, or inside network namespace ``netns``."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns

    def exec_argv(self, argv: Sequence[str]) -> list[str]:
        """Another program's command line, run in this namespace (if any)."""
        if self.netns is None:
            return list(argv)
        return [ip_binary(), "netns", "exec", self.netns, *argv]

    async def run(self, *args: str, timeout: float = COMMAND_TIMEOUT_S) -> str:
        """``ip [-n NS] ARGS``; its output. ``IpError`` when it fails."""
        argv = [ip_binary(), *(("-n", self.netns) if self.netns else ()), *args]
        code, out, err = await run_command(argv, timeout)
        if code != 0:
            raise IpError(f"{' '.join(argv[1:])}: {err.strip() or f'exit status {code}'}")
        return out

    # --- reading -------------------------------------------------------------------

    async def links(self) -> list[LinkState]:
        """Every interface but loopback, by name."""
        data = _json(await self.run("-j", "addr", "show"))
        return sorted((_link(item) for item in data if "LOOPBACK" not in item.get("flags", ())),
                      key=lambda link: link.name)

    async def link(self, name: str) -> LinkState:
        """One interface; ``IpError`` saying so when there is none of that name."""
        try:
            data = _json(await self.run("-j", "addr", "show", "dev", name))
        except IpError as exc:
            if "does not exist" in str(exc) or "Cannot find device" in str(exc):
                raise IpError(f"there is no network interface {name!r}") from None
            raise
        if not data:
            raise IpError(f"there is no network interface {name!r}")
        return _link(data[0])

    async def default_routes(self) -> list[DefaultRoute]:
        """The IPv4 default routes of the main table."""
        data = _json(await self.run("-j", "-4", "route", "show", "default"))
        return [DefaultRoute(dev=str(item.get("dev", "")), gateway=item.get("gateway"),
                             metric=int(item.get("metric", 0))) for item in data
                if item.get("dev")]

    # --- changing ------------------------------------------------------------------

    async def set_up(self, name: str, up: bool = True) -> None:
        await self.run("link", "set", "dev", name, "up" if up else "down")

    async def flush_ipv4(self, name: str) -> None:
        """Drop every IPv4 address of ``name`` (the kernel drops the routes through them,
        the default route included)."""
        await self.run("-4", "addr", "flush", "dev", name)

    async def add_address(self, name: str, address: str) -> None:
        interface = ipaddress.IPv4Interface(address)
        # the subnet's broadcast address (none on point-to-point /31 and host /32 subnets)
        broadcast = ("broadcast", "+") if interface.network.prefixlen <= 30 else ()
        await self.run("addr", "replace", str(interface), *broadcast, "dev", name)

    async def set_addresses(self, name: str, addresses: Sequence[str]) -> None:
        """Make ``addresses`` the interface's only IPv4 addresses (link set up first)."""
        await self.set_up(name)
        await self.flush_ipv4(name)
        for address in addresses:
            await self.add_address(name, address)

    async def replace_default(self, route: DefaultRoute) -> None:
        args = ["-4", "route", "replace", "default"]
        if route.gateway is not None:
            args += ["via", route.gateway]
        args += ["dev", route.dev]
        if route.metric:
            args += ["metric", str(route.metric)]
        await self.run(*args)

    async def drop_defaults(self, name: str) -> None:
        """Remove every IPv4 default route through ``name``."""
        for route in await self.default_routes():
            if route.dev == name:
                args = ["-4", "route", "del", "default", "dev", name]
                if route.metric:
                    args += ["metric", str(route.metric)]
                with contextlib.suppress(IpError):  # gone meanwhile
                    await self.run(*args)


async def run_command(argv: Sequence[str], timeout: float) -> tuple[int, str, str]:
    """Run ``argv``; (exit status, stdout, stderr). ``IpError`` if it cannot be started or
    takes longer than ``timeout`` (it is killed). Cancelling kills it too."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        raise IpError(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except BaseException as exc:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        with contextlib.suppress(Exception):
            await asyncio.shield(process.wait())
        if isinstance(exc, TimeoutError):
            raise IpError(f"{' '.join(argv)}: no answer within {timeout:g} s") from None
        raise
    assert process.returncode is not None
    return (process.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def _json(text: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text or "[]")
    except ValueError as exc:
        raise IpError(f"unexpected output from ip: {text[:80]!r}") from exc
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def _link(item: dict[str, Any]) -> LinkState:
    flags = item.get("flags", ())
    infos = item.get("addr_info", ())
    return LinkState(
        name=str(item.get("ifname", "")),
        up="UP" in flags,
        carrier="LOWER_UP" in flags,
        mac=str(item.get("address", "")),
        mtu=int(item.get("mtu", 0)),
        addresses=tuple(f"{a['local']}/{a['prefixlen']}" for a in infos
                        if a.get("family") == "inet" and "local" in a),
        ipv6=tuple(f"{a['local']}/{a['prefixlen']}" for a in infos
                   if a.get("family") == "inet6" and "local" in a))
