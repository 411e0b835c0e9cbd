"""A camera behind a PoE port: its own network namespace, joined to the host by a veth.

The host end of the veth is the PoE port's ``interface`` in the board profile; the
simulated PSE sets it up while the port is powered and down while it is not
(``hal/sim/poe_link.py``), so "PoE off" takes the camera off the network for real. Inside
the namespace the camera sees ``eth0`` with its address, a default route via the host end
(a camera has a gateway; it also gives multicast a route) and ``lo``::

    with CameraPort(1, interface="tpoe1", netns="tnvrcam1",
                    host_address="10.88.1.1/24", camera_address="10.88.1.2/24") as port:
        cams = FakeCamServer([CameraSpec("cam1")], host=port.camera_address, port=554,
                             netns=port.netns).start()
        port.set_link(True)        # what the PSE does when it powers the port

While the host end is down the kernel drops its connected route, and connections to the
camera would follow the host's default route and hang. A fallback route ``unreachable
<network> metric 4000`` makes them fail at once with EHOSTUNREACH, as on a box whose
camera has lost power (there after an ARP timeout); it only applies while the link is down.

Everything is made with iproute2's ``ip`` and needs root (``root_unavailable_reason``).
``create`` first removes leftovers of the same names (a crashed run); ``remove`` is
idempotent and also runs when ``create`` fails half way. Stdlib only.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["CAMERA_INTERFACE", "UNREACHABLE_METRIC", "CameraPort", "NetnsError",
           "netns_exec_argv", "root_unavailable_reason"]

CAMERA_INTERFACE = "eth0"
UNREACHABLE_METRIC = 4000
"""Metric of the fallback route: worse than any connected route, so only used while down."""
COMMAND_TIMEOUT_S = 10.0
NETNS_DIR = Path("/run/netns")
SYS_CLASS_NET = Path("/sys/class/net")
_CAP_NET_ADMIN = 12
_CAP_SYS_ADMIN = 21  # ``ip netns`` mounts the namespace under /run/netns
_IFNAME = re.compile(r"[^\s/:]{1,15}")
_NETNS_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class NetnsError(RuntimeError):
    """An ``ip`` command failed; the message has its command line and stderr."""


def _ip() -> str:
    return shutil.which("ip") or "/usr/sbin/ip"


def netns_exec_argv(netns: str, argv: Sequence[str]) -> list[str]:
    """``argv`` run inside network namespace ``netns`` (``ip netns exec``, which execs it:
    the process started is the command itself). Needs root."""
    return [_ip(), "netns", "exec", netns, *argv]


@functools.cache
def root_unavailable_reason() -> str | None:
    """None if this process can make network namespaces and veths, else why not (for
    pytest skips)."""
    if os.geteuid() != 0:
        return "network namespaces need root (run the test as root)"
    if shutil.which("ip") is None and not os.access("/usr/sbin/ip", os.X_OK):
        return "iproute2's ip is not installed"
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None  # cannot tell: let the commands say
    found = re.search(r"^CapEff:\s*([0-9a-f]+)$", status, re.M)
    if found is None:
        return None
    cap_eff = int(found[1], 16)
    missing = [name for bit, name in ((_CAP_NET_ADMIN, "CAP_NET_ADMIN"),
                                      (_CAP_SYS_ADMIN, "CAP_SYS_ADMIN"))
               if not cap_eff >> bit & 1]
    if missing:
        return f"network namespaces need {' and '.join(missing)} (a restricted container?)"
    return None


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = [_ip(), *args]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                              timeout=COMMAND_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetnsError(f"{' '.join(argv)}: {exc}") from exc
    if check and proc.returncode:
        raise NetnsError(f"{' '.join(argv)}: "
                         f"{proc.stderr.strip() or f'exit status {proc.returncode}'}")
    return proc


def _link_kind(interface: str) -> str | None:
    """``veth``, ``dummy``, ... or None for a plain device (``ip -d`` link info)."""
    proc = _run("-j", "-d", "link", "show", "dev", interface, check=False)
    try:
        links = json.loads(proc.stdout or "[]")
    except ValueError:
        return None
    kind = links[0].get("linkinfo", {}).get("info_kind") if links else None
    return kind if isinstance(kind, str) else None


class CameraPort:
    """Network namespace ``netns`` (default ``nvrcam<N>``) with ``eth0`` at
    ``camera_address``, its veth peer ``interface`` (default ``poe<N>``) on the host at
    ``host_address``. Addresses are ``a.b.c.d/len`` in one network (default 10.87.N.1/24
    and 10.87.N.2/24).

    ``link_up`` is the host end's state after ``create``: down by default, as a port the
    PSE has not powered. A context manager: entering creates, leaving removes.
    """

    def __init__(self, number: int, *, interface: str | None = None,
                 netns: str | None = None, host_address: str | None = None,
                 camera_address: str | None = None, link_up: bool = False,
                 unreachable_fallback: bool = True) -> None:
        if not 1 <= number <= 254:
            raise ValueError(f"port number must be 1-254, not {number}")
        self.number = number
        self.interface = interface if interface is not None else f"poe{number}"
        self.netns = netns if netns is not None else f"nvrcam{number}"
        if not _IFNAME.fullmatch(self.interface) or self.interface == CAMERA_INTERFACE:
            raise ValueError(f"not a usable interface name: {self.interface!r}")
        if not _NETNS_NAME.fullmatch(self.netns):
            raise ValueError(f"not a usable namespace name: {self.netns!r}")
        self.host = ipaddress.IPv4Interface(host_address or f"10.87.{number}.1/24")
        self.camera = ipaddress.IPv4Interface(camera_address or f"10.87.{number}.2/24")
        if self.host.network != self.camera.network or self.host.ip == self.camera.ip:
            raise ValueError(f"host {self.host} and camera {self.camera} need two addresses "
                             "in one network")
        self._link_up = link_up
        self._unreachable = unreachable_fallback

    @property
    def host_address(self) -> str:
        """The host end's address, without the prefix length (``10.87.1.1``)."""
        return str(self.host.ip)

    @property
    def camera_address(self) -> str:
        """The camera's address, without the prefix length (``10.87.1.2``)."""
        return str(self.camera.ip)

    @property
    def network(self) -> ipaddress.IPv4Network:
        return self.host.network

    def __repr__(self) -> str:
        return (f"CameraPort({self.number}, interface={self.interface!r}, "
                f"netns={self.netns!r}, camera={self.camera})")

    # --- lifecycle ---------------------------------------------------------------------

    def create(self) -> Self:
        """Make namespace, veth, addresses and routes (leftovers of the same names are
        removed first). On failure nothing stays made."""
        self.remove()
        try:
            self._create()
        except BaseException:
            self.remove()
            raise
        return self

    def _create(self) -> None:
        ns, ifname = self.netns, self.interface
        _run("netns", "add", ns)
        _run("link", "add", ifname, "type", "veth", "peer", "name", CAMERA_INTERFACE,
             "netns", ns)
        _run("addr", "add", str(self.host), "dev", ifname)
        _run("-n", ns, "link", "set", "lo", "up")
        _run("-n", ns, "addr", "add", str(self.camera), "dev", CAMERA_INTERFACE)
        _run("-n", ns, "link", "set", CAMERA_INTERFACE, "up")
        _run("-n", ns, "route", "add", "default", "via", self.host_address)
        if self._unreachable:
            _run("route", "replace", "unreachable", str(self.network), "metric",
                 str(UNREACHABLE_METRIC))
        if self._link_up:
            self.set_link(True)

    def remove(self) -> None:
        """Remove everything of this port's names: processes left in the namespace
        (killed), the namespace, the veth, the fallback route. Idempotent; raises
        ``NetnsError`` if something is still there afterwards."""
        problems: list[str] = []
        if self.exists():
            self._kill_inside()
        # The host end first: deleting it takes the pair down at once, while a deleted
        # namespace is torn down by the kernel in the background.
        if self.interface_exists():
            kind = _link_kind(self.interface)
            if kind == "veth":
                proc = _run("link", "del", self.interface, check=False)
                if proc.returncode and self.interface_exists():
                    problems.append(f"ip link del {self.interface}: {proc.stderr.strip()}")
            elif self.interface_exists():
                problems.append(f"{self.interface} exists and is not a veth "
                                f"({kind or 'a plain device'}): not removed; choose another "
                                "interface name")
        if self.exists():
            proc = _run("netns", "del", self.netns, check=False)
            if proc.returncode:
                problems.append(f"ip netns del {self.netns}: {proc.stderr.strip()}")
        if self._unreachable:
            _run("route", "del", "unreachable", str(self.network), "metric",
                 str(UNREACHABLE_METRIC), check=False)  # absent is fine
        if problems:
            raise NetnsError("; ".join(problems))

    def _kill_inside(self) -> None:
        """A crashed run's camera servers would keep the old namespace alive."""
        proc = _run("netns", "pids", self.netns, check=False)
        for pid in (int(p) for p in proc.stdout.split() if p.isdigit()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> Self:
        return self.create()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.remove()

    # --- the link ----------------------------------------------------------------------

    def exists(self) -> bool:
        return (NETNS_DIR / self.netns).exists()

    def interface_exists(self) -> bool:
        return (SYS_CLASS_NET / self.interface).exists()

    def set_link(self, up: bool) -> None:
        """Set the host end up or down: what the simulated PSE does on power on/off."""
        _run("link", "set", "dev", self.interface, "up" if up else "down")

    def admin_up(self) -> bool:
        """The host end is set up (IFF_UP), whether or not the link is up yet."""
        flags = (SYS_CLASS_NET / self.interface / "flags").read_text()
        return bool(int(flags, 16) & 0x1)

    def operstate(self) -> str:
        """The host end's operational state: ``up``, ``down``, ``lowerlayerdown``..."""
        return (SYS_CLASS_NET / self.interface / "operstate").read_text().strip()

    def wait_link(self, up: bool, timeout: float = 10.0, poll_s: float = 0.02) -> None:
        """Poll until the host end is operationally up (both ends up, carrier) or down;
        ``TimeoutError`` with the state seen if ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.operstate()
            if (state == "up") == up:
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.interface} is {state}, not {'up' if up else 'down'}"
                                   f", after {timeout:g} s")
            time.sleep(poll_s)

    def exec_argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this port's namespace."""
        return netns_exec_argv(self.netns, argv)
