"""Alarm inputs → ``alarm_input`` start/stop, source ``alarm-in:<n>``, no channel.

The hardware's alarm I/O says each change of an enabled input (after debounce and the
installer's NO/NC) on the loop; its time is the kernel's edge time turned into wall
clock, so the event says when the contact moved, not when the daemon heard of it.
Inputs already active when the source connects (the alarm I/O started first) start at
once, from the time the alarm I/O noted.
"""

from __future__ import annotations

import time

from hal.gpio import AlarmInputEvent
from nvrd.events.model import Event, EventKind, Phase
from nvrd.events.sources.base import Publish, Source, now_us
from nvrd.hardware.alarmio import AlarmIO


def alarm_source(number: int) -> str:
    return f"alarm-in:{number}"


def edge_time_us(timestamp_ns: int) -> int:
    """A CLOCK_MONOTONIC edge time as UTC microseconds."""
    return (time.time_ns() - (time.monotonic_ns() - timestamp_ns)) // 1000


class AlarmInputSource(Source):
    name = "alarm inputs"

    def __init__(self, publish: Publish, alarm_io: AlarmIO) -> None:
        super().__init__(publish)
        self._alarm_io = alarm_io

    def connect(self) -> None:
        super().connect()
        self._alarm_io.on_input(self._on_input)  # no way to remove it: goes quiet instead
        for status in self._alarm_io.inputs():
            if status.enabled and status.active:
                self.publish(Event(EventKind.ALARM_INPUT, alarm_source(status.number), None,
                                   Phase.START, status.since_us or now_us(),
                                   {"name": status.name, "contact": status.contact,
                                    "cause": "initial"}))

    def _on_input(self, event: AlarmInputEvent) -> None:
        if event.cause == "initial" and not event.active:
            return
        name = next((x.name for x in self._alarm_io.inputs() if x.number == event.number), "")
        self.publish(Event(EventKind.ALARM_INPUT, alarm_source(event.number), None,
                           Phase.START if event.active else Phase.STOP,
                           edge_time_us(event.timestamp_ns),
                           {"name": name, "contact": event.contact, "cause": event.cause}))
