"""The front panel: from what the daemon knows (:class:`PanelState`) to what each lamp shows.

The daemon never drives a lamp by name. It builds a frozen :class:`PanelState` whenever
something the user can see changes and calls :meth:`FrontPanel.apply`; the board profile
(``[leds]``) says which lamps exist and what "on" means for each (``on_means``), because
that differs between product families (a red NET lamp lit on *failure* next to a blue one
lit when *connected*, per the manual digest §3). Only lamps whose look changed are written.

Each role reads one condition of the state:

===================  ================================  ===================================
role                 "healthy" (for ok / fault lamps)  "active" / "present"
===================  ================================  ===================================
power                power_ok                          power_ok
status               phase is RUNNING                  phase is RUNNING
hdd, hdd_fault       no disk fault (any bay or other)  some bay holds a disk
network, …_fault     network_up                        network_up
alarm                no alarm active                   alarm_active
record               recording                         recording
poe_fault            no PoE fault                      poe_fault
bay<N>               bay N holds a healthy disk        bay N holds a disk
bay<N>_fault         bay N has no fault                bay N has a fault
===================  ================================  ===================================

and ``on_means`` turns the condition into a look:

- ``ok``: lit while healthy (POWER "power normal", STATUS "device working properly").
- ``fault``: lit while not healthy (HDD "HDD abnormal", NET "network abnormal").
- ``active``: lit while active (ALARM "an alarm occurred", REC while recording).
- ``activity``: handed to the profile's ``kernel_trigger`` (``disk-activity``, ``ataN``,
  ``netdev``) for good, so it blinks with I/O without the daemon; if the kernel does not
  offer that trigger, lit steadily while present (a software-visible steady state).

"Lit" means the profile's ``kernel_trigger`` when the kernel offers it (STATUS blinks with
``heartbeat`` while the box runs, so a hung kernel shows as a frozen lamp), else steady on.

The *phase lamp* (STATUS, or POWER on boards without one — most families) shows the
daemon's phase instead, as a blink in the kernel's ``timer`` trigger:

=======================  ===========================  ======================================
phase                    phase lamp                   meaning for the user
=======================  ===========================  ======================================
BOOTING                  slow blink 500/500 ms        starting, not recording yet
RUNNING                  its normal rule (above)      working properly
BUTTON_HELD              blink 250/250 ms             reset/power held: keep holding to act
FACTORY_RESET_PENDING    fast blink 100/100 ms        reset accepted, defaults being restored
SHUTTING_DOWN            blip 100 on / 900 off ms     closing recordings; do not unplug
=======================  ===========================  ======================================

Without a ``timer`` trigger the phase lamp is simply lit in every phase but RUNNING's rule.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from hal.board import Indicator, LedsSection
from hal.leds.base import Blink, Led, LedError, LedLook, Off, On, Trigger
from hal.leds.sysfs import SysfsLed

__all__ = ["FrontPanel", "PanelReport", "PanelState", "Patterns", "Phase", "plan_looks"]

logger = logging.getLogger(__name__)

_BAY_RE = re.compile(r"^bay(\d+)(_fault)?$")


class Phase(StrEnum):
    BOOTING = "booting"
    RUNNING = "running"
    BUTTON_HELD = "button-held"
    """A reset or power button is being held, below its threshold (hold feedback)."""
    FACTORY_RESET_PENDING = "factory-reset-pending"
    SHUTTING_DOWN = "shutting-down"


@dataclass(frozen=True, slots=True)
class PanelState:
    """Everything the panel shows, as one value (compare it, log it, send it to the UI)."""

    phase: Phase = Phase.BOOTING
    power_ok: bool = True
    recording: bool = False
    disk_fault: bool = False
    """A disk fault not tied to a bay (no disk at all, a failing external disk, ...)."""
    bays_present: frozenset[int] = frozenset()
    bays_faulty: frozenset[int] = frozenset()
    network_up: bool = False
    alarm_active: bool = False
    alarm_look: On | Blink | None = None
    """A look the event engine's linkage asks of the ALARM lamp (it then counts as
    active); None: the lamp follows ``alarm_active``."""
    poe_fault: bool = False

    @property
    def any_disk_fault(self) -> bool:
        return self.disk_fault or bool(self.bays_faulty)


SLOW_BLINK = Blink(500, 500)
HOLD_BLINK = Blink(250, 250)
FAST_BLINK = Blink(100, 100)
SHUTDOWN_BLIP = Blink(100, 900)


@dataclass(frozen=True, slots=True)
class Patterns:
    """The phase lamp's blinks (ms); see the module docstring."""

    booting: Blink = SLOW_BLINK
    button_held: Blink = HOLD_BLINK
    factory_reset: Blink = FAST_BLINK
    shutting_down: Blink = SHUTDOWN_BLIP

    def for_phase(self, phase: Phase) -> Blink | None:
        return {
            Phase.BOOTING: self.booting,
            Phase.BUTTON_HELD: self.button_held,
            Phase.FACTORY_RESET_PENDING: self.factory_reset,
            Phase.SHUTTING_DOWN: self.shutting_down,
        }.get(phase)


@dataclass(frozen=True, slots=True)
class _Condition:
    healthy: bool
    active: bool


def _condition(role: str, state: PanelState) -> _Condition:
    bay = _BAY_RE.match(role)
    if bay is not None:
        number = int(bay.group(1))
        present, faulty = number in state.bays_present, number in state.bays_faulty
        if bay.group(2):
            return _Condition(not faulty, faulty)
        return _Condition(present and not faulty, present)
    running = state.phase is Phase.RUNNING
    alarming = state.alarm_active or state.alarm_look is not None
    conditions = {
        "power": _Condition(state.power_ok, state.power_ok),
        "status": _Condition(running, running),
        "hdd": _Condition(not state.any_disk_fault, bool(state.bays_present)),
        "hdd_fault": _Condition(not state.any_disk_fault, state.any_disk_fault),
        "network": _Condition(state.network_up, state.network_up),
        "network_fault": _Condition(state.network_up, not state.network_up),
        "alarm": _Condition(not alarming, alarming),
        "record": _Condition(state.recording, state.recording),
        "poe_fault": _Condition(not state.poe_fault, state.poe_fault),
    }
    found = conditions.get(role)
    if found is None:
        raise ValueError(f"no front-panel rule for LED role {role!r}")
    return found


def phase_lamp(indicators: Iterable[Indicator]) -> str | None:
    """The role that shows the phase: STATUS, else POWER, else none."""
    roles = {i.role for i in indicators}
    return next((r for r in ("status", "power") if r in roles), None)


def plan_looks(indicators: Sequence[Indicator], state: PanelState,
               offers: Callable[[Indicator, str], bool],
               patterns: Patterns = Patterns()) -> dict[str, LedLook]:
    """The look of every lamp for ``state`` (pure; ``offers`` says which kernel triggers
    each lamp's device lists)."""
    looks: dict[str, LedLook] = {}
    phase_role = phase_lamp(indicators)
    for indicator in indicators:
        looks[indicator.role] = _look(indicator, state, offers, patterns,
                                      indicator.role == phase_role)
    return looks


def _look(indicator: Indicator, state: PanelState, offers: Callable[[Indicator, str], bool],
          patterns: Patterns, is_phase_lamp: bool) -> LedLook:
    trigger = indicator.kernel_trigger
    triggered = trigger is not None and trigger != "timer" and offers(indicator, trigger)
    lit: LedLook = Trigger(trigger) if triggered and trigger is not None else On()
    if is_phase_lamp:
        pattern = patterns.for_phase(state.phase)
        if pattern is not None:
            return pattern if offers(indicator, "timer") else On()
    if (indicator.role == "alarm" and indicator.on_means == "active"
            and isinstance(state.alarm_look, Blink)):
        return state.alarm_look if offers(indicator, "timer") else On()
    condition = _condition(indicator.role, state)
    match indicator.on_means:
        case "ok":
            on = condition.healthy
        case "fault":
            on = not condition.healthy
        case "active":
            on = condition.active
        case _:  # "activity": the kernel's for good when it can
            if triggered:
                return lit
            on = condition.active
    return lit if on else Off()


@dataclass(frozen=True, slots=True)
class PanelReport:
    """What one :meth:`FrontPanel.apply` did."""

    changed: tuple[str, ...]
    """Roles whose look was written."""
    writes: int
    """Attribute writes made."""
    failed: tuple[LedError, ...] = ()
    """Lamps that could not be written; retried in full on the next apply."""


class FrontPanel:
    """The lamps of one board, driven as a whole.

    Lamps that cannot be opened at :meth:`start` (missing device, not writable) are left
    out and reported, not fatal: a recorder with a dead lamp must still record.
    """

    def __init__(self, lamps: Iterable[tuple[Indicator, Led]],
                 patterns: Patterns = Patterns()) -> None:
        self._lamps = list(lamps)
        self._usable: list[tuple[Indicator, Led]] = []
        self._patterns = patterns
        self._state: PanelState | None = None
        self.unavailable: tuple[LedError, ...] = ()

    @classmethod
    def from_section(cls, section: LedsSection, *, sysfs_root: Path | None = None,
                     patterns: Patterns = Patterns()) -> FrontPanel:
        """Lamps from the profile's ``[leds]``; ``sysfs_root`` overrides the profile's
        (the simulated board's tree, a test directory)."""
        root = sysfs_root if sysfs_root is not None else section.sysfs_root
        return cls(((i, SysfsLed(i.device, root)) for i in section.indicators), patterns)

    @property
    def state(self) -> PanelState | None:
        """The state last applied."""
        return self._state

    @property
    def lamps(self) -> dict[str, Led]:
        """The usable lamps by role (after :meth:`start`)."""
        return {i.role: led for i, led in self._usable}

    def start(self, state: PanelState = PanelState()) -> PanelReport:
        """Open every lamp, then show ``state`` (BOOTING by default)."""
        usable: list[tuple[Indicator, Led]] = []
        failures: list[LedError] = []
        for indicator, led in self._lamps:
            try:
                led.open()
            except LedError as exc:
                logger.warning("front panel: %s lamp unavailable: %s", indicator.role, exc)
                failures.append(exc)
                continue
            trigger = indicator.kernel_trigger
            if trigger is not None and not led.offers(trigger):
                logger.info("front panel: LED %s does not offer kernel trigger %r; "
                            "showing a steady state instead", led.name, trigger)
            usable.append((indicator, led))
        self._usable = usable
        self.unavailable = tuple(failures)
        return self.apply(state)

    def plan(self, state: PanelState) -> dict[str, LedLook]:
        leds = {id(i): led for i, led in self._usable}
        return plan_looks([i for i, _ in self._usable], state,
                          lambda i, trigger: leds[id(i)].offers(trigger), self._patterns)

    def apply(self, state: PanelState) -> PanelReport:
        """Show ``state``; writes only lamps whose look changed. Never raises for a lamp:
        a failed lamp is logged, reported, and rewritten in full next time."""
        looks = self.plan(state)
        changed: list[str] = []
        failed: list[LedError] = []
        writes = 0
        for indicator, led in self._usable:
            try:
                count = led.show(looks[indicator.role])
            except LedError as exc:
                logger.warning("front panel: %s lamp: %s", indicator.role, exc)
                failed.append(exc)
                continue
            if count:
                changed.append(indicator.role)
                writes += count
        self._state = state
        return PanelReport(tuple(changed), writes, tuple(failed))
