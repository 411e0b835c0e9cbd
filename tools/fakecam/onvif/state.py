"""What one fake ONVIF camera remembers: identity, clock, users and lockout, PTZ, events.

Everything here lives on the server's event loop (one thread); nothing is persisted, a new
process is a factory-fresh camera. Times that expire (lockout, subscriptions, PTZ moves)
run on the host's monotonic clock, so setting the camera's clock does not move them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tools.fakecam.onvif.soap import DigestAuthority

LOCK_AFTER_FAILURES = 5  # failed logins within LOCK_WINDOW_S lock the camera ...
LOCK_WINDOW_S = 60.0
LOCK_DURATION_S = 1800.0  # ... for 30 minutes, like Hikvision's illegal-login lock
PTZ_RATE_PER_S = 0.5  # generic-space units a second at velocity 1 (pan -1..1 is 360°)
DEFAULT_PTZ_TIMEOUT_S = 60.0  # a ContinuousMove without Timeout stops after this
MAX_PRESETS = 128


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """One RTSP stream as the media service describes it."""

    name: str  # "main" or "sub"
    codec: str
    width: int
    height: int
    fps: int
    gop: int
    bitrate_kbps: int


@dataclass(frozen=True, slots=True)
class CameraConfig:
    """A camera as the controlling process describes it (one entry of the JSON config)."""

    name: str
    username: str
    password: str
    inactive: bool
    manufacturer: str
    model: str
    firmware: str
    serial: str
    mac: str
    endpoint: str
    ptz: bool
    clock_offset_s: float
    http_port: int
    wsse_max_skew_s: float | None
    rtsp_port: int
    streams: tuple[StreamInfo, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any], rtsp_port: int) -> CameraConfig:
        streams = tuple(StreamInfo(name=name, **spec) for name, spec in data["streams"].items())
        fields = {k: v for k, v in data.items() if k != "streams"}
        return cls(**fields, rtsp_port=rtsp_port, streams=streams)


@dataclass(slots=True)
class User:
    password: str
    level: str  # Administrator, Operator, User


class Accounts:
    """Users, failed logins and the lock they lead to."""

    def __init__(self, config: CameraConfig) -> None:
        self._config = config
        self.users: dict[str, User] = {}
        self.auth_failures = 0
        self._recent: deque[float] = deque()
        self.locked_until = 0.0
        self.reset(inactive=config.inactive)

    @property
    def active(self) -> bool:
        """Activated: has at least one user (an inactive camera has none)."""
        return bool(self.users)

    def reset(self, *, inactive: bool) -> None:
        """Factory state: no user (inactive) or the configured administrator."""
        self.users = {} if inactive else {
            self._config.username: User(self._config.password, "Administrator")}

    def passwords(self) -> dict[str, str]:
        return {name: user.password for name, user in self.users.items()}

    def locked_for(self, now: float) -> float:
        """Seconds the lock has left (0: not locked)."""
        return max(0.0, self.locked_until - now)

    def record_failure(self, now: float) -> None:
        self.auth_failures += 1
        self._recent.append(now)
        while self._recent and now - self._recent[0] > LOCK_WINDOW_S:
            self._recent.popleft()
        if len(self._recent) >= LOCK_AFTER_FAILURES and not self.locked_for(now):
            self.locked_until = now + LOCK_DURATION_S
            self._recent.clear()

    def unlock(self) -> None:
        self.locked_until = 0.0
        self._recent.clear()


class CameraClock:
    """The camera's wall clock: the host's plus an offset that SetSystemDateAndTime moves."""

    def __init__(self, offset_s: float) -> None:
        self.offset_s = offset_s
        self.date_time_type = "Manual"  # or "NTP"
        self.time_set_calls = 0
        self.timezone = "UTC0"
        self.daylight_savings = False

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(time.time() + self.offset_s, dt.UTC)

    def set(self, utc: dt.datetime) -> None:
        self.offset_s = utc.timestamp() - time.time()


@dataclass(slots=True)
class Preset:
    name: str
    position: tuple[float, float, float]  # pan, tilt, zoom


class PtzState:
    """Pan/tilt/zoom in ONVIF's generic spaces: pan and tilt -1..1 (pan wraps), zoom 0..1.

    A continuous move integrates its velocity over host time until Stop or its timeout;
    presets and the home position jump there at once.
    """

    def __init__(self) -> None:
        self._position = (0.0, 0.0, 0.0)
        self.velocity = (0.0, 0.0, 0.0)
        self.last_velocity = (0.0, 0.0, 0.0)  # of the last ContinuousMove
        self._since = 0.0  # monotonic start of the current move
        self._until = 0.0  # monotonic end of the current move (inf: until Stop)
        self.presets: dict[str, Preset] = {}
        self.home = (0.0, 0.0, 0.0)
        self.moves = 0  # ContinuousMove calls
        self._next_token = 1

    def moving(self, now: float) -> tuple[bool, bool]:
        """(pan/tilt moving, zoom moving)."""
        if now >= self._until:
            return False, False
        pan, tilt, zoom = self.velocity
        return (pan != 0 or tilt != 0), zoom != 0

    def position(self, now: float) -> tuple[float, float, float]:
        elapsed = max(0.0, min(now, self._until) - self._since)
        if elapsed <= 0 or math.isinf(elapsed):
            return self._position
        pan, tilt, zoom = (p + v * PTZ_RATE_PER_S * elapsed
                           for p, v in zip(self._position, self.velocity, strict=True))
        return (_wrap(pan), _clamp(tilt, -1, 1), _clamp(zoom, 0, 1))

    def move(self, velocity: tuple[float, float, float], timeout_s: float, now: float) -> None:
        self._position = self.position(now)
        self.velocity, self._since, self._until = velocity, now, now + timeout_s
        self.last_velocity = velocity
        self.moves += 1

    def stop(self, now: float, *, pan_tilt: bool = True, zoom: bool = True) -> None:
        position = self.position(now)
        pan_v, tilt_v, zoom_v = self.velocity
        self.velocity = (0.0 if pan_tilt else pan_v, 0.0 if pan_tilt else tilt_v,
                         0.0 if zoom else zoom_v)
        self._position, self._since = position, now
        if self.velocity == (0.0, 0.0, 0.0):
            self._until = now

    def jump(self, position: tuple[float, float, float], now: float) -> None:
        self._position = (_wrap(position[0]), _clamp(position[1], -1, 1),
                          _clamp(position[2], 0, 1))
        self.velocity, self._since, self._until = (0.0, 0.0, 0.0), now, now

    def new_token(self) -> str:
        while f"{self._next_token}" in self.presets:
            self._next_token += 1
        return f"{self._next_token}"

    def snapshot(self, now: float) -> dict[str, Any]:
        pan_tilt_moving, zoom_moving = self.moving(now)
        pan, tilt, zoom = self.position(now)
        vel = self.velocity if (pan_tilt_moving or zoom_moving) else (0.0, 0.0, 0.0)
        return {"moving": pan_tilt_moving or zoom_moving,
                "velocity": {"pan": vel[0], "tilt": vel[1], "zoom": vel[2]},
                "last_velocity": dict(zip(("pan", "tilt", "zoom"), self.last_velocity,
                                          strict=True)),
                "position": {"pan": pan, "tilt": tilt, "zoom": zoom},
                "moves": self.moves,
                "presets": {token: {"name": p.name, "position": dict(zip(
                    ("pan", "tilt", "zoom"), p.position, strict=True))}
                    for token, p in self.presets.items()}}


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _wrap(pan: float) -> float:
    """Pan is an angle: past 1 (180°) it comes round from -1."""
    return (pan + 1) % 2 - 1 if not -1 <= pan <= 1 else pan


@dataclass(frozen=True, slots=True)
class EventMessage:
    """One ONVIF notification: topic (``tns1:…``), camera-clock time, PropertyOperation
    (None for pulses), Source and Data simple items."""

    topic: str
    utc: dt.datetime
    operation: str | None
    source: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]


@dataclass(slots=True)
class Subscription:
    """A PullPoint: messages wait in ``queue`` until pulled; ``wakeup`` is set when one
    arrives (or the subscription ends) so a long poll returns at once."""

    id: str
    expires: float  # monotonic
    topics: tuple[str, ...] | None  # topic prefixes (None: all)
    queue: deque[EventMessage] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def wants(self, topic: str) -> bool:
        return self.topics is None or any(topic.startswith(t) for t in self.topics)


class Camera:
    """One camera's whole state."""

    def __init__(self, config: CameraConfig) -> None:
        self.config = config
        self.accounts = Accounts(config)
        self.clock = CameraClock(config.clock_offset_s)
        self.ptz = PtzState()
        self.digest = DigestAuthority(f"{config.manufacturer} {config.model}")
        # Property events' current states, keyed (kind, source token): what
        # SetSynchronizationPoint and a new subscription report as Initialized.
        self.properties: dict[tuple[str, str], bool] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.pulses = 0  # line crossings so far (their ObjectId)
        self.reboots = 0
        self.port = config.http_port  # the bound port, once listening

    def live_subscriptions(self, now: float) -> dict[str, Subscription]:
        """Drop expired subscriptions (waking their pollers) and return the rest."""
        for sub_id, sub in list(self.subscriptions.items()):
            if sub.expires <= now:
                self.end_subscription(sub_id)
        return self.subscriptions

    def end_subscription(self, sub_id: str) -> None:
        sub = self.subscriptions.pop(sub_id, None)
        if sub is not None:
            sub.closed = True
            sub.wakeup.set()

    def snapshot(self) -> dict[str, Any]:
        """What ``onvif_state`` reports."""
        now = time.monotonic()
        return {"ptz": self.ptz.snapshot(now) if self.config.ptz else None,
                "presets": self.ptz.snapshot(now)["presets"] if self.config.ptz else {},
                "clock_offset_s": self.clock.offset_s,
                "date_time_type": self.clock.date_time_type,
                "time_set_calls": self.clock.time_set_calls,
                "auth_failures": self.accounts.auth_failures,
                "locked": self.accounts.locked_for(now) > 0,
                "locked_for_s": self.accounts.locked_for(now),
                "active": self.accounts.active,
                "users": {name: user.level for name, user in self.accounts.users.items()},
                "subscriptions": len(self.live_subscriptions(now)),
                "properties": {f"{kind}/{source}": value
                               for (kind, source), value in self.properties.items()},
                "reboots": self.reboots,
                "port": self.port}
