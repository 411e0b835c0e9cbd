"""Network links → ``network_down`` start/stop, source ``net:<interface>``.

The kernel's link state (``psutil.net_if_stats``: up and running, i.e. carrier) read
every ``POLL_S`` seconds in a thread, for the interfaces of ``events.network_interfaces``
or, when that is empty, the ones up when the source starts (loopback and virtual
bridges aside): a box without a cable in its second port does not raise an alarm for it.

IP conflicts are not detected: that needs ARP probing (RFC 5227) on the box's own
addresses, which the network settings (a later issue) own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

import psutil

from nvrd.config import NvrConfig
from nvrd.events.model import EventKind
from nvrd.events.sources.base import Conditions, Publish, Source

logger = logging.getLogger(__name__)

POLL_S = 3.0
IGNORED_PREFIXES = ("lo", "docker", "veth", "virbr", "br-")

LinkStates = Callable[[], Mapping[str, bool]]
"""Interface name → link up (carrier)."""


def kernel_links() -> dict[str, bool]:
    """Every interface's link state as the kernel says it (blocking: in a thread)."""
    result = {}
    for name, stats in psutil.net_if_stats().items():
        flags = set(getattr(stats, "flags", "").split(","))
        result[name] = bool(stats.isup) and ("running" in flags if flags != {""} else True)
    return result


class NetworkSource(Source):
    name = "network"

    def __init__(self, publish: Publish, config: NvrConfig, *,
                 links: LinkStates = kernel_links, poll_s: float = POLL_S) -> None:
        super().__init__(publish)
        self._configured = config.events.network_interfaces
        self._links = links
        self._poll_s = poll_s
        self._watched: tuple[str, ...] = ()
        self._conditions = Conditions(self.publish)
        self._task: asyncio.Task[None] | None = None

    def running(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._poll(), name="event-network")

    def disconnect(self) -> None:
        super().disconnect()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def apply_config(self, config: NvrConfig) -> None:
        if config.events.network_interfaces != self._configured:
            self._configured = config.events.network_interfaces
            self._watched = ()  # chosen again at the next poll
            self._conditions.clear({"reason": "no longer watched"})

    def check(self, links: Mapping[str, bool]) -> None:
        """Publish what changed in ``links`` for the watched interfaces (loop-only)."""
        if not self._watched:
            self._watched = self._configured or tuple(sorted(
                name for name, up in links.items()
                if up and not name.startswith(IGNORED_PREFIXES)))
            if self._watched:
                logger.info("watching network links: %s", ", ".join(self._watched))
        for name in self._watched:
            up = links.get(name, False)
            self._conditions.set(EventKind.NETWORK_DOWN, f"net:{name}", not up, details={
                "interface": name,
                "reason": "no such interface" if name not in links else
                "the link is down (cable, switch port or PoE)"} if not up else {})

    async def _poll(self) -> None:
        while True:
            try:
                self.check(await asyncio.to_thread(self._links))
            except Exception:  # the next turn tries again; the source must not stop
                logger.exception("network link check failed")
            await asyncio.sleep(self._poll_s)
