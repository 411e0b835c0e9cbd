"""Network settings against real interfaces: a veth pair between a "recorder" and a
"site" network namespace (tests/system/network_site.py), iproute2, busybox udhcpc/udhcpd
and ping. Root only; the host's own network is never touched."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from nvrd.config import ConfigError, ConfigStore, parse_config
from nvrd.config.network import InterfaceConfig, NetworkConfig
from nvrd.system.network import (
    DhcpClient,
    IpRoute,
    NetworkError,
    NetworkService,
    NetworkSettings,
    PingError,
    ping,
)
from nvrd.system.network.dhcp import parse_lease
from nvrd.system.network.ping import parse_ping
from tests.daemon_harness import config_toml, free_port, running_app
from tests.system.network_site import (
    DHCP_POOL,
    RECORDER_ADDRESS,
    SECOND_SUBNET_SITE_ADDRESS,
    SITE_ADDRESS,
    NetworkSite,
    open_site,
)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[NetworkSite]:
    with open_site(tmp_path) as made:
        yield made


OLD_RESOLV = b"nameserver 10.89.0.1\n"
NEW = InterfaceConfig(name="lan0", mode="static", address="10.89.1.50/24",
                      gateway=SECOND_SUBNET_SITE_ADDRESS, dns=(SECOND_SUBNET_SITE_ADDRESS,))


class Audit:
    def __init__(self) -> None:
        self.rows: list[dict[str, str]] = []

    def record(self, type: str, action: str, *, user: str = "", source: str = "daemon",
               result: str = "ok", details: str = "") -> None:
        self.rows.append({"type": type, "action": action, "user": user, "source": source,
                          "result": result, "details": details})

    def actions(self) -> list[str]:
        return [row["action"] for row in self.rows]


async def _refuse_persist(setting: InterfaceConfig, user: str, source: str) -> None:
    raise AssertionError("nothing is confirmed in this test")


def make_settings(site: NetworkSite, tmp_path: Path, audit: Audit, confirm_seconds: int = 2,
                  persist: Any = _refuse_persist) -> NetworkSettings:
    ip = IpRoute(site.recorder_ns)
    resolv = tmp_path / "resolv.conf"
    resolv.write_bytes(OLD_RESOLV)
    return NetworkSettings(ip, DhcpClient(ip, attempts=5, pause_seconds=1), resolv,
                           confirm_seconds=confirm_seconds, persist=persist, audit=audit)


# --- pure parts --------------------------------------------------------------------------

def test_config_refuses_bad_settings_with_words() -> None:
    def problems(**fields: Any) -> str:
        with pytest.raises(ValidationError) as caught:
            InterfaceConfig(name="eth0", **fields)
        return str(ConfigError.from_validation_error(caught.value, "test"))

    assert "needs an address" in problems(mode="static")
    assert "prefix length" in problems(mode="static", address="192.168.1.20")
    assert "inside the interface's subnet 192.168.1.0/24" in problems(
        mode="static", address="192.168.1.20/24", gateway="192.168.2.1")
    assert "own address" in problems(mode="static", address="192.168.1.20/24",
                                     gateway="192.168.1.20")
    assert "network address of 192.168.1.0/24" in problems(mode="static",
                                                           address="192.168.1.0/24")
    assert "set by the DHCP server" in problems(mode="dhcp", address="192.168.1.20/24")
    assert "IPv4 address" in problems(mode="static", address="192.168.1.20/24",
                                      dns=("dns.example",))
    with pytest.raises(ValidationError, match="only one interface may have a gateway"):
        NetworkConfig(interfaces=(
            InterfaceConfig(name="a", mode="static", address="10.0.0.2/24", gateway="10.0.0.1"),
            InterfaceConfig(name="b", mode="static", address="10.1.0.2/24",
                            gateway="10.1.0.1")))
    with pytest.raises(ConfigError, match=r"network\.confirm_seconds: must be greater than "
                                          r"or equal to 2"):
        parse_config("[network]\nconfirm_seconds = 1\n", "test")
    assert parse_config("", "test").network.interfaces == ()


def test_lease_and_ping_output_parsed() -> None:
    lease = parse_lease("eth0", "udhcpc: noise\nnvrd-lease ip=10.0.0.7\nnvrd-lease mask=\n"
                        "nvrd-lease subnet=255.255.255.0\nnvrd-lease router=10.0.0.1 10.0.0.2\n"
                        "nvrd-lease dns=10.0.0.1 10.0.0.3\nnvrd-lease lease=600\n"
                        "nvrd-lease serverid=10.0.0.1\nnvrd-lease end\n")
    assert (lease.address, lease.router, lease.dns, lease.lease_seconds) == (
        "10.0.0.7/24", "10.0.0.1", ("10.0.0.1", "10.0.0.3"), 600)
    result = parse_ping("gw", "PING gw (10.0.0.1): 56 data bytes\n\n--- gw ping statistics ---\n"
                        "3 packets transmitted, 2 packets received, 33% packet loss\n"
                        "round-trip min/avg/max = 0.094/0.133/0.173 ms\n")
    assert result is not None
    assert (result.address, result.sent, result.received, result.rtt_avg_ms) == (
        "10.0.0.1", 3, 2, 0.133)
    assert "33% loss" in result.summary()


# --- against the namespaces -------------------------------------------------------------

@pytest.mark.root
async def test_static_change_not_confirmed_is_reverted(site: NetworkSite,
                                                       tmp_path: Path) -> None:
    audit = Audit()
    settings = make_settings(site, tmp_path, audit, confirm_seconds=2)
    pending = await settings.change(NEW, user="tech", source="console")

    assert site.addresses() == ["10.89.1.50/24"]
    assert site.gateway() == SECOND_SUBNET_SITE_ADDRESS
    assert settings.resolv_conf.read_text().endswith(f"nameserver {SECOND_SUBNET_SITE_ADDRESS}\n")
    assert settings.pending is pending and 0 < pending.seconds_left() <= 2
    reached = await ping(settings.ip, SECOND_SUBNET_SITE_ADDRESS, 2)
    assert (reached.sent, reached.received) == (2, 2)

    await site.wait_for_revert(settings)   # nobody confirmed
    assert site.addresses() == [RECORDER_ADDRESS]
    assert site.gateway() == SITE_ADDRESS
    assert settings.resolv_conf.read_bytes() == OLD_RESOLV
    assert settings.pending is None
    applied, reverted = audit.rows
    assert (applied["action"], applied["user"], applied["source"]) == (
        "network change applied", "tech", "console")
    assert "10.89.1.50/24" in applied["details"]
    assert reverted["action"] == "network change reverted"
    assert "not confirmed within 2 s" in reverted["details"] and reverted["result"] == "ok"


@pytest.mark.root
async def test_one_change_at_a_time_and_revert_by_hand(site: NetworkSite,
                                                       tmp_path: Path) -> None:
    audit = Audit()
    settings = make_settings(site, tmp_path, audit, confirm_seconds=600)
    await settings.change(NEW, user="tech", source="console")
    other = InterfaceConfig(name="lan0", mode="static", address="10.89.0.60/24")
    with pytest.raises(NetworkError, match=r"waiting for confirmation .* confirm or revert"):
        await settings.change(other, user="tech2", source="console")
    assert site.addresses() == ["10.89.1.50/24"]

    await settings.revert(user="tech", source="console")
    assert site.addresses() == [RECORDER_ADDRESS]
    assert site.gateway() == SITE_ADDRESS
    with pytest.raises(NetworkError, match="no network change"):
        await settings.revert(user="tech", source="console")
    with pytest.raises(NetworkError, match="no network change waiting"):
        await settings.confirm(user="tech", source="console")
    assert audit.actions() == ["network change applied", "network change reverted"]

    with pytest.raises(NetworkError, match="no network interface 'eth9'"):
        await settings.change(InterfaceConfig(name="eth9", mode="static",
                                              address="10.89.0.60/24"),
                              user="tech", source="console")
    assert settings.pending is None


@pytest.mark.root
async def test_change_that_fails_half_way_is_undone(site: NetworkSite,
                                                    tmp_path: Path) -> None:
    """No DHCP server: the change fails, and the interface is as it was."""
    audit = Audit()
    settings = make_settings(site, tmp_path, audit)
    settings.dhcp.attempts = 2
    with pytest.raises(NetworkError, match=r"no DHCP server answered on lan0.*previous settings "
                                           "are back"):
        await settings.change(InterfaceConfig(name="lan0", mode="dhcp"), user="tech",
                              source="console")
    assert site.addresses() == [RECORDER_ADDRESS]
    assert site.gateway() == SITE_ADDRESS
    assert settings.pending is None
    assert audit.rows[-1]["result"] == "failed"


@pytest.mark.root
async def test_change_cancelled_half_way_is_undone(site: NetworkSite, tmp_path: Path) -> None:
    """Ctrl-C while udhcpc waits for a server: udhcpc is stopped, nothing is pending and
    the interface is as it was."""
    settings = make_settings(site, tmp_path, Audit())
    settings.dhcp.attempts = 30
    change = asyncio.create_task(settings.change(InterfaceConfig(name="lan0", mode="dhcp"),
                                                 user="tech", source="console"))
    async with asyncio.timeout(30):
        while not await asyncio.to_thread(site.processes):
            await asyncio.sleep(0.05)
    change.cancel()
    with pytest.raises(asyncio.CancelledError):
        await change
    assert await asyncio.to_thread(site.processes) == []
    assert site.addresses() == [RECORDER_ADDRESS]
    assert site.gateway() == SITE_ADDRESS
    assert settings.pending is None


@pytest.mark.root
async def test_dhcp_lease_acquired_and_applied(site: NetworkSite,
                                               tmp_path: Path) -> None:
    site.serve_dhcp()
    settings = make_settings(site, tmp_path, Audit(), confirm_seconds=600)
    pending = await settings.change(InterfaceConfig(name="lan0", mode="dhcp"), user="tech",
                                    source="console")
    lease = pending.applied.lease
    assert lease is not None and lease.server == SITE_ADDRESS
    (address,) = site.addresses()
    host, prefix = address.split("/")
    assert prefix == "24" and DHCP_POOL[0] <= host <= DHCP_POOL[1]
    assert site.gateway() == SITE_ADDRESS
    assert settings.dns_servers() == (SITE_ADDRESS,)
    assert "DHCP lease from 10.89.0.1 for 600 s" in pending.applied.describe()
    await settings.close()  # unconfirmed: the daemon stopping reverts it
    assert site.addresses() == [RECORDER_ADDRESS]


@pytest.mark.root
async def test_ping_reports_answers_and_loss(site: NetworkSite) -> None:
    ip = IpRoute(site.recorder_ns)
    good = await ping(ip, SITE_ADDRESS, 2)
    assert (good.sent, good.received, good.loss_percent) == (2, 2, 0.0)
    assert good.rtt_avg_ms is not None
    lost = await ping(ip, "10.89.0.77", 1)   # on the link, nobody there
    assert (lost.sent, lost.received, lost.loss_percent) == (1, 0, 100.0)
    with pytest.raises(PingError, match=r"cannot ping no-such-host\.invalid"):
        await ping(ip, "no-such-host.invalid", 1)
    with pytest.raises(ValueError, match="not a host name"):
        await ping(ip, "-f", 1)


@pytest.mark.root
async def test_confirmed_change_is_saved_and_applied_again_at_start(
        site: NetworkSite, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    config = config_toml(free_port(), extra="[network]\nconfirm_seconds = 2\n")
    async with running_app(data, config, network_namespace=site.recorder_ns) as (app,
                                                                                         _run):
        assert site.addresses() == [RECORDER_ADDRESS]  # empty list: left alone
        assert app.network is not None
        settings = app.network.settings
        pending = await settings.change(NEW, user="admin", source="console")
        await settings.confirm(user="admin", source="console")
        assert settings.pending is None and pending.timer is None
        saved = tomllib.loads((data / "nvrd.toml").read_text())["network"]["interfaces"]
        assert saved == [{"name": "lan0", "mode": "static", "address": "10.89.1.50/24",
                          "gateway": SECOND_SUBNET_SITE_ADDRESS,
                          "dns": [SECOND_SUBNET_SITE_ADDRESS]}]
        assert app.config.network.interfaces == (NEW,)
    # the daemon stopped: a confirmed change stays
    assert site.addresses() == ["10.89.1.50/24"]

    # someone puts the old address back by hand; a fresh service applies the saved one
    ip = IpRoute(site.recorder_ns)
    await ip.set_addresses("lan0", [RECORDER_ADDRESS])
    loaded = ConfigStore(data / "nvrd.toml").load()
    assert loaded.error is None

    async def no_change(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a start changes no configuration")

    service = NetworkService(loaded.config, Audit(), no_change, data / "resolv.conf",
                             netns=site.recorder_ns)
    await service.start()
    try:
        assert site.addresses() == ["10.89.1.50/24"]
        assert site.gateway() == SECOND_SUBNET_SITE_ADDRESS
    finally:
        await service.stop()


@pytest.mark.root
async def test_configured_dhcp_interface_gets_a_lease_in_the_background(
        site: NetworkSite, tmp_path: Path) -> None:
    config = parse_config('[network]\ninterfaces = [{ name = "lan0", mode = "dhcp" }]\n',
                          "test")

    async def no_change(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a start changes no configuration")

    ip = IpRoute(site.recorder_ns)
    service = NetworkService(config, Audit(), no_change, tmp_path / "resolv.conf",
                             netns=site.recorder_ns,
                             dhcp=DhcpClient(ip, attempts=2, pause_seconds=1))
    service.settings.dhcp_retry_seconds = 0.5
    await service.start()   # returns at once, though no server answers yet
    try:
        site.serve_dhcp()
        async with asyncio.timeout(60):
            while not any(DHCP_POOL[0] <= a.split("/")[0] <= DHCP_POOL[1]
                          for a in site.addresses()):
                await asyncio.sleep(0.2)
        assert service.settings.problems == {}
    finally:
        await service.stop()
