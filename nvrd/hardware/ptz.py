"""PTZ domes on the RS-485 bus, by camera channel: the channel's ``[cameras.ptz]`` says
protocol, address and baud; the bus is the board's ``ptz`` serial port. Tours run in
software (one per channel; starting another or moving by hand stops it, as on the
vendor's recorders). Network (ONVIF) PTZ cameras join behind the same ``PtzCamera``
interface through ``set_network_ptz`` (the camera service provides them), so linkage, the
API and tours never care which kind a channel has: RS-485 first, then the network.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from hal.ptz import DomeSettings, PelcoDome, PtzBus, PtzProtocol, Tour, TourRunner
from hal.ptz.base import PtzCamera
from nvrd.config import NvrConfig

logger = logging.getLogger(__name__)

TURBO_BYTE = 0x40
"""What ``turbo = true`` sends as pan speed (older Pelco text; many domes take 0x40)."""


class PtzUnavailable(LookupError):
    """The channel has no PTZ, or the bus is not there; the message says which."""


class NoPtzDome(PtzUnavailable):
    """The channel has no dome configured: the installer's setting, not a fault."""


NetworkPtz = Callable[[int], Awaitable[PtzCamera | None]]
"""The network PTZ camera of a channel, or None when the channel has none."""


class PtzDomes:
    def __init__(self, bus: PtzBus | None, config: NvrConfig,
                 bus_problem: str | None = None) -> None:
        self._bus = bus
        self._bus_problem = bus_problem
        self._domes: dict[int, PelcoDome] = {}
        self._tours: dict[int, TourRunner] = {}
        self._network: NetworkPtz | None = None
        self._network_channels: frozenset[int] = frozenset()
        self.apply_config(config)

    def set_network_ptz(self, provider: NetworkPtz | None) -> None:
        """Where channels without an RS-485 dome find their network PTZ camera."""
        self._network = provider

    def apply_config(self, config: NvrConfig) -> None:
        self._network_channels = frozenset(
            c.channel for c in config.cameras if c.onvif is not None and c.onvif.ptz)
        domes: dict[int, PelcoDome] = {}
        if self._bus is not None:
            for camera in config.cameras:
                if camera.ptz is None:
                    continue
                settings = DomeSettings(PtzProtocol(camera.ptz.protocol), camera.ptz.address,
                                        baud=camera.ptz.baud,
                                        turbo=TURBO_BYTE if camera.ptz.turbo else None)
                known = self._domes.get(camera.channel)
                domes[camera.channel] = (known if known is not None
                                         and known.settings == settings
                                         else PelcoDome(self._bus, settings))
        self._domes = domes

    async def camera(self, channel: int) -> PtzCamera:
        """The PTZ camera of ``channel``; stops its tour (a hand move takes over)."""
        dome = await self._camera(channel)
        await self.stop_tour(channel)
        return dome

    async def start_tour(self, channel: int, tour: Tour) -> None:
        dome = await self._camera(channel)
        await self.stop_tour(channel)
        runner = TourRunner(dome, tour)
        runner.start()
        self._tours[channel] = runner

    async def stop_tour(self, channel: int) -> None:
        runner = self._tours.pop(channel, None)
        if runner is not None:
            await runner.stop()

    def channels(self) -> list[int]:
        return sorted(set(self._domes) | self._network_channels)

    def describe(self) -> list[dict[str, object]]:
        kinds: dict[int, tuple[str, int | None]] = {
            channel: ("ONVIF", None) for channel in self._network_channels}
        kinds.update((channel, (dome.settings.label, dome.settings.baud))
                     for channel, dome in self._domes.items())
        return [{"channel": channel, "dome": label, "baud": baud,
                 "touring": channel in self._tours}
                for channel, (label, baud) in sorted(kinds.items())]

    async def close(self) -> None:
        for channel in list(self._tours):
            await self.stop_tour(channel)
        if self._bus is not None:
            await self._bus.close()

    async def _camera(self, channel: int) -> PtzCamera:
        dome = self._domes.get(channel)
        if dome is not None:
            return dome
        if channel in self._network_channels:
            network = await self._network(channel) if self._network is not None else None
            if network is None:
                raise PtzUnavailable(f"channel {channel}: the camera's ONVIF PTZ is not "
                                     "available (camera service not running)")
            return network
        if self._bus is None:
            raise PtzUnavailable(f"channel {channel}: the RS-485 PTZ bus is not available "
                                 f"({self._bus_problem or 'the board has no PTZ port'})")
        raise NoPtzDome(f"channel {channel} has no PTZ dome configured "
                             "([cameras.ptz] protocol, address, baud)")
