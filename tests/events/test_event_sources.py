"""The event engine in the real daemon (simulated board, real HTTPS client): an alarm
contact, a refused login and a camera that stops sending each become events in the
event log (searched through the API) and on the live event stream.

One daemon serves the module; each test uses its own input, user or camera.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.events.harness import HANG_GUARD_S, Box, running_box
from tools.fakecam.control import CameraSpec, StartFakeCams, StreamSpec

pytestmark = pytest.mark.asyncio(loop_scope="module")

SMALL = StreamSpec(320, 240, 25, 25, 300)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def box(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Box]:
    async with running_box(tmp_path_factory.mktemp("events")) as running:
        yield running


def now_us() -> int:
    return time.time_ns() // 1000


def of(kind: str, source: str, phase: str) -> Any:
    return lambda e: (e["kind"], e["source"], e["phase"]) == (kind, source, phase)


async def test_an_alarm_contact_starts_and_stops_an_event(box: Box) -> None:
    sim = box.app.hardware.sim if box.app.hardware is not None else None
    assert sim is not None
    async with box.live() as live:
        before = now_us()
        sim.set_alarm_contact(2, closed=True)  # NO contact: closed is an alarm
        start = await live.event(of("alarm_input", "alarm-in:2", "start"))
        sim.set_alarm_contact(2, closed=False)
        stop = await live.event(of("alarm_input", "alarm-in:2", "stop"))
    assert start["channel"] is None and start["details"]["contact"] == "NO"
    assert before <= start["time_us"] <= stop["time_us"] <= now_us()
    assert stop["start_id"] == start["id"]
    logged = await box.logged(lambda e: e["id"] == start["id"] and e["end_us"] is not None,
                              kind="alarm_input", source="alarm-in:2")
    assert logged["end_us"] == stop["time_us"] and logged["phase"] == "start"


async def test_a_refused_login_is_an_illegal_login_event(box: Box) -> None:
    async with box.live() as live:
        client = box.new_client()
        status, _ = await box.call(client, "POST", "/api/v1/session",
                                   json={"username": "mallory", "password": "guess-1234"})
        assert status == 401
        pulse = await live.event(of("illegal_login", "user:mallory@127.0.0.1", "pulse"))
    assert pulse["details"]["user"] == "mallory"
    await box.logged(lambda e: e["id"] == pulse["id"], kind="illegal_login")


async def test_a_camera_that_stops_sending_is_a_video_loss_matching_the_outage(
        box: Box, fakecams: StartFakeCams) -> None:
    cams = fakecams([CameraSpec("cam7", SMALL, None)])
    url = cams.url("cam7", "main")

    def add(table: dict[str, Any]) -> None:
        table.setdefault("cameras", []).append({"channel": 7, "main": {"url": url}})

    def remove(table: dict[str, Any]) -> None:
        table["cameras"] = [c for c in table["cameras"] if c["channel"] != 7]

    await box.app.change_config(add, what="test camera", user="test", source="test")
    ingest = box.app.ingest
    assert ingest is not None
    try:
        async with asyncio.timeout(HANG_GUARD_S):
            while not any(c.channel == 7 and c.online for c in ingest.snapshot()):
                await asyncio.sleep(0.1)
        async with box.live() as live:
            lost_after = now_us()
            cams.stall("cam7", "main")
            start = await live.event(of("video_loss", "camera:7", "start"))
            back_after = now_us()
            cams.resume("cam7", "main")
            stop = await live.event(of("video_loss", "camera:7", "stop"))
        assert start["channel"] == 7 and stop["start_id"] == start["id"]
        assert lost_after <= start["time_us"] <= back_after <= stop["time_us"]
        assert "no video from the camera" in start["details"]["error"]
        logged = await box.logged(lambda e: e["id"] == start["id"] and e["end_us"],
                                  channel=7, kind="video_loss")
        assert logged["end_us"] == stop["time_us"]
    finally:
        await box.app.change_config(remove, what="test camera", user="test", source="test")
