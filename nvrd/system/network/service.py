"""The network service: the configured interfaces applied at start and on change, and the
console's safe changes (:class:`~nvrd.system.network.settings.NetworkSettings`).

With ``network.interfaces`` empty (the factory setting) it changes nothing: the operating
system's own network set-up stays in charge, and only console changes (reverted unless
confirmed) touch an interface. Starting never waits for DHCP: a static interface is set
before the recorder starts (cameras on it are reachable from the first reader), a DHCP
interface gets its lease in the background, asking again until a server answers.

DNS servers go to ``resolv_conf`` (the data directory's ``resolv.conf``), never straight
to ``/etc/resolv.conf``: the box's image links ``/etc/resolv.conf`` to it, and tests and
the demo leave the host's resolver alone.

Threads: loop-only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from nvrd.config import NvrConfig
from nvrd.config.network import InterfaceConfig
from nvrd.service import Health, Service
from nvrd.system.network.dhcp import DhcpClient
from nvrd.system.network.iproute import IpRoute
from nvrd.system.network.ping import PingResult, ping
from nvrd.system.network.settings import AuditSink, NetworkSettings, describe_setting

__all__ = ["ChangeConfig", "NetworkService"]

logger = logging.getLogger(__name__)

ChangeConfig = Callable[..., Awaitable[NvrConfig]]
"""``Application.change_config(change, what=, user=, source=, details=)``."""


class NetworkService(Service):
    name = "network"

    def __init__(self, config: NvrConfig, audit: AuditSink | None, change_config: ChangeConfig,
                 resolv_conf: Path, *, netns: str | None = None,
                 dhcp: DhcpClient | None = None) -> None:
        """``netns``: run every network command in this network namespace (tests, a
        simulated board); ``dhcp``: the DHCP client (tests pass one with short retries)."""
        self._config = config
        self._change_config = change_config
        self.ip = IpRoute(netns)
        self.settings = NetworkSettings(
            self.ip, dhcp or DhcpClient(self.ip), resolv_conf,
            confirm_seconds=config.network.confirm_seconds, persist=self._persist,
            audit=audit)

    async def start(self) -> None:
        await self.settings.apply_configured(self._config.network.interfaces)

    async def stop(self) -> None:
        await self.settings.close()

    def health(self) -> Health:
        return Health(ok=True)  # a wrong address is the installer's, not the daemon's fault

    async def apply_config(self, config: NvrConfig) -> None:
        self._config = config
        self.settings.confirm_seconds = config.network.confirm_seconds
        await self.settings.apply_configured(config.network.interfaces)

    async def ping(self, host: str, count: int = 3) -> PingResult:
        """Ping from the recorder's network (its namespace, if any)."""
        return await ping(self.ip, host, count)

    async def _persist(self, setting: InterfaceConfig, user: str, source: str) -> None:
        """Write a confirmed setting into ``network.interfaces`` (replacing the entry of
        the same interface, in place)."""
        entry: dict[str, Any] = setting.model_dump(exclude_none=True)
        entry["dns"] = list(setting.dns)

        def change(table: dict[str, Any]) -> None:
            network = table.setdefault("network", {})
            interfaces = list(network.get("interfaces", []))
            names = [item.get("name") for item in interfaces]
            if setting.name in names:
                interfaces[names.index(setting.name)] = entry
            else:
                interfaces.append(entry)
            network["interfaces"] = interfaces

        await self._change_config(change, what="network settings confirmed", user=user,
                                  source=source, details=describe_setting(setting))
