"""What an event is: something that happened to the recorder or around it, that the
event engine logs, shows live and (later) links to actions.

An event has a ``kind`` (what happened), a ``source`` (a stable string naming where:
``alarm-in:3``, ``camera:5``, ``bay:2``, ``volume:v1``, ``poe:4``, ``net:eth0``,
``user:bob@192.0.2.7``), the camera ``channel`` it concerns (None when it concerns
none), a ``phase`` and its time in UTC microseconds. A condition that lasts (an alarm
input held active, a camera offline) is a ``start`` then, once, a ``stop`` with the same
kind and source; a thing that happens at an instant (an illegal login) is a ``pulse``.

Ids are given by the bus when it publishes (see ``nvrd/events/bus.py``): an event made
by a source has ``id`` 0; the one subscribers get has its log id, and a ``stop`` also
carries the id of the ``start`` it ends (``start_id``), so the two can be joined.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class EventKind(enum.StrEnum):
    """The kinds of events (the vendor's event types and exceptions, see the manual's
    §1-3). The value is what the log, the API and the live stream carry."""

    ALARM_INPUT = "alarm_input"
    MOTION = "motion"
    VIDEO_LOSS = "video_loss"
    DISK_MISSING = "disk_missing"
    DISK_ERROR = "disk_error"
    DISK_FULL = "disk_full"
    DISK_LOW_SPACE = "disk_low_space"
    SMART_WARNING = "smart_warning"
    SMART_FAILING = "smart_failing"
    NETWORK_DOWN = "network_down"
    ILLEGAL_LOGIN = "illegal_login"
    ACCOUNT_LOCKED = "account_locked"
    POE_OVERCURRENT = "poe_overcurrent"
    POE_BUDGET = "poe_budget"
    POE_DISCONNECTED = "poe_disconnected"
    CAMERA_MOTION = "camera_motion"
    """Motion the camera itself detected (ONVIF events), besides the recorder's own."""
    TAMPERING = "tampering"
    LINE_CROSSING = "line_crossing"
    INTRUSION = "intrusion"
    CAMERA_INPUT = "camera_input"
    """A contact wired to the camera's own alarm input."""


class Action(enum.StrEnum):
    """What linkage can do when an event happens (the manual's Table 5-43, §3.1)."""

    RECORD = "record"
    """Event recording on chosen channels, with their pre- and post-record."""
    RELAY = "relay"
    """Alarm outputs (in mode auto), held for their latch time after the event."""
    PTZ = "ptz"
    """Call a preset or run a tour on chosen PTZ channels."""
    SNAPSHOT = "snapshot"
    """A JPEG of chosen channels, stored and indexed."""
    BUZZER = "buzzer"
    LED = "led"
    """The front panel's alarm lamp, in a chosen pattern."""
    LOG = "log"
    """A line in the system (audit) log saying what linkage did."""
    MQTT = "mqtt"
    WEBHOOK = "webhook"


ALL_ACTIONS: frozenset[Action] = frozenset(Action)
FAULT_ACTIONS: frozenset[Action] = frozenset({Action.RELAY, Action.BUZZER, Action.LED,
                                              Action.LOG, Action.MQTT, Action.WEBHOOK})
"""What the vendor offers for exceptions (disk, network, security, power): tell someone;
recording, PTZ and snapshots belong to alarms, which say where to look."""


class Phase(enum.StrEnum):
    START = "start"
    STOP = "stop"
    PULSE = "pulse"


@dataclass(frozen=True, slots=True)
class KindInfo:
    """What the UI needs to know about a kind (``GET /api/v1/events/kinds``)."""

    kind: EventKind
    label: str
    group: str
    """``alarm`` (inputs, motion, video loss), ``exception`` (faults), ``camera`` (what a
    camera reports of itself: its motion, tampering, its alarm input) or ``intelligent``
    (the camera's video analytics: line crossing, intrusion), as in the manual."""
    lasting: bool
    """True: start/stop pairs; False: pulses."""
    per_channel: bool
    """True: its events name a camera channel."""
    actions: frozenset[Action] = FAULT_ACTIONS
    """The linkage actions offered for it."""


KINDS: tuple[KindInfo, ...] = (
    KindInfo(EventKind.ALARM_INPUT, "Alarm input", "alarm", True, False, ALL_ACTIONS),
    KindInfo(EventKind.MOTION, "Motion detection", "alarm", True, True, ALL_ACTIONS),
    KindInfo(EventKind.VIDEO_LOSS, "Video loss / camera offline", "alarm", True, True,
             ALL_ACTIONS),
    KindInfo(EventKind.DISK_MISSING, "No disk", "exception", True, False),
    KindInfo(EventKind.DISK_ERROR, "Disk error", "exception", True, False),
    KindInfo(EventKind.DISK_FULL, "Disk full", "exception", True, False),
    KindInfo(EventKind.DISK_LOW_SPACE, "Disk low on space", "exception", True, False),
    KindInfo(EventKind.SMART_WARNING, "Disk SMART warning", "exception", True, False),
    KindInfo(EventKind.SMART_FAILING, "Disk SMART failing", "exception", True, False),
    KindInfo(EventKind.NETWORK_DOWN, "Network link down", "exception", True, False),
    KindInfo(EventKind.ILLEGAL_LOGIN, "Illegal login", "exception", False, False),
    KindInfo(EventKind.ACCOUNT_LOCKED, "Account locked", "exception", False, False),
    KindInfo(EventKind.POE_OVERCURRENT, "PoE overcurrent", "exception", False, True),
    KindInfo(EventKind.POE_BUDGET, "PoE power budget exceeded", "exception", False, True),
    KindInfo(EventKind.POE_DISCONNECTED, "PoE camera disconnected", "exception", False, True),
    KindInfo(EventKind.CAMERA_MOTION, "Motion detection (camera)", "camera", True, True,
             ALL_ACTIONS),
    KindInfo(EventKind.TAMPERING, "Video tampering (camera)", "camera", True, True,
             ALL_ACTIONS),
    KindInfo(EventKind.CAMERA_INPUT, "Camera alarm input", "camera", True, True, ALL_ACTIONS),
    KindInfo(EventKind.LINE_CROSSING, "Line crossing", "intelligent", False, True,
             ALL_ACTIONS),
    KindInfo(EventKind.INTRUSION, "Intrusion", "intelligent", True, True, ALL_ACTIONS),
)
"""Every kind, in the order the UI lists them."""
KIND_INFO: dict[EventKind, KindInfo] = {info.kind: info for info in KINDS}


@dataclass(frozen=True, slots=True)
class Event:
    """One event. Sources make them with ``id`` 0; the bus gives the ids."""

    kind: EventKind
    source: str
    channel: int | None
    phase: Phase
    time_us: int
    """UTC microseconds since the epoch: when it happened (not when it was logged)."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """Small and JSON-ready: what a technician needs to know (the reason, the values)."""
    id: int = 0
    """The event log's id, given by the bus; 0 before publishing."""
    start_id: int | None = None
    """For a ``stop``: the id of the ``start`` it ends (None if that start is not known,
    e.g. it was before a restart)."""

    @property
    def key(self) -> tuple[EventKind, str]:
        """What a start and its stop share."""
        return (self.kind, self.source)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the live stream's ``event`` messages, the API)."""
        return {"id": self.id, "kind": self.kind.value, "source": self.source,
                "channel": self.channel, "phase": self.phase.value,
                "time_us": self.time_us, "start_id": self.start_id,
                "details": dict(self.details)}


EventListener = Callable[[Event], None]
"""A bus subscriber: called on the loop with each event; must be quick and not block."""
