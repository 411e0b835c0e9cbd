"""Network settings of the recorder's own interfaces (``[network]``).

Empty ``interfaces`` (the factory setting) means the daemon leaves the operating system's
network alone: the image's own network set-up stays in charge, and the demo and the tests
never touch the host's network. An interface listed here is set by the daemon at every
start and whenever this section changes (``nvrd/system/network/service.py``): a static
address with an optional gateway and DNS servers, or a lease from a DHCP server.

Changes made over the console (``net set``, ``net dhcp``) are applied first and only
written here once confirmed; unconfirmed, they are undone after ``confirm_seconds``.
IPv4 only: the recorders this is modelled on set IPv6 automatically (SLAAC), which the
kernel does without us.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from nvrd.config.errors import Violation, located_error, violations_error
from nvrd.config.fields import Section, check_unique

MAX_INTERFACES = 8
MAX_DNS_SERVERS = 3
"""The C library reads at most three ``nameserver`` lines."""


def parse_address(text: str) -> ipaddress.IPv4Interface:
    """``192.168.1.20/24`` → the interface address; ``ValueError`` in words otherwise.

    The one parser of an address setting: the schema validates with it and the console
    reads what the technician typed with it."""
    text = text.strip()
    if "/" not in text:
        raise ValueError("write the address with its prefix length, e.g. 192.168.1.20/24 "
                         "(/24 is the netmask 255.255.255.0)")
    try:
        interface = ipaddress.IPv4Interface(text)
    except ValueError:
        raise ValueError("must be an IPv4 address with a prefix length from 1 to 32, e.g. "
                         "192.168.1.20/24") from None
    address, network = interface.ip, interface.network
    if network.prefixlen == 0:
        raise ValueError("the prefix length must be from 1 to 32 (/24 is 255.255.255.0)")
    if (address.is_loopback or address.is_multicast or address.is_unspecified
            or address.is_reserved or address == ipaddress.IPv4Address("255.255.255.255")):
        raise ValueError(f"{address} cannot be the address of a network interface")
    if network.prefixlen <= 30 and address in (network.network_address,
                                               network.broadcast_address):
        which = "network" if address == network.network_address else "broadcast"
        raise ValueError(f"{address} is the {which} address of {network}; pick an address "
                         f"from {network.network_address + 1} to "
                         f"{network.broadcast_address - 1}")
    return interface


def parse_ipv4(text: str, what: str = "address") -> ipaddress.IPv4Address:
    """A plain IPv4 address (a gateway, a DNS server); ``ValueError`` in words."""
    try:
        address = ipaddress.IPv4Address(text.strip())
    except ValueError:
        raise ValueError(f"a {what} must be an IPv4 address such as 192.168.1.1") from None
    if address.is_unspecified or address.is_multicast or (address.is_loopback
                                                           and what != "DNS server"):
        raise ValueError(f"{address} cannot be a {what}")
    return address


def _valid_address(text: str) -> str:
    try:
        return str(parse_address(text))
    except ValueError as exc:
        raise PydanticCustomError("ipv4_interface", str(exc)) from None


def _valid_gateway(text: str) -> str:
    try:
        return str(parse_ipv4(text, "gateway"))
    except ValueError as exc:
        raise PydanticCustomError("ipv4_address", str(exc)) from None


def _valid_dns(text: str) -> str:
    try:
        return str(parse_ipv4(text, "DNS server"))
    except ValueError as exc:
        raise PydanticCustomError("ipv4_address", str(exc)) from None


InterfaceName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_:-][A-Za-z0-9_.:-]{0,14}$")]
"""A Linux interface name: up to 15 characters, no blanks or slashes, not starting with a
dot."""
Ipv4WithPrefix = Annotated[str, AfterValidator(_valid_address)]
"""``A.B.C.D/P``, written back normalized."""
Gateway = Annotated[str, AfterValidator(_valid_gateway)]
DnsServer = Annotated[str, AfterValidator(_valid_dns)]


class InterfaceConfig(Section):
    """One network interface the daemon sets."""

    name: InterfaceName
    """The interface as the operating system names it (``eth0``, ``enp1s0``)."""
    mode: Literal["dhcp", "static"] = "dhcp"
    """``dhcp``: ask a DHCP server for address, gateway and DNS; ``static``: use the
    settings below."""
    address: Ipv4WithPrefix | None = None
    """The static address with its prefix length: ``192.168.1.20/24``."""
    gateway: Gateway | None = None
    """The default route's next hop; in the address's subnet. None: no default route
    through this interface."""
    dns: Annotated[tuple[DnsServer, ...], Field(max_length=MAX_DNS_SERVERS)] = ()
    """DNS servers (at most 3). With ``dhcp``, given servers replace the DHCP server's."""

    @model_validator(mode="after")
    def _consistent(self) -> InterfaceConfig:
        if self.mode == "static":
            if self.address is None:
                raise located_error("a static interface needs an address, e.g. "
                                    "address = \"192.168.1.20/24\"", at=("address",))
            if self.gateway is not None:
                check_gateway(self.address, self.gateway)
        else:
            for field in ("address", "gateway"):
                value = getattr(self, field)
                if value is not None:
                    raise located_error(f"{field} is set by the DHCP server when mode is "
                                        f"\"dhcp\"; remove it or set mode = \"static\"",
                                        at=(field,), value=value)
        return self


def check_gateway(address: str, gateway: str) -> None:
    """Refuse a gateway the interface cannot reach: outside its subnet, or itself."""
    interface = ipaddress.IPv4Interface(address)
    router = ipaddress.IPv4Address(gateway)
    network = interface.network
    if router == interface.ip:
        raise located_error(f"the gateway cannot be the interface's own address {router}",
                            at=("gateway",), value=gateway)
    if router not in network:
        raise located_error(f"the gateway must be inside the interface's subnet {network} "
                            f"(from {network.network_address + 1} to "
                            f"{network.broadcast_address - 1})", at=("gateway",),
                            value=gateway)
    if network.prefixlen <= 30 and router in (network.network_address,
                                              network.broadcast_address):
        raise located_error(f"{router} is the network or broadcast address of {network}",
                            at=("gateway",), value=gateway)


class NetworkConfig(Section):
    """The recorder's network interfaces and how console changes are confirmed."""

    interfaces: Annotated[tuple[InterfaceConfig, ...], Field(max_length=MAX_INTERFACES)] = ()
    """Interfaces the daemon sets at start; empty: the operating system's network set-up is
    left alone."""
    confirm_seconds: Annotated[int, Field(ge=2, le=600)] = 60
    """A network change made over the console is undone after this long unless it is
    confirmed (``net confirm``), so a wrong address cannot lock the box out."""

    @field_validator("interfaces")
    @classmethod
    def _unique(cls, interfaces: tuple[InterfaceConfig, ...]) -> tuple[InterfaceConfig, ...]:
        check_unique(interfaces, lambda i: i.name, field="interfaces", attribute="name")
        with_gateway = [i for i, iface in enumerate(interfaces) if iface.gateway is not None]
        if len(with_gateway) > 1:
            raise violations_error(
                Violation((i, "gateway"), "only one interface may have a gateway (the box "
                          f"has one default route); interfaces[{with_gateway[0]}] has one",
                          interfaces[i].gateway)
                for i in with_gateway[1:])
        return interfaces
