"""What every event source shares: how it is started and stopped, and ``Conditions``,
which turns "is it so now?" readings into edges.

A source is edge-triggered: a lasting condition gives one ``start`` when it begins and
one ``stop`` when it ends, however often the service it listens to reports it; a source
that polls or gets whole snapshots (disks, network) says what holds now and
``Conditions`` publishes only the changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from nvrd.config import NvrConfig
from nvrd.events.model import Event, EventKind, Phase

Publish = Callable[[Event], object]
"""The bus's ``publish`` (a source never needs more of the bus)."""


def now_us() -> int:
    return time.time_ns() // 1000


class Source:
    """A source's lifecycle, run by the event service (loop-only).

    ``connect`` hooks it to its service (at the service's start); ``running`` is called
    once every service of the daemon has started (a source that judges the whole box,
    like "no disk", must not judge it half started); ``disconnect`` unhooks it (hooks
    that cannot be removed must go quiet). ``apply_config`` gets every new configuration.
    """

    name = "source"

    def __init__(self, publish: Publish) -> None:
        self._publish = publish
        self.connected = False

    def connect(self) -> None:
        self.connected = True

    def running(self) -> None:
        """Every service has started."""

    def disconnect(self) -> None:
        self.connected = False

    def apply_config(self, config: NvrConfig) -> None:
        """A new configuration."""

    def publish(self, event: Event) -> None:
        if self.connected:
            self._publish(event)


class Conditions:
    """The lasting conditions a source holds now, keyed by (kind, source): ``set`` says
    whether one holds, and only a change publishes (a start or a stop)."""

    def __init__(self, publish: Publish) -> None:
        self._publish = publish
        self._active: dict[tuple[EventKind, str], int | None] = {}

    def set(self, kind: EventKind, source: str, active: bool, *,
            channel: int | None = None, details: Mapping[str, Any] | None = None,
            time_us: int | None = None) -> None:
        key = (kind, source)
        if active == (key in self._active):
            return
        phase = Phase.START if active else Phase.STOP
        if active:
            self._active[key] = channel
        else:
            channel = self._active.pop(key)
        self._publish(Event(kind, source, channel, phase,
                            time_us if time_us is not None else now_us(), details or {}))

    def active_keys(self) -> list[tuple[EventKind, str]]:
        """The (kind, source) of every condition holding now."""
        return list(self._active)

    def update(self, kind: EventKind, holding: Mapping[str, Mapping[str, Any]], *,
               channels: Mapping[str, int | None] | None = None) -> None:
        """Every source of ``kind`` in ``holding`` (with its details) holds, every other
        one of this kind no longer does."""
        for source in [s for k, s in self._active if k is kind and s not in holding]:
            self.set(kind, source, False)
        for source, details in holding.items():
            self.set(kind, source, True, details=details,
                     channel=(channels or {}).get(source))

    def holding(self) -> list[tuple[EventKind, str]]:
        return list(self._active)

    def clear(self, details: Mapping[str, Any] | None = None) -> None:
        """End every condition (the source stops watching)."""
        for kind, source in list(self._active):
            self.set(kind, source, False, details=details)
