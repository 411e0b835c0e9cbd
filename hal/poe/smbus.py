"""The slice of smbus2 the PoE drivers use, as a Protocol, so tests and the simulated board
inject a register model instead of ``/dev/i2c-N``.

Why a Protocol and not smbus2 itself: the sim's ``SimSMBus`` must be accepted by mypy
without inheriting from smbus2, and the drivers must not depend on anything smbus2 offers
beyond these calls (each one is a single SMBus transaction the kernel performs atomically).

Errors follow the kernel: an address nobody acknowledges raises ``OSError(ENXIO)`` (some
adapters say EREMOTEIO), an address a kernel driver has claimed raises ``OSError(EBUSY)``
from the ``I2C_SLAVE`` ioctl smbus2 issues before every transfer.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["SMBusLike", "open_smbus"]


class SMBusLike(Protocol):
    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        ...

    def write_byte_data(self, i2c_addr: int, register: int, value: int,
                        force: bool | None = None) -> None:
        ...

    def read_word_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        """Little-endian: ``register`` is the low byte, ``register + 1`` the high byte."""
        ...

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int,
                            force: bool | None = None) -> list[int]:
        ...

    def close(self) -> None:
        ...


def open_smbus(bus: int) -> SMBusLike:
    """``smbus2.SMBus(bus)``; raises ``FileNotFoundError`` when ``/dev/i2c-<bus>`` is absent
    (no i2c-dev module, or the wrong bus number in the board profile)."""
    import smbus2

    smbus: SMBusLike = smbus2.SMBus(bus)
    return smbus
