"""One-shot DHCP: ask a server for a lease with busybox ``udhcpc`` and hand it back.

``udhcpc -i IF -f -n -q -t N -T S -s SCRIPT`` sends up to N discovers S seconds apart,
exits as soon as it has a lease (``-q``) or with an error when nobody answered (``-n``),
and runs SCRIPT at each event with the lease in its environment. Our script
(:data:`UDHCPC_SCRIPT`) changes nothing: it prints the lease as ``nvrd-lease key=value``
lines on stdout, and the caller applies address and router with iproute and writes DNS to
its own resolv.conf. So one code path (``iproute``) sets every address, whatever its
source, and the snapshot/revert of a console change covers DHCP too.

The script is a constant here and written to a private temporary directory (mode 0700)
for each run, rather than a file in the package: udhcpc executes it directly, which needs
an executable bit that installs do not reliably keep (and the data directory may be
mounted ``noexec``).

udhcpc is chosen over dhclient/dhcpcd because it is one small binary with a one-shot mode
and no state files or hooks of its own to keep out of the way; busybox also gives us
``ping`` and, for the tests, the ``udhcpd`` server.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nvrd.system.network.iproute import IpError, IpRoute, run_command

__all__ = ["UDHCPC_SCRIPT", "DhcpClient", "DhcpError", "Lease", "parse_lease"]

LEASE_PREFIX = "nvrd-lease "
DEFAULT_ATTEMPTS = 4
DEFAULT_PAUSE_SECONDS = 2
UDHCPC_SCRIPT = """#!/bin/sh
# nvrd's udhcpc event script: reports the lease on stdout and changes nothing.
# nvrd applies the address and router itself (nvrd/system/network/dhcp.py).
put() { printf 'nvrd-lease %s=%s\\n' "$1" "$(printf '%s' "$2" | tr -d '\\r\\n')"; }
case "$1" in
    bound|renew)
        put ip "$ip"; put mask "$mask"; put subnet "$subnet"; put router "$router"
        put dns "$dns"; put lease "$lease"; put serverid "$serverid"
        echo 'nvrd-lease end'
        ;;
esac
exit 0
"""


class DhcpError(IpError):
    """No lease: no server answered, or udhcpc could not run. Words for the technician."""


@dataclass(frozen=True, slots=True)
class Lease:
    """What a DHCP server offered and acknowledged."""

    interface: str
    address: str
    """With its prefix length: ``192.168.1.103/24``."""
    router: str | None
    dns: tuple[str, ...]
    lease_seconds: int | None
    server: str | None


def parse_lease(interface: str, output: str) -> Lease:
    """The last complete lease block of the script's output. ``DhcpError`` if none or if
    the server's values are not addresses."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in output.splitlines():
        if not line.startswith(LEASE_PREFIX):
            continue
        item = line[len(LEASE_PREFIX):]
        if item == "end":
            blocks.append(current)
            current = {}
        else:
            key, _, value = item.partition("=")
            current[key] = value.strip()
    if not blocks:
        raise DhcpError(f"the DHCP client on {interface} reported no lease")
    values = blocks[-1]
    try:
        ip = ipaddress.IPv4Address(values.get("ip", ""))
        prefix = (int(values["mask"]) if values.get("mask", "").isdigit() else
                  ipaddress.IPv4Network(f"0.0.0.0/{values.get('subnet', '')}").prefixlen)
        address = ipaddress.IPv4Interface(f"{ip}/{prefix}")
        routers = [str(ipaddress.IPv4Address(r)) for r in values.get("router", "").split()]
        dns = tuple(str(ipaddress.IPv4Address(d)) for d in values.get("dns", "").split())
    except ValueError as exc:
        raise DhcpError(f"the DHCP server gave {interface} an unusable lease: {exc}") from None
    lease = values.get("lease", "")
    server = values.get("serverid") or None
    return Lease(interface=interface, address=str(address),
                 router=routers[0] if routers else None, dns=dns[:3],
                 lease_seconds=int(lease) if lease.isdigit() else None, server=server)


class DhcpClient:
    """Gets leases with udhcpc, in the namespace of ``ip`` (if any)."""

    def __init__(self, ip: IpRoute, *, attempts: int = DEFAULT_ATTEMPTS,
                 pause_seconds: int = DEFAULT_PAUSE_SECONDS) -> None:
        self._ip = ip
        self.attempts = attempts
        self.pause_seconds = pause_seconds

    async def lease(self, interface: str) -> Lease:
        """Ask for a lease on ``interface`` (its link is set up first). Takes at most
        about ``attempts * pause_seconds`` seconds; cancelling stops udhcpc."""
        command = udhcpc_command()
        if command is None:
            raise DhcpError("the DHCP client is missing: install busybox (udhcpc)")
        await self._ip.link(interface)  # a clear error for a wrong name
        await self._ip.set_up(interface)
        with tempfile.TemporaryDirectory(prefix="nvrd-dhcp-") as directory:
            script = Path(directory) / "udhcpc.script"
            script.write_text(UDHCPC_SCRIPT)
            os.chmod(script, 0o700)
            argv = self._ip.exec_argv([*command, "-i", interface, "-f", "-n", "-q",
                                       "-t", str(self.attempts), "-T", str(self.pause_seconds),
                                       "-s", str(script)])
            timeout = self.attempts * self.pause_seconds + 15.0
            code, out, err = await run_command(argv, timeout)
        if code != 0 or LEASE_PREFIX not in out:
            last = err.strip().splitlines()[-1:] or [f"exit status {code}"]
            raise DhcpError(f"no DHCP server answered on {interface} ({self.attempts} "
                            f"requests, {self.pause_seconds} s apart; udhcpc: {last[0]})")
        return parse_lease(interface, out)


def udhcpc_command() -> list[str] | None:
    """``udhcpc``, or busybox's; None when neither is installed."""
    found = shutil.which("udhcpc")
    if found:
        return [found]
    busybox = shutil.which("busybox")
    return [busybox, "udhcpc"] if busybox else None
