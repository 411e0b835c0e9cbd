"""A camera's own events (motion, tampering, line crossing, intrusion, digital inputs)
through an ONVIF PullPoint subscription.

:func:`pull_events` subscribes (``CreatePullPointSubscription``), asks the camera for the
current states (``SetSynchronizationPoint``: they arrive as ``Initialized``), then long-
polls ``PullMessages`` and renews the subscription before it ends. It returns never: a
failure raises :class:`~.errors.CameraError` and the caller reconnects with a backoff;
cancelling it unsubscribes (best effort, briefly).

Topics are matched without their namespace prefixes (cameras bind ``tns1`` to the ONVIF
topic namespace but may use any prefix, and put vendor prefixes in the middle), see
:data:`TOPICS`. Unknown topics are ignored (logged at debug).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from nvrd.cameras.onvif.client import OnvifDevice, answer_field
from nvrd.cameras.onvif.errors import OnvifFault

__all__ = [
    "TOPICS",
    "CameraEvent",
    "CameraEventKind",
    "event_from_message",
    "event_from_parts",
    "pull_events",
    "topic_path",
]

logger = logging.getLogger(__name__)

CameraEventKind = Literal["motion", "tamper", "line_crossing", "intrusion", "input"]


@dataclass(frozen=True, slots=True)
class _Topic:
    kind: CameraEventKind
    state_item: str | None
    """The Data item that says active/inactive; None for a pulse (always active)."""


TOPICS: dict[str, _Topic] = {
    "RuleEngine/CellMotionDetector/Motion": _Topic("motion", "IsMotion"),
    "VideoSource/MotionAlarm": _Topic("motion", "State"),
    "RuleEngine/TamperDetector/Tamper": _Topic("tamper", "IsTamper"),
    "VideoSource/GlobalSceneChange/ImagingService": _Topic("tamper", "State"),
    "VideoSource/GlobalSceneChange/AnalyticsService": _Topic("tamper", "State"),
    "VideoSource/GlobalSceneChange/RecordingService": _Topic("tamper", "State"),
    "VideoSource/GlobalSceneChange": _Topic("tamper", "State"),
    "RuleEngine/LineDetector/Crossed": _Topic("line_crossing", None),
    "RuleEngine/FieldDetector/ObjectsInside": _Topic("intrusion", "IsInside"),
    "Device/Trigger/DigitalInput": _Topic("input", "LogicalState"),
}
"""Topic path (prefixes stripped) → kind and the Data item carrying the state."""

_SOURCE_ITEMS = ("Rule", "InputToken", "VideoAnalyticsConfigurationToken",
                 "VideoSourceConfigurationToken", "Source", "VideoSourceToken")
"""Which Source item names the event's source, most specific first."""

_TRUE = frozenset({"true", "1", "on", "active", "yes"})
MESSAGE_LIMIT = 64
UNSUBSCRIBE_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class CameraEvent:
    """One state change (or pulse) the camera reported."""

    kind: CameraEventKind
    active: bool
    """False when a lasting state ends; always True for a pulse (line crossing)."""
    source: str
    """The camera's token for what fired: its rule, analytics or input token ("" if none)."""
    topic: str
    """The topic as the camera wrote it (with its prefixes)."""
    time_us: int
    """When it happened by the camera's clock (UTC µs); the camera's clock may be off."""
    initialized: bool
    """A current state re-sent on subscribing (``PropertyOperation`` Initialized), not a
    change: a pulse so marked did not just happen."""


def topic_path(topic: str) -> str:
    """``tns1:RuleEngine/tnsvendor:X/Motion/`` → ``RuleEngine/X/Motion``."""
    parts = (segment.rsplit(":", 1)[-1] for segment in topic.strip().strip("/.").split("/"))
    return "/".join(part for part in parts if part)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in _TRUE


def event_from_parts(topic: str, operation: str | None, utc_time: Any,
                     source_items: Iterable[tuple[str, str]],
                     data_items: Iterable[tuple[str, str]], *,
                     received_us: int) -> CameraEvent | None:
    """The pure mapping: a message's parts → :class:`CameraEvent`, or None for topics the
    recorder does not use or messages without their state item."""
    known = TOPICS.get(topic_path(topic))
    if known is None:
        return None
    data = dict(data_items)
    if known.state_item is None:
        active = True
    elif known.state_item in data:
        active = _truthy(data[known.state_item])
    elif len(data) == 1:
        active = _truthy(next(iter(data.values())))
    else:
        return None
    sources = dict(source_items)
    source = next((sources[name] for name in _SOURCE_ITEMS if sources.get(name)),
                  next(iter(sources.values()), ""))
    return CameraEvent(kind=known.kind, active=active, source=source, topic=topic.strip(),
                       time_us=_to_us(utc_time) or received_us,
                       initialized=(operation or "").strip() == "Initialized")


def event_from_message(notification: Any, *, received_us: int) -> CameraEvent | None:
    """One ``NotificationMessage`` of a ``PullMessages`` answer (zeep's object, or an
    lxml element when zeep could not type it) → :class:`CameraEvent` or None."""
    topic = _topic_text(answer_field(notification, "Topic"))
    message = answer_field(answer_field(notification, "Message"), "_value_1")
    if message is None:
        message = answer_field(notification, "Message")
    if not topic or message is None:
        return None
    if hasattr(message, "tag"):  # an lxml element: read the XML
        utc, operation = message.get("UtcTime"), message.get("PropertyOperation")
        source = list(_xml_items(message, "Source"))
        data = list(_xml_items(message, "Data"))
    else:
        utc = answer_field(message, "UtcTime")
        operation = answer_field(message, "PropertyOperation")
        source = list(_object_items(answer_field(message, "Source")))
        data = list(_object_items(answer_field(message, "Data")))
    return event_from_parts(topic, None if operation is None else str(operation), utc,
                            source, data, received_us=received_us)


async def pull_events(device: OnvifDevice, on_event: Callable[[CameraEvent], None], *,
                      pull_timeout_s: float = 10, renew_s: float = 60,
                      on_subscribed: Callable[[], None] | None = None) -> None:
    """Deliver the camera's events to ``on_event`` until cancelled or the camera fails.

    ``on_subscribed`` is called once the subscription exists (before the current states
    arrive). The subscription is asked to live ``2 × renew_s`` and renewed every
    ``renew_s`` (sooner when the camera grants less). Raises
    :class:`~.errors.CameraError`; never returns normally.
    """
    lifetime_s = max(2 * renew_s, 10.0)
    loop = asyncio.get_running_loop()
    answer = await device.call("events", "CreatePullPointSubscription",
                               {"InitialTerminationTime": _duration(lifetime_s)})
    address = _subscription_address(answer)
    if not address:
        raise OnvifFault(f"the camera at {device.address} made a PullPoint subscription "
                         "without an address", address=device.address)
    device.use_subscription(address)
    renew_at = loop.time() + _renew_in(answer, renew_s)
    try:
        if on_subscribed is not None:
            on_subscribed()
        with contextlib.suppress(OnvifFault):  # optional in ONVIF; states then come later
            await device.call("pullpoint", "SetSynchronizationPoint")
        while True:
            if loop.time() >= renew_at:
                renewed = await device.call("subscription", "Renew",
                                            {"TerminationTime": _duration(lifetime_s)})
                renew_at = loop.time() + _renew_in(renewed, renew_s)
            wait_s = max(1, min(int(pull_timeout_s), int(renew_at - loop.time())))
            pulled = await device.call(
                "pullpoint", "PullMessages",
                {"Timeout": dt.timedelta(seconds=wait_s), "MessageLimit": MESSAGE_LIMIT},
                timeout_s=wait_s + device.timeout_s)
            _deliver(pulled, on_event, device.address, device.wall_clock.wall_us())
    finally:
        await _unsubscribe(device)


def _deliver(pulled: Any, on_event: Callable[[CameraEvent], None], address: str,
             received_us: int) -> None:
    for notification in answer_field(pulled, "NotificationMessage") or ():
        try:
            event = event_from_message(notification, received_us=received_us)
        except (AttributeError, TypeError, ValueError) as exc:
            logger.debug("%s: unreadable event message ignored: %s", address, exc)
            continue
        if event is None:
            logger.debug("%s: event ignored: %s", address,
                         _topic_text(answer_field(notification, "Topic")))
            continue
        on_event(event)


async def _unsubscribe(device: OnvifDevice) -> None:
    """Best effort, also while being cancelled: the subscription would otherwise hold a
    slot on the camera until it expires (cameras allow only a few)."""
    task = asyncio.ensure_future(device.call("subscription", "Unsubscribe",
                                             timeout_s=UNSUBSCRIBE_TIMEOUT_S))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        task.cancel()
        raise
    except Exception as exc:
        logger.debug("%s: Unsubscribe failed: %s", device.address, exc)


# --- reading zeep's objects ----------------------------------------------------------------

def _topic_text(topic: Any) -> str:
    if topic is None:
        return ""
    if isinstance(topic, str):
        return topic
    value = answer_field(topic, "_value_1")
    if isinstance(value, str):
        return value
    text = getattr(topic, "text", None)
    return text if isinstance(text, str) else ""


def _object_items(items: Any) -> Iterator[tuple[str, str]]:
    for item in answer_field(items, "SimpleItem") or ():
        name, value = answer_field(item, "Name"), answer_field(item, "Value")
        if name is not None:
            yield str(name), "" if value is None else str(value)


def _xml_items(message: Any, part: str) -> Iterator[tuple[str, str]]:
    for child in message:
        if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == part:
            for item in child:
                if isinstance(item.tag, str) and item.tag.rsplit("}", 1)[-1] == "SimpleItem":
                    name = item.get("Name")
                    if name is not None:
                        yield name, item.get("Value") or ""


def _to_us(value: Any) -> int | None:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp() * 1_000_000)


def _duration(seconds: float) -> str:
    return f"PT{max(1, int(seconds))}S"


def _subscription_address(answer: Any) -> str:
    reference = answer_field(answer, "SubscriptionReference")
    address = answer_field(reference, "Address")
    value = answer_field(address, "_value_1") if not isinstance(address, str) else address
    return value.strip() if isinstance(value, str) else ""


def _renew_in(answer: Any, renew_s: float) -> float:
    """Seconds until the next Renew: ``renew_s``, or half the time the camera granted when
    that is less."""
    current, termination = _to_us(answer_field(answer, "CurrentTime")), _to_us(
        answer_field(answer, "TerminationTime"))
    if current is None or termination is None or termination <= current:
        return renew_s
    return max(1.0, min(renew_s, (termination - current) / 2e6))
