"""The recorder's own network: reading and setting interfaces (``iproute``), one-shot DHCP
(``dhcp``), ping (``ping``), changes that are undone unless confirmed (``settings``) and
the service that applies the configured interfaces (``service``)."""

from nvrd.system.network.dhcp import DhcpClient, DhcpError, Lease
from nvrd.system.network.iproute import DefaultRoute, IpError, IpRoute, LinkState
from nvrd.system.network.ping import PingError, PingResult, ping
from nvrd.system.network.service import NetworkService
from nvrd.system.network.settings import (
    AppliedSetting,
    NetworkError,
    NetworkSettings,
    NetworkView,
    PendingChange,
)

__all__ = ["AppliedSetting", "DefaultRoute", "DhcpClient", "DhcpError", "IpError", "IpRoute",
           "Lease", "LinkState", "NetworkError", "NetworkService", "NetworkSettings",
           "NetworkView", "PendingChange", "PingError", "PingResult", "ping"]
