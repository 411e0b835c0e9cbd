"""WS-Discovery (nvrd/cameras/discovery.py): parsing what cameras answer (and ignoring what
hostile senders do), unicast probes on this host, and multicast discovery per interface
across a veth into a camera's network namespace (root)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from nvrd.cameras.discovery import (
    DiscoveredCamera,
    ProbeMatch,
    arp_table,
    camera_from_match,
    discover,
    ipv4_interfaces,
    parse_probe_matches,
    probe_message,
    probe_unicast,
)
from tools.fakecam.control import CameraSpec, FakeCamServer, OnvifSpec, gst_unavailable_reason
from tools.fakecam.netns import CameraPort, root_unavailable_reason

PROBE_ID = "urn:uuid:0f5d3a3e-6a43-4c55-9d43-1f0e7d1c2b3a"
ENDPOINT = "urn:uuid:3fa1fe68-b915-4053-a3e1-bcad28123456"

HIKVISION_MATCH = """<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"
 xmlns:tds="http://www.onvif.org/ver10/device/wsdl"
 xmlns:dn="http://www.onvif.org/ver10/network/wsdl"
 xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"
 xmlns:wsadis="http://schemas.xmlsoap.org/ws/2004/08/addressing">
<env:Header>
<wsadis:MessageID>urn:uuid:7b6ff0d8-1dd2-11b2-8000-bcad28123456</wsadis:MessageID>
<wsadis:RelatesTo>{relates}</wsadis:RelatesTo>
<wsadis:To env:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsadis:To>
<wsadis:Action env:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsadis:Action>
<d:AppSequence InstanceId="1700000000" MessageNumber="12"/>
</env:Header>
<env:Body><d:ProbeMatches><d:ProbeMatch>
<wsadis:EndpointReference><wsadis:Address>{endpoint}</wsadis:Address></wsadis:EndpointReference>
<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>
<d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming
 onvif://www.onvif.org/MAC/{mac} onvif://www.onvif.org/hardware/DS-2CD2043G0-I
 onvif://www.onvif.org/name/HIKVISION%20DS-2CD2043G0-I onvif://www.onvif.org/location/city/hangzhou</d:Scopes>
<d:XAddrs>http://[fe80::bead:28ff:fe12:3456]/onvif/device_service http://192.168.1.64/onvif/device_service</d:XAddrs>
<d:MetadataVersion>10</d:MetadataVersion>
</d:ProbeMatch></d:ProbeMatches></env:Body></env:Envelope>"""


def hikvision_match(relates: str = PROBE_ID, endpoint: str = ENDPOINT,
                    mac: str = "bc:ad:28:12:34:56") -> bytes:
    return HIKVISION_MATCH.format(relates=relates, endpoint=endpoint, mac=mac).encode()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>&lol2;
</env:Body></env:Envelope>"""


# --- parsing (pure) ----------------------------------------------------------------------

def test_a_recorded_probe_match() -> None:
    [match] = parse_probe_matches(hikvision_match(), message_ids={PROBE_ID})
    assert match.endpoint == ENDPOINT
    assert match.types == ("dn:NetworkVideoTransmitter", "tds:Device")
    assert len(match.xaddrs) == 2
    camera = camera_from_match(match, sender="192.168.1.64", interface="eth0")
    assert camera == DiscoveredCamera(
        host="192.168.1.64", port=80, xaddr="http://192.168.1.64/onvif/device_service",
        endpoint=ENDPOINT, scopes=match.scopes, name="HIKVISION DS-2CD2043G0-I",
        hardware="DS-2CD2043G0-I", mac="bc:ad:28:12:34:56", interface="eth0")


@pytest.mark.parametrize("datagram", [
    b"",
    b"\x00\xff garbage",
    b"<not><closed>",
    BILLION_LAUGHS,
    hikvision_match(relates="urn:uuid:someone-elses-probe"),
    probe_message(PROBE_ID),  # a Probe, not an answer
    b"<ProbeMatches/>",  # not an envelope
    hikvision_match() + b" " * 70_000,  # too big to be one datagram
])
def test_what_is_not_an_answer_is_ignored(datagram: bytes) -> None:
    assert parse_probe_matches(datagram, message_ids={PROBE_ID}) == []


def test_mac_from_the_neighbour_table_when_the_scopes_do_not_say() -> None:
    [match] = parse_probe_matches(hikvision_match(mac="unknown"), message_ids={PROBE_ID})
    asked: list[tuple[str, str]] = []

    def neighbour(address: str, device: str) -> str:
        asked.append((address, device))
        return "02:11:22:33:44:55"

    camera = camera_from_match(match, sender="10.0.0.9", interface="poe3",
                               neighbour_mac=neighbour)
    assert camera is not None and camera.mac == "02:11:22:33:44:55"
    assert asked == [("10.0.0.9", "poe3")]
    # the camera answered from another address than it advertises: reach it where it is
    assert camera.host == "10.0.0.9" and camera.port == 80


def test_choice_of_xaddr_and_types() -> None:
    match = ProbeMatch("urn:uuid:x", ("http://10.1.1.1:8000/onvif/device_service",
                                      "http://10.2.2.2:8080/onvif/device_service"),
                       (), ("dn:NetworkVideoTransmitter",))
    camera = camera_from_match(match, sender="10.2.2.2", interface="eth0")
    assert camera is not None
    assert (camera.port, camera.xaddr) == (8080, "http://10.2.2.2:8080/onvif/device_service")
    printer = ProbeMatch("urn:uuid:p", ("http://10.3.3.3/wsd",), (), ("wprt:PrintDeviceType",))
    assert camera_from_match(printer, sender="10.3.3.3", interface="eth0") is None
    nonsense = ProbeMatch("urn:uuid:n", ("ftp://10.4.4.4/", "http://:99999/"), (), ())
    assert camera_from_match(nonsense, sender="10.4.4.4", interface="eth0") is None


def test_arp_table(tmp_path: Path) -> None:
    table = tmp_path / "arp"
    table.write_text(
        "IP address       HW type     Flags       HW address            Mask     Device\n"
        "10.87.3.2        0x1         0x2         02:45:8C:4D:6B:97     *        poe3\n"
        "10.87.4.2        0x1         0x0         00:00:00:00:00:00     *        poe4\n"
        "192.0.2.1        0x1         0x2         52:54:00:12:34:56     *        eth0\n"
        "broken line\n")
    assert arp_table(table) == {("10.87.3.2", "poe3"): "02:45:8c:4d:6b:97",
                                ("192.0.2.1", "eth0"): "52:54:00:12:34:56"}
    assert arp_table(tmp_path / "missing") == {}


def test_interfaces_to_probe() -> None:
    everything = ipv4_interfaces()
    assert "lo" not in [i.name for i in everything]
    assert [i.name for i in ipv4_interfaces(["lo"])] == ["lo"]
    assert ipv4_interfaces(["no-such-if0"]) == []


# --- unicast probes on this host -----------------------------------------------------------

class _Responder(asyncio.DatagramProtocol):
    """Answers every probe with junk first, then a camera's answer."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        found = re.search(rb"<a:MessageID>([^<]+)</a:MessageID>", data)
        assert found is not None and self.transport is not None
        message_id = found.group(1).decode()
        for junk in (b"junk", BILLION_LAUGHS,
                     hikvision_match(relates="urn:uuid:stale", endpoint="urn:uuid:other")):
            self.transport.sendto(junk, addr)
        self.transport.sendto(hikvision_match(relates=message_id), addr)


@pytest.fixture
async def responder() -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_Responder,
                                                       local_addr=("127.0.0.1", 0))
    yield int(transport.get_extra_info("sockname")[1])
    transport.close()


async def test_unicast_probe_ignores_junk(responder: int) -> None:
    camera = await probe_unicast("127.0.0.1", timeout_s=10, port=responder)
    assert camera is not None
    assert camera.endpoint == ENDPOINT
    assert (camera.host, camera.port, camera.interface) == ("127.0.0.1", 80, "lo")
    assert camera.mac == "bc:ad:28:12:34:56"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A UDP port that is bound but never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


async def test_unicast_probe_to_nobody_finds_nothing(silent_port: int) -> None:
    assert await probe_unicast("127.0.0.1", timeout_s=0.3, port=silent_port) is None
    # nothing bound at all: the ICMP "port unreachable" is no answer either
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        closed = int(sock.getsockname()[1])
    assert await probe_unicast("127.0.0.1", timeout_s=0.3, port=closed) is None


@pytest.fixture
def onvif_cams(fakecam_clips: Path) -> Iterator[Callable[..., FakeCamServer]]:
    """Fake cameras whose WS-Discovery answers on a port of their own (other tests' fake
    cameras may share 3702 on this host, and a unicast probe reaches only one of them)."""
    reason = gst_unavailable_reason()
    if reason:
        pytest.skip(reason)
    servers: list[FakeCamServer] = []

    def start(cameras: list[CameraSpec], **kwargs: Any) -> FakeCamServer:
        server = FakeCamServer(cameras, clip_cache=fakecam_clips, **kwargs)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.close()


@pytest.mark.gst
async def test_unicast_probe_finds_the_fake_camera(
        onvif_cams: Callable[..., FakeCamServer]) -> None:
    cams = onvif_cams([CameraSpec("cam1", onvif=OnvifSpec(model="FC-3000"))], discovery_port=0)
    assert cams.discovery_port
    camera = await probe_unicast("127.0.0.1", timeout_s=10, port=cams.discovery_port)
    assert camera is not None
    assert (camera.host, camera.port) == cams.onvif_address("cam1")
    assert camera.mac == OnvifSpec().mac_for("cam1")
    assert camera.hardware == "FC-3000"
    assert camera.endpoint == OnvifSpec().endpoint_uuid("cam1")


# --- multicast, per interface, into a network namespace (root) --------------------------------

@pytest.fixture
def camera_ports() -> Iterator[tuple[CameraPort, CameraPort]]:
    """Two "PoE ports": veths into namespaces, links up. Names and networks carry a number
    from the process id, so two runs of this test at once do not tear down each other's."""
    reason = root_unavailable_reason()
    if reason:
        pytest.skip(reason)
    n = 20 + os.getpid() % 200
    with CameraPort(n, interface=f"tdisc{n}a", netns=f"tnvrdisc{n}a",
                    host_address=f"10.91.{n}.1/24", camera_address=f"10.91.{n}.2/24",
                    link_up=True) as with_camera, \
            CameraPort(n, interface=f"tdisc{n}b", netns=f"tnvrdisc{n}b",
                       host_address=f"10.92.{n}.1/24", camera_address=f"10.92.{n}.2/24",
                       link_up=True) as empty:
        with_camera.wait_link(True)
        empty.wait_link(True)
        yield with_camera, empty


def namespace_mac(netns: str, interface: str = "eth0") -> str:
    out = subprocess.run(["ip", "-n", netns, "-j", "link", "show", "dev", interface],
                         capture_output=True, text=True, check=True).stdout
    return str(json.loads(out)[0]["address"])


@pytest.mark.root
@pytest.mark.gst
async def test_discovery_finds_the_camera_behind_its_port_and_nothing_elsewhere(
        camera_ports: tuple[CameraPort, CameraPort],
        onvif_cams: Callable[..., FakeCamServer]) -> None:
    port, empty = camera_ports
    cams = onvif_cams([CameraSpec("cam1", onvif=OnvifSpec())], host=port.camera_address,
                      netns=port.netns)
    assert cams.discovery_port == 3702  # the camera's own namespace: the standard port

    found = await discover([port.interface, empty.interface], timeout_s=2)
    assert [(c.host, c.port, c.interface) for c in found] == [
        (port.camera_address, cams.onvif_port("cam1"), port.interface)]
    camera = found[0]
    assert camera.mac == OnvifSpec().mac_for("cam1")
    assert camera.endpoint == OnvifSpec().endpoint_uuid("cam1")
    assert camera.xaddr == (f"http://{port.camera_address}:{cams.onvif_port('cam1')}"
                            "/onvif/device_service")
    assert camera.hardware == "FC-2000"

    assert await discover([empty.interface], timeout_s=1) == []
    # the camera ARPed for us to answer: the kernel knows its real (veth) MAC too, which
    # is where a camera without a MAC scope gets its MAC from
    assert arp_table()[(port.camera_address, port.interface)] == namespace_mac(port.netns)
    # probing every interface finds it as well, on its port's interface
    everywhere = await discover(timeout_s=2)
    assert [c.interface for c in everywhere if c.endpoint == camera.endpoint] == \
        [port.interface]


@pytest.mark.root
async def test_a_port_that_is_down_is_skipped(
        camera_ports: tuple[CameraPort, CameraPort]) -> None:
    port, _ = camera_ports
    port.set_link(False)
    assert port.interface not in [i.name for i in ipv4_interfaces()]
    assert await discover([port.interface], timeout_s=0.2) == []
