"""PoE plug-and-play: a camera powered on PoE port N is found, probed and recorded on the
port's channel (the board profile's ``camera_channel``), as the vendor's recorders do.

The sequence for a port (one task per port, restarted by each power-up):

1. The port powers a device (the PSE's ``powered`` event), or it is already powering one
   when the daemon starts.
2. WS-Discovery probes go out of the port's own network interface (the board profile's
   ``interface``: a DSA switch port, or the veth of a simulated camera) every few seconds
   until a camera answers or ``wait_seconds`` pass (cameras take a minute to boot).
   Probing that one interface is what ties the camera to the port: no guessing from
   addresses.
3. Known camera (same MAC or address as the channel's camera): nothing to add; the recorder's own
   reconnection picks its streams up again. If its address changed (DHCP), the channel's
   addresses are updated from a fresh probe.
4. New camera on an empty channel: probed with the plug-and-play credentials; an
   inactive camera is activated with them first (``plug_and_play.activate``); then the
   camera is added to the channel, through the same configuration change as the API's.
5. The channel holds another camera the installer added: nothing is overwritten; the
   port's state says so.

A port that loses power (unplugged, switched off, shed for the budget) cancels its search;
the channel keeps its camera, which goes offline through the recorder's usual video-loss
path and comes back when the port does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hal.board import PoePort
from hal.poe import PoeEvent, PoeEventKind, PoePortStatus
from hal.poe.base import PortPower
from nvrd.cameras.discovery import DiscoveredCamera, discover
from nvrd.cameras.onvif.client import OnvifDevice
from nvrd.cameras.onvif.errors import CameraError, CameraInactive
from nvrd.cameras.onvif.probe import ProbeResult, probe_camera
from nvrd.cameras.probing import camera_entry
from nvrd.config import NvrConfig

logger = logging.getLogger(__name__)

RETRY_INTERVAL_S = 2.0
"""Between two WS-Discovery probes of a port whose camera has not answered yet."""
PNP_USER = "plug-and-play"

ChangeConfig = Callable[..., Awaitable[NvrConfig]]
Discover = Callable[..., Awaitable[list[DiscoveredCamera]]]
Probe = Callable[..., Awaitable[ProbeResult]]


@dataclass(frozen=True, slots=True)
class PortState:
    """What plug-and-play did last on a port (``GET /api/v1/cameras/plug-and-play``)."""

    port: int
    channel: int
    interface: str
    state: str
    """``idle`` (no power), ``searching``, ``added``, ``bound`` (the channel's camera is
    back), ``waiting`` (a setting is missing or wrong, see message), ``conflict``
    (the channel has another camera), ``not_found``, ``failed``."""
    message: str = ""
    address: str | None = None
    mac: str | None = None
    since_us: int = 0


class PlugAndPlay:
    def __init__(self, ports: Sequence[PoePort], change_config: ChangeConfig,
                 config: NvrConfig, *, discover_cameras: Discover = discover,
                 probe: Probe = probe_camera) -> None:
        self._ports = {p.port: p for p in ports
                       if p.interface is not None and p.camera_channel is not None}
        self._change_config = change_config
        self._config = config
        self._discover = discover_cameras
        self._probe = probe
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self.states: dict[int, PortState] = {
            n: PortState(n, p.camera_channel or 0, p.interface or "", "idle")
            for n, p in self._ports.items()}

    def start(self, status: Sequence[PoePortStatus]) -> None:
        """Search the ports powering a device already (cameras that were on before the
        daemon started, or plugged in while it was down)."""
        for port in status:
            if port.power is PortPower.DELIVERING and port.port in self._ports:
                self._search(port.port)

    def apply_config(self, config: NvrConfig) -> None:
        self._config = config

    def on_poe_event(self, event: PoeEvent) -> None:
        if event.port is None or event.port not in self._ports:
            return
        if event.kind is PoeEventKind.POWERED:
            self._search(event.port)
        elif event.kind in (PoeEventKind.UNPOWERED, PoeEventKind.DISCONNECTED,
                            PoeEventKind.OVERCURRENT, PoeEventKind.BUDGET_EXCEEDED):
            self._cancel(event.port)
            self._set(event.port, "idle", "the port gives no power")

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for port in list(self._tasks):
            self._cancel(port)
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- one port ------------------------------------------------------------------------

    def _search(self, port: int) -> None:
        self._cancel(port)
        settings = self._config.camera_network.plug_and_play
        if not settings.enabled:
            self._set(port, "idle", "plug-and-play is off (camera_network.plug_and_play)")
            return
        self._tasks[port] = asyncio.get_running_loop().create_task(
            self._run(port), name=f"plug-and-play-{port}")

    def _cancel(self, port: int) -> None:
        task = self._tasks.pop(port, None)
        if task is not None:
            task.cancel()

    async def _run(self, port: int) -> None:
        try:
            await self._handle(port)
        except asyncio.CancelledError:
            raise
        except CameraError as exc:
            self._set(port, "failed", str(exc))
            logger.warning("PoE port %d: plug-and-play failed: %s", port, exc)
        except Exception as exc:
            self._set(port, "failed", f"unexpected error: {exc}")
            logger.exception("PoE port %d: plug-and-play failed", port)

    async def _handle(self, port: int) -> None:
        cfg = self._ports[port]
        assert cfg.interface is not None and cfg.camera_channel is not None
        channel = cfg.camera_channel
        found = await self._find(port, cfg.interface)
        if found is None:
            return
        current = self._config.camera(channel)
        onvif = current.onvif if current is not None else None
        same_address = onvif is not None and (onvif.host, onvif.port) == (found.host,
                                                                          found.port)
        if onvif is not None and (same_address or (found.mac and onvif.mac == found.mac)):
            if same_address:
                self._set(port, "bound", f"the camera of channel {channel} is back",
                          found)
                return
            await self._readdress(port, channel, found)
            return
        if current is not None:
            self._set(port, "conflict",
                      f"a camera ({found.host}, MAC {found.mac or 'unknown'}) is on PoE port "
                      f"{port}, but channel {channel} has {current.name!r} already; remove "
                      f"that camera to let plug-and-play add this one", found)
            return
        settings = self._config.camera_network.plug_and_play
        password = settings.password.get_secret_value()
        if not password:
            self._set(port, "waiting",
                      f"a camera ({found.host}) is on PoE port {port}, but the plug-and-"
                      "play password is not set (camera_network.plug_and_play.password)",
                      found)
            return
        result = await self._probe_or_activate(port, found, settings.username, password,
                                                settings.activate)
        if result is None:
            return
        entry = camera_entry(channel, result, settings.username, password,
                             name=f"{result.info.model or 'Camera'} (PoE {port})")

        def add(table: dict[str, Any]) -> None:
            cameras = table.setdefault("cameras", [])
            if any(c.get("channel") == channel for c in cameras):
                raise CameraError(f"channel {channel} got a camera meanwhile; not replaced")
            cameras.append(entry)

        await self._change_config(add, what=f"camera {channel} added by plug-and-play "
                                  f"(PoE port {port}, {found.host})",
                                  user=PNP_USER, source="poe")
        self._set(port, "added", f"added to channel {channel}", found)
        logger.info("PoE port %d: camera %s (%s %s) added to channel %d", port,
                    found.host, result.info.manufacturer, result.info.model, channel)

    async def _find(self, port: int, interface: str) -> DiscoveredCamera | None:
        settings = self._config.camera_network
        deadline = time.monotonic() + settings.plug_and_play.wait_seconds
        self._set(port, "searching", f"waiting for the camera on {interface} to answer")
        while True:
            found = await self._discover(interfaces=[interface],
                                         timeout_s=settings.discovery_seconds)
            if found:
                return sorted(found, key=lambda c: c.host)[0]
            if time.monotonic() >= deadline:
                self._set(port, "not_found",
                          f"nothing answered WS-Discovery on {interface} within "
                          f"{settings.plug_and_play.wait_seconds} s of power-on: a device "
                          "that is not an ONVIF camera, or ONVIF is off on the camera")
                return None
            await asyncio.sleep(RETRY_INTERVAL_S)

    async def _probe_or_activate(self, port: int, found: DiscoveredCamera, username: str,
                                 password: str, activate: bool) -> ProbeResult | None:
        try:
            return await self._probe(found.host, found.port, username, password)
        except CameraInactive:
            if not activate:
                self._set(port, "waiting", f"the camera {found.host} is not activated and "
                          "plug_and_play.activate is off: activate it first", found)
                return None
        logger.info("PoE port %d: activating camera %s with the plug-and-play account",
                    port, found.host)
        async with OnvifDevice(found.host, found.port, "", "") as device:
            await device.activate(username, password)
        return await self._probe(found.host, found.port, username, password)

    async def _readdress(self, port: int, channel: int, found: DiscoveredCamera) -> None:
        current = self._config.camera(channel)
        assert current is not None
        result = await self._probe(found.host, found.port, current.username,
                                   current.password.get_secret_value())

        def move(table: dict[str, Any]) -> None:
            for camera in table.get("cameras", []):
                if camera.get("channel") == channel:
                    camera["onvif"].update(host=found.host, port=found.port)
                    camera["main"]["url"] = result.main_url
                    if result.sub_url and camera.get("sub"):
                        camera["sub"]["url"] = result.sub_url

        await self._change_config(move, what=f"camera {channel} moved to {found.host} "
                                  "(found again by plug-and-play)",
                                  user=PNP_USER, source="poe")
        self._set(port, "bound", f"the camera of channel {channel} is back at a new "
                  f"address, {found.host}", found)

    def _set(self, port: int, state: str, message: str,
             found: DiscoveredCamera | None = None) -> None:
        previous = self.states[port]
        self.states[port] = replace(previous, state=state, message=message,
                                    address=found.host if found else previous.address,
                                    mac=found.mac if found else previous.mac,
                                    since_us=time.time_ns() // 1000)
