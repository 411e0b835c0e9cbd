"""TI TPS23861 register map and scale factors: the one place that knows the numbers.

Both the driver (``hal/poe/tps23861.py``) and the register model (``hal/sim/tps23861.py``)
import from here, so a wrong constant shows up as a test failure against the reference
figures rather than as two copies that agree with each other.

Per-port registers use bit ``n`` (low nibble) or bit ``n + 4`` (high nibble) for channel
``n`` (0-3, the datasheet's "Port 1-4"). Sources: the reference digest §2.1, Linux
``drivers/hwmon/tps23861.c`` and TI's TPS238x register header.
"""

from __future__ import annotations

from typing import Final

CHANNELS: Final = 4

# --- event registers: each has a plain read address and a clear-on-read (CoR) twin ----------
INTERRUPT: Final = 0x00          # summary: which event group has something pending
INTERRUPT_MASK: Final = 0x01     # 1 = unmasked (drives the open-drain INT pin)
POWER_EVENT: Final = 0x02        # [3:0] power-enable change, [7:4] power-good change
POWER_EVENT_COR: Final = 0x03
DETECT_EVENT: Final = 0x04       # [3:0] detection cycle, [7:4] classification cycle
DETECT_EVENT_COR: Final = 0x05
FAULT_EVENT: Final = 0x06        # [3:0] ICUT (overcurrent), [7:4] disconnect
FAULT_EVENT_COR: Final = 0x07
START_EVENT: Final = 0x08        # [3:0] inrush/start fault, [7:4] ILIM
START_EVENT_COR: Final = 0x09
SUPPLY_EVENT: Final = 0x0A       # TSD b7, VDUV b6, VDWRN b5, VPUV b4
SUPPLY_EVENT_COR: Final = 0x0B
# Plain address -> CoR twin, for the model.
COR_TWINS: Final = {POWER_EVENT_COR: POWER_EVENT, DETECT_EVENT_COR: DETECT_EVENT,
                    FAULT_EVENT_COR: FAULT_EVENT, START_EVENT_COR: START_EVENT,
                    SUPPLY_EVENT_COR: SUPPLY_EVENT}

# INTERRUPT / INTERRUPT_MASK bits
INT_PEC: Final = 0x01     # power enable change
INT_PGC: Final = 0x02     # power good change
INT_DISF: Final = 0x04    # disconnect
INT_DETC: Final = 0x08    # detection cycle
INT_CLASC: Final = 0x10   # classification cycle
INT_IFAULT: Final = 0x20  # ICUT or ILIM
INT_INRF: Final = 0x40    # inrush / start fault
INT_SUPF: Final = 0x80    # supply event
# What nvrd unmasks: everything but the continuous detection cycles of empty ports.
INT_MASK_DEFAULT: Final = INT_PEC | INT_PGC | INT_DISF | INT_CLASC | INT_IFAULT | INT_INRF \
    | INT_SUPF

# SUPPLY_EVENT bits
SUPPLY_TSD: Final = 0x80    # thermal shutdown
SUPPLY_VDUV: Final = 0x40   # VDD undervoltage (power-on reset happened)
SUPPLY_VDWRN: Final = 0x20  # VDD below the UVLO warning threshold
SUPPLY_VPUV: Final = 0x10   # VPWR (the 48 V rail) undervoltage
SUPPLY_NAMES: Final = {SUPPLY_TSD: "thermal shutdown", SUPPLY_VDUV: "VDD undervoltage",
                       SUPPLY_VDWRN: "VDD undervoltage warning",
                       SUPPLY_VPUV: "VPWR undervoltage"}

# --- per-port status (0x0C + n): [7:4] class, [3:0] detection result -------------------------
PORT_STATUS: Final = 0x0C
CLASS_UNKNOWN: Final = 0
CLASS_RESERVED: Final = 5     # read as class 0, like the Linux driver
CLASS_0: Final = 6
CLASS_OVERCURRENT: Final = 7
CLASS_MISMATCH: Final = 8
# status code -> IEEE class (codes 1-4 are the class itself)
CLASS_CODES: Final = {1: 1, 2: 2, 3: 3, 4: 4, CLASS_RESERVED: 0, CLASS_0: 0}

DETECT_UNKNOWN: Final = 0
DETECT_SHORT: Final = 1
DETECT_R_LOW: Final = 3
DETECT_R_OK: Final = 4
DETECT_R_HIGH: Final = 5
DETECT_OPEN: Final = 6
DETECT_MOSFET_FAULT: Final = 8
DETECT_LEGACY: Final = 9
# Detection results that are a fault of the port rather than "nothing plugged in".
DETECT_FAULTS: Final = {DETECT_SHORT: "short circuit", DETECT_MOSFET_FAULT: "MOSFET fault"}

POWER_STATUS: Final = 0x10    # [3:0] PE (power enabled), [7:4] PG (power good = delivering)
I2C_ADDRESS: Final = 0x11     # b7 AUTO at power-up
OPERATING_MODE: Final = 0x12  # 2 bits per port
MODE_OFF: Final = 0
MODE_MANUAL: Final = 1
MODE_SEMI_AUTO: Final = 2
MODE_AUTO: Final = 3
MODE_MASK: Final = 0x3
DISCONNECT_ENABLE: Final = 0x13   # [3:0] DC disconnect per port
DETECT_CLASS_ENABLE: Final = 0x14  # [3:0] detection, [7:4] classification
POWER_PRIORITY: Final = 0x15      # fast shutdown
GENERAL_MASK: Final = 0x17
GENERAL_MASK_SHUNT_250: Final = 0x01  # b0 set: 250 mΩ sense resistor; clear: 255 mΩ
DETECT_CLASS_RESTART: Final = 0x18  # (W) [3:0] restart detection, [7:4] restart classification
POWER_ENABLE: Final = 0x19          # (W) [3:0] PWON, [7:4] PWOFF; both on one port = off
RESET: Final = 0x1A                 # (W) [3:0] port reset, b4 registers, b7 CLRAIN
RESET_CLRAIN: Final = 0x80

# --- measurements ----------------------------------------------------------------------------
TEMPERATURE: Final = 0x2C
INPUT_VOLTAGE: Final = 0x2E       # 14-bit little-endian word
PORT_CURRENT: Final = 0x30        # + 4n, 14-bit LE word
PORT_VOLTAGE: Final = 0x32        # + 4n, 14-bit LE word
PORT_STRIDE: Final = 4
ADC_MASK: Final = 0x3FFF
POE_PLUS: Final = 0x40
FIRMWARE_REVISION: Final = 0x41
DEVICE_ID: Final = 0x43
DETECT_RESISTANCE: Final = 0x60   # + 2n
LAST_REGISTER: Final = 0x6F

# Scale factors (integer units so conversions are exact and testable).
VOLTAGE_LSB_UV: Final = 3662               # 3.662 mV per LSB, port and input voltage
CURRENT_LSB_NA: Final = {255: 61039, 250: 62260}  # per shunt in mΩ
TEMPERATURE_LSB_MC: Final = 652            # T(m°C) = raw * 652 - 20000
TEMPERATURE_OFFSET_MC: Final = 20000


def port_bit(channel: int) -> int:
    """The low-nibble bit of a channel (PWON, PE, DETE, ICUT, ...)."""
    return 1 << channel


def port_bit_high(channel: int) -> int:
    """The high-nibble bit of a channel (PWOFF, PG, CLE, disconnect, ...)."""
    return 1 << (channel + 4)


def mode_shift(channel: int) -> int:
    return 2 * channel


def current_ua(raw: int, shunt_mohm: int) -> int:
    return (raw & ADC_MASK) * CURRENT_LSB_NA[shunt_mohm] // 1000


def voltage_mv(raw: int) -> int:
    return (raw & ADC_MASK) * VOLTAGE_LSB_UV // 1000


def temperature_mc(raw: int) -> int:
    return raw * TEMPERATURE_LSB_MC - TEMPERATURE_OFFSET_MC
