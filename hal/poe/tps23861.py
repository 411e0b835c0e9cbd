"""TI TPS23861 (4-port 802.3at PSE) over SMBus.

How the chip is driven (reference §2.1/§2.5; verify the quirks on hardware):

* Enabled ports run in **semi-auto** mode: the chip detects and classifies by itself, and
  the host switches power on with PWON (0x19 bit n). That leaves the decision to power a
  classified PD with software, which is where a budget can say no. ``poll_events`` issues
  the PWON for an enabled port whose PD has just been classified.
* Disabled ports are PWOFF'd and then put in mode **off** with detection/classification
  cleared: in *auto* mode the chip re-detects and re-powers after a plain PWOFF.
* Power-cycle is PWOFF (0x19 bit n+4), a pause, PWON (0x19 bit n), with the port held
  (no automatic PWON) during the pause.
* Events are read from the clear-on-read twins (0x03/0x05/0x07/0x09/0x0B), so each is
  reported once and reading them releases the INT pin.
* There is no power register and no budget register: power is I·V from the port ADCs,
  the current LSB depending on the sense shunt (61.039 µA at 255 mΩ, 62.26 µA at 250 mΩ).

Threads: every bus transaction runs in ``asyncio.to_thread``; an ``asyncio.Lock`` keeps
read-modify-write sequences of different coroutines from interleaving, so the per-channel
state below (faults, holds) is only touched by one worker thread at a time.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from hal.poe import tps23861_regs as R
from hal.poe.base import (
    POWER_CYCLE_OFF_S,
    BusBusy,
    ChipNotFound,
    PortDisabledError,
    PortPower,
    PortStatus,
    PseController,
    PseEvent,
    PseEventKind,
    PseIoError,
    Sleep,
)
from hal.poe.smbus import SMBusLike

__all__ = ["FAULT_RETRY_S", "ChipInfo", "Tps23861"]

_log = logging.getLogger(__name__)
T = TypeVar("T")

# After an overcurrent trip, how long before the driver powers the PD again (the chip's own
# cool-down is ~1 s; a PD that trips at once would otherwise be cycled continuously).
FAULT_RETRY_S = 5.0
# errnos meaning "nobody acknowledged the address" across I²C adapters.
_NO_DEVICE = {errno.ENXIO, errno.EREMOTEIO, errno.ENODEV}
_CLASS_FAULTS = {R.CLASS_OVERCURRENT: "classification overcurrent",
                 R.CLASS_MISMATCH: "classification mismatch"}
# Port status (0x0C-0x0F), power status, I²C address, operating mode in one block read.
_BLOCK_START = R.PORT_STATUS
_BLOCK_LEN = R.OPERATING_MODE - R.PORT_STATUS + 1


@dataclass(frozen=True, slots=True)
class ChipInfo:
    device_id: int
    firmware_revision: int
    auto_at_power_up: bool


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """Registers 0x0C-0x12 as read in one transaction."""

    port_status: tuple[int, int, int, int]
    power_status: int
    mode: int

    @classmethod
    def parse(cls, block: Sequence[int]) -> _Snapshot:
        return cls(port_status=(block[0], block[1], block[2], block[3]),
                   power_status=block[4], mode=block[6])

    def mode_of(self, channel: int) -> int:
        return (self.mode >> R.mode_shift(channel)) & R.MODE_MASK

    def enabled(self, channel: int) -> bool:
        return bool(self.power_status & R.port_bit(channel))

    def good(self, channel: int) -> bool:
        return bool(self.power_status & R.port_bit_high(channel))

    def detect(self, channel: int) -> int:
        return self.port_status[channel] & 0x0F

    def class_code(self, channel: int) -> int:
        return self.port_status[channel] >> 4

    def pd_class(self, channel: int) -> int | None:
        if self.detect(channel) != R.DETECT_R_OK and not self.good(channel):
            return None
        return R.CLASS_CODES.get(self.class_code(channel))


class Tps23861(PseController):
    """One TPS23861 at ``address`` on ``bus``. ``bus_name`` (e.g. ``/dev/i2c-1``) only
    labels errors and logs."""

    def __init__(self, bus: SMBusLike, address: int, *, controller_id: str,
                 bus_name: str, shunt_mohm: Literal[250, 255] = 255,
                 channels: Iterable[int] = range(R.CHANNELS), sleep: Sleep = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 fault_retry_s: float = FAULT_RETRY_S) -> None:
        channel_list = tuple(channels)
        if any(not 0 <= c < R.CHANNELS for c in channel_list):
            raise ValueError(f"TPS23861 channels are 0-3, not {channel_list}")
        super().__init__(controller_id, channel_list, sleep=sleep)
        self._bus = bus
        self._address = address
        self._bus_name = bus_name
        self._shunt_mohm = shunt_mohm
        self._clock = clock
        self._fault_retry_s = fault_retry_s
        self._lock = asyncio.Lock()
        self._faults: dict[int, str] = {}       # channel -> last fault, until powered again
        self._retry_at: dict[int, float] = {}   # channel -> no auto-PWON before this time
        self._held: set[int] = set()            # channels in a power-cycle pause
        self.chip: ChipInfo | None = None

    @property
    def address(self) -> int:
        return self._address

    @property
    def bus_name(self) -> str:
        return self._bus_name

    # --- bus access (worker thread) -----------------------------------------------------

    def _io(self, operation: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except OSError as exc:
            if exc.errno in _NO_DEVICE:
                raise ChipNotFound(self._bus_name, self._address) from exc
            if exc.errno == errno.EBUSY:
                raise BusBusy(self._bus_name, self._address) from exc
            raise PseIoError(self._bus_name, self._address, exc.errno, operation) from exc

    def _read(self, register: int) -> int:
        return self._io(f"read {register:#04x}",
                        lambda: self._bus.read_byte_data(self._address, register))

    def _read_word(self, register: int) -> int:
        return self._io(f"read word {register:#04x}",
                        lambda: self._bus.read_word_data(self._address, register))

    def _write(self, register: int, value: int) -> None:
        self._io(f"write {register:#04x}",
                 lambda: self._bus.write_byte_data(self._address, register, value))

    def _update(self, register: int, clear: int, set_: int) -> None:
        old = self._read(register)
        new = (old & ~clear & 0xFF) | set_
        if new != old:
            self._write(register, new)

    def _snapshot(self) -> _Snapshot:
        block = self._io("read status block", lambda: self._bus.read_i2c_block_data(
            self._address, _BLOCK_START, _BLOCK_LEN))
        return _Snapshot.parse(block)

    async def _run(self, call: Callable[[], T]) -> T:
        async with self._lock:
            return await asyncio.to_thread(call)

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self.chip = await self._run(self._start_sync)
        _log.info("%s: TPS23861 at %s %#04x, device id %#04x, firmware %#04x", self.id,
                  self._bus_name, self._address, self.chip.device_id,
                  self.chip.firmware_revision)

    def _start_sync(self) -> ChipInfo:
        info = ChipInfo(device_id=self._read(R.DEVICE_ID),
                        firmware_revision=self._read(R.FIRMWARE_REVISION),
                        auto_at_power_up=bool(self._read(R.I2C_ADDRESS) & 0x80))
        shunt = R.GENERAL_MASK_SHUNT_250 if self._shunt_mohm == 250 else 0
        self._update(R.GENERAL_MASK, R.GENERAL_MASK_SHUNT_250, shunt)
        self._write(R.INTERRUPT_MASK, R.INT_MASK_DEFAULT)
        return info

    async def close(self) -> None:
        await self._run(self._bus.close)

    # --- control -----------------------------------------------------------------------

    async def enable(self, channel: int) -> None:
        self._check_channel(channel)
        await self._run(lambda: self._enable_sync(channel))

    def _enable_sync(self, channel: int) -> None:
        shift = R.mode_shift(channel)
        self._update(R.OPERATING_MODE, R.MODE_MASK << shift, R.MODE_SEMI_AUTO << shift)
        both = R.port_bit(channel) | R.port_bit_high(channel)
        self._update(R.DETECT_CLASS_ENABLE, 0, both)
        self._update(R.DISCONNECT_ENABLE, 0, R.port_bit(channel))
        self._faults.pop(channel, None)
        self._retry_at.pop(channel, None)
        self._held.discard(channel)
        if not self._read(R.POWER_STATUS) & R.port_bit(channel):
            self._write(R.DETECT_CLASS_RESTART, both)
            self._write(R.POWER_ENABLE, R.port_bit(channel))

    async def disable(self, channel: int) -> None:
        self._check_channel(channel)
        await self._run(lambda: self._disable_sync(channel))

    def _disable_sync(self, channel: int) -> None:
        self._write(R.POWER_ENABLE, R.port_bit_high(channel))
        shift = R.mode_shift(channel)
        self._update(R.OPERATING_MODE, R.MODE_MASK << shift, R.MODE_OFF << shift)
        self._update(R.DETECT_CLASS_ENABLE, R.port_bit(channel) | R.port_bit_high(channel), 0)
        self._faults.pop(channel, None)
        self._held.discard(channel)

    async def power_cycle(self, channel: int, off_s: float = POWER_CYCLE_OFF_S) -> None:
        self._check_channel(channel)
        await self._run(lambda: self._cycle_off_sync(channel))
        try:
            await self._sleep(off_s)
        finally:
            await self._run(lambda: self._cycle_on_sync(channel))

    def _cycle_off_sync(self, channel: int) -> None:
        if self._snapshot().mode_of(channel) == R.MODE_OFF:
            raise PortDisabledError(self.id, channel)
        self._held.add(channel)
        self._write(R.POWER_ENABLE, R.port_bit_high(channel))

    def _cycle_on_sync(self, channel: int) -> None:
        if channel not in self._held:
            return  # disabled (or re-enabled) during the pause: that call decided
        self._held.discard(channel)
        if self._snapshot().mode_of(channel) != R.MODE_OFF:
            self._write(R.POWER_ENABLE, R.port_bit(channel))

    # --- status ------------------------------------------------------------------------

    async def status(self, channel: int) -> PortStatus:
        self._check_channel(channel)
        return (await self._run(lambda: self._statuses_sync((channel,))))[channel]

    async def statuses(self) -> dict[int, PortStatus]:
        return await self._run(lambda: self._statuses_sync(self.channels))

    def _statuses_sync(self, channels: Iterable[int]) -> dict[int, PortStatus]:
        snap = self._snapshot()
        return {channel: self._port_status(snap, channel) for channel in channels}

    def _port_status(self, snap: _Snapshot, channel: int) -> PortStatus:
        admin = snap.mode_of(channel) != R.MODE_OFF
        if not admin:
            return PortStatus(channel, admin_enabled=False, power=PortPower.DISABLED,
                              power_mw=0)
        good = snap.good(channel)
        fault = (None if good else self._faults.get(channel)) \
            or R.DETECT_FAULTS.get(snap.detect(channel)) \
            or _CLASS_FAULTS.get(snap.class_code(channel))
        if good:
            current = R.current_ua(self._read_word(R.PORT_CURRENT + R.PORT_STRIDE * channel),
                                   self._shunt_mohm)
            voltage = R.voltage_mv(self._read_word(R.PORT_VOLTAGE + R.PORT_STRIDE * channel))
            return PortStatus(channel, admin_enabled=True, power=PortPower.DELIVERING,
                              pd_class=snap.pd_class(channel),
                              power_mw=current * voltage // 1_000_000, voltage_mv=voltage,
                              current_ua=current, fault=None)
        return PortStatus(channel, admin_enabled=True,
                          power=PortPower.FAULT if fault else PortPower.SEARCHING,
                          pd_class=snap.pd_class(channel), power_mw=0, fault=fault)

    async def temperature_mc(self) -> int:
        """Die temperature in m°C."""
        return R.temperature_mc(await self._run(lambda: self._read(R.TEMPERATURE)))

    async def input_voltage_mv(self) -> int:
        """The VPWR (48-57 V) rail, mV."""
        return R.voltage_mv(await self._run(lambda: self._read_word(R.INPUT_VOLTAGE)))

    # --- events ------------------------------------------------------------------------

    async def poll_events(self) -> list[PseEvent]:
        return await self._run(self._poll_sync)

    def _poll_sync(self) -> list[PseEvent]:
        power = self._read(R.POWER_EVENT_COR)
        detect = self._read(R.DETECT_EVENT_COR)
        fault = self._read(R.FAULT_EVENT_COR)
        start = self._read(R.START_EVENT_COR)
        supply = self._read(R.SUPPLY_EVENT_COR)
        snap = self._snapshot()
        now = self._clock()
        events: list[PseEvent] = []
        for channel in self.channels:
            low, high = R.port_bit(channel), R.port_bit_high(channel)
            for bits, mask, detail in ((fault, low, "overcurrent (ICUT)"),
                                       (start, low, "start fault (inrush)"),
                                       (start, high, "current limit (ILIM)")):
                if bits & mask:
                    self._faults[channel] = detail
                    self._retry_at[channel] = now + self._fault_retry_s
                    events.append(PseEvent(PseEventKind.OVERCURRENT, channel, detail=detail))
            if fault & high:
                events.append(PseEvent(PseEventKind.DISCONNECTED, channel))
            if power & high and not snap.good(channel):
                events.append(PseEvent(PseEventKind.UNPOWERED, channel))
            pd_class = snap.pd_class(channel)
            if detect & high and pd_class is not None:
                events.append(PseEvent(PseEventKind.CLASS_DETECTED, channel, pd_class))
            if power & high and snap.good(channel):
                events.append(self._powered(channel, pd_class))
        for bit, name in R.SUPPLY_NAMES.items():
            if supply & bit:
                events.append(PseEvent(PseEventKind.SUPPLY_FAULT, None, detail=name))
        if self._power_classified(snap, now):
            # Report the power-good edges of the PWONs just written in this same poll.
            power = self._read(R.POWER_EVENT_COR)
            snap = self._snapshot()
            events += [self._powered(c, snap.pd_class(c)) for c in self.channels
                       if power & R.port_bit_high(c) and snap.good(c)]
        return events

    def _powered(self, channel: int, pd_class: int | None) -> PseEvent:
        self._faults.pop(channel, None)
        return PseEvent(PseEventKind.POWERED, channel, pd_class)

    def _power_classified(self, snap: _Snapshot, now: float) -> bool:
        """Semi-auto housekeeping: PWON every enabled, unpowered port whose last detection
        and classification were valid (not held by a power-cycle, not cooling down after a
        fault). Returns whether anything was written."""
        wrote = False
        for channel in self.channels:
            if (snap.mode_of(channel) == R.MODE_SEMI_AUTO and not snap.enabled(channel)
                    and snap.detect(channel) == R.DETECT_R_OK
                    and snap.class_code(channel) in R.CLASS_CODES
                    and channel not in self._held
                    and now >= self._retry_at.get(channel, now)):
                self._write(R.POWER_ENABLE, R.port_bit(channel))
                wrote = True
        return wrote
