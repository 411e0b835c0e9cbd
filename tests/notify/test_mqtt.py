"""The MQTT notifier against a real Mosquitto: event messages, retained ON/OFF states
and Home Assistant discovery for a late subscriber, a broker restart (reconnection, the
state published again, events while down dropped and counted), the last will when the
connection drops, a clean stop, and Home Assistant's birth message."""

from __future__ import annotations

import json
from typing import Any

from nvrd.events.model import Event, EventKind, Phase
from nvrd.notify.payload import iso_time
from tests.notify.broker import Mosquitto, Subscriber, TcpProxy, wait_until
from tests.notify.conftest import MakeNotifier

T0 = 1_714_564_800_250_000  # 2024-05-01T12:00:00.25Z

ALARM_STATE = "nvrd/alarm-in/3/alarm_input/state"
MOTION_STATE = "nvrd/camera/5/motion/state"
LOSS_STATE = "nvrd/camera/5/video_loss/state"
DISCOVERY = "homeassistant/binary_sensor/nvrd-test/{}/config"


def event(kind: EventKind, source: str, phase: Phase, *, channel: int | None = None,
          time_us: int = T0, **details: Any) -> Event:
    return Event(kind, source, channel, phase, time_us, details, id=7)


async def test_an_event_arrives_as_json_and_a_start_sets_the_state_on(
        broker: Mosquitto, make_notifier: MakeNotifier) -> None:
    async with Subscriber(broker.port, "nvrd/#") as live:
        notifier = await make_notifier()
        notifier.on_event(event(EventKind.ALARM_INPUT, "alarm-in:3", Phase.START,
                                contact="NO"))
        message = await live.wait_topic("nvrd/events/alarm_input")
        assert json.loads(message.payload) == {
            "id": 7, "kind": "alarm_input", "source": "alarm-in:3", "channel": None,
            "phase": "start", "time_us": T0, "start_id": None, "details": {"contact": "NO"},
            "time": "2024-05-01T12:00:00.250000Z", "recorder": "Test NVR"}
        assert not message.retain
        assert (await live.wait_topic(ALARM_STATE)).text == "ON"

        # a pulse has no state; the start after it proves nothing else came before
        notifier.on_event(event(EventKind.ILLEGAL_LOGIN, "user:bob@192.0.2.7", Phase.PULSE))
        notifier.on_event(event(EventKind.MOTION, "camera:5", Phase.START, channel=5))
        await live.wait_topic(MOTION_STATE, "ON")
        topics = [m.topic for m in live.messages if m.topic != "nvrd/status"]
        assert topics == ["nvrd/events/alarm_input", ALARM_STATE,
                          "nvrd/events/illegal_login", "nvrd/events/motion", MOTION_STATE]
        assert notifier.status().dropped == 0


async def test_a_late_subscriber_finds_the_states_discovery_and_availability(
        broker: Mosquitto, make_notifier: MakeNotifier) -> None:
    notifier = await make_notifier()
    notifier.announce(EventKind.VIDEO_LOSS, "camera:5", name="Gate video loss",
                      state=False)
    async with Subscriber(broker.port, "nvrd/#") as live:
        notifier.on_event(event(EventKind.MOTION, "camera:5", Phase.START, channel=5))
        notifier.on_event(event(EventKind.MOTION, "camera:5", Phase.STOP, channel=5))
        notifier.on_event(event(EventKind.ALARM_INPUT, "alarm-in:3", Phase.START))
        await live.wait_topic(ALARM_STATE, "ON")

    async with Subscriber(broker.port, "nvrd/#", "homeassistant/#") as late:
        await late.settle()
    retained = {m.topic: m for m in late.messages if m.retain}
    assert {t: m.text for t, m in retained.items() if not t.startswith("homeassistant/")
            } == {"nvrd/status": "online", ALARM_STATE: "ON", MOTION_STATE: "OFF",
                  LOSS_STATE: "OFF"}, "events are not retained; every state is"
    configs = {t: json.loads(m.payload) for t, m in retained.items()
               if t.startswith("homeassistant/")}
    assert set(configs) == {DISCOVERY.format("camera_5_motion"),
                            DISCOVERY.format("camera_5_video_loss"),
                            DISCOVERY.format("alarm-in_3_alarm_input")}
    motion = configs[DISCOVERY.format("camera_5_motion")]
    assert motion == {
        "name": "Motion detection (camera:5)", "unique_id": "nvrd-test_camera_5_motion",
        "state_topic": MOTION_STATE, "payload_on": "ON", "payload_off": "OFF",
        "availability_topic": "nvrd/status", "payload_available": "online",
        "payload_not_available": "offline", "device_class": "motion",
        "device": motion["device"]}
    assert motion["device"]["identifiers"] == ["nvrd-test"]
    assert motion["device"]["name"] == "Test NVR"
    loss = configs[DISCOVERY.format("camera_5_video_loss")]
    assert (loss["name"], loss["device_class"], loss["state_topic"]) == (
        "Gate video loss", "problem", LOSS_STATE)
    assert configs[DISCOVERY.format("alarm-in_3_alarm_input")]["state_topic"] == ALARM_STATE


async def test_after_a_broker_restart_the_notifier_reconnects_and_restores_the_state(
        broker: Mosquitto, make_notifier: MakeNotifier) -> None:
    notifier = await make_notifier()
    async with Subscriber(broker.port, "nvrd/#") as live:
        notifier.on_event(event(EventKind.ALARM_INPUT, "alarm-in:3", Phase.START))
        await live.wait_topic(ALARM_STATE, "ON")

    broker.stop()
    await wait_until(lambda: not notifier.status().connected, "the notifier sees the "
                     "connection lost")
    notifier.on_event(event(EventKind.ALARM_INPUT, "alarm-in:3", Phase.STOP))
    notifier.on_event(event(EventKind.MOTION, "camera:5", Phase.START, channel=5,
                            time_us=T0 + 1))
    assert notifier.status().dropped == 2, "both event messages dropped while down"

    broker.start()  # same port, and no retained messages: persistence is off
    await wait_until(lambda: notifier.status().connections == 2, "reconnected")
    await notifier.wait_synced()
    async with Subscriber(broker.port, "nvrd/#", "homeassistant/#") as late:
        await late.settle()
    retained = {m.topic: m.text for m in late.messages if m.retain}
    assert retained["nvrd/status"] == "online"
    assert retained[ALARM_STATE] == "OFF", "the latest state, not the one before"
    assert retained[MOTION_STATE] == "ON"
    assert DISCOVERY.format("camera_5_motion") in retained
    assert not any("/events/" in topic for topic in retained)
    status = notifier.status()
    assert status.connected and status.last_error is None and status.dropped == 2


async def test_the_broker_publishes_offline_when_the_connection_drops_then_online_again(
        broker: Mosquitto, make_notifier: MakeNotifier) -> None:
    proxy = TcpProxy(broker.port)
    await proxy.start()
    try:
        async with Subscriber(broker.port, "nvrd/status") as watch:
            notifier = await make_notifier(port=proxy.port)
            await watch.wait_topic("nvrd/status", "online")

            cut = len(watch.messages)
            proxy.cut()  # as a network fault would: no DISCONNECT packet
            await watch.wait_topic("nvrd/status", "offline", after=cut)  # the last will
            dropped = len(watch.messages)
            await watch.wait_topic("nvrd/status", "online", after=dropped)
            await wait_until(lambda: notifier.status().connections == 2, "reconnected")

            stopped = len(watch.messages)
            await notifier.stop()  # clean: it says offline itself
            await watch.wait_topic("nvrd/status", "offline", after=stopped)
        statuses = [m.text for m in watch.messages if m.topic == "nvrd/status"]
        assert statuses[-4:] == ["online", "offline", "online", "offline"], statuses
    finally:
        await proxy.close()


async def test_home_assistant_coming_online_gets_discovery_again(
        broker: Mosquitto, make_notifier: MakeNotifier) -> None:
    notifier = await make_notifier()
    notifier.announce(EventKind.ALARM_INPUT, "alarm-in:1", state=False)
    topic = DISCOVERY.format("alarm-in_1_alarm_input")
    async with Subscriber(broker.port, topic) as ha:
        await ha.wait_topic(topic)
        await ha.settle()
        before = len(ha.messages)
        await ha.publish("homeassistant/status", "online")
        again = await ha.wait_topic(topic, after=before)
        assert not again.retain, "published again live, not replayed from the store"
    assert notifier.status().connections == 1


async def test_states_can_be_left_unretained(broker: Mosquitto,
                                             make_notifier: MakeNotifier) -> None:
    notifier = await make_notifier(retain=False, discovery=False)
    async with Subscriber(broker.port, "nvrd/#") as live:
        notifier.on_event(event(EventKind.ALARM_INPUT, "alarm-in:3", Phase.START))
        await live.wait_topic(ALARM_STATE, "ON")
    async with Subscriber(broker.port, "nvrd/#", "homeassistant/#") as late:
        await late.settle()
    assert {m.topic for m in late.messages if m.retain} == {"nvrd/status"}


def test_iso_time_is_exact() -> None:
    assert iso_time(T0) == "2024-05-01T12:00:00.250000Z"
    assert iso_time(0) == "1970-01-01T00:00:00Z"
