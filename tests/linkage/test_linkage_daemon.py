"""Linkage in the real daemon (simulated board, a virtual camera, a real volume, HTTPS):
an alarm contact drives its relay for the latch time, records its channel with the
pre-record footage before the alarm, calls a PTZ preset (the frame is seen on the RS-485
pty), and shows in the event log and on the live stream; the API's settings, one-switch
disarm, test button and alarm reset act on the same engine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from hal.ptz import PtzProtocol
from hal.ptz.commands import describe
from nvrd.storage.model import RecordType
from nvrd.storage.volume import prepare_volume
from tests.daemon_harness import RECORDING_VOLUME
from tests.events.harness import HANG_GUARD_S, Box, running_box
from tools.fakecam.control import CameraSpec, StartFakeCams, StreamSpec

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

SMALL = StreamSpec(320, 240, 25, 25, 300)
LATCH_S = 2
PRE_RECORD_S = 3
ALARM_ALL_DAY = [{"start": "00:00", "end": "24:00", "type": "alarm"}]
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
        "holiday")
DOOR_RULE = {"name": "door", "kind": "alarm_input", "source": "alarm-in:1",
             "anti_dither_seconds": 0, "relays": [1], "record": [1],
             "ptz": [{"channel": 1, "preset": 3}], "led": "fast_blink"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def box(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Box]:
    data = tmp_path_factory.mktemp("linkage")
    prepare_volume(data / "v1", "v1")
    async with running_box(data, RECORDING_VOLUME) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def camera(box: Box, fakecams: StartFakeCams) -> AsyncIterator[int]:
    """Channel 1 on a virtual camera with a Pelco-D dome at address 1, recording on
    alarms only, with the door rule; gone again after the test."""
    cams = fakecams([CameraSpec("cam1", SMALL, None)])

    def add(table: dict[str, Any]) -> None:
        table.setdefault("recording", {})["schedules"] = [
            {"name": "alarms", "days": {day: ALARM_ALL_DAY for day in DAYS}}]
        table.setdefault("cameras", []).append({
            "channel": 1, "main": {"url": cams.url("cam1", "main")}, "schedule": "alarms",
            "pre_record_seconds": PRE_RECORD_S, "post_record_seconds": 10,
            "record_sub": False, "ptz": {"protocol": "pelco-d", "address": 1}})
        table.setdefault("alarms", {})["outputs"] = [{"id": 1, "latch_seconds": LATCH_S}]
        table.setdefault("events", {})["rules"] = [DOOR_RULE]

    def remove(table: dict[str, Any]) -> None:
        table["events"]["rules"] = []
        table["cameras"] = []

    await box.app.change_config(add, what="test camera", user="test", source="test")
    try:
        yield 1
    finally:
        await box.app.change_config(remove, what="test camera", user="test", source="test")


def now_us() -> int:
    return time.time_ns() // 1000


async def until(condition: Any, what: str) -> None:
    async with asyncio.timeout(HANG_GUARD_S):
        while not condition():
            await asyncio.sleep(0.05)


def relay_on(box: Box, number: int) -> bool:
    assert box.app.hardware is not None and box.app.hardware.sim is not None
    relays = box.app.hardware.sim.relays()["relays"]
    return bool(next(r for r in relays if r["number"] == number)["on"])


async def online_long_enough(box: Box, channel: int, seconds: float) -> None:
    """Until the camera has sent for ``seconds`` (so the pre-record buffer is full)."""
    assert box.app.ingest is not None
    ingest = box.app.ingest

    def ready() -> bool:
        for status in ingest.snapshot():
            main = status.streams.get("main") if status.channel == channel else None
            if main is not None and main.online and main.online_since_us is not None:
                return now_us() - main.online_since_us >= seconds * 1_000_000
        return False

    await until(ready, "camera online")


async def test_an_alarm_contact_drives_relay_recording_ptz_log_and_live(
        box: Box, camera: int) -> None:
    hardware, storage = box.app.hardware, box.app.storage
    assert hardware is not None and hardware.sim is not None and storage is not None
    sim = hardware.sim
    assert sim.ptz is not None
    dome = sim.ptz.dome(PtzProtocol.PELCO_D, 1)
    await online_long_enough(box, camera, PRE_RECORD_S + 1.5)
    async with box.live() as live:
        edge_us = now_us()
        sim.set_alarm_contact(1, closed=True)
        start = await live.event(lambda e: (e["source"], e["phase"]) == ("alarm-in:1",
                                                                           "start"))
        await until(lambda: relay_on(box, 1), "relay 1 on")
        await until(lambda: dome.snapshot().last_preset_called == 3, "preset 3 called")
        assert any(describe(f.command) == "call preset 3" and f.address == 1
                   for f in sim.ptz.frames)
        assert hardware.panel is not None and hardware.panel.state is not None
        assert hardware.panel.state.alarm_look is not None  # fast blink asked
        await asyncio.sleep(2.0)  # some alarm footage after the edge
        sim.set_alarm_contact(1, closed=False)
        await live.event(lambda e: (e["source"], e["phase"]) == ("alarm-in:1", "stop"))
    released = time.monotonic()
    # the relay stays on for its latch after the alarm, then goes off
    assert relay_on(box, 1)
    await until(lambda: not relay_on(box, 1), "relay 1 off after the latch")
    assert time.monotonic() - released >= LATCH_S - 0.1
    log = sim.relays()["log"]
    ons = [c for c in log if c["output"] == "relay 1" and c["on"]]
    offs = [c for c in log if c["output"] == "relay 1" and not c["on"] and not c["released"]]
    assert ons and offs and offs[-1]["timestamp_ns"] - ons[-1]["timestamp_ns"] >= (
        2.0 + LATCH_S - 0.1) * 1e9

    # alarm footage in the catalog, beginning before the edge (the pre-record)
    async def alarm_spans() -> list[Any]:
        return await storage.intervals(camera, "main", edge_us - 30_000_000, now_us(),
                                       int(RecordType.ALARM))

    async with asyncio.timeout(HANG_GUARD_S):
        while not (spans := await alarm_spans()):
            await asyncio.sleep(0.2)
    assert spans[0].start_us <= edge_us - 1_000_000, (
        f"alarm footage starts {(spans[0].start_us - edge_us) / 1e6:+.2f} s from the edge; "
        f"the pre-record ({PRE_RECORD_S} s) should reach before it")
    assert spans[0].start_us >= edge_us - (PRE_RECORD_S + 1.5) * 1_000_000

    # the event log has it, with its stop; the audit log says what linkage did
    logged = await box.logged(lambda e: e["id"] == start["id"] and e["end_us"] is not None,
                              source="alarm-in:1")
    assert logged["kind"] == "alarm_input"
    async with asyncio.timeout(HANG_GUARD_S):  # the audit log is written in batches
        while "linkage 'door' started" not in (text := str(await box.call(
                box.admin, "GET", "/api/v1/logs", params={"type": "alarm"}))):
            await asyncio.sleep(0.2)
    assert "linkage 'door' started" in text and "relay 1 on" in text
    assert "recording channel 1" in text and "channel 1 preset 3" in text


async def test_the_api_tests_a_rule_disarms_and_resets(box: Box, camera: int) -> None:
    assert box.app.hardware is not None and box.app.hardware.sim is not None
    sim = box.app.hardware.sim
    status, settings = await box.call(box.admin, "GET", "/api/v1/events/linkage/settings")
    assert status == 200 and [r["name"] for r in settings["rules"]] == ["door"]

    # a rule the kind does not offer is refused, naming the setting; nothing changes
    bad = {**DOOR_RULE, "name": "disk", "kind": "disk_error", "source": ""}
    status, body = await box.call(box.admin, "PUT", "/api/v1/events/linkage/settings",
                                  json={"rules": [DOOR_RULE, bad]})
    assert status == 422 and "do not offer this action" in str(body), body

    # the test button drives the relay at once
    status, incident = await box.call(box.admin, "POST", "/api/v1/events/rules/door/test")
    assert status == 200 and incident["test"] and "relay 1 on" in incident["done"]
    assert relay_on(box, 1)
    status, state = await box.call(box.admin, "POST", "/api/v1/alarms/outputs/reset")
    assert status == 200 and not relay_on(box, 1)
    assert state["outputs"]["relays"]["1"] == {"on": False, "held_by": []}
    status, _ = await box.call(box.admin, "POST", "/api/v1/events/rules/nope/test")
    assert status == 404

    # disarmed: the contact is logged but the relay (silenced) stays off
    status, disarm = await box.call(box.admin, "PUT", "/api/v1/events/disarm",
                                    json={"enabled": True})
    assert status == 200 and disarm["disarmed"] and "relay" in disarm["suppressed"]
    try:
        async with box.live() as live:
            sim.set_alarm_contact(1, closed=True)
            await live.event(lambda e: (e["source"], e["phase"]) == ("alarm-in:1", "start"))
            status, now = await box.call(box.admin, "GET", "/api/v1/events/linkage")
            assert status == 200
            (incident,) = [i for i in now["incidents"] if i["rule"] == "door"
                           and not i["test"]]
            assert "relay" not in incident["actions"] and "record" in incident["actions"]
            assert incident["disarm"] == "disarmed by the switch"
            assert not relay_on(box, 1)
            sim.set_alarm_contact(1, closed=False)
            await live.event(lambda e: (e["source"], e["phase"]) == ("alarm-in:1", "stop"))
    finally:
        status, disarm = await box.call(box.admin, "PUT", "/api/v1/events/disarm",
                                        json={"enabled": False})
        assert status == 200 and not disarm["disarmed"]


async def test_a_user_without_the_events_right_cannot_touch_linkage(box: Box) -> None:
    viewer = await box.user("viewer", {"system": [], "channels": {}})
    for method, path in (("GET", "/api/v1/events/linkage"),
                         ("PUT", "/api/v1/events/disarm"),
                         ("POST", "/api/v1/events/rules/door/test"),
                         ("POST", "/api/v1/alarms/outputs/reset")):
        kwargs = {"json": {"enabled": True}} if method == "PUT" else {}
        status, _ = await box.call(viewer, method, path, **kwargs)
        assert status == 403, (method, path)
