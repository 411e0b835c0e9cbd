"""Which rules an event sets off, whether they are armed, and what a disarm silences —
pure functions of the configuration, the event and the time, so they are tested without
a daemon.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from nvrd.config import NvrConfig
from nvrd.config.linkage import LinkageRule
from nvrd.events.model import Action, Event, EventKind
from nvrd.record.schedule import trigger_at

DEFAULT_RULE_NAME = "default"


def matches(rule: LinkageRule, event: Event) -> bool:
    """The rule is about this event: its kind, and its source (exact, or a prefix up to
    a ``/``) and channel when it names them."""
    if rule.kind is not event.kind:
        return False
    if rule.channel is not None and rule.channel != event.channel:
        return False
    return (not rule.source or event.source == rule.source
            or event.source.startswith(rule.source + "/"))


SELF_RECORDING = frozenset({EventKind.MOTION, EventKind.CAMERA_MOTION,
                            EventKind.LINE_CROSSING, EventKind.INTRUSION})
"""Kinds that record their own channel when no rule says otherwise (what schedule
periods of type motion or intelligent wait for)."""


def default_rule(event: Event) -> LinkageRule:
    """For an event no rule is about: tell the integrations (MQTT, webhooks), and let a
    motion or intelligent event (``SELF_RECORDING``) record its own channel (what a
    schedule period of type "motion" or "intelligent" expects, as on the vendor's
    recorders, whose motion linkage records the channel by default). No log line: the
    event log already has the event."""
    record = ((event.channel,) if event.kind in SELF_RECORDING
              and event.channel is not None else ())
    return LinkageRule(name=DEFAULT_RULE_NAME, kind=event.kind, anti_dither_seconds=0,
                       record=record, log=False)


def rules_for(config: NvrConfig, event: Event) -> list[LinkageRule]:
    """The enabled rules ``event`` sets off; the default one when no rule (enabled or
    not) is about it."""
    about = [rule for rule in config.events.rules if matches(rule, event)]
    if not about:
        return [default_rule(event)]
    return [rule for rule in about if rule.enabled]


def armed(rule: LinkageRule, config: NvrConfig, at_us: int) -> bool:
    """The rule's arming schedule has a period at ``at_us`` (local time, holidays)."""
    schedule = config.events.schedule(rule.arming)
    if schedule is None:  # validation refuses this; a rule without schedule does nothing
        return False
    tz = zoneinfo.ZoneInfo(config.system.timezone)
    return trigger_at(schedule, config.recording.holidays, tz, at_us) is not None


@dataclass(frozen=True, slots=True)
class DisarmState:
    disarmed: bool
    reason: str | None
    """Why (the switch, the schedule, the key-switch input), for people."""
    suppressed: frozenset[Action]
    """What is silenced now (empty while armed)."""

    def to_dict(self) -> dict[str, object]:
        return {"disarmed": self.disarmed, "reason": self.reason,
                "suppressed": sorted(str(a) for a in self.suppressed)}


def disarm_input_source(config: NvrConfig) -> str | None:
    """The event source of the key-switch input, if one is set."""
    number = config.events.disarm.input
    return None if number is None else f"alarm-in:{number}"


def disarm_state(config: NvrConfig, at_us: int,
                 input_active: Callable[[str], bool]) -> DisarmState:
    """Disarmed by the switch, the key-switch input or the schedule (the schedule only
    while the switch is off, as in the manual §3.9)."""
    disarm = config.events.disarm
    reason: str | None = None
    if disarm.enabled:
        reason = "disarmed by the switch"
    else:
        key = disarm_input_source(config)
        if key is not None and input_active(key):
            reason = f"disarmed by alarm input {disarm.input}"
        elif disarm.schedule is not None:
            schedule = config.events.schedule(disarm.schedule)
            tz = zoneinfo.ZoneInfo(config.system.timezone)
            if schedule is not None and trigger_at(
                    schedule, config.recording.holidays, tz, at_us) is not None:
                reason = f"disarmed by schedule {disarm.schedule!r}"
    if reason is None:
        return DisarmState(False, None, frozenset())
    return DisarmState(True, reason, frozenset(disarm.suppress))
