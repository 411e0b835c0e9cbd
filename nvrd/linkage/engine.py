"""Linkage: from events on the bus to what the recorder does about them.

An event that a rule is about (``rules.py``) opens an *incident* of that rule, unless
the rule is outside its arming schedule. The incident's actions are the rule's, minus
what a disarm silences at that moment; they are decided once, when it opens. What is
instant (a snapshot, a PTZ preset, a notification, a log line) is done then; what lasts
(relays, recording, buzzer, lamp, a PTZ tour) is held until the incident ends.

Invariants
1. One incident per rule and camera channel (or per rule and source, for events about
   no channel): motion in two regions of a camera is one incident, two failing disks
   are two.
2. Anti-dither: an incident ends ``anti_dither_seconds`` after its last source stopped
   (an instant event: after ``max(anti_dither, PULSE_HOLD_S)``); a start in that time
   joins it — nothing is sent or taken again, what lasts lasts on.
3. Every output an incident holds is released when it ends (``outputs.py``: relays
   after their latch); a relay in mode "on"/"off" is the installer's and never driven.
4. Everything runs on the loop, in the bus's call: an alarm input's relay is switched
   before the bus call returns (the latency the alarm bench measures). Slow actions
   (PTZ on the serial bus, snapshots) are handed to tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hal.ptz import Tour, TourStop
from nvrd.config import NvrConfig
from nvrd.config.linkage import LinkageRule
from nvrd.events.live import LiveFeed
from nvrd.events.model import Action, Event, EventKind, Phase
from nvrd.linkage.outputs import AlarmLamp, HeldOutput
from nvrd.linkage.rules import (
    DisarmState,
    armed,
    disarm_input_source,
    disarm_state,
    rules_for,
)
from nvrd.record.schedule import EventKind as RecordEvent

logger = logging.getLogger(__name__)

PULSE_HOLD_S = 10.0
"""How long an instant event's incident lasts at least (buzzer, lamp, relay before its
latch): long enough for someone to notice."""
LIVE_TOPIC = "linkage"


class Recorder(Protocol):
    def start_event(self, channel: int, kind: RecordEvent | str, source: str = ...
                    ) -> None: ...
    def stop_event(self, channel: int, kind: RecordEvent | str, source: str = ...
                   ) -> None: ...


class SnapshotTaker(Protocol):
    def request(self, channel: int, *, reason: str, event_id: int | None) -> None: ...


class Ptz(Protocol):
    async def camera(self, channel: int) -> Any: ...
    async def start_tour(self, channel: int, tour: Tour) -> None: ...
    async def stop_tour(self, channel: int) -> None: ...


class Audit(Protocol):
    def record(self, type: str, action: str, *, result: str = ..., details: str = ...,
               ) -> None: ...


@dataclass
class Targets:
    """What linkage drives; any may be missing (a board without relays, no PTZ bus)."""

    relay: Callable[[int, bool], None] | None = None
    buzzer: Callable[[bool], None] | None = None
    lamp: Callable[[Any], None] | None = None
    recorder: Recorder | None = None
    ptz: Ptz | None = None
    snapshots: SnapshotTaker | None = None
    audit: Audit | None = None
    notifiers: Mapping[Action, Callable[[Event], None]] = field(default_factory=dict)
    """``Action.MQTT`` / ``Action.WEBHOOK`` → what sends them."""
    live: LiveFeed | None = None


@dataclass(eq=False)
class Incident:
    key: str
    rule: LinkageRule
    first: Event
    actions: frozenset[Action]
    sources: set[str]
    opened_us: int
    disarm: str | None
    """Why some actions were silenced, if they were."""
    test: bool = False
    merged: int = 0
    done: list[str] = field(default_factory=list)
    tours: list[int] = field(default_factory=list)
    end_timer: asyncio.TimerHandle | None = None

    @property
    def holder(self) -> str:
        return f"linkage:{self.key}"

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.name, "key": self.key, "event": self.first.to_dict(),
                "actions": sorted(str(a) for a in self.actions), "done": list(self.done),
                "opened_us": self.opened_us, "merged": self.merged,
                "active_sources": sorted(self.sources), "disarm": self.disarm,
                "test": self.test}


def incident_key(rule: LinkageRule, event: Event) -> str:
    about = f"ch{event.channel}" if event.channel is not None else event.source
    return f"{rule.name}|{about}"


class LinkageEngine:
    def __init__(self, config: NvrConfig, targets: Targets, *,
                 input_active: Callable[[str], bool] = lambda source: False,
                 pulse_hold_s: float = PULSE_HOLD_S) -> None:
        self._config = config
        self._pulse_hold_s = pulse_hold_s
        self._targets = targets
        self._input_active = input_active
        self._incidents: dict[str, Incident] = {}
        self._relays: dict[int, HeldOutput] = {}
        relay = targets.relay
        self._buzzer = (HeldOutput("the buzzer", targets.buzzer)
                        if targets.buzzer is not None else None)
        self._lamp = AlarmLamp(targets.lamp) if targets.lamp is not None else None
        self._relay_switch = relay
        self._tasks: set[asyncio.Task[None]] = set()
        self.fired = 0
        """Incidents opened since start (tests and the bench read it)."""

    # --- configuration and state ------------------------------------------------------

    def apply_config(self, config: NvrConfig) -> None:
        """New rules apply to the next events; open incidents finish with their own."""
        self._config = config

    def disarm(self, at_us: int | None = None) -> DisarmState:
        return disarm_state(self._config, _now_us() if at_us is None else at_us,
                            self._input_active)

    def incidents(self) -> list[Incident]:
        return sorted(self._incidents.values(), key=lambda i: i.opened_us)

    def outputs(self) -> dict[str, Any]:
        return {"relays": {n: {"on": r.on, "held_by": sorted(r.holders)}
                           for n, r in sorted(self._relays.items())},
                "buzzer": self._buzzer.on if self._buzzer is not None else None,
                "lamp": self._lamp.pattern if self._lamp is not None else None}

    # --- the bus's subscriber -------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        if (event.kind is EventKind.ALARM_INPUT
                and event.source == disarm_input_source(self._config)):
            state = self.disarm()
            logger.warning("linkage %s", state.reason or "armed again (key-switch input)")
            self._publish("disarm", state.to_dict())
            return  # the key switch's own events are not alarms
        for rule in rules_for(self._config, event):
            try:
                self._handle(rule, event)
            except Exception:
                logger.exception("linkage rule %r failed on %s %s", rule.name,
                                 event.kind.value, event.source)

    def _handle(self, rule: LinkageRule, event: Event) -> None:
        key = incident_key(rule, event)
        incident = self._incidents.get(key)
        if event.phase is Phase.STOP:
            if incident is not None and event.source in incident.sources:
                incident.sources.discard(event.source)
                if not incident.sources:
                    self._settle(incident)
            return
        if incident is not None:  # inv. 2: within the incident or its anti-dither
            incident.merged += 1
            if event.phase is Phase.START:
                incident.sources.add(event.source)
                self._cancel_end(incident)
            elif not incident.sources:
                self._settle(incident)
            return
        if not armed(rule, self._config, event.time_us):
            logger.debug("linkage rule %r not armed now; %s %s logged only", rule.name,
                         event.kind.value, event.source)
            return
        disarm = self.disarm(event.time_us)
        incident = Incident(
            key=key, rule=rule, first=event,
            actions=rule.actions() - disarm.suppressed,
            sources={event.source} if event.phase is Phase.START else set(),
            opened_us=_now_us(), disarm=disarm.reason if disarm.disarmed else None)
        self._incidents[key] = incident
        self._begin(incident)
        if not incident.sources:
            self._settle(incident)

    # --- the "test" button ----------------------------------------------------------------

    def test(self, rule: LinkageRule) -> Incident:
        """Fire ``rule`` once, as if an instant event of its kind happened now, whatever
        the arming schedule and disarm say (the installer wants to see it work)."""
        event = Event(rule.kind, rule.source or "test", rule.channel, Phase.PULSE,
                      _now_us(), {"test": True, "rule": rule.name})
        key = f"{rule.name}|test"
        previous = self._incidents.get(key)
        if previous is not None:
            self._end(previous)
        incident = Incident(key=key, rule=rule, first=event, actions=rule.actions(),
                            sources=set(), opened_us=_now_us(), disarm=None, test=True)
        self._incidents[key] = incident
        self._begin(incident)
        self._settle(incident)
        return incident

    def reset_outputs(self) -> None:
        """The manual's "Alarm Reset": relays, buzzer and lamp off now; the incidents go
        on (recording, notifications) but no longer hold them."""
        for relay in self._relays.values():
            relay.reset()
        if self._buzzer is not None:
            self._buzzer.reset()
        if self._lamp is not None:
            self._lamp.reset()

    async def close(self) -> None:
        for incident in list(self._incidents.values()):
            self._cancel_end(incident)
        self._incidents.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- opening and ending ---------------------------------------------------------------

    def _begin(self, incident: Incident) -> None:
        self.fired += 1
        rule, event, holder = incident.rule, incident.first, incident.holder
        actions, done = incident.actions, incident.done
        targets = self._targets
        if Action.RELAY in actions:
            for number in rule.relays:
                relay = self._relay(number)
                if relay is None:
                    done.append(f"relay {number} not driven (mode "
                                f"{self._relay_mode(number)!r})")
                    continue
                relay.hold(holder)
                done.append(f"relay {number} on")
        if Action.BUZZER in actions and self._buzzer is not None:
            self._buzzer.hold(holder)
            done.append("buzzer on")
        if Action.LED in actions and self._lamp is not None and rule.led is not None:
            self._lamp.hold(holder, rule.led)
            done.append(f"alarm lamp {rule.led}")
        if Action.RECORD in actions and targets.recorder is not None:
            kind = _record_kind(event)
            for channel in rule.record:
                try:
                    targets.recorder.start_event(channel, kind, holder)
                except KeyError as exc:
                    done.append(f"channel {channel} not recorded: {exc.args[0]}")
                else:
                    done.append(f"recording channel {channel}")
        if Action.SNAPSHOT in actions and targets.snapshots is not None:
            for channel in rule.snapshot:
                targets.snapshots.request(channel, reason="event",
                                          event_id=event.id or None)
            done.append(f"snapshot of channel {_list(rule.snapshot)}")
        if Action.PTZ in actions and targets.ptz is not None and rule.ptz:
            self._spawn(self._ptz_begin(incident, targets.ptz))
            done.append("PTZ " + ", ".join(
                f"channel {p.channel} preset {p.preset}" if p.preset is not None
                else f"channel {p.channel} tour {_list(p.tour or ())}" for p in rule.ptz))
        self._notify(incident, event)
        self._log(incident, "started")
        self._publish("start", incident.to_dict())

    def _settle(self, incident: Incident) -> None:
        """No source holds the incident any more: it ends after its anti-dither time."""
        self._cancel_end(incident)
        wait = float(incident.rule.anti_dither_seconds)
        if incident.first.phase is Phase.PULSE:
            wait = max(wait, self._pulse_hold_s)
        if wait <= 0:
            self._end(incident)
            return
        incident.end_timer = asyncio.get_running_loop().call_later(
            wait, self._end, incident)

    def _end(self, incident: Incident) -> None:
        if self._incidents.get(incident.key) is not incident:
            return
        del self._incidents[incident.key]
        self._cancel_end(incident)
        rule, holder, actions = incident.rule, incident.holder, incident.actions
        if Action.RELAY in actions:
            for number in rule.relays:
                relay = self._relays.get(number)
                if relay is not None:
                    relay.release(holder, self._latch_s(number))
        if self._buzzer is not None:
            self._buzzer.release(holder)
        if self._lamp is not None:
            self._lamp.release(holder)
        recorder = self._targets.recorder
        if Action.RECORD in actions and recorder is not None:
            kind = _record_kind(incident.first)
            for channel in rule.record:
                with contextlib.suppress(KeyError):  # the camera was removed meanwhile
                    recorder.stop_event(channel, kind, holder)
        if incident.tours and self._targets.ptz is not None:
            self._spawn(self._ptz_end(incident.tours, self._targets.ptz))
        if incident.first.phase is Phase.START:
            first = incident.first
            self._notify(incident, dataclasses.replace(
                first, phase=Phase.STOP, time_us=max(_now_us(), first.time_us),
                start_id=first.id or None, id=0,
                details={**first.details, "merged": incident.merged}))
        self._log(incident, "ended")
        self._publish("stop", incident.to_dict())

    # --- actions --------------------------------------------------------------------------

    def _notify(self, incident: Incident, event: Event) -> None:
        for action in (Action.MQTT, Action.WEBHOOK):
            if action not in incident.actions:
                continue
            send = self._targets.notifiers.get(action)
            if send is None:
                continue
            try:
                send(event)
            except Exception:
                logger.exception("linkage: %s notification failed", action)

    def _log(self, incident: Incident, what: str) -> None:
        audit = self._targets.audit
        if Action.LOG not in incident.actions or audit is None:
            return
        event = incident.first
        if what == "ended":
            details = f"lasted {(_now_us() - incident.opened_us) / 1e6:.1f} s"
            if incident.merged:
                details += f"; {incident.merged} repeat(s) merged (anti-dither)"
        else:
            details = "; ".join(incident.done) or "nothing to do"
            if incident.disarm is not None:
                details += f" ({incident.disarm}: {_silenced(incident)} silenced)"
        audit.record("alarm", f"linkage {incident.rule.name!r} {what}"
                     f"{' (test)' if incident.test else ''}: {event.kind.value} "
                     f"{event.source}", result="alarm", details=details)

    async def _ptz_begin(self, incident: Incident, ptz: Ptz) -> None:
        for action in incident.rule.ptz:
            try:
                if action.preset is not None:
                    camera = await ptz.camera(action.channel)
                    await camera.call_preset(action.preset)
                elif action.tour is not None:
                    stops = tuple(TourStop(p, float(action.dwell_seconds))
                                  for p in action.tour)
                    await ptz.start_tour(action.channel, Tour(stops))
                    incident.tours.append(action.channel)
            except Exception as exc:  # a dome off the bus: say so, do the others
                logger.warning("linkage %r: PTZ on channel %d failed: %s",
                               incident.rule.name, action.channel, exc)

    async def _ptz_end(self, channels: list[int], ptz: Ptz) -> None:
        for channel in channels:
            if not any(channel in i.tours for i in self._incidents.values()):
                await ptz.stop_tour(channel)

    def _relay(self, number: int) -> HeldOutput | None:
        if self._relay_switch is None or self._relay_mode(number) != "auto":
            return None
        relay = self._relays.get(number)
        if relay is None:
            relay = HeldOutput(f"relay {number}", lambda on: self._drive_relay(number, on))
            self._relays[number] = relay
        return relay

    def _drive_relay(self, number: int, on: bool) -> None:
        """Only in mode "auto" (inv. 3): an installer may force a relay while an incident
        holds it, and its latch must not switch the forced relay off."""
        if self._relay_switch is not None and self._relay_mode(number) == "auto":
            self._relay_switch(number, on)

    def _relay_mode(self, number: int) -> str:
        return next((o.mode for o in self._config.alarms.outputs if o.id == number), "auto")

    def _latch_s(self, number: int) -> float:
        return float(next((o.latch_seconds for o in self._config.alarms.outputs
                           if o.id == number), 10))

    def _publish(self, phase: str, data: dict[str, Any]) -> None:
        if self._targets.live is not None:
            self._targets.live.publish(LIVE_TOPIC, {"phase": phase, **data})

    def _cancel_end(self, incident: Incident) -> None:
        if incident.end_timer is not None:
            incident.end_timer.cancel()
            incident.end_timer = None

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


_RECORD_KINDS = {
    EventKind.MOTION: RecordEvent.MOTION,
    EventKind.CAMERA_MOTION: RecordEvent.MOTION,
    EventKind.LINE_CROSSING: RecordEvent.INTELLIGENT,
    EventKind.INTRUSION: RecordEvent.INTELLIGENT,
}
"""How an event's recording is typed (the timeline's colours, the schedule's event
types); every other kind records as an alarm."""


def _record_kind(event: Event) -> RecordEvent:
    return _RECORD_KINDS.get(event.kind, RecordEvent.ALARM)


def _list(values: Sequence[int]) -> str:
    return ", ".join(str(v) for v in values)


def _silenced(incident: Incident) -> str:
    silenced = incident.rule.actions() - incident.actions
    return ", ".join(sorted(str(a) for a in silenced)) or "nothing"


def _now_us() -> int:
    return time.time_ns() // 1000
