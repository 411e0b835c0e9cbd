"""Front-panel lamps: LED-class devices in sysfs and the status model that drives them.

``FrontPanel.from_section(profile.leds, sysfs_root=...)`` builds the panel for a board; on
the simulated board, pass the tree made by :class:`hal.sim.leds.SimLeds` as ``sysfs_root``
(the same sysfs driver runs on it).
"""

from hal.leds.base import (
    Blink,
    Led,
    LedError,
    LedLook,
    LedNotFound,
    LedNotWritable,
    LedWriteError,
    Off,
    On,
    Trigger,
    TriggerNotOffered,
)
from hal.leds.panel import FrontPanel, PanelReport, PanelState, Patterns, Phase, plan_looks
from hal.leds.sysfs import DEFAULT_SYSFS_ROOT, SysfsLed, TriggerList, parse_trigger_list

__all__ = [
    "DEFAULT_SYSFS_ROOT",
    "Blink",
    "FrontPanel",
    "Led",
    "LedError",
    "LedLook",
    "LedNotFound",
    "LedNotWritable",
    "LedWriteError",
    "Off",
    "On",
    "PanelReport",
    "PanelState",
    "Patterns",
    "Phase",
    "SysfsLed",
    "Trigger",
    "TriggerList",
    "TriggerNotOffered",
    "parse_trigger_list",
    "plan_looks",
]
