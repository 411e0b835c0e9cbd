"""The PSE's INT pin: a powered device plugged in is handled when the chip raises INT,
not at the next poll (which the test puts an hour away)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hal.board import PoeSection
from hal.poe import PoeEvent, PoeEventKind
from hal.sim.gpio import SimGpioBackend, SimGpioChip, SimGpioRegistry
from hal.sim.smbus import SimSMBus
from hal.sim.tps23861 import Tps23861Model
from nvrd.config import parse_config
from nvrd.hardware import poe as poe_module
from nvrd.hardware.poe import PoePorts
from nvrd.system.auditlog import AuditLog

INT_LINE = 5
SECTION = PoeSection.model_validate({
    "budget_mw": 60_000,
    "controllers": [{"id": "pse0", "kind": "tps23861", "i2c_bus": 1, "address": 0x20,
                     "interrupt": {"chip": "int-chip", "line": INT_LINE,
                                   "active_low": True}}],
    "ports": [{"port": 1, "controller": "pse0", "channel": 0, "camera_channel": 1}]})


class WiredBus(SimSMBus):
    """The chip's open-drain INT output wired to a gpiochip line: after every bus
    transaction the line follows the model (low while an unmasked event is pending)."""

    def __init__(self, model: Tps23861Model, line: SimGpioChip) -> None:
        super().__init__("sim-i2c1")
        self.model, self.line = model, line
        self.attach(0x20, model)

    def _follow(self) -> None:
        self.line.set_input_level(INT_LINE, not self.model.interrupt_asserted)

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        try:
            return super().read_byte_data(i2c_addr, register, force)
        finally:
            self._follow()

    def write_byte_data(self, i2c_addr: int, register: int, value: int,
                        force: bool | None = None) -> None:
        try:
            super().write_byte_data(i2c_addr, register, value, force)
        finally:
            self._follow()


async def test_a_plugged_camera_is_powered_on_the_interrupt(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.setattr(poe_module, "SLOW_POLL_INTERVAL_S", 3600.0)
    monkeypatch.setattr(poe_module, "POLL_INTERVAL_S", 3600.0)
    chip = SimGpioChip("int-chip", 8)
    chip.set_input_level(INT_LINE, True)  # pulled up: not asserted
    model = Tps23861Model()
    bus = WiredBus(model, chip)
    audit = AuditLog(tmp_path / "audit.db", 100)
    await audit.start()
    ports = PoePorts(SECTION, parse_config("schema_version = 1", "t"), audit,
                     gpio=SimGpioBackend(SimGpioRegistry([chip])),
                     smbus_factory=lambda _bus: bus)
    powered = asyncio.Event()
    events: list[PoeEvent] = []

    def on_event(event: PoeEvent) -> None:
        events.append(event)
        if event.kind is PoeEventKind.POWERED:
            powered.set()

    ports.on_event(on_event)
    # count the polls: the one at start and the periodic loop's first; the next periodic
    # one is an hour away, so any poll after those two is the interrupt's
    manager = ports.opened.manager
    polls: list[None] = []
    two_polls = asyncio.Event()
    real_poll = manager.poll

    async def counting_poll() -> list[PoeEvent]:
        result = await real_poll()
        polls.append(None)
        if len(polls) >= 2:
            two_polls.set()
        return result

    manager.poll = counting_poll  # type: ignore[method-assign]
    await ports.start()
    try:
        assert chip.line_info(INT_LINE).used, "the INT line is claimed"
        await asyncio.wait_for(two_polls.wait(), 5)
        model.plug(0, pd_class=3, power_mw=6_000)  # the chip detects, classifies, raises INT
        chip.set_input_level(INT_LINE, not model.interrupt_asserted)
        await asyncio.wait_for(powered.wait(), 5)
        status = {p.port: p for p in ports.status()}
        assert status[1].power.value == "delivering" and status[1].pd_class == 3
        assert not model.interrupt_asserted, "the poll cleared what the chip latched"
        assert len(polls) == 3, "one poll, on the interrupt"
    finally:
        await ports.close()
        await audit.stop()
    assert not chip.line_info(INT_LINE).used, "released on close"

