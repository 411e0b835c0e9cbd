"""Helpers of the GPIO tests: a board GPIO section on the sim chip "sim-gpio0", and an
event recorder that awaits callbacks with a timeout instead of sleeping."""

from __future__ import annotations

import asyncio
from typing import Any

from hal.board import GpioSection
from hal.gpio import AlarmInputEvent

CHIP = "sim-gpio0"


def make_section(inputs: list[dict[str, Any]] | None = None,
                 relays: list[dict[str, Any]] | None = None,
                 buzzer: dict[str, Any] | None = None) -> GpioSection:
    """A validated board GPIO section; entries default to chip ``sim-gpio0``."""
    return GpioSection.model_validate({
        "backend": "sim",
        "alarm_inputs": [{"chip": CHIP, **x} for x in inputs or []],
        "relays": [{"chip": CHIP, **x} for x in relays or []],
        "buzzer": None if buzzer is None else {"chip": CHIP, **buzzer},
    })


class Recorder:
    """Collects ``AlarmInputEvent``s; ``await next()`` waits for the next one."""

    def __init__(self) -> None:
        self.events: list[AlarmInputEvent] = []
        self._queue: asyncio.Queue[AlarmInputEvent] = asyncio.Queue()

    def __call__(self, event: AlarmInputEvent) -> None:
        self.events.append(event)
        self._queue.put_nowait(event)

    async def next(self, timeout: float = 2.0) -> AlarmInputEvent:
        return await asyncio.wait_for(self._queue.get(), timeout)

    def drain(self) -> list[AlarmInputEvent]:
        out = []
        while not self._queue.empty():
            out.append(self._queue.get_nowait())
        return out
