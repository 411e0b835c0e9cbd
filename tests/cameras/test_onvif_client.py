"""The recorder's ONVIF client: probing, errors in words, clocks, events, PTZ.

Two kinds of camera: recorded replies (tests/cameras/recorded_camera.py: SOAP as real
cameras word it, for parsing and error mapping) and the fake camera's ONVIF server
(tools/fakecam/onvif), which keeps state: passwords and lockout, activation, its clock,
events injected over its control socket, PTZ.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import av
import pytest
from aiohttp import web

from hal.ptz.commands import Pan, Tilt, Zoom
from nvrd.cameras.onvif.client import (
    MediaProfile,
    OnvifDevice,
    clock_from_answer,
    mac_from_interfaces,
)
from nvrd.cameras.onvif.errors import (
    CameraError,
    CameraInactive,
    CameraLocked,
    CameraUnreachable,
    NotOnvif,
    OnvifFault,
    WrongPassword,
)
from nvrd.cameras.onvif.events import CameraEvent, pull_events, topic_path
from nvrd.cameras.onvif.mac import normalize_mac
from nvrd.cameras.onvif.probe import choose_streams, probe_camera
from nvrd.cameras.onvif.ptz import OnvifPtz, PresetNotSet, preset_numbers
from tests.cameras.recorded_camera import (
    DEVICE_INFORMATION,
    LOCKED,
    NETWORK_INTERFACES,
    NOT_ACTIVATED,
    NOT_AUTHORIZED,
    PROFILES,
    SERVICES,
    STREAM_URI,
    SYSTEM_DATE_AND_TIME,
    RecordedCamera,
    Reply,
    fault,
    reply,
)
from tools.fakecam.control import CameraSpec, FakeCamServer, OnvifSpec, StartFakeCams, StreamSpec

MAIN_URI = "rtsp://192.168.1.64:554/Streaming/Channels/101?transportmode=unicast"


def system_date_and_time(offset_s: float = 0.0, kind: str = "Manual") -> Reply:
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_s)
    return reply(SYSTEM_DATE_AND_TIME.format(type=kind, h=at.hour, mi=at.minute,
                                             s=at.second, y=at.year, mo=at.month,
                                             d=at.day))


def hikvision(**overrides: Reply | list[Reply]) -> dict[str, Reply | list[Reply]]:
    replies: dict[str, Reply | list[Reply]] = {
        "GetSystemDateAndTime": system_date_and_time(30, "NTP"),
        "GetDeviceInformation": reply(DEVICE_INFORMATION),
        "GetNetworkInterfaces": reply(NETWORK_INTERFACES),
        "GetServices": reply(SERVICES),
        "GetProfiles": reply(PROFILES),
        "GetStreamUri": reply(STREAM_URI.format(uri=MAIN_URI)),
    }
    replies.update(overrides)
    return replies


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- recorded replies --------------------------------------------------------------------

async def test_probe_reads_a_camera_with_one_anonymous_call_first() -> None:
    async with RecordedCamera(hikvision()) as cam:
        result = await probe_camera("127.0.0.1", cam.port, "admin", "pw", timeout_s=5)
    assert result.info.manufacturer == "HIKVISION"
    assert result.info.model == "DS-2CD2043G0-I"
    assert result.info.firmware == "V5.6.3 build 190923"
    assert result.mac == "bc:ad:28:12:34:56"
    # the recorded camera lists the sub stream first and an audio-only profile between
    assert [p.token for p in result.profiles] == ["Profile_2", "Profile_1"]
    assert result.main.token == "Profile_1" and result.main.width == 2688
    assert result.main.bitrate_kbps == 4096 and result.main.fps == 25
    assert result.sub is not None and result.sub.token == "Profile_2"
    assert result.main_url == MAIN_URI
    assert result.clock.ntp is True
    assert 28.5 < result.clock.offset_s < 31.5
    assert result.ptz is False  # a PTZ configuration, but no PTZ service listed
    assert cam.operations()[:2] == ["GetSystemDateAndTime", "GetDeviceInformation"]
    assert [r.secured for r in cam.requests[:2]] == [False, True]
    assert cam.operations().count("GetStreamUri") == 2


@pytest.mark.parametrize(("answer", "error", "words"), [
    (NOT_AUTHORIZED, WrongPassword, "refused the user name or password"),
    (NOT_ACTIVATED, CameraInactive, "not activated yet: set its password (activate)"),
    (LOCKED, CameraLocked, "locked the account"),
])
async def test_a_refused_login_costs_one_attempt(answer: str, error: type[CameraError],
                                                 words: str) -> None:
    async with RecordedCamera(hikvision(GetDeviceInformation=Reply(answer, 400))) as cam:
        with pytest.raises(error) as caught:
            await probe_camera("127.0.0.1", cam.port, "admin", "wrong", timeout_s=5)
    assert words in str(caught.value)
    assert f"127.0.0.1:{cam.port}" in str(caught.value)
    assert caught.value.code == {WrongPassword: "wrong_password", CameraInactive: "inactive",
                                 CameraLocked: "locked"}[error]
    assert sum(r.secured for r in cam.requests) == 1
    assert cam.operations() == ["GetSystemDateAndTime", "GetDeviceInformation"]


async def test_a_refused_service_list_is_not_retried_another_way() -> None:
    replies = hikvision(GetServices=Reply(NOT_AUTHORIZED, 400))
    async with RecordedCamera(replies) as cam, \
            OnvifDevice("127.0.0.1", cam.port, "admin", "pw", timeout_s=5) as device:
        with pytest.raises(WrongPassword):
            await device.profiles()
    assert "GetCapabilities" not in cam.operations()
    assert sum(r.secured for r in cam.requests) == 1


async def test_cameras_without_get_services_are_asked_for_capabilities() -> None:
    capabilities = (
        "<tds:GetCapabilitiesResponse><tds:Capabilities>"
        "<tt:Device><tt:XAddr>{base}/onvif/device_service</tt:XAddr></tt:Device>"
        "<tt:Media><tt:XAddr>{base}/onvif/media</tt:XAddr><tt:StreamingCapabilities>"
        "<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
        "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>"
        "<tt:PTZ><tt:XAddr>{base}/onvif/ptz</tt:XAddr></tt:PTZ>"
        "</tds:Capabilities></tds:GetCapabilitiesResponse>")
    replies = hikvision(GetCapabilities=reply(capabilities))
    del replies["GetServices"]  # answered with an ActionNotSupported fault
    async with RecordedCamera(replies) as cam:
        result = await probe_camera("127.0.0.1", cam.port, "admin", "pw", timeout_s=5)
    assert result.ptz is True
    assert [r.path for r in cam.requests if r.operation == "GetProfiles"] == ["/onvif/media"]


async def test_a_camera_that_wants_a_login_for_its_clock_gets_one() -> None:
    replies = hikvision(GetSystemDateAndTime=[Reply(NOT_AUTHORIZED, 400),
                                              system_date_and_time(-5)])
    async with RecordedCamera(replies) as cam, \
            OnvifDevice("127.0.0.1", cam.port, "admin", "pw", timeout_s=5) as device:
        clock = await device.clock()
    assert -6.5 < clock.offset_s < -3.5
    assert [r.secured for r in cam.requests] == [False, True]


async def test_unreachable_says_where_and_what() -> None:
    port = free_port()
    with pytest.raises(CameraUnreachable) as caught:
        await probe_camera("127.0.0.1", port, "admin", "pw", timeout_s=5)
    assert str(caught.value).startswith(f"cannot reach the camera at 127.0.0.1:{port}: "
                                        "connection refused")
    assert caught.value.code == "unreachable"


async def test_a_camera_that_does_not_answer_in_time_is_unreachable() -> None:
    slow = hikvision(GetSystemDateAndTime=Reply(system_date_and_time().body, delay_s=5))
    async with RecordedCamera(slow) as cam:
        with pytest.raises(CameraUnreachable) as caught:
            await probe_camera("127.0.0.1", cam.port, "admin", "pw", timeout_s=0.3)
    assert "did not answer GetSystemDateAndTime within 0.3 s" in str(caught.value)


@pytest.fixture
async def web_server() -> AsyncIterator[Callable[[web.Response], Awaitable[int]]]:
    """An HTTP server that is not a camera: every request gets the same response."""
    runners: list[web.AppRunner] = []

    async def start(response: web.Response) -> int:
        async def handle(request: web.Request) -> web.Response:
            return web.Response(status=response.status, body=response.body,
                                content_type=response.content_type)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return int(runner.addresses[0][1])

    yield start
    for runner in runners:
        await runner.cleanup()


HTML = "<!DOCTYPE html><html><head><title>Router</title></head><body>Login</body></html>"
XHTML = "<html><head><title>Not Found</title></head><body><h1>404</h1></body></html>"


@pytest.mark.parametrize(("status", "body", "content_type"), [
    (404, HTML, "text/html"),
    (404, XHTML, "text/html"),
    (200, HTML, "text/html"),
    (200, XHTML, "application/xml"),
    (200, '{"ok": true}', "application/json"),
    (500, "", "text/plain"),
])
async def test_something_that_is_not_onvif(web_server: Callable[[web.Response], Awaitable[int]],
                                           status: int, body: str,
                                           content_type: str) -> None:
    port = await web_server(web.Response(status=status, text=body,
                                         content_type=content_type))
    with pytest.raises(NotOnvif) as caught:
        await probe_camera("127.0.0.1", port, "admin", "pw", timeout_s=5)
    assert f"127.0.0.1:{port} answers HTTP" in str(caught.value)
    assert "not an ONVIF camera, or ONVIF is switched off" in str(caught.value)
    assert caught.value.code == "not_onvif"


async def test_http_401_is_a_wrong_password(
        web_server: Callable[[web.Response], Awaitable[int]]) -> None:
    port = await web_server(web.Response(status=401))
    async with OnvifDevice("127.0.0.1", port, "admin", "pw", timeout_s=5) as device:
        with pytest.raises(WrongPassword, match=r"\(HTTP 401\)"):
            await device.clock()


async def test_other_faults_carry_the_cameras_reason() -> None:
    refused = Reply(fault("ter:InvalidArgVal", "No such profile", code="env:Sender"), 400)
    async with RecordedCamera(hikvision(GetStreamUri=refused)) as cam, \
            OnvifDevice("127.0.0.1", cam.port, "admin", "pw", timeout_s=5) as device:
        with pytest.raises(OnvifFault) as caught:
            await device.stream_uri("nope")
    assert str(caught.value) == (f"the camera at 127.0.0.1:{cam.port} refused GetStreamUri: "
                                 "No such profile (InvalidArgVal)")
    assert caught.value.reason == "No such profile"
    assert caught.value.code == "fault"


async def test_activating_an_active_camera_says_so() -> None:
    async with RecordedCamera(hikvision(CreateUsers=Reply(NOT_AUTHORIZED, 400))) as cam, \
            OnvifDevice("127.0.0.1", cam.port, "", "", timeout_s=5) as device:
        with pytest.raises(OnvifFault, match="already activated"):
            await device.activate("admin", "New-Pass1")
    assert [(r.operation, r.secured) for r in cam.requests] == [("CreateUsers", False)]


def test_clock_offset_is_taken_at_the_middle_of_the_exchange() -> None:
    answer = {"DateTimeType": "Manual", "UTCDateTime": {
        "Date": {"Year": 2024, "Month": 5, "Day": 1},
        "Time": {"Hour": 10, "Minute": 0, "Second": 0}}}
    at = int(dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC).timestamp()) * 1_000_000
    clock = clock_from_answer(answer, at - 100_000, at + 100_000)
    assert clock.camera_utc_us == at + 500_000
    assert clock.offset_s == pytest.approx(0.5)
    assert clock.ntp is False
    with pytest.raises(OnvifFault, match="did not tell its UTC time"):
        clock_from_answer({"DateTimeType": "NTP"}, at, at)


def test_mac_spellings() -> None:
    assert normalize_mac("BC-AD-28-12-34-56") == "bc:ad:28:12:34:56"
    assert normalize_mac("bcad.2812.3456") == "bc:ad:28:12:34:56"
    assert normalize_mac("BCAD28123456") == "bc:ad:28:12:34:56"
    assert normalize_mac("00:00:00:00:00:00") == ""
    assert normalize_mac("bc:ad:28:12:34") == ""
    assert normalize_mac(None) == ""
    disabled = {"Enabled": False, "Info": {"HwAddress": "02:00:00:00:00:01"}}
    enabled = {"Enabled": True, "Info": {"HwAddress": "02-00-00-00-00-02"}}
    assert mac_from_interfaces([disabled, enabled]) == "02:00:00:00:00:02"
    assert mac_from_interfaces([]) == ""


def test_main_is_the_highest_resolution_and_sub_the_next() -> None:
    def profile(token: str, width: int, height: int) -> MediaProfile:
        return MediaProfile(token, token, "H264", width, height, 25, 1024, False)

    third, main, sub = profile("3", 640, 480), profile("1", 1920, 1080), profile("2", 1280,
                                                                                 720)
    assert choose_streams([third, main, sub]) == (main, sub)
    assert choose_streams([main]) == (main, None)
    with pytest.raises(ValueError):
        choose_streams([])


def test_preset_numbers_from_names_or_numeric_tokens() -> None:
    presets = [{"token": "7", "Name": "Gate"}, {"token": "abc", "Name": "Preset 3"},
               {"token": "x", "Name": "PRESET_012"}, {"token": "y", "Name": "Door"},
               {"token": "999", "Name": "far"}]
    assert preset_numbers(presets) == {7: "7", 3: "abc", 12: "x"}


# --- events (recorded) -------------------------------------------------------------------

SUBSCRIPTION = (
    "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
    "<wsa5:Address>{base}/onvif/Events/PullSubManager_1</wsa5:Address>"
    "</tev:SubscriptionReference>"
    "<wsnt:CurrentTime>2024-05-01T10:00:00Z</wsnt:CurrentTime>"
    "<wsnt:TerminationTime>2024-05-01T10:00:04Z</wsnt:TerminationTime>"
    "</tev:CreatePullPointSubscriptionResponse>")


def message(topic: str, source: dict[str, str], data: dict[str, str],
            operation: str = "Changed", utc: str = "2024-05-01T10:00:01Z") -> str:
    def items(values: dict[str, str]) -> str:
        return "".join(f'<tt:SimpleItem Name="{k}" Value="{v}"/>' for k, v in values.items())

    return (
        "<wsnt:NotificationMessage><wsnt:Topic Dialect=\"http://www.onvif.org/ver10/tev/"
        f"topicExpression/ConcreteSet\">{topic}</wsnt:Topic><wsnt:Message>"
        f'<tt:Message UtcTime="{utc}" PropertyOperation="{operation}">'
        f"<tt:Source>{items(source)}</tt:Source><tt:Data>{items(data)}</tt:Data>"
        "</tt:Message></wsnt:Message></wsnt:NotificationMessage>")


RULE = {"VideoSourceConfigurationToken": "VideoSourceToken",
        "VideoAnalyticsConfigurationToken": "VideoAnalyticsToken"}
MESSAGES = (
    "<tev:PullMessagesResponse><tev:CurrentTime>2024-05-01T10:00:02Z</tev:CurrentTime>"
    "<tev:TerminationTime>2024-05-01T10:01:02Z</tev:TerminationTime>"
    + message("tns1:RuleEngine/CellMotionDetector/Motion",
              {**RULE, "Rule": "MyMotionDetectorRule"}, {"IsMotion": "true"},
              operation="Initialized")
    + message("tns1:RuleEngine/CellMotionDetector/Motion",
              {**RULE, "Rule": "MyMotionDetectorRule"}, {"IsMotion": "false"})
    + message("tns1:VideoSource/MotionAlarm", {"Source": "VideoSource_1"}, {"State": "true"})
    + message("tns1:RuleEngine/TamperDetector/Tamper", {**RULE, "Rule": "MyTamperRule"},
              {"IsTamper": "true"})
    + message("tns1:VideoSource/GlobalSceneChange/ImagingService",
              {"Source": "VideoSource_1"}, {"State": "false"})
    + message("tns1:RuleEngine/LineDetector/Crossed", {**RULE, "Rule": "MyLineRule"},
              {"ObjectId": "17"})
    + message("tns1:RuleEngine/FieldDetector/ObjectsInside", {**RULE, "Rule": "MyFieldRule"},
              {"IsInside": "true"})
    + message("tns1:Device/Trigger/DigitalInput", {"InputToken": "AlarmIn_1"},
              {"LogicalState": "true"})
    + message("tns1:RuleEngine/tnshik:HumanDetector/Human", {"Rule": "x"},
              {"IsHuman": "true"})
    + message("tns1:Monitoring/ProcessorUsage", {}, {"Value": "12"})
    + "</tev:PullMessagesResponse>")
EMPTY = ("<tev:PullMessagesResponse><tev:CurrentTime>2024-05-01T10:00:03Z</tev:CurrentTime>"
         "<tev:TerminationTime>2024-05-01T10:01:03Z</tev:TerminationTime>"
         "</tev:PullMessagesResponse>")
RENEWED = ("<wsnt:RenewResponse><wsnt:TerminationTime>2024-05-01T10:01:03Z"
           "</wsnt:TerminationTime><wsnt:CurrentTime>2024-05-01T10:00:03Z</wsnt:CurrentTime>"
           "</wsnt:RenewResponse>")


def test_topic_paths_lose_their_prefixes() -> None:
    assert topic_path("tns1:RuleEngine/CellMotionDetector/Motion") == \
        "RuleEngine/CellMotionDetector/Motion"
    assert topic_path(" onvif:Device/vendor:Trigger/DigitalInput/ ") == \
        "Device/Trigger/DigitalInput"


async def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 20) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)
    assert condition(), what


async def test_pull_events_maps_topics_renews_and_unsubscribes() -> None:
    replies = hikvision(
        CreatePullPointSubscription=reply(SUBSCRIPTION),
        SetSynchronizationPoint=reply("<tev:SetSynchronizationPointResponse/>"),
        PullMessages=[reply(MESSAGES), reply(EMPTY, delay_s=0.2)],
        Renew=reply(RENEWED),
        Unsubscribe=reply("<wsnt:UnsubscribeResponse/>"))
    events: list[CameraEvent] = []
    subscribed: list[bool] = []
    async with RecordedCamera(replies) as cam, \
            OnvifDevice("127.0.0.1", cam.port, "admin", "pw", timeout_s=5) as device:
        task = asyncio.create_task(pull_events(
            device, events.append, pull_timeout_s=1, renew_s=1,
            on_subscribed=lambda: subscribed.append(True)))
        await wait_for(lambda: "Renew" in cam.operations(), "renewed")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert subscribed == [True]
    got = [(e.kind, e.active, e.source, e.initialized) for e in events]
    assert got == [
        ("motion", True, "MyMotionDetectorRule", True),
        ("motion", False, "MyMotionDetectorRule", False),
        ("motion", True, "VideoSource_1", False),
        ("tamper", True, "MyTamperRule", False),
        ("tamper", False, "VideoSource_1", False),
        ("line_crossing", True, "MyLineRule", False),
        ("intrusion", True, "MyFieldRule", False),
        ("input", True, "AlarmIn_1", False),
    ]
    assert events[0].topic == "tns1:RuleEngine/CellMotionDetector/Motion"
    assert events[0].time_us == int(
        dt.datetime(2024, 5, 1, 10, 0, 1, tzinfo=dt.UTC).timestamp() * 1_000_000)
    operations = cam.operations()
    assert operations[:3] == ["GetSystemDateAndTime", "GetServices",
                              "CreatePullPointSubscription"]
    assert operations[-1] == "Unsubscribe"
    pulls = [r.path for r in cam.requests if r.operation in ("PullMessages", "Renew",
                                                             "Unsubscribe")]
    assert set(pulls) == {"/onvif/Events/PullSubManager_1"}


async def test_pull_events_raises_when_the_subscription_is_gone() -> None:
    gone = Reply(fault("wsrf-rw:ResourceUnknownFault", "unknown subscription",
                       code="env:Receiver"), 400)
    replies = hikvision(
        CreatePullPointSubscription=reply(SUBSCRIPTION),
        SetSynchronizationPoint=reply("<tev:SetSynchronizationPointResponse/>"),
        PullMessages=[reply(EMPTY), gone])
    async with RecordedCamera(replies) as cam, \
            OnvifDevice("127.0.0.1", cam.port, "admin", "pw", timeout_s=5) as device:
        with pytest.raises(OnvifFault, match="refused PullMessages: unknown subscription"):
            await pull_events(device, lambda event: None, pull_timeout_s=1)
        assert cam.operations()[-1] == "Unsubscribe"


# --- against the fake camera (tools/fakecam/onvif) -------------------------------------------

MAIN = StreamSpec(320, 240, 25, 25, 300)
SUB = StreamSpec(160, 120, 10, 10, 100)
PASSWORD = OnvifSpec().password


def onvif_camera(fakecams: StartFakeCams, **onvif: Any) -> tuple[FakeCamServer, str, int]:
    cams = fakecams([CameraSpec("cam1", MAIN, SUB, onvif=OnvifSpec(**onvif))])
    host, port = cams.onvif_address("cam1")
    return cams, host, port


def first_frame_size(url: str) -> tuple[int, int]:
    """Open the stream as the recorder would and decode one picture."""
    options = {"rtsp_transport": "tcp"}
    with av.open(url, options=options, timeout=(5.0, 5.0)) as container:
        for frame in container.decode(video=0):
            return frame.width, frame.height
    raise AssertionError(f"no picture from {url}")


async def test_probe_fills_main_and_sub_urls_that_play(fakecams: StartFakeCams) -> None:
    cams, host, port = onvif_camera(fakecams, ptz=True)
    result = await probe_camera(host, port, "admin", PASSWORD, timeout_s=5)
    assert (result.info.manufacturer, result.info.model) == ("Fakecam", "FC-2000")
    assert result.mac == OnvifSpec().mac_for("cam1")
    assert (result.main.width, result.main.height) == (320, 240)
    assert result.sub is not None and (result.sub.width, result.sub.height) == (160, 120)
    assert result.main_url == cams.url("cam1", "main")
    assert result.sub_url == cams.url("cam1", "sub")
    assert result.ptz is True
    assert await asyncio.to_thread(first_frame_size, result.main_url) == (320, 240)
    assert await asyncio.to_thread(first_frame_size, result.sub_url) == (160, 120)
    assert cams.onvif_state("cam1")["auth_failures"] == 0


async def test_wrong_password_costs_one_attempt_and_does_not_lock(
        fakecams: StartFakeCams) -> None:
    cams, host, port = onvif_camera(fakecams)
    for attempt in range(1, 4):
        with pytest.raises(WrongPassword) as caught:
            await probe_camera(host, port, "admin", "Wrong-Pass1", timeout_s=5)
        state = cams.onvif_state("cam1")
        assert state["auth_failures"] == attempt
        assert state["locked"] is False
    assert str(caught.value) == (f"the camera at {host}:{port} refused the user name or "
                                 "password")
    assert (await probe_camera(host, port, "admin", PASSWORD, timeout_s=5)).main_url


async def test_a_locked_camera_says_so(fakecams: StartFakeCams) -> None:
    cams, host, port = onvif_camera(fakecams)
    for _ in range(5):
        with pytest.raises((WrongPassword, CameraLocked)):
            await probe_camera(host, port, "admin", "Wrong-Pass1", timeout_s=5)
    assert cams.onvif_state("cam1")["locked"] is True
    with pytest.raises(CameraLocked, match="locked the account after failed logins"):
        await probe_camera(host, port, "admin", PASSWORD, timeout_s=5)


async def test_inactive_camera_then_activated(fakecams: StartFakeCams) -> None:
    cams, host, port = onvif_camera(fakecams, inactive=True)
    with pytest.raises(CameraInactive) as caught:
        await probe_camera(host, port, "admin", "New-Pass1", timeout_s=5)
    assert str(caught.value) == (f"the camera at {host}:{port} is not activated yet: set its "
                                 "password (activate)")
    assert cams.onvif_state("cam1")["auth_failures"] == 0
    async with OnvifDevice(host, port, "admin", "New-Pass1", timeout_s=5) as device:
        await device.activate("admin", "New-Pass1")
        assert (await device.device_information()).model == "FC-2000"
    state = cams.onvif_state("cam1")
    assert state["active"] is True and state["users"] == {"admin": "Administrator"}
    result = await probe_camera(host, port, "admin", "New-Pass1", timeout_s=5)
    assert result.main_url == cams.url("cam1", "main")
    with pytest.raises(WrongPassword):
        await probe_camera(host, port, "admin", PASSWORD, timeout_s=5)


async def test_clock_offset_and_setting_the_clock(fakecams: StartFakeCams) -> None:
    # the camera also refuses WS-Security tokens more than 5 s off its own clock: the
    # client must sign with the camera's time
    cams, host, port = onvif_camera(fakecams, clock_offset_s=-372.4, wsse_max_skew_s=5)
    async with OnvifDevice(host, port, "admin", PASSWORD, timeout_s=5) as device:
        before = await device.clock()
        assert abs(before.offset_s - -372.4) < 1.0
        assert before.ntp is False
        await device.set_clock()
        after = await device.clock()
        assert abs(after.offset_s) < 1.0
        assert (await device.device_information()).model == "FC-2000"
    state = cams.onvif_state("cam1")
    assert state["time_set_calls"] == 1
    assert abs(state["clock_offset_s"]) < 1.0
    assert state["auth_failures"] == 0


async def test_camera_motion_arrives_and_unsubscribes(fakecams: StartFakeCams) -> None:
    cams, host, port = onvif_camera(fakecams)
    events: list[CameraEvent] = []
    subscribed = asyncio.Event()
    async with OnvifDevice(host, port, "admin", PASSWORD, timeout_s=5) as device:
        task = asyncio.create_task(pull_events(device, events.append, pull_timeout_s=2,
                                               on_subscribed=subscribed.set))
        await asyncio.wait_for(subscribed.wait(), 20)
        # the current states come first (SetSynchronizationPoint): no motion now
        await wait_for(lambda: any(e.kind == "motion" and e.initialized for e in events),
                       "initial motion state")
        await asyncio.to_thread(cams.onvif_event, "cam1", "motion", True)
        await wait_for(lambda: any(e.kind == "motion" and e.active for e in events),
                       "motion start")
        await asyncio.to_thread(cams.onvif_event, "cam1", "motion", False)
        await wait_for(lambda: [e.active for e in events if e.kind == "motion"
                                and not e.initialized] == [True, False], "motion stop")
        assert cams.onvif_state("cam1")["subscriptions"] == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    motion = [e for e in events if e.kind == "motion"]
    assert motion[0].initialized and not motion[0].active
    assert motion[-1].source == "MyMotionDetectorRule"
    assert cams.onvif_state("cam1")["subscriptions"] == 0


async def test_onvif_ptz_moves_and_keeps_presets(fakecams: StartFakeCams) -> None:
    cams, host, port = onvif_camera(fakecams, ptz=True)

    def ptz_state() -> dict[str, object]:
        state = cams.onvif_state("cam1")["ptz"]
        assert isinstance(state, dict)
        return state

    async with OnvifDevice(host, port, "admin", PASSWORD, timeout_s=5) as device:
        ptz = OnvifPtz(device, "Profile_1")
        await ptz.move(Pan.RIGHT, Tilt.UP, pan_speed=63, tilt_speed=0)
        state = ptz_state()
        assert state["moving"] is True
        velocity = state["velocity"]
        assert isinstance(velocity, dict)
        assert velocity["pan"] == pytest.approx(1.0)
        assert velocity["tilt"] == pytest.approx(1 / 63)
        assert velocity["zoom"] == 0.0
        await ptz.zoom(Zoom.IN)  # replaces the pan
        velocity = ptz_state()["velocity"]
        assert isinstance(velocity, dict)
        assert velocity["pan"] == 0.0 and velocity["zoom"] > 0
        await ptz.stop()
        assert ptz_state()["moving"] is False

        await ptz.set_preset(3)
        at_preset = ptz_state()["position"]
        assert 3 in await ptz.presets()
        await ptz.move(Pan.LEFT, turbo=True)
        await wait_for(lambda: ptz_state()["position"] != at_preset, "moved away")
        await ptz.stop()
        await ptz.call_preset(3, speed=40)
        await wait_for(lambda: ptz_state()["position"] == at_preset, "back at preset 3")
        await ptz.clear_preset(3)
        assert 3 not in await ptz.presets()
        with pytest.raises(PresetNotSet, match="has no preset 3"):
            await ptz.call_preset(3)
        with pytest.raises(ValueError):
            await ptz.set_preset(0)
        with pytest.raises(NotImplementedError):
            await ptz.pattern_run()


async def test_http_digest_alone_works_and_a_wrong_one_costs_one_attempt(
        fakecams: StartFakeCams) -> None:
    cams, host, port = onvif_camera(fakecams)
    async with OnvifDevice(host, port, "admin", PASSWORD, timeout_s=5,
                           ws_security=False) as device:
        assert (await device.device_information()).model == "FC-2000"
        assert [p.token for p in await device.profiles()] == ["Profile_1", "Profile_2"]
    assert cams.onvif_state("cam1")["auth_failures"] == 0
    async with OnvifDevice(host, port, "admin", "Wrong-Pass1", timeout_s=5,
                           ws_security=False) as device:
        with pytest.raises(WrongPassword, match=r"refused the user name or password"):
            await device.device_information()
    assert cams.onvif_state("cam1")["auth_failures"] == 1



def test_importing_the_client_adds_no_log_handler() -> None:
    # onvif-zeep-async calls logging.basicConfig() on import
    code = ("import logging, nvrd.cameras.onvif.client; "
            "print(len(logging.getLogger().handlers))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[2]).stdout
    assert out.strip() == "0"


async def test_the_proxy_settings_of_the_process_stay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    async with OnvifDevice("127.0.0.1", 9, "admin", "pw"):
        pass
    assert os.environ["http_proxy"] == "http://proxy.example:3128"
