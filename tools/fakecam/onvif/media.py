"""The media service (``trt``, ver10): profiles from the camera's streams, stream URIs.

``Profile_1`` is the main stream, ``Profile_2`` the sub stream (when the camera has one);
both share one video source. An H.265 stream is reported with Encoding ``H265``, which
media ver10's enumeration lacks but cameras send anyway (clients that need it exactly
use media2). GetStreamUri answers the RTSP URL on the address the client reached the
camera by, so it works as well on 127.0.0.1 as inside a network namespace. There is no
snapshot URI (GetSnapshotUri is "not supported", as on many cameras).
"""

from __future__ import annotations

from lxml import etree  # type: ignore[import-untyped]

from tools.fakecam.onvif import ptz
from tools.fakecam.onvif.server import Call, Handler
from tools.fakecam.onvif.soap import NS, E, child_text, invalid_arg
from tools.fakecam.onvif.state import CameraConfig, StreamInfo

VIDEO_SOURCE = "VideoSource_1"
VIDEO_SOURCE_CONFIG = "VideoSourceConfig_1"


def profile_token(index: int) -> str:
    return f"Profile_{index + 1}"


def _streams(config: CameraConfig) -> dict[str, StreamInfo]:
    """Profile token -> stream, main first."""
    ordered = sorted(config.streams, key=lambda s: s.name != "main")
    return {profile_token(i): stream for i, stream in enumerate(ordered)}


def _stream_for(call: Call) -> tuple[str, StreamInfo]:
    token = child_text(call.op, "ProfileToken") or ""
    stream = _streams(call.camera.config).get(token)
    if stream is None:
        raise invalid_arg("ter:NoProfile", f"No profile {token!r}")
    return token, stream


def _main(config: CameraConfig) -> StreamInfo:
    return next(s for s in config.streams if s.name == "main")


def video_source_configuration(config: CameraConfig, tag: str = "tt:VideoSourceConfiguration"
                               ) -> etree._Element:
    main = _main(config)
    return E(tag, E("tt:Name", "VideoSourceConfig"),
             E("tt:UseCount", len(config.streams)), E("tt:SourceToken", VIDEO_SOURCE),
             E("tt:Bounds", x=0, y=0, width=main.width, height=main.height),
             token=VIDEO_SOURCE_CONFIG)


def video_encoder_configuration(index: int, stream: StreamInfo,
                                tag: str = "tt:VideoEncoderConfiguration") -> etree._Element:
    h264 = stream.codec == "h264"
    return E(tag, E("tt:Name", f"VideoEncoder_{stream.name}"), E("tt:UseCount", 1),
             E("tt:Encoding", "H264" if h264 else "H265"),
             E("tt:Resolution", E("tt:Width", stream.width), E("tt:Height", stream.height)),
             E("tt:Quality", 5.0),
             E("tt:RateControl", E("tt:FrameRateLimit", stream.fps),
               E("tt:EncodingInterval", 1), E("tt:BitrateLimit", stream.bitrate_kbps)),
             E("tt:H264", E("tt:GovLength", stream.gop), E("tt:H264Profile", "Main"))
             if h264 else None,
             E("tt:Multicast", E("tt:Address", E("tt:Type", "IPv4"),
                                 E("tt:IPv4Address", "0.0.0.0")),
               E("tt:Port", 0), E("tt:TTL", 1), E("tt:AutoStart", False)),
             E("tt:SessionTimeout", "PT60S"),
             token=f"VideoEncoderConfig_{index + 1}")


def profile(config: CameraConfig, token: str, tag: str = "trt:Profiles") -> etree._Element:
    streams = _streams(config)
    index = list(streams).index(token)
    stream = streams[token]
    with_ptz = config.ptz and index == 0
    return E(tag, E("tt:Name", f"{stream.name}Stream"), video_source_configuration(config),
             video_encoder_configuration(index, stream),
             ptz.configuration(tag="tt:PTZConfiguration") if with_ptz else None,
             token=token, fixed=True)


async def get_profiles(call: Call) -> etree._Element:
    config = call.camera.config
    return E("trt:GetProfilesResponse", *(profile(config, token) for token in _streams(config)))


async def get_profile(call: Call) -> etree._Element:
    token, _ = _stream_for(call)
    return E("trt:GetProfileResponse", profile(call.camera.config, token, "trt:Profile"))


async def get_stream_uri(call: Call) -> etree._Element:
    _, stream = _stream_for(call)
    kind = child_text(call.op, "StreamSetup", "Stream") or "RTP-Unicast"
    protocol = child_text(call.op, "StreamSetup", "Transport", "Protocol") or "RTSP"
    if kind != "RTP-Unicast":
        raise invalid_arg("ter:InvalidStreamSetup", f"Stream {kind} is not supported "
                                                    "(RTP-Unicast only)")
    if protocol not in ("UDP", "TCP", "RTSP"):
        raise invalid_arg("ter:InvalidStreamSetup", f"Transport {protocol} is not supported")
    config = call.camera.config
    uri = call.url(f"/{config.name}/{stream.name}", scheme="rtsp", port=config.rtsp_port)
    return E("trt:GetStreamUriResponse", E(
        "trt:MediaUri", E("tt:Uri", uri), E("tt:InvalidAfterConnect", False),
        E("tt:InvalidAfterReboot", False), E("tt:Timeout", "PT0S")))


async def get_video_sources(call: Call) -> etree._Element:
    main = _main(call.camera.config)
    return E("trt:GetVideoSourcesResponse", E(
        "trt:VideoSources", E("tt:Framerate", float(main.fps)),
        E("tt:Resolution", E("tt:Width", main.width), E("tt:Height", main.height)),
        token=VIDEO_SOURCE))


async def get_video_source_configurations(call: Call) -> etree._Element:
    return E("trt:GetVideoSourceConfigurationsResponse",
             video_source_configuration(call.camera.config, "trt:Configurations"))


async def get_video_encoder_configurations(call: Call) -> etree._Element:
    streams = _streams(call.camera.config)
    return E("trt:GetVideoEncoderConfigurationsResponse", *(
        video_encoder_configuration(i, s, "trt:Configurations")
        for i, s in enumerate(streams.values())))


def capabilities(call: Call) -> etree._Element:
    return E("trt:Capabilities",
             E("trt:ProfileCapabilities", MaximumNumberOfProfiles=len(_streams(
                 call.camera.config))),
             E("trt:StreamingCapabilities", RTPMulticast=False, RTP_TCP=True,
               RTP_RTSP_TCP=True),
             SnapshotUri=False, Rotation=False)


async def get_service_capabilities(call: Call) -> etree._Element:
    return E("trt:GetServiceCapabilitiesResponse", capabilities(call))


def _ops(**handlers: Handler) -> dict[str, Handler]:
    return {f"{{{NS['trt']}}}{name}": handler for name, handler in handlers.items()}


OPERATIONS = _ops(
    GetProfiles=get_profiles,
    GetProfile=get_profile,
    GetStreamUri=get_stream_uri,
    GetVideoSources=get_video_sources,
    GetVideoSourceConfigurations=get_video_source_configurations,
    GetVideoEncoderConfigurations=get_video_encoder_configurations,
    GetServiceCapabilities=get_service_capabilities,
)
