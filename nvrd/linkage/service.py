"""Linkage as a service: the engine (``engine.py``) wired to the daemon's outputs and
subscribed to the event bus.

Built after everything it drives (hardware, recorder, snapshots, notifiers) and after
the event engine, whose sources may already have published starts (an alarm input
active at boot): those are taken as new at start, so a held input still gets its relay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from nvrd.config import NvrConfig
from nvrd.events.model import Action, EventKind
from nvrd.events.service import EventService
from nvrd.hardware.service import HardwareService
from nvrd.linkage.engine import Incident, LinkageEngine, SnapshotTaker, Targets
from nvrd.linkage.rules import DisarmState
from nvrd.notify.service import NotifyService
from nvrd.record.recorder import RecorderService
from nvrd.service import Health, Service
from nvrd.system.auditlog import AuditLog

logger = logging.getLogger(__name__)


class LinkageService(Service):
    name = "linkage"

    def __init__(self, config: NvrConfig, events: EventService, *,
                 hardware: HardwareService | None = None,
                 recorder: RecorderService | None = None,
                 snapshots: SnapshotTaker | None = None,
                 notify: NotifyService | None = None,
                 audit: AuditLog | None = None) -> None:
        super().__init__()
        self._config = config
        self._events = events
        self._hardware = hardware
        self._recorder = recorder
        self._snapshots = snapshots
        self._notify = notify
        self._audit = audit
        self._unsubscribe: Callable[[], None] | None = None
        self.engine: LinkageEngine | None = None

    async def start(self) -> None:
        bus = self._events.bus
        self.engine = LinkageEngine(
            self._config, self._targets(),
            input_active=lambda source: bus.is_active(EventKind.ALARM_INPUT, source))
        self._unsubscribe = bus.subscribe(self.engine.on_event)
        for event in bus.active():  # published before we listened
            self.engine.on_event(event)
        if self._notify is not None and self._hardware is not None \
                and self._hardware.alarm_io is not None:
            self._notify.announce_inputs([(i.number, i.name, i.active)
                                          for i in self._hardware.alarm_io.inputs()
                                          if i.enabled])
        state = self.engine.disarm()
        if state.disarmed:
            logger.warning("linkage %s: %s silenced", state.reason,
                           ", ".join(sorted(state.suppressed)))

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.engine is not None:
            await self.engine.close()

    async def apply_config(self, config: NvrConfig) -> None:
        self._config = config
        if self.engine is not None:
            self.engine.apply_config(config)

    def health(self) -> Health:
        return Health(True)

    # --- for the API ----------------------------------------------------------------

    def disarm(self) -> DisarmState:
        if self.engine is None:
            raise RuntimeError("linkage is not running")
        return self.engine.disarm()

    def test(self, rule_name: str) -> Incident:
        """Fire the rule once; KeyError when no rule has that name."""
        if self.engine is None:
            raise RuntimeError("linkage is not running")
        rule = next((r for r in self._config.events.rules if r.name == rule_name), None)
        if rule is None:
            raise KeyError(rule_name)
        return self.engine.test(rule)

    def _targets(self) -> Targets:
        hardware = self._hardware
        alarm_io = hardware.alarm_io if hardware is not None else None
        panel = hardware.panel if hardware is not None else None
        notifiers = {}
        if self._notify is not None:
            notifiers = {Action.MQTT: self._notify.send_mqtt,
                         Action.WEBHOOK: self._notify.send_webhook}
        return Targets(
            relay=((lambda n, on: alarm_io.set_relay(n, on, reason="linkage"))
                   if alarm_io is not None else None),
            buzzer=alarm_io.set_buzzer if alarm_io is not None else None,
            lamp=panel.set_alarm_look if panel is not None else None,
            recorder=self._recorder,
            ptz=hardware.ptz if hardware is not None else None,
            snapshots=self._snapshots, audit=self._audit, notifiers=notifiers,
            live=self._events.bus.feed)
