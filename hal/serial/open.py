"""One opener for every serial line the box has: the PTZ RS-485 bus and the console.

It takes a ``/dev`` path or any pyserial URL (``socket://host:port``, ``loop://``), so the
PTZ bus or the technicians' console can be a pty made by ``hal/sim``, a serial server on the
network, or the real UART, with the same code above it.

RS-485 direction control (the kernel's ``TIOCSRS485``: the UART raises RTS, wired to the
transceiver's DE pin, while it transmits) is a board feature (``rs485_rts_direction``). When
the port cannot do it — a pty (``ENOTTY``), a USB adapter whose driver lacks the ioctl, a
network URL — opening still succeeds, with the reason logged: most transceivers on RS-485
boards switch direction by themselves, and a PTZ bus that talks without it is worth more
than one that refuses to open. Timing RTS from Python is deliberately not offered: at
2400–9600 baud its jitter corrupts the first or last byte of a frame.

The port is returned open and non-blocking (``timeout=0``): callers read it from the event
loop with ``loop.add_reader(port.fileno())``. Opening can block (a TCP connect for
``socket://``, a slow USB adapter), so async callers run :func:`open_serial` in a thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import serial
import serial.rs485

from hal.board import SerialPort

__all__ = [
    "LineSettings",
    "SerialFactory",
    "SerialOpenError",
    "open_serial",
    "open_serial_port",
]

logger = logging.getLogger(__name__)

Parity = Literal["N", "E", "O"]
SerialFactory = Callable[..., Any]
"""Makes a pyserial port: ``serial.serial_for_url`` in production, a fake in tests."""

_URL_MARK = "://"


@dataclass(frozen=True, slots=True)
class LineSettings:
    """Where a serial line is and how it is framed: what a technician reads off a label."""

    device: str
    """A ``/dev`` path or a pyserial URL (``socket://127.0.0.1:4001``)."""
    baud: int = 9600
    data_bits: int = 8
    parity: Parity = "N"
    stop_bits: int = 1
    rs485_rts_direction: bool = False
    """Ask the kernel to drive the transceiver's DE pin from RTS (``TIOCSRS485``)."""

    @classmethod
    def from_port(cls, port: SerialPort, *, device: str | None = None) -> LineSettings:
        """From the board profile; ``device`` overrides the profile's (the sim's pty path)."""
        return cls(device=device or port.device, baud=port.baud, data_bits=port.data_bits,
                   parity=port.parity, stop_bits=port.stop_bits,
                   rs485_rts_direction=port.rs485_rts_direction)

    @property
    def framing(self) -> str:
        """``8N1``, as printed on dome labels."""
        return f"{self.data_bits}{self.parity}{self.stop_bits}"

    def describe(self, baud: int | None = None) -> str:
        """``/dev/ttyS1 at 9600 8N1`` (with ``baud`` when a dome runs at another rate)."""
        return f"{self.device} at {baud or self.baud} {self.framing}"

    @property
    def is_url(self) -> bool:
        return _URL_MARK in self.device


class SerialOpenError(OSError):
    """The port could not be opened or configured; says which port and why."""

    def __init__(self, line: LineSettings, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"cannot open serial port {line.describe()}: {reason}")


def open_serial(line: LineSettings, *,
                factory: SerialFactory = serial.serial_for_url) -> Any:
    """Open ``line`` and return the pyserial port, non-blocking, framing applied.

    Blocks (TCP connect, device open): call it in a thread from async code. Raises
    :class:`SerialOpenError`; a port that cannot do RS-485 direction control is not an
    error (see the module docstring).
    """
    try:
        port = factory(line.device, baudrate=line.baud, bytesize=line.data_bits,
                       parity=line.parity, stopbits=line.stop_bits, timeout=0,
                       write_timeout=0)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise SerialOpenError(line, _reason(exc)) from exc
    if line.rs485_rts_direction:
        _enable_rs485(port, line)
    return port


def open_serial_port(port: SerialPort, *, device: str | None = None,
                     factory: SerialFactory = serial.serial_for_url) -> Any:
    """:func:`open_serial` for a board profile entry (``device`` overrides, e.g. a pty)."""
    return open_serial(LineSettings.from_port(port, device=device), factory=factory)


def _enable_rs485(port: Any, line: LineSettings) -> bool:
    """Switch the UART to kernel RS-485 mode; log and carry on when it cannot."""
    if line.is_url:
        logger.warning("RS-485 direction control skipped on %s: it is a network/URL port, "
                       "the remote end drives the transceiver", line.describe())
        return False
    settings = serial.rs485.RS485Settings(rts_level_for_tx=True, rts_level_for_rx=False,
                                          loopback=False)
    try:
        port.rs485_mode = settings
    except (ValueError, OSError, NotImplementedError, serial.SerialException) as exc:
        # pyserial stores the settings before the ioctl fails and re-applies them on every
        # later reconfiguration (each baud change would then raise), so forget them.
        port._rs485_mode = None
        logger.warning("RS-485 direction control skipped on %s: the port does not support "
                       "it (%s); relying on an auto-direction transceiver",
                       line.describe(), _reason(exc))
        return False
    logger.info("RS-485 direction control enabled on %s (RTS high while sending)",
                line.describe())
    return True


def _reason(exc: BaseException) -> str:
    """The OS's words for what failed (``[Errno 25] Inappropriate ioctl for device``)."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OSError) and cause.strerror:
        return f"{cause.strerror} (errno {cause.errno})"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} (errno {exc.errno})"
    return str(exc) or type(exc).__name__
