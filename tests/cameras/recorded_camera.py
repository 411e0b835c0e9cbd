"""A camera that answers ONVIF calls with recorded replies: SOAP as real cameras send it
(Hikvision-like wording), to test the client's parsing and error words without the fake
camera. Requests are kept (operation, whether they carried a WS-Security header).

    async with RecordedCamera({"GetProfiles": reply(PROFILES)}) as cam:
        device = OnvifDevice("127.0.0.1", cam.port, "admin", "pw")
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web

ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:tt="http://www.onvif.org/ver10/schema" '
    'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
    'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
    'xmlns:tev="http://www.onvif.org/ver10/events/wsdl" '
    'xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl" '
    'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" '
    'xmlns:wsa5="http://www.w3.org/2005/08/addressing" '
    'xmlns:tns1="http://www.onvif.org/ver10/topics" '
    'xmlns:ter="http://www.onvif.org/ver10/error" '
    'xmlns:wsrf-rw="http://docs.oasis-open.org/wsrf/rw-2">'
    "<env:Body>{body}</env:Body></env:Envelope>"
)


def fault(subcode: str, reason: str, code: str = "env:Sender") -> str:
    return ENVELOPE.format(body=(
        f"<env:Fault><env:Code><env:Value>{code}</env:Value><env:Subcode>"
        f"<env:Value>{subcode}</env:Value></env:Subcode></env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{reason}</env:Text></env:Reason>'
        "</env:Fault>"))


@dataclass(frozen=True)
class Reply:
    body: str
    status: int = 200
    content_type: str = "application/soap+xml; charset=utf-8"
    delay_s: float = 0.0


def reply(body: str, status: int = 200, *, envelope: bool = True, delay_s: float = 0.0,
          content_type: str = "application/soap+xml; charset=utf-8") -> Reply:
    return Reply(ENVELOPE.format(body=body) if envelope else body, status, content_type,
                 delay_s)


SYSTEM_DATE_AND_TIME = (
    "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
    "<tt:DateTimeType>{type}</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
    "<tt:TimeZone><tt:TZ>CST-8:00:00</tt:TZ></tt:TimeZone>"
    "<tt:UTCDateTime><tt:Time><tt:Hour>{h}</tt:Hour><tt:Minute>{mi}</tt:Minute>"
    "<tt:Second>{s}</tt:Second></tt:Time><tt:Date><tt:Year>{y}</tt:Year>"
    "<tt:Month>{mo}</tt:Month><tt:Day>{d}</tt:Day></tt:Date></tt:UTCDateTime>"
    "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>")

DEVICE_INFORMATION = (
    "<tds:GetDeviceInformationResponse><tds:Manufacturer>HIKVISION</tds:Manufacturer>"
    "<tds:Model>DS-2CD2043G0-I</tds:Model><tds:FirmwareVersion>V5.6.3 build 190923"
    "</tds:FirmwareVersion><tds:SerialNumber>DS-2CD2043G0-I20191012AAWRD12345678"
    "</tds:SerialNumber><tds:HardwareId>88</tds:HardwareId>"
    "</tds:GetDeviceInformationResponse>")

NETWORK_INTERFACES = (
    '<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token="eth0">'
    "<tt:Enabled>true</tt:Enabled><tt:Info><tt:Name>eth0</tt:Name>"
    "<tt:HwAddress>BC-AD-28-12-34-56</tt:HwAddress><tt:MTU>1500</tt:MTU></tt:Info>"
    "<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config><tt:Manual><tt:Address>192.168.1.64"
    "</tt:Address><tt:PrefixLength>24</tt:PrefixLength></tt:Manual><tt:DHCP>false</tt:DHCP>"
    "</tt:Config></tt:IPv4></tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>")

SERVICES = (
    "<tds:GetServicesResponse>"
    "<tds:Service><tds:Namespace>http://www.onvif.org/ver10/device/wsdl</tds:Namespace>"
    "<tds:XAddr>{base}/onvif/device_service</tds:XAddr><tds:Version><tt:Major>17</tt:Major>"
    "<tt:Minor>12</tt:Minor></tds:Version></tds:Service>"
    "<tds:Service><tds:Namespace>http://www.onvif.org/ver10/media/wsdl</tds:Namespace>"
    "<tds:XAddr>{base}/onvif/Media</tds:XAddr><tds:Version><tt:Major>17</tt:Major>"
    "<tt:Minor>12</tt:Minor></tds:Version></tds:Service>"
    "<tds:Service><tds:Namespace>http://www.onvif.org/ver10/events/wsdl</tds:Namespace>"
    "<tds:XAddr>{base}/onvif/Events</tds:XAddr><tds:Version><tt:Major>17</tt:Major>"
    "<tt:Minor>12</tt:Minor></tds:Version></tds:Service>"
    "</tds:GetServicesResponse>")

_PROFILE = (
    '<trt:Profiles token="{token}" fixed="true"><tt:Name>{name}</tt:Name>'
    '<tt:VideoSourceConfiguration token="VideoSourceToken"><tt:Name>VideoSourceConfig</tt:Name>'
    "<tt:UseCount>2</tt:UseCount><tt:SourceToken>VideoSource_1</tt:SourceToken>"
    '<tt:Bounds x="0" y="0" width="2688" height="1520"></tt:Bounds>'
    "</tt:VideoSourceConfiguration>"
    '<tt:VideoEncoderConfiguration token="VideoEncoderToken_{n}"><tt:Name>VideoEncoder_{n}'
    "</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding><tt:Resolution>"
    "<tt:Width>{w}</tt:Width><tt:Height>{h}</tt:Height></tt:Resolution><tt:Quality>3"
    "</tt:Quality><tt:RateControl><tt:FrameRateLimit>{fps}</tt:FrameRateLimit>"
    "<tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>{kbps}</tt:BitrateLimit>"
    "</tt:RateControl><tt:H264><tt:GovLength>50</tt:GovLength><tt:H264Profile>Main"
    "</tt:H264Profile></tt:H264><tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type>"
    "<tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address><tt:Port>8860</tt:Port>"
    "<tt:TTL>128</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>"
    "<tt:SessionTimeout>PT5S</tt:SessionTimeout></tt:VideoEncoderConfiguration>{ptz}"
    "</trt:Profiles>")
PTZ_CONFIGURATION = (
    '<tt:PTZConfiguration token="PTZToken"><tt:Name>PTZ</tt:Name><tt:UseCount>1</tt:UseCount>'
    "<tt:NodeToken>PTZNODETOKEN</tt:NodeToken></tt:PTZConfiguration>")

# Sub first: the client must choose by resolution, not by order.
PROFILES = ("<trt:GetProfilesResponse>"
            + _PROFILE.format(token="Profile_2", name="subStream", n=2, w=640, h=360,
                              fps=25, kbps=512, ptz="")
            + '<trt:Profiles token="Audio_1"><tt:Name>audioOnly</tt:Name></trt:Profiles>'
            + _PROFILE.format(token="Profile_1", name="mainStream", n=1, w=2688, h=1520,
                              fps=25, kbps=4096, ptz=PTZ_CONFIGURATION)
            + "</trt:GetProfilesResponse>")

STREAM_URI = (
    "<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>{uri}</tt:Uri>"
    "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false"
    "</tt:InvalidAfterReboot><tt:Timeout>PT60S</tt:Timeout></trt:MediaUri>"
    "</trt:GetStreamUriResponse>")

NOT_AUTHORIZED = fault("ter:NotAuthorized", "Sender not authorized")
NOT_ACTIVATED = fault("ter:NotAuthorized", "Sender not authorized: device not activated")
LOCKED = fault("ter:NotAuthorized", "Sender not authorized: account locked")

_OPERATION = re.compile(rb"<(?:[\w.-]+:)?Body[^>]*>\s*<(?:[\w.-]+:)?([A-Za-z]+)")


def operation_of(body: bytes) -> str:
    match = _OPERATION.search(body)
    return match.group(1).decode() if match else ""


@dataclass
class Request:
    path: str
    operation: str
    secured: bool


@dataclass
class RecordedCamera:
    """``replies``: operation → a Reply, or a list of them answered in turn (the last one
    again and again)."""

    replies: Mapping[str, Reply | list[Reply]] = field(default_factory=dict)
    default: Reply | None = None
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def operations(self) -> list[str]:
        return [r.operation for r in self.requests]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        operation = operation_of(body)
        self.requests.append(Request(request.path, operation, b"UsernameToken" in body))
        answer = self._next(operation)
        if answer is None:
            answer = Reply(fault("ter:ActionNotSupported", f"{operation} not supported",
                                 code="env:Receiver"), 400)
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        return web.Response(status=answer.status, content_type=None,
                            headers={"Content-Type": answer.content_type},
                            text=answer.body.replace("{base}", self.base))

    def _next(self, operation: str) -> Reply | None:
        answer = self.replies.get(operation, self.default)
        if isinstance(answer, list):
            return answer.pop(0) if len(answer) > 1 else answer[0]
        return answer

    async def __aenter__(self) -> RecordedCamera:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.2)  # cut slow replies short
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
