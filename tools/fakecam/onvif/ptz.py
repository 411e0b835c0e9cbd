"""The PTZ service (``tptz``, ver20): one node, one configuration, on ``Profile_1``.

Positions and velocities are in ONVIF's generic spaces (pan/tilt -1..1, zoom 0..1,
velocities -1..1); see ``state.PtzState`` for how a move advances. A camera without PTZ
answers every PTZ operation with ``ter:ActionNotSupported``/``ter:PTZNotSupported``, and
does not list the service.
"""

from __future__ import annotations

import time

from lxml import etree  # type: ignore[import-untyped]

from tools.fakecam.onvif.server import Call, Handler
from tools.fakecam.onvif.soap import (
    NS,
    E,
    SoapFault,
    child,
    child_text,
    format_datetime,
    invalid_arg,
    parse_bool,
    parse_duration,
)
from tools.fakecam.onvif.state import DEFAULT_PTZ_TIMEOUT_S, MAX_PRESETS, Preset

NODE = "PTZNode_1"
CONFIGURATION = "PTZConfig_1"
PTZ_PROFILE = "Profile_1"
_SPACES = "http://www.onvif.org/ver10/tptz"
PAN_TILT_POSITION = f"{_SPACES}/PanTiltSpaces/PositionGenericSpace"
ZOOM_POSITION = f"{_SPACES}/ZoomSpaces/PositionGenericSpace"
PAN_TILT_TRANSLATION = f"{_SPACES}/PanTiltSpaces/TranslationGenericSpace"
ZOOM_TRANSLATION = f"{_SPACES}/ZoomSpaces/TranslationGenericSpace"
PAN_TILT_VELOCITY = f"{_SPACES}/PanTiltSpaces/VelocityGenericSpace"
ZOOM_VELOCITY = f"{_SPACES}/ZoomSpaces/VelocityGenericSpace"
PAN_TILT_SPEED = f"{_SPACES}/PanTiltSpaces/GenericSpeedSpace"
ZOOM_SPEED = f"{_SPACES}/ZoomSpaces/ZoomGenericSpeedSpace"

Vector = tuple[float, float, float]


def _space2d(tag: str, uri: str, low: float = -1.0, high: float = 1.0) -> etree._Element:
    return E(tag, E("tt:URI", uri), E("tt:XRange", E("tt:Min", low), E("tt:Max", high)),
             E("tt:YRange", E("tt:Min", low), E("tt:Max", high)))


def _space1d(tag: str, uri: str, low: float, high: float) -> etree._Element:
    return E(tag, E("tt:URI", uri), E("tt:XRange", E("tt:Min", low), E("tt:Max", high)))


def configuration(tag: str = "tptz:PTZConfiguration") -> etree._Element:
    return E(tag, E("tt:Name", "PTZConfig"), E("tt:UseCount", 1), E("tt:NodeToken", NODE),
             E("tt:DefaultAbsolutePantTiltPositionSpace", PAN_TILT_POSITION),
             E("tt:DefaultAbsoluteZoomPositionSpace", ZOOM_POSITION),
             E("tt:DefaultRelativePanTiltTranslationSpace", PAN_TILT_TRANSLATION),
             E("tt:DefaultRelativeZoomTranslationSpace", ZOOM_TRANSLATION),
             E("tt:DefaultContinuousPanTiltVelocitySpace", PAN_TILT_VELOCITY),
             E("tt:DefaultContinuousZoomVelocitySpace", ZOOM_VELOCITY),
             E("tt:DefaultPTZSpeed", E("tt:PanTilt", x=1.0, y=1.0, space=PAN_TILT_SPEED),
               E("tt:Zoom", x=1.0, space=ZOOM_SPEED)),
             E("tt:DefaultPTZTimeout", f"PT{DEFAULT_PTZ_TIMEOUT_S:g}S"),
             E("tt:PanTiltLimits", _space2d("tt:Range", PAN_TILT_POSITION)),
             E("tt:ZoomLimits", _space1d("tt:Range", ZOOM_POSITION, 0.0, 1.0)),
             token=CONFIGURATION)


def node(tag: str = "tptz:PTZNode") -> etree._Element:
    return E(tag, E("tt:Name", "PTZ"),
             E("tt:SupportedPTZSpaces",
               _space2d("tt:AbsolutePanTiltPositionSpace", PAN_TILT_POSITION),
               _space1d("tt:AbsoluteZoomPositionSpace", ZOOM_POSITION, 0.0, 1.0),
               _space2d("tt:RelativePanTiltTranslationSpace", PAN_TILT_TRANSLATION),
               _space1d("tt:RelativeZoomTranslationSpace", ZOOM_TRANSLATION, -1.0, 1.0),
               _space2d("tt:ContinuousPanTiltVelocitySpace", PAN_TILT_VELOCITY),
               _space1d("tt:ContinuousZoomVelocitySpace", ZOOM_VELOCITY, -1.0, 1.0),
               _space1d("tt:PanTiltSpeedSpace", PAN_TILT_SPEED, 0.0, 1.0),
               _space1d("tt:ZoomSpeedSpace", ZOOM_SPEED, 0.0, 1.0)),
             E("tt:MaximumNumberOfPresets", MAX_PRESETS), E("tt:HomeSupported", True),
             token=NODE, FixedHomePosition=False)


def _vector(tag: str, value: Vector) -> etree._Element:
    return E(tag, E("tt:PanTilt", x=value[0], y=value[1], space=PAN_TILT_POSITION),
             E("tt:Zoom", x=value[2], space=ZOOM_POSITION))


def _read_vector(el: etree._Element | None, default: Vector, what: str) -> Vector:
    """A PTZVector/PTZSpeed's values; omitted axes keep ``default``."""
    pan, tilt, zoom = default
    try:
        pan_tilt, zoom_el = child(el, "PanTilt"), child(el, "Zoom")
        if pan_tilt is not None:
            pan, tilt = float(pan_tilt.get("x", pan)), float(pan_tilt.get("y", tilt))
        if zoom_el is not None:
            zoom = float(zoom_el.get("x", zoom))
    except ValueError:
        raise invalid_arg(f"ter:Invalid{what}", f"{what} values must be numbers") from None
    return pan, tilt, zoom


def _check_range(value: Vector, what: str, zoom_low: float = -1.0) -> None:
    pan, tilt, zoom = value
    if not (-1 <= pan <= 1 and -1 <= tilt <= 1 and zoom_low <= zoom <= 1):
        raise invalid_arg(f"ter:Invalid{what}", f"{what} {value} is outside the generic space")


def _profile(call: Call) -> None:
    token = child_text(call.op, "ProfileToken") or ""
    if token == PTZ_PROFILE:
        return
    if token in ("Profile_2",):
        raise invalid_arg("ter:NoPTZProfile", f"Profile {token!r} has no PTZ configuration")
    raise invalid_arg("ter:NoProfile", f"No profile {token!r}")


def capabilities(call: Call) -> etree._Element:
    return E("tptz:Capabilities", EFlip=False, Reverse=False,
             GetCompatibleConfigurations=False)


async def get_service_capabilities(call: Call) -> etree._Element:
    return E("tptz:GetServiceCapabilitiesResponse", capabilities(call))


async def get_nodes(call: Call) -> etree._Element:
    return E("tptz:GetNodesResponse", node())


async def get_node(call: Call) -> etree._Element:
    token = child_text(call.op, "NodeToken")
    if token != NODE:
        raise invalid_arg("ter:NoEntity", f"No PTZ node {token!r}")
    return E("tptz:GetNodeResponse", node("tptz:PTZNode"))


async def get_configurations(call: Call) -> etree._Element:
    return E("tptz:GetConfigurationsResponse", configuration())


async def get_configuration(call: Call) -> etree._Element:
    token = child_text(call.op, "PTZConfigurationToken")
    if token != CONFIGURATION:
        raise invalid_arg("ter:NoConfig", f"No PTZ configuration {token!r}")
    return E("tptz:GetConfigurationResponse", configuration())


async def get_status(call: Call) -> etree._Element:
    _profile(call)
    now = time.monotonic()
    state = call.camera.ptz
    pan_tilt, zoom = state.moving(now)
    return E("tptz:GetStatusResponse", E(
        "tptz:PTZStatus", _vector("tt:Position", state.position(now)),
        E("tt:MoveStatus", E("tt:PanTilt", "MOVING" if pan_tilt else "IDLE"),
          E("tt:Zoom", "MOVING" if zoom else "IDLE")),
        E("tt:UtcTime", format_datetime(call.camera_now))))


async def continuous_move(call: Call) -> etree._Element:
    _profile(call)
    velocity = _read_vector(child(call.op, "Velocity"), (0.0, 0.0, 0.0), "Velocity")
    _check_range(velocity, "Velocity")
    timeout_text = child_text(call.op, "Timeout")
    timeout = parse_duration(timeout_text) if timeout_text else DEFAULT_PTZ_TIMEOUT_S
    call.camera.ptz.move(velocity, max(0.0, timeout), time.monotonic())
    return E("tptz:ContinuousMoveResponse")


async def stop(call: Call) -> etree._Element:
    _profile(call)
    pan_tilt, zoom = child_text(call.op, "PanTilt"), child_text(call.op, "Zoom")
    call.camera.ptz.stop(time.monotonic(), pan_tilt=parse_bool(pan_tilt, True),
                         zoom=parse_bool(zoom, True))
    return E("tptz:StopResponse")


async def absolute_move(call: Call) -> etree._Element:
    _profile(call)
    now = time.monotonic()
    target = _read_vector(child(call.op, "Position"), call.camera.ptz.position(now), "Position")
    _check_range(target, "Position", zoom_low=0.0)
    call.camera.ptz.jump(target, now)
    return E("tptz:AbsoluteMoveResponse")


async def relative_move(call: Call) -> etree._Element:
    _profile(call)
    now = time.monotonic()
    step = _read_vector(child(call.op, "Translation"), (0.0, 0.0, 0.0), "Translation")
    _check_range(step, "Translation")
    here = call.camera.ptz.position(now)
    call.camera.ptz.jump((here[0] + step[0], here[1] + step[1], here[2] + step[2]), now)
    return E("tptz:RelativeMoveResponse")


async def get_presets(call: Call) -> etree._Element:
    _profile(call)
    return E("tptz:GetPresetsResponse", *(
        E("tptz:Preset", E("tt:Name", preset.name), _vector("tt:PTZPosition", preset.position),
          token=token) for token, preset in call.camera.ptz.presets.items()))


async def set_preset(call: Call) -> etree._Element:
    _profile(call)
    state = call.camera.ptz
    token = child_text(call.op, "PresetToken") or None
    if token is not None and token not in state.presets:
        raise invalid_arg("ter:NoToken", f"No preset {token!r}")
    if token is None and len(state.presets) >= MAX_PRESETS:
        raise SoapFault("env:Receiver", ("ter:Action", "ter:TooManyPresets"),
                        f"At most {MAX_PRESETS} presets")
    token = token or state.new_token()
    name = child_text(call.op, "PresetName") or f"Preset {token}"
    if any(p.name == name for t, p in state.presets.items() if t != token):
        raise invalid_arg("ter:PresetExist", f"A preset named {name!r} exists")
    state.presets[token] = Preset(name, state.position(time.monotonic()))
    return E("tptz:SetPresetResponse", E("tptz:PresetToken", token))


def _preset(call: Call) -> tuple[str, Preset]:
    token = child_text(call.op, "PresetToken") or ""
    preset = call.camera.ptz.presets.get(token)
    if preset is None:
        raise invalid_arg("ter:NoToken", f"No preset {token!r}")
    return token, preset


async def goto_preset(call: Call) -> etree._Element:
    _profile(call)
    _, preset = _preset(call)
    call.camera.ptz.jump(preset.position, time.monotonic())
    return E("tptz:GotoPresetResponse")


async def remove_preset(call: Call) -> etree._Element:
    _profile(call)
    token, _ = _preset(call)
    del call.camera.ptz.presets[token]
    return E("tptz:RemovePresetResponse")


async def goto_home_position(call: Call) -> etree._Element:
    _profile(call)
    call.camera.ptz.jump(call.camera.ptz.home, time.monotonic())
    return E("tptz:GotoHomePositionResponse")


async def set_home_position(call: Call) -> etree._Element:
    _profile(call)
    call.camera.ptz.home = call.camera.ptz.position(time.monotonic())
    return E("tptz:SetHomePositionResponse")


def _only_with_ptz(handler: Handler) -> Handler:
    async def guarded(call: Call) -> etree._Element:
        if not call.camera.config.ptz:
            raise SoapFault("env:Receiver", ("ter:ActionNotSupported", "ter:PTZNotSupported"),
                            "The camera has no PTZ")
        return await handler(call)
    return guarded


def _ops(**handlers: Handler) -> dict[str, Handler]:
    return {f"{{{NS['tptz']}}}{name}": _only_with_ptz(handler)
            for name, handler in handlers.items()}


OPERATIONS = _ops(
    GetServiceCapabilities=get_service_capabilities,
    GetNodes=get_nodes,
    GetNode=get_node,
    GetConfigurations=get_configurations,
    GetConfiguration=get_configuration,
    GetStatus=get_status,
    ContinuousMove=continuous_move,
    Stop=stop,
    AbsoluteMove=absolute_move,
    RelativeMove=relative_move,
    GetPresets=get_presets,
    SetPreset=set_preset,
    GotoPreset=goto_preset,
    RemovePreset=remove_preset,
    GotoHomePosition=goto_home_position,
    SetHomePosition=set_home_position,
)
