"""Pelco-D frames: 7 bytes, ``FF addr cmd1 cmd2 data1 data2 sum``. Pure; no I/O.

- Address 1..255 (0 is treated as broadcast by some domes); checksum = bytes 2..6 mod 256.
- Cmd1: bit 7 "sense" qualifies bits 4/3 (sense=1: auto-scan on / camera on; sense=0:
  manual / camera off), bit 2 iris close, bit 1 iris open, bit 0 focus near.
- Cmd2: bit 7 focus far, 6 zoom wide, 5 zoom tele, 4 tilt down, 3 tilt up, 2 pan left,
  1 pan right, bit 0 set = extended command (Cmd2 is then the opcode, Data1/Data2 its
  parameters; a dome's position replies use the same shape: ``FF addr 00 59 MSB LSB sum``).
- Data1 pan speed, Data2 tilt speed, 0..0x3F; pan above 0x3F is turbo (0x40 or 0xFF,
  depending on the dome).
"""

from __future__ import annotations

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

__all__ = ["FRAME", "FRAME_LENGTH", "SYNC", "decode", "encode", "encode_fields"]

SYNC = 0xFF
FRAME_LENGTH = 7
PROTOCOL = PtzProtocol.PELCO_D

FRAME = Struct(
    "sync" / Const(bytes([SYNC])),
    "body" / RawCopy(Struct(
        "address" / Int8ub,
        "cmd1" / Int8ub,
        "cmd2" / Int8ub,
        "data1" / Int8ub,
        "data2" / Int8ub,
    )),
    "checksum" / Checksum(Int8ub, lambda body: sum(body) & 0xFF, this.body.data),
)

# Cmd1
_SENSE, _SCAN, _CAMERA = 0x80, 0x10, 0x08
_IRIS_CLOSE, _IRIS_OPEN, _FOCUS_NEAR = 0x04, 0x02, 0x01
# Cmd2
_FOCUS_FAR, _ZOOM_WIDE, _ZOOM_TELE = 0x80, 0x40, 0x20
_DOWN, _UP, _LEFT, _RIGHT, _EXTENDED = 0x10, 0x08, 0x04, 0x02, 0x01


def encode_fields(address: int, cmd1: int, cmd2: int, data1: int, data2: int) -> bytes:
    """A frame from raw field values (checksum computed)."""
    for name, value in (("address", address), ("cmd1", cmd1), ("cmd2", cmd2),
                        ("data1", data1), ("data2", data2)):
        if not 0 <= value <= 0xFF:
            raise ValueError(f"Pelco-D {name} {value} is not a byte (0..255)")
    fields = {"address": address, "cmd1": cmd1, "cmd2": cmd2, "data1": data1,
              "data2": data2}
    return bytes(FRAME.build({"body": {"value": fields}, "checksum": None}))


def encode(address: int, command: Command, *, turbo: int | None = None) -> bytes:
    """The frame telling dome ``address`` to do ``command``.

    ``turbo``: this dome's turbo pan-speed byte (0x40 or 0xFF); ``None`` = no turbo, a
    turbo request is sent as the fastest normal speed.
    """
    if isinstance(command, Extended):
        return encode_fields(address, 0, command.op | _EXTENDED, command.data1,
                             command.data2)
    cmd1 = cmd2 = 0
    cmd1 |= {Iris.OPEN: _IRIS_OPEN, Iris.CLOSE: _IRIS_CLOSE}.get(command.iris, 0)
    cmd1 |= _FOCUS_NEAR if command.focus is Focus.NEAR else 0
    cmd2 |= _FOCUS_FAR if command.focus is Focus.FAR else 0
    cmd2 |= {Zoom.IN: _ZOOM_TELE, Zoom.OUT: _ZOOM_WIDE}.get(command.zoom, 0)
    cmd2 |= {Pan.LEFT: _LEFT, Pan.RIGHT: _RIGHT}.get(command.pan, 0)
    cmd2 |= {Tilt.UP: _UP, Tilt.DOWN: _DOWN}.get(command.tilt, 0)
    if command.camera_on is not None:
        cmd1 |= _CAMERA | (_SENSE if command.camera_on else 0)
    pan_speed = _pan_speed(command, turbo)
    tilt_speed = clamp_speed(command.tilt_speed) if command.tilt is not Tilt.STOP else 0
    return encode_fields(address, cmd1, cmd2, pan_speed, tilt_speed)


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
        raise FrameError(PROTOCOL.label, data, f"no sync byte 0x{SYNC:02x}") from exc
    body = parsed.body.value
    return Frame(PROTOCOL, body.address, _command(body.cmd1, body.cmd2, body.data1,
                                                  body.data2), bytes(data))


def _command(cmd1: int, cmd2: int, data1: int, data2: int) -> Command:
    if cmd2 & _EXTENDED:
        return Extended(cmd2, data1, data2)
    camera_on = bool(cmd1 & _SENSE) if cmd1 & _CAMERA else None
    return Motion(
        pan=Pan.LEFT if cmd2 & _LEFT else Pan.RIGHT if cmd2 & _RIGHT else Pan.STOP,
        tilt=Tilt.UP if cmd2 & _UP else Tilt.DOWN if cmd2 & _DOWN else Tilt.STOP,
        pan_speed=min(data1, MAX_SPEED),
        tilt_speed=min(data2, MAX_SPEED),
        turbo=data1 > MAX_SPEED,
        zoom=Zoom.IN if cmd2 & _ZOOM_TELE else Zoom.OUT if cmd2 & _ZOOM_WIDE else Zoom.STOP,
        focus=Focus.NEAR if cmd1 & _FOCUS_NEAR else Focus.FAR if cmd2 & _FOCUS_FAR
        else Focus.STOP,
        iris=Iris.OPEN if cmd1 & _IRIS_OPEN else Iris.CLOSE if cmd1 & _IRIS_CLOSE
        else Iris.STOP,
        camera_on=camera_on,
    )
