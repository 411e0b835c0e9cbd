"""How one dome on the bus is set up: protocol, address, baud, turbo.

These mirror the dome's DIP switches / OSD menu, so they come from nvrd.toml per camera
channel; the daemon builds one :class:`DomeSettings` per channel and hands it to
:class:`hal.ptz.dome.PelcoDome`.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.ptz import pelco_d, pelco_p
from hal.ptz.commands import Command, PtzProtocol

__all__ = ["DomeSettings"]

_BAUDS = frozenset({1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200})


@dataclass(frozen=True, slots=True)
class DomeSettings:
    """One dome, addressed as the installer numbers it.

    ``address`` is the number set on the dome: Pelco-D 1..255; Pelco-P 1..256 when
    ``p_zero_based`` (the usual case: camera 1 sends 0x00 on the wire), else 0..255.
    ``baud`` ``None`` = the bus's rate. ``turbo`` is the byte this dome takes as turbo pan
    speed (0x40 on older Pelco, 0xFF per the Pelco-D manual); ``None`` = no turbo.
    """

    protocol: PtzProtocol
    address: int
    baud: int | None = None
    turbo: int | None = None
    p_zero_based: bool = True

    def __post_init__(self) -> None:
        low, high = self._address_range()
        if not low <= self.address <= high:
            raise ValueError(f"{self.protocol.label} dome address {self.address} is out of "
                             f"range {low}..{high}")
        if self.baud is not None and self.baud not in _BAUDS:
            raise ValueError(f"{self.baud} baud is not a PTZ rate "
                             f"({', '.join(map(str, sorted(_BAUDS)))})")
        if self.turbo is not None and not 0x40 <= self.turbo <= 0xFF:
            raise ValueError(f"turbo speed byte 0x{self.turbo:02x} must be 0x40..0xff")

    def _address_range(self) -> tuple[int, int]:
        if self.protocol is PtzProtocol.PELCO_D:
            return 1, 255
        return (1, 256) if self.p_zero_based else (0, 255)

    @property
    def wire_address(self) -> int:
        """The address byte sent on the line."""
        if self.protocol is PtzProtocol.PELCO_P and self.p_zero_based:
            return self.address - 1
        return self.address

    @property
    def label(self) -> str:
        """``Pelco-D dome 3``: how errors and logs name the dome."""
        return f"{self.protocol.label} dome {self.address}"

    def encode(self, command: Command) -> bytes:
        codec = pelco_d if self.protocol is PtzProtocol.PELCO_D else pelco_p
        return codec.encode(self.wire_address, command, turbo=self.turbo)
