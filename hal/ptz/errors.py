"""PTZ errors. Each carries the data it is about and reads well on the installer page."""

from __future__ import annotations

__all__ = ["BusClosedError", "BusError", "FrameError", "NoReplyError", "PtzError"]


class PtzError(Exception):
    """Base of every PTZ error."""


class FrameError(PtzError, ValueError):
    """Bytes that are not a valid frame of ``protocol`` (bad sync, checksum, length)."""

    def __init__(self, protocol: str, data: bytes, reason: str) -> None:
        self.protocol = protocol
        self.data = bytes(data)
        self.reason = reason
        super().__init__(f"not a {protocol} frame ({reason}): {self.data.hex(' ')}")


class BusError(PtzError):
    """The RS-485 line itself failed (write error, stalled transmitter, bad baud)."""

    def __init__(self, line: str, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"RS-485 bus {line}: {reason}")


class BusClosedError(BusError):
    """The bus was closed, or the port vanished (USB adapter unplugged, pty closed)."""


class NoReplyError(PtzError, TimeoutError):
    """A dome did not answer a query in time: wrong address, protocol or baud, wiring."""

    def __init__(self, dome: str, line: str, timeout_s: float, query: str) -> None:
        self.dome = dome
        self.line = line
        self.timeout_s = timeout_s
        self.query = query
        super().__init__(f"no reply from {dome} on {line} within {timeout_s:g} s "
                         f"(to {query}); check the dome's address, protocol and baud rate "
                         f"and the A/B wiring")
