"""The event service (``tev``, WS-BaseNotification): PullPoint subscriptions.

CreatePullPointSubscription gives an address ``/onvif/pullpoint/<id>`` on the camera's
port; PullMessages there is a long poll that returns as soon as a message is queued (or at
its Timeout, capped at ``MAX_PULL_TIMEOUT_S``, with none). A subscription lives until its
termination time (Renew moves it; PullMessages does not) or Unsubscribe; after that its
operations answer ``ter:InvalidArgVal``/``ter:ResourceUnknown``. A new subscription and
SetSynchronizationPoint queue the current state of every property as ``Initialized``.

Events come from the control socket (``inject``): motion, tamper, intrusion and digital
inputs are properties (``Changed`` when injected, every time, even if the state is the
same); a line crossing is a pulse without PropertyOperation.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import time
from dataclasses import dataclass
from typing import Any

from lxml import etree  # type: ignore[import-untyped]

from tools.fakecam.onvif.server import PULLPOINT_PREFIX, Call, Handler
from tools.fakecam.onvif.soap import (
    NS,
    E,
    child_text,
    format_datetime,
    invalid_arg,
    parse_duration,
    parse_termination,
    qname,
    sender_fault,
)
from tools.fakecam.onvif.state import Camera, EventMessage, Subscription

DEFAULT_TERMINATION_S = 60.0
MAX_PULL_TIMEOUT_S = 60.0
MAX_MESSAGE_LIMIT = 100
MAX_QUEUED = 1000  # per subscription; the oldest are dropped beyond this
TOPIC_DIALECT = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
VIDEO_SOURCE_CONFIG = "VideoSourceConfig_1"
ANALYTICS_CONFIG = "VideoAnalyticsConfig_1"


@dataclass(frozen=True, slots=True)
class Kind:
    """An event kind the control socket can inject."""

    topic: str
    default_source: str
    data_item: str
    data_type: str
    is_property: bool
    rule: bool  # Source is video source + analytics configuration + Rule (else InputToken)


KINDS = {
    "motion": Kind("tns1:RuleEngine/CellMotionDetector/Motion", "MyMotionDetectorRule",
                   "IsMotion", "xs:boolean", True, True),
    "tamper": Kind("tns1:RuleEngine/TamperDetector/Tamper", "MyTamperDetectorRule",
                   "IsTamper", "xs:boolean", True, True),
    "line_crossing": Kind("tns1:RuleEngine/LineDetector/Crossed", "MyLineDetectorRule",
                          "ObjectId", "xs:integer", False, True),
    "intrusion": Kind("tns1:RuleEngine/FieldDetector/ObjectsInside", "MyFieldDetectorRule",
                      "IsInside", "xs:boolean", True, True),
    "input": Kind("tns1:Device/Trigger/DigitalInput", "DigitalInput_1", "LogicalState",
                  "xs:boolean", True, False),
}


def reset_properties(camera: Camera) -> None:
    """Every property event inactive, with its default source."""
    camera.properties = {(name, kind.default_source): False
                         for name, kind in KINDS.items() if kind.is_property}


def _plain(topic: str) -> str:
    """A topic path without namespace prefixes: ``RuleEngine/CellMotionDetector/Motion``."""
    return "/".join(part.rpartition(":")[2] for part in topic.strip().split("/") if part)


def _source_items(kind: Kind, source: str) -> tuple[tuple[str, str], ...]:
    if kind.rule:
        return (("VideoSourceConfigurationToken", VIDEO_SOURCE_CONFIG),
                ("VideoAnalyticsConfigurationToken", ANALYTICS_CONFIG), ("Rule", source))
    return (("InputToken", source),)


def _message(camera: Camera, name: str, source: str, value: str, operation: str | None
             ) -> EventMessage:
    kind = KINDS[name]
    return EventMessage(kind.topic, camera.clock.now(), operation,
                        _source_items(kind, source), ((kind.data_item, value),))


def _deliver(sub: Subscription, message: EventMessage) -> None:
    if sub.wants(_plain(message.topic)):
        sub.queue.append(message)
        while len(sub.queue) > MAX_QUEUED:
            sub.queue.popleft()
        sub.wakeup.set()


def _initialized(camera: Camera) -> list[EventMessage]:
    return [_message(camera, name, source, "true" if active else "false", "Initialized")
            for (name, source), active in camera.properties.items()]


def inject(camera: Camera, name: str, active: bool = True, source: str | None = None
           ) -> dict[str, Any]:
    """Raise an event on every live subscription (the control socket's ``onvif_event``)."""
    kind = KINDS.get(name)
    if kind is None:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, not {name!r}")
    source = source or kind.default_source
    if kind.is_property:
        camera.properties[(name, source)] = active
        message = _message(camera, name, source, "true" if active else "false", "Changed")
    else:
        camera.pulses += 1
        message = _message(camera, name, source, str(camera.pulses), None)
    subscriptions = camera.live_subscriptions(time.monotonic())
    for sub in subscriptions.values():
        _deliver(sub, message)
    return {"topic": message.topic, "utc": format_datetime(message.utc, millis=True),
            "subscriptions": len(subscriptions)}


def _message_element(message: EventMessage) -> etree._Element:
    def items(tag: str, pairs: tuple[tuple[str, str], ...]) -> etree._Element:
        return E(tag, *(E("tt:SimpleItem", Name=n, Value=v) for n, v in pairs))

    inner = E("tt:Message", items("tt:Source", message.source), items("tt:Data", message.data),
              UtcTime=format_datetime(message.utc, millis=True),
              PropertyOperation=message.operation)
    return E("wsnt:NotificationMessage",
             E("wsnt:Topic", message.topic, Dialect=TOPIC_DIALECT),
             E("wsnt:Message", inner))


def _topic_filter(op: etree._Element) -> tuple[str, ...] | None:
    """Topic prefixes from a Filter's TopicExpression (``a|b``, ``x//.``); None: all."""
    expression = child_text(op, "Filter", "TopicExpression")
    if not expression:
        return None
    prefixes = []
    for part in expression.split("|"):
        part = part.strip().removesuffix("//.").removesuffix("//*").rstrip("/*")
        if part:
            prefixes.append(_plain(part))
    return tuple(prefixes) or None


def _subscription(call: Call) -> Subscription:
    sub_id = call.subscription_id()
    sub = call.camera.live_subscriptions(time.monotonic()).get(sub_id or "")
    if sub is None:
        raise sender_fault("ter:InvalidArgVal", "ter:ResourceUnknown",
                           reason="The subscription has expired or does not exist")
    return sub


def _termination(call: Call, sub: Subscription) -> dt.datetime:
    return call.camera_now + dt.timedelta(seconds=sub.expires - time.monotonic())


def _expiry(call: Call, text: str | None) -> float:
    """The monotonic expiry for an (absolute or relative) termination time."""
    now = call.camera_now
    when = parse_termination(text, now) if text else now + dt.timedelta(
        seconds=DEFAULT_TERMINATION_S)
    seconds = (when - now).total_seconds()
    if seconds <= 0:
        raise sender_fault("ter:InvalidArgVal", "wsnt:UnacceptableTerminationTimeFault",
                           reason=f"The termination time {text} is not in the future")
    return time.monotonic() + seconds


async def create_pull_point_subscription(call: Call) -> etree._Element:
    camera = call.camera
    expires = _expiry(call, child_text(call.op, "InitialTerminationTime"))
    sub = Subscription(secrets.token_hex(8), expires, _topic_filter(call.op))
    camera.subscriptions[sub.id] = sub
    for message in _initialized(camera):
        _deliver(sub, message)
    address = call.url(PULLPOINT_PREFIX + sub.id)
    return E("tev:CreatePullPointSubscriptionResponse",
             E("tev:SubscriptionReference", E("wsa:Address", address)),
             E("wsnt:CurrentTime", format_datetime(call.camera_now)),
             E("wsnt:TerminationTime", format_datetime(_termination(call, sub))))


async def pull_messages(call: Call) -> etree._Element:
    sub = _subscription(call)
    timeout = min(parse_duration(child_text(call.op, "Timeout") or "PT0S"), MAX_PULL_TIMEOUT_S)
    try:
        limit = min(int(child_text(call.op, "MessageLimit") or "1"), MAX_MESSAGE_LIMIT)
    except ValueError:
        raise invalid_arg("ter:InvalidArgVal", "MessageLimit must be an integer") from None
    if not sub.queue and timeout > 0:
        sub.wakeup.clear()
        wait = min(timeout, sub.expires - time.monotonic())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sub.wakeup.wait(), max(0.0, wait))
    if sub.closed and sub.id not in call.camera.subscriptions and sub.expires > time.monotonic():
        raise sender_fault("ter:InvalidArgVal", "ter:ResourceUnknown",
                           reason="The subscription was unsubscribed")
    messages = [sub.queue.popleft() for _ in range(min(max(limit, 1), len(sub.queue)))]
    return E("tev:PullMessagesResponse", E("tev:CurrentTime", format_datetime(call.camera_now)),
             E("tev:TerminationTime", format_datetime(_termination(call, sub))),
             *(_message_element(m) for m in messages))


async def renew(call: Call) -> etree._Element:
    sub = _subscription(call)
    sub.expires = _expiry(call, child_text(call.op, "TerminationTime"))
    return E("wsnt:RenewResponse",
             E("wsnt:TerminationTime", format_datetime(_termination(call, sub))),
             E("wsnt:CurrentTime", format_datetime(call.camera_now)))


async def unsubscribe(call: Call) -> etree._Element:
    sub = _subscription(call)
    call.camera.end_subscription(sub.id)
    return E("wsnt:UnsubscribeResponse")


async def set_synchronization_point(call: Call) -> etree._Element:
    sub = _subscription(call)
    for message in _initialized(call.camera):
        _deliver(sub, message)
    return E("tev:SetSynchronizationPointResponse")


def _topic_tree() -> etree._Element:
    """The wstop:TopicSet of every injectable kind, with message descriptions."""
    topic_set = E("wstop:TopicSet")
    for kind in KINDS.values():
        parent = topic_set
        parts = kind.topic.removeprefix("tns1:").split("/")
        for depth, part in enumerate(parts):
            tag = qname(f"tns1:{part}")
            found = next((c for c in parent if c.tag == tag), None)
            if found is None:
                found = etree.SubElement(parent, tag)
            parent = found
            if depth == len(parts) - 1:
                parent.set(qname("wstop:topic"), "true")
                source = (E("tt:SimpleItemDescription", Name=n, Type="tt:ReferenceToken")
                          for n, _ in _source_items(kind, kind.default_source))
                parent.append(E("tt:MessageDescription", E("tt:Source", *source),
                                E("tt:Data", E("tt:SimpleItemDescription",
                                               Name=kind.data_item, Type=kind.data_type)),
                                IsProperty=kind.is_property))
    return topic_set


async def get_event_properties(call: Call) -> etree._Element:
    return E("tev:GetEventPropertiesResponse",
             E("tev:TopicNamespaceLocation",
               "http://www.onvif.org/onvif/ver10/topics/topicns.xml"),
             E("wsnt:FixedTopicSet", True), _topic_tree(),
             E("wsnt:TopicExpressionDialect", TOPIC_DIALECT),
             E("wsnt:TopicExpressionDialect",
               "http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete"),
             E("tev:MessageContentFilterDialect",
               "http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter"),
             E("tev:MessageContentSchemaLocation",
               "http://www.onvif.org/onvif/ver10/schema/onvif.xsd"))


def capabilities(call: Call) -> etree._Element:
    return E("tev:Capabilities", WSSubscriptionPolicySupport=False, WSPullPointSupport=True,
             WSPausableSubscriptionManagerInterfaceSupport=False, MaxNotificationProducers=0,
             MaxPullPoints=10, PersistentNotificationStorage=False)


async def get_service_capabilities(call: Call) -> etree._Element:
    return E("tev:GetServiceCapabilitiesResponse", capabilities(call))


OPERATIONS: dict[str, Handler] = {
    f"{{{NS['tev']}}}CreatePullPointSubscription": create_pull_point_subscription,
    f"{{{NS['tev']}}}PullMessages": pull_messages,
    f"{{{NS['tev']}}}SetSynchronizationPoint": set_synchronization_point,
    f"{{{NS['tev']}}}GetEventProperties": get_event_properties,
    f"{{{NS['tev']}}}GetServiceCapabilities": get_service_capabilities,
    f"{{{NS['wsnt']}}}Renew": renew,
    f"{{{NS['wsnt']}}}Unsubscribe": unsubscribe,
}
