"""A real Mosquitto per test (skipped, with the reason, where the package is missing)
and MQTT notifiers that are stopped at teardown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nvrd.config.schema import MqttConfig
from nvrd.notify.mqtt import Backoff, MqttNotifier
from tests.notify.broker import WAIT_S, Mosquitto, mosquitto_binary

FAST_BACKOFF = Backoff(first_s=0.05, max_s=0.2, healthy_s=5.0)

MakeNotifier = Callable[..., Awaitable[MqttNotifier]]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed (scripts/setup installs it from the "
                    "Debian packages)")
    server = Mosquitto(binary, tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def make_notifier(broker: Mosquitto) -> AsyncIterator[MakeNotifier]:
    """``await make_notifier(port=..., **settings)``: a started notifier (connected and
    synced unless ``wait=False``) for the broker, with a fast reconnection backoff."""
    notifiers: list[MqttNotifier] = []

    async def make(*, port: int | None = None, wait: bool = True,
                   **settings: Any) -> MqttNotifier:
        config = MqttConfig.model_validate({
            "enabled": True, "host": "127.0.0.1", "port": port or broker.port,
            "client_id": "nvrd-test", "keepalive_seconds": 5, **settings})
        notifier = MqttNotifier(config, device_name="Test NVR", backoff=FAST_BACKOFF)
        notifiers.append(notifier)
        await notifier.start()
        if wait:
            async with asyncio.timeout(WAIT_S):
                await notifier.wait_synced()
        return notifier

    yield make
    for notifier in notifiers:
        await notifier.stop()

