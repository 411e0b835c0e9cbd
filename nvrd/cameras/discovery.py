"""WS-Discovery: which ONVIF cameras answer on the camera networks, and on which port.

Hand-written on a plain UDP socket rather than the ``WSDiscovery`` library: that one runs
its own threads (address monitor, listener), cannot aim a probe at one interface, and
does not say on which interface a reply arrived — PoE plug-and-play needs exactly that
(the camera behind PoE port N answers on ``poeN``).

How: one socket on an ephemeral port with ``IP_PKTINFO`` (the arrival interface of each
datagram). One ``Probe`` for ``dn:NetworkVideoTransmitter`` goes to 239.255.255.250:3702
out of each chosen interface (``IP_MULTICAST_IF`` = the interface's address, TTL 1,
no loopback to this host's own listeners), repeated once as SOAP-over-UDP allows (same
MessageID, so receivers drop the copy). Cameras answer unicast with ``ProbeMatches``;
they are collected until the timeout and de-duplicated by endpoint.

The network is not trusted: a reply must be a SOAP envelope that relates to one of our
probes, without a DTD (no entity tricks), under 64 KiB; anything else is ignored. The
camera's MAC comes from its ``onvif://www.onvif.org/MAC/…`` scope, else from the
kernel's neighbour table (the camera ARPed for us to answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psutil

from nvrd.cameras.onvif.mac import normalize_mac

__all__ = [
    "WSD_GROUP",
    "WSD_PORT",
    "DiscoveredCamera",
    "LocalInterface",
    "ProbeMatch",
    "arp_table",
    "camera_from_match",
    "discover",
    "ipv4_interfaces",
    "parse_probe_matches",
    "probe_message",
    "probe_unicast",
]

logger = logging.getLogger(__name__)

WSD_GROUP = "239.255.255.250"
WSD_PORT = 3702
MAX_DATAGRAM = 65_535
MAX_MATCHES = 1024
"""Cameras kept per discovery at most (a hostile network could claim thousands)."""
MAX_DATAGRAMS = 8192
"""Datagrams looked at per discovery at most; the rest are dropped unread."""
REPEAT_AFTER_S = 0.2
ARP_TABLE = Path("/proc/net/arp")

_NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
_NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
_NS_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
_NS_DN = "http://www.onvif.org/ver10/network/wsdl"
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
_PKTINFO = struct.Struct("=i4s4s")
_ANCILLARY = socket.CMSG_SPACE(_PKTINFO.size)
_FORBIDDEN = (b"<!doctype", b"<!entity")


@dataclass(frozen=True, slots=True)
class DiscoveredCamera:
    """A camera that answered a probe."""

    host: str
    """The address it answered from (where the recorder reaches it)."""
    port: int
    """The HTTP port of its ONVIF device service (from its XAddr)."""
    xaddr: str
    """Its device service URL as advertised."""
    endpoint: str
    """Its stable WS-Discovery identity (``urn:uuid:…``)."""
    scopes: tuple[str, ...]
    name: str
    """From the ``onvif://www.onvif.org/name/`` scope ("" if none)."""
    hardware: str
    """From the ``onvif://www.onvif.org/hardware/`` scope: usually the model."""
    mac: str
    """Lower-case ``aa:bb:..``; "" when neither the scopes nor the neighbour table tell."""
    interface: str
    """The local interface the answer arrived on (``eth0``, ``poe3``)."""


@dataclass(frozen=True, slots=True)
class ProbeMatch:
    """One ``ProbeMatch`` as it was on the wire, before choosing an address."""

    endpoint: str
    xaddrs: tuple[str, ...]
    scopes: tuple[str, ...]
    types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LocalInterface:
    name: str
    index: int
    address: str
    """Its (first) IPv4 address: the probe's source and the multicast interface."""


# --- messages (pure) -------------------------------------------------------------------------

def probe_message(message_id: str) -> bytes:
    """A WS-Discovery (2005/04, as ONVIF uses) Probe for network video transmitters."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{_NS_SOAP}" xmlns:a="{_NS_WSA}" xmlns:d="{_NS_WSD}" '
        f'xmlns:dn="{_NS_DN}">'
        "<s:Header>"
        f'<a:Action s:mustUnderstand="1">{_NS_WSD}/Probe</a:Action>'
        f"<a:MessageID>{message_id}</a:MessageID>"
        f"<a:ReplyTo><a:Address>{_NS_WSA}/role/anonymous</a:Address></a:ReplyTo>"
        '<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>'
        "</s:Header>"
        "<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>"
        "</s:Envelope>"
    ).encode()


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(element: ET.Element | None, name: str) -> ET.Element | None:
    if element is None:
        return None
    return next((c for c in element if _local(c.tag) == name), None)


def _text(element: ET.Element | None, limit: int = 4096) -> str:
    if element is None or element.text is None:
        return ""
    return element.text.strip()[:limit]


def parse_probe_matches(data: bytes, *, message_ids: frozenset[str] | set[str]
                        ) -> list[ProbeMatch]:
    """A datagram → its ProbeMatches; [] for anything else (not XML, a DTD, not SOAP,
    not an answer to ``message_ids``, another action). Never raises on bad input."""
    if len(data) > MAX_DATAGRAM or any(bad in data.lower() for bad in _FORBIDDEN):
        return []
    try:
        root = ET.fromstring(data)
    except (ET.ParseError, ValueError):
        return []
    if _local(root.tag) != "Envelope":
        return []
    header, body = _child(root, "Header"), _child(root, "Body")
    relates = _text(_child(header, "RelatesTo"))
    if relates and relates not in message_ids:
        return []
    matches = _child(body, "ProbeMatches")
    if matches is None:
        return []
    found: list[ProbeMatch] = []
    for match in matches:
        if _local(match.tag) != "ProbeMatch" or len(found) >= 64:
            continue
        endpoint = _text(_child(_child(match, "EndpointReference"), "Address"), 512)
        xaddrs = tuple(_text(_child(match, "XAddrs")).split()[:16])
        scopes = tuple(s[:512] for s in _text(_child(match, "Scopes"), 32768).split()[:64])
        types = tuple(_text(_child(match, "Types")).split()[:16])
        if xaddrs:
            found.append(ProbeMatch(endpoint, xaddrs, scopes, types))
    return found


def _scope_value(scopes: Sequence[str], key: str) -> str:
    prefix = f"onvif://www.onvif.org/{key.lower()}/"
    for scope in scopes:
        if scope.lower().startswith(prefix):
            return unquote(scope[len(prefix):]).strip()[:128]
    return ""


def _choose_xaddr(xaddrs: Sequence[str], sender: str) -> tuple[str, int] | None:
    """The XAddr on the sender's address, else the first IPv4 http(s) one: (url, port)."""
    candidates: list[tuple[int, str, int]] = []
    for xaddr in xaddrs:
        try:
            url = urlsplit(xaddr)
            port = url.port or (443 if url.scheme == "https" else 80)
        except ValueError:
            continue
        if url.scheme not in ("http", "https") or not url.hostname:
            continue
        rank = 0 if url.hostname == sender else 1 if _is_ipv4(url.hostname) else 2
        candidates.append((rank, xaddr, port))
    if not candidates:
        return None
    _, xaddr, port = min(candidates, key=lambda c: c[0])
    return xaddr, port


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def camera_from_match(match: ProbeMatch, *, sender: str, interface: str,
                      neighbour_mac: Callable[[str, str], str] | None = None
                      ) -> DiscoveredCamera | None:
    """A ProbeMatch from ``sender`` on ``interface`` → :class:`DiscoveredCamera`; None
    when it is not a video transmitter or has no usable address."""
    if match.types and not any(t.rsplit(":", 1)[-1] == "NetworkVideoTransmitter"
                               for t in match.types):
        return None
    chosen = _choose_xaddr(match.xaddrs, sender)
    if chosen is None:
        return None
    xaddr, port = chosen
    mac = normalize_mac(_scope_value(match.scopes, "MAC"))
    if not mac and neighbour_mac is not None:
        mac = neighbour_mac(sender, interface)
    return DiscoveredCamera(host=sender, port=port, xaddr=xaddr,
                            endpoint=match.endpoint or xaddr, scopes=match.scopes,
                            name=_scope_value(match.scopes, "name"),
                            hardware=_scope_value(match.scopes, "hardware"),
                            mac=mac, interface=interface)


# --- the host ----------------------------------------------------------------------------------

def arp_table(path: Path = ARP_TABLE) -> dict[tuple[str, str], str]:
    """The kernel's IPv4 neighbours: {(address, device): mac} (complete entries only)."""
    table: dict[tuple[str, str], str] = {}
    try:
        lines = path.read_text().splitlines()[1:]
    except OSError:
        return table
    for line in lines:
        fields = line.split()
        if len(fields) < 6:
            continue
        address, flags, mac, device = fields[0], fields[2], fields[3], fields[5]
        try:
            complete = int(flags, 16) & 0x2
        except ValueError:
            continue
        mac = normalize_mac(mac)
        if complete and mac:
            table[(address, device)] = mac
    return table


def ipv4_interfaces(names: Sequence[str] = ()) -> list[LocalInterface]:
    """The interfaces to probe: ``names`` (those that exist, are up and have IPv4), or
    every non-loopback IPv4 interface that is up."""
    addresses = psutil.net_if_addrs()
    stats = psutil.net_if_stats()
    wanted = list(names) if names else sorted(addresses)
    found: list[LocalInterface] = []
    for name in wanted:
        ipv4 = [a.address for a in addresses.get(name, ()) if a.family == socket.AF_INET]
        stat = stats.get(name)
        if not ipv4 or stat is None or not stat.isup:
            if names:
                logger.debug("discovery: interface %s is missing, down or has no IPv4 "
                             "address; not probed", name)
            continue
        if not names and ipaddress.IPv4Address(ipv4[0]).is_loopback:
            continue
        try:
            index = socket.if_nametoindex(name)
        except OSError:
            continue
        found.append(LocalInterface(name, index, ipv4[0]))
    return found


class _Prober:
    """The socket: sends probes, reads answers with their arrival interface."""

    def __init__(self, on_datagram: Callable[[bytes, str, str], None]) -> None:
        self._on_datagram = on_datagram
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        self._loop = asyncio.get_running_loop()
        self._names: dict[int, str] = {}
        self.datagrams = 0
        try:
            self._sock.setblocking(False)
            self._sock.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
            self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
            self._sock.bind(("0.0.0.0", 0))
            self._loop.add_reader(self._sock.fileno(), self._readable)
        except BaseException:
            self._sock.close()
            raise

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()

    def send_multicast(self, interface: LocalInterface, message: bytes) -> bool:
        try:
            self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                                  socket.inet_aton(interface.address))
            self._sock.sendto(message, (WSD_GROUP, WSD_PORT))
        except OSError as exc:
            logger.warning("discovery: cannot probe on %s (%s): %s", interface.name,
                           interface.address, exc)
            return False
        return True

    def send_unicast(self, host: str, port: int, message: bytes) -> None:
        self._sock.sendto(message, (host, port))

    def _readable(self) -> None:
        for _ in range(64):  # drain a burst, but give the loop back now and then
            try:
                data, ancillary, flags, sender = self._sock.recvmsg(MAX_DATAGRAM + 1,
                                                                    _ANCILLARY)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP port unreachable of a unicast probe
                logger.debug("discovery: receive failed: %s", exc)
                return
            self.datagrams += 1
            if self.datagrams > MAX_DATAGRAMS or flags & socket.MSG_TRUNC:
                continue
            self._on_datagram(data, sender[0], self._interface(ancillary))

    def _interface(self, ancillary: list[tuple[int, int, bytes]]) -> str:
        for level, kind, data in ancillary:
            if level == socket.IPPROTO_IP and kind == _IP_PKTINFO and \
                    len(data) >= _PKTINFO.size:
                index = _PKTINFO.unpack_from(data)[0]
                if index not in self._names:
                    try:
                        self._names[index] = socket.if_indextoname(index)
                    except OSError:
                        self._names[index] = ""
                return self._names[index]
        return ""


class _Collector:
    """Turns datagrams into cameras, de-duplicated by endpoint."""

    def __init__(self, message_ids: set[str]) -> None:
        self.message_ids = message_ids
        self.matches: dict[str, tuple[ProbeMatch, str, str]] = {}
        self.arrived = asyncio.Event()

    def on_datagram(self, data: bytes, sender: str, interface: str) -> None:
        for match in parse_probe_matches(data, message_ids=self.message_ids):
            key = match.endpoint or match.xaddrs[0]
            if key not in self.matches and len(self.matches) < MAX_MATCHES:
                self.matches[key] = (match, sender, interface)
                self.arrived.set()

    def cameras(self) -> Iterator[DiscoveredCamera]:
        neighbours: dict[tuple[str, str], str] | None = None

        def neighbour_mac(address: str, device: str) -> str:
            nonlocal neighbours
            if neighbours is None:
                neighbours = arp_table()
            return neighbours.get((address, device), "")

        for match, sender, interface in self.matches.values():
            camera = camera_from_match(match, sender=sender, interface=interface,
                                       neighbour_mac=neighbour_mac)
            if camera is not None:
                yield camera


def _order(camera: DiscoveredCamera) -> tuple[str, int, str]:
    try:
        host = int(ipaddress.ip_address(camera.host))
    except ValueError:
        host = 0
    return camera.interface, host, camera.endpoint


async def discover(interfaces: Sequence[str] = (), timeout_s: float = 3.0
                   ) -> list[DiscoveredCamera]:
    """Probe the camera networks and list the cameras that answered within ``timeout_s``.

    ``interfaces``: names to probe (missing or down ones are skipped); empty = every
    non-loopback IPv4 interface that is up. Sorted by interface, then address.
    """
    chosen = ipv4_interfaces(interfaces)
    if not chosen:
        return []
    message_ids = {f"urn:uuid:{uuid.uuid4()}" for _ in chosen}
    collector = _Collector(message_ids)
    prober = _Prober(collector.on_datagram)
    try:
        messages = [(interface, probe_message(message_id))
                    for interface, message_id in zip(chosen, message_ids, strict=True)]
        sent = [(i, m) for i, m in messages if prober.send_multicast(i, m)]
        if not sent:
            return []
        await asyncio.sleep(min(REPEAT_AFTER_S, timeout_s / 2))
        for interface, message in sent:
            prober.send_multicast(interface, message)
        await asyncio.sleep(max(0.0, timeout_s - min(REPEAT_AFTER_S, timeout_s / 2)))
    finally:
        prober.close()
    return sorted(collector.cameras(), key=_order)


async def probe_unicast(host: str, timeout_s: float = 3.0, *, port: int = WSD_PORT
                        ) -> DiscoveredCamera | None:
    """Send the Probe to one address (no multicast: across routers, or where multicast
    does not work) and return the first camera that answers, or None."""
    message_id = f"urn:uuid:{uuid.uuid4()}"
    collector = _Collector({message_id})
    prober = _Prober(collector.on_datagram)
    try:
        message = probe_message(message_id)
        prober.send_unicast(host, port, message)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await collector.arrived.wait()
                await asyncio.sleep(0)  # let a burst of copies settle into the dict
    except OSError as exc:
        logger.debug("discovery: unicast probe to %s:%d failed: %s", host, port, exc)
        return None
    finally:
        prober.close()
    return next(iter(collector.cameras()), None)
