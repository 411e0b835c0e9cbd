"""One ONVIF camera as the recorder talks to it: identity, clock, profiles, stream URLs,
activation, and the raw calls :mod:`.events` and :mod:`.ptz` build on.

The SOAP work (WSDLs, envelopes, WS-Security UsernameToken with password digest) is
onvif-zeep-async's; this module adds what a recorder needs on top:

- **Errors in words.** Every failure leaves as a :class:`~.errors.CameraError` that names
  ``address:port`` and says what happened (:func:`.faults.translate_error`).
- **One failed login per refusal.** A camera locks its account after a few failed logins
  (Hikvision: 5 in 60 s → 30 min). Nothing here retries an authenticated call the camera
  refused, and service addresses are looked up only after the first authenticated call
  succeeded, so a wrong password costs one failed attempt, not one per service.
- **The camera's clock first.** ``GetSystemDateAndTime`` needs no login (ONVIF Core
  §5.9.1). It is read before the first authenticated call and its offset is applied to
  the WS-Security timestamps, because cameras refuse a ``Created`` time far from their
  own clock; the same reading is what drift reports and :meth:`OnvifDevice.set_clock`
  use.
- **HTTP digest too.** ONVIF cameras must accept WS-Security or HTTP digest; some are set
  to digest only and answer ``401`` with a challenge. A digest middleware answers such a
  challenge (once per request), so either works; ``ws_security=False`` leaves the
  UsernameToken out for cameras whose WS-Security is broken.
- **Timeouts** per call (``timeout_s``), whatever the library's own (90 s) are.

Credentials never appear in messages or logs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import aiohttp

from nvrd.cameras.onvif._library import SERVICES, ONVIFError, new_camera, normalize_url
from nvrd.cameras.onvif.errors import OnvifFault, WrongPassword
from nvrd.cameras.onvif.faults import NotSoapAnswer, looks_like_soap, translate_error
from nvrd.cameras.onvif.mac import normalize_mac
from nvrd.record.clock import Clock, SystemClock

__all__ = [
    "CameraClock",
    "DeviceInfo",
    "MediaProfile",
    "OnvifDevice",
    "ServiceName",
    "clock_from_answer",
    "mac_from_interfaces",
    "normalize_mac",
    "profile_from",
]

logger = logging.getLogger(__name__)

ServiceName = Literal["devicemgmt", "media", "ptz", "events", "pullpoint", "subscription"]

PULLPOINT_NS = "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription"
"""Where the library looks up the address of the current PullPoint subscription."""

_CAPABILITY_NAMES = {"device": "devicemgmt", "media": "media", "ptz": "ptz",
                     "events": "events", "imaging": "imaging", "analytics": "analytics"}


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What ``GetDeviceInformation`` says about the camera."""

    manufacturer: str
    model: str
    firmware: str
    serial: str
    hardware_id: str


@dataclass(frozen=True, slots=True)
class MediaProfile:
    """One media profile (ONVIF Media ver10): a stream the camera can send."""

    token: str
    name: str
    encoding: str
    """As the camera names it: ``H264``, ``JPEG``, ``MPEG4`` (ver10 cannot say H.265)."""
    width: int
    height: int
    fps: float
    """The encoder's frame-rate limit; 0 when the camera does not say."""
    bitrate_kbps: int
    """The encoder's bit-rate limit; 0 when the camera does not say."""
    ptz: bool
    """The profile has a PTZ configuration: PTZ commands go through this profile."""

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True, slots=True)
class CameraClock:
    """The camera's clock at one reading."""

    camera_utc_us: int
    """The camera's UTC time in the middle of the exchange (its answer has whole seconds;
    the estimate takes the middle of that second)."""
    offset_s: float
    """Camera minus recorder: positive when the camera is ahead."""
    ntp: bool
    """The camera takes its time from NTP (``DateTimeType`` NTP) rather than by hand."""


class OnvifDevice:
    """One camera; an async context manager (``async with OnvifDevice(...) as device``).

    :meth:`open` makes no network call; the first call does. Methods raise
    :class:`~.errors.CameraError` subclasses only. Not safe for concurrent use from
    several tasks during :meth:`open`/:meth:`close`; calls themselves may overlap.
    """

    def __init__(self, host: str, port: int, username: str, password: str, *,
                 timeout_s: float = 10.0, clock: Clock | None = None,
                 ws_security: bool = True) -> None:
        self.host = host
        self.port = int(port)
        self.username = username
        self._password = password
        self.timeout_s = timeout_s
        self.ws_security = ws_security
        self._digest = (aiohttp.DigestAuthMiddleware(username, password)
                        if username and ":" not in username else None)  # RFC 7616: no ":"
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._camera: Any = None
        self._offset_known = False
        self._xaddrs_known = False

    @property
    def wall_clock(self) -> Clock:
        """The recorder's clock this device measures offsets (and receptions) with."""
        return self._clock

    @property
    def address(self) -> str:
        """``host:port``, as messages name the camera."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __repr__(self) -> str:
        return f"OnvifDevice({self.address}, user={self.username!r})"

    # --- lifetime ---------------------------------------------------------------------

    async def open(self) -> None:
        """Prepare the SOAP clients (the WSDLs are parsed once per process, off the loop).
        No network traffic: reachability shows at the first call."""
        if self._camera is not None:
            return
        camera = new_camera(self.host, self.port, self.username or None,
                            self._password or None)
        try:
            await camera.create_devicemgmt_service()
        except BaseException:
            await camera.close()
            raise
        self._camera = camera

    async def close(self) -> None:
        camera, self._camera = self._camera, None
        self._offset_known = self._xaddrs_known = False
        if camera is not None:
            await camera.close()

    async def __aenter__(self) -> OnvifDevice:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    # --- what the recorder asks --------------------------------------------------------

    async def device_information(self) -> DeviceInfo:
        answer = await self.call("devicemgmt", "GetDeviceInformation")
        return DeviceInfo(manufacturer=_text(answer, "Manufacturer"),
                          model=_text(answer, "Model"),
                          firmware=_text(answer, "FirmwareVersion"),
                          serial=_text(answer, "SerialNumber"),
                          hardware_id=_text(answer, "HardwareId"))

    async def clock(self) -> CameraClock:
        """Read the camera's clock (anonymously where the camera allows it) and apply its
        offset to the WS-Security timestamps of the calls that follow."""
        sent_us = self._clock.wall_us()
        answer = await self._read_clock()
        received_us = self._clock.wall_us()
        clock = clock_from_answer(answer, sent_us, received_us, address=self.address)
        self._set_offset(clock.offset_s)
        return clock

    async def set_clock(self) -> None:
        """Set the camera's clock to the recorder's UTC (``DateTimeType`` Manual).

        ONVIF carries whole seconds, so the call is sent at the start of a second of the
        recorder's clock (waiting up to 1 s): the camera is then behind by the network
        delay only, not by up to a second. The time zone is left as the camera has it.
        """
        await self._ensure_offset()
        now_us = self._clock.wall_us()
        wait_us = (1_000_000 - now_us % 1_000_000) % 1_000_000
        if wait_us:
            await asyncio.sleep(wait_us / 1e6)
        at = dt.datetime.fromtimestamp((now_us + wait_us) // 1_000_000, dt.UTC)
        await self.call("devicemgmt", "SetSystemDateAndTime", {
            "DateTimeType": "Manual",
            "DaylightSavings": False,
            "UTCDateTime": {
                "Date": {"Year": at.year, "Month": at.month, "Day": at.day},
                "Time": {"Hour": at.hour, "Minute": at.minute, "Second": at.second},
            },
        })
        self._set_offset(0.0)

    async def mac(self) -> str:
        """The camera's MAC address, lower-case ``aa:bb:cc:dd:ee:ff``; "" when not told."""
        answer = await self.call("devicemgmt", "GetNetworkInterfaces")
        return mac_from_interfaces(answer)

    async def profiles(self) -> list[MediaProfile]:
        """The media profiles that have a video encoder, in the camera's order."""
        answer = await self.call("media", "GetProfiles")
        found = (profile_from(item) for item in (answer or ()))
        return [profile for profile in found if profile is not None]

    async def stream_uri(self, profile_token: str) -> str:
        """The RTSP URL of a profile (RTP unicast over RTSP), as the camera gives it:
        without credentials."""
        answer = await self.call("media", "GetStreamUri", {
            "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
            "ProfileToken": profile_token,
        })
        uri = normalize_url(_text(answer, "Uri"))
        if not uri:
            raise OnvifFault(f"the camera at {self.address} gave no stream URL for profile "
                             f"{profile_token!r}", address=self.address)
        return str(uri)

    async def activate(self, username: str, password: str) -> None:
        """Activate a camera that has no password yet: an anonymous ``CreateUsers`` of one
        administrator. Afterwards the camera wants that user; this device keeps the
        credentials it was made with, so make it with the same ones to carry on."""
        try:
            await self.call("devicemgmt", "CreateUsers", {"User": [{
                "Username": username, "Password": password, "UserLevel": "Administrator",
            }]}, anonymous=True)
        except WrongPassword as exc:
            raise OnvifFault(f"the camera at {self.address} is already activated (it has a "
                             "password): add it with that password instead",
                             address=self.address, reason=str(exc)) from exc

    async def supports(self, service: ServiceName) -> bool:
        """Whether the camera offers ``service`` (after its service list was read)."""
        if service in ("devicemgmt", "pullpoint", "subscription"):
            return True
        await self._ensure_offset()
        await self._ensure_xaddrs()
        namespace = SERVICES[service]["ns"]
        return bool(self._opened().xaddrs.get(namespace))

    # --- raw calls (events, PTZ) -------------------------------------------------------

    async def call(self, service: ServiceName, operation: str,
                   params: Mapping[str, Any] | None = None, *, anonymous: bool = False,
                   timeout_s: float | None = None) -> Any:
        """Call ``operation`` of ``service`` and return zeep's answer object.

        Authenticated unless ``anonymous``; the camera's clock is read first if it has
        not been. Raises :class:`~.errors.CameraError` only.
        """
        if not anonymous:
            await self._ensure_offset()
            if service not in ("devicemgmt", "pullpoint", "subscription"):
                await self._ensure_xaddrs()
        return await self._call(service, operation, params, anonymous=anonymous,
                                timeout_s=timeout_s)

    def use_subscription(self, address: str) -> None:
        """Aim the ``pullpoint`` and ``subscription`` services at a subscription's address
        (from ``CreatePullPointSubscription``)."""
        url = normalize_url(address)
        if not url:
            raise OnvifFault(f"the camera at {self.address} gave no subscription address",
                             address=self.address)
        self._opened().xaddrs[PULLPOINT_NS] = url

    # --- internals ---------------------------------------------------------------------

    def _opened(self) -> Any:
        if self._camera is None:
            raise RuntimeError(f"{self!r} is not open (use 'async with' or open())")
        return self._camera

    async def _call(self, service: ServiceName, operation: str,
                    params: Mapping[str, Any] | None, *, anonymous: bool,
                    timeout_s: float | None = None) -> Any:
        soap = await self._service(service)
        method = getattr(soap, ("authless_" if anonymous else "") + operation)
        limit = self.timeout_s if timeout_s is None else timeout_s
        try:
            async with asyncio.timeout(limit):
                return await method(dict(params) if params is not None else None)
        except Exception as exc:
            error = translate_error(exc, address=self.address, operation=operation,
                                    timeout_s=limit)
            logger.debug("%s: %s failed: %s", self.address, operation, error)
            raise error from exc

    async def _service(self, service: ServiceName) -> Any:
        camera = self._opened()
        try:
            if service == "pullpoint":
                soap = await camera.create_pullpoint_service()
            elif service == "subscription":
                soap = await camera.create_subscription_service("PullPointSubscription")
            else:
                soap = await camera.create_onvif_service(service)
        except ONVIFError as exc:
            raise OnvifFault(f"the camera at {self.address} does not offer the ONVIF "
                             f"{service} service", address=self.address,
                             reason=str(exc)) from exc
        self._prepare(soap)
        return soap

    def _prepare(self, soap: Any) -> None:
        """Once per SOAP service: check answers before zeep parses them, answer digest
        challenges, and leave WS-Security out if so configured."""
        if getattr(soap, "_nvrd_prepared", False):
            return
        transport = soap.transport
        _guard_transport(transport)
        if self._digest is not None:
            transport.session = _DigestSession(transport.session, self._digest)
        if not self.ws_security:
            soap.zeep_client.wsse = None
        soap._nvrd_prepared = True

    async def _read_clock(self) -> Any:
        try:
            return await self._call("devicemgmt", "GetSystemDateAndTime", None,
                                    anonymous=True)
        except WrongPassword:
            # A few cameras (Axis) want a login even for this; the offset is then unknown,
            # so the timestamps go uncorrected for this one call.
            logger.debug("%s: GetSystemDateAndTime needs a login here", self.address)
            return await self._call("devicemgmt", "GetSystemDateAndTime", None,
                                    anonymous=False)

    async def _ensure_offset(self) -> None:
        if not self._offset_known:
            await self.clock()

    def _set_offset(self, offset_s: float) -> None:
        """Shift the WS-Security ``Created`` time of this and later services by the
        camera's offset (the library reads ``dt_diff`` when it signs)."""
        camera = self._opened()
        diff = dt.timedelta(seconds=offset_s)
        camera.dt_diff = diff
        for service in camera.services.values():
            wsse = getattr(service.zeep_client, "wsse", None)
            if wsse is not None and hasattr(wsse, "dt_diff"):
                wsse.dt_diff = diff
        self._offset_known = True

    async def _ensure_xaddrs(self) -> None:
        """Learn where the camera's services are: ``GetServices``, or ``GetCapabilities``
        on cameras without it. A refused login is not retried the other way."""
        if self._xaddrs_known:
            return
        found: dict[str, str] = {}
        try:
            answer = await self._call("devicemgmt", "GetServices",
                                      {"IncludeCapability": False}, anonymous=False)
            found = xaddrs_from_services(answer)
        except OnvifFault as exc:
            logger.debug("%s: no GetServices (%s), asking GetCapabilities",
                         self.address, exc)
        if not found:
            answer = await self._call("devicemgmt", "GetCapabilities", {"Category": "All"},
                                      anonymous=False)
            found = xaddrs_from_capabilities(answer)
        self._opened().xaddrs.update(found)
        self._xaddrs_known = True


# --- pure helpers: answers → values --------------------------------------------------------

def answer_field(obj: Any, name: str) -> Any:
    """Field ``name`` of a zeep answer (an object or a dict, depending on the schema's
    types); None when absent. The one accessor every ONVIF answer is read with."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    try:
        return getattr(obj, name, None)
    except (AttributeError, KeyError):  # zeep's __getattr__ can raise KeyError
        return None


def _text(obj: Any, name: str) -> str:
    value = answer_field(obj, name)
    return "" if value is None else str(value).strip()


def _number(obj: Any, name: str) -> float:
    value = answer_field(obj, name)
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def clock_from_answer(answer: Any, sent_us: int, received_us: int, *,
                      address: str = "") -> CameraClock:
    """A ``GetSystemDateAndTime`` answer read between ``sent_us`` and ``received_us``
    (recorder UTC µs) → the camera's clock and its offset."""
    utc = answer_field(answer, "UTCDateTime")
    date, time = answer_field(utc, "Date"), answer_field(utc, "Time")
    try:
        camera = dt.datetime(int(answer_field(date, "Year")), int(answer_field(date, "Month")),
                             int(answer_field(date, "Day")), int(answer_field(time, "Hour")),
                             int(answer_field(time, "Minute")), int(answer_field(time, "Second")),
                             tzinfo=dt.UTC)
    except (TypeError, ValueError) as exc:
        raise OnvifFault(f"the camera at {address or '?'} did not tell its UTC time "
                         "(GetSystemDateAndTime has no valid UTCDateTime)",
                         address=address) from exc
    camera_us = int(camera.timestamp()) * 1_000_000 + 500_000
    middle_us = (sent_us + received_us) // 2
    ntp = _text(answer, "DateTimeType").lower() == "ntp"
    return CameraClock(camera_utc_us=camera_us, offset_s=(camera_us - middle_us) / 1e6,
                       ntp=ntp)


def mac_from_interfaces(answer: Any) -> str:
    """The first enabled interface's hardware address from ``GetNetworkInterfaces``."""
    interfaces = list(answer or ())
    interfaces.sort(key=lambda i: 0 if answer_field(i, "Enabled") in (True, "true", None) else 1)
    for interface in interfaces:
        mac = normalize_mac(_text(answer_field(interface, "Info"), "HwAddress"))
        if mac:
            return mac
    return ""


def profile_from(profile: Any) -> MediaProfile | None:
    """One ``GetProfiles`` entry → :class:`MediaProfile`; None when it has no video
    encoder (an audio-only or metadata profile cannot be recorded)."""
    encoder = answer_field(profile, "VideoEncoderConfiguration")
    resolution = answer_field(encoder, "Resolution")
    if encoder is None or resolution is None:
        return None
    rate = answer_field(encoder, "RateControl")
    token = answer_field(profile, "token")
    if not token:
        return None
    return MediaProfile(token=str(token), name=_text(profile, "Name"),
                        encoding=_text(encoder, "Encoding"),
                        width=int(_number(resolution, "Width")),
                        height=int(_number(resolution, "Height")),
                        fps=_number(rate, "FrameRateLimit"),
                        bitrate_kbps=int(_number(rate, "BitrateLimit")),
                        ptz=answer_field(profile, "PTZConfiguration") is not None)


def xaddrs_from_services(answer: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for service in answer or ():
        namespace, xaddr = _text(service, "Namespace"), normalize_url(_text(service, "XAddr"))
        if namespace and xaddr:
            found[namespace] = str(xaddr)
    return found


def xaddrs_from_capabilities(answer: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, service in _CAPABILITY_NAMES.items():
        capability = answer_field(answer, name.capitalize() if name != "ptz" else "PTZ")
        xaddr = normalize_url(_text(capability, "XAddr"))
        if xaddr and service in SERVICES:
            found[SERVICES[service]["ns"]] = str(xaddr)
    return found


# --- the library's transport ---------------------------------------------------------

class _DigestSession:
    """The library's aiohttp session, with the device's digest middleware on each request
    (the library makes its sessions itself and offers no hook for middlewares)."""

    def __init__(self, session: aiohttp.ClientSession,
                 digest: aiohttp.DigestAuthMiddleware) -> None:
        self._session = session
        self._middlewares = (digest,)

    def post(self, *args: Any, **kwargs: Any) -> Any:
        return self._session.post(*args, middlewares=self._middlewares, **kwargs)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self._session.get(*args, middlewares=self._middlewares, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def _guard_transport(transport: Any) -> None:
    """Check each answer before zeep parses it (once per transport)."""
    if getattr(transport, "_nvrd_guarded", False):
        return
    post_xml = transport.post_xml

    async def checked_post_xml(address: str, envelope: Any, headers: Any) -> Any:
        response = await post_xml(address, envelope, headers)
        if not looks_like_soap(response.content):
            raise NotSoapAnswer(int(response.status_code),
                                str(response.headers.get("Content-Type", "")))
        return response

    transport.post_xml = checked_post_xml
    transport._nvrd_guarded = True
