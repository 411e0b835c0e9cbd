"""What a virtual camera looks like: its streams' codec, size, rate, GOP and bitrate.

Stdlib only: the specs travel to the server process as JSON.
"""

from __future__ import annotations

import re
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


@dataclass(frozen=True, slots=True)
class CameraSpec:
    """A camera served at ``/<name>/main`` and (unless ``sub`` is None) ``/<name>/sub``.

    ``label`` is drawn into the picture so a person can tell cameras apart; it defaults to
    the name. It is part of the clip's cache key, so each camera has its own clips.
    ``scene`` is what every stream of the camera shows: None for the test pattern (moving
    stripes, a bouncing box, a progress bar: motion everywhere), a ``MovingBox`` for a
    still picture with motion in one place only.
    """

    name: str = "cam1"
    main: StreamSpec = field(default=DEFAULT_MAIN)
    sub: StreamSpec | None = field(default=DEFAULT_SUB)
    label: str | None = None
    scene: MovingBox | None = None

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
