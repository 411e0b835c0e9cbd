"""The box's hardware: PoE ports, alarm inputs and relays, PTZ domes, the front panel.

Rights: PoE ports power cameras, so they are under ``camera``; alarm states under
``events``; switching a relay by hand under ``alarm_output``; moving a dome under the
channel's ``ptz`` right; the front panel under ``system``. Hardware the board lacks (or
that failed to open) is a 503 with the sentence the hardware service wrote.

What persists: enabling or disabling a PoE port and forcing a relay on/off/auto are
installer settings (``[[poe.ports]]``, ``[[alarms.outputs]]``): they go through
``change_config`` and survive a restart. A power cycle, a PTZ move or a tour is an
action, not a setting. Preset and tour changes are audited; continuous moves (a
joystick sends many) are not.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hal.leds.panel import PanelState
from hal.poe import PoePortStatus, PortNotEnabled, PowerBudgetExceeded, UnknownPort
from hal.poe.base import PortPower, PseError
from hal.ptz import DEFAULT_SPEED, MAX_SPEED, Focus, Iris, Pan, PtzError, Tilt, Tour, TourStop
from hal.ptz import Zoom as ZoomDirection
from hal.ptz.base import PtzCamera
from nvrd.config.schema import MAX_CHANNELS
from nvrd.hardware.alarmio import AlarmInputStatus, AlarmOutputStatus
from nvrd.hardware.ptz import NoPtzDome, PtzUnavailable
from nvrd.hardware.settings import poe_port_enabled, relay_mode
from nvrd.web.api.errors import ApiError, Conflict, NotFound
from nvrd.web.api.registry import ApiRegistry, RequestContext
from nvrd.web.routes.common import audit, change_config, daemon, unavailable

routes = ApiRegistry(tags=("hardware",))

Ctx = RequestContext[Any, Any, Any]
PTZ = "/api/v1/channels/{channel:\\d+}/ptz"
Speed = Annotated[int, Field(ge=0, le=MAX_SPEED)]


class PortPath(BaseModel):
    port: Annotated[int, Field(ge=1, le=64)]


class OutputPath(BaseModel):
    id: Annotated[int, Field(ge=1, le=256)]


class ChannelPath(BaseModel):
    channel: Annotated[int, Field(ge=1, le=MAX_CHANNELS)]


class PresetPath(BaseModel):
    channel: Annotated[int, Field(ge=1, le=MAX_CHANNELS)]
    preset: Annotated[int, Field(ge=1, le=255)]


class AlarmsOut(BaseModel):
    inputs: list[AlarmInputStatus]
    outputs: list[AlarmOutputStatus]


class RelayBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["on", "off", "auto"]
    """on / off: forced (kept across restarts); auto: driven by alarm linkage (off until
    an alarm drives it)."""


class MoveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pan: Pan = Pan.STOP
    tilt: Tilt = Tilt.STOP
    pan_speed: Speed = DEFAULT_SPEED
    tilt_speed: Speed = DEFAULT_SPEED
    turbo: bool = False


class ZoomBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    direction: ZoomDirection


class FocusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    direction: Focus


class IrisBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    direction: Iris


class CallPresetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    speed: Speed | None = None
    """Travel speed hint (Pelco domes ignore it)."""


class TourStopBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preset: Annotated[int, Field(ge=1, le=255)]
    dwell_seconds: Annotated[float, Field(gt=0, le=3600)]
    """Time at this stop, travel included."""


class TourBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stops: Annotated[list[TourStopBody], Field(min_length=1, max_length=64)]
    loop: bool = True


class PanelOut(BaseModel):
    phase: str
    state: PanelState | None
    """What the lamps show (None before the first refresh)."""
    indicators: list[str]
    """The lamps this board has (roles)."""
    buttons: list[str]
    """The buttons this board has (roles)."""


# --- PoE --------------------------------------------------------------------------------

class PoeBudgetOut(BaseModel):
    """The PoE power budget, in milliwatts."""

    budget_mw: int
    """What the ports may take in all (the board's PoE budget less the safety margin)."""
    allocated_mw: int
    """Reserved for the powered ports by their PD class (capped at each port's allowance),
    and for ports just switched on and not yet classified."""
    drawn_mw: int
    """Measured draw of the delivering ports at the last poll."""
    ports: int
    """How many PoE ports the board has."""
    ports_delivering: int
    """How many deliver power now."""


def _poe(ctx: Ctx) -> Any:
    hardware = daemon(ctx).hardware
    if hardware is None or hardware.poe is None:
        reason = hardware.problems.get("PoE") if hardware is not None else None
        raise unavailable("PoE", reason or "the board has no PoE ports")
    return hardware.poe


def _port_status(ctx: Ctx, port: int) -> PoePortStatus:
    found = next((p for p in _poe(ctx).status() if p.port == port), None)
    if found is None:
        raise NotFound(f"there is no PoE port {port} on this recorder")
    return found


@routes.get("/api/v1/poe", response=list[PoePortStatus], right="camera")
async def get_poe(ctx: RequestContext) -> list[PoePortStatus]:
    """Every PoE port: switch, power state, class, measured and allocated power."""
    return list(_poe(ctx).status())


@routes.get("/api/v1/poe/budget", response=PoeBudgetOut, right="camera")
async def get_poe_budget(ctx: RequestContext) -> PoeBudgetOut:
    """The PoE budget: total, allocated and drawn power (mW), and how many ports deliver.

    What the power supply allows, as the budget manager enforces it (the board's PSE
    budget less its safety margin, hal/poe/budget.py), and the totals it compares with
    it, so a "used / total W" shows the numbers that decide shedding."""
    manager = _poe(ctx).opened.manager
    ports = manager.status()
    return PoeBudgetOut(
        budget_mw=manager.budget_mw, allocated_mw=manager.allocated_mw,
        drawn_mw=manager.drawn_mw, ports=len(ports),
        ports_delivering=sum(1 for p in ports if p.power is PortPower.DELIVERING))


@routes.post("/api/v1/poe/{port:\\d+}/enable", path_model=PortPath, response=PoePortStatus,
             right="camera")
async def enable_port(ctx: RequestContext[None, None, PortPath]) -> PoePortStatus:
    """Switch a PoE port on (kept across restarts); 409 if the power budget has no room."""
    port = ctx.path.port
    _port_status(ctx, port)
    try:
        await _poe(ctx).enable(port)
    except PowerBudgetExceeded as exc:
        audit(ctx, "poe", f"PoE port {port} enable", result="rejected", details=str(exc))
        raise Conflict(str(exc), code="power_budget_exceeded") from None
    except PseError as exc:
        raise unavailable(f"PoE port {port}", str(exc)) from None
    await change_config(ctx, poe_port_enabled(port, True), f"PoE port {port} enabled")
    return _port_status(ctx, port)


@routes.post("/api/v1/poe/{port:\\d+}/disable", path_model=PortPath, response=PoePortStatus,
             right="camera")
async def disable_port(ctx: RequestContext[None, None, PortPath]) -> PoePortStatus:
    """Switch a PoE port off (the camera on it loses power; kept across restarts)."""
    port = ctx.path.port
    _port_status(ctx, port)
    try:
        await _poe(ctx).disable(port)
    except PseError as exc:
        raise unavailable(f"PoE port {port}", str(exc)) from None
    await change_config(ctx, poe_port_enabled(port, False), f"PoE port {port} disabled")
    return _port_status(ctx, port)


@routes.post("/api/v1/poe/{port:\\d+}/power-cycle", path_model=PortPath,
             response=PoePortStatus, right="camera", timeout_s=60.0)
async def power_cycle_port(ctx: RequestContext[None, None, PortPath]) -> PoePortStatus:
    """Switch a port off, wait for the camera to discharge, switch it on: the remote
    reboot of a hung camera. 409 for a disabled or shed port."""
    port = ctx.path.port
    _port_status(ctx, port)
    try:
        await _poe(ctx).power_cycle(port)
    except (PortNotEnabled, UnknownPort) as exc:
        audit(ctx, "poe", f"PoE port {port} power cycle", result="rejected",
              details=str(exc))
        raise Conflict(str(exc), code="port_not_enabled") from None
    except PseError as exc:
        raise unavailable(f"PoE port {port}", str(exc)) from None
    audit(ctx, "poe", f"PoE port {port} power cycle")
    return _port_status(ctx, port)


# --- alarm I/O --------------------------------------------------------------------------

def _alarm_io(ctx: Ctx) -> Any:
    hardware = daemon(ctx).hardware
    if hardware is None or hardware.alarm_io is None:
        reason = hardware.problems.get("alarm I/O") if hardware is not None else None
        raise unavailable("alarm I/O", reason or "the board has no alarm terminals")
    return hardware.alarm_io


@routes.get("/api/v1/alarms", response=AlarmsOut, right="events")
async def get_alarms(ctx: RequestContext) -> AlarmsOut:
    """Alarm inputs (active, contact, since when) and relay outputs (on, mode)."""
    alarm_io = _alarm_io(ctx)
    return AlarmsOut(inputs=alarm_io.inputs(), outputs=alarm_io.outputs())


@routes.put("/api/v1/alarms/outputs/{id:\\d+}", path_model=OutputPath, body=RelayBody,
            response=AlarmOutputStatus, right="alarm_output")
async def set_output(ctx: RequestContext[RelayBody, None, OutputPath]) -> AlarmOutputStatus:
    """Force a relay on or off, or give it back to alarm linkage (auto); kept across
    restarts."""
    number, mode = ctx.path.id, ctx.body.mode
    alarm_io = _alarm_io(ctx)
    if not any(o.number == number for o in alarm_io.outputs()):
        raise NotFound(f"there is no alarm output {number} on this recorder")
    await change_config(ctx, relay_mode(number, mode), f"alarm output {number} set to {mode}")
    if mode == "auto":  # linkage drives it from now on; until it does, it is off
        try:
            alarm_io.set_relay(number, False, reason="mode auto")
        except RuntimeError as exc:
            raise unavailable("alarm outputs", str(exc)) from None
    return next(o for o in alarm_io.outputs() if o.number == number)


# --- PTZ --------------------------------------------------------------------------------

async def _dome(ctx: Ctx) -> PtzCamera:
    hardware = daemon(ctx).hardware
    if hardware is None or hardware.ptz is None:
        raise unavailable("PTZ", "the hardware service is not running")
    try:
        camera: PtzCamera = await hardware.ptz.camera(ctx.path.channel)
    except NoPtzDome as exc:
        raise ApiError(404, "no_ptz", str(exc)) from None
    except PtzUnavailable as exc:
        raise unavailable("PTZ", str(exc), code="ptz_unavailable") from None
    return camera


class _PtzErrors:
    """Bus failures of a PTZ command as 503 with their sentence."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: Any) -> bool:
        if isinstance(exc, PtzError) and not isinstance(exc, TimeoutError):
            raise unavailable("PTZ", str(exc), code="ptz_unavailable") from None
        if isinstance(exc, ValueError):
            raise ApiError(422, "validation_failed", str(exc)) from None
        return False


@routes.post(f"{PTZ}/move", path_model=ChannelPath, body=MoveBody,
             channel_right=("ptz", "channel"))
async def ptz_move(ctx: RequestContext[MoveBody, None, ChannelPath]) -> None:
    """Pan and/or tilt until stopped (or the next command); stops a running tour."""
    body = ctx.body
    async with _PtzErrors():
        await (await _dome(ctx)).move(body.pan, body.tilt, pan_speed=body.pan_speed,
                                      tilt_speed=body.tilt_speed, turbo=body.turbo)


@routes.post(f"{PTZ}/stop", path_model=ChannelPath, channel_right=("ptz", "channel"))
async def ptz_stop(ctx: RequestContext[None, None, ChannelPath]) -> None:
    """Stop every motion (pan, tilt, zoom, focus, iris)."""
    async with _PtzErrors():
        await (await _dome(ctx)).stop()


@routes.post(f"{PTZ}/zoom", path_model=ChannelPath, body=ZoomBody,
             channel_right=("ptz", "channel"))
async def ptz_zoom(ctx: RequestContext[ZoomBody, None, ChannelPath]) -> None:
    """Zoom in or out until stopped."""
    async with _PtzErrors():
        await (await _dome(ctx)).zoom(ctx.body.direction)


@routes.post(f"{PTZ}/focus", path_model=ChannelPath, body=FocusBody,
             channel_right=("ptz", "channel"))
async def ptz_focus(ctx: RequestContext[FocusBody, None, ChannelPath]) -> None:
    """Drive focus near or far until stopped."""
    async with _PtzErrors():
        await (await _dome(ctx)).focus(ctx.body.direction)


@routes.post(f"{PTZ}/iris", path_model=ChannelPath, body=IrisBody,
             channel_right=("ptz", "channel"))
async def ptz_iris(ctx: RequestContext[IrisBody, None, ChannelPath]) -> None:
    """Open or close the iris until stopped."""
    async with _PtzErrors():
        await (await _dome(ctx)).iris(ctx.body.direction)


@routes.put(f"{PTZ}/presets/{{preset:\\d+}}", path_model=PresetPath,
            channel_right=("ptz", "channel"))
async def ptz_set_preset(ctx: RequestContext[None, None, PresetPath]) -> None:
    """Store where the camera points as a preset."""
    async with _PtzErrors():
        await (await _dome(ctx)).set_preset(ctx.path.preset)
    audit(ctx, "ptz", f"channel {ctx.path.channel}: preset {ctx.path.preset} set")


@routes.post(f"{PTZ}/presets/{{preset:\\d+}}", path_model=PresetPath, body=CallPresetBody,
             channel_right=("ptz", "channel"))
async def ptz_call_preset(ctx: RequestContext[CallPresetBody, None, PresetPath]) -> None:
    """Go to a preset."""
    async with _PtzErrors():
        await (await _dome(ctx)).call_preset(ctx.path.preset, speed=ctx.body.speed)


@routes.delete(f"{PTZ}/presets/{{preset:\\d+}}", path_model=PresetPath,
               channel_right=("ptz", "channel"))
async def ptz_clear_preset(ctx: RequestContext[None, None, PresetPath]) -> None:
    """Forget a preset."""
    async with _PtzErrors():
        await (await _dome(ctx)).clear_preset(ctx.path.preset)
    audit(ctx, "ptz", f"channel {ctx.path.channel}: preset {ctx.path.preset} cleared")


@routes.post(f"{PTZ}/tours", path_model=ChannelPath, body=TourBody,
             channel_right=("ptz", "channel"))
async def ptz_start_tour(ctx: RequestContext[TourBody, None, ChannelPath]) -> None:
    """Start a tour: call each preset in turn, stay its dwell time, loop if asked
    (replaces a running tour; a hand move stops it)."""
    channel = ctx.path.channel
    tour = Tour(tuple(TourStop(s.preset, s.dwell_seconds) for s in ctx.body.stops),
                loop=ctx.body.loop)
    await _dome(ctx)  # 503 before anything starts if the channel has no dome
    hardware = daemon(ctx).hardware
    assert hardware is not None and hardware.ptz is not None
    async with _PtzErrors():
        await hardware.ptz.start_tour(channel, tour)
    audit(ctx, "ptz", f"channel {channel}: tour started",
          details=", ".join(f"preset {s.preset} {s.dwell_seconds:g} s"
                            for s in ctx.body.stops))


@routes.delete(f"{PTZ}/tours", path_model=ChannelPath, channel_right=("ptz", "channel"))
async def ptz_stop_tour(ctx: RequestContext[None, None, ChannelPath]) -> None:
    """Stop the channel's tour (the camera stays where it is)."""
    hardware = daemon(ctx).hardware
    if hardware is None or hardware.ptz is None:
        raise unavailable("PTZ", "the hardware service is not running")
    await hardware.ptz.stop_tour(ctx.path.channel)
    audit(ctx, "ptz", f"channel {ctx.path.channel}: tour stopped")


# --- front panel ------------------------------------------------------------------------

@routes.get("/api/v1/panel", response=PanelOut, right="system")
async def get_panel(ctx: RequestContext) -> PanelOut:
    """What the front panel shows (phase, recording, faults, alarm, network) and which
    lamps and buttons the board has."""
    hardware = daemon(ctx).hardware
    if hardware is None or hardware.panel is None:
        reason = hardware.problems.get("front panel") if hardware is not None else None
        raise unavailable("the front panel", reason or "the board has no panel lamps")
    board = hardware.board
    return PanelOut(
        phase=str(hardware.panel.phase), state=hardware.panel.state,
        indicators=[i.role for i in board.leds.indicators] if board else [],
        buttons=[k.role for k in board.buttons.keys] if board else [])
