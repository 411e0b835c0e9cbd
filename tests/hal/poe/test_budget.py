"""The budget manager (hal/poe/budget.py rules 1-5) against the real TPS23861 driver on
simulated chips: what it sheds, what it refuses, and that admin state is never overridden."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hal.board import PoeSection, load_board_profile
from hal.poe import OpenedPoe, open_poe
from hal.poe.base import PortPower
from hal.poe.budget import (
    PoeEvent,
    PoeEventKind,
    PortNotEnabled,
    PowerBudgetExceeded,
    UnknownPort,
    class_allocation_mw,
)
from hal.sim.tps23861 import SimPse, SimSMBus, Tps23861Model
from tests.hal.poe.helpers import FakeClock, RecordingSleep

BOARDS = Path(__file__).resolve().parents[3] / "config" / "boards"


def section(budget_mw: int, ports: list[dict[str, Any]]) -> PoeSection:
    return PoeSection.model_validate({
        "budget_mw": budget_mw,
        "controllers": [{"id": "pse0", "kind": "sim", "channels": 4}],
        "ports": [{"controller": "pse0", "channel": p["port"] - 1,
                   "camera_channel": p["port"], **p} for p in ports]})


FOUR = [{"port": 1, "priority": "critical"}, {"port": 2, "priority": "high"},
        {"port": 3, "priority": "low"}, {"port": 4, "priority": "low"}]


class Rig:
    def __init__(self, sec: PoeSection, clock: FakeClock, sleep: RecordingSleep) -> None:
        self.events: list[PoeEvent] = []
        self.poe: OpenedPoe = open_poe(sec, on_event=self.events.append, clock=clock,
                                       sleep=sleep)
        self.manager = self.poe.manager
        self.sim: SimPse = self.poe.sim["pse0"]

    def powered(self) -> set[int]:
        return {s.port for s in self.manager.status() if s.power is PortPower.DELIVERING}

    def of(self, kind: PoeEventKind) -> list[PoeEvent]:
        return [e for e in self.events if e.kind is kind]


@pytest.fixture
def rig_factory(clock: FakeClock, sleep: RecordingSleep) -> Any:
    return lambda sec: Rig(sec, clock, sleep)


def test_class_allocation() -> None:
    assert class_allocation_mw(4, 30_000) == 30_000
    assert class_allocation_mw(4, 15_400) == 15_400  # an af port powers class 4 at 15.4 W
    assert class_allocation_mw(0, 30_000) == 15_400
    assert class_allocation_mw(None, 25_500) == 25_500


async def test_status_reports_chassis_ports_and_camera_channels(rig_factory: Any) -> None:
    rig: Rig = rig_factory(section(60_000, FOUR))
    rig.sim.plug(1, pd_class=2, power_mw=5_000)  # controller channel 1 = chassis port 2
    await rig.manager.start()
    status = {s.port: s for s in rig.manager.status()}
    assert sorted(status) == [1, 2, 3, 4]
    assert status[2].camera_channel == 2 and status[2].channel == 1
    assert status[2].power is PortPower.DELIVERING and status[2].pd_class == 2
    assert status[2].allocated_mw == 7_000
    assert 4_980 <= (status[2].power_mw or 0) <= 5_020
    assert status[1].power is PortPower.SEARCHING and status[1].allocated_mw == 0


async def test_class_overload_sheds_lowest_priority_then_highest_port(
        rig_factory: Any) -> None:
    rig: Rig = rig_factory(section(40_000, FOUR))
    for channel in range(4):
        rig.sim.plug(channel, pd_class=3, power_mw=8_000)  # 15.4 W allocated each
    await rig.manager.start()
    shed = rig.of(PoeEventKind.BUDGET_EXCEEDED)
    assert [e.port for e in shed] == [4, 3]  # both "low": port 4 first
    assert all(e.detail and e.detail.startswith("shed") for e in shed)
    assert rig.powered() == {1, 2}
    assert not rig.sim.port(2).power_enabled and not rig.sim.port(3).power_enabled
    status = {s.port: s for s in rig.manager.status()}
    assert status[4].shed and status[4].admin_enabled
    assert rig.manager.allocated_mw == 30_800
    await rig.manager.poll()
    assert rig.powered() == {1, 2}  # stable: nothing restored that does not fit


async def test_measured_draw_overload_sheds_too(rig_factory: Any) -> None:
    rig: Rig = rig_factory(section(25_000, [
        {"port": 1, "priority": "critical", "budget_mw": 15_400},
        {"port": 2, "priority": "low", "budget_mw": 15_400}]))
    rig.sim.plug(0, pd_class=1, power_mw=14_000)  # class 1 allocates 4 W but draws 14 W
    rig.sim.plug(1, pd_class=1, power_mw=14_000)
    await rig.manager.start()
    assert rig.manager.allocated_mw <= 8_000
    assert [e.port for e in rig.of(PoeEventKind.BUDGET_EXCEEDED)] == [2]
    assert rig.powered() == {1}


async def test_port_over_its_own_allowance_is_shed_whatever_its_priority(
        rig_factory: Any) -> None:
    rig: Rig = rig_factory(section(120_000, [{"port": 1, "priority": "critical",
                                              "budget_mw": 15_400}]))
    rig.sim.plug(0, pd_class=4, power_mw=20_000)
    await rig.manager.start()
    (event,) = rig.of(PoeEventKind.BUDGET_EXCEEDED)
    assert event.port == 1 and "allowance" in (event.detail or "")
    assert rig.powered() == set()


async def test_enable_over_budget_is_refused_and_changes_nothing(rig_factory: Any) -> None:
    rig: Rig = rig_factory(section(40_000, FOUR))
    rig.sim.plug(0, pd_class=3, power_mw=8_000)
    rig.sim.plug(1, pd_class=3, power_mw=8_000)
    rig.sim.plug(2, pd_class=1, power_mw=3_000)
    await rig.manager.start({3: False, 4: False})
    with pytest.raises(PowerBudgetExceeded) as info:
        await rig.manager.enable(3)  # allowance 30 W, 40 - 30.8 = 9.2 W left
    assert (info.value.port, info.value.needed_mw, info.value.available_mw) \
        == (3, 30_000, 9_200)
    (event,) = rig.of(PoeEventKind.BUDGET_EXCEEDED)
    assert event.port == 3 and (event.detail or "").startswith("refused")
    assert rig.manager.admin_states()[3] is False
    await rig.manager.poll()
    assert not rig.sim.port(2).power_enabled
    with pytest.raises(UnknownPort):
        await rig.manager.enable(9)


async def test_enable_that_fits_powers_and_reserves(rig_factory: Any,
                                                    clock: FakeClock) -> None:
    rig: Rig = rig_factory(section(40_000, FOUR))
    await rig.manager.start({3: False, 4: False})
    await rig.manager.enable(3)
    assert rig.manager.allocated_mw == 30_000  # held for its PD (rule 2)
    with pytest.raises(PowerBudgetExceeded):
        await rig.manager.enable(4)
    clock.advance(11)
    assert rig.manager.allocated_mw == 0  # nothing plugged in: the reservation lapsed
    rig.sim.plug(2, pd_class=2, power_mw=5_000)
    await rig.manager.poll()
    assert rig.powered() == {3}
    assert rig.manager.admin_states() == {1: True, 2: True, 3: True, 4: False}


async def test_admin_disabled_port_stays_off(rig_factory: Any, clock: FakeClock) -> None:
    rig: Rig = rig_factory(section(120_000, FOUR))
    rig.sim.plug(2, pd_class=2, power_mw=5_000)
    await rig.manager.start({3: False})
    for _ in range(3):
        clock.advance(10)
        await rig.manager.poll()
    assert not rig.sim.port(2).power_enabled
    # Someone enables it behind our back: the next poll switches it off again.
    await rig.poe.controllers["pse0"].enable(2)
    assert rig.sim.port(2).power_good
    await rig.manager.poll()
    assert not rig.sim.port(2).power_enabled
    with pytest.raises(PortNotEnabled):
        await rig.manager.power_cycle(3, off_s=0)
    assert rig.manager.port_status(3).admin_enabled is False


async def test_shed_ports_are_restored_by_priority_but_disabled_ones_are_not(
        rig_factory: Any) -> None:
    rig: Rig = rig_factory(section(40_000, FOUR))
    for channel in range(4):
        rig.sim.plug(channel, pd_class=3, power_mw=8_000)
    await rig.manager.start()
    assert rig.powered() == {1, 2}
    await rig.manager.disable(4)  # the installer turns a shed port off for good
    rig.sim.unplug(0)  # port 1's camera goes away: 15.4 W free
    await rig.manager.poll()
    assert 1 in {e.port for e in rig.of(PoeEventKind.DISCONNECTED)}
    await rig.manager.poll()  # the restored port's PD is classified and powered
    assert rig.powered() == {2, 3}
    assert not rig.sim.port(3).power_enabled
    assert rig.manager.port_status(4).admin_enabled is False


async def test_restoring_never_skips_a_higher_priority_shed_port(rig_factory: Any) -> None:
    ports = [{"port": 1, "priority": "critical"}, {"port": 2, "priority": "high"},
             {"port": 3, "priority": "low"}]
    rig: Rig = rig_factory(section(40_000, ports))
    rig.sim.plug(0, pd_class=3, power_mw=8_000)  # 15.4 W
    rig.sim.plug(1, pd_class=4, power_mw=20_000)  # 30 W
    rig.sim.plug(2, pd_class=1, power_mw=3_000)  # 4 W
    await rig.manager.start()
    # 49.4 W wanted: port 3 goes (45.4 W), still over, port 2 goes (15.4 W). 24.6 W free
    # would fit port 3's 4 W, but port 2 (high, 30 W) is waiting, so port 3 waits too.
    assert [e.port for e in rig.of(PoeEventKind.BUDGET_EXCEEDED)] == [3, 2]
    await rig.manager.poll()
    assert rig.powered() == {1}


async def test_power_cycle_through_the_manager(rig_factory: Any,
                                               sleep: RecordingSleep) -> None:
    rig: Rig = rig_factory(section(120_000, FOUR))
    rig.sim.plug(0, pd_class=2, power_mw=4_000)
    await rig.manager.start()
    await rig.manager.power_cycle(1, off_s=0.5)
    assert sleep.calls == [0.5]
    writes = [(reg, value) for _, reg, value in rig.sim.bus.writes if reg == 0x19]
    assert writes[-2:] == [(0x19, 0x10), (0x19, 0x01)]
    await rig.manager.poll()
    assert rig.powered() == {1}
    assert rig.manager.admin_states()[1] is True


async def test_controller_events_reach_the_callback_with_chassis_numbers(
        rig_factory: Any, clock: FakeClock) -> None:
    rig: Rig = rig_factory(section(120_000, FOUR))
    await rig.manager.start()
    rig.sim.plug(3, pd_class=4, power_mw=12_000)
    await rig.manager.poll()
    assert PoeEvent(PoeEventKind.CLASS_DETECTED, 4, camera_channel=4, pd_class=4,
                    controller="pse0") in rig.events
    assert [e.port for e in rig.of(PoeEventKind.POWERED)] == [4]
    rig.sim.force_overcurrent(3)
    await rig.manager.poll()
    (oc,) = rig.of(PoeEventKind.OVERCURRENT)
    assert (oc.port, oc.camera_channel, oc.detail) == (4, 4, "overcurrent (ICUT)")
    assert rig.manager.port_status(4).fault == "overcurrent (ICUT)"
    rig.sim.unplug(3)
    await rig.manager.poll()
    clock.advance(10)
    await rig.manager.poll()
    assert rig.powered() == set()


async def test_failing_controller_does_not_stop_the_others(clock: FakeClock,
                                                            sleep: RecordingSleep) -> None:
    sec = PoeSection.model_validate({
        "budget_mw": 60_000,
        "controllers": [{"id": "a", "kind": "sim"}, {"id": "b", "kind": "sim"}],
        "ports": [{"port": 1, "controller": "a", "channel": 0},
                  {"port": 2, "controller": "b", "channel": 0}]})
    poe = open_poe(sec, clock=clock, sleep=sleep)
    poe.sim["b"].plug(0, pd_class=2, power_mw=4_000)
    await poe.manager.start()
    poe.sim["a"].bus.detach(0x20)
    poe.sim["b"].unplug(0)
    events = await poe.manager.poll()
    assert {e.port for e in events} == {2}
    failing = poe.manager.failing_controllers()
    assert list(failing) == ["a"] and "0x20" in failing["a"]
    await poe.manager.poll()
    assert list(poe.manager.failing_controllers()) == ["a"]
    poe.sim["a"].bus.attach(0x20, poe.sim["a"].models[0x20])
    await poe.manager.poll()
    assert poe.manager.failing_controllers() == {}, "a chip that answers again is fine"


async def test_sim_board_profile_sheds_down_to_its_120_w(clock: FakeClock,
                                                         sleep: RecordingSleep) -> None:
    board = load_board_profile(BOARDS / "sim.toml")
    events: list[PoeEvent] = []
    poe = open_poe(board.poe, on_event=events.append, clock=clock, sleep=sleep)
    for controller in ("pse0", "pse1"):
        for channel in range(4):
            poe.sim[controller].plug(channel, pd_class=4, power_mw=9_000)
    await poe.manager.start()
    shed = [e.port for e in events if e.kind is PoeEventKind.BUDGET_EXCEEDED]
    assert shed == [8, 7, 6, 5]  # the "low" ports, highest number first
    assert poe.manager.allocated_mw == 120_000
    assert {s.port for s in poe.manager.status() if s.power is PortPower.DELIVERING} \
        == {1, 2, 3, 4}


async def test_real_board_profile_on_simulated_chips(clock: FakeClock,
                                                     sleep: RecordingSleep) -> None:
    """nvr8p-tps.toml, with /dev/i2c-1 replaced by a simulated bus holding two chips."""
    board = load_board_profile(BOARDS / "nvr8p-tps.toml")
    bus = SimSMBus("/dev/i2c-1")
    chips = {0x20: Tps23861Model(), 0x28: Tps23861Model()}
    for address, chip in chips.items():
        bus.attach(address, chip)
    opened: list[int] = []

    def factory(number: int) -> SimSMBus:
        opened.append(number)
        return bus

    poe = open_poe(board.poe, smbus_factory=factory, clock=clock, sleep=sleep)
    assert opened == [1]  # one SMBus per bus, shared by both chips
    chips[0x28].plug(1, pd_class=3, power_mw=7_000)  # chassis port 6
    await poe.manager.start()
    assert poe.manager.port_status(6).power is PortPower.DELIVERING
    assert chips[0x28].port(1).power_good
