"""What the front panel shows, from what the daemon knows.

The lamps follow the state of the box, not individual events: every ``REFRESH_S`` (and
at once on an alarm or a button) the daemon's signals are folded into one ``PanelState``
and ``FrontPanel.apply`` writes only the lamps whose look changed. The phase (booting,
running, a button held, factory reset pending, shutting down) comes from the daemon's
lifecycle and the buttons.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from hal.leds import FrontPanel, PanelState, Phase
from hal.leds.base import Blink, LedLook, On, Trigger

logger = logging.getLogger(__name__)

REFRESH_S = 1.0


@dataclass(frozen=True, slots=True)
class DaemonSignals:
    """The daemon's side of the panel (from the recorder and the bays)."""

    recording: bool = False
    disk_fault: bool = False
    """No usable recording disk at all, or one failed."""
    bays_present: frozenset[int] = frozenset()
    bays_faulty: frozenset[int] = frozenset()


def network_up() -> bool:
    """Some interface other than loopback is up (the LAN lamp)."""
    try:
        stats = psutil.net_if_stats()
    except OSError:
        return False
    return any(s.isup for name, s in stats.items() if name != "lo")


class PanelDriver:
    def __init__(self, panel: FrontPanel, signals: Callable[[], DaemonSignals],
                 alarm_active: Callable[[], bool], poe_fault: Callable[[], bool]) -> None:
        self._panel = panel
        self._signals = signals
        self._alarm_active = alarm_active
        self._poe_fault = poe_fault
        self._phase = Phase.BOOTING
        self._alarm_look: On | Blink | None = None
        self._task: asyncio.Task[None] | None = None
        self.state: PanelState | None = None

    def start(self) -> None:
        self._panel.start(PanelState(phase=Phase.BOOTING))  # logs lamps it cannot open
        self._task = asyncio.create_task(self._run(), name="front-panel")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.set_phase(Phase.SHUTTING_DOWN)

    def looks(self) -> dict[str, str]:
        """Each lamp's look now, by role (``"on"``, ``"off"``, ``"blink 500/500 ms"``)."""
        if self.state is None:
            return {}
        return {role: _describe(look) for role, look in self._panel.plan(self.state).items()}

    def set_phase(self, phase: Phase) -> None:
        if phase != self._phase:
            self._phase = phase
            self.refresh()

    def set_alarm_look(self, look: On | Blink | None) -> None:
        """What linkage asks of the ALARM lamp (None: it follows the alarm inputs)."""
        if look != self._alarm_look:
            self._alarm_look = look
            self.refresh()

    @property
    def phase(self) -> Phase:
        return self._phase

    def refresh_soon(self) -> None:
        """Refresh once the current callback is done (e.g. after an alarm's listeners)."""
        asyncio.get_running_loop().call_soon(self.refresh)

    def refresh(self) -> None:
        """Recompute and show; never raises (a lamp must not take the daemon down)."""
        try:
            signals = self._signals()
            state = PanelState(
                phase=self._phase, power_ok=True, recording=signals.recording,
                disk_fault=signals.disk_fault, bays_present=signals.bays_present,
                bays_faulty=signals.bays_faulty, network_up=network_up(),
                alarm_active=self._alarm_active(), alarm_look=self._alarm_look,
                poe_fault=self._poe_fault())
            if state != self.state:
                self._panel.apply(state)
                self.state = state
        except Exception:
            logger.exception("front panel update failed")

    async def _run(self) -> None:
        while True:
            self.refresh()
            await asyncio.sleep(REFRESH_S)


def _describe(look: LedLook) -> str:
    if isinstance(look, Blink):
        return f"blinking {look.on_ms}/{look.off_ms} ms"
    if isinstance(look, Trigger):
        return f"kernel trigger {look.name}"
    return "on" if isinstance(look, On) else "off"
