"""Alarm I/O on GPIO: alarm inputs, relays and the buzzer (libgpiod v2, or the sim).

``open_backend(section)`` is the one place that maps the board profile's
``gpio.backend`` to a backend; ``AlarmInputs`` and ``AlarmOutputs`` run unchanged on either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hal.board import GpioSection
from hal.gpio.alarms import (
    AlarmInputEvent,
    AlarmInputs,
    AlarmInputState,
    Contact,
    alarm_active,
)
from hal.gpio.base import (
    ChipNotFoundError,
    Edge,
    EdgeEvent,
    GpioBackend,
    GpioError,
    InputLine,
    LineBusyError,
    LineRequest,
    LineRequestError,
    OutputLine,
)
from hal.gpio.debounce import Debouncer, LevelChange
from hal.gpio.outputs import AlarmOutputs, OutputStates, UnknownOutputError

if TYPE_CHECKING:
    from hal.sim.gpio import SimGpioRegistry

__all__ = [
    "AlarmInputEvent",
    "AlarmInputState",
    "AlarmInputs",
    "AlarmOutputs",
    "ChipNotFoundError",
    "Contact",
    "Debouncer",
    "Edge",
    "EdgeEvent",
    "GpioBackend",
    "GpioError",
    "InputLine",
    "LevelChange",
    "LineBusyError",
    "LineRequest",
    "LineRequestError",
    "OutputLine",
    "OutputStates",
    "UnknownOutputError",
    "alarm_active",
    "open_backend",
]


def open_backend(section: GpioSection, *, sim: SimGpioRegistry | None = None) -> GpioBackend:
    """The backend the board profile asks for. ``sim`` is the simulated board's chips,
    required for ``backend = "sim"`` (the sim board owns them, so simctl can reach them)."""
    if section.backend == "sim":
        if sim is None:
            raise ValueError("the board's GPIO backend is 'sim': pass the simulated board's "
                             "gpiochips (sim=SimGpioRegistry)")
        from hal.sim.gpio import SimGpioBackend

        return SimGpioBackend(sim)
    from hal.gpio.gpiod_backend import GpiodBackend

    return GpiodBackend()
