"""Camera events: each ONVIF camera's own detections, pulled and put on the event bus.

One task per channel whose camera has ``onvif.events`` on. It opens a PullPoint
subscription (``pull_events``) and maps what the camera says onto the recorder's kinds:

=============  ================  =========================================
camera says    event kind        group (the UI's and the manual's)
=============  ================  =========================================
motion         camera_motion     camera
tamper         tampering         camera
input          camera_input      camera
intrusion      intrusion         intelligent
line_crossing  line_crossing     intelligent (an instant: a ``pulse``)
=============  ================  =========================================

The source is ``camera:<channel>/onvif:<token>`` (the camera's rule, analytics or input
token), so linkage rules can match one camera's events or one of its rules.

A camera that cannot be reached or drops the subscription is retried with a backoff
(1 s doubling to 60 s); its lasting events are stopped then ("the camera's event
subscription was lost"), because nobody can tell when they end: a fresh subscription
reports the current states again (``Initialized``), which restarts what still holds.
The first failure and the recovery are logged once each, not at every retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from nvrd.cameras.onvif.client import OnvifDevice
from nvrd.cameras.onvif.errors import (
    CameraError,
    CameraInactive,
    CameraLocked,
    WrongPassword,
)
from nvrd.cameras.onvif.events import CameraEvent, pull_events
from nvrd.config import NvrConfig
from nvrd.config.schema import CameraConfig
from nvrd.events.model import Event, EventKind, Phase
from nvrd.events.sources.base import Conditions, Publish, now_us

logger = logging.getLogger(__name__)

KINDS: dict[str, EventKind] = {
    "motion": EventKind.CAMERA_MOTION,
    "tamper": EventKind.TAMPERING,
    "input": EventKind.CAMERA_INPUT,
    "intrusion": EventKind.INTRUSION,
    "line_crossing": EventKind.LINE_CROSSING,
}
PULSES = frozenset({EventKind.LINE_CROSSING})
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 60.0
LOGIN_RETRY_S = 300.0
"""After the camera refused the login: cameras lock an account after a few failures in a
minute (five, on the vendor's), so one attempt every five minutes never locks it while
the installer fixes the password (a settings change retries at once)."""
LOST = "the camera's event subscription was lost"
STOPPED = "camera events are no longer watched on this channel"

OpenDevice = Callable[[CameraConfig], OnvifDevice]


def event_source(channel: int, token: str) -> str:
    return f"camera:{channel}/onvif:{token or 'camera'}"


@dataclass(frozen=True, slots=True)
class _Watch:
    """What a channel's subscription was made from: a change starts a new one."""

    host: str
    port: int
    username: str
    password: str


@dataclass(slots=True)
class WatchState:
    """How a channel's event subscription is doing (the API shows it)."""

    subscribed: bool = False
    error: str | None = None
    events: int = 0
    last_event_us: int | None = None


class CameraEvents:
    """The subscriptions of every camera with ``onvif.events``, one task each."""

    def __init__(self, publish: Publish, open_device: OpenDevice) -> None:
        self._publish = publish
        self._open_device = open_device
        self._conditions = Conditions(publish)
        self._tasks: dict[int, tuple[_Watch, asyncio.Task[None]]] = {}
        self.states: dict[int, WatchState] = {}

    async def apply_config(self, config: NvrConfig) -> None:
        wanted = {camera.channel: camera for camera in config.cameras
                  if camera.enabled and camera.onvif is not None and camera.onvif.events}
        for channel in list(self._tasks):
            camera = wanted.get(channel)
            if camera is None or _watch(camera) != self._tasks[channel][0]:
                await self._stop(channel, STOPPED)
        for channel, camera in wanted.items():
            if channel not in self._tasks:
                task = asyncio.get_running_loop().create_task(
                    self._run(camera), name=f"camera-events-{channel}")
                self._tasks[channel] = (_watch(camera), task)
                self.states[channel] = WatchState()

    async def close(self) -> None:
        for channel in list(self._tasks):
            await self._stop(channel, STOPPED)

    async def _stop(self, channel: int, reason: str) -> None:
        _, task = self._tasks.pop(channel)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self.states.pop(channel, None)
        self._end_lasting(channel, reason)

    async def _run(self, camera: CameraConfig) -> None:
        channel = camera.channel
        state = self.states.setdefault(channel, WatchState())
        backoff = BACKOFF_INITIAL_S
        while True:
            login_refused = False
            try:
                async with self._open_device(camera) as device:
                    await pull_events(device, lambda e: self._on_event(channel, e),
                                      on_subscribed=lambda: self._subscribed(channel))
            except (WrongPassword, CameraLocked, CameraInactive) as exc:
                error, login_refused = str(exc), True
            except CameraError as exc:
                error = str(exc)
            except (OSError, TimeoutError) as exc:
                error = f"camera events of channel {channel}: {exc}"
            if state.error != error:
                logger.warning("channel %d: camera events unavailable, retrying: %s",
                               channel, error)
            was_subscribed = state.subscribed
            state.subscribed, state.error = False, error
            self._end_lasting(channel, LOST)
            if was_subscribed:
                backoff = BACKOFF_INITIAL_S
            await asyncio.sleep(max(backoff, LOGIN_RETRY_S) if login_refused else backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    def _subscribed(self, channel: int) -> None:
        state = self.states.get(channel)
        if state is None:
            return
        if state.error is not None:
            logger.info("channel %d: camera events subscribed again", channel)
        state.subscribed, state.error = True, None

    def _on_event(self, channel: int, event: CameraEvent) -> None:
        kind = KINDS.get(event.kind)
        state = self.states.get(channel)
        if kind is None or state is None:
            return
        # The recorder's clock places the event: the camera's may be off, and the
        # footage the event points at is timed by the recorder.
        at = now_us()
        state.events += 1
        state.last_event_us = at
        source = event_source(channel, event.source)
        details = {"topic": event.topic, "token": event.source,
                   "camera_time_us": event.time_us}
        if kind in PULSES:
            if event.active and not event.initialized:
                self._publish(Event(kind, source, channel, Phase.PULSE, at, details))
            return
        self._conditions.set(kind, source, event.active, channel=channel,
                             details=details, time_us=at)

    def _end_lasting(self, channel: int, reason: str) -> None:
        prefix = f"camera:{channel}/"
        for kind, source in self._conditions.active_keys():
            if source.startswith(prefix):
                self._conditions.set(kind, source, False, channel=channel,
                                     details={"reason": reason}, time_us=now_us())


def _watch(camera: CameraConfig) -> _Watch:
    assert camera.onvif is not None
    return _Watch(camera.onvif.host, camera.onvif.port, camera.username,
                  camera.password.get_secret_value())
