"""Outputs several incidents share: a relay, the buzzer, the ALARM lamp.

Each incident that wants an output *holds* it; the output is on while anyone holds it,
and goes off ``latch`` seconds after the last one lets go (a new hold in that time keeps
it on). So two alarms on one siren never switch it off under each other, and the latch
counts from the end of the last one, as the manual's "Post-Alarm" does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hal.leds.base import Blink, On

logger = logging.getLogger(__name__)


class HeldOutput:
    """One on/off output held by incidents. Loop-only."""

    def __init__(self, name: str, switch: Callable[[bool], None]) -> None:
        self.name = name
        self._switch = switch
        self._holders: set[str] = set()
        self._off_timer: asyncio.TimerHandle | None = None
        self.on = False

    @property
    def holders(self) -> frozenset[str]:
        return frozenset(self._holders)

    def hold(self, holder: str) -> None:
        self._holders.add(holder)
        self._cancel_off()
        self._set(True)

    def release(self, holder: str, latch_s: float = 0.0) -> None:
        if holder not in self._holders:
            return
        self._holders.discard(holder)
        if self._holders:
            return
        self._cancel_off()
        if latch_s <= 0:
            self._set(False)
        else:
            self._off_timer = asyncio.get_running_loop().call_later(
                latch_s, self._latch_over)

    def reset(self) -> None:
        """Off now, whoever holds it (the manual's "Alarm Reset")."""
        self._holders.clear()
        self._cancel_off()
        self._set(False)

    def _latch_over(self) -> None:
        self._off_timer = None
        if not self._holders:
            self._set(False)

    def _cancel_off(self) -> None:
        if self._off_timer is not None:
            self._off_timer.cancel()
            self._off_timer = None

    def _set(self, on: bool) -> None:
        if on == self.on:
            return
        try:
            self._switch(on)
        except Exception as exc:  # a dead line must not stop the other actions
            logger.error("linkage: cannot switch %s %s: %s", self.name,
                         "on" if on else "off", exc)
            return
        self.on = on


LOOKS: dict[str, On | Blink] = {"steady": On(), "blink": Blink(500, 500),
                                "fast_blink": Blink(100, 100)}
_URGENCY = ("steady", "blink", "fast_blink")


class AlarmLamp:
    """The ALARM lamp's look: the most urgent pattern any incident asks for."""

    def __init__(self, show: Callable[[On | Blink | None], None]) -> None:
        self._show = show
        self._wanted: dict[str, str] = {}

    def hold(self, holder: str, pattern: str) -> None:
        self._wanted[holder] = pattern
        self._refresh()

    def release(self, holder: str) -> None:
        if self._wanted.pop(holder, None) is not None:
            self._refresh()

    def reset(self) -> None:
        self._wanted.clear()
        self._refresh()

    @property
    def pattern(self) -> str | None:
        if not self._wanted:
            return None
        return max(self._wanted.values(), key=_URGENCY.index)

    def _refresh(self) -> None:
        pattern = self.pattern
        try:
            self._show(None if pattern is None else LOOKS[pattern])
        except Exception:
            logger.exception("linkage: the ALARM lamp could not be set")
