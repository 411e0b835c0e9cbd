"""The linkage engine on its own, with outputs that record what they are told: incidents,
anti-dither, latches, disarm, arming, and the test button.

Time-dependent checks use the real loop clock and only lower bounds that a timer cannot
break (a relay still on before its latch is over); the ends are awaited with a deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from nvrd.config import NvrConfig, parse_config
from nvrd.events.model import Action, Event, EventKind, Phase
from nvrd.linkage.engine import LinkageEngine, Targets

HANG_GUARD_S = 10.0


@dataclass
class Board:
    """Outputs as the engine drives them, with the order of what happened."""

    relays: dict[int, bool] = field(default_factory=dict)
    buzzer: bool = False
    lamp: Any = None
    log: list[tuple[str, Any]] = field(default_factory=list)
    recording: dict[int, set[str]] = field(default_factory=dict)
    mqtt: list[Event] = field(default_factory=list)
    webhook: list[Event] = field(default_factory=list)
    snapshots: list[int] = field(default_factory=list)
    audit: list[str] = field(default_factory=list)

    def relay(self, number: int, on: bool) -> None:
        self.relays[number] = on
        self.log.append((f"relay {number}", on))

    def set_buzzer(self, on: bool) -> None:
        self.buzzer = on

    def set_lamp(self, look: Any) -> None:
        self.lamp = look

    def start_event(self, channel: int, kind: Any, source: str = "api") -> None:
        self.recording.setdefault(channel, set()).add(source)

    def stop_event(self, channel: int, kind: Any, source: str = "api") -> None:
        self.recording.get(channel, set()).discard(source)

    def request(self, channel: int, *, reason: str, event_id: int | None) -> None:
        self.snapshots.append(channel)

    def record(self, type: str, action: str, *, result: str = "ok",
               details: str = "") -> None:
        self.audit.append(f"{action}: {details}")

    def targets(self) -> Targets:
        return Targets(relay=self.relay, buzzer=self.set_buzzer, lamp=self.set_lamp,
                       recorder=self, snapshots=self, audit=self,
                       notifiers={Action.MQTT: self.mqtt.append,
                                  Action.WEBHOOK: self.webhook.append})


CAMERAS = "".join(f'[[cameras]]\nchannel = {n}\nmain = {{ url = "rtsp://cam{n}/" }}\n'
                  for n in (1, 2))


def config(rules: str = "", extra: str = "") -> NvrConfig:
    return parse_config(f"{extra}\n{rules}\n{CAMERAS}", "test")


DOOR = """
[[alarms.outputs]]
id = 1
latch_seconds = 1

[[events.rules]]
name = "door"
kind = "alarm_input"
source = "alarm-in:1"
anti_dither_seconds = {dither}
relays = [1]
record = [1, 2]
snapshot = [2]
buzzer = true
led = "blink"
"""


def event(phase: Phase, source: str = "alarm-in:1", kind: EventKind = EventKind.ALARM_INPUT,
          channel: int | None = None) -> Event:
    return Event(kind, source, channel, phase, time.time_ns() // 1000, {}, id=1)


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(HANG_GUARD_S):
        while not condition():
            await asyncio.sleep(0.01)


async def test_an_alarm_drives_everything_and_the_relay_holds_for_its_latch() -> None:
    board = Board()
    engine = LinkageEngine(config(DOOR.format(dither=0)), board.targets())
    engine.on_event(event(Phase.START))
    assert board.relays == {1: True} and board.buzzer and board.lamp is not None
    assert board.recording == {1: {"linkage:door|alarm-in:1"}, 2: {"linkage:door|alarm-in:1"}}
    assert board.snapshots == [2] and len(board.mqtt) == len(board.webhook) == 1
    assert "relay 1 on" in board.audit[0] and "recording channel 2" in board.audit[0]

    engine.on_event(event(Phase.STOP))
    ended = asyncio.get_running_loop().time()
    # what lasts is released; the relay only after its latch (1 s)
    assert not board.buzzer and board.lamp is None
    assert board.recording == {1: set(), 2: set()}
    assert [e.phase for e in board.mqtt] == [Phase.START, Phase.STOP]
    assert board.relays[1] is True
    await until(lambda: board.relays[1] is False)
    assert asyncio.get_running_loop().time() - ended >= 1.0
    assert board.log == [("relay 1", True), ("relay 1", False)]


async def test_anti_dither_merges_a_burst_into_one_incident() -> None:
    board = Board()
    engine = LinkageEngine(config(DOOR.format(dither=1)), board.targets())
    for _ in range(5):  # a chattering contact
        engine.on_event(event(Phase.START))
        engine.on_event(event(Phase.STOP))
        await asyncio.sleep(0.05)
    assert engine.fired == 1
    assert len(board.mqtt) == 1 and len(board.webhook) == 1 and board.snapshots == [2]
    assert board.log == [("relay 1", True)]
    (incident,) = engine.incidents()
    assert incident.merged == 4
    await until(lambda: not engine.incidents())  # 1 s after the last stop
    assert [e.phase for e in board.mqtt] == [Phase.START, Phase.STOP]
    assert board.mqtt[1].details["merged"] == 4
    await until(lambda: board.relays[1] is False)
    assert board.log == [("relay 1", True), ("relay 1", False)]
    # after the window, a new start is a new incident
    engine.on_event(event(Phase.START))
    assert engine.fired == 2 and len(board.mqtt) == 3


async def test_two_incidents_share_a_relay_and_the_latch_counts_from_the_last() -> None:
    rules = DOOR.format(dither=0) + """
[[events.rules]]
name = "window"
kind = "alarm_input"
source = "alarm-in:2"
anti_dither_seconds = 0
relays = [1]
"""
    board = Board()
    engine = LinkageEngine(config(rules), board.targets())
    engine.on_event(event(Phase.START, "alarm-in:1"))
    engine.on_event(event(Phase.START, "alarm-in:2"))
    engine.on_event(event(Phase.STOP, "alarm-in:1"))
    await asyncio.sleep(1.2)  # past door's latch: window still holds the relay
    assert board.relays[1] is True
    engine.on_event(event(Phase.STOP, "alarm-in:2"))
    await until(lambda: board.relays[1] is False)
    assert board.log == [("relay 1", True), ("relay 1", False)]


async def test_a_relay_forced_by_the_installer_is_never_driven() -> None:
    extra = "[[alarms.outputs]]\nid = 2\nmode = \"on\"\n"
    rules = DOOR.format(dither=0).replace("relays = [1]", "relays = [1, 2]")
    board = Board()
    engine = LinkageEngine(config(rules, extra), board.targets())
    engine.on_event(event(Phase.START))
    engine.on_event(event(Phase.STOP))
    assert 2 not in board.relays
    assert "relay 2 not driven (mode 'on')" in board.audit[0]


SUPPRESS_RELAY_AND_MQTT = """
[events.disarm]
enabled = {enabled}
suppress = ["relay", "mqtt"]
"""


@pytest.mark.parametrize("disarmed", [False, True])
async def test_disarm_silences_exactly_the_chosen_actions(disarmed: bool) -> None:
    board = Board()
    cfg = config(DOOR.format(dither=0),
                 SUPPRESS_RELAY_AND_MQTT.format(enabled=str(disarmed).lower()))
    engine = LinkageEngine(cfg, board.targets())
    engine.on_event(event(Phase.START))
    (incident,) = engine.incidents()
    silenced = {Action.RELAY, Action.MQTT} if disarmed else set()
    assert incident.actions == {Action.RECORD, Action.RELAY, Action.SNAPSHOT, Action.BUZZER,
                                Action.LED, Action.LOG, Action.MQTT, Action.WEBHOOK} - silenced
    assert (board.relays == {}) is disarmed
    assert (board.mqtt == []) is disarmed
    # the rest happens either way
    assert board.buzzer and board.lamp is not None and board.snapshots == [2]
    assert len(board.webhook) == 1 and board.recording[1]
    assert ("disarmed by the switch: mqtt, relay silenced" in board.audit[0]) is disarmed


async def test_a_key_switch_input_disarms_and_its_own_events_do_nothing() -> None:
    extra = '[events.disarm]\ninput = 4\nsuppress = ["relay"]\n'
    board = Board()
    active: set[str] = set()
    engine = LinkageEngine(config(DOOR.format(dither=0), extra), board.targets(),
                           input_active=lambda source: source in active)
    active.add("alarm-in:4")
    engine.on_event(event(Phase.START, "alarm-in:4"))
    assert engine.fired == 0 and board.mqtt == []  # the switch is not an alarm
    assert engine.disarm().reason == "disarmed by alarm input 4"
    engine.on_event(event(Phase.START))
    assert board.relays == {} and len(board.mqtt) == 1
    engine.on_event(event(Phase.STOP))
    active.clear()
    engine.on_event(event(Phase.STOP, "alarm-in:4"))
    assert not engine.disarm().disarmed
    engine.on_event(event(Phase.START))
    assert board.relays == {1: True}


async def test_outside_its_arming_schedule_a_rule_does_nothing() -> None:
    # armed only on 1 January (a holiday row): not today, unless today is 1 January
    extra = """
[[recording.holidays]]
name = "new year"
date = 2000-01-01

[[events.schedules]]
name = "never"
[events.schedules.days]
holiday = [{ start = "00:00", end = "24:00" }]
"""
    board = Board()
    engine = LinkageEngine(config(DOOR.format(dither=0).replace(
        'anti_dither_seconds', 'arming = "never"\nanti_dither_seconds'), extra),
        board.targets())
    engine.on_event(event(Phase.START))
    assert engine.fired == 0 and board.relays == {} and board.mqtt == []


async def test_events_without_a_rule_notify_and_motion_records_its_channel() -> None:
    board = Board()
    engine = LinkageEngine(config(), board.targets())
    engine.on_event(event(Phase.START, "camera:2/region:1", EventKind.MOTION, channel=2))
    engine.on_event(event(Phase.START, "camera:2/region:3", EventKind.MOTION, channel=2))
    # two regions of one camera: one incident (inv. 1)
    assert engine.fired == 1 and len(board.mqtt) == 1
    assert board.recording == {2: {"linkage:default|ch2"}}
    assert board.relays == {} and board.audit == []  # no log line by default
    engine.on_event(event(Phase.STOP, "camera:2/region:1", EventKind.MOTION, channel=2))
    assert board.recording[2]  # region 3 still moves
    engine.on_event(event(Phase.STOP, "camera:2/region:3", EventKind.MOTION, channel=2))
    assert board.recording[2] == set()


async def test_an_instant_event_holds_its_outputs_for_the_pulse_hold() -> None:
    rules = """
[[events.rules]]
name = "intruder"
kind = "illegal_login"
anti_dither_seconds = 0
buzzer = true
"""
    board = Board()
    engine = LinkageEngine(config(rules), board.targets(), pulse_hold_s=0.3)
    engine.on_event(event(Phase.PULSE, "user:x@192.0.2.1", EventKind.ILLEGAL_LOGIN))
    assert board.buzzer
    await until(lambda: not board.buzzer)
    assert len(board.mqtt) == 1  # a pulse has no stop to send


async def test_the_test_button_fires_a_rule_even_when_disarmed() -> None:
    board = Board()
    cfg = config(DOOR.format(dither=0), SUPPRESS_RELAY_AND_MQTT.format(enabled="true"))
    engine = LinkageEngine(cfg, board.targets(), pulse_hold_s=0.2)
    incident = engine.test(cfg.events.rules[0])
    assert incident.test and board.relays == {1: True} and board.mqtt[0].details["test"]
    await until(lambda: board.relays.get(1) is False)


async def test_alarm_reset_switches_outputs_off_during_an_incident() -> None:
    board = Board()
    engine = LinkageEngine(config(DOOR.format(dither=0)), board.targets())
    engine.on_event(event(Phase.START))
    engine.reset_outputs()
    assert board.relays == {1: False} and not board.buzzer and board.lamp is None
    assert board.recording[1]  # the incident goes on
