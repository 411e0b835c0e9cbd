"""Serial lines (PTZ RS-485 bus, technicians' console): one opener for /dev paths and URLs."""

from hal.serial.open import (
    LineSettings,
    SerialFactory,
    SerialOpenError,
    open_serial,
    open_serial_port,
)

__all__ = [
    "LineSettings",
    "SerialFactory",
    "SerialOpenError",
    "open_serial",
    "open_serial_port",
]
