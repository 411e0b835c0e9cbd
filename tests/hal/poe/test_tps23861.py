"""The real TPS23861 driver against the register model on an injected ``SimSMBus``.

Every assertion is about what the driver wrote to or decoded from the registers, checked
against the reference map (§2.1): write sequences from the bus log, scaling from known ADC
values, events from the clear-on-read registers.
"""

from __future__ import annotations

import errno

import pytest

from hal.poe import tps23861_regs as R
from hal.poe.base import (
    BusBusy,
    ChipNotFound,
    PortDisabledError,
    PortPower,
    PseEvent,
    PseEventKind,
    PseIoError,
    UnknownChannel,
)
from hal.poe.tps23861 import Tps23861
from hal.sim.tps23861 import SimSMBus, Tps23861Model
from tests.hal.poe.helpers import FakeClock, RecordingSleep

ADDR = 0x20


def make(shunt: int = 255, *, clock: FakeClock | None = None,
         sleep: RecordingSleep | None = None) -> tuple[Tps23861, Tps23861Model, SimSMBus]:
    bus = SimSMBus("/dev/i2c-1")
    model = Tps23861Model(shunt_mohm=shunt)
    bus.attach(ADDR, model)
    driver = Tps23861(bus, ADDR, controller_id="pse0", bus_name="/dev/i2c-1",
                      shunt_mohm=250 if shunt == 250 else 255,
                      clock=clock if clock is not None else FakeClock(),
                      sleep=sleep if sleep is not None else RecordingSleep(FakeClock()))
    return driver, model, bus


def writes_to(bus: SimSMBus, register: int) -> list[int]:
    return [value for _, reg, value in bus.writes if reg == register]


async def test_start_configures_shunt_and_mask_without_touching_power() -> None:
    driver, model, bus = make(shunt=250)
    await driver.start()
    assert model.read_register(R.GENERAL_MASK) & R.GENERAL_MASK_SHUNT_250
    assert model.read_register(R.INTERRUPT_MASK) == R.INT_MASK_DEFAULT
    touched = {reg for _, reg, _ in bus.writes}
    assert not touched & {R.POWER_ENABLE, R.OPERATING_MODE, R.DETECT_CLASS_ENABLE}
    assert driver.chip is not None and driver.chip.device_id == model.read_register(0x43)


async def test_start_clears_shunt_bit_for_255_mohm() -> None:
    driver, model, _ = make(shunt=255)
    model.write_register(R.GENERAL_MASK, 0x01)
    await driver.start()
    assert model.read_register(R.GENERAL_MASK) & 0x01 == 0


async def test_enable_sets_semi_auto_and_powers_a_classified_pd() -> None:
    driver, model, bus = make()
    await driver.start()
    model.plug(2, pd_class=4, power_mw=6_000)
    await driver.enable(2)
    mode = model.read_register(R.OPERATING_MODE)
    assert (mode >> 4) & 0b11 == R.MODE_SEMI_AUTO
    assert model.read_register(R.DETECT_CLASS_ENABLE) & 0x44 == 0x44
    assert writes_to(bus, R.DETECT_CLASS_RESTART) == [0x44]
    assert writes_to(bus, R.POWER_ENABLE) == [0x04]  # PWON port 2
    status = await driver.status(2)
    assert status.power is PortPower.DELIVERING and status.pd_class == 4
    assert status.admin_enabled


async def test_enable_is_idempotent_on_a_powered_port() -> None:
    driver, model, bus = make()
    await driver.start()
    model.plug(0, pd_class=2, power_mw=4_000)
    await driver.enable(0)
    bus.writes.clear()
    await driver.enable(0)
    assert writes_to(bus, R.POWER_ENABLE) == []
    assert writes_to(bus, R.DETECT_CLASS_RESTART) == []
    assert model.port(0).power_good


async def test_enabled_empty_port_powers_the_pd_when_it_is_plugged_in() -> None:
    driver, model, _ = make()
    await driver.start()
    await driver.enable(1)
    assert (await driver.status(1)).power is PortPower.SEARCHING
    await driver.poll_events()
    model.plug(1, pd_class=3, power_mw=9_000)
    assert not model.port(1).power_good  # semi-auto: classified, waiting for the host
    events = await driver.poll_events()
    assert [e.kind for e in events] == [PseEventKind.CLASS_DETECTED, PseEventKind.POWERED]
    assert events[0] == PseEvent(PseEventKind.CLASS_DETECTED, 1, 3)
    assert model.port(1).power_good


async def test_disable_writes_pwoff_then_holds_the_port_off() -> None:
    driver, model, bus = make()
    await driver.start()
    model.plug(3, pd_class=0, power_mw=5_000)
    await driver.enable(3)
    bus.writes.clear()
    await driver.disable(3)
    assert writes_to(bus, R.POWER_ENABLE) == [0x80]  # PWOFF port 3
    assert (model.read_register(R.OPERATING_MODE) >> 6) & 0b11 == R.MODE_OFF
    assert model.read_register(R.DETECT_CLASS_ENABLE) & 0x88 == 0
    await driver.poll_events()  # no automatic re-power, even with the PD still there
    assert not model.port(3).power_enabled
    status = await driver.status(3)
    assert status.power is PortPower.DISABLED and not status.admin_enabled


async def test_plain_pwoff_in_auto_mode_repowers_but_disable_does_not() -> None:
    """The quirk the driver works around: auto mode re-detects and re-powers."""
    bus = SimSMBus()
    model = Tps23861Model(auto_at_power_up=True)
    bus.attach(ADDR, model)
    model.plug(0, pd_class=2, power_mw=3_000)
    assert model.port(0).power_good
    model.write_register(R.POWER_ENABLE, 0x10)
    assert model.port(0).power_good  # back on by itself
    driver = Tps23861(bus, ADDR, controller_id="pse0", bus_name="sim")
    await driver.disable(0)
    assert not model.port(0).power_enabled


async def test_power_cycle_write_sequence(clock: FakeClock, sleep: RecordingSleep) -> None:
    driver, model, bus = make(clock=clock, sleep=sleep)
    await driver.start()
    model.plug(1, pd_class=2, power_mw=4_000)
    await driver.enable(1)
    bus.writes.clear()
    await driver.power_cycle(1, off_s=1.5)
    assert [(reg, value) for _, reg, value in bus.writes] == [(0x19, 0x20), (0x19, 0x02)]
    assert sleep.calls == [1.5]
    assert model.port(1).power_good


async def test_power_cycle_keeps_the_port_off_during_the_pause() -> None:
    driver, model, _ = make()
    await driver.start()
    model.plug(0, pd_class=1, power_mw=2_000)
    await driver.enable(0)
    seen: list[bool] = []

    async def pause(_: float) -> None:
        await driver.poll_events()  # a poll in the pause must not PWON the held port
        seen.append(model.port(0).power_enabled)

    driver._sleep = pause
    await driver.power_cycle(0, off_s=0)
    assert seen == [False]
    assert model.port(0).power_good


async def test_power_cycle_refuses_a_disabled_port() -> None:
    driver, model, bus = make()
    await driver.start()
    model.plug(0, pd_class=1, power_mw=2_000)
    with pytest.raises(PortDisabledError):
        await driver.power_cycle(0, off_s=0)
    assert writes_to(bus, R.POWER_ENABLE) == []


@pytest.mark.parametrize(("shunt", "draw_mw"), [(255, 6_360), (250, 13_250)])
async def test_current_voltage_and_power_scaling(shunt: int, draw_mw: int) -> None:
    driver, model, _ = make(shunt)
    await driver.start()
    model.plug(0, pd_class=4, power_mw=draw_mw)
    await driver.enable(0)
    raw_i = model.read_register(0x30) | model.read_register(0x31) << 8
    raw_v = model.read_register(0x32) | model.read_register(0x33) << 8
    status = await driver.status(0)
    lsb_na = {255: 61039, 250: 62260}[shunt]
    assert status.current_ua == raw_i * lsb_na // 1000
    assert status.voltage_mv == raw_v * 3662 // 1000
    assert abs(status.voltage_mv - 48_000) < 4
    assert status.power_mw is not None and abs(status.power_mw - draw_mw) <= draw_mw // 500


async def test_wrong_shunt_setting_misreads_current() -> None:
    """The scale really depends on the shunt: a 250 mΩ board read as 255 mΩ is 2 % low."""
    bus = SimSMBus()
    bus.attach(ADDR, model := Tps23861Model(shunt_mohm=250))
    driver = Tps23861(bus, ADDR, controller_id="pse0", bus_name="sim", shunt_mohm=255)
    model.plug(0, pd_class=4, power_mw=20_000)
    await driver.enable(0)
    status = await driver.status(0)
    assert status.power_mw is not None and 19_400 < status.power_mw < 19_700


async def test_temperature_and_input_voltage() -> None:
    driver, model, _ = make()
    model.set_temperature(52.0)
    model.set_supply_voltage(53_500)
    raw_t = model.read_register(R.TEMPERATURE)
    assert await driver.temperature_mc() == raw_t * 652 - 20_000
    assert abs(await driver.temperature_mc() - 52_000) <= 652
    assert abs(await driver.input_voltage_mv() - 53_500) <= 4


async def test_overcurrent_and_disconnect_events_are_reported_once() -> None:
    driver, model, _ = make()
    await driver.start()
    model.plug(0, pd_class=4, power_mw=6_000)
    model.plug(1, pd_class=2, power_mw=4_000)
    await driver.enable(0)
    await driver.enable(1)
    await driver.poll_events()
    model.force_overcurrent(0)
    model.unplug(1)
    assert model.read_register(R.INTERRUPT) & (R.INT_IFAULT | R.INT_DISF) \
        == R.INT_IFAULT | R.INT_DISF
    events = await driver.poll_events()
    kinds = [(e.kind, e.channel) for e in events]
    assert (PseEventKind.OVERCURRENT, 0) in kinds
    assert (PseEventKind.DISCONNECTED, 1) in kinds
    assert (PseEventKind.UNPOWERED, 0) in kinds and (PseEventKind.UNPOWERED, 1) in kinds
    assert model.read_register(R.INTERRUPT) == 0  # the CoR reads released INT
    assert not model.interrupt_asserted
    assert await driver.poll_events() == []


async def test_overcurrent_fault_is_decoded_and_retried_after_cool_down(
        clock: FakeClock) -> None:
    driver, model, _ = make(clock=clock)
    await driver.start()
    model.plug(0, pd_class=4, power_mw=6_000)
    await driver.enable(0)
    model.force_overcurrent(0)
    await driver.poll_events()
    status = await driver.status(0)
    assert status.power is PortPower.FAULT
    assert status.fault == "overcurrent (ICUT)"
    await driver.poll_events()
    assert not model.port(0).power_enabled  # cooling down
    clock.advance(5.0)
    events = await driver.poll_events()
    assert PseEvent(PseEventKind.POWERED, 0, 4) in events
    assert (await driver.status(0)).fault is None


async def test_status_decodes_class_and_detect_codes() -> None:
    driver, model, _ = make()
    await driver.enable(0)
    await driver.enable(1)
    model.plug(0, pd_class=0, power_mw=1_000)  # class 0 is code 6
    assert model.read_register(R.PORT_STATUS) == (R.CLASS_0 << 4) | R.DETECT_R_OK
    model.plug(1, pd_class=7, power_mw=1_000)  # no such class: mismatch, never powered
    statuses = await driver.statuses()
    assert statuses[0].pd_class == 0
    assert statuses[1].power is PortPower.FAULT
    assert statuses[1].fault == "classification mismatch"
    await driver.poll_events()
    assert not model.port(1).power_enabled
    await driver.enable(2)
    model.short_circuit(2)
    assert model.read_register(R.PORT_STATUS + 2) & 0x0F == R.DETECT_SHORT
    status = await driver.status(2)
    assert status.power is PortPower.FAULT and status.fault == "short circuit"


async def test_supply_events() -> None:
    driver, model, _ = make()
    model.set_supply_voltage(30_000)
    model.thermal_shutdown()
    events = await driver.poll_events()
    assert {e.detail for e in events if e.kind is PseEventKind.SUPPLY_FAULT} \
        == {"VPWR undervoltage", "thermal shutdown"}
    assert all(e.channel is None for e in events)


async def test_missing_chip_names_bus_and_address() -> None:
    bus = SimSMBus("/dev/i2c-1")
    driver = Tps23861(bus, 0x28, controller_id="pse1", bus_name="/dev/i2c-1")
    with pytest.raises(ChipNotFound) as info:
        await driver.start()
    assert (info.value.bus, info.value.address) == ("/dev/i2c-1", 0x28)
    assert "/dev/i2c-1" in str(info.value) and "0x28" in str(info.value)
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.__cause__.errno == errno.ENXIO
    assert driver.chip is None


async def test_chip_vanishing_later_is_reported() -> None:
    driver, _, bus = make()
    await driver.start()
    bus.detach(ADDR)
    with pytest.raises(ChipNotFound):
        await driver.statuses()


async def test_busy_bus_names_the_kernel_driver() -> None:
    driver, _, bus = make()
    bus.set_busy(ADDR)
    with pytest.raises(BusBusy) as info:
        await driver.start()
    assert "0x20" in str(info.value) and "tps23861" in str(info.value)
    assert info.value.__cause__ is not None
    assert getattr(info.value.__cause__, "errno", None) == errno.EBUSY


async def test_other_bus_errors_are_io_errors_and_transient() -> None:
    driver, _, bus = make()
    bus.inject_error(ADDR, errno.EIO)
    with pytest.raises(PseIoError) as info:
        await driver.statuses()
    assert info.value.errno == errno.EIO
    assert len(await driver.statuses()) == 4  # the next transfer works


async def test_unknown_channel() -> None:
    driver, _, _ = make()
    with pytest.raises(UnknownChannel):
        await driver.enable(4)


async def test_bus_calls_run_off_the_event_loop() -> None:
    import threading

    loop_thread = threading.get_ident()
    seen: set[int] = set()
    driver, _, bus = make()
    original = bus.read_byte_data

    def spy(i2c_addr: int, register: int, force: bool | None = None) -> int:
        seen.add(threading.get_ident())
        return original(i2c_addr, register, force)

    bus.read_byte_data = spy  # type: ignore[method-assign]
    await driver.start()
    assert seen and loop_thread not in seen
