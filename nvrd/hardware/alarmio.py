"""Alarm inputs and relay outputs as the daemon runs them: the board says where the lines
are, the configuration (``[[alarms.inputs]]``/``[[alarms.outputs]]``) says how the
installer wired and wants them — NO/NC, debounce, enabled, forced on/off.

Linkage (an input raising a relay, recording, PTZ) is the event engine's job; here an
input change is logged, audited, kept for status and handed to ``on_input`` listeners,
and relays are switched by mode (``on``/``off`` forced; ``auto`` = off until linkage
drives them through ``set_relay``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from hal.board import GpioSection
from hal.gpio import AlarmInputEvent, AlarmInputs, AlarmOutputs, GpioBackend
from nvrd.config import NvrConfig
from nvrd.config.schema import AlarmInputConfig
from nvrd.system.auditlog import AuditLog

logger = logging.getLogger(__name__)

Contact = Literal["NO", "NC"]


@dataclass(frozen=True, slots=True)
class AlarmInputStatus:
    number: int
    name: str
    active: bool
    contact: str
    since_us: int | None
    enabled: bool


@dataclass(frozen=True, slots=True)
class AlarmOutputStatus:
    number: int
    name: str
    on: bool
    mode: str


class AlarmIO:
    """Owns the input and output line requests; ``close`` releases the outputs safely."""

    def __init__(self, section: GpioSection, backend: GpioBackend, config: NvrConfig,
                 audit: AuditLog) -> None:
        self._section = section
        self._backend = backend
        self._config = config
        self._audit = audit
        self._inputs: AlarmInputs | None = None
        self._outputs: AlarmOutputs | None = None
        self._since_us: dict[int, int] = {}
        self._active: dict[int, bool] = {}
        self._listeners: list[Callable[[AlarmInputEvent], None]] = []

    def on_input(self, listener: Callable[[AlarmInputEvent], None]) -> None:
        """Called on the loop for every change of an enabled input (and its initial
        state at start)."""
        self._listeners.append(listener)

    async def start(self) -> None:
        self._outputs = AlarmOutputs.from_section(self._section, self._backend)
        self._outputs.open()  # first: outputs are claimed released before any input fires
        enabled = [x for x in self._section.alarm_inputs if self._input_config(x.number)[1]]
        specs = []
        for spec in enabled:
            configured = self._configured_input(spec.number)
            if configured is not None:
                spec = spec.model_copy(update={"debounce_ms": configured.debounce_ms})
            specs.append(spec)
        contacts = {x.number: self._input_config(x.number)[0] for x in enabled}
        self._inputs = AlarmInputs(specs, self._backend, self._on_change, contacts=contacts)
        try:
            await self._inputs.start()
        except Exception:
            self._inputs = None
            raise
        self.apply_config(self._config)

    def close(self) -> None:
        if self._inputs is not None:
            self._inputs.close()
            self._inputs = None
        if self._outputs is not None:
            self._outputs.close()  # drives every relay and the buzzer off first
            self._outputs = None

    def apply_config(self, config: NvrConfig) -> None:
        self._config = config
        if self._inputs is not None:
            for spec in self._section.alarm_inputs:
                contact, enabled = self._input_config(spec.number)
                if enabled and spec.number in self._inputs.states():
                    self._inputs.set_contact(spec.number, contact)
        for relay in self._section.relays:
            mode = self._output_mode(relay.number)
            if mode != "auto":
                self.set_relay(relay.number, mode == "on", reason=f"mode {mode}")

    # --- actions ---------------------------------------------------------------------------

    def set_relay(self, number: int, on: bool, *, reason: str = "") -> None:
        """Switch a relay (linkage in ``auto`` mode, or the installer's forced mode)."""
        if self._outputs is None:
            raise RuntimeError("the alarm outputs are not available")
        if self._outputs.states().relays.get(number) == on:
            return
        self._outputs.set_relay(number, on)
        logger.info("alarm output %d %s%s", number, "on" if on else "off",
                    f" ({reason})" if reason else "")

    def set_buzzer(self, on: bool) -> None:
        """Switch the buzzer (linkage); nothing on a board without one."""
        if self._outputs is None or self._section.buzzer is None:
            return
        if self._outputs.states().buzzer != on:
            self._outputs.set_buzzer(on)
            logger.info("buzzer %s", "on" if on else "off")

    def beep(self, count: int = 3) -> None:
        if self._outputs is not None and self._section.buzzer is not None:
            self._outputs.beep(count=count)

    # --- status ----------------------------------------------------------------------------

    def inputs(self) -> list[AlarmInputStatus]:
        result = []
        for spec in self._section.alarm_inputs:
            contact, enabled = self._input_config(spec.number)
            result.append(AlarmInputStatus(
                number=spec.number, name=self._input_name(spec.number),
                active=self._active.get(spec.number, False), contact=contact,
                since_us=self._since_us.get(spec.number), enabled=enabled))
        return result

    def outputs(self) -> list[AlarmOutputStatus]:
        states = self._outputs.states().relays if self._outputs is not None else {}
        return [AlarmOutputStatus(number=r.number, name=self._output_name(r.number),
                                  on=states.get(r.number, False),
                                  mode=self._output_mode(r.number))
                for r in self._section.relays]

    def any_active(self) -> bool:
        return any(self._active.values())

    # --- internals -------------------------------------------------------------------------

    def _on_change(self, event: AlarmInputEvent) -> None:
        self._active[event.number] = event.active
        # the edge's CLOCK_MONOTONIC time → wall clock, for people and the event log
        self._since_us[event.number] = (time.time_ns()
                                        - (time.monotonic_ns() - event.timestamp_ns)) // 1000
        name = self._input_name(event.number)
        if event.cause == "initial":
            logger.info("alarm input %d (%s): %s at start", event.number, name,
                        "ACTIVE" if event.active else "normal")
            if not event.active:
                return
        else:
            logger.warning("alarm input %d (%s): %s", event.number, name,
                           "ACTIVE" if event.active else "back to normal")
        self._audit.record("alarm", f"alarm input {event.number} "
                           f"{'active' if event.active else 'normal'}",
                           result="alarm" if event.active else "ok",
                           details=f"{name}, {event.contact} contact, {event.cause}")
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("alarm input listener failed")

    def _configured_input(self, number: int) -> AlarmInputConfig | None:
        return next((x for x in self._config.alarms.inputs if x.id == number), None)

    def _input_config(self, number: int) -> tuple[Contact, bool]:
        """(contact, enabled): the installer's setting, else the board's default."""
        configured = self._configured_input(number)
        if configured is not None:
            return configured.contact, configured.enabled
        spec = self._section.alarm_input(number)
        return (spec.contact if spec is not None else "NO"), True

    def _input_name(self, number: int) -> str:
        configured = self._configured_input(number)
        spec = self._section.alarm_input(number)
        return (configured.name if configured is not None
                else (spec.label if spec is not None and spec.label else
                      f"Alarm input {number}"))

    def _output_mode(self, number: int) -> str:
        return next((o.mode for o in self._config.alarms.outputs if o.id == number), "auto")

    def _output_name(self, number: int) -> str:
        return next((o.name for o in self._config.alarms.outputs if o.id == number),
                    f"Alarm output {number}")
