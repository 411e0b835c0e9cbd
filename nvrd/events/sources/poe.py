"""PoE faults → ``poe_overcurrent``, ``poe_budget``, ``poe_disconnected`` pulses, source
``poe:<port>``, channel the camera on the port if the installer said which.

Pulses, not start/stop: the PoE ports report each fault once, as it happens (the port
is switched off or shed by then), and a port powered again is its own news. Supply
faults of a whole controller are not an event kind of the vendor's and stay in the
audit log only.
"""

from __future__ import annotations

from hal.poe import PoeEvent, PoeEventKind
from nvrd.events.model import Event, EventKind, Phase
from nvrd.events.sources.base import Publish, Source, now_us
from nvrd.hardware.poe import PoePorts

KINDS = {PoeEventKind.OVERCURRENT: EventKind.POE_OVERCURRENT,
         PoeEventKind.BUDGET_EXCEEDED: EventKind.POE_BUDGET,
         PoeEventKind.DISCONNECTED: EventKind.POE_DISCONNECTED}


class PoeSource(Source):
    name = "PoE"

    def __init__(self, publish: Publish, poe: PoePorts) -> None:
        super().__init__(publish)
        self._poe = poe

    def connect(self) -> None:
        super().connect()
        self._poe.on_event(self._on_event)  # no way to remove it: goes quiet instead

    def _on_event(self, event: PoeEvent) -> None:
        kind = KINDS.get(event.kind)
        if kind is None or event.port is None:
            return
        details = {key: value for key, value in (
            ("port", event.port), ("pd_class", event.pd_class), ("power_mw", event.power_mw),
            ("detail", event.detail), ("controller", event.controller)) if value is not None}
        self.publish(Event(kind, f"poe:{event.port}", event.camera_channel, Phase.PULSE,
                           now_us(), details))
