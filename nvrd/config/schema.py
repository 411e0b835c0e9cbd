"""The live configuration's schema: every setting, its default, its limits.

An empty file is a valid configuration (every setting has a factory default), so a box
with no cameras still boots and serves its web page. Sections are frozen models: the
daemon parses the file once and hands each service its slice (``config.ingest``,
``config.cameras``); a change is a new ``NvrConfig``, never an edit in place.

Units are in the names (``_seconds``, ``_ms``, ``_mb``, ``_gb``, ``_days``). Adding a
setting with a default needs no migration; renaming, moving or re-interpreting one needs
a step in ``migrations.py`` and a new ``CURRENT_SCHEMA_VERSION``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AnyUrl,
    Field,
    SecretStr,
    StringConstraints,
    UrlConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from nvrd.config.errors import Violation, located_error, violations_error
from nvrd.config.fields import (
    Host,
    Name32,
    Name64,
    Port,
    RtspUrl,
    Section,
    Slug,
    TimeZoneName,
    check_unique,
)
from nvrd.config.linkage import LinkageConfig
from nvrd.config.network import NetworkConfig
from nvrd.config.schedules import ALWAYS, ALWAYS_SCHEDULE_NAME, Holiday, Schedule
from nvrd.events.model import EventKind

CURRENT_SCHEMA_VERSION = 1
"""The version of the file format this code writes; older files are migrated on load."""

MAX_CHANNELS = 256
MAX_ALARM_PORTS = 256
MAX_STORAGE_GROUPS = 16

Transport = Literal["tcp", "udp"]


NTP_PORT = 123
MAX_NTP_SERVERS = 4
_NTP_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")


def split_ntp_server(text: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address → (host, port).

    ``ValueError`` with a sentence saying what is allowed. The one parser of a server
    setting: the schema validates with it and the NTP client connects with it."""
    text = text.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError("write an IPv6 address with a port as [2001:db8::1]:123")
        port_text = rest[1:] if rest else str(NTP_PORT)
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, str(NTP_PORT)  # a name, an IPv4 or a bare IPv6 address
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"the port must be a number from 1 to 65535 (NTP uses {NTP_PORT})")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if ":" in host or not _NTP_HOSTNAME.match(host):
            raise ValueError("must be a host name or an IP address, with an optional "
                             "port: pool.ntp.org, 192.0.2.1, 192.0.2.1:123 or "
                             "[2001:db8::1]:123") from None
    else:
        if address.is_unspecified or address.is_multicast:
            raise ValueError("must be the address of an NTP server (not an unspecified "
                             "or multicast address)")
    return host, int(port_text)


def ntp_server_label(host: str, port: int) -> str:
    """``192.0.2.1:123``, ``[2001:db8::1]:123``: a server as messages name it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _valid_ntp_server(text: str) -> str:
    try:
        split_ntp_server(text)
    except ValueError as exc:
        raise PydanticCustomError("ntp_server", str(exc)) from None
    return text


NtpServer = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=260),
                      AfterValidator(_valid_ntp_server)]
"""An NTP server: ``host`` or ``host:port`` (``[IPv6]:port``); the port defaults to 123."""


class NtpConfig(Section):
    """The recorder's own NTP client (the vendor's "NTP": server, port, interval).

    Off at the factory: a recorder on a closed camera network has no server to ask. When
    on, the daemon sets the system clock itself, so the operating system's own NTP client
    (chrony, systemd-timesyncd) should be off: two clients stepping one clock fight."""

    enabled: bool = False
    """The recorder checks and sets the clock from ``servers``; off: it leaves the clock
    to the operating system."""
    servers: Annotated[tuple[NtpServer, ...], Field(max_length=MAX_NTP_SERVERS)] = ()
    """Asked in this order until one answers: ``host`` or ``host:port`` (port 123 if not
    given), at most 4."""
    interval_minutes: Annotated[int, Field(ge=1, le=10_080)] = 60
    """How often the clock is checked (1 minute to 1 week)."""
    step_threshold_ms: Annotated[int, Field(ge=1, le=600_000)] = 500
    """The clock is set only when it is off by more than this: every step starts new
    recording runs, so small drift is left until it grows past the threshold."""

    @field_validator("servers")
    @classmethod
    def _servers_unique(cls, servers: tuple[str, ...]) -> tuple[str, ...]:
        check_unique(servers, lambda s: ntp_server_label(*split_ntp_server(s)).lower(),
                     field="servers", attribute="server")
        return servers

    @model_validator(mode="after")
    def _servers_when_enabled(self) -> NtpConfig:
        if self.enabled and not self.servers:
            raise located_error("at least one server is needed while NTP is enabled "
                                "(e.g. servers = [\"192.0.2.1\"]); or set enabled = false",
                                at=("servers",), value=list(self.servers))
        return self


class SystemConfig(Section):
    """The box itself."""

    name: Name32 = "NVR"
    """Shown on the web page, the console and in notifications."""
    board: Slug = "sim"
    """The board profile (config/boards/<board>.toml) describing this box's hardware."""
    timezone: TimeZoneName = "UTC"
    """IANA time zone of schedules and of the times shown to people (recordings are
    stored in UTC)."""
    ntp: NtpConfig = Field(default_factory=NtpConfig)
    """Setting the clock from NTP servers."""


class WebConfig(Section):
    """The web page and JSON API."""

    host: Host = "0.0.0.0"
    """Address to listen on; 0.0.0.0 means every IPv4 interface."""
    port: Port = 8443
    https: bool = True
    """HTTPS with the box's own certificate; plain HTTP only for a trusted network."""
    http_redirect_port: Annotated[int, Field(ge=0, le=65535)] = 80
    """Plain HTTP on this port only redirects to HTTPS (0: not listened on; unused when
    https is off)."""

    @model_validator(mode="after")
    def _redirect_port_is_free(self) -> WebConfig:
        if self.https and self.http_redirect_port == self.port:
            raise located_error("must differ from port (the HTTPS port); 0 switches the "
                                "redirect off", at=("http_redirect_port",),
                                value=self.http_redirect_port)
        return self


class IngestConfig(Section):
    """How camera streams are pulled (applies to every camera unless a stream overrides)."""

    transport: Transport = "tcp"
    """RTSP transport: tcp (interleaved, survives NAT and loss) or udp (lower latency)."""
    open_timeout_seconds: Annotated[float, Field(ge=1, le=60)] = 10.0
    """How long connecting to a camera may take before it counts as failed."""
    stall_timeout_seconds: Annotated[float, Field(ge=1, le=120)] = 10.0
    """A connected stream with no packet for this long is reconnected."""
    backoff_initial_seconds: Annotated[float, Field(ge=0.1, le=60)] = 1.0
    """Wait before the first reconnection; doubles after each failure..."""
    backoff_max_seconds: Annotated[float, Field(ge=1, le=300)] = 30.0
    """... up to this."""

    @model_validator(mode="after")
    def _backoff_grows(self) -> IngestConfig:
        if self.backoff_max_seconds < self.backoff_initial_seconds:
            raise located_error(
                f"must be at least backoff_initial_seconds ({self.backoff_initial_seconds:g})",
                at=("backoff_max_seconds",), value=self.backoff_max_seconds)
        return self


class StreamConfig(Section):
    """One RTSP stream of a camera."""

    url: RtspUrl
    """rtsp:// or rtsps:// URL of the stream, e.g. rtsp://192.168.1.64:554/Streaming/101."""
    transport: Transport | None = None
    """Overrides ``ingest.transport`` for this stream."""


class PtzConfig(Section):
    """A PTZ dome on the RS-485 bus, wired to this channel's camera (the vendor's "PTZ
    settings": protocol, address, baud rate)."""

    protocol: Literal["pelco-d", "pelco-p"] = "pelco-d"
    address: Annotated[int, Field(ge=1, le=255)] = 1
    """The address set with the dome's DIP switches (as printed, from 1)."""
    baud: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = 9600
    turbo: bool = False
    """The dome supports turbo pan speed (its fastest speed, beyond the normal range)."""


MOTION_GRID_COLUMNS = 22
MOTION_GRID_ROWS = 18
"""The vendor's motion grid (PAL): 22 columns × 18 rows of cells over the picture."""
MAX_MOTION_REGIONS = 4


class MotionCells(Section):
    """A rectangle of motion-grid cells, both corners included (column 0–21 from the left,
    row 0–17 from the top). A UI that paints cells saves each row's runs as rectangles."""

    left: Annotated[int, Field(ge=0, lt=MOTION_GRID_COLUMNS)] = 0
    top: Annotated[int, Field(ge=0, lt=MOTION_GRID_ROWS)] = 0
    right: Annotated[int, Field(ge=0, lt=MOTION_GRID_COLUMNS)] = MOTION_GRID_COLUMNS - 1
    bottom: Annotated[int, Field(ge=0, lt=MOTION_GRID_ROWS)] = MOTION_GRID_ROWS - 1

    @model_validator(mode="after")
    def _corners_ordered(self) -> MotionCells:
        if self.right < self.left:
            raise located_error(f"must be at least left ({self.left})", at=("right",),
                                value=self.right)
        if self.bottom < self.top:
            raise located_error(f"must be at least top ({self.top})", at=("bottom",),
                                value=self.bottom)
        return self


class MotionRegion(Section):
    """One of a channel's motion regions (the vendor's "Region 1–4")."""

    name: Name32 = "Region"
    enabled: bool = True
    cells: Annotated[tuple[MotionCells, ...],
                     Field(min_length=1, max_length=MOTION_GRID_COLUMNS * MOTION_GRID_ROWS)
                     ] = (MotionCells(),)
    """The region's cells as rectangles (they may overlap); default the whole picture."""
    sensitivity: Annotated[int, Field(ge=1, le=100)] = 50
    """Higher = a smaller change of brightness counts as movement in a cell."""
    threshold_percent: Annotated[int, Field(ge=1, le=100)] = 5
    """The region triggers when at least this share of its cells moves."""


class MotionConfig(Section):
    """Motion detection on the recorder, from the camera's sub stream."""

    enabled: bool = False
    fps: Annotated[float, Field(ge=0.5, le=15)] = 3.0
    """Frames analysed per second (every frame is still decoded: H.264 needs them)."""
    keyframes_only: bool = False
    """Decode and analyse key frames only: far cheaper, reacts only once per GOP."""
    regions: Annotated[tuple[MotionRegion, ...], Field(max_length=MAX_MOTION_REGIONS)] = (
        MotionRegion(name="Region 1"),)


class OnvifConfig(Section):
    """How the recorder talks ONVIF to this camera (filled in by "add by address" or
    plug-and-play; an RTSP-only camera has none)."""

    host: Host
    """The camera's address (IP or name) for ONVIF calls."""
    port: Port = 80
    """The camera's HTTP port (its ONVIF device service is ``/onvif/device_service``)."""
    main_profile: Annotated[str, Field(max_length=64)] = ""
    """The media profile token of the main stream (as GetProfiles names it)."""
    sub_profile: Annotated[str, Field(max_length=64)] = ""
    """The media profile token of the sub stream ("" when the camera has one profile)."""
    events: bool = True
    """Subscribe to the camera's own events (motion, tampering, line crossing,
    intrusion, digital inputs) through a PullPoint."""
    ptz: bool = False
    """The camera is a network PTZ dome driven over ONVIF PTZ (the main profile's PTZ
    configuration); cannot be combined with an RS-485 ``ptz`` dome."""
    time_sync: bool = True
    """Keep the camera's clock in step with the recorder's (ONVIF SetSystemDateAndTime)."""
    manufacturer: Annotated[str, Field(max_length=64)] = ""
    model: Annotated[str, Field(max_length=64)] = ""
    serial: Annotated[str, Field(max_length=64)] = ""
    mac: Annotated[str, Field(pattern=r"^([0-9a-f]{2}(:[0-9a-f]{2}){5})?$")] = ""
    """Lower-case ``aa:bb:cc:dd:ee:ff``: how a camera that moved to a new address
    (DHCP) is recognised when it is discovered again."""


class CameraConfig(Section):
    """A camera on one channel: its streams, account and recording settings."""

    channel: Annotated[int, Field(ge=1, le=MAX_CHANNELS)]
    """The channel number the camera is known by everywhere (recordings, events, API)."""
    name: Name64 = Field(default_factory=lambda data: f"Camera {data['channel']}")
    """Defaults to "Camera <channel>"."""
    enabled: bool = True
    main: StreamConfig
    """The main (full resolution) stream: the one recorded."""
    sub: StreamConfig | None = None
    """The sub (low resolution) stream: live view grids and motion detection."""
    username: Annotated[str, Field(max_length=64)] = ""
    password: Annotated[SecretStr, Field(max_length=128)] = SecretStr("")
    """Never shown in logs, errors or the API."""
    mode: Literal["auto", "manual", "off"] = "auto"
    """auto = record as ``schedule`` says; manual = record continuously; off = never."""
    schedule: Name32 = ALWAYS_SCHEDULE_NAME
    """Name of a schedule in ``recording.schedules``, or the built-in "always"."""
    pre_record_seconds: Annotated[int, Field(ge=0, le=30)] = 5
    """Video kept from before an event that starts recording."""
    post_record_seconds: Annotated[int, Field(ge=10, le=300)] = 30
    """Recording continues this long after the event ends."""
    max_age_days: Annotated[int, Field(ge=0, le=3650)] = 0
    """Recordings older than this are deleted; 0 = kept until space is needed."""
    quota_gb: Annotated[float, Field(gt=0)] | None = None
    """Most space this channel's recordings may take; none = no quota."""
    record_sub: bool = True
    """Record the sub stream too (cheap; it serves fast scrubbing and phone playback)."""
    storage_group: Annotated[int, Field(ge=1, le=MAX_STORAGE_GROUPS)] = 1
    """The group of volumes (``storage.volumes[].group``) this channel records on."""
    ptz: PtzConfig | None = None
    """An analogue-style PTZ dome on the RS-485 bus; none = no RS-485 PTZ."""
    motion: MotionConfig = Field(default_factory=MotionConfig)
    """Motion detection on the sub stream (needs ``sub``)."""
    onvif: OnvifConfig | None = None
    """The camera's ONVIF service (events, clock, PTZ, identity); none = RTSP only."""

    @model_validator(mode="after")
    def _motion_needs_sub(self) -> CameraConfig:
        if self.motion.enabled and self.sub is None:
            raise located_error("motion detection runs on the sub stream: give the camera "
                                "a sub stream URL, or set enabled = false",
                                at=("motion", "enabled"), value=True)
        return self

    @model_validator(mode="after")
    def _one_ptz(self) -> CameraConfig:
        if self.ptz is not None and self.onvif is not None and self.onvif.ptz:
            raise located_error("the camera has an RS-485 dome (ptz) already: use one or "
                                "the other, or set onvif.ptz = false",
                                at=("onvif", "ptz"), value=True)
        return self


class RecordingConfig(Section):
    """Segments and schedules."""

    segment_seconds: Annotated[int, Field(ge=10, le=600)] = 60
    """Recordings are cut into files of about this length (on a keyframe)."""
    segment_max_mb: Annotated[int, Field(ge=16, le=4096)] = 512
    """A segment is also cut when it reaches this size."""
    schedules: tuple[Schedule, ...] = ()
    """Named weekly schedules; "always" is built in."""
    holidays: tuple[Holiday, ...] = ()
    """Days on which schedules use their ``holiday`` periods."""

    @field_validator("schedules")
    @classmethod
    def _names_unique_and_not_builtin(cls, schedules: tuple[Schedule, ...]
                                      ) -> tuple[Schedule, ...]:
        redefined = [
            Violation((index, "name"), f"{ALWAYS_SCHEDULE_NAME!r} is built in and cannot be "
                      "redefined; choose another name", schedule.name)
            for index, schedule in enumerate(schedules)
            if schedule.name == ALWAYS_SCHEDULE_NAME
        ]
        if redefined:
            raise violations_error(redefined)
        check_unique(schedules, lambda s: s.name, field="schedules", attribute="name")
        return schedules

    @property
    def schedule_names(self) -> list[str]:
        return [ALWAYS_SCHEDULE_NAME, *(s.name for s in self.schedules)]

    def schedule(self, name: str) -> Schedule | None:
        """The schedule called ``name``, including the built-in one."""
        if name == ALWAYS_SCHEDULE_NAME:
            return ALWAYS
        return next((s for s in self.schedules if s.name == name), None)


class VolumeConfig(Section):
    """A directory recordings may be written to."""

    path: Annotated[str, Field(min_length=1, max_length=4096)]
    """Absolute, or relative to the data directory. Recorded into only once prepared
    (``nvrd prepare-volume PATH`` writes its identity file)."""
    name: Name32 | None = None
    """Defaults to the directory's name."""
    group: Annotated[int, Field(ge=1, le=MAX_STORAGE_GROUPS)] = 1
    """Channels record on the volumes of their ``storage_group``."""


class BayConfig(Section):
    """How the disk in one drive bay is used (bays are numbered as on the chassis)."""

    bay: Annotated[int, Field(ge=1, le=64)]
    group: Annotated[int, Field(ge=1, le=MAX_STORAGE_GROUPS)] = 1
    """Channels record on the volumes of their ``storage_group``."""
    record: bool = True
    """False: the disk is mounted (its recordings can be played back) but not written."""


class StorageConfig(Section):
    """Where recordings go and what happens when the disks are full."""

    full_policy: Literal["overwrite", "stop"] = "overwrite"
    """overwrite = delete the oldest unlocked recordings; stop = stop recording."""
    min_free_percent: Annotated[int, Field(ge=0, le=50)] = 5
    """Free space kept on each volume..."""
    reserve_minutes: Annotated[int, Field(ge=0, le=1440)] = 60
    """... or what the volume is written in this long at its current rate, if more."""
    volumes: tuple[VolumeConfig, ...] = ()
    """Recording directories besides the bay disks (a plain directory, a NAS mount)."""
    mount_root: Annotated[str, Field(min_length=1, max_length=4096)] = "bays"
    """Where prepared bay disks are mounted (``<mount_root>/bay<N>``); relative to the data
    directory unless absolute."""
    bays: tuple[BayConfig, ...] = ()
    """Per-bay settings; a bay not listed records in storage group 1."""
    smart_interval_minutes: Annotated[int, Field(ge=5, le=1440)] = 60
    """How often each disk's SMART data is read (sleeping disks are not woken)."""

    @field_validator("volumes")
    @classmethod
    def _paths_unique(cls, volumes: tuple[VolumeConfig, ...]) -> tuple[VolumeConfig, ...]:
        check_unique(volumes, lambda v: v.path, field="volumes", attribute="path")
        return volumes

    @field_validator("bays")
    @classmethod
    def _bays_unique(cls, bays: tuple[BayConfig, ...]) -> tuple[BayConfig, ...]:
        check_unique(bays, lambda b: b.bay, field="bays", attribute="bay")
        return bays

    def bay(self, number: int) -> BayConfig:
        return next((b for b in self.bays if b.bay == number), BayConfig(bay=number))


class AlarmInputConfig(Section):
    """A dry-contact alarm input terminal."""

    id: Annotated[int, Field(ge=1, le=MAX_ALARM_PORTS)]
    """The terminal number printed on the box."""
    name: Name32 = Field(default_factory=lambda data: f"Alarm input {data['id']}")
    contact: Literal["NO", "NC"] = "NO"
    """NO = normally open (closing raises the alarm); NC = normally closed."""
    debounce_ms: Annotated[int, Field(ge=0, le=10_000)] = 50
    """A change must last this long to count (contact bounce, noisy lines)."""
    enabled: bool = True


class AlarmOutputConfig(Section):
    """A relay output terminal."""

    id: Annotated[int, Field(ge=1, le=MAX_ALARM_PORTS)]
    """The terminal number printed on the box."""
    name: Name32 = Field(default_factory=lambda data: f"Alarm output {data['id']}")
    latch_seconds: Annotated[int, Field(ge=1, le=300)] = 10
    """How long the relay stays on after the alarm that triggered it ends."""
    mode: Literal["auto", "on", "off"] = "auto"
    """auto = driven by alarm linkage; on / off = forced."""


class PoePortConfig(Section):
    """A PoE port's switch (the vendor's "PoE power management")."""

    port: Annotated[int, Field(ge=1, le=64)]
    """The port number printed on the rear panel."""
    enabled: bool = True
    """False: the port gives no power (the camera on it is off until re-enabled)."""


class PoeConfig(Section):
    ports: tuple[PoePortConfig, ...] = ()
    """Ports not listed are powered."""

    @field_validator("ports")
    @classmethod
    def _ports_unique(cls, ports: tuple[PoePortConfig, ...]) -> tuple[PoePortConfig, ...]:
        check_unique(ports, lambda p: p.port, field="ports", attribute="port")
        return ports

    def enabled(self, port: int) -> bool:
        return next((p.enabled for p in self.ports if p.port == port), True)


class AlarmsConfig(Section):
    """Alarm inputs and relay outputs."""

    inputs: tuple[AlarmInputConfig, ...] = ()
    outputs: tuple[AlarmOutputConfig, ...] = ()

    @field_validator("inputs")
    @classmethod
    def _input_ids_unique(cls, inputs: Sequence[AlarmInputConfig]
                          ) -> Sequence[AlarmInputConfig]:
        return check_unique(inputs, lambda i: i.id, field="inputs", attribute="id")

    @field_validator("outputs")
    @classmethod
    def _output_ids_unique(cls, outputs: Sequence[AlarmOutputConfig]
                           ) -> Sequence[AlarmOutputConfig]:
        return check_unique(outputs, lambda o: o.id, field="outputs", attribute="id")


MAX_WEBHOOKS = 16
_TOPIC = re.compile(r"^[^#+/\s\x00]([^#+\s\x00]*[^#+/\s\x00])?$")
_HEADER_NAME_PATTERN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
_HEADER_VALUE_PATTERN = r"^[^\r\n\x00]*$"
_RESERVED_HEADERS = frozenset({"content-type", "content-length", "host",
                               "x-nvr-signature"})


def _valid_topic(topic: str) -> str:
    if not _TOPIC.match(topic):
        raise PydanticCustomError(
            "mqtt_topic", "must be a topic such as 'nvrd' or 'site1/nvr': no wildcards "
            "(+ or #), no blanks, no / at the start or the end")
    return topic


MqttTopic = Annotated[str, StringConstraints(min_length=1, max_length=128),
                      AfterValidator(_valid_topic)]
"""An MQTT topic prefix: no wildcards (``+``, ``#``) or blanks, no ``/`` at either end."""
HttpUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["http", "https"],
                                           host_required=True, max_length=2048)]


class MqttConfig(Section):
    """Publishing events and alarm states to an MQTT broker (Home Assistant discovers
    them as binary sensors of one device, the recorder)."""

    enabled: bool = False
    host: Host | None = None
    """The broker's host name or IP address (needed when enabled)."""
    port: Port = 1883
    """1883 is MQTT's port, 8883 MQTT over TLS."""
    tls: bool = False
    """Connect with TLS, checking the broker's certificate against the system's CAs."""
    username: Annotated[str, Field(max_length=64)] = ""
    """Empty: connect without an account."""
    password: Annotated[SecretStr, Field(max_length=128)] = SecretStr("")
    """Never shown in logs, errors or the API."""
    client_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,23}$")] = "nvrd"
    """The MQTT client id (1-23 letters, digits, ``-``, ``_``); also names the device in
    Home Assistant, so two recorders on one broker need two ids."""
    base_topic: MqttTopic = "nvrd"
    """Events go to ``<base>/events/<kind>``, states to
    ``<base>/<source kind>/<id>/<kind>/state``, availability to ``<base>/status``."""
    discovery: bool = True
    """Publish Home Assistant MQTT discovery configuration (retained)."""
    discovery_prefix: MqttTopic = "homeassistant"
    """Home Assistant's discovery prefix (its default is ``homeassistant``)."""
    retain: bool = True
    """Retain the ON/OFF states, so a client that subscribes later sees them."""
    keepalive_seconds: Annotated[int, Field(ge=5, le=600)] = 30
    """A broker that goes silent is noticed after about 1.5 times this."""

    @model_validator(mode="after")
    def _host_when_enabled(self) -> MqttConfig:
        if self.enabled and self.host is None:
            raise located_error("the broker's host is needed while MQTT is enabled (e.g. "
                                "host = \"192.0.2.10\"); or set enabled = false",
                                at=("host",), value=None)
        return self


class WebhookConfig(Section):
    """An HTTP endpoint that receives chosen events as JSON."""

    url: HttpUrl
    """``http://`` or ``https://``."""
    method: Literal["POST", "PUT"] = "POST"
    headers: dict[Annotated[str, StringConstraints(min_length=1, max_length=64,
                                                   pattern=_HEADER_NAME_PATTERN)],
                  Annotated[str, StringConstraints(max_length=1024,
                                                   pattern=_HEADER_VALUE_PATTERN)]] = Field(
        default_factory=dict, max_length=16)
    """Extra request headers (e.g. an ``Authorization`` the receiver wants)."""
    secret: Annotated[SecretStr, Field(max_length=256)] = SecretStr("")
    """When set, each request carries ``X-NVR-Signature: sha256=<hex HMAC-SHA256 of the
    body with this secret>``, so the receiver can tell it came from this recorder.
    Never shown in logs, errors or the API."""
    timeout_seconds: Annotated[float, Field(ge=1, le=60)] = 5.0
    """How long one attempt may take; failed attempts (no answer, 5xx) are retried."""
    kinds: tuple[EventKind, ...] = ()
    """The event kinds sent; empty = every kind."""

    @field_validator("headers")
    @classmethod
    def _headers_not_reserved(cls, headers: dict[str, str]) -> dict[str, str]:
        for name in headers:
            if name.lower() in _RESERVED_HEADERS:
                raise located_error(f"the recorder sets {name} itself; remove it", at=(name,),
                                    value=name)
        return headers


class NotifyConfig(Section):
    """Notifications: MQTT and HTTP webhooks."""

    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    webhooks: Annotated[tuple[WebhookConfig, ...], Field(max_length=MAX_WEBHOOKS)] = ()


class SecurityConfig(Section):
    """Sessions and brute-force protection of the web page and console."""

    idle_logout_minutes: Annotated[int, Field(ge=0, le=60)] = 15
    """An idle session is logged out after this long; 0 = never."""
    lockout_attempts: Annotated[int, Field(ge=3, le=10)] = 5
    """Failed logins in a row that lock the account (and raise an illegal-login alarm)."""
    lockout_minutes: Annotated[int, Field(ge=1, le=1440)] = 5
    """How long the account and the source IP stay locked (the vendor's default: 5 min)."""


class AuditConfig(Section):
    """The audit log (who did what, when)."""

    max_rows: Annotated[int, Field(ge=1000, le=10_000_000)] = 100_000
    """The oldest entries are dropped beyond this."""


class EventsConfig(LinkageConfig):
    """The event engine: its log, the thresholds of the faults it watches, and linkage
    (``nvrd/config/linkage.py``)."""

    log_max_rows: Annotated[int, Field(ge=1000, le=10_000_000)] = 100_000
    """The event log keeps this many events; the oldest are dropped beyond it."""
    low_space_percent: Annotated[int, Field(ge=0, le=50)] = 10
    """A volume with less free space than this raises "disk low on space" (only when
    ``storage.full_policy`` is ``stop``: overwriting keeps disks full by design); 0 = off."""
    network_interfaces: Annotated[tuple[Slug, ...], Field(max_length=16)] = ()
    """The network links watched for "link down"; none = those up when the daemon starts."""


class SnapshotsConfig(Section):
    """JPEG snapshots (event linkage, "snapshot now"), kept in the data directory."""

    max_mb: Annotated[int, Field(ge=16, le=1_000_000)] = 1024
    """Most space the snapshots take (MiB); the oldest are deleted beyond it."""
    quality: Annotated[int, Field(ge=1, le=6)] = 5
    """JPEG quality in the vendor's levels, 6 = best (largest files)."""
    timeout_seconds: Annotated[float, Field(ge=1, le=30)] = 5.0
    """How long a snapshot waits for the camera's next key frame before it fails."""


class PlugAndPlayConfig(Section):
    """PoE plug-and-play (the vendor's behaviour): a camera powered on a PoE port is
    found on that port's network, probed with these credentials and added to the
    port's channel (the board profile's ``camera_channel``)."""

    enabled: bool = True
    username: Annotated[str, Field(max_length=64)] = "admin"
    password: Annotated[SecretStr, Field(max_length=128)] = SecretStr("")
    """No default: until one is set, plug-and-play finds cameras but cannot add them
    (it says so). Never shown in logs, errors or the API."""
    activate: bool = True
    """A camera found inactive (no password yet) is activated with ``username`` and
    ``password``, as the vendor's recorders do with their own admin password."""
    wait_seconds: Annotated[int, Field(ge=10, le=600)] = 180
    """How long after power-on the camera may take to boot and answer."""


class CameraTimeConfig(Section):
    """Keeping the cameras' clocks in step with the recorder's."""

    interval_minutes: Annotated[int, Field(ge=1, le=1440)] = 60
    """How often each camera's clock is read (and set when it has drifted)."""
    max_drift_seconds: Annotated[float, Field(ge=0.5, le=3600)] = 2.0
    """A camera clock further off than this is set (cameras with ``onvif.time_sync``)."""


class CameraNetworkConfig(Section):
    """Finding cameras: WS-Discovery, plug-and-play on the PoE ports, camera clocks."""

    interfaces: Annotated[tuple[Annotated[str, StringConstraints(
        pattern=r"^[A-Za-z0-9_.:-]{1,15}$")], ...], Field(max_length=16)] = ()
    """The network interfaces WS-Discovery probes; empty = every interface with an IPv4
    address except loopback."""
    discovery_seconds: Annotated[float, Field(ge=0.5, le=30)] = 3.0
    """How long a search waits for cameras to answer."""
    plug_and_play: PlugAndPlayConfig = Field(default_factory=PlugAndPlayConfig)
    time: CameraTimeConfig = Field(default_factory=CameraTimeConfig)


class ConsoleConfig(Section):
    """The technicians' console on the serial port the board profile gives the role
    "console" (the vendor's RS-232 "Console" function). Logins, idle logout and lockout
    limits are those of ``[security]``, with a counter of the console's own."""

    enabled: bool = True
    baud: Literal[9600, 19200, 38400, 57600, 115200, 230400] | None = None
    """Line rate; unset: the board profile's (115200, 8N1, the vendor's default)."""
    data_bits: Literal[7, 8] | None = None
    parity: Literal["N", "E", "O"] | None = None
    stop_bits: Literal[1, 2] | None = None
    socket: bool = True
    """Also serve the console on a Unix socket in the data directory (owner only), for
    ``nvrd console`` on the box itself or a development terminal."""


class LoggingConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"


class NvrConfig(Section):
    """The whole live configuration (``nvrd.toml`` in the data directory)."""

    schema_version: Annotated[int, Field(ge=CURRENT_SCHEMA_VERSION,
                                         le=CURRENT_SCHEMA_VERSION)] = CURRENT_SCHEMA_VERSION
    """Format version of the file; older files are migrated when loaded."""
    system: SystemConfig = Field(default_factory=SystemConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    alarms: AlarmsConfig = Field(default_factory=AlarmsConfig)
    poe: PoeConfig = Field(default_factory=PoeConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    snapshots: SnapshotsConfig = Field(default_factory=SnapshotsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    camera_network: CameraNetworkConfig = Field(default_factory=CameraNetworkConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    """The recorder's own interfaces (empty: the operating system's set-up stays)."""
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    cameras: Annotated[tuple[CameraConfig, ...], Field(max_length=MAX_CHANNELS)] = ()

    @field_validator("cameras")
    @classmethod
    def _channels_unique(cls, cameras: tuple[CameraConfig, ...]) -> tuple[CameraConfig, ...]:
        check_unique(cameras, lambda c: c.channel, field="cameras", attribute="channel")
        return cameras

    @model_validator(mode="after")
    def _schedules_exist(self) -> NvrConfig:
        known = self.recording.schedule_names
        missing = [
            Violation(("cameras", index, "schedule"),
                      f"camera {camera.channel} ({camera.name!r}) uses schedule "
                      f"{camera.schedule!r}, which recording.schedules does not define; "
                      f"defined: {', '.join(known)}", camera.schedule)
            for index, camera in enumerate(self.cameras)
            if camera.schedule not in known
        ]
        if missing:
            raise violations_error(missing)
        return self

    @model_validator(mode="after")
    def _linkage_channels_exist(self) -> NvrConfig:
        channels = {camera.channel for camera in self.cameras}
        missing = []
        for index, rule in enumerate(self.events.rules):
            targets = [("record", n, c) for n, c in enumerate(rule.record)]
            targets += [("snapshot", n, c) for n, c in enumerate(rule.snapshot)]
            targets += [("ptz", n, p.channel) for n, p in enumerate(rule.ptz)]
            missing += [Violation(("events", "rules", index, field, n),
                                  f"rule {rule.name!r}: no camera on channel {channel}",
                                  channel)
                        for field, n, channel in targets if channel not in channels]
        if missing:
            raise violations_error(missing)
        return self

    def camera(self, channel: int) -> CameraConfig | None:
        return next((c for c in self.cameras if c.channel == channel), None)
