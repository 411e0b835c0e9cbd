"""What a PTZ dome is told, independent of the protocol that carries it.

Pelco-D and Pelco-P carry the same two kinds of message in different bit positions:

- a :class:`Motion` (the "standard" command): bits for pan/tilt direction, zoom, focus,
  iris and camera power, plus pan and tilt speeds. A dome keeps doing what the last Motion
  said until the next one, so "stop" is simply a Motion with nothing set;
- an :class:`Extended` command: an opcode (odd: the low bit is the protocol's "extended"
  flag) and two parameter bytes — presets, auxiliaries, patterns, position set/query, and
  the dome's position *replies*.

The codecs (``pelco_d``, ``pelco_p``) map these to and from bytes; nothing here does I/O.
Speeds are 0..0x3F (:data:`MAX_SPEED`); turbo is a flag, because the byte that means turbo
differs between domes (0x40 or 0xFF) and is a per-dome setting.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "MAX_SPEED",
    "QUERY_REPLY",
    "Command",
    "Extended",
    "Focus",
    "Frame",
    "Iris",
    "Motion",
    "Op",
    "Pan",
    "PtzProtocol",
    "Tilt",
    "Zoom",
    "clamp_speed",
    "describe",
]

MAX_SPEED = 0x3F
"""Fastest non-turbo pan/tilt speed in both protocols."""


class PtzProtocol(enum.StrEnum):
    PELCO_D = "pelco-d"
    PELCO_P = "pelco-p"

    @property
    def label(self) -> str:
        """``Pelco-D``, as installers write it."""
        return "Pelco-D" if self is PtzProtocol.PELCO_D else "Pelco-P"


class Pan(enum.StrEnum):
    STOP = "stop"
    LEFT = "left"
    RIGHT = "right"


class Tilt(enum.StrEnum):
    STOP = "stop"
    UP = "up"
    DOWN = "down"


class Zoom(enum.StrEnum):
    STOP = "stop"
    IN = "in"
    """Tele: the picture gets closer."""
    OUT = "out"
    """Wide."""


class Focus(enum.StrEnum):
    STOP = "stop"
    NEAR = "near"
    FAR = "far"


class Iris(enum.StrEnum):
    STOP = "stop"
    OPEN = "open"
    CLOSE = "close"


class Op(enum.IntEnum):
    """Extended opcodes, the same numbers in Pelco-D (Cmd2) and Pelco-P (Data2).

    Beware copies with preset clear/call swapped: clear is 0x05, call (go to) is 0x07.
    """

    SET_PRESET = 0x03
    CLEAR_PRESET = 0x05
    CALL_PRESET = 0x07
    SET_AUX = 0x09
    CLEAR_AUX = 0x0B
    REMOTE_RESET = 0x0F
    ZONE_START = 0x11
    ZONE_END = 0x13
    WRITE_CHAR = 0x15
    CLEAR_SCREEN = 0x17
    ALARM_ACK = 0x19
    ZONE_SCAN_ON = 0x1B
    ZONE_SCAN_OFF = 0x1D
    PATTERN_START = 0x1F
    PATTERN_STOP = 0x21
    PATTERN_RUN = 0x23
    ZOOM_SPEED = 0x25
    FOCUS_SPEED = 0x27
    RESET_DEFAULTS = 0x29
    AUTO_FOCUS = 0x2B
    AUTO_IRIS = 0x2D
    AGC = 0x2F
    BLC = 0x31
    AWB = 0x33
    SET_PAN = 0x4B
    SET_TILT = 0x4D
    SET_ZOOM = 0x4F
    QUERY_PAN = 0x51
    QUERY_TILT = 0x53
    QUERY_ZOOM = 0x55
    PAN_REPLY = 0x59
    TILT_REPLY = 0x5B
    ZOOM_REPLY = 0x5D


QUERY_REPLY: dict[Op, Op] = {
    Op.QUERY_PAN: Op.PAN_REPLY,
    Op.QUERY_TILT: Op.TILT_REPLY,
    Op.QUERY_ZOOM: Op.ZOOM_REPLY,
}
"""The reply opcode a dome answers each query with."""

_REPLY_OPS = frozenset(QUERY_REPLY.values())


def clamp_speed(speed: int) -> int:
    """Into 0..0x3F: some domes misbehave above 63 unless turbo is meant."""
    return max(0, min(MAX_SPEED, int(speed)))


@dataclass(frozen=True, slots=True)
class Motion:
    """A standard command: what the dome should keep doing until told otherwise.

    Speeds of an axis that is not moving are sent as 0. ``turbo`` asks for the dome's turbo
    pan speed; it is encoded with the dome's turbo byte, or as 0x3F when the dome has none.
    """

    pan: Pan = Pan.STOP
    tilt: Tilt = Tilt.STOP
    pan_speed: int = 0
    tilt_speed: int = 0
    turbo: bool = False
    zoom: Zoom = Zoom.STOP
    focus: Focus = Focus.STOP
    iris: Iris = Iris.STOP
    camera_on: bool | None = None
    """``True``/``False`` switch the camera on/off; ``None`` leaves it alone."""

    @property
    def is_stop(self) -> bool:
        return self == Motion()


@dataclass(frozen=True, slots=True)
class Extended:
    """An extended command: ``op`` plus two parameter bytes (``data2`` is the preset or aux
    number; for positions ``data1``/``data2`` are the MSB/LSB of the value)."""

    op: int
    data1: int = 0
    data2: int = 0

    def __post_init__(self) -> None:
        if not (0 < self.op <= 0xFF and self.op & 1):
            raise ValueError(f"extended opcode 0x{self.op:02x} must be odd (the low bit is "
                             "the protocol's extended flag) and fit in a byte")
        if not (0 <= self.data1 <= 0xFF and 0 <= self.data2 <= 0xFF):
            raise ValueError(f"extended parameters {self.data1}, {self.data2} must be "
                             "bytes (0..255)")

    @property
    def value(self) -> int:
        """The 16-bit parameter, e.g. a position in 1/100° in a 0x59 reply."""
        return (self.data1 << 8) | self.data2

    @property
    def is_reply(self) -> bool:
        return self.op in _REPLY_OPS

    @classmethod
    def with_value(cls, op: int, value: int) -> Extended:
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"value {value} does not fit in 16 bits")
        return cls(op, value >> 8, value & 0xFF)


Command = Motion | Extended


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame as it was on the wire."""

    protocol: PtzProtocol
    address: int
    """The address byte on the wire (Pelco-P's is 0-based on most domes)."""
    command: Command
    raw: bytes


def describe(command: Command) -> str:
    """A technician's words for a command: ``pan left 32, zoom in``, ``call preset 5``."""
    if isinstance(command, Extended):
        try:
            name = Op(command.op).name.lower().replace("_", " ")
        except ValueError:
            return f"extended 0x{command.op:02x} {command.data1} {command.data2}"
        if command.op in (Op.SET_PAN, Op.SET_TILT, Op.SET_ZOOM) or command.is_reply:
            return f"{name} {command.value}"
        if command.data1 or command.data2:
            return f"{name} {command.data2}" if not command.data1 else (
                f"{name} {command.data1} {command.data2}")
        return name
    parts: list[str] = []
    if command.pan is not Pan.STOP:
        parts.append(f"pan {command.pan} {'turbo' if command.turbo else command.pan_speed}")
    if command.tilt is not Tilt.STOP:
        parts.append(f"tilt {command.tilt} {command.tilt_speed}")
    parts += [f"{what} {value}" for what, value in
              (("zoom", command.zoom), ("focus", command.focus), ("iris", command.iris))
              if value != "stop"]
    if command.camera_on is not None:
        parts.append("camera on" if command.camera_on else "camera off")
    return ", ".join(parts) or "stop"
