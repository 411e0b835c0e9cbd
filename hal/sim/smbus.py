"""A simulated I²C adapter: the ``SMBusLike`` calls routed to register models at 7-bit
addresses, with the kernel's errors (ENXIO for an address nobody acknowledges, EBUSY while
"a kernel driver is bound") and one-shot fault injection. Every write is logged as
(address, register, value) so tests can assert write sequences byte for byte.
"""

from __future__ import annotations

import errno
import os
import threading
from typing import Protocol

__all__ = ["RegisterDevice", "SimSMBus"]


class RegisterDevice(Protocol):
    def read_register(self, register: int) -> int: ...

    def write_register(self, register: int, value: int) -> None: ...


class SimSMBus:
    """An I²C adapter hosting register devices; logs every write as (addr, reg, value)."""

    def __init__(self, name: str = "sim-i2c0") -> None:
        self.name = name
        self.writes: list[tuple[int, int, int]] = []
        self._devices: dict[int, RegisterDevice] = {}
        self._busy: set[int] = set()
        self._errors: dict[int, list[int]] = {}
        self._lock = threading.Lock()

    def attach(self, address: int, device: RegisterDevice) -> None:
        with self._lock:
            self._devices[address] = device

    def detach(self, address: int) -> None:
        """The chip is gone (unpowered, unsoldered): further transfers get ENXIO."""
        with self._lock:
            self._devices.pop(address, None)

    def set_busy(self, address: int, busy: bool = True) -> None:
        """As if a kernel driver were bound: the I2C_SLAVE ioctl fails with EBUSY."""
        with self._lock:
            (self._busy.add if busy else self._busy.discard)(address)

    def inject_error(self, address: int, err: int, count: int = 1) -> None:
        """The next ``count`` transfers to ``address`` fail with ``err``."""
        with self._lock:
            self._errors.setdefault(address, []).extend([err] * count)

    def _device(self, address: int) -> RegisterDevice:
        with self._lock:
            pending = self._errors.get(address)
            if pending:
                err = pending.pop(0)
                raise OSError(err, os.strerror(err))
            if address in self._busy:
                raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))
            device = self._devices.get(address)
        if device is None:
            raise OSError(errno.ENXIO, os.strerror(errno.ENXIO))
        return device

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        return self._device(i2c_addr).read_register(register)

    def write_byte_data(self, i2c_addr: int, register: int, value: int,
                        force: bool | None = None) -> None:
        device = self._device(i2c_addr)
        with self._lock:
            self.writes.append((i2c_addr, register, value))
        device.write_register(register, value)

    def read_word_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        device = self._device(i2c_addr)
        return device.read_register(register) | device.read_register(register + 1) << 8

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int,
                            force: bool | None = None) -> list[int]:
        device = self._device(i2c_addr)
        return [device.read_register(register + i) for i in range(length)]

    def close(self) -> None:
        pass
