"""RS-485 PTZ: Pelco-D/P codecs, the shared bus, one dome per channel, software tours.

Layers (each usable on its own): ``pelco_d``/``pelco_p`` (bytes ↔ :class:`Frame`, pure)
→ ``scanner`` (byte stream → frames, resync) → ``bus`` (serial line, per-dome baud, echo,
replies) → ``dome`` (the :class:`PtzCamera` API) → ``tour``.
"""

from hal.ptz import pelco_d, pelco_p
from hal.ptz.base import DEFAULT_SPEED, PtzCamera, PtzPosition
from hal.ptz.bus import INTER_FRAME_GAP_S, BusStats, PtzBus
from hal.ptz.commands import (
    MAX_SPEED,
    Command,
    Extended,
    Focus,
    Frame,
    Iris,
    Motion,
    Op,
    Pan,
    PtzProtocol,
    Tilt,
    Zoom,
    describe,
)
from hal.ptz.dome import REPLY_TIMEOUT_S, PelcoDome
from hal.ptz.errors import BusClosedError, BusError, FrameError, NoReplyError, PtzError
from hal.ptz.scanner import FrameScanner
from hal.ptz.settings import DomeSettings
from hal.ptz.tour import Tour, TourRunner, TourState, TourStop

__all__ = [
    "DEFAULT_SPEED",
    "INTER_FRAME_GAP_S",
    "MAX_SPEED",
    "REPLY_TIMEOUT_S",
    "BusClosedError",
    "BusError",
    "BusStats",
    "Command",
    "DomeSettings",
    "Extended",
    "Focus",
    "Frame",
    "FrameError",
    "FrameScanner",
    "Iris",
    "Motion",
    "NoReplyError",
    "Op",
    "Pan",
    "PelcoDome",
    "PtzBus",
    "PtzCamera",
    "PtzError",
    "PtzPosition",
    "PtzProtocol",
    "Tilt",
    "Tour",
    "TourRunner",
    "TourState",
    "TourStop",
    "Zoom",
    "decode",
    "describe",
]


def decode(data: bytes) -> Frame:
    """Decode one frame of either protocol, chosen by its first byte."""
    if data[:1] == bytes([pelco_p.STX]):
        return pelco_p.decode(data)
    return pelco_d.decode(data)
