"""Pelco-P frames: 8 bytes, ``A0 addr d1 d2 d3 d4 AF xor``. Pure; no I/O.

- The address byte is 0-based on most domes (camera 1 = 0x00); :mod:`hal.ptz.settings`
  decides what goes on the wire, this module takes the wire byte.
- The checksum XORs all seven bytes *including* STX and ETX (what working domes and
  implementations do; one copy of the spec says bytes 2..6, which differs by 0x0F).
- Data1: bit 6 camera on, 5 auto-scan, 4 camera on/off, 3 iris close, 2 iris open,
  1 focus near, 0 focus far — focus and iris are NOT where Pelco-D has them.
- Data2: bit 6 zoom wide, 5 zoom tele, 4 tilt down, 3 tilt up, 2 pan left, 1 pan right,
  bit 0 = extended (same opcodes as Pelco-D; parameters in Data3/Data4).
- Data3 pan speed, Data4 tilt speed, 0..0x3F; pan above 0x3F is turbo.
"""

from __future__ import annotations

import functools
import operator

from construct import (
    Checksum,
    ChecksumError,
    Const,
    ConstructError,
    Int8ub,
    RawCopy,
    Struct,
    this,
)

from hal.ptz.commands import (
    MAX_SPEED,
    Command,
    Extended,
    Focus,
    Frame,
    Iris,
    Motion,
    Pan,
    PtzProtocol,
    Tilt,
    Zoom,
    clamp_speed,
)
from hal.ptz.errors import FrameError

__all__ = ["ETX", "FRAME", "FRAME_LENGTH", "STX", "decode", "encode", "encode_fields"]

STX = 0xA0
ETX = 0xAF
FRAME_LENGTH = 8
PROTOCOL = PtzProtocol.PELCO_P

FRAME = Struct(
    "body" / RawCopy(Struct(
        "stx" / Const(bytes([STX])),
        "address" / Int8ub,
        "data1" / Int8ub,
        "data2" / Int8ub,
        "data3" / Int8ub,
        "data4" / Int8ub,
        "etx" / Const(bytes([ETX])),
    )),
    "checksum" / Checksum(Int8ub, lambda body: functools.reduce(operator.xor, body, 0),
                          this.body.data),
)

# Data1
_CAMERA_ON, _CAMERA_ON_OFF = 0x40, 0x10
_IRIS_CLOSE, _IRIS_OPEN, _FOCUS_NEAR, _FOCUS_FAR = 0x08, 0x04, 0x02, 0x01
# Data2
_ZOOM_WIDE, _ZOOM_TELE = 0x40, 0x20
_DOWN, _UP, _LEFT, _RIGHT, _EXTENDED = 0x10, 0x08, 0x04, 0x02, 0x01


def encode_fields(address: int, data1: int, data2: int, data3: int, data4: int) -> bytes:
    """A frame from raw field values (checksum computed)."""
    for name, value in (("address", address), ("data1", data1), ("data2", data2),
                        ("data3", data3), ("data4", data4)):
        if not 0 <= value <= 0xFF:
            raise ValueError(f"Pelco-P {name} {value} is not a byte (0..255)")
    fields = {"address": address, "data1": data1, "data2": data2, "data3": data3,
              "data4": data4}
    return bytes(FRAME.build({"body": {"value": fields}, "checksum": None}))


def encode(address: int, command: Command, *, turbo: int | None = None) -> bytes:
    """The frame telling the dome at wire address ``address`` to do ``command``.

    ``turbo``: this dome's turbo pan-speed byte; ``None`` sends turbo as 0x3F.
    """
    if isinstance(command, Extended):
        return encode_fields(address, 0, command.op | _EXTENDED, command.data1,
                             command.data2)
    data1 = data2 = 0
    data1 |= {Iris.OPEN: _IRIS_OPEN, Iris.CLOSE: _IRIS_CLOSE}.get(command.iris, 0)
    data1 |= {Focus.NEAR: _FOCUS_NEAR, Focus.FAR: _FOCUS_FAR}.get(command.focus, 0)
    if command.camera_on is not None:
        data1 |= _CAMERA_ON_OFF | (_CAMERA_ON if command.camera_on else 0)
    data2 |= {Zoom.IN: _ZOOM_TELE, Zoom.OUT: _ZOOM_WIDE}.get(command.zoom, 0)
    data2 |= {Pan.LEFT: _LEFT, Pan.RIGHT: _RIGHT}.get(command.pan, 0)
    data2 |= {Tilt.UP: _UP, Tilt.DOWN: _DOWN}.get(command.tilt, 0)
    pan_speed = _pan_speed(command, turbo)
    tilt_speed = clamp_speed(command.tilt_speed) if command.tilt is not Tilt.STOP else 0
    return encode_fields(address, data1, data2, pan_speed, tilt_speed)


def _pan_speed(command: Motion, turbo: int | None) -> int:
    if command.pan is Pan.STOP:
        return 0
    if command.turbo:
        return turbo if turbo is not None else MAX_SPEED
    return clamp_speed(command.pan_speed)


def decode(data: bytes) -> Frame:
    """Parse exactly one frame; :class:`FrameError` says what is wrong with it."""
    if len(data) != FRAME_LENGTH:
        raise FrameError(PROTOCOL.label, data, f"{len(data)} bytes, expected {FRAME_LENGTH}")
    try:
        parsed = FRAME.parse(data)
    except ChecksumError as exc:
        raise FrameError(PROTOCOL.label, data, "bad checksum") from exc
    except ConstructError as exc:
        raise FrameError(PROTOCOL.label, data,
                         f"no STX 0x{STX:02x} / ETX 0x{ETX:02x}") from exc
    body = parsed.body.value
    return Frame(PROTOCOL, body.address, _command(body.data1, body.data2, body.data3,
                                                  body.data4), bytes(data))


def _command(data1: int, data2: int, data3: int, data4: int) -> Command:
    if data2 & _EXTENDED:
        return Extended(data2, data3, data4)
    camera_on = bool(data1 & _CAMERA_ON) if data1 & _CAMERA_ON_OFF else None
    return Motion(
        pan=Pan.LEFT if data2 & _LEFT else Pan.RIGHT if data2 & _RIGHT else Pan.STOP,
        tilt=Tilt.UP if data2 & _UP else Tilt.DOWN if data2 & _DOWN else Tilt.STOP,
        pan_speed=min(data3, MAX_SPEED),
        tilt_speed=min(data4, MAX_SPEED),
        turbo=data3 > MAX_SPEED,
        zoom=Zoom.IN if data2 & _ZOOM_TELE else Zoom.OUT if data2 & _ZOOM_WIDE
        else Zoom.STOP,
        focus=Focus.NEAR if data1 & _FOCUS_NEAR else Focus.FAR if data1 & _FOCUS_FAR
        else Focus.STOP,
        iris=Iris.OPEN if data1 & _IRIS_OPEN else Iris.CLOSE if data1 & _IRIS_CLOSE
        else Iris.STOP,
        camera_on=camera_on,
    )
