"""WS-Discovery (2005/04, as ONVIF uses it) for the fake cameras: answers Probes, says Hello.

One UDP socket on port 3702 (SO_REUSEADDR/SO_REUSEPORT: other fakecam processes on the
same host share the port; a multicast probe reaches them all, a unicast one only one of
them), joined to 239.255.255.250 on the interfaces named, else on the one that has the
cameras' address when they listen on one address (cameras on 127.0.0.1 stay off the LAN),
else on every IPv4 interface of the process's network namespace.

A Probe whose Types (none, or ``dn:NetworkVideoTransmitter`` / ``tds:Device``) and Scopes
match gets one ProbeMatches per camera, unicast to the sender, ``RelatesTo`` the probe's
MessageID, with the XAddr on the cameras' address — or, when they listen on every
address, on the local address of the interface the probe came in on (IP_PKTINFO). A
Hello goes out on those interfaces at start and a Bye at close. Failing to bind (the port
taken by something that does not share it) is logged, not fatal.

Multicast does not work on ``lo``; a probe sent straight to 127.0.0.1:3702 is answered.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import socket
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree  # type: ignore[import-untyped]

from tools.fakecam.onvif.device import scope_items
from tools.fakecam.onvif.server import DEVICE_PATH
from tools.fakecam.onvif.state import Camera

log = logging.getLogger("fakecam.onvif.discovery")

GROUP = "239.255.255.250"
PORT = 3702
NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_D = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NS_A = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_DN = "http://www.onvif.org/ver10/network/wsdl"
NS_TDS = "http://www.onvif.org/ver10/device/wsdl"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
DISCOVERY_TO = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
TYPES = ((NS_DN, "NetworkVideoTransmitter"), (NS_TDS, "Device"))
MAX_DATAGRAM = 65535
SIOCGIFADDR = 0x8915
IP_PKTINFO: int = getattr(socket, "IP_PKTINFO", 8)  # Linux's value; Python 3.11 lacks the name
_PKTINFO = struct.Struct("i4s4s")  # struct in_pktinfo: ifindex, spec_dst, addr
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def ipv4_interfaces() -> list[tuple[str, int, str]]:
    """(name, index, primary IPv4 address) of every interface that has one."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for index, name in socket.if_nameindex():
            try:
                ifreq = fcntl.ioctl(sock.fileno(), SIOCGIFADDR,
                                    struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue
            found.append((name, index, socket.inet_ntoa(ifreq[20:24])))
    return found


@dataclass(frozen=True, slots=True)
class Probe:
    """What matters of a received Probe: types are (namespace or None, local name)."""

    message_id: str
    types: list[tuple[str | None, str]]
    scopes: list[str]
    soap_ns: str  # answers use the probe's SOAP version


def parse_probe(data: bytes) -> Probe | None:
    """A Probe, or None for anything else (hellos, our own matches, garbage)."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError:
        return None
    soap_ns = etree.QName(root).namespace or NS_SOAP12
    probe = root.find(f"{{{soap_ns}}}Body/{{{NS_D}}}Probe")
    if probe is None:
        return None
    message_id = (root.findtext(f"{{{soap_ns}}}Header/{{{NS_A}}}MessageID") or "").strip()
    types: list[tuple[str | None, str]] = []
    types_el = probe.find(f"{{{NS_D}}}Types")
    for text in (types_el.text or "").split() if types_el is not None else ():
        prefix, _, local = text.rpartition(":")
        types.append((types_el.nsmap.get(prefix or None) if types_el is not None else None,
                      local))
    scopes = (probe.findtext(f"{{{NS_D}}}Scopes") or "").split()
    return Probe(message_id, types, scopes, soap_ns)


def matches(probe: Probe, scopes: Sequence[str]) -> bool:
    """Types all ours (an unknown prefix: by local name) and scopes all prefixes of ours
    (RFC 3986 matching, by path segments)."""
    for namespace, local in probe.types:
        if not any(local == ours and namespace in (None, ns) for ns, ours in TYPES):
            return False
    return all(any(item == want or item.startswith(want.rstrip("/") + "/") for item in scopes)
               for want in probe.scopes)


def _element(tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.Element(tag, attrs)
    el.text = text
    return el


def message(soap_ns: str, action: str, body: etree._Element, *, to: str,
            relates_to: str | None = None, sequence: tuple[str, int] | None = None) -> bytes:
    """A WS-Discovery SOAP message."""
    nsmap = {"env": soap_ns, "wsa": NS_A, "d": NS_D, "dn": NS_DN, "tds": NS_TDS}
    env = etree.Element(f"{{{soap_ns}}}Envelope", nsmap=nsmap)
    header = etree.SubElement(env, f"{{{soap_ns}}}Header")
    header.append(_element(f"{{{NS_A}}}MessageID", f"urn:uuid:{uuid.uuid4()}"))
    if relates_to:
        header.append(_element(f"{{{NS_A}}}RelatesTo", relates_to))
    header.append(_element(f"{{{NS_A}}}To", to))
    header.append(_element(f"{{{NS_A}}}Action", f"{NS_D}/{action}"))
    if sequence is not None:
        header.append(_element(f"{{{NS_D}}}AppSequence", InstanceId=sequence[0],
                               MessageNumber=str(sequence[1])))
    etree.SubElement(env, f"{{{soap_ns}}}Body").append(body)
    result: bytes = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
    return result


def _endpoint(camera: Camera) -> etree._Element:
    ref = _element(f"{{{NS_A}}}EndpointReference")
    ref.append(_element(f"{{{NS_A}}}Address", camera.config.endpoint))
    return ref


def _description(tag: str, camera: Camera, address: str) -> etree._Element:
    el = _element(tag)
    el.append(_endpoint(camera))
    el.append(_element(f"{{{NS_D}}}Types", "dn:NetworkVideoTransmitter tds:Device"))
    el.append(_element(f"{{{NS_D}}}Scopes", " ".join(scope_items(camera.config))))
    el.append(_element(f"{{{NS_D}}}XAddrs", xaddr(camera, address)))
    el.append(_element(f"{{{NS_D}}}MetadataVersion", "1"))
    return el


def xaddr(camera: Camera, address: str) -> str:
    return f"http://{address}:{camera.port}{DEVICE_PATH}"


def probe_matches(probe: Probe, camera: Camera, address: str, sequence: tuple[str, int]
                  ) -> bytes:
    body = _element(f"{{{NS_D}}}ProbeMatches")
    body.append(_description(f"{{{NS_D}}}ProbeMatch", camera, address))
    return message(probe.soap_ns, "ProbeMatches", body, to=ANONYMOUS,
                   relates_to=probe.message_id, sequence=sequence)


class Responder:
    """The WS-Discovery side of one fakecam process (see the module docstring).

    ``bind_host`` is where the cameras' HTTP sites listen: a specific address is what the
    XAddrs advertise; the wildcard means "the address the probe arrived on".
    """

    def __init__(self, cameras: Sequence[Camera], *, port: int = PORT,
                 interfaces: Sequence[str] = (), bind_host: str = "") -> None:
        self.cameras = list(cameras)
        self._requested_port = port
        self._interfaces = tuple(interfaces)
        self._bind_host = "" if bind_host in ("", "0.0.0.0", "::") else bind_host
        self._sock: socket.socket | None = None
        self._instance = str(int(uuid.uuid4().int % 2**31))
        self._number = 0
        self.probes = 0

    @property
    def port(self) -> int | None:
        """The bound port, None when binding failed (or before ``start``)."""
        return int(self._sock.getsockname()[1]) if self._sock is not None else None

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            sock.bind(("", self._requested_port))
        except OSError as exc:
            log.warning("WS-Discovery off: cannot bind UDP port %d: %s", self._requested_port,
                        exc)
            sock.close()
            return
        sock.setblocking(False)
        self._sock = sock
        for name, index, _ in self._links():
            mreqn = struct.pack("4s4si", socket.inet_aton(GROUP), bytes(4), index)
            try:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
            except OSError as exc:
                log.info("WS-Discovery: cannot join %s on %s: %s", GROUP, name, exc)
        asyncio.get_running_loop().add_reader(sock.fileno(), self._on_readable)
        self._announce("Hello")

    def close(self) -> None:
        if self._sock is None:
            return
        self._announce("Bye")
        sock, self._sock = self._sock, None
        asyncio.get_running_loop().remove_reader(sock.fileno())
        sock.close()

    def _links(self) -> list[tuple[str, int, str]]:
        """The interfaces to listen and announce on: the ones named, else the one with the
        bind address (cameras on 127.0.0.1 stay off the LAN), else all."""
        found = ipv4_interfaces()
        if self._interfaces:
            return [link for link in found if link[0] in self._interfaces]
        if self._bind_host:
            return [link for link in found if link[2] == self._bind_host]
        return found

    def _next(self) -> tuple[str, int]:
        self._number += 1
        return self._instance, self._number

    def _announce(self, action: str) -> None:
        """Hello or Bye for every camera, multicast out of every interface but loopback."""
        assert self._sock is not None
        for name, index, address in self._links():
            if name == "lo":
                continue
            for camera in self.cameras:
                if action == "Hello":
                    body = _description(f"{{{NS_D}}}Hello", camera,
                                        self._bind_host or address)
                else:
                    body = _element(f"{{{NS_D}}}Bye")
                    body.append(_endpoint(camera))
                data = message(NS_SOAP12, action, body, to=DISCOVERY_TO, sequence=self._next())
                try:
                    self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                                          struct.pack("4s4si", bytes(4), bytes(4), index))
                    self._sock.sendto(data, (GROUP, PORT))
                except OSError as exc:
                    log.info("WS-Discovery: no %s on %s: %s", action, name, exc)

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        while True:
            try:
                data, ancdata, _, sender = sock.recvmsg(
                    MAX_DATAGRAM, socket.CMSG_SPACE(_PKTINFO.size))
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.info("WS-Discovery: receive failed: %s", exc)
                return
            ifindex, local = 0, ""
            for level, kind, value in ancdata:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                    ifindex, spec_dst, _ = _PKTINFO.unpack(value[:_PKTINFO.size])
                    local = socket.inet_ntoa(spec_dst)
            self._answer(data, sender, ifindex, local)

    def _answer(self, data: bytes, sender: tuple[str, int], ifindex: int, local: str) -> None:
        probe = parse_probe(data)
        if probe is None:
            return
        self.probes += 1
        address = self._bind_host or local
        assert self._sock is not None
        for camera in self.cameras:
            if not matches(probe, scope_items(camera.config)):
                continue
            reply = probe_matches(probe, camera, address, self._next())
            pktinfo = _PKTINFO.pack(ifindex, socket.inet_aton(local) if local else bytes(4),
                                    bytes(4))
            try:
                self._sock.sendmsg([reply], [(socket.IPPROTO_IP, IP_PKTINFO, pktinfo)],
                                   0, sender)
            except OSError as exc:
                log.info("WS-Discovery: cannot answer %s: %s", sender, exc)
        log.debug("WS-Discovery: probe %s from %s on if %d (%s)", probe.message_id, sender,
                  ifindex, local)
