"""Linkage settings: what the recorder does when an event happens, when it is armed to,
and what a disarm silences — the vendor's model (manual §2.3, §3.1, §3.9).

A rule names an event kind and, optionally, which of its sources (``source``) or which
camera (``channel``) it is about; when such an event starts (or happens, for an instant
event) while the rule's arming schedule is in a period and the box is not disarmed for
that action, the rule's actions run. Events without a rule of their own get the default
linkage (see ``nvrd/linkage/rules.py``): notifications, and for motion the recording of
its own channel.

Arming and disarm schedules are week schedules like the recording ones (up to 6 periods
per day, a holiday row, ``recording.holidays``); a period's ``type`` does not apply to
them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from nvrd.config.errors import Violation, located_error, violations_error
from nvrd.config.fields import Name32, Section
from nvrd.config.schedules import ALWAYS, ALWAYS_SCHEDULE_NAME, Schedule
from nvrd.events.model import KIND_INFO, Action, EventKind

MAX_RULES = 256
MAX_TARGETS = 64
Channel = Annotated[int, Field(ge=1, le=256)]
Output = Annotated[int, Field(ge=1, le=256)]
LedPattern = Literal["steady", "blink", "fast_blink"]
SourceName = Annotated[str, Field(max_length=64, pattern=r"^[A-Za-z0-9:/._@-]*$")]

DEFAULT_SUPPRESSED: tuple[Action, ...] = (Action.RELAY, Action.BUZZER, Action.LED,
                                          Action.PTZ, Action.MQTT, Action.WEBHOOK)
"""A disarm silences what tells people, not what keeps evidence: recording, snapshots
and the log go on (the vendor lets the installer choose; this is our factory choice)."""


_FIELD = {Action.RECORD: "record", Action.RELAY: "relays", Action.PTZ: "ptz",
          Action.SNAPSHOT: "snapshot", Action.BUZZER: "buzzer", Action.LED: "led",
          Action.LOG: "log", Action.MQTT: "mqtt", Action.WEBHOOK: "webhook"}
"""The rule's setting for each action."""


class PtzLinkage(Section):
    """A PTZ action on one channel: call a preset, or run a tour over presets."""

    channel: Channel
    preset: Annotated[int, Field(ge=1, le=255)] | None = None
    tour: Annotated[tuple[Annotated[int, Field(ge=1, le=255)], ...],
                    Field(min_length=2, max_length=32)] | None = None
    """Presets visited in turn while the event lasts (the dome returns to nothing: the
    last preset stays)."""
    dwell_seconds: Annotated[int, Field(ge=1, le=600)] = 10
    """How long a tour stays at each preset."""

    @model_validator(mode="after")
    def _one_action(self) -> PtzLinkage:
        if (self.preset is None) == (self.tour is None):
            raise located_error("give either preset = N or tour = [N, M, ...]",
                                at=("preset",), value=self.preset)
        return self


class LinkageRule(Section):
    """What happens when an event of ``kind`` starts."""

    name: Name32
    """Names the rule in the log, the API (``/events/rules/{name}/test``) and messages."""
    kind: EventKind
    source: SourceName = ""
    """Only this source (``alarm-in:1``, ``bay:2``, ``net:eth0``, ``camera:3/region:1``,
    a prefix up to a ``/`` matches what is under it: ``camera:3``); empty = every one."""
    channel: Channel | None = None
    """Only events about this camera channel."""
    enabled: bool = True
    """False: events it matches trigger nothing (they are still logged)."""
    arming: Name32 = ALWAYS_SCHEDULE_NAME
    """The ``events.schedules`` schedule in whose periods it acts ("always": all the
    time). Outside them the event is logged and nothing else happens."""
    anti_dither_seconds: Annotated[int, Field(ge=0, le=600)] = 5
    """A new start within this time after the last one ended joins the same incident:
    what lasts (relays, recording, buzzer, lamp, tour) lasts on, and nothing is sent or
    taken twice. An instant event (a login failure) counts as lasting this long."""
    record: Annotated[tuple[Channel, ...], Field(max_length=MAX_TARGETS)] = ()
    """Channels that record (type "alarm", or "motion" for motion events) while it
    lasts, with their pre-record before and post-record after; their schedule must
    have a period of that type (or the camera is in mode "manual")."""
    relays: Annotated[tuple[Output, ...], Field(max_length=MAX_TARGETS)] = ()
    """Alarm outputs switched on while it lasts, then for their ``latch_seconds``
    (only outputs in mode "auto")."""
    ptz: Annotated[tuple[PtzLinkage, ...], Field(max_length=MAX_TARGETS)] = ()
    snapshot: Annotated[tuple[Channel, ...], Field(max_length=MAX_TARGETS)] = ()
    """Channels of which a JPEG is taken when it starts."""
    buzzer: bool = False
    """The buzzer sounds while it lasts (an instant event: its anti-dither time, at
    least 10 s)."""
    led: LedPattern | None = None
    """The ALARM lamp shows this pattern while it lasts."""
    log: bool = True
    """A line in the system log says what was done."""
    mqtt: bool = True
    """Published to the MQTT broker (``notify.mqtt``) when it starts and ends."""
    webhook: bool = True
    """Sent to the webhooks (``notify.webhooks``) that take its kind."""

    def actions(self) -> frozenset[Action]:
        """The actions this rule asks for."""
        asked = {Action.RECORD: bool(self.record), Action.RELAY: bool(self.relays),
                 Action.PTZ: bool(self.ptz), Action.SNAPSHOT: bool(self.snapshot),
                 Action.BUZZER: self.buzzer, Action.LED: self.led is not None,
                 Action.LOG: self.log, Action.MQTT: self.mqtt, Action.WEBHOOK: self.webhook}
        return frozenset(action for action, wanted in asked.items() if wanted)

    @model_validator(mode="after")
    def _offered_for_kind(self) -> LinkageRule:
        offered = KIND_INFO[self.kind].actions
        refused = [Violation((_FIELD[action],), f"{KIND_INFO[self.kind].label} events do "
                             f"not offer this action; they offer: "
                             f"{', '.join(sorted(str(a) for a in offered))}",
                             getattr(self, _FIELD[action]))
                   for action in sorted(self.actions() - offered)]
        if refused:
            raise violations_error(refused)
        return self


class DisarmConfig(Section):
    """Silence chosen actions for all rules: by a switch, by schedule, or by an alarm
    input (a key switch). Events are still detected and logged."""

    enabled: bool = False
    """The one-switch disarm: on = disarmed now, whatever the schedule says."""
    schedule: Name32 | None = None
    """An ``events.schedules`` schedule: disarmed during its periods."""
    input: Annotated[int, Field(ge=1, le=256)] | None = None
    """An alarm input that disarms while it is active (its own events then trigger
    nothing)."""
    suppress: Annotated[tuple[Action, ...], Field(min_length=1)] = DEFAULT_SUPPRESSED
    """The actions a disarm silences."""


class LinkageConfig(Section):
    """The parts of ``[events]`` about linkage."""

    schedules: Annotated[tuple[Schedule, ...], Field(max_length=32)] = ()
    """Arming and disarm schedules (``[[events.schedules]]``), referred to by name."""
    disarm: DisarmConfig = Field(default_factory=DisarmConfig)
    rules: Annotated[tuple[LinkageRule, ...], Field(max_length=MAX_RULES)] = ()

    @model_validator(mode="after")
    def _names_resolve(self) -> LinkageConfig:
        problems: list[Violation] = []
        names = [s.name for s in self.schedules]
        for index, name in enumerate(names):
            if name == ALWAYS_SCHEDULE_NAME or name in names[:index]:
                problems.append(Violation(("schedules", index, "name"),
                                          "is built in" if name == ALWAYS_SCHEDULE_NAME
                                          else "is defined twice", name))
        known = {ALWAYS_SCHEDULE_NAME, *names}
        rule_names: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.arming not in known:
                problems.append(Violation(
                    ("rules", index, "arming"), f"no schedule of that name in "
                    f"events.schedules; known: {', '.join(sorted(known))}", rule.arming))
            if rule.name in rule_names:
                problems.append(Violation(("rules", index, "name"),
                                          "another rule has this name", rule.name))
            rule_names.add(rule.name)
        if self.disarm.schedule is not None and self.disarm.schedule not in known:
            problems.append(Violation(
                ("disarm", "schedule"), f"no schedule of that name in events.schedules; "
                f"known: {', '.join(sorted(known))}", self.disarm.schedule))
        if problems:
            raise violations_error(problems)
        return self

    def schedule(self, name: str) -> Schedule | None:
        if name == ALWAYS_SCHEDULE_NAME:
            return ALWAYS
        return next((s for s in self.schedules if s.name == name), None)
