"""What a virtual camera looks like: its streams' codec, size, rate, GOP and bitrate.

Stdlib only: the specs travel to the server process as JSON.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from dataclasses import dataclass, field, replace

VIDEO_CODECS = ("h264", "h265")
STREAM_NAMES = ("main", "sub")


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One RTSP stream of a camera. ``gop`` is in frames (keyframe interval)."""

    width: int = 1280
    height: int = 720
    fps: int = 25
    gop: int = 50
    bitrate_kbps: int = 2000
    codec: str = "h264"
    audio: bool = False

    def __post_init__(self) -> None:
        if self.codec not in VIDEO_CODECS:
            raise ValueError(f"codec must be one of {VIDEO_CODECS}, not {self.codec!r}")
        if self.width < 16 or self.height < 16 or self.width % 2 or self.height % 2:
            raise ValueError(f"size must be even and at least 16x16, not "
                             f"{self.width}x{self.height}")
        for name in ("fps", "gop", "bitrate_kbps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")


DEFAULT_MAIN = StreamSpec()
DEFAULT_SUB = StreamSpec(640, 360, 25, 50, 512)


@dataclass(frozen=True, slots=True)
class MovingBox:
    """A scene for motion tests: a still background and one bright box that moves only
    inside ``area``, so recorder-side motion detection must see motion there and nowhere
    else.

    The area is ``left, top, right, bottom`` as fractions of the picture (0–1), so every
    stream of the camera (main and sub, any size) shows the same place; ``box`` is the
    box's side as a fraction of the picture's height (shrunk to fit the area). The box
    travels there and back across the area's width and twice as often down its height,
    and is back where it started at the loop point, so the motion never jumps.
    """

    left: float = 0.0
    top: float = 0.0
    right: float = 0.5
    bottom: float = 0.5
    box: float = 1 / 6

    def __post_init__(self) -> None:
        if not (0 <= self.left < self.right <= 1 and 0 <= self.top < self.bottom <= 1):
            raise ValueError(f"the area must lie within 0–1 with left < right and top < "
                             f"bottom, not ({self.left}, {self.top}, {self.right}, "
                             f"{self.bottom})")
        if not 0 < self.box <= 1:
            raise ValueError(f"box is a fraction of the picture height, not {self.box}")

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The area in pixels of a ``width``×``height`` picture: left, top, right, bottom
        (right and bottom excluded)."""
        return (round(self.left * width), round(self.top * height),
                round(self.right * width), round(self.bottom * height))

    def key(self) -> dict[str, object]:
        """What shapes the clip's bytes (part of its cache key)."""
        return {"scene": "moving-box", "area": [self.left, self.top, self.right, self.bottom],
                "box": self.box}


_MAC_RE = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")


@dataclass(frozen=True, slots=True)
class OnvifSpec:
    """The camera also answers ONVIF (device, media, events, PTZ) and WS-Discovery.

    ``inactive`` starts it unactivated: no user at all, every call but GetSystemDateAndTime
    and an anonymous CreateUsers is refused until one sets the administrator. ``serial``
    and ``mac`` default to values derived from the camera's name (stable across runs; the
    MAC is locally administered, ``02:…``), so cameras of one test differ as long as their
    names do. ``clock_offset_s`` is how far the camera's clock is ahead of the host's.
    ``http_port`` 0 picks a free port. ``wsse_max_skew_s`` (None: not checked) refuses
    WS-Security tokens whose Created time is further than that from the camera's clock,
    as many cameras do — the reason clients read the camera's clock first.
    """

    username: str = "admin"
    password: str = "Camera-Pass1"
    inactive: bool = False
    manufacturer: str = "Fakecam"
    model: str = "FC-2000"
    firmware: str = "V5.7.3"
    serial: str | None = None
    mac: str | None = None
    ptz: bool = False
    clock_offset_s: float = 0.0
    http_port: int = 0
    wsse_max_skew_s: float | None = None

    def __post_init__(self) -> None:
        if self.mac is not None and not _MAC_RE.fullmatch(self.mac):
            raise ValueError(f"mac must look like 02:00:5e:00:00:01 (lower case), "
                             f"not {self.mac!r}")
        if not 0 <= self.http_port < 65536:
            raise ValueError(f"http_port must be 0-65535, not {self.http_port}")
        if not math.isfinite(self.clock_offset_s):
            raise ValueError(f"clock_offset_s must be finite, not {self.clock_offset_s}")
        if not self.username:
            raise ValueError("username must not be empty")

    def serial_for(self, camera: str) -> str:
        """The serial number: the given one, else derived from the camera's name."""
        return self.serial or "FC" + _digest("serial:" + camera)[:10].upper()

    def mac_for(self, camera: str) -> str:
        """The MAC address: the given one, else ``02:`` and five bytes of the name's hash."""
        if self.mac:
            return self.mac
        tail = _digest(camera)[:10]
        return ":".join(["02"] + [tail[i:i + 2] for i in range(0, 10, 2)])

    def endpoint_uuid(self, camera: str) -> str:
        """The WS-Discovery endpoint (``urn:uuid:…``): stable per camera name and MAC."""
        return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'fakecam:' + self.mac_for(camera))}"


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CameraSpec:
    """A camera served at ``/<name>/main`` and (unless ``sub`` is None) ``/<name>/sub``.

    ``label`` is drawn into the picture so a person can tell cameras apart; it defaults to
    the name. It is part of the clip's cache key, so each camera has its own clips.
    ``scene`` is what every stream of the camera shows: None for the test pattern (moving
    stripes, a bouncing box, a progress bar: motion everywhere), a ``MovingBox`` for a
    still picture with motion in one place only. ``onvif`` makes it an ONVIF camera too
    (see ``OnvifSpec``); without it the camera is RTSP only.
    """

    name: str = "cam1"
    main: StreamSpec = field(default=DEFAULT_MAIN)
    sub: StreamSpec | None = field(default=DEFAULT_SUB)
    label: str | None = None
    scene: MovingBox | None = None
    onvif: OnvifSpec | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", self.name):
            raise ValueError(f"camera name must be [A-Za-z0-9_-]+ (it is a URL path), "
                             f"not {self.name!r}")

    @property
    def streams(self) -> dict[str, StreamSpec]:
        return {"main": self.main} | ({"sub": self.sub} if self.sub else {})

    @property
    def text(self) -> str:
        return self.label if self.label is not None else self.name


def cameras_from_count(n: int, *, main: StreamSpec = DEFAULT_MAIN,
                       sub: StreamSpec | None = DEFAULT_SUB, codec: str | None = None,
                       audio: bool | None = None) -> list[CameraSpec]:
    """``cam1`` … ``camN`` with the same streams; ``codec``/``audio`` override both streams."""
    if n < 1:
        raise ValueError(f"need at least one camera, not {n}")
    def override(stream: StreamSpec) -> StreamSpec:
        return replace(stream, codec=stream.codec if codec is None else codec,
                       audio=stream.audio if audio is None else audio)

    main = override(main)
    sub = override(sub) if sub else None
    return [CameraSpec(f"cam{i}", main, sub) for i in range(1, n + 1)]


def parse_video_mode(text: str) -> tuple[int, int, int]:
    """``"1920x1080@25"`` -> (1920, 1080, 25); the frame rate is optional (default 25)."""
    m = re.fullmatch(r"(\d+)x(\d+)(?:@(\d+))?", text.strip())
    if not m:
        raise ValueError(f"video mode must look like 1920x1080@25, not {text!r}")
    return int(m[1]), int(m[2]), int(m[3] or 25)
