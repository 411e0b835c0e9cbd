"""The console's ``net`` commands over the real console pty of the real daemon, whose
network service works in a namespace of its own (tests/system/network_site.py): a change
applied with ``net set`` is undone unless ``net confirm`` follows, and kept (saved) when
it does. Root only; the host's network is never touched."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.harness import console_daemon
from tests.system.network_site import (
    RECORDER_ADDRESS,
    SECOND_SUBNET_SITE_ADDRESS,
    SITE_ADDRESS,
    NetworkSite,
    open_site,
)

CONFIRM_SECONDS = 3


@pytest.fixture
def site(tmp_path: Path) -> Iterator[NetworkSite]:
    with open_site(tmp_path) as made:
        yield made


@pytest.mark.root
async def test_net_set_is_reverted_unless_confirmed(site: NetworkSite, tmp_path: Path) -> None:
    async with console_daemon(tmp_path, f"[network]\nconfirm_seconds = {CONFIRM_SECONDS}\n",
                              network_namespace=site.recorder_ns) as (app, line):
        await line.login()
        shown = await line.run("net show")
        assert re.search(r"^lan0\s+up\s+\S+\s+1500\s+10\.89\.0\.2/24$", shown, re.M), shown
        assert f"default gateway: {SITE_ADDRESS} (lan0)" in shown
        assert "configured: nothing (the operating system's settings)" in shown

        out = await line.run(f"net set lan0 10.89.1.50/24 {SECOND_SUBNET_SITE_ADDRESS} "
                             f"dns {SECOND_SUBNET_SITE_ADDRESS}")
        assert ("applied: lan0: 10.89.1.50/24, gateway 10.89.1.1, DNS 10.89.1.1 (static)"
                in out), out
        assert f"was:     lan0: {RECORDER_ADDRESS}, gateway {SITE_ADDRESS}" in out
        assert (f"type 'net confirm' within {CONFIRM_SECONDS} s, or the previous settings "
                "come back") in out
        assert site.addresses() == ["10.89.1.50/24"]
        shown = await line.run("net show")
        assert re.search(r"pending: lan0: 10\.89\.1\.50/24.*by admin — reverted in \d s "
                         r"unless 'net confirm'", shown), shown
        assert "DNS: 10.89.1.1" in shown
        pinged = await line.run(f"net ping {SECOND_SUBNET_SITE_ADDRESS} 2")
        assert f"{SECOND_SUBNET_SITE_ADDRESS}: 2 sent, 2 received, 0% loss" in pinged

        assert app.network is not None
        await site.wait_for_revert(app.network.settings)  # nobody typed 'net confirm'
        assert site.addresses() == [RECORDER_ADDRESS]
        assert site.gateway() == SITE_ADDRESS
        shown = await line.run("net show")
        assert "pending:" not in shown and "10.89.0.2/24" in shown
        assert "no network change to revert" in await line.run("net revert")
        assert app.config.network.interfaces == ()
        actions = [(r.action, r.source, r.result) for r in line.audit if r.type == "network"]
        assert actions == [("network change applied", "console", "ok"),
                           ("network change reverted", "daemon", "ok")]


@pytest.mark.root
async def test_net_confirm_keeps_and_saves_the_change(site: NetworkSite,
                                                      tmp_path: Path) -> None:
    async with console_daemon(tmp_path, f"[network]\nconfirm_seconds = {CONFIRM_SECONDS}\n",
                              network_namespace=site.recorder_ns) as (app, line):
        await line.login()
        await line.run(f"net set lan0 10.89.1.50/24 {SECOND_SUBNET_SITE_ADDRESS}")
        out = await line.run("net confirm")
        assert "kept: lan0: 10.89.1.50/24, gateway 10.89.1.1 (static)" in out, out
        assert "applied again at every start" in out
        assert app.network is not None and app.network.settings.pending is None
        (saved,) = app.config.network.interfaces
        assert (saved.name, saved.mode, saved.address, saved.gateway) == (
            "lan0", "static", "10.89.1.50/24", SECOND_SUBNET_SITE_ADDRESS)
        assert 'address = "10.89.1.50/24"' in (tmp_path / "nvrd.toml").read_text()
        shown = await line.run("net show")
        assert "configured: lan0: 10.89.1.50/24 via 10.89.1.1" in shown
        assert "pending:" not in shown
        assert "no network change to revert" in await line.run("net revert")
        assert site.addresses() == ["10.89.1.50/24"]
        assert ("network settings confirmed", "ok", "lan0: 10.89.1.50/24 via 10.89.1.1") in [
            (r.action, r.result, r.details) for r in line.audit if r.source == "console"]
    assert site.addresses() == ["10.89.1.50/24"]  # the daemon stopped; the change stays


@pytest.mark.root
async def test_bad_net_input_is_refused_with_words(site: NetworkSite, tmp_path: Path) -> None:
    async with console_daemon(tmp_path, network_namespace=site.recorder_ns) as (_app, line):
        await line.login()
        assert "write the address with its prefix length" in await line.run(
            "net set lan0 10.89.1.50")
        assert "inside the interface's subnet 10.89.1.0/24" in await line.run(
            "net set lan0 10.89.1.50/24 10.89.2.1")
        assert "DNS servers follow the word 'dns'" in await line.run(
            "net set lan0 10.89.1.50/24 10.89.1.1 10.89.1.2")
        assert "no network interface 'eth9'" in await line.run("net set eth9 10.89.1.50/24")
        assert "the count must be a number from 1 to 20" in await line.run(
            "net ping 10.89.0.1 99")
        assert "not a host name or an IP address" in await line.run("net ping -rf")
        assert "there is no network change waiting" in await line.run("net confirm")
        assert site.addresses() == [RECORDER_ADDRESS]
