"""Disks → ``disk_missing``, ``disk_error``, ``disk_full``, ``disk_low_space``,
``smart_warning``, ``smart_failing`` start/stop.

What holds is read from the storage volumes' and drive bays' states whenever either
says something changed, and every ``POLL_S`` seconds (free space shrinks without
anybody saying so); ``Conditions`` publishes only the edges. Judged only once every
service has started (``running``): a box still mounting its disks has no disk yet.

- ``disk_missing`` (source ``storage``): cameras are configured and there is no disk to
  record on at all — every volume is missing (or none is configured) and no bay is
  mounting or preparing one. A disk that is there but broken or full is its own kind.
- ``disk_error``: a volume failed or stalled (``volume:<name>``), a bay in error
  (``bay:<n>``).
- ``disk_full``: a volume full under the ``stop`` policy (``volume:<name>``).
- ``disk_low_space``: a writable volume below ``events.low_space_percent`` free, when
  the full policy is ``stop`` (overwriting keeps the disks full by design).
- ``smart_warning`` / ``smart_failing``: a bay disk's SMART verdict (``bay:<n>``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from nvrd.config import NvrConfig
from nvrd.events.model import EventKind
from nvrd.events.sources.base import Conditions, Publish, Source
from nvrd.storage.bays import BayService, BayStatus
from nvrd.storage.service import StorageService, VolumeStatus

logger = logging.getLogger(__name__)

POLL_S = 10.0
BUSY_BAY_STATES = ("mounting", "preparing")
ERROR_VOLUME_STATES = ("failed", "stalled")


def judge(config: NvrConfig, volumes: list[VolumeStatus], bays: list[BayStatus]
          ) -> dict[EventKind, dict[str, dict[str, Any]]]:
    """Per kind, the sources for which it holds now, with their details (pure)."""
    found: dict[EventKind, dict[str, dict[str, Any]]] = {kind: {} for kind in (
        EventKind.DISK_MISSING, EventKind.DISK_ERROR, EventKind.DISK_FULL,
        EventKind.DISK_LOW_SPACE, EventKind.SMART_WARNING, EventKind.SMART_FAILING)}
    cameras = sum(1 for c in config.cameras if c.enabled)
    if cameras and all(v.state == "missing" for v in volumes) \
            and not any(b.state in BUSY_BAY_STATES for b in bays):
        found[EventKind.DISK_MISSING]["storage"] = {
            "cameras": cameras, "volumes": len(volumes),
            "reason": "no disk to record on: " + (
                "no volume is configured and no bay holds a prepared disk" if not volumes
                else "every volume is missing")}
    threshold = config.events.low_space_percent
    for v in volumes:
        where: dict[str, Any] = {"volume": v.name, "path": v.path}
        if v.state in ERROR_VOLUME_STATES:
            found[EventKind.DISK_ERROR][f"volume:{v.name}"] = {
                **where, "state": v.state, "reason": v.reason}
        elif v.state == "full":
            found[EventKind.DISK_FULL][f"volume:{v.name}"] = {**where, "reason": v.reason}
        elif (config.storage.full_policy == "stop" and threshold and v.state == "ready"
              and v.total_bytes and v.free_bytes is not None
              and v.free_bytes * 100 < threshold * v.total_bytes):
            found[EventKind.DISK_LOW_SPACE][f"volume:{v.name}"] = {
                **where, "free_bytes": v.free_bytes, "total_bytes": v.total_bytes,
                "threshold_percent": threshold}
    for b in bays:
        where = {"bay": b.bay, "label": b.label, "serial": b.serial}
        if b.state == "error":
            found[EventKind.DISK_ERROR][f"bay:{b.bay}"] = {**where, "reason": b.problem}
        if b.smart == "warning":
            found[EventKind.SMART_WARNING][f"bay:{b.bay}"] = {**where,
                                                             "summary": b.smart_summary}
        elif b.smart == "failing":
            found[EventKind.SMART_FAILING][f"bay:{b.bay}"] = {**where,
                                                             "summary": b.smart_summary}
    return found


class DiskSource(Source):
    name = "disks"

    def __init__(self, publish: Publish, config: NvrConfig, storage: StorageService | None,
                 bays: BayService | None) -> None:
        super().__init__(publish)
        self._config = config
        self._storage = storage
        self._bays = bays
        self._conditions = Conditions(self.publish)
        self._running = False
        self._remove: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None

    def connect(self) -> None:
        super().connect()
        if self._storage is not None:
            self._storage.on_change(self.check)  # cannot be removed: goes quiet instead
        if self._bays is not None:
            self._remove.append(self._bays.add_listener(self.check))

    def running(self) -> None:
        self._running = True
        self.check()
        self._task = asyncio.get_running_loop().create_task(self._poll(), name="event-disks")

    def disconnect(self) -> None:
        super().disconnect()
        self._running = False
        for remove in self._remove:
            remove()
        self._remove.clear()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def apply_config(self, config: NvrConfig) -> None:
        self._config = config
        self.check()

    def check(self) -> None:
        """Read the states now and publish what changed (loop-only)."""
        if not (self.connected and self._running):
            return
        volumes = self._storage.snapshot() if self._storage is not None else []
        bays = self._bays.snapshot() if self._bays is not None else []
        for kind, holding in judge(self._config, volumes, bays).items():
            self._conditions.update(kind, holding)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            try:
                self.check()
            except Exception:  # the next turn tries again; the source must not stop
                logger.exception("disk event check failed")
