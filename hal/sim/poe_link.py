"""Simulated PoE power as a network link: a camera behind a powered port is on the network.

On the simulated board a PoE port may name an ``interface``: the host end of a veth whose
other end sits in the camera's network namespace (``tools/fakecam/netns.py``). When the
simulated PSE powers the port's device, ``PoeLink`` sets that interface up; when the power
goes (disable, unplug, overcurrent, budget shed, thermal shutdown, the pause of a power
cycle) it sets it down. So the daemon's PoE code and its camera code meet the same fact a
real box shows them: no power, no camera.

Interfaces that do not exist are left alone, and said so once at debug level: the demo and
the tests that run without namespaces work as before. The link state is left as it is when
the board closes; the next ``attach`` sets every port to its PSE's present state.

Threads: the chip model reports a change with its lock held, from whichever thread drives
it (the driver's ``to_thread`` workers, the event loop for ``simctl poe plug``, a test), so
:meth:`PoeLink.power_changed` only queues. One worker thread (``sim-poe-link``) runs
``ip link set`` for each change in the order they came: a quick off-on is seen as down then
up, never merged away.
"""

from __future__ import annotations

import collections
import logging
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hal.board import PoeSection

if TYPE_CHECKING:
    from hal.sim.tps23861 import SimPse

__all__ = ["LINK_COMMAND_TIMEOUT_S", "LinkError", "PoeLink", "interface_exists", "set_link"]

_log = logging.getLogger(__name__)

LINK_COMMAND_TIMEOUT_S = 10.0
"""One ``ip link set`` normally takes milliseconds; this only bounds a hung one."""
SYS_CLASS_NET = Path("/sys/class/net")

LinkSetter = Callable[[str, bool], None]


class LinkError(OSError):
    """``ip link set`` failed (not root, no such device, ...)."""


def interface_exists(interface: str) -> bool:
    return (SYS_CLASS_NET / interface).exists()


def set_link(interface: str, up: bool) -> None:
    """``ip link set dev INTERFACE up|down``; blocks (run it off the event loop)."""
    ip = shutil.which("ip") or "/usr/sbin/ip"
    try:
        proc = subprocess.run([ip, "link", "set", "dev", interface, "up" if up else "down"],
                              capture_output=True, text=True, check=False,
                              timeout=LINK_COMMAND_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LinkError(f"ip link set dev {interface}: {exc}") from exc
    if proc.returncode:
        raise LinkError(f"ip link set dev {interface} {'up' if up else 'down'}: "
                        f"{proc.stderr.strip() or f'exit status {proc.returncode}'}")


class PoeLink:
    """Follows the power of the simulated PSEs' ports with the ports' interfaces.

    ``set_link`` and ``exists`` are the seams to the host (tests pass recorders).
    """

    def __init__(self, section: PoeSection, *, set_link: LinkSetter = set_link,
                 exists: Callable[[str], bool] = interface_exists) -> None:
        # controller id -> its channel -> interface
        self._interfaces: dict[str, dict[int, str]] = {}
        for port in section.ports:
            if port.interface is not None and port.channel is not None:
                self._interfaces.setdefault(port.controller, {})[port.channel] = port.interface
        self._set_link = set_link
        self._exists = exists
        self._sims: dict[str, SimPse] = {}
        self._cond = threading.Condition()
        self._queue: collections.deque[tuple[str, bool] | None] = collections.deque()
        self._queued = 0  # changes queued so far
        self._applied = 0  # of those, applied (or given up on)
        self._thread: threading.Thread | None = None
        self._quiet: set[str] = set()  # interfaces already reported missing or failing

    @property
    def interfaces(self) -> dict[str, dict[int, str]]:
        """Controller id -> PSE channel -> interface, for the ports that name one."""
        return {cid: dict(channels) for cid, channels in self._interfaces.items()}

    def attach(self, sims: Mapping[str, SimPse]) -> None:
        """Follow these simulated PSEs (replacing any followed before). Every port's link
        is set to its present power state first."""
        self._detach()
        for cid, sim in sims.items():
            channels = self._interfaces.get(cid)
            if not channels:
                continue

            def changed(channel: int, powered: bool,
                        channels: Mapping[int, str] = channels) -> None:
                interface = channels.get(channel)
                if interface is not None:
                    self.power_changed(interface, powered)

            sim.on_power_change(changed)
            self._sims[cid] = sim

    def power_changed(self, interface: str, powered: bool) -> None:
        """Queue ``interface`` up (powered) or down. Any thread; never blocks."""
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="sim-poe-link",
                                                daemon=True)
                self._thread.start()
            self._queue.append((interface, powered))
            self._queued += 1
            self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until every change queued so far is applied; False if ``timeout`` passed."""
        with self._cond:
            target = self._queued
            return self._cond.wait_for(lambda: self._applied >= target, timeout)

    def close(self, timeout: float = LINK_COMMAND_TIMEOUT_S) -> None:
        """Stop following; apply what is queued (within ``timeout``) and stop the worker.
        Blocks: from a coroutine, run it in a thread."""
        self._detach()
        with self._cond:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._queue.append(None)
            self._cond.notify_all()
        thread.join(timeout)
        if thread.is_alive():
            _log.warning("PoE link worker still busy after %.1f s; left behind", timeout)

    def _detach(self) -> None:
        sims, self._sims = self._sims, {}
        for sim in sims.values():
            sim.on_power_change(None)

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue))
                item = self._queue.popleft()
            if item is None:
                return
            try:
                self._apply(*item)
            finally:
                with self._cond:
                    self._applied += 1
                    self._cond.notify_all()

    def _apply(self, interface: str, up: bool) -> None:
        if not self._exists(interface):
            if interface not in self._quiet:
                self._quiet.add(interface)
                _log.debug("PoE link %s: no such interface, power changes not followed",
                           interface)
            return
        try:
            self._set_link(interface, up)
        except Exception as exc:
            level = logging.DEBUG if interface in self._quiet else logging.WARNING
            self._quiet.add(interface)
            _log.log(level, "PoE link %s not set %s: %s", interface, "up" if up else "down",
                     exc)
        else:
            self._quiet.discard(interface)
            _log.debug("PoE link %s %s", interface, "up" if up else "down")
