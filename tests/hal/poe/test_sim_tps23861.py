"""The register model behaves like the chip, and ``make_sim_pse`` builds the real driver
on it (several chips when a sim controller has more than four channels)."""

from __future__ import annotations

import errno

import pytest

from hal.board import SimPoeController
from hal.poe import tps23861_regs as R
from hal.poe.base import PortPower, PseEventKind
from hal.poe.multi import MultiChipPse
from hal.poe.tps23861 import Tps23861
from hal.sim.tps23861 import SimSMBus, Tps23861Model, make_sim_pse


def semi_auto(model: Tps23861Model, channel: int) -> None:
    model.write_register(R.OPERATING_MODE, R.MODE_SEMI_AUTO << R.mode_shift(channel))
    model.write_register(R.DETECT_CLASS_ENABLE, R.port_bit(channel) | R.port_bit_high(channel))


def test_absent_address_is_enxio_like_a_real_adapter() -> None:
    bus = SimSMBus()
    with pytest.raises(OSError) as info:
        bus.read_byte_data(0x30, 0x00)
    assert info.value.errno == errno.ENXIO


def test_event_registers_clear_on_read_only_through_their_twin() -> None:
    model = Tps23861Model()
    semi_auto(model, 0)
    model.plug(0, pd_class=2, power_mw=3_000)
    assert model.read_register(R.DETECT_EVENT) == 0x11  # plain read: stays
    assert model.read_register(R.DETECT_EVENT) == 0x11
    assert model.read_register(R.INTERRUPT) & (R.INT_DETC | R.INT_CLASC)
    assert model.read_register(R.DETECT_EVENT_COR) == 0x11
    assert model.read_register(R.DETECT_EVENT) == 0
    assert model.read_register(R.INTERRUPT) == 0


def test_semi_auto_waits_for_pwon_then_power_good_and_adc_follow_the_draw() -> None:
    model = Tps23861Model()
    semi_auto(model, 1)
    model.plug(1, pd_class=3, power_mw=12_000)
    assert model.read_register(R.PORT_STATUS + 1) == (3 << 4) | R.DETECT_R_OK
    assert model.read_register(R.POWER_STATUS) == 0
    model.write_register(R.POWER_ENABLE, 0x02)
    assert model.read_register(R.POWER_STATUS) == 0x22
    assert model.read_register(R.POWER_EVENT_COR) == 0x22
    raw_i = model.read_register(0x34) | model.read_register(0x35) << 8
    raw_v = model.read_register(0x36) | model.read_register(0x37) << 8
    watts = raw_i * 61.039e-6 * raw_v * 3.662e-3
    assert watts == pytest.approx(12.0, rel=0.002)


def test_pwon_and_pwoff_together_mean_off() -> None:
    model = Tps23861Model()
    semi_auto(model, 0)
    model.plug(0, pd_class=1, power_mw=2_000)
    model.write_register(R.POWER_ENABLE, 0x11)
    assert not model.port(0).power_enabled


def test_pwon_without_a_valid_pd_is_ignored() -> None:
    model = Tps23861Model()
    semi_auto(model, 0)
    model.write_register(R.POWER_ENABLE, 0x01)
    assert model.read_register(R.POWER_STATUS) == 0


def test_pwoff_drops_power_and_unplug_raises_disconnect() -> None:
    model = Tps23861Model()
    model.write_register(R.OPERATING_MODE, 0b1010)  # ports 0 and 1 semi-auto
    model.write_register(R.DETECT_CLASS_ENABLE, 0x33)
    model.write_register(R.DISCONNECT_ENABLE, 0x03)
    model.plug(0, pd_class=2, power_mw=3_000)
    model.plug(1, pd_class=2, power_mw=3_000)
    model.write_register(R.POWER_ENABLE, 0x03)
    model.read_register(R.POWER_EVENT_COR)
    model.write_register(R.POWER_ENABLE, 0x10)
    assert model.read_register(R.POWER_STATUS) == 0x22
    assert model.read_register(R.POWER_EVENT_COR) == 0x11
    model.unplug(1)
    assert model.read_register(R.FAULT_EVENT_COR) == 0x20
    assert model.read_register(R.POWER_STATUS) == 0


def test_overcurrent_trips_icut() -> None:
    model = Tps23861Model()
    semi_auto(model, 2)
    model.plug(2, pd_class=4, power_mw=20_000)
    model.write_register(R.POWER_ENABLE, 0x04)
    model.force_overcurrent(2)
    assert model.read_register(R.FAULT_EVENT_COR) == 0x04
    assert model.read_register(R.POWER_STATUS) == 0
    assert model.read_register(0x38) == 0  # no current any more


def test_clrain_clears_every_event() -> None:
    model = Tps23861Model()
    semi_auto(model, 0)
    model.plug(0, pd_class=2, power_mw=3_000)
    model.thermal_shutdown()
    model.write_register(R.RESET, R.RESET_CLRAIN)
    assert model.read_register(R.INTERRUPT) == 0


async def test_make_sim_pse_runs_the_real_driver() -> None:
    controller, sim = make_sim_pse(SimPoeController(kind="sim", id="pse0"))
    assert isinstance(controller, Tps23861)
    await controller.start()
    await controller.enable(0)
    sim.plug(0, pd_class=2, power_mw=5_500)
    events = await controller.poll_events()
    assert [e.kind for e in events] == [PseEventKind.CLASS_DETECTED, PseEventKind.POWERED]
    status = await controller.status(0)
    assert status.delivering and status.power_mw == pytest.approx(5_500, abs=15)
    assert sim.bus.writes  # the driver really went through the bus


async def test_eight_channel_sim_controller_is_two_chips() -> None:
    controller, sim = make_sim_pse(SimPoeController(kind="sim", id="big", channels=6))
    assert isinstance(controller, MultiChipPse)
    assert controller.channels == (0, 1, 2, 3, 4, 5)
    assert sorted(sim.models) == [0x20, 0x21]
    await controller.start()
    await controller.enable(5)
    sim.plug(5, pd_class=1, power_mw=3_000)
    events = await controller.poll_events()
    assert {e.channel for e in events} == {5}
    assert sim.models[0x21].port(1).power_good  # channel 5 = chip 2, port 1
    assert (await controller.statuses())[5].power is PortPower.DELIVERING
    with pytest.raises(ValueError):
        sim.plug(8)
