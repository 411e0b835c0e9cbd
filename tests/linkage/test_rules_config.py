"""Linkage settings as an installer writes them: what is refused and why, which rules
an event sets off, and when a box counts as disarmed."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from nvrd.config import ConfigError, NvrConfig, parse_config
from nvrd.events.model import Action, Event, EventKind, Phase
from nvrd.linkage.rules import DEFAULT_RULE_NAME, disarm_state, matches, rules_for

CAMERA = '[[cameras]]\nchannel = 1\nmain = { url = "rtsp://cam/" }\n'


def config(text: str) -> NvrConfig:
    return parse_config(text + "\n" + CAMERA, "test")


def refused(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        config(text)
    return str(caught.value)


def rule(body: str, name: str = "r") -> str:
    return f'[[events.rules]]\nname = "{name}"\n{body}\n'


@pytest.mark.parametrize(("body", "message"), [
    ('kind = "disk_error"\nrecord = [1]',
     "events.rules[0].record: Disk error events do not offer this action"),
    ('kind = "illegal_login"\nptz = [{ channel = 1, preset = 2 }]',
     "events.rules[0].ptz: Illegal login events do not offer this action"),
    ('kind = "alarm_input"\nrecord = [5]',
     "events.rules[0].record[0]: rule 'r': no camera on channel 5"),
    ('kind = "alarm_input"\narming = "nights"',
     "events.rules[0].arming: no schedule of that name in events.schedules"),
    ('kind = "alarm_input"\nptz = [{ channel = 1 }]', "give either preset = N or tour"),
    ('kind = "alarm_input"\nanti_dither_seconds = 601', "anti_dither_seconds"),
    ('kind = "alarm_input"\nled = "disco"', "led"),
])
def test_a_wrong_rule_is_refused_naming_the_setting(body: str, message: str) -> None:
    assert message in refused(rule(body))


def test_rule_names_are_unique_and_always_is_built_in() -> None:
    assert "another rule has this name" in refused(
        rule('kind = "motion"') + rule('kind = "video_loss"'))
    assert "is built in" in refused('[[events.schedules]]\nname = "always"\n')
    assert "disarm.schedule: no schedule" in refused('[events.disarm]\nschedule = "x"\n')


def ev(kind: EventKind, source: str, channel: int | None = None) -> Event:
    return Event(kind, source, channel, Phase.START, 0)


def test_a_rule_matches_its_source_what_is_under_it_and_its_channel() -> None:
    cfg = config(rule('kind = "motion"\nsource = "camera:1"', "cam")
                 + rule('kind = "alarm_input"\nsource = "alarm-in:1"', "in1"))
    cam, in1 = cfg.events.rules
    assert matches(cam, ev(EventKind.MOTION, "camera:1/region:2", 1))
    assert not matches(cam, ev(EventKind.MOTION, "camera:10/region:2", 10))
    assert not matches(in1, ev(EventKind.ALARM_INPUT, "alarm-in:11"))
    assert not matches(in1, ev(EventKind.VIDEO_LOSS, "alarm-in:1"))


def test_a_disabled_rule_silences_its_events_and_others_get_the_default() -> None:
    cfg = config(rule('kind = "alarm_input"\nsource = "alarm-in:1"\nenabled = false'))
    assert rules_for(cfg, ev(EventKind.ALARM_INPUT, "alarm-in:1")) == []
    (default,) = rules_for(cfg, ev(EventKind.ALARM_INPUT, "alarm-in:2"))
    assert default.name == DEFAULT_RULE_NAME
    assert default.actions() == {Action.MQTT, Action.WEBHOOK}
    (motion,) = rules_for(cfg, ev(EventKind.MOTION, "camera:1/region:1", 1))
    assert motion.record == (1,)


def at(local: str, tz: str = "Europe/Paris") -> int:
    moment = dt.datetime.fromisoformat(local).replace(tzinfo=zoneinfo.ZoneInfo(tz))
    return int(moment.timestamp() * 1_000_000)


NIGHTS = """
[system]
timezone = "Europe/Paris"

[[events.schedules]]
name = "nights"
days = { monday = [{ start = "00:00", end = "07:00" }] }

[events.disarm]
enabled = {enabled}
schedule = "nights"
suppress = ["buzzer"]
"""


def test_the_disarm_schedule_applies_in_its_periods_unless_the_switch_is_on() -> None:
    scheduled = config(NIGHTS.replace("{enabled}", "false"))
    monday_night, monday_noon = at("2026-11-23T03:00"), at("2026-11-23T12:00")
    state = disarm_state(scheduled, monday_night, lambda source: False)
    assert state.disarmed and state.reason == "disarmed by schedule 'nights'"
    assert state.suppressed == {Action.BUZZER}
    assert not disarm_state(scheduled, monday_noon, lambda source: False).disarmed
    switched = config(NIGHTS.replace("{enabled}", "true"))
    assert disarm_state(switched, monday_noon, lambda s: False).reason == \
        "disarmed by the switch"
