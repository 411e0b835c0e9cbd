"""Front-panel buttons: ``struct input_event`` from evdev, press-and-hold requests.

``Keypad(profile.buttons, on_event)`` reads the board's buttons; the daemon acts on
``Requested`` (factory reset, shutdown) and shows ``HoldProgress`` on the front panel.
On the simulated board pass ``dev_root``/``sysfs_root`` of :class:`hal.sim.buttons.SimButtons`.
"""

from hal.buttons.clock import Cancellable, Clock, ManualClock
from hal.buttons.evdev import (
    DEFAULT_DEV_ROOT,
    DEFAULT_SYSFS_ROOT,
    EV_KEY,
    EV_SYN,
    EVENT,
    KEY_POWER,
    KEY_RESTART,
    KEY_WPS_BUTTON,
    SYN_DROPPED,
    SYN_REPORT,
    EvdevReader,
    InputDeviceError,
    InputDeviceNotFound,
    InputEvent,
    KeyAction,
    KeyEvent,
    find_input_device,
    parse_events,
)
from hal.buttons.keypad import Keypad, resolve_key_device
from hal.buttons.longpress import (
    ButtonEvent,
    HoldCancelled,
    HoldPolicy,
    HoldProgress,
    HoldRule,
    LongPress,
    Pressed,
    Released,
    Request,
    Requested,
    ShortPress,
)

__all__ = [
    "DEFAULT_DEV_ROOT",
    "DEFAULT_SYSFS_ROOT",
    "EVENT",
    "EV_KEY",
    "EV_SYN",
    "KEY_POWER",
    "KEY_RESTART",
    "KEY_WPS_BUTTON",
    "SYN_DROPPED",
    "SYN_REPORT",
    "ButtonEvent",
    "Cancellable",
    "Clock",
    "EvdevReader",
    "HoldCancelled",
    "HoldPolicy",
    "HoldProgress",
    "HoldRule",
    "InputDeviceError",
    "InputDeviceNotFound",
    "InputEvent",
    "KeyAction",
    "KeyEvent",
    "Keypad",
    "LongPress",
    "ManualClock",
    "Pressed",
    "Released",
    "Request",
    "Requested",
    "ShortPress",
    "find_input_device",
    "parse_events",
    "resolve_key_device",
]
