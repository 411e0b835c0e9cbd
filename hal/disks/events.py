"""Block-device uevents, from udev or straight from the kernel, into the event loop.

Production boxes run udevd, and ``source="udev"`` delivers events *after* the rules ran
(``ID_PATH``, ``ID_SERIAL``, ``ID_FS_TYPE`` set). Where no udevd runs (no ``/run/udev``:
containers, early boot, the test VM) a udev-source monitor receives nothing at all, so
``source="kernel"`` listens to the raw kernel uevents instead. Both feed the same handler;
``DeviceProbe`` fills in what kernel events lack.

asyncio integration: the netlink socket is registered with ``loop.add_reader`` and drained
with ``poll(timeout=0)``, so reading never blocks the loop.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyudev

__all__ = [
    "BlockEvent",
    "BlockEventHandler",
    "BlockEventSource",
    "FakeBlockEvents",
    "PyudevBlockEvents",
    "default_source",
]

log = logging.getLogger(__name__)

UdevSource = Literal["udev", "kernel"]


@dataclass(frozen=True, slots=True)
class BlockEvent:
    action: str
    """``add``, ``remove``, ``change`` (media change, loop attach/detach), ``bind``..."""
    name: str
    """Kernel name (``sda``, ``sda1``, ``loop57``)."""
    devpath: str
    """DEVPATH without ``/sys``."""
    devtype: str
    """``disk`` or ``partition``."""
    properties: Mapping[str, str] = field(default_factory=dict)
    """uevent/udev properties as delivered (udev adds ID_* keys; the kernel does not)."""


BlockEventHandler = Callable[[BlockEvent], None]


class BlockEventSource(abc.ABC):
    """Where block events come from.

    Contract: after ``start(handler)``, ``handler`` is called on the event loop's thread
    for every block event, in the order the kernel emitted them, and must not block.
    ``existing()`` lists what is present now as synthetic ``add`` events; call it *after*
    ``start`` so nothing that appears in between is missed (a device may then be seen
    twice, which a state-based consumer ignores). ``close`` stops delivery and is
    idempotent.
    """

    @abc.abstractmethod
    def start(self, handler: BlockEventHandler) -> None: ...

    @abc.abstractmethod
    def existing(self) -> list[BlockEvent]: ...

    @abc.abstractmethod
    def close(self) -> None: ...


def default_source(run_udev: Path = Path("/run/udev")) -> UdevSource:
    """``udev`` when udevd is running (its runtime directory exists), else ``kernel``."""
    return "udev" if (run_udev / "control").exists() or (run_udev / "data").is_dir() \
        else "kernel"


class PyudevBlockEvents(BlockEventSource):
    """The real source: a pyudev netlink monitor filtered to the block subsystem."""

    def __init__(self, source: UdevSource | None = None, *,
                 context: pyudev.Context | None = None) -> None:
        self.source: UdevSource = source or default_source()
        self._context = context or pyudev.Context()
        self._monitor: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, handler: BlockEventHandler) -> None:
        if self._monitor is not None:
            raise RuntimeError("block event source already started")
        monitor = pyudev.Monitor.from_netlink(self._context, source=self.source)
        monitor.filter_by("block")
        monitor.start()
        loop = asyncio.get_running_loop()
        loop.add_reader(monitor.fileno(), self._drain, monitor, handler)
        self._monitor, self._loop = monitor, loop
        log.debug("- block events from %s", self.source)

    def existing(self) -> list[BlockEvent]:
        return [_event("add", device)
                for device in self._context.list_devices(subsystem="block")]

    def close(self) -> None:
        monitor, self._monitor = self._monitor, None
        if monitor is not None and self._loop is not None:
            # pyudev has no close: libudev closes the netlink socket when the last
            # reference to the monitor goes
            self._loop.remove_reader(monitor.fileno())

    @staticmethod
    def _drain(monitor: Any, handler: BlockEventHandler) -> None:
        while True:
            try:
                device = monitor.poll(timeout=0)
            except OSError:  # ENOBUFS: the kernel dropped events; the next ones still count
                log.exception("x block event socket overflow")
                continue
            if device is None:
                return
            if device.subsystem != "block":
                continue
            handler(_event(device.action or "add", device))


def _event(action: str, device: Any) -> BlockEvent:
    return BlockEvent(action=action, name=device.sys_name, devpath=device.device_path,
                      devtype=device.device_type or "", properties=dict(device.properties))


class FakeBlockEvents(BlockEventSource):
    """For unit tests: events pushed by the test, devices listed by the test."""

    def __init__(self, existing: Iterable[BlockEvent] = ()) -> None:
        self.present = list(existing)
        self._handler: BlockEventHandler | None = None
        self.closed = False

    def start(self, handler: BlockEventHandler) -> None:
        self._handler = handler

    def existing(self) -> list[BlockEvent]:
        return list(self.present)

    def close(self) -> None:
        self.closed = True
        self._handler = None

    def push(self, event: BlockEvent) -> None:
        if self._handler is None:
            raise RuntimeError("FakeBlockEvents not started")
        self._handler(event)
