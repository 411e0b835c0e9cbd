"""The device service (``tds``): identity, clock, capabilities, services, users.

Activation happens here: an anonymous CreateUsers on an inactive camera creates its
first user, who must be an Administrator with a strong password (8+ characters, three of
upper case, lower case, digits, symbols — the Hikvision rule), after which the camera
requires that user like any other.
"""

from __future__ import annotations

import datetime as dt
import time

from lxml import etree  # type: ignore[import-untyped]

from tools.fakecam.onvif import events, media, ptz
from tools.fakecam.onvif.server import (
    Call,
    Handler,
    require_admin,
    service_xaddrs,
)
from tools.fakecam.onvif.soap import (
    NS,
    E,
    SoapFault,
    child,
    child_text,
    children,
    invalid_arg,
    parse_bool,
    sender_fault,
)
from tools.fakecam.onvif.state import CameraConfig, User

SERVICE_VERSION = (2, 60)
ONVIF_VERSIONS = ((2, 60), (2, 40), (2, 20))
USER_LEVELS = ("Administrator", "Operator", "User")
MAX_USERS = 32


def scope_items(config: CameraConfig) -> list[str]:
    """The camera's ONVIF scopes (also what WS-Discovery advertises)."""
    base = "onvif://www.onvif.org"
    items = [f"{base}/type/video_encoder", f"{base}/type/Network_Video_Transmitter",
             f"{base}/Profile/Streaming", f"{base}/name/{config.model}",
             f"{base}/hardware/{config.model}", f"{base}/MAC/{config.mac}",
             f"{base}/location/city/fakecam"]
    if config.ptz:
        items.append(f"{base}/type/ptz")
    return items


async def get_device_information(call: Call) -> etree._Element:
    config = call.camera.config
    return E("tds:GetDeviceInformationResponse",
             E("tds:Manufacturer", config.manufacturer), E("tds:Model", config.model),
             E("tds:FirmwareVersion", config.firmware), E("tds:SerialNumber", config.serial),
             E("tds:HardwareId", config.model))


def _date_time(tag: str, when: dt.datetime) -> etree._Element:
    return E(tag, E("tt:Time", E("tt:Hour", when.hour), E("tt:Minute", when.minute),
                    E("tt:Second", when.second)),
             E("tt:Date", E("tt:Year", when.year), E("tt:Month", when.month),
               E("tt:Day", when.day)))


async def get_system_date_and_time(call: Call) -> etree._Element:
    clock = call.camera.clock
    now = clock.now()
    return E("tds:GetSystemDateAndTimeResponse", E(
        "tds:SystemDateAndTime", E("tt:DateTimeType", clock.date_time_type),
        E("tt:DaylightSavings", clock.daylight_savings),
        E("tt:TimeZone", E("tt:TZ", clock.timezone)),
        _date_time("tt:UTCDateTime", now), _date_time("tt:LocalDateTime", now)))


async def set_system_date_and_time(call: Call) -> etree._Element:
    """Manual with a UTCDateTime sets the clock; NTP only switches the mode (the fake has
    no NTP client). Every call is counted, refused ones too."""
    clock = call.camera.clock
    clock.time_set_calls += 1
    kind = child_text(call.op, "DateTimeType")
    if kind not in ("Manual", "NTP"):
        raise invalid_arg("ter:InvalidDateTime", f"DateTimeType must be Manual or NTP, not "
                                                 f"{kind!r}")
    utc = child(call.op, "UTCDateTime")
    if kind == "Manual" and utc is None:
        raise invalid_arg("ter:InvalidDateTime", "Manual needs a UTCDateTime")
    if utc is not None:
        clock.set(_parse_date_time(utc))
    clock.date_time_type = kind
    clock.daylight_savings = parse_bool(child_text(call.op, "DaylightSavings"))
    tz = child_text(call.op, "TimeZone", "TZ")
    if tz:
        clock.timezone = tz
    return E("tds:SetSystemDateAndTimeResponse")


def _parse_date_time(el: etree._Element) -> dt.datetime:
    try:
        year, month, day, hour, minute, second = (int(child_text(el, *path) or "") for path in (
            ("Date", "Year"), ("Date", "Month"), ("Date", "Day"), ("Time", "Hour"),
            ("Time", "Minute"), ("Time", "Second")))
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    except ValueError as exc:
        raise invalid_arg("ter:InvalidDateTime", f"not a valid date and time: {exc}") from None


async def get_capabilities(call: Call) -> etree._Element:
    categories = {c.text.strip() for c in children(call.op, "Category") if c.text} or {"All"}

    def wanted(name: str) -> bool:
        return "All" in categories or name in categories

    if "PTZ" in categories and not call.camera.config.ptz:
        raise SoapFault("env:Receiver", ("ter:ActionNotSupported", "ter:NoSuchService"),
                        "The camera has no PTZ service")
    xaddrs = service_xaddrs(call)
    device = E("tt:Device", E("tt:XAddr", xaddrs[NS["tds"]]),
               E("tt:Network", E("tt:IPFilter", False), E("tt:ZeroConfiguration", False),
                 E("tt:IPVersion6", False), E("tt:DynDNS", False)),
               E("tt:System", E("tt:DiscoveryResolve", False), E("tt:DiscoveryBye", True),
                 E("tt:RemoteDiscovery", False), E("tt:SystemBackup", False),
                 E("tt:SystemLogging", False), E("tt:FirmwareUpgrade", False),
                 *(E("tt:SupportedVersions", E("tt:Major", major), E("tt:Minor", minor))
                   for major, minor in ONVIF_VERSIONS)),
               E("tt:IO", E("tt:InputConnectors", 1), E("tt:RelayOutputs", 1)),
               E("tt:Security", *(E(f"tt:{name}", False) for name in (
                   "TLS1.1", "TLS1.2", "OnboardKeyGeneration", "AccessPolicyConfig",
                   "X.509Token", "SAMLToken", "KerberosToken", "RELToken"))))
    evts = E("tt:Events", E("tt:XAddr", xaddrs[NS["tev"]]),
             E("tt:WSSubscriptionPolicySupport", False), E("tt:WSPullPointSupport", True),
             E("tt:WSPausableSubscriptionManagerInterfaceSupport", False))
    med = E("tt:Media", E("tt:XAddr", xaddrs[NS["trt"]]),
            E("tt:StreamingCapabilities", E("tt:RTPMulticast", False), E("tt:RTP_TCP", True),
              E("tt:RTP_RTSP_TCP", True)))
    pan = E("tt:PTZ", E("tt:XAddr", xaddrs[NS["tptz"]])) if NS["tptz"] in xaddrs else None
    return E("tds:GetCapabilitiesResponse", E(
        "tds:Capabilities", device if wanted("Device") else None,
        evts if wanted("Events") else None, med if wanted("Media") else None,
        pan if wanted("PTZ") else None))


def capabilities(call: Call) -> etree._Element:
    """The device service's capabilities (GetServiceCapabilities, GetServices)."""
    return E("tds:Capabilities",
             E("tds:Network", IPFilter=False, ZeroConfiguration=False, IPVersion6=False,
               DynDNS=False, HostnameFromDHCP=False, NTP=1),
             E("tds:Security", UsernameToken=True, HttpDigest=True),
             E("tds:System", DiscoveryResolve=False, DiscoveryBye=True, RemoteDiscovery=False,
               SystemBackup=False, SystemLogging=False, FirmwareUpgrade=False))


async def get_service_capabilities(call: Call) -> etree._Element:
    return E("tds:GetServiceCapabilitiesResponse", capabilities(call))


async def get_services(call: Call) -> etree._Element:
    include = parse_bool(child_text(call.op, "IncludeCapability"))
    caps = {NS["tds"]: capabilities, NS["trt"]: media.capabilities,
            NS["tev"]: events.capabilities, NS["tptz"]: ptz.capabilities}
    services = [E("tds:Service", E("tds:Namespace", namespace), E("tds:XAddr", xaddr),
                  E("tds:Capabilities", caps[namespace](call)) if include else None,
                  E("tds:Version", E("tt:Major", SERVICE_VERSION[0]),
                    E("tt:Minor", SERVICE_VERSION[1])))
                for namespace, xaddr in service_xaddrs(call).items()]
    return E("tds:GetServicesResponse", *services)


async def get_scopes(call: Call) -> etree._Element:
    return E("tds:GetScopesResponse", *(
        E("tds:Scopes", E("tt:ScopeDef", "Fixed"), E("tt:ScopeItem", item))
        for item in scope_items(call.camera.config)))


async def get_network_interfaces(call: Call) -> etree._Element:
    return E("tds:GetNetworkInterfacesResponse", E(
        "tds:NetworkInterfaces",
        E("tt:Enabled", True),
        E("tt:Info", E("tt:Name", "eth0"), E("tt:HwAddress", call.camera.config.mac),
          E("tt:MTU", 1500)),
        E("tt:IPv4", E("tt:Enabled", True), E("tt:Config", E(
            "tt:Manual", E("tt:Address", call.local_address), E("tt:PrefixLength", 24)),
            E("tt:DHCP", False))),
        token="eth0"))


async def get_hostname(call: Call) -> etree._Element:
    return E("tds:GetHostnameResponse", E("tds:HostnameInformation", E("tt:FromDHCP", False),
                                          E("tt:Name", call.camera.config.name)))


async def get_users(call: Call) -> etree._Element:
    return E("tds:GetUsersResponse", *(
        E("tds:User", E("tt:Username", name), E("tt:UserLevel", user.level))
        for name, user in call.camera.accounts.users.items()))


async def create_users(call: Call) -> etree._Element:
    accounts = call.camera.accounts
    activating = not accounts.active
    if not activating:
        require_admin(call)
    new: dict[str, User] = {}
    for el in children(call.op, "User"):
        name = child_text(el, "Username") or ""
        password = child_text(el, "Password") or ""
        level = child_text(el, "UserLevel") or ""
        _check_new_user(name, password, level, taken=set(accounts.users) | set(new))
        new[name] = User(password, level)
    if not new:
        raise invalid_arg("ter:InvalidArgVal", "no User given")
    if activating and (len(new) != 1 or next(iter(new.values())).level != "Administrator"):
        raise sender_fault("ter:OperationProhibited", "ter:AnonymousNotAllowed",
                           reason="Activation creates exactly one Administrator")
    if len(accounts.users) + len(new) > MAX_USERS:
        raise SoapFault("env:Receiver", ("ter:Action", "ter:TooManyUsers"),
                        f"At most {MAX_USERS} users")
    accounts.users.update(new)
    return E("tds:CreateUsersResponse")


def _check_new_user(name: str, password: str, level: str, taken: set[str]) -> None:
    if not name:
        raise sender_fault("ter:OperationProhibited", "ter:UsernameTooShort",
                           reason="The username is empty")
    if name in taken:
        raise sender_fault("ter:OperationProhibited", "ter:UsernameClash",
                           reason=f"User {name!r} exists")
    if level not in USER_LEVELS:
        raise sender_fault("ter:OperationProhibited", "ter:AnonymousNotAllowed",
                           reason=f"UserLevel must be one of {', '.join(USER_LEVELS)}")
    if not strong_password(password):
        raise sender_fault("ter:OperationProhibited", "ter:PasswordTooWeak", reason=(
            "Password too weak: at least 8 characters with three of upper case, lower case, "
            "digits and symbols"))


def strong_password(password: str) -> bool:
    classes = (any(c.isupper() for c in password), any(c.islower() for c in password),
               any(c.isdigit() for c in password), any(not c.isalnum() for c in password))
    return len(password) >= 8 and sum(classes) >= 3


async def delete_users(call: Call) -> etree._Element:
    require_admin(call)
    accounts = call.camera.accounts
    names = [(el.text or "").strip() for el in children(call.op, "Username")]
    for name in names:
        if name not in accounts.users:
            raise invalid_arg("ter:UsernameMissing", f"No user {name!r}")
    if set(accounts.users) <= set(names):
        raise sender_fault("ter:InvalidArgVal", "ter:FixedUser",
                           reason="The last user cannot be deleted")
    for name in names:
        del accounts.users[name]
    return E("tds:DeleteUsersResponse")


async def system_reboot(call: Call) -> etree._Element:
    """Forget the subscriptions and stop PTZ, as a reboot would (streams keep running)."""
    require_admin(call)
    camera = call.camera
    camera.reboots += 1
    for sub_id in list(camera.subscriptions):
        camera.end_subscription(sub_id)
    camera.ptz.stop(time.monotonic())
    return E("tds:SystemRebootResponse", E("tds:Message", "Rebooting in 0 seconds"))


def _ops(**handlers: Handler) -> dict[str, Handler]:
    return {f"{{{NS['tds']}}}{name}": handler for name, handler in handlers.items()}


OPERATIONS = _ops(
    GetDeviceInformation=get_device_information,
    GetSystemDateAndTime=get_system_date_and_time,
    SetSystemDateAndTime=set_system_date_and_time,
    GetCapabilities=get_capabilities,
    GetServiceCapabilities=get_service_capabilities,
    GetServices=get_services,
    GetScopes=get_scopes,
    GetNetworkInterfaces=get_network_interfaces,
    GetHostname=get_hostname,
    GetUsers=get_users,
    CreateUsers=create_users,
    DeleteUsers=delete_users,
    SystemReboot=system_reboot,
)
