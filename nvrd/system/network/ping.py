"""``ping`` for the technician: busybox ``ping -c N -W T -w DEADLINE HOST``, parsed.

A subprocess rather than an ICMP socket of our own, because:
- it runs in the daemon's network namespace like every other network command
  (``ip netns exec NS busybox ping``); a socket would need ``setns`` on a thread;
- it needs no privilege of the daemon's: busybox uses an unprivileged ICMP datagram
  socket where ``net.ipv4.ping_group_range`` allows it and a raw socket otherwise, and
  resolves names with the C library as the rest of the box does;
- its summary lines are stable and easy to parse (:func:`parse_ping`).
"""

from __future__ import annotations

import ipaddress
import re
import shutil
from dataclasses import dataclass

from nvrd.system.network.iproute import IpError, IpRoute, run_command

__all__ = ["MAX_COUNT", "PingError", "PingResult", "parse_ping", "ping"]

MAX_COUNT = 20
WAIT_SECONDS = 2
"""How long to wait for the last answer (busybox ``-W``)."""
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")
_RTT = re.compile(r"min/avg/max(?:/mdev)? = ([\d.]+)/([\d.]+)/([\d.]+)")
_RESOLVED = re.compile(r"^PING \S+ \(([^)]+)\)", re.M)


class PingError(IpError):
    """The host could not be pinged at all (bad name, no route): words for the technician."""


@dataclass(frozen=True, slots=True)
class PingResult:
    host: str
    address: str | None
    """What the name resolved to."""
    sent: int
    received: int
    rtt_min_ms: float | None = None
    rtt_avg_ms: float | None = None
    rtt_max_ms: float | None = None

    @property
    def loss_percent(self) -> float:
        return 100.0 * (self.sent - self.received) / self.sent if self.sent else 100.0

    def summary(self) -> str:
        """``192.0.2.1: 3 sent, 3 received, 0% loss, rtt min/avg/max 0.1/0.2/0.3 ms``."""
        name = self.host if self.address in (None, self.host) else f"{self.host} ({self.address})"
        text = (f"{name}: {self.sent} sent, {self.received} received, "
                f"{self.loss_percent:.0f}% loss")
        if self.rtt_avg_ms is not None:
            text += (f", rtt min/avg/max {self.rtt_min_ms:.3g}/{self.rtt_avg_ms:.3g}/"
                     f"{self.rtt_max_ms:.3g} ms")
        return text


def check_host(host: str) -> str:
    """A host name or IPv4/IPv6 address; ``ValueError`` in words (never an option)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        if not _HOSTNAME.match(host):
            raise ValueError(f"{host!r} is not a host name or an IP address") from None
    return host


def parse_ping(host: str, output: str) -> PingResult | None:
    """The statistics of busybox's (or iputils') output; None without a summary line."""
    summary = _SUMMARY.search(output)
    if summary is None:
        return None
    rtt = _RTT.search(output)
    resolved = _RESOLVED.search(output)
    return PingResult(
        host=host, address=resolved[1] if resolved else None,
        sent=int(summary[1]), received=int(summary[2]),
        rtt_min_ms=float(rtt[1]) if rtt else None, rtt_avg_ms=float(rtt[2]) if rtt else None,
        rtt_max_ms=float(rtt[3]) if rtt else None)


async def ping(ip: IpRoute, host: str, count: int = 3) -> PingResult:
    """Send ``count`` echo requests a second apart; the statistics (loss is a result, not
    an error). ``PingError`` when nothing could be sent (unknown name, no route);
    ``ValueError`` for a bad host or count."""
    host = check_host(host)
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"the count must be from 1 to {MAX_COUNT}")
    binary = shutil.which("busybox")
    if binary is None:
        raise PingError("ping is missing: install busybox")
    deadline = count + WAIT_SECONDS
    argv = ip.exec_argv([binary, "ping", "-c", str(count), "-W", str(WAIT_SECONDS),
                         "-w", str(deadline), host])
    _code, out, err = await run_command(argv, deadline + 10.0)
    result = parse_ping(host, out)
    if result is None:
        reason = (err.strip() or out.strip() or "no output").splitlines()[-1]
        reason = reason.removeprefix("ping: ")
        raise PingError(f"cannot ping {host}: {reason}")
    return result
