"""A recorder's network and the site around it, in two network namespaces (root only).

``network_site`` makes namespace ``<recorder_ns>`` with interface ``lan0`` at
``10.89.0.2/24`` and a default route via ``10.89.0.1`` (the box's "old" settings a revert
must bring back), joined by a veth to namespace ``<site_ns>`` whose ``site0`` has
``10.89.0.1/24`` and ``10.89.1.1/24`` (a second subnet to move the recorder to). The
site can serve DHCP with busybox ``udhcpd`` (``site.serve_dhcp()``). Names carry the
test process's id, so parallel runs do not meet; 10.89 keeps clear of the PoE cameras'
10.88 and the demo's 10.87. Everything goes at teardown, pass or fail.

A plain module, not a conftest: a test module makes its fixture with it::

    @pytest.fixture
    def site(tmp_path: Path) -> Iterator[NetworkSite]:
        with open_site(tmp_path) as made:
            yield made
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nvrd.system.network.settings import NetworkSettings
from tools.fakecam.netns import root_unavailable_reason

RECORDER_INTERFACE = "lan0"
SITE_INTERFACE = "site0"
RECORDER_ADDRESS = "10.89.0.2/24"
SITE_ADDRESS = "10.89.0.1"
SECOND_SUBNET_SITE_ADDRESS = "10.89.1.1"
DHCP_POOL = ("10.89.0.100", "10.89.0.110")
DHCP_LEASE_SECONDS = 600
_COUNTER = itertools.count(1)


def _ip(*args: str) -> str:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10,
                          check=False)
    if proc.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


class NetworkSite:
    """The two namespaces, and what the tests look at in them."""

    def __init__(self, directory: Path) -> None:
        number = next(_COUNTER)
        self.recorder_ns = f"tnvrnet{os.getpid()}-{number}r"
        self.site_ns = f"tnvrnet{os.getpid()}-{number}s"
        self.directory = directory
        self.interface = RECORDER_INTERFACE
        self._dhcp: subprocess.Popen[bytes] | None = None

    def create(self) -> None:
        _ip("netns", "add", self.recorder_ns)
        _ip("netns", "add", self.site_ns)
        _ip("link", "add", RECORDER_INTERFACE, "netns", self.recorder_ns, "type", "veth",
            "peer", "name", SITE_INTERFACE, "netns", self.site_ns)
        r, s = ("-n", self.recorder_ns), ("-n", self.site_ns)
        _ip(*r, "link", "set", "lo", "up")
        _ip(*s, "link", "set", "lo", "up")
        _ip(*s, "addr", "add", f"{SITE_ADDRESS}/24", "dev", SITE_INTERFACE)
        _ip(*s, "addr", "add", f"{SECOND_SUBNET_SITE_ADDRESS}/24", "dev", SITE_INTERFACE)
        _ip(*s, "link", "set", SITE_INTERFACE, "up")
        _ip(*r, "addr", "add", RECORDER_ADDRESS, "dev", RECORDER_INTERFACE)
        _ip(*r, "link", "set", RECORDER_INTERFACE, "up")
        _ip(*r, "route", "add", "default", "via", SITE_ADDRESS)

    def remove(self) -> None:
        self.stop_dhcp()
        for ns in (self.recorder_ns, self.site_ns):
            with contextlib.suppress(RuntimeError):
                _ip("netns", "del", ns)

    # --- looking -----------------------------------------------------------------------

    def addresses(self) -> list[str]:
        """The recorder interface's IPv4 addresses, ``A.B.C.D/P``."""
        data = json.loads(_ip("-n", self.recorder_ns, "-j", "-4", "addr", "show", "dev",
                              RECORDER_INTERFACE))
        return [f"{a['local']}/{a['prefixlen']}" for item in data
                for a in item.get("addr_info", ())]

    def gateway(self) -> str | None:
        data = json.loads(_ip("-n", self.recorder_ns, "-j", "-4", "route", "show",
                              "default"))
        return data[0].get("gateway") if data else None

    def processes(self) -> list[int]:
        """The processes running in the recorder's namespace (a udhcpc, a ping)."""
        return [int(pid) for pid in _ip("netns", "pids", self.recorder_ns).split()]

    @staticmethod
    async def wait_for_revert(settings: NetworkSettings, timeout: float = 30.0) -> None:
        """Wait (without blocking the event loop, where the revert timer runs) until the
        pending change is gone: the revert then has put back addresses, routes and DNS,
        which it restores one after the other, so no single one of them tells it is
        over."""
        deadline = time.monotonic() + timeout
        while settings.pending is not None:
            assert time.monotonic() < deadline, "the pending change was never reverted"
            await asyncio.sleep(0.1)

    # --- DHCP --------------------------------------------------------------------------

    def serve_dhcp(self) -> None:
        """busybox udhcpd on the site side: a pool of 10.89.0.100-110, router and DNS
        10.89.0.1."""
        conf = self.directory / f"udhcpd-{self.site_ns}.conf"
        leases = self.directory / f"udhcpd-{self.site_ns}.leases"
        leases.touch()
        conf.write_text(f"start {DHCP_POOL[0]}\nend {DHCP_POOL[1]}\n"
                        f"interface {SITE_INTERFACE}\nlease_file {leases}\n"
                        f"pidfile {self.directory / 'udhcpd.pid'}\n"
                        "option subnet 255.255.255.0\n"
                        f"option router {SITE_ADDRESS}\noption dns {SITE_ADDRESS}\n"
                        f"option lease {DHCP_LEASE_SECONDS}\n")
        self._dhcp = subprocess.Popen(["ip", "netns", "exec", self.site_ns, "busybox",
                                       "udhcpd", "-f", str(conf)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop_dhcp(self) -> None:
        if self._dhcp is not None:
            self._dhcp.terminate()
            try:
                self._dhcp.wait(10)
            except subprocess.TimeoutExpired:
                self._dhcp.kill()
                self._dhcp.wait()
            self._dhcp = None


def unavailable_reason() -> str | None:
    reason = root_unavailable_reason()
    if reason:
        return reason
    if shutil.which("busybox") is None:
        return "busybox is not installed (scripts/setup installs it)"
    return None


@contextlib.contextmanager
def open_site(directory: Path) -> Iterator[NetworkSite]:
    """The namespaces for one test (skipped where they cannot be made), removed after."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    site = NetworkSite(directory)
    try:
        site.create()
        yield site
    finally:
        site.remove()
