"""A register-level TPS23861 model on a simulated SMBus, so the real driver runs against it.

``SimSMBus`` (``hal/sim/smbus.py``, re-exported here) speaks the ``SMBusLike`` calls and
routes them to register devices at 7-bit addresses; an address with no device raises
``OSError(ENXIO)`` like a real adapter, and faults can be injected (EBUSY as when the hwmon
driver is bound, one-shot errnos, a chip that disappears). ``Tps23861Model`` keeps the
chip's registers and the physics behind them: plugging a powered device (PD) into a port,
its class and draw, the supply voltage, the die temperature. Semantics follow the register
map in ``hal/poe/tps23861_regs.py``:

* semi-auto ports detect and classify a PD as soon as detection is enabled, then wait for
  PWON; auto ports power it themselves (and power it again after a PWOFF, the quirk the
  driver must work around); off ports do nothing;
* event registers latch bits until their clear-on-read twin is read (or CLRAIN), and the
  interrupt register summarises them for the INT pin;
* current/voltage ADCs report the PD's draw at the supply voltage, scaled by the fitted
  sense shunt; a disconnect (with DC disconnect enabled) and an ICUT trip drop power.

Tester-facing methods (what the control socket / simctl calls) are on ``SimPse``, which
addresses ports by the controller's channel number across several chips.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from hal.board import SimPoeController
from hal.poe import tps23861_regs as R
from hal.poe.base import PseController, Sleep
from hal.poe.multi import MultiChipPse
from hal.poe.tps23861 import Tps23861
from hal.sim.smbus import RegisterDevice, SimSMBus

__all__ = ["SIM_BASE_ADDRESS", "PowerCallback", "RegisterDevice", "SimPortState", "SimPse",
           "SimSMBus", "Tps23861Model", "make_sim_pse"]

PowerCallback = Callable[[int, bool], None]
"""``callback(channel, powered)``: a port's power-good changed (``on_power_change``)."""

SIM_BASE_ADDRESS = 0x20
# IEEE class -> port status class code.
_CLASS_TO_CODE = {0: R.CLASS_0, 1: 1, 2: 2, 3: 3, 4: 4}
# Model constants (plausible, not datasheet figures): VPWR undervoltage threshold, the
# device/firmware ids the model answers with.
VPUV_THRESHOLD_MV = 40_000
MODEL_DEVICE_ID = 0x22
MODEL_FIRMWARE = 0x04


@dataclass(frozen=True, slots=True)
class SimPortState:
    """What a tester sees of one port (for simctl / the control socket)."""

    pd_present: bool
    pd_class: int | None
    draw_mw: int
    power_enabled: bool
    power_good: bool
    mode: int


@dataclass(slots=True)
class _Pd:
    pd_class: int
    draw_mw: int


class Tps23861Model:
    """The chip. Register access and tester methods may come from different threads."""

    def __init__(self, *, shunt_mohm: int = 255, supply_mv: int = 48_000,
                 temperature_c: float = 40.0, auto_at_power_up: bool = False) -> None:
        self._lock = threading.RLock()
        self._regs = bytearray(R.LAST_REGISTER + 1)
        self._pds: list[_Pd | None] = [None] * R.CHANNELS
        self._pe = [False] * R.CHANNELS
        self._pg = [False] * R.CHANNELS
        self._short = [False] * R.CHANNELS
        self._shunt_mohm = shunt_mohm
        self._supply_mv = supply_mv
        self._temperature_c = temperature_c
        self._on_power: PowerCallback | None = None
        self._regs[R.I2C_ADDRESS] = 0x80 if auto_at_power_up else 0
        self._regs[R.DEVICE_ID] = MODEL_DEVICE_ID
        self._regs[R.FIRMWARE_REVISION] = MODEL_FIRMWARE
        if auto_at_power_up:
            self._regs[R.OPERATING_MODE] = 0xFF
            self._regs[R.DETECT_CLASS_ENABLE] = 0xFF
            self._regs[R.DISCONNECT_ENABLE] = 0x0F

    # --- register interface ------------------------------------------------------------

    def read_register(self, register: int) -> int:
        with self._lock:
            if register in R.COR_TWINS:
                plain = R.COR_TWINS[register]
                value = self._regs[plain]
                self._regs[plain] = 0
                return value
            if register == R.INTERRUPT:
                return self._interrupt()
            if register == R.POWER_STATUS:
                return sum(R.port_bit(c) for c in range(R.CHANNELS) if self._pe[c]) | sum(
                    R.port_bit_high(c) for c in range(R.CHANNELS) if self._pg[c])
            if register in (R.DETECT_CLASS_RESTART, R.POWER_ENABLE, R.RESET):
                return 0  # write-only command registers
            return self._measurement(register)

    def write_register(self, register: int, value: int) -> None:
        value &= 0xFF
        with self._lock:
            if register == R.OPERATING_MODE:
                old = self._regs[register]
                self._regs[register] = value
                for channel in range(R.CHANNELS):
                    if self._mode(channel) != (old >> R.mode_shift(channel)) & R.MODE_MASK:
                        self._mode_changed(channel)
            elif register == R.DETECT_CLASS_ENABLE:
                old = self._regs[register]
                self._regs[register] = value
                for channel in range(R.CHANNELS):
                    if value & ~old & R.port_bit(channel):
                        self._detect(channel)
            elif register in (R.INTERRUPT_MASK, R.DISCONNECT_ENABLE, R.POWER_PRIORITY,
                              R.GENERAL_MASK, R.POE_PLUS):
                self._regs[register] = value
            elif register == R.DETECT_CLASS_RESTART:
                for channel in range(R.CHANNELS):
                    if value & (R.port_bit(channel) | R.port_bit_high(channel)):
                        self._detect(channel, force=True)
            elif register == R.POWER_ENABLE:
                self._power_enable(value)
            elif register == R.RESET:
                self._reset(value)
            # anything else is read-only: ignored, like the chip

    def _measurement(self, register: int) -> int:
        base = register & ~1
        high = register & 1
        if base == R.INPUT_VOLTAGE:
            word = self._adc_voltage(self._supply_mv)
        elif R.PORT_CURRENT <= base < R.PORT_CURRENT + R.PORT_STRIDE * R.CHANNELS:
            channel, offset = divmod(base - R.PORT_CURRENT, R.PORT_STRIDE)
            word = self._port_current(channel) if offset == 0 else self._port_voltage(channel)
        elif register == R.TEMPERATURE:
            raw = round((self._temperature_c * 1000 + R.TEMPERATURE_OFFSET_MC)
                        / R.TEMPERATURE_LSB_MC)
            return max(0, min(0xFF, raw))
        else:
            return self._regs[register] if register < len(self._regs) else 0
        return (word >> 8) & 0xFF if high else word & 0xFF

    @staticmethod
    def _adc_voltage(mv: int) -> int:
        return min(R.ADC_MASK, round(mv * 1000 / R.VOLTAGE_LSB_UV))

    def _port_voltage(self, channel: int) -> int:
        return self._adc_voltage(self._supply_mv) if self._pg[channel] else 0

    def _port_current(self, channel: int) -> int:
        pd = self._pds[channel]
        if not self._pg[channel] or pd is None:
            return 0
        current_ua = pd.draw_mw * 1_000_000 / self._supply_mv
        # The ADC measures the shunt voltage (15.565 µV/LSB); the fitted resistor sets the
        # current per LSB, which is why the driver must be told the shunt.
        lsb_na = R.CURRENT_LSB_NA.get(self._shunt_mohm, R.CURRENT_LSB_NA[255])
        return min(R.ADC_MASK, round(current_ua * 1000 / lsb_na))

    # --- chip behaviour ----------------------------------------------------------------

    def _mode(self, channel: int) -> int:
        return (self._regs[R.OPERATING_MODE] >> R.mode_shift(channel)) & R.MODE_MASK

    def _event(self, register: int, bits: int) -> None:
        self._regs[register] |= bits

    def _interrupt(self) -> int:
        power, detect = self._regs[R.POWER_EVENT], self._regs[R.DETECT_EVENT]
        fault, start = self._regs[R.FAULT_EVENT], self._regs[R.START_EVENT]
        return ((R.INT_PEC if power & 0x0F else 0) | (R.INT_PGC if power & 0xF0 else 0)
                | (R.INT_DISF if fault & 0xF0 else 0) | (R.INT_DETC if detect & 0x0F else 0)
                | (R.INT_CLASC if detect & 0xF0 else 0)
                | (R.INT_IFAULT if fault & 0x0F or start & 0xF0 else 0)
                | (R.INT_INRF if start & 0x0F else 0)
                | (R.INT_SUPF if self._regs[R.SUPPLY_EVENT] else 0))

    def _set_status(self, channel: int, detect: int, class_code: int) -> None:
        self._regs[R.PORT_STATUS + channel] = (class_code << 4) | detect

    def _detect(self, channel: int, force: bool = False) -> None:
        """One detection (+ classification) cycle, if the port's mode and enables allow."""
        mode = self._mode(channel)
        if mode == R.MODE_OFF or self._pe[channel]:
            return
        if not (force or self._regs[R.DETECT_CLASS_ENABLE] & R.port_bit(channel)):
            return
        pd = self._pds[channel]
        old = self._regs[R.PORT_STATUS + channel]
        if pd is None:
            detect = R.DETECT_SHORT if self._short[channel] else R.DETECT_OPEN
            self._set_status(channel, detect, R.CLASS_UNKNOWN)
            if old != self._regs[R.PORT_STATUS + channel]:
                self._event(R.DETECT_EVENT, R.port_bit(channel))
            return
        classify = force or self._regs[R.DETECT_CLASS_ENABLE] & R.port_bit_high(channel)
        code = _CLASS_TO_CODE.get(pd.pd_class, R.CLASS_MISMATCH) if classify else 0
        self._set_status(channel, R.DETECT_R_OK, code)
        self._event(R.DETECT_EVENT, R.port_bit(channel)
                    | (R.port_bit_high(channel) if classify else 0))
        if mode == R.MODE_AUTO and code in R.CLASS_CODES:
            self._power_on(channel)

    def _can_power(self, channel: int) -> bool:
        status = self._regs[R.PORT_STATUS + channel]
        return (self._mode(channel) != R.MODE_OFF and self._pds[channel] is not None
                and status & 0x0F == R.DETECT_R_OK and status >> 4 in R.CLASS_CODES)

    def _power_on(self, channel: int) -> None:
        if self._pe[channel] or not self._can_power(channel):
            return
        self._pe[channel] = self._pg[channel] = True
        self._event(R.POWER_EVENT, R.port_bit(channel) | R.port_bit_high(channel))
        self._power_changed(channel, True)

    def _power_off(self, channel: int, redetect: bool = True) -> None:
        if self._pe[channel]:
            self._pe[channel] = False
            self._event(R.POWER_EVENT, R.port_bit(channel))
        if self._pg[channel]:
            self._pg[channel] = False
            self._event(R.POWER_EVENT, R.port_bit_high(channel))
            self._power_changed(channel, False)
        if redetect:
            self._detect(channel)  # semi-auto re-detects; auto re-detects *and* re-powers

    def _power_enable(self, value: int) -> None:
        for channel in range(R.CHANNELS):
            on, off = value & R.port_bit(channel), value & R.port_bit_high(channel)
            if off:
                self._power_off(channel)
            elif on:
                self._power_on(channel)

    def _mode_changed(self, channel: int) -> None:
        if self._mode(channel) == R.MODE_OFF:
            self._power_off(channel, redetect=False)
            self._set_status(channel, R.DETECT_UNKNOWN, R.CLASS_UNKNOWN)
        else:
            self._detect(channel)

    def _reset(self, value: int) -> None:
        if value & R.RESET_CLRAIN:
            for plain in R.COR_TWINS.values():
                self._regs[plain] = 0
        for channel in range(R.CHANNELS):
            if value & R.port_bit(channel):
                self._power_off(channel, redetect=False)

    def _power_changed(self, channel: int, powered: bool) -> None:
        if self._on_power is not None:
            self._on_power(channel, powered)

    # --- tester-facing -----------------------------------------------------------------

    def on_power_change(self, callback: PowerCallback | None) -> None:
        """Call ``callback(channel, powered)`` whenever a port's power-good changes, and at
        once with every port's present state (so a listener never misses the state it
        starts from). One listener; None removes it. Called with the chip's lock held, from
        whichever thread drives the chip: it must not block."""
        with self._lock:
            self._on_power = callback
            if callback is not None:
                for channel in range(R.CHANNELS):
                    callback(channel, self._pg[channel])

    def plug(self, channel: int, pd_class: int = 0, power_mw: int = 5_000) -> None:
        """Connect a PD of IEEE class ``pd_class`` that will draw ``power_mw`` once powered
        (an unsupported class, e.g. 7, classifies as a mismatch)."""
        with self._lock:
            self._pds[channel] = _Pd(pd_class, power_mw)
            self._detect(channel)

    def unplug(self, channel: int) -> None:
        """Pull the cable. A powered port sees the DC disconnect (if enabled) and drops."""
        with self._lock:
            self._pds[channel] = None
            if self._pg[channel] and self._regs[R.DISCONNECT_ENABLE] & R.port_bit(channel):
                self._event(R.FAULT_EVENT, R.port_bit_high(channel))
                self._power_off(channel)
            elif not self._pe[channel]:
                self._detect(channel)

    def short_circuit(self, channel: int, shorted: bool = True) -> None:
        """A shorted cable instead of a PD: detection reports a short."""
        with self._lock:
            self._pds[channel] = None
            self._short[channel] = shorted
            self._detect(channel)

    def set_draw(self, channel: int, power_mw: int) -> None:
        with self._lock:
            pd = self._pds[channel]
            if pd is None:
                raise ValueError(f"no PD on channel {channel}")
            pd.draw_mw = power_mw

    def force_overcurrent(self, channel: int) -> None:
        """An ICUT trip: the chip switches the port off and latches the fault event."""
        with self._lock:
            if self._pg[channel]:
                self._event(R.FAULT_EVENT, R.port_bit(channel))
                self._power_off(channel)

    def set_supply_voltage(self, mv: int) -> None:
        with self._lock:
            self._supply_mv = mv
            if mv < VPUV_THRESHOLD_MV:
                self._event(R.SUPPLY_EVENT, R.SUPPLY_VPUV)

    def set_temperature(self, celsius: float) -> None:
        with self._lock:
            self._temperature_c = celsius

    def thermal_shutdown(self) -> None:
        """TSD: every port drops and the supply event latches."""
        with self._lock:
            self._event(R.SUPPLY_EVENT, R.SUPPLY_TSD)
            for channel in range(R.CHANNELS):
                self._power_off(channel, redetect=False)

    @property
    def interrupt_asserted(self) -> bool:
        """The INT pin (active low on the board): any unmasked pending event."""
        with self._lock:
            return bool(self._interrupt() & self._regs[R.INTERRUPT_MASK])

    def port(self, channel: int) -> SimPortState:
        with self._lock:
            pd = self._pds[channel]
            return SimPortState(pd_present=pd is not None,
                                pd_class=None if pd is None else pd.pd_class,
                                draw_mw=pd.draw_mw if pd and self._pg[channel] else 0,
                                power_enabled=self._pe[channel], power_good=self._pg[channel],
                                mode=self._mode(channel))


class SimPse:
    """The tester's handle on a simulated controller: ports by controller channel."""

    def __init__(self, bus: SimSMBus, models: dict[int, Tps23861Model]) -> None:
        self.bus = bus
        self.models = models  # address -> chip
        self._addresses = sorted(models)

    def _locate(self, channel: int) -> tuple[Tps23861Model, int]:
        chip, local = divmod(channel, R.CHANNELS)
        if not 0 <= chip < len(self._addresses):
            raise ValueError(f"no simulated channel {channel}")
        return self.models[self._addresses[chip]], local

    def plug(self, channel: int, pd_class: int = 0, power_mw: int = 5_000) -> None:
        model, local = self._locate(channel)
        model.plug(local, pd_class, power_mw)

    def unplug(self, channel: int) -> None:
        model, local = self._locate(channel)
        model.unplug(local)

    def set_draw(self, channel: int, power_mw: int) -> None:
        model, local = self._locate(channel)
        model.set_draw(local, power_mw)

    def force_overcurrent(self, channel: int) -> None:
        model, local = self._locate(channel)
        model.force_overcurrent(local)

    def set_supply_voltage(self, mv: int) -> None:
        for model in self.models.values():
            model.set_supply_voltage(mv)

    def port(self, channel: int) -> SimPortState:
        model, local = self._locate(channel)
        return model.port(local)

    def on_power_change(self, callback: PowerCallback | None) -> None:
        """``Tps23861Model.on_power_change`` for every chip, with this controller's channel
        numbers (chip index × 4 + the chip's channel)."""
        for index, address in enumerate(self._addresses):
            offset = index * R.CHANNELS

            def shifted(channel: int, powered: bool, offset: int = offset) -> None:
                assert callback is not None
                callback(offset + channel, powered)

            self.models[address].on_power_change(None if callback is None else shifted)


def make_sim_pse(cfg: SimPoeController, *, bus: SimSMBus | None = None,
                 base_address: int = SIM_BASE_ADDRESS, sleep: Sleep = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 ) -> tuple[PseController, SimPse]:
    """The real TPS23861 driver on simulated chips: one chip per four channels, at
    consecutive addresses from ``base_address``; more than four channels are presented
    as one controller (``MultiChipPse``), so the board profile's channel numbers hold."""
    bus = bus if bus is not None else SimSMBus(f"sim-i2c:{cfg.id}")
    chips = -(-cfg.channels // R.CHANNELS)
    if base_address + chips - 1 > 0x77:
        raise ValueError(f"{cfg.id}: {chips} simulated chips do not fit above "
                         f"{base_address:#04x}")
    models: dict[int, Tps23861Model] = {}
    drivers: list[tuple[PseController, int]] = []
    for index in range(chips):
        address = base_address + index
        models[address] = model = Tps23861Model()
        bus.attach(address, model)
        count = min(R.CHANNELS, cfg.channels - index * R.CHANNELS)
        drivers.append((Tps23861(bus, address, controller_id=f"{cfg.id}.{index}"
                                 if chips > 1 else cfg.id, bus_name=bus.name,
                                 channels=range(count), sleep=sleep, clock=clock),
                        index * R.CHANNELS))
    controller = drivers[0][0] if chips == 1 else MultiChipPse(cfg.id, drivers, sleep=sleep)
    return controller, SimPse(bus, models)
