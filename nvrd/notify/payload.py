"""What notifications carry: an event as JSON, the MQTT topics of an event's state, Home
Assistant discovery configuration, and the webhook signature.

Pure functions, no I/O: the MQTT and webhook senders share them, so an event reads the
same on both, and tests check them directly.

Topics (``<base>`` is ``notify.mqtt.base_topic``):

- ``<base>/events/<kind>``: every event, JSON (:func:`event_payload`), not retained;
- ``<base>/<source kind>/<id>/<kind>/state``: ``ON`` / ``OFF`` for lasting conditions
  (an event with a ``start``/``stop`` phase), retained. The event kind is part of the
  topic because one source has several conditions (``camera:5`` has motion and video
  loss);
- ``<base>/status``: ``online`` / ``offline`` (the last will), retained.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

from nvrd.events.model import KINDS, Event, EventKind, Phase

STATE_ON = "ON"
STATE_OFF = "OFF"
ONLINE = "online"
OFFLINE = "offline"
SIGNATURE_HEADER = "X-NVR-Signature"

# Characters a topic level must not hold: the wildcards, the level separator, blanks.
_NOT_IN_LEVEL = re.compile(r"[+#/\s\x00]")
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9_-]")
_LABELS = {info.kind: info.label for info in KINDS}
# Home Assistant binary_sensor device classes: how its UI shows ON ("Detected",
# "Problem", "Unsafe").
_DEVICE_CLASSES = {
    EventKind.MOTION: "motion",
    EventKind.CAMERA_MOTION: "motion",
    EventKind.TAMPERING: "tamper",
    EventKind.INTRUSION: "motion",
    EventKind.ALARM_INPUT: "safety",
    EventKind.VIDEO_LOSS: "problem",
    EventKind.NETWORK_DOWN: "problem",
}
_DEFAULT_DEVICE_CLASS = "problem"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Device:
    """The recorder as Home Assistant's device registry shows it."""

    identifier: str
    """Stable and unique per recorder on the broker (the MQTT client id)."""
    name: str
    sw_version: str
    manufacturer: str = "nvrd"
    model: str = "Network video recorder"


def event_payload(event: Event, *, recorder: str) -> dict[str, Any]:
    """The event as JSON: the event log's fields, the time also as ISO 8601 UTC (for
    automations that do not do arithmetic on microseconds) and the recorder's name."""
    payload = event.to_dict()
    payload["time"] = iso_time(event.time_us)
    payload["recorder"] = recorder
    return payload


def iso_time(time_us: int) -> str:
    """``2024-05-01T12:00:00.250000Z`` (exact: integer arithmetic, no float seconds)."""
    moment = _EPOCH + dt.timedelta(microseconds=time_us)
    return moment.isoformat().replace("+00:00", "Z")


def topic_level(text: str) -> str:
    """``text`` made safe as one topic level (wildcards, ``/`` and blanks become ``_``)."""
    return _NOT_IN_LEVEL.sub("_", text) or "_"


def event_topic(base: str, kind: EventKind) -> str:
    return f"{base}/events/{kind.value}"


def availability_topic(base: str) -> str:
    return f"{base}/status"


def state_topic(base: str, kind: EventKind, source: str) -> str:
    """``<base>/<source kind>/<id>/<kind>/state``; a source without ``:`` has no id
    level."""
    source_kind, _, ident = source.partition(":")
    levels = [topic_level(source_kind)] + ([topic_level(ident)] if ident else [])
    return "/".join([base, *levels, kind.value, "state"])


def state_value(phase: Phase) -> str | None:
    """``ON`` for a start, ``OFF`` for a stop, None for a pulse (it has no state)."""
    if phase is Phase.START:
        return STATE_ON
    if phase is Phase.STOP:
        return STATE_OFF
    return None


def object_id(kind: EventKind, source: str) -> str:
    """The sensor's id within the device: ``alarm-in_3_alarm_input``."""
    return _NOT_IN_ID.sub("_", f"{source}_{kind.value}")


def discovery_topic(prefix: str, device: Device, kind: EventKind, source: str) -> str:
    node = _NOT_IN_ID.sub("_", device.identifier)
    return f"{prefix}/binary_sensor/{node}/{object_id(kind, source)}/config"


def discovery_config(*, base: str, device: Device, kind: EventKind, source: str,
                     name: str | None = None) -> dict[str, Any]:
    """Home Assistant's MQTT discovery configuration of a binary sensor for the
    condition ``kind`` of ``source``, belonging to the recorder's device and unavailable
    when the recorder's availability topic reads ``offline``."""
    return {
        "name": name or f"{_LABELS.get(kind, kind.value)} ({source})",
        "unique_id": f"{_NOT_IN_ID.sub('_', device.identifier)}_{object_id(kind, source)}",
        "state_topic": state_topic(base, kind, source),
        "payload_on": STATE_ON,
        "payload_off": STATE_OFF,
        "availability_topic": availability_topic(base),
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device_class": _DEVICE_CLASSES.get(kind, _DEFAULT_DEVICE_CLASS),
        "device": {
            "identifiers": [device.identifier],
            "name": device.name,
            "manufacturer": device.manufacturer,
            "model": device.model,
            "sw_version": device.sw_version,
        },
    }


def signature(secret: str, body: bytes) -> str:
    """The ``X-NVR-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of the exact
    body bytes with the hook's secret (the receiver recomputes it the same way)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"
