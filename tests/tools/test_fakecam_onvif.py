"""tools/fakecam/onvif: the virtual cameras' ONVIF and WS-Discovery side.

Clients are real: onvif-zeep-async's ``ONVIFCamera`` (what nvrd uses), aiohttp's digest
middleware, hand-written SOAP checked against the WSDLs shipped with onvif-zeep-async
(lxml XMLSchema), plain UDP sockets for WS-Discovery and PyAV for the stream URIs.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
import functools
import hashlib
import os
import socket
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import av
import onvif  # type: ignore[import-untyped]
import pytest
import zeep.exceptions
from lxml import etree  # type: ignore[import-untyped]
from onvif import ONVIFCamera

from tools.fakecam.control import (
    CameraSpec,
    FakeCamServer,
    OnvifSpec,
    StartFakeCams,
    StreamSpec,
    gst_unavailable_reason,
)
from tools.fakecam.netns import CameraPort, root_unavailable_reason
from tools.fakecam.onvif.discovery import matches, parse_probe
from tools.fakecam.onvif.soap import DigestAuthority, UsernameToken, parse_duration

SMALL = StreamSpec(320, 240, 25, 25, 300)
TINY_SUB = StreamSpec(160, 120, 10, 10, 100)
PASSWORD = OnvifSpec().password
WSDL_DIR = Path(onvif.__file__).parent / "wsdl"  # the WSDLs onvif-zeep-async ships
DEADLINE_S = 30.0
NS = {"env": "http://www.w3.org/2003/05/soap-envelope",
      "tds": "http://www.onvif.org/ver10/device/wsdl",
      "trt": "http://www.onvif.org/ver10/media/wsdl",
      "tev": "http://www.onvif.org/ver10/events/wsdl",
      "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
      "wsnt": "http://docs.oasis-open.org/wsn/b-2",
      "tt": "http://www.onvif.org/ver10/schema",
      "wsa": "http://www.w3.org/2005/08/addressing",
      "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
      "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing"}
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST_TYPE = ("http://docs.oasis-open.org/wss/2004/01/"
               "oasis-200401-wss-username-token-profile-1.0#PasswordDigest")
RTSP_SETUP = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}


def onvif_camera(name: str = "cam1", **onvif: Any) -> CameraSpec:
    return CameraSpec(name, SMALL, TINY_SUB, onvif=OnvifSpec(**onvif))


# -- a raw SOAP client, for answers checked against the schema and for auth --

def soap(address: tuple[str, int], path: str, body: str, *, username: str | None = "admin",
         password: str = PASSWORD, headers: dict[str, str] | None = None
         ) -> tuple[int, etree._Element, dict[str, str]]:
    """POST a SOAP 1.2 request (WS-Security PasswordDigest unless ``username`` is None);
    returns HTTP status, the Body's first element and the response headers."""
    security = ""
    if username is not None:
        nonce = os.urandom(16)
        created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        digest = base64.b64encode(hashlib.sha1(
            nonce + created.encode() + password.encode()).digest()).decode()
        security = (f'<Security xmlns="{WSSE}"><UsernameToken><Username>{username}</Username>'
                    f'<Password Type="{DIGEST_TYPE}">{digest}</Password>'
                    f"<Nonce>{base64.b64encode(nonce).decode()}</Nonce>"
                    f'<Created xmlns="{WSU}">{created}</Created></UsernameToken></Security>')
    prefixes = " ".join(f'xmlns:{p}="{u}"' for p, u in NS.items())
    envelope = (f"<env:Envelope {prefixes}><env:Header>{security}</env:Header>"
                f"<env:Body>{body}</env:Body></env:Envelope>")
    request = urllib.request.Request(
        f"http://{address[0]}:{address[1]}{path}", data=envelope.encode(),
        headers={"Content-Type": "application/soap+xml; charset=utf-8", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=DEADLINE_S) as reply:
            status, data, reply_headers = reply.status, reply.read(), dict(reply.headers)
    except urllib.error.HTTPError as error:
        status, data, reply_headers = error.code, error.read(), dict(error.headers)
    root = etree.fromstring(data)
    return status, root.find("env:Body", NS)[0], reply_headers


def fault_reason(el: etree._Element) -> str:
    assert etree.QName(el).localname == "Fault", etree.tostring(el)
    return str(el.findtext("env:Reason/env:Text", namespaces=NS))


def fault_subcodes(el: etree._Element) -> list[str]:
    return [v.text for v in el.iterfind(".//env:Subcode/env:Value", NS)]


@functools.cache
def wsdl_schemas() -> dict[str, etree.XMLSchema]:
    """namespace -> the XML Schema in the service's WSDL (with its imports)."""
    xs = "{http://www.w3.org/2001/XMLSchema}schema"
    schemas = {}
    for wsdl, namespaces in (("devicemgmt.wsdl", ("tds",)), ("media.wsdl", ("trt",)),
                             ("events.wsdl", ("tev", "wsnt")), ("ptz.wsdl", ("tptz",))):
        path = WSDL_DIR / wsdl
        schema_el = next(etree.parse(str(path)).iter(xs))
        root = etree.Element(xs, nsmap=schema_el.nsmap, attrib=dict(schema_el.attrib))
        root.extend(copy.deepcopy(c) for c in schema_el)
        schema = etree.XMLSchema(etree.fromstring(etree.tostring(root), base_url=str(path)))
        schemas.update({NS[p]: schema for p in namespaces})
    return schemas


def assert_schema_valid(el: etree._Element) -> None:
    schema = wsdl_schemas()[etree.QName(el).namespace]
    assert schema.validate(el), f"{etree.QName(el).localname}: {schema.error_log}"


# -- device, media --

async def test_zeep_reads_device_profiles_and_a_stream_uri_that_plays(
        fakecams: StartFakeCams) -> None:
    spec = onvif_camera(serial="SN-1", mac="02:00:00:00:00:01")
    cams = fakecams([spec, CameraSpec("plain", SMALL, None)])
    camera = ONVIFCamera(*cams.onvif_address("cam1"), "admin", PASSWORD)
    try:
        await camera.update_xaddrs()
        device = await camera.create_devicemgmt_service()
        info = await device.GetDeviceInformation()
        assert (info.Manufacturer, info.Model, info.FirmwareVersion, info.SerialNumber) == (
            "Fakecam", "FC-2000", "V5.7.3", "SN-1")
        interfaces = await device.GetNetworkInterfaces()
        assert interfaces[0].Info.HwAddress == "02:00:00:00:00:01"
        media = await camera.create_media_service()
        profiles = await media.GetProfiles()
        sizes = {p.token: (p.VideoEncoderConfiguration.Resolution.Width,
                           p.VideoEncoderConfiguration.Resolution.Height) for p in profiles}
        assert sizes == {"Profile_1": (320, 240), "Profile_2": (160, 120)}
        assert profiles[0].VideoEncoderConfiguration.RateControl.BitrateLimit == 300
        assert profiles[0].PTZConfiguration is None
        uri = (await media.GetStreamUri({"StreamSetup": RTSP_SETUP,
                                         "ProfileToken": "Profile_2"})).Uri
    finally:
        await camera.close()
    assert uri == cams.url("cam1", "sub")
    with av.open(uri, options={"rtsp_transport": "tcp"}, timeout=(5.0, 5.0)) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (160, 120)
    with pytest.raises(Exception, match="no ONVIF"):
        cams.onvif_port("plain")


def test_every_answer_is_shaped_by_the_wsdl(fakecams: StartFakeCams) -> None:
    cams = fakecams([onvif_camera(ptz=True)])
    address = cams.onvif_address("cam1")
    profile = "<tptz:ProfileToken>Profile_1</tptz:ProfileToken>"
    calls = {
        "/onvif/device_service": [
            "<tds:GetDeviceInformation/>", "<tds:GetSystemDateAndTime/>",
            "<tds:GetCapabilities/>", "<tds:GetServiceCapabilities/>", "<tds:GetScopes/>",
            "<tds:GetNetworkInterfaces/>", "<tds:GetHostname/>", "<tds:GetUsers/>",
            "<tds:GetServices><tds:IncludeCapability>true</tds:IncludeCapability>"
            "</tds:GetServices>"],
        "/onvif/media_service": [
            "<trt:GetProfiles/>", "<trt:GetVideoSources/>",
            "<trt:GetVideoEncoderConfigurations/>",
            "<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>"
            "<tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>"
            "<trt:ProfileToken>Profile_1</trt:ProfileToken></trt:GetStreamUri>"],
        "/onvif/events_service": ["<tev:GetEventProperties/>", "<tev:GetServiceCapabilities/>"],
        "/onvif/ptz_service": [
            "<tptz:GetNodes/>", "<tptz:GetConfigurations/>",
            f"<tptz:ContinuousMove>{profile}<tptz:Velocity><tt:PanTilt x='0.5' y='0'/>"
            "</tptz:Velocity></tptz:ContinuousMove>",
            f"<tptz:GetStatus>{profile}</tptz:GetStatus>", f"<tptz:Stop>{profile}</tptz:Stop>",
            f"<tptz:SetPreset>{profile}<tptz:PresetName>door</tptz:PresetName></tptz:SetPreset>",
            f"<tptz:GetPresets>{profile}</tptz:GetPresets>"],
    }
    for path, bodies in calls.items():
        for body in bodies:
            status, answer, _ = soap(address, path, body)
            assert status == 200, fault_reason(answer)
            assert_schema_valid(answer)
    status, created, _ = soap(address, "/onvif/events_service",
                              "<tev:CreatePullPointSubscription/>")
    assert_schema_valid(created)
    pullpoint = created.findtext("tev:SubscriptionReference/wsa:Address", namespaces=NS)
    path = "/" + pullpoint.split("/", 3)[3]
    cams.onvif_event("cam1", "line_crossing")
    for body in ("<tev:PullMessages><tev:Timeout>PT1S</tev:Timeout>"
                 "<tev:MessageLimit>10</tev:MessageLimit></tev:PullMessages>",
                 "<wsnt:Renew><wsnt:TerminationTime>PT120S</wsnt:TerminationTime></wsnt:Renew>",
                 "<wsnt:Unsubscribe/>"):
        status, answer, _ = soap(address, path, body)
        assert status == 200, fault_reason(answer)
        assert_schema_valid(answer)


# -- authentication --

def test_wrong_passwords_are_counted_and_five_lock_the_camera(fakecams: StartFakeCams) -> None:
    cams = fakecams([onvif_camera()])
    address = cams.onvif_address("cam1")
    info = "<tds:GetDeviceInformation/>"
    status, anonymous, headers = soap(address, "/onvif/device_service", info, username=None)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Digest ")
    assert fault_reason(anonymous) == "Sender not authorized"
    assert cams.onvif_state("cam1")["auth_failures"] == 0  # no credentials is no failure
    status, clock, _ = soap(address, "/onvif/device_service", "<tds:GetSystemDateAndTime/>",
                            username=None)
    assert status == 200 and etree.QName(clock).localname == "GetSystemDateAndTimeResponse"
    for attempt in range(1, 6):
        status, fault, _ = soap(address, "/onvif/device_service", info, password="wrong")
        assert status == 400 and fault_reason(fault) == "Sender not authorized"
        assert fault_subcodes(fault) == ["ter:NotAuthorized"]
        assert cams.onvif_state("cam1")["auth_failures"] == attempt
    state = cams.onvif_state("cam1")
    assert state["locked"] and state["locked_for_s"] > 0
    status, fault, _ = soap(address, "/onvif/device_service", info)  # the right password
    assert status == 400 and "locked" in fault_reason(fault)
    assert not cams.onvif_set("cam1", unlock=True)["locked"]
    status, answer, _ = soap(address, "/onvif/device_service", info)
    assert status == 200 and answer.findtext("tds:Model", namespaces=NS) == "FC-2000"


async def test_zeep_with_a_wrong_password_gets_a_fault(fakecams: StartFakeCams) -> None:
    cams = fakecams([onvif_camera()])
    camera = ONVIFCamera(*cams.onvif_address("cam1"), "admin", "Wrong-Pass1")
    try:
        with pytest.raises(zeep.exceptions.Fault, match="Sender not authorized"):
            await camera.update_xaddrs()  # GetServices fails, then GetCapabilities
    finally:
        await camera.close()
    assert cams.onvif_state("cam1")["auth_failures"] == 2


async def test_http_digest_admits_and_challenges(fakecams: StartFakeCams) -> None:
    cams = fakecams([onvif_camera()])
    host, port = cams.onvif_address("cam1")
    url = f"http://{host}:{port}/onvif/device_service"
    body = (f'<env:Envelope xmlns:env="{NS["env"]}" xmlns:tds="{NS["tds"]}"><env:Body>'
            "<tds:GetDeviceInformation/></env:Body></env:Envelope>")
    headers = {"Content-Type": "application/soap+xml"}
    for password, status in ((PASSWORD, 200), ("wrong", 401)):
        middleware = aiohttp.DigestAuthMiddleware("admin", password)
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session, \
                session.post(url, data=body, headers=headers) as reply:
            assert reply.status == status, await reply.text()
            if status == 401:
                assert "Digest" in reply.headers["WWW-Authenticate"]
    assert cams.onvif_state("cam1")["auth_failures"] == 1


def test_an_inactive_camera_is_activated_by_create_users(fakecams: StartFakeCams) -> None:
    cams = fakecams([onvif_camera(inactive=True)])
    address = cams.onvif_address("cam1")
    assert not cams.onvif_state("cam1")["active"]
    status, fault, _ = soap(address, "/onvif/device_service", "<tds:GetDeviceInformation/>")
    assert status == 400 and "not activated" in fault_reason(fault)
    assert fault_subcodes(fault) == ["ter:NotAuthorized"]
    status, _, _ = soap(address, "/onvif/device_service", "<tds:GetSystemDateAndTime/>",
                        username=None)
    assert status == 200

    def create(password: str) -> tuple[int, etree._Element, dict[str, str]]:
        return soap(address, "/onvif/device_service", (
            f"<tds:CreateUsers><tds:User><tt:Username>root</tt:Username><tt:Password>{password}"
            "</tt:Password><tt:UserLevel>Administrator</tt:UserLevel></tds:User>"
            "</tds:CreateUsers>"), username=None)

    status, fault, _ = create("12345")
    assert status == 400 and fault_subcodes(fault) == ["ter:OperationProhibited",
                                                       "ter:PasswordTooWeak"]
    status, _, _ = create("New-Pass-9")
    assert status == 200
    state = cams.onvif_state("cam1")
    assert state["active"] and state["users"] == {"root": "Administrator"}
    status, answer, _ = soap(address, "/onvif/device_service", "<tds:GetDeviceInformation/>",
                             username="root", password="New-Pass-9")
    assert status == 200, fault_reason(answer)
    status, fault, _ = create("Other-Pass-9")  # anonymous again: no longer allowed
    assert status == 401 and fault_reason(fault) == "Sender not authorized"
    assert not cams.onvif_set("cam1", inactive=True)["active"]


# -- clock --

async def test_clock_offset_and_set_system_date_and_time(fakecams: StartFakeCams) -> None:
    cams = fakecams([onvif_camera(clock_offset_s=3600.0)])
    camera = ONVIFCamera(*cams.onvif_address("cam1"), "admin", PASSWORD)
    try:
        device = await camera.create_devicemgmt_service()
        clock = (await device.authless_GetSystemDateAndTime()).UTCDateTime
        camera_time = dt.datetime(clock.Date.Year, clock.Date.Month, clock.Date.Day,
                                  clock.Time.Hour, clock.Time.Minute, clock.Time.Second,
                                  tzinfo=dt.UTC)
        ahead = (camera_time - dt.datetime.now(dt.UTC)).total_seconds()
        assert 3000 < ahead < 4200  # an hour ahead, whatever the test's pace
        now = dt.datetime.now(dt.UTC)
        await device.SetSystemDateAndTime({
            "DateTimeType": "Manual", "DaylightSavings": False, "TimeZone": {"TZ": "UTC0"},
            "UTCDateTime": {"Date": {"Year": now.year, "Month": now.month, "Day": now.day},
                            "Time": {"Hour": now.hour, "Minute": now.minute,
                                     "Second": now.second}}})
    finally:
        await camera.close()
    state = cams.onvif_state("cam1")
    assert state["time_set_calls"] == 1 and state["date_time_type"] == "Manual"
    assert abs(state["clock_offset_s"]) < 600
    assert cams.onvif_set("cam1", clock_offset_s=-30.0)["clock_offset_s"] == -30.0


def test_a_camera_checking_token_times_wants_its_own_clock(fakecams: StartFakeCams) -> None:
    """With ``wsse_max_skew_s`` a token signed by a host clock an hour behind the camera's
    is refused (and counted); a client that reads the camera's clock first gets in."""
    cams = fakecams([onvif_camera(clock_offset_s=3600.0, wsse_max_skew_s=300.0)])
    status, fault, _ = soap(cams.onvif_address("cam1"), "/onvif/device_service",
                            "<tds:GetDeviceInformation/>")
    assert status == 400 and fault_reason(fault) == "Sender not authorized"
    assert cams.onvif_state("cam1")["auth_failures"] == 1

    async def adjusted() -> str:
        camera = ONVIFCamera(*cams.onvif_address("cam1"), "admin", PASSWORD, adjust_time=True)
        try:
            await camera.update_xaddrs()
            device = await camera.create_devicemgmt_service()
            return str((await device.GetDeviceInformation()).Model)
        finally:
            await camera.close()

    assert asyncio.run(adjusted()) == "FC-2000"
    assert cams.onvif_state("cam1")["auth_failures"] == 1


# -- events --

async def test_pull_messages_returns_an_injected_event_at_once_and_none_at_timeout(
        fakecams: StartFakeCams) -> None:
    cams = fakecams([onvif_camera()])
    camera = ONVIFCamera(*cams.onvif_address("cam1"), "admin", PASSWORD)
    try:
        await camera.update_xaddrs()
        manager = await camera.create_pullpoint_manager(dt.timedelta(seconds=60), lambda: None)
        pullpoint = manager.get_service()
        initial = await pullpoint.PullMessages({"Timeout": dt.timedelta(seconds=1),
                                                "MessageLimit": 100})
        operations = {m.Message._value_1.PropertyOperation for m in initial.NotificationMessage}
        assert operations == {"Initialized"} and len(initial.NotificationMessage) == 4
        assert cams.onvif_state("cam1")["subscriptions"] == 1

        long_poll = asyncio.create_task(pullpoint.PullMessages(
            {"Timeout": dt.timedelta(minutes=10), "MessageLimit": 10}))
        injected = cams.onvif_event("cam1", "motion", active=True)
        assert injected["subscriptions"] == 1
        # Returns with the event, long before the poll's timeout (capped at 60 s).
        pulled = await asyncio.wait_for(long_poll, DEADLINE_S)
        (notification,) = pulled.NotificationMessage
        assert notification.Topic._value_1 == "tns1:RuleEngine/CellMotionDetector/Motion"
        message = notification.Message._value_1
        assert message.PropertyOperation == "Changed"
        items = {i.Name: i.Value for i in message.Source.SimpleItem + message.Data.SimpleItem}
        assert items["IsMotion"] == "true" and items["Rule"] == "MyMotionDetectorRule"

        empty = await pullpoint.PullMessages({"Timeout": dt.timedelta(seconds=1),
                                              "MessageLimit": 10})
        assert not empty.NotificationMessage

        cams.onvif_event("cam1", "input", active=True, source="AlarmIn_2")
        cams.onvif_event("cam1", "line_crossing")
        pulled = await pullpoint.PullMessages({"Timeout": dt.timedelta(seconds=5),
                                               "MessageLimit": 10})
        topics = [m.Topic._value_1 for m in pulled.NotificationMessage]
        assert topics == ["tns1:Device/Trigger/DigitalInput",
                          "tns1:RuleEngine/LineDetector/Crossed"]
        assert pulled.NotificationMessage[1].Message._value_1.PropertyOperation is None

        await manager.set_synchronization_point()
        synced = await pullpoint.PullMessages({"Timeout": dt.timedelta(seconds=5),
                                               "MessageLimit": 100})
        states = {m.Message._value_1.Data.SimpleItem[0].Value for m in synced.NotificationMessage
                  if m.Topic._value_1.endswith("Motion")}
        assert states == {"true"}  # the motion property is still on
        await manager.shutdown()  # Unsubscribe
    finally:
        await camera.close()
    assert cams.onvif_state("cam1")["subscriptions"] == 0


def test_a_subscription_ends_at_its_termination_time(fakecams: StartFakeCams) -> None:
    cams = fakecams([onvif_camera()])
    address = cams.onvif_address("cam1")
    _, created, _ = soap(address, "/onvif/events_service", (
        "<tev:CreatePullPointSubscription><tev:InitialTerminationTime>PT1S"
        "</tev:InitialTerminationTime></tev:CreatePullPointSubscription>"))
    path = "/" + created.findtext("tev:SubscriptionReference/wsa:Address",
                                  namespaces=NS).split("/", 3)[3]
    pull = ("<tev:PullMessages><tev:Timeout>PT5S</tev:Timeout>"
            "<tev:MessageLimit>10</tev:MessageLimit></tev:PullMessages>")
    status, answer, _ = soap(address, path, pull)
    assert status == 200  # the Initialized states at once
    for _ in range(100):  # each poll waits at most until the subscription ends
        status, answer, _ = soap(address, path, pull)
        if status != 200:
            break
    assert status == 400 and fault_subcodes(answer) == ["ter:InvalidArgVal",
                                                        "ter:ResourceUnknown"]
    assert cams.onvif_state("cam1")["subscriptions"] == 0


# -- PTZ --

async def test_ptz_moves_stops_and_goes_to_presets(fakecams: StartFakeCams) -> None:
    cams = fakecams([onvif_camera(ptz=True), onvif_camera("fixed")])
    camera = ONVIFCamera(*cams.onvif_address("cam1"), "admin", PASSWORD)
    profile = {"ProfileToken": "Profile_1"}
    try:
        await camera.update_xaddrs()
        ptz = await camera.create_ptz_service()
        await ptz.ContinuousMove({**profile, "Velocity": {"PanTilt": {"x": 0.5, "y": -0.25},
                                                          "Zoom": {"x": 0.0}}})
        state = cams.onvif_state("cam1")["ptz"]
        assert state["moving"] and state["velocity"] == {"pan": 0.5, "tilt": -0.25, "zoom": 0.0}
        status = await ptz.GetStatus(profile)
        assert status.MoveStatus.PanTilt == "MOVING"
        await ptz.Stop(profile)
        state = cams.onvif_state("cam1")["ptz"]
        assert not state["moving"] and state["last_velocity"]["pan"] == 0.5
        assert state["position"]["pan"] > 0 and state["position"]["tilt"] < 0
        door = await ptz.SetPreset({**profile, "PresetName": "door"})
        door_position = cams.onvif_state("cam1")["presets"][door]["position"]
        await ptz.ContinuousMove({**profile, "Velocity": {"PanTilt": {"x": -1.0, "y": 1.0}}})
        await ptz.Stop(profile)
        assert cams.onvif_state("cam1")["ptz"]["position"] != door_position
        await ptz.GotoPreset({**profile, "PresetToken": door})
        assert cams.onvif_state("cam1")["ptz"]["position"] == door_position
        presets = await ptz.GetPresets(profile)
        assert [(p.token, p.Name) for p in presets] == [(door, "door")]
        await ptz.RemovePreset({**profile, "PresetToken": door})
        assert cams.onvif_state("cam1")["presets"] == {}
        await ptz.GotoHomePosition(profile)
        assert cams.onvif_state("cam1")["ptz"]["position"] == {"pan": 0, "tilt": 0, "zoom": 0}
    finally:
        await camera.close()
    status, fault, _ = soap(cams.onvif_address("fixed"), "/onvif/ptz_service",
                            "<tptz:GetNodes/>")
    assert status == 500 and "ter:PTZNotSupported" in fault_subcodes(fault)


# -- WS-Discovery --

def probe(types: str = "dn:NetworkVideoTransmitter") -> tuple[str, bytes]:
    message_id = f"uuid:{uuid.uuid4()}"
    return message_id, (
        f'<s:Envelope xmlns:s="{NS["env"]}" xmlns:a="{NS["a"]}" xmlns:d="{NS["d"]}" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:x="urn:other">'
        f"<s:Header><a:Action>{NS['d']}/Probe</a:Action><a:MessageID>{message_id}"
        "</a:MessageID><a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>"
        f"<s:Body><d:Probe><d:Types>{types}</d:Types></d:Probe></s:Body></s:Envelope>"
    ).encode()


def probe_matches(sock: socket.socket, message_id: str, count: int) -> list[etree._Element]:
    """The next ``count`` ProbeMatch elements answering ``message_id`` (others fail)."""
    found: list[etree._Element] = []
    while len(found) < count:
        data, _ = sock.recvfrom(65535)
        root = etree.fromstring(data)
        assert root.findtext(".//a:RelatesTo", namespaces=NS) == message_id
        found.extend(root.iterfind(".//d:ProbeMatch", NS))
    return found


@pytest.fixture
def discoverable(fakecam_clips: Path) -> Iterator[FakeCamServer]:
    """Two ONVIF cameras whose WS-Discovery listens on a port of their own (a unicast
    probe to the shared 3702 could reach another fakecam on this host)."""
    reason = gst_unavailable_reason()
    if reason:
        pytest.skip(reason)
    with FakeCamServer([onvif_camera("cam1"), onvif_camera("cam2", ptz=True)],
                       clip_cache=fakecam_clips, discovery_port=0) as cams:
        yield cams


@pytest.mark.gst
def test_ws_discovery_answers_a_unicast_probe(discoverable: FakeCamServer) -> None:
    cams = discoverable
    assert cams.discovery_port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(DEADLINE_S)
        _, foreign = probe("x:Printer")
        sock.sendto(foreign, ("127.0.0.1", cams.discovery_port))  # not answered
        message_id, wanted = probe()
        sock.sendto(wanted, ("127.0.0.1", cams.discovery_port))
        found = probe_matches(sock, message_id, 2)
    by_xaddr = {m.findtext("d:XAddrs", namespaces=NS): m for m in found}
    for name in ("cam1", "cam2"):
        host, port = cams.onvif_address(name)
        match = by_xaddr[f"http://{host}:{port}/onvif/device_service"]
        onvif = cams.cameras[name].onvif
        assert onvif is not None
        assert match.findtext("a:EndpointReference/a:Address", namespaces=NS) == \
            onvif.endpoint_uuid(name)
        scopes = str(match.findtext("d:Scopes", namespaces=NS)).split()
        assert f"onvif://www.onvif.org/MAC/{onvif.mac_for(name)}" in scopes
        assert "onvif://www.onvif.org/name/FC-2000" in scopes
        assert "dn:NetworkVideoTransmitter" in str(match.findtext("d:Types", namespaces=NS))


@pytest.mark.root
@pytest.mark.gst
async def test_ws_discovery_in_a_network_namespace(fakecam_clips: Path) -> None:
    """A multicast probe out of the host end of a veth finds the camera behind it, and its
    XAddr is an ONVIF device service a client reaches."""
    for reason in (root_unavailable_reason(), gst_unavailable_reason()):
        if reason:
            pytest.skip(reason)
    port = CameraPort(9, interface="tonvif9", netns="tonvifcam9", host_address="10.89.9.1/24",
                      camera_address="10.89.9.2/24", link_up=True)
    with port, FakeCamServer([onvif_camera("nscam")], host=port.camera_address,
                             netns=port.netns, clip_cache=fakecam_clips) as cams, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        assert cams.discovery_port == 3702
        sock.settimeout(DEADLINE_S)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                        socket.inet_aton(port.host_address))
        sock.bind((port.host_address, 0))
        message_id, data = probe()
        sock.sendto(data, ("239.255.255.250", 3702))
        (match,) = probe_matches(sock, message_id, 1)
        xaddr = match.findtext("d:XAddrs", namespaces=NS)
        assert xaddr == f"http://{port.camera_address}:{cams.onvif_port('nscam')}" \
                        "/onvif/device_service"
        camera = ONVIFCamera(port.camera_address, cams.onvif_port("nscam"), "admin", PASSWORD)
        try:
            await camera.update_xaddrs()
            device = await camera.create_devicemgmt_service()
            assert (await device.GetDeviceInformation()).Model == "FC-2000"
            media = await camera.create_media_service()
            uri = (await media.GetStreamUri({"StreamSetup": RTSP_SETUP,
                                             "ProfileToken": "Profile_1"})).Uri
        finally:
            await camera.close()
        assert uri == f"rtsp://{port.camera_address}:{cams.port}/nscam/main"


# -- pure parts --

def test_probe_matching_by_types_and_scopes() -> None:
    scopes = ["onvif://www.onvif.org/type/video_encoder", "onvif://www.onvif.org/name/FC-2000"]
    for types, expected in (("", True), ("dn:NetworkVideoTransmitter", True),
                            ("x:Printer", False)):
        parsed = parse_probe(probe(types)[1])
        assert parsed is not None and matches(parsed, scopes) is expected
    assert parse_probe(b"<not-xml") is None
    scoped = parse_probe(probe()[1].replace(
        b"</d:Types>", b"</d:Types><d:Scopes>onvif://www.onvif.org/name</d:Scopes>"))
    assert scoped is not None and matches(scoped, scopes)
    assert not matches(scoped, scopes[:1])


def test_password_digests_and_durations() -> None:
    nonce, created = b"0123456789abcdef", "2024-05-01T10:00:00Z"
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + b"pw").digest()).decode()
    token = UsernameToken("admin", digest, True, nonce, created)
    assert token.matches("pw") and not token.matches("other")
    assert UsernameToken("admin", "pw", False, b"", "").matches("pw")
    authority = DigestAuthority("realm")
    challenge = authority.challenge()
    nonce_value = challenge.split('nonce="')[1].split('"')[0]

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    response = md5(f"{md5('admin:realm:pw')}:{nonce_value}:00000001:c:auth:{md5('POST:/x')}")
    header = (f'Digest username="admin", realm="realm", nonce="{nonce_value}", uri="/x", '
              f'qop=auth, nc=00000001, cnonce="c", response="{response}"')
    assert authority.check(header, "POST", "/x", {"admin": "pw"}) == ("ok", "admin")
    assert authority.check(header, "POST", "/x", {"admin": "no"})[0] == "invalid"
    assert authority.check(header.replace(nonce_value, "stale"), "POST", "/x",
                           {"admin": "pw"})[0] == "stale"
    assert [parse_duration(d) for d in ("PT60S", "PT1M30S", "P1DT1H", "PT0.5S")] == [
        60, 90, 90000, 0.5]
