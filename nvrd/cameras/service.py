"""The camera service: finding cameras (WS-Discovery), probing and activating them for
"add by address", their own events on the bus, their clocks, their ONVIF PTZ, and PoE
plug-and-play.

It owns no recording: a camera it adds is a configuration change like the API's, and
the recorder and ingest take it from there. Each part has its own module; this one
wires them to the daemon (the event bus, the PoE ports, the PTZ service, the
configuration).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hal.poe import PoeEvent
from hal.ptz.base import PtzCamera
from nvrd.cameras.clocks import CameraClocks
from nvrd.cameras.discovery import DiscoveredCamera, discover
from nvrd.cameras.events import CameraEvents
from nvrd.cameras.onvif.client import OnvifDevice
from nvrd.cameras.onvif.probe import ProbeResult, probe_camera
from nvrd.cameras.onvif.ptz import OnvifPtz
from nvrd.cameras.plugplay import ChangeConfig, PlugAndPlay
from nvrd.config import NvrConfig
from nvrd.config.schema import CameraConfig
from nvrd.events.sources.base import Publish
from nvrd.service import Service

if TYPE_CHECKING:
    from nvrd.hardware.service import HardwareService

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Found:
    """A camera WS-Discovery found, and the channel that records it already (if any)."""

    camera: DiscoveredCamera
    channel: int | None


class CameraService(Service):
    name = "cameras"

    def __init__(self, config: NvrConfig, publish: Publish, change_config: ChangeConfig,
                 hardware: HardwareService | None = None) -> None:
        self._config = config
        self._publish = publish
        self._change_config = change_config
        self._hardware = hardware
        self.events = CameraEvents(publish, self.device)
        self.clocks = CameraClocks(self.device)
        self.plug_and_play: PlugAndPlay | None = None
        self._ptz: dict[int, tuple[tuple[object, ...], OnvifDevice, OnvifPtz]] = {}
        self._ptz_lock = asyncio.Lock()
        self._running = False

    async def start(self) -> None:
        self._running = True
        await self.events.apply_config(self._config)
        await self.clocks.start(self._config)
        hardware = self._hardware
        if hardware is not None and hardware.ptz is not None:
            hardware.ptz.set_network_ptz(self._network_ptz)
        if hardware is not None and hardware.poe is not None and hardware.board is not None:
            self.plug_and_play = PlugAndPlay(hardware.board.poe.ports, self._change_config,
                                             self._config)
            hardware.poe.on_event(self._on_poe_event)
            self.plug_and_play.start(hardware.poe.status())

    async def stop(self) -> None:
        self._running = False
        if self._hardware is not None and self._hardware.ptz is not None:
            self._hardware.ptz.set_network_ptz(None)
        if self.plug_and_play is not None:
            await self.plug_and_play.close()
        await self.events.close()
        await self.clocks.close()
        for _, device, _ in self._ptz.values():
            await device.close()
        self._ptz.clear()

    async def apply_config(self, config: NvrConfig) -> None:
        self._config = config
        await self.events.apply_config(config)
        await self.clocks.apply_config(config)
        if self.plug_and_play is not None:
            self.plug_and_play.apply_config(config)

    # --- what the API asks ---------------------------------------------------------------

    async def discover(self, interfaces: Sequence[str] | None = None,
                       seconds: float | None = None) -> list[Found]:
        """Cameras answering WS-Discovery, each with the channel that has it already
        (matched by MAC, else by address and port)."""
        network = self._config.camera_network
        found = await discover(interfaces=tuple(interfaces or network.interfaces),
                               timeout_s=seconds or network.discovery_seconds)
        return [Found(camera, self.channel_of(camera.mac, camera.host, camera.port))
                for camera in found]

    async def probe(self, host: str, port: int, username: str, password: str
                    ) -> ProbeResult:
        return await probe_camera(host, port, username, password)

    async def activate(self, host: str, port: int, username: str, password: str) -> None:
        """Give an inactive camera its first account (ONVIF CreateUsers)."""
        async with OnvifDevice(host, port, "", "") as device:
            await device.activate(username, password)

    def device(self, camera: CameraConfig) -> OnvifDevice:
        """A (not yet opened) ONVIF connection to ``camera``, with its account."""
        assert camera.onvif is not None, "only cameras with onvif settings"
        return OnvifDevice(camera.onvif.host, camera.onvif.port, camera.username,
                           camera.password.get_secret_value())

    def channel_of(self, mac: str, host: str, port: int) -> int | None:
        """The channel recording this camera already: same MAC, else same ONVIF address
        and port (None: not added)."""
        for camera in self._config.cameras:
            onvif = camera.onvif
            if onvif is not None and ((mac and onvif.mac == mac)
                                      or (onvif.host == host and onvif.port == port)):
                return camera.channel
        return None

    # --- internals -----------------------------------------------------------------------

    def _on_poe_event(self, event: PoeEvent) -> None:
        # PoePorts cannot remove a listener: after stop the hook goes quiet
        if self._running and self.plug_and_play is not None:
            self.plug_and_play.on_poe_event(event)

    async def _network_ptz(self, channel: int) -> PtzCamera | None:
        camera = self._config.camera(channel)
        if not self._running or camera is None or camera.onvif is None or not camera.onvif.ptz:
            return None
        key = (camera.onvif.host, camera.onvif.port, camera.username,
               camera.password.get_secret_value(), camera.onvif.main_profile)
        async with self._ptz_lock:
            known = self._ptz.get(channel)
            if known is not None and known[0] == key:
                return known[2]
            if known is not None:
                await known[1].close()
                del self._ptz[channel]
            device = self.device(camera)
            await device.open()
            ptz = OnvifPtz(device, camera.onvif.main_profile)
            self._ptz[channel] = (key, device, ptz)
            return ptz
