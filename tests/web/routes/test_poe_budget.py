"""``GET /api/v1/poe/budget`` against the real daemon on the simulated board: the budget
the manager enforces, and allocated and drawn power that follow a powered device plugged
into a port (through the simulated board's own control commands); refused without the
``camera`` right."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from hal.poe.budget import CLASS_POWER_MW
from tests.events.harness import HANG_GUARD_S, Box, running_box

PD_CLASS = 2
PD_DRAW_MW = 4_000
PORT = 3


@pytest_asyncio.fixture
async def box(tmp_path: Any) -> AsyncIterator[Box]:
    async with running_box(tmp_path) as running:
        yield running


async def budget(box: Box) -> dict[str, Any]:
    status, body = await box.call(box.admin, "GET", "/api/v1/poe/budget")
    assert status == 200, body
    return dict(body)


async def test_the_budget_follows_a_powered_device(box: Box) -> None:
    hardware = box.app.hardware
    assert hardware is not None and hardware.sim is not None
    board_budget_mw = hardware.board.poe.total_budget_mw  # type: ignore[union-attr]
    status, ports = await box.call(box.admin, "GET", "/api/v1/poe")
    assert status == 200, ports

    before = await budget(box)
    assert 0 < before["budget_mw"] <= board_budget_mw, (before, board_budget_mw)
    assert before["ports"] == len(ports)
    assert before["ports_delivering"] == sum(p["power"] == "delivering" for p in ports)

    plug = next(c for c in hardware.sim.commands() if c.name == "poe plug")
    plug.handler(port=PORT, pd_class=PD_CLASS, power_mw=PD_DRAW_MW)
    async with asyncio.timeout(HANG_GUARD_S):
        while (now := await budget(box))["ports_delivering"] <= before["ports_delivering"] \
                or now["drawn_mw"] == before["drawn_mw"]:
            await asyncio.sleep(0.1)
    assert now["budget_mw"] == before["budget_mw"]
    assert now["allocated_mw"] == before["allocated_mw"] + CLASS_POWER_MW[PD_CLASS], now
    assert now["drawn_mw"] > before["drawn_mw"], now
    # the same totals as the ports' own numbers
    status, ports = await box.call(box.admin, "GET", "/api/v1/poe")
    assert status == 200, ports
    port = next(p for p in ports if p["port"] == PORT)
    assert port["power"] == "delivering" and port["pd_class"] == PD_CLASS, port
    assert now["allocated_mw"] == sum(p["allocated_mw"] for p in ports)


@pytest.mark.parametrize("rights", [{"all_channels": ["live", "playback"]}])
async def test_refused_without_the_camera_right(box: Box, rights: dict[str, Any]) -> None:
    viewer = await box.user("viewer", rights)
    status, body = await box.call(viewer, "GET", "/api/v1/poe/budget")
    assert status == 403 and body["error"]["code"] == "forbidden", body
    assert "camera" in body["error"]["message"]
