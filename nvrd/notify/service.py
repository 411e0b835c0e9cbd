"""The notifiers as a service: MQTT and webhooks built from ``[notify]``, rebuilt when
it changes. Linkage decides what is sent (``nvrd/linkage/engine.py`` calls
``send_mqtt`` / ``send_webhook``); this owns the connections.

An unreachable broker or webhook is the network's fault, not the daemon's: it shows in
``status()`` (and the API), never in ``health()`` (which would stop the watchdog and
make systemd restart a recorder that is recording fine).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from nvrd.config import NvrConfig
from nvrd.events.model import Event, EventKind
from nvrd.notify.mqtt import MqttNotifier
from nvrd.notify.webhook import WebhookNotifier
from nvrd.service import Health, Service

logger = logging.getLogger(__name__)


class NotifyService(Service):
    name = "notify"

    def __init__(self, config: NvrConfig) -> None:
        super().__init__()
        self._config = config
        self.mqtt: MqttNotifier | None = None
        self.webhooks: WebhookNotifier | None = None

    async def start(self) -> None:
        await self._build(self._config)

    async def stop(self) -> None:
        await self._close()

    async def apply_config(self, config: NvrConfig) -> None:
        old, self._config = self._config, config
        if (old.notify, old.system.name) != (config.notify, config.system.name):
            await self._close()
            await self._build(config)

    def health(self) -> Health:
        return Health(True)

    def send_mqtt(self, event: Event) -> None:
        if self.mqtt is not None:
            self.mqtt.on_event(event)

    def send_webhook(self, event: Event) -> None:
        if self.webhooks is not None:
            self.webhooks.on_event(event)

    def announce_inputs(self, inputs: list[tuple[int, str, bool]]) -> None:
        """Make the alarm inputs known to Home Assistant before their first event:
        (number, name, active now)."""
        if self.mqtt is None:
            return
        for number, name, active in inputs:
            self.mqtt.announce(EventKind.ALARM_INPUT, f"alarm-in:{number}", name=name,
                               state=active)

    def status(self) -> dict[str, Any]:
        mqtt = self.mqtt.status() if self.mqtt is not None else None
        hooks = self.webhooks.status() if self.webhooks is not None else []
        return {"mqtt": None if mqtt is None else dataclasses.asdict(mqtt),
                "webhooks": [dataclasses.asdict(hook) for hook in hooks]}

    async def _build(self, config: NvrConfig) -> None:
        notify = config.notify
        if notify.mqtt.enabled:
            self.mqtt = MqttNotifier(notify.mqtt, device_name=config.system.name)
            await self.mqtt.start()
            logger.info("MQTT: publishing to %s:%d under %r", notify.mqtt.host,
                        notify.mqtt.port, notify.mqtt.base_topic)
        if notify.webhooks:
            self.webhooks = WebhookNotifier(notify.webhooks, recorder=config.system.name)
            await self.webhooks.start()
            logger.info("webhooks: %d configured", len(notify.webhooks))

    async def _close(self) -> None:
        mqtt, self.mqtt = self.mqtt, None
        webhooks, self.webhooks = self.webhooks, None
        if mqtt is not None:
            await mqtt.stop()
        if webhooks is not None:
            await webhooks.stop()
