"""Finding and adding cameras: discovery, probing, activation, camera clocks, plug-and-play.

- ``POST /api/v1/cameras/discover``: WS-Discovery on the camera network; each camera with
  the channel that records it already (the vendor's search hides those; the page can).
- ``POST /api/v1/cameras/probe``: "add by address", step one: ask the camera (ONVIF) what
  it is and which streams it has, with the account the installer typed. Nothing is saved.
- ``POST /api/v1/cameras/onvif``: probe and add in one go, on the channel given or the
  lowest free one; the main and sub stream URLs come from the camera.
- ``POST /api/v1/cameras/activate``: give an inactive camera its first password.
- ``GET /api/v1/cameras/clocks``, ``POST …/clocks/check``: each camera's clock drift.
- ``GET /api/v1/cameras/plug-and-play``: what PoE plug-and-play did on each port.

A camera that refuses is an answer, not a failure of the recorder: 422 with the camera's
reason as the ``code`` (``wrong_password``, ``inactive``, ``locked``, ``not_onvif``), 502
for ``unreachable`` and other faults. A probe makes one login attempt, so a wrong
password never locks the camera's account. Right: ``camera``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, SecretStr

from nvrd.cameras.onvif.errors import CameraError
from nvrd.cameras.onvif.probe import ProbeResult
from nvrd.cameras.probing import camera_entry
from nvrd.cameras.service import CameraService
from nvrd.config.fields import Host, Name64, Port
from nvrd.config.schema import MAX_CHANNELS
from nvrd.web.api.errors import ApiError, Conflict
from nvrd.web.api.registry import ApiRegistry, RequestContext
from nvrd.web.routes.cameras import CameraOut, camera_response
from nvrd.web.routes.common import audit, change_config, daemon, unavailable

routes = ApiRegistry(tags=("cameras",))

REFUSALS = frozenset({"wrong_password", "inactive", "locked", "not_onvif"})
InterfaceName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,15}$")]


class DiscoverIn(BaseModel):
    interfaces: Annotated[list[InterfaceName], Field(max_length=16)] | None = None
    """Probe these network interfaces only (default: ``camera_network.interfaces``,
    else every interface)."""
    seconds: Annotated[float, Field(ge=0.5, le=30)] | None = None
    """How long to wait for answers (default ``camera_network.discovery_seconds``)."""


class FoundOut(BaseModel):
    address: str
    port: int
    xaddr: str
    """The camera's ONVIF device service URL."""
    endpoint: str
    """The camera's WS-Discovery identity (``urn:uuid:…``): stable across address changes."""
    name: str
    hardware: str
    mac: str
    interface: str
    """The recorder's network interface the answer came in on."""
    channel: int | None
    """The channel recording this camera already (None: not added)."""


class CameraAccount(BaseModel):
    address: Host
    port: Port = 80
    """The camera's HTTP port (ONVIF)."""
    username: Annotated[str, Field(max_length=64)] = "admin"
    password: Annotated[SecretStr, Field(max_length=128)]


class ProfileOut(BaseModel):
    token: str
    name: str
    encoding: str
    width: int
    height: int
    fps: float | None
    bitrate_kbps: int | None
    ptz: bool


class ProbeOut(BaseModel):
    address: str
    port: int
    manufacturer: str
    model: str
    firmware: str
    serial: str
    mac: str
    profiles: list[ProfileOut]
    main_profile: str
    sub_profile: str | None
    main_url: str
    sub_url: str | None
    clock_offset_s: float
    """The camera's clock minus the recorder's, in seconds."""
    ptz: bool
    channel: int | None
    """The channel recording this camera already (None: not added)."""


class AddOnvifIn(CameraAccount):
    channel: Annotated[int, Field(ge=1, le=MAX_CHANNELS)] | None = None
    """Default: the lowest free channel."""
    name: Name64 | None = None


class ClockOut(BaseModel):
    channel: int
    checked_us: int
    offset_s: float | None
    """Camera minus recorder, seconds (None: the camera's clock could not be read)."""
    corrected: bool
    offset_before_s: float | None
    ntp: bool
    error: str | None


class PortOut(BaseModel):
    port: int
    channel: int
    interface: str
    state: str
    message: str
    address: str | None
    mac: str | None
    since_us: int


# --- helpers ------------------------------------------------------------------------------

def _cameras(ctx: RequestContext[Any, Any, Any]) -> CameraService:
    service = daemon(ctx).cameras
    if service is None:
        raise unavailable("the camera service", "the recorder is starting or stopping",
                          code="service_unavailable")
    return service


def camera_refused(exc: CameraError) -> ApiError:
    """A camera's refusal as the API answers it."""
    return ApiError(422 if exc.code in REFUSALS else 502, exc.code, str(exc))


def _probe_out(result: ProbeResult, channel: int | None) -> ProbeOut:
    return ProbeOut(
        address=result.host, port=result.port, manufacturer=result.info.manufacturer,
        model=result.info.model, firmware=result.info.firmware, serial=result.info.serial,
        mac=result.mac,
        profiles=[ProfileOut(token=p.token, name=p.name, encoding=p.encoding, width=p.width,
                             height=p.height, fps=p.fps, bitrate_kbps=p.bitrate_kbps,
                             ptz=p.ptz) for p in result.profiles],
        main_profile=result.main.token,
        sub_profile=result.sub.token if result.sub is not None else None,
        main_url=result.main_url, sub_url=result.sub_url,
        clock_offset_s=round(result.clock.offset_s, 3), ptz=result.ptz, channel=channel)


async def _probe(ctx: RequestContext[Any, Any, Any], body: CameraAccount) -> ProbeResult:
    try:
        return await _cameras(ctx).probe(body.address, body.port, body.username,
                                         body.password.get_secret_value())
    except CameraError as exc:
        raise camera_refused(exc) from None


# --- routes -------------------------------------------------------------------------------

@routes.post("/api/v1/cameras/discover", body=DiscoverIn, response=list[FoundOut],
             right="camera")
async def discover_cameras(ctx: RequestContext[DiscoverIn]) -> list[FoundOut]:
    """Search the camera network (ONVIF WS-Discovery) for cameras; takes ``seconds``."""
    found = await _cameras(ctx).discover(ctx.body.interfaces, ctx.body.seconds)
    return [FoundOut(address=f.camera.host, port=f.camera.port, xaddr=f.camera.xaddr,
                     endpoint=f.camera.endpoint, name=f.camera.name,
                     hardware=f.camera.hardware, mac=f.camera.mac,
                     interface=f.camera.interface, channel=f.channel)
            for f in sorted(found, key=lambda f: (f.camera.interface, f.camera.host))]


@routes.post("/api/v1/cameras/probe", body=CameraAccount, response=ProbeOut, right="camera")
async def probe_camera(ctx: RequestContext[CameraAccount]) -> ProbeOut:
    """Ask a camera what it is (ONVIF): identity, MAC, profiles, stream URLs, clock.

    One login attempt. 422 ``wrong_password`` / ``inactive`` / ``locked`` /
    ``not_onvif``, 502 ``unreachable`` / ``fault``, each with the reason in words."""
    result = await _probe(ctx, ctx.body)
    return _probe_out(result, _cameras(ctx).channel_of(result.mac, result.host,
                                                          result.port))


@routes.post("/api/v1/cameras/onvif", body=AddOnvifIn, response=CameraOut, status=201,
             right="camera")
async def add_onvif_camera(ctx: RequestContext[AddOnvifIn]) -> CameraOut:
    """Add a camera by address: probe it and record its main and sub streams on
    ``channel`` (default: the lowest free one). 409 if the camera or the channel is
    taken already."""
    body = ctx.body
    result = await _probe(ctx, body)
    existing = _cameras(ctx).channel_of(result.mac, result.host, result.port)
    if existing is not None:
        raise Conflict(f"this camera ({result.host}, MAC {result.mac or 'unknown'}) is on "
                       f"channel {existing} already")
    used = {c.channel for c in daemon(ctx).config.cameras}
    channel = body.channel
    if channel is None:
        channel = next((n for n in range(1, MAX_CHANNELS + 1) if n not in used), None)
        if channel is None:
            raise Conflict(f"every channel (1-{MAX_CHANNELS}) has a camera already")
    elif channel in used:
        raise Conflict(f"channel {channel} has a camera already; choose another channel")
    entry = camera_entry(channel, result, body.username, body.password.get_secret_value(),
                         name=body.name)

    def add(table: dict[str, Any]) -> None:
        table.setdefault("cameras", []).append(entry)

    await change_config(ctx, add, f"camera {channel} added ({result.info.manufacturer} "
                        f"{result.info.model} at {result.host})")
    return camera_response(ctx, channel)


@routes.post("/api/v1/cameras/activate", body=CameraAccount, right="camera")
async def activate_camera(ctx: RequestContext[CameraAccount]) -> None:
    """Activate a camera that has no password yet (the factory state): its first
    account becomes ``username`` / ``password``. 422 ``fault`` when the camera is active
    already or refuses the password (its own password rules)."""
    body = ctx.body
    try:
        await _cameras(ctx).activate(body.address, body.port, body.username,
                                     body.password.get_secret_value())
    except CameraError as exc:
        audit(ctx, "camera", f"camera {body.address} activation", result="failed",
              details=str(exc))
        raise camera_refused(exc) from None
    audit(ctx, "camera", f"camera {body.address} activated", details=f"user {body.username}")


@routes.get("/api/v1/cameras/clocks", response=list[ClockOut], right="camera")
async def camera_clocks(ctx: RequestContext) -> list[ClockOut]:
    """Each ONVIF camera's clock as last checked: drift, whether it was set."""
    reports = _cameras(ctx).clocks.reports
    return [ClockOut.model_validate(r, from_attributes=True)
            for _, r in sorted(reports.items())]


@routes.post("/api/v1/cameras/clocks/check", response=list[ClockOut], right="camera")
async def check_camera_clocks(ctx: RequestContext) -> list[ClockOut]:
    """Read every ONVIF camera's clock now, and set those that drifted too far."""
    reports = await _cameras(ctx).clocks.check_now()
    return [ClockOut.model_validate(r, from_attributes=True)
            for r in sorted(reports, key=lambda r: r.channel)]


@routes.get("/api/v1/cameras/plug-and-play", response=list[PortOut], right="camera")
async def plug_and_play_ports(ctx: RequestContext) -> list[PortOut]:
    """What PoE plug-and-play did last on each port (empty without PoE ports)."""
    pnp = _cameras(ctx).plug_and_play
    if pnp is None:
        return []
    return [PortOut.model_validate(s, from_attributes=True)
            for _, s in sorted(pnp.states.items())]
