"""What the live feed carries, wired in one place: the services' own hooks, turned into
small messages (never whole snapshots) on the feed's topics.

- ``audit``: every audit record (``AuditLog.add_listener``, on the recording thread).
- ``storage``: the volumes' states when a volume becomes or stops being writable.
- ``bay``: the drive bays' states when one changes.
- ``alarm``: an alarm input's change; ``poe``: a PoE power event.
- ``status``: the daemon's status summary every ``STATUS_INTERVAL_S`` while somebody
  subscribes (nobody watching costs nothing), not kept for resuming.

A service rather than a function the application calls, so the hooks are connected
after the services they listen to have started (the alarm I/O and the PoE ports exist
only once the hardware service runs) and disconnected before they stop. Put it after
every service it listens to and before the web server: at stop, the web server's open
streams end first, then this closes what else subscribes.

Threads: loop-only, except the audit listener, which only calls ``LiveFeed.publish``
(safe from any thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from hal.gpio import AlarmInputEvent
from hal.poe import PoeEvent
from nvrd.events.live import LiveFeed
from nvrd.hardware.service import HardwareService
from nvrd.service import Service
from nvrd.storage.bays import BayService
from nvrd.storage.service import StorageService
from nvrd.system.auditlog import AuditLog, AuditRecord
from nvrd.system.status import DaemonStatus

logger = logging.getLogger(__name__)

STATUS_INTERVAL_S = 2.0
STOPPING_MESSAGE = "the recorder is stopping"


def audit_message(record: AuditRecord) -> dict[str, Any]:
    return {"time_us": record.time_us, "type": record.type, "action": record.action,
            "user": record.user, "source": record.source, "result": record.result,
            "details": record.details}


def status_message(status: DaemonStatus) -> dict[str, Any]:
    return {"cameras_online": status.cameras_online,
            "cameras_enabled": status.cameras_enabled,
            "streams_recording": status.streams_recording,
            "volumes_writable": status.volumes_writable,
            "volumes": len(status.volumes),
            "config_error": status.config_error is not None,
            "problems": list(status.problems)}


def alarm_message(event: AlarmInputEvent) -> dict[str, Any]:
    return {"input": event.number, "active": event.active, "contact": event.contact,
            "cause": event.cause}


def poe_message(event: PoeEvent) -> dict[str, Any]:
    return {"kind": event.kind.value, "port": event.port,
            "camera_channel": event.camera_channel, "pd_class": event.pd_class,
            "power_mw": event.power_mw, "detail": event.detail,
            "controller": event.controller}


class LiveSources(Service):
    """Connects ``feed`` to the services given (any may be None: not on this box)."""

    name = "live-sources"

    def __init__(self, feed: LiveFeed, *, status: Callable[[], DaemonStatus],
                 audit: AuditLog | None = None, storage: StorageService | None = None,
                 bays: BayService | None = None,
                 hardware: HardwareService | None = None) -> None:
        super().__init__()
        self._feed = feed
        self._status = status
        self._audit = audit
        self._storage = storage
        self._bays = bays
        self._hardware = hardware
        self._disconnect: list[Callable[[], None]] = []
        self._connected = False
        self._last: dict[str, Any] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._feed.bind()
        self._connected = True
        if self._audit is not None:
            self._disconnect.append(self._audit.add_listener(self._on_audit))
        if self._storage is not None:
            # StorageService has no way to remove a listener: this one goes quiet instead
            self._storage.on_change(self._on_storage)
        if self._bays is not None:
            self._disconnect.append(self._bays.add_listener(self._on_bays))
        hardware = self._hardware
        if hardware is not None and hardware.alarm_io is not None:
            hardware.alarm_io.on_input(self._on_alarm)
        if hardware is not None and hardware.poe is not None:
            hardware.poe.on_event(self._on_poe)
        self._task = asyncio.create_task(self._status_loop(), name="live-status")

    async def stop(self) -> None:
        self._connected = False
        for disconnect in self._disconnect:
            disconnect()
        self._disconnect.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._feed.close_all("shutdown", STOPPING_MESSAGE)

    # --- the hooks -------------------------------------------------------------------------

    def _on_audit(self, record: AuditRecord) -> None:
        self._feed.publish("audit", audit_message(record))

    def _on_storage(self) -> None:
        if self._connected and self._storage is not None:
            self._publish_changed("storage", {"volumes": [
                {"name": v.name, "group": v.group, "state": v.state, "reason": v.reason}
                for v in self._storage.snapshot()]})

    def _on_bays(self) -> None:
        if self._bays is not None:
            self._publish_changed("bay", {"bays": [
                {"bay": b.bay, "label": b.label, "state": b.state, "problem": b.problem,
                 "smart": b.smart} for b in self._bays.snapshot()]})

    def _on_alarm(self, event: AlarmInputEvent) -> None:
        alarm_io = self._hardware.alarm_io if self._hardware is not None else None
        if self._connected and alarm_io is not None:
            name = next((x.name for x in alarm_io.inputs() if x.number == event.number), "")
            self._feed.publish("alarm", {**alarm_message(event), "name": name})

    def _on_poe(self, event: PoeEvent) -> None:
        if self._connected:
            self._feed.publish("poe", poe_message(event))

    def _publish_changed(self, topic: str, data: dict[str, Any]) -> None:
        """Publish unless it says what the last message of ``topic`` said (the hooks also
        fire when nothing a watcher sees changed: a configuration reload)."""
        if self._last.get(topic) != data:
            self._last[topic] = data
            self._feed.publish(topic, data)

    async def _status_loop(self) -> None:
        while True:
            await self._feed.wait_for_subscribers()
            try:
                self._feed.publish("status", status_message(self._status()), replay=False)
            except Exception:  # the next turn tries again; the feed must not stop
                logger.exception("live status message failed")
            await asyncio.sleep(STATUS_INTERVAL_S)
