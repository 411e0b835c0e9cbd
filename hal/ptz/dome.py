"""One Pelco-D or Pelco-P dome on an RS-485 bus.

Construct one per camera channel from its settings and the shared bus::

    bus = await PtzBus.open(LineSettings.from_port(board.serial.port("ptz")))
    dome = PelcoDome(bus, DomeSettings(PtzProtocol.PELCO_D, address=3, baud=2400))
    await dome.move(Pan.LEFT, Tilt.UP, pan_speed=40)

Position queries use the extended 0x51/0x53/0x55 commands, which many (not all) Pelco
domes answer with 0x59/0x5B/0x5D frames; a dome that does not answer raises
:class:`~hal.ptz.errors.NoReplyError` after :data:`REPLY_TIMEOUT_S`.
"""

from __future__ import annotations

from hal.ptz.base import DEFAULT_SPEED, PtzCamera, PtzPosition
from hal.ptz.bus import PtzBus
from hal.ptz.commands import Command, Extended, Focus, Iris, Motion, Op, Pan, Tilt, Zoom
from hal.ptz.settings import DomeSettings

__all__ = ["REPLY_TIMEOUT_S", "PelcoDome"]

REPLY_TIMEOUT_S = 0.5
"""A dome answers a query within a few frame times; 0.5 s covers 2400 baud with margin."""
_MAX_PRESET = 255
_MAX_AUX = 255  # the spec lists 1..8; some domes have more outputs, so only the byte limit


class PelcoDome(PtzCamera):
    """A dome at ``settings.address`` speaking ``settings.protocol`` on ``bus``."""

    def __init__(self, bus: PtzBus, settings: DomeSettings, *,
                 reply_timeout_s: float = REPLY_TIMEOUT_S) -> None:
        self._bus = bus
        self._settings = settings
        self._reply_timeout_s = reply_timeout_s

    @property
    def settings(self) -> DomeSettings:
        return self._settings

    def __repr__(self) -> str:
        return f"PelcoDome({self._settings.label} on {self._bus.line.device})"

    async def send(self, command: Command) -> None:
        """Send any command (escape hatch for extended functions without a method)."""
        await self._bus.send(self._settings, command)

    async def move(self, pan: Pan = Pan.STOP, tilt: Tilt = Tilt.STOP, *,
                   pan_speed: int = DEFAULT_SPEED, tilt_speed: int = DEFAULT_SPEED,
                   turbo: bool = False) -> None:
        await self.send(Motion(pan=pan, tilt=tilt, pan_speed=pan_speed,
                               tilt_speed=tilt_speed, turbo=turbo))

    async def stop(self) -> None:
        await self.send(Motion())

    async def zoom(self, zoom: Zoom) -> None:
        await self.send(Motion(zoom=zoom))

    async def focus(self, focus: Focus) -> None:
        await self.send(Motion(focus=focus))

    async def iris(self, iris: Iris) -> None:
        await self.send(Motion(iris=iris))

    async def camera_power(self, on: bool) -> None:
        await self.send(Motion(camera_on=on))

    async def set_preset(self, preset: int) -> None:
        await self.send(Extended(Op.SET_PRESET, 0, _number("preset", preset, _MAX_PRESET)))

    async def call_preset(self, preset: int, *, speed: int | None = None) -> None:
        # ``speed`` is ignored: Pelco-D/P have no standard preset travel speed.
        await self.send(Extended(Op.CALL_PRESET, 0, _number("preset", preset, _MAX_PRESET)))

    async def clear_preset(self, preset: int) -> None:
        await self.send(Extended(Op.CLEAR_PRESET, 0,
                                 _number("preset", preset, _MAX_PRESET)))

    async def aux(self, number: int, on: bool) -> None:
        op = Op.SET_AUX if on else Op.CLEAR_AUX
        await self.send(Extended(op, 0, _number("auxiliary", number, _MAX_AUX)))

    async def pattern_start(self) -> None:
        await self.send(Extended(Op.PATTERN_START))

    async def pattern_stop(self) -> None:
        await self.send(Extended(Op.PATTERN_STOP))

    async def pattern_run(self) -> None:
        await self.send(Extended(Op.PATTERN_RUN))

    async def query_pan_cdeg(self) -> int:
        return await self._query(Op.QUERY_PAN)

    async def query_tilt_cdeg(self) -> int:
        return await self._query(Op.QUERY_TILT)

    async def query_zoom(self) -> int:
        return await self._query(Op.QUERY_ZOOM)

    async def position(self) -> PtzPosition:
        return PtzPosition(pan_cdeg=await self.query_pan_cdeg(),
                           tilt_cdeg=await self.query_tilt_cdeg(),
                           zoom=await self.query_zoom())

    async def _query(self, op: Op) -> int:
        reply = await self._bus.query(self._settings, Extended(op),
                                      timeout_s=self._reply_timeout_s)
        assert isinstance(reply.command, Extended)
        return reply.command.value


def _number(what: str, number: int, high: int) -> int:
    if not 1 <= number <= high:
        raise ValueError(f"{what} {number} is out of range 1..{high}")
    return number
