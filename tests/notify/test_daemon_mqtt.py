"""MQTT from the real daemon to a real Mosquitto: an alarm contact on the simulated board
goes through the event bus and linkage to the broker — Home Assistant discovery for the
inputs at start, the event message, and the retained ON then OFF state; a rule with
``mqtt = false`` keeps its input's events off the broker."""

from __future__ import annotations

import json
from pathlib import Path

from nvrd.events.model import EventKind
from nvrd.notify import payload as p
from tests.events.harness import running_box
from tests.notify.broker import Mosquitto, Subscriber


async def test_an_alarm_contact_reaches_the_broker_through_linkage(
        tmp_path: Path, broker: Mosquitto) -> None:
    extra = (f'[notify.mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {broker.port}\n'
             'base_topic = "nvr1"\n\n'
             '[[events.rules]]\nname = "quiet"\nkind = "alarm_input"\n'
             'source = "alarm-in:4"\nmqtt = false\n')
    state_3 = p.state_topic("nvr1", EventKind.ALARM_INPUT, "alarm-in:3")
    state_4 = p.state_topic("nvr1", EventKind.ALARM_INPUT, "alarm-in:4")
    async with (Subscriber(broker.port, "nvr1/#", "homeassistant/#") as sub,
                running_box(tmp_path, extra) as box):
        assert box.app.hardware is not None and box.app.hardware.sim is not None
        sim = box.app.hardware.sim
        # announced before any event, with its state (retained)
        await sub.wait_for(lambda m: m.topic.startswith("homeassistant/")
                           and "alarm-in" in m.topic.replace("_", "-"))
        await sub.wait_topic(state_3, "OFF")
        before = len(sub.messages)
        sim.set_alarm_contact(4, closed=True)  # its rule says mqtt = false
        sim.set_alarm_contact(3, closed=True)
        await sub.wait_topic(state_3, "ON", after=before)
        event = await sub.wait_topic(p.event_topic("nvr1", EventKind.ALARM_INPUT),
                                     after=before)
        sim.set_alarm_contact(3, closed=False)
        await sub.wait_topic(state_3, "OFF", after=before)
        sim.set_alarm_contact(4, closed=False)
        await sub.settle()
    sent = json.loads(event.text)
    assert sent["source"] == "alarm-in:3" and sent["phase"] == "start"
    assert not any(m.topic == state_4 and m.text == "ON" for m in sub.messages[before:])
    assert not any("alarm-in:4" in m.text for m in sub.messages[before:]
                   if m.topic.startswith("nvr1/events"))
