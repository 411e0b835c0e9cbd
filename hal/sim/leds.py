"""The simulated board's lamps: an LED-class tree of plain files the real sysfs driver writes.

``SimLeds(root, ...).create()`` lays out, for every lamp of the board::

    <root>/<device>/brightness        "0"
    <root>/<device>/max_brightness    "255" (configurable)
    <root>/<device>/trigger           "[none] timer heartbeat disk-activity ..."
    <root>/<device>/delay_on          "500"
    <root>/<device>/delay_off         "500"

and the daemon's :class:`hal.leds.sysfs.SysfsLed` runs on it unchanged (pass ``root`` as
the panel's ``sysfs_root``). Reading back (:meth:`SimLeds.read`, :meth:`SimLeds.states`)
is what the control socket's "read the lamps" command and the tests use.

Where plain files differ from the kernel, and how that is handled:

- A written ``trigger`` holds just the name written (the kernel would show the bracketed
  list again). :meth:`SimLeds.read` takes a bare name as the active trigger and rewrites
  the file into the kernel's form, so a driver opening the lamp afterwards (a restarted
  daemon) still sees what is offered.
- Kernel side effects (brightness 0 drops the trigger, ``none`` turns the LED off) are not
  modelled: the real driver never relies on them (it writes ``none`` and the brightness
  explicitly), so the files end up as the kernel's attributes would.
- ``delay_on``/``delay_off`` exist all the time, not only while ``timer`` is active.
- An unknown trigger name would fail with EINVAL on a kernel; here it is accepted and
  reported by :meth:`SimLeds.read` with ``offered=False``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hal.board import LedsSection
from hal.sim.control import Command, CommandError, command

__all__ = ["DEFAULT_TRIGGERS", "SimLedState", "SimLeds"]

# What a kernel with the usual LED triggers built in lists (CONFIG_LEDS_TRIGGER_*).
DEFAULT_TRIGGERS: tuple[str, ...] = (
    "none", "timer", "oneshot", "heartbeat", "default-on", "disk-activity", "netdev",
)


@dataclass(frozen=True, slots=True)
class SimLedState:
    """One lamp as read back from the tree."""

    device: str
    role: str | None
    mode: str
    """``off``, ``on``, ``blink`` (timer trigger) or the active trigger's name."""
    brightness: int
    max_brightness: int
    trigger: str
    delay_on_ms: int
    delay_off_ms: int
    offered: bool = True
    """Whether the kernel would have accepted the active trigger."""


class SimLeds:
    """An LED-class tree under ``root`` for the given lamps.

    ``devices`` maps role → LED-class device name (or is a plain list of device names).
    ``triggers`` is what every lamp offers; per-lamp lists can be changed with
    :meth:`offer` (to simulate a kernel without a trigger).
    """

    def __init__(self, root: Path, devices: Mapping[str, str] | Iterable[str], *,
                 triggers: Iterable[str] = DEFAULT_TRIGGERS, max_brightness: int = 255) -> None:
        self.root = root
        if isinstance(devices, Mapping):
            self._roles: dict[str, str | None] = {d: r for r, d in devices.items()}
        else:
            self._roles = {d: None for d in devices}
        offered = tuple(dict.fromkeys(("none", *triggers)))
        self._offered: dict[str, tuple[str, ...]] = {d: offered for d in self._roles}
        self.max_brightness = max_brightness

    @classmethod
    def from_section(cls, section: LedsSection, root: Path, *,
                     triggers: Iterable[str] = DEFAULT_TRIGGERS,
                     max_brightness: int = 255) -> SimLeds:
        """The board's lamps; every kernel trigger the profile names is offered too (as
        on a kernel built for that board). Use :meth:`offer` to take one away."""
        wanted = [i.kernel_trigger for i in section.indicators if i.kernel_trigger]
        return cls(root, {i.role: i.device for i in section.indicators},
                   triggers=(*triggers, *wanted), max_brightness=max_brightness)

    @property
    def devices(self) -> tuple[str, ...]:
        return tuple(self._roles)

    def create(self) -> SimLeds:
        """(Re)create the tree: every lamp off, no trigger."""
        self.root.mkdir(parents=True, exist_ok=True)
        for device in self._roles:
            path = self.root / device
            path.mkdir(exist_ok=True)
            self._put(path / "brightness", "0")
            self._put(path / "max_brightness", str(self.max_brightness))
            self._put(path / "trigger", _trigger_text(self._offered[device], "none"))
            self._put(path / "delay_on", "500")
            self._put(path / "delay_off", "500")
        return self

    def offer(self, device: str, triggers: Iterable[str]) -> None:
        """Change what one lamp offers (rewrites its ``trigger`` file)."""
        device = self._device(device)
        self._offered[device] = tuple(dict.fromkeys(("none", *triggers)))
        active = self._active(device)
        self._put(self.root / device / "trigger", _trigger_text(self._offered[device], active))

    def remove(self, device: str) -> None:
        """Take a lamp out of the tree (a missing LED for the driver)."""
        shutil.rmtree(self.root / self._device(device))

    def read(self, device: str) -> SimLedState:
        """A lamp by device name or role, as the driver left it."""
        device = self._device(device)
        path = self.root / device
        active = self._active(device)
        offered = active in self._offered[device]
        self._put(path / "trigger", _trigger_text(self._offered[device], active))
        brightness = _int(path / "brightness")
        if active == "timer":
            mode = "blink"
        elif active != "none":
            mode = active
        else:
            mode = "on" if brightness > 0 else "off"
        return SimLedState(device, self._roles[device], mode, brightness,
                           _int(path / "max_brightness"), active, _int(path / "delay_on"),
                           _int(path / "delay_off"), offered)

    def states(self) -> dict[str, SimLedState]:
        """Every lamp, keyed by role (or device name where no role was given)."""
        return {self._roles[d] or d: self.read(d) for d in self._roles}

    def commands(self) -> list[Command]:
        """The control socket's lamp commands (``simctl led list``)."""

        def read(led: str) -> SimLedState:
            return self.read(led)

        return [
            command("led list", self.states, "every lamp as the daemon left it (mode: off, "
                    "on, blink or a kernel trigger)"),
            command("led read", read, "one lamp, by role or LED-class device name"),
        ]

    # --- helpers -------------------------------------------------------------------------

    def _device(self, name: str) -> str:
        if name in self._roles:
            return name
        for device, role in self._roles.items():
            if role == name:
                return device
        known = ", ".join(sorted(r or d for d, r in self._roles.items()))
        raise CommandError(f"no simulated LED {name!r}; the board has {known}")

    def _active(self, device: str) -> str:
        text = (self.root / device / "trigger").read_text()
        tokens = text.split()
        bracketed = [t[1:-1] for t in tokens if len(t) > 2 and t[0] == "[" and t[-1] == "]"]
        if bracketed:
            return bracketed[0]
        # A plain file holds the name last written (or nothing, if written empty).
        return tokens[0] if len(tokens) == 1 else "none"

    @staticmethod
    def _put(path: Path, text: str) -> None:
        path.write_text(text + "\n")


def _trigger_text(offered: tuple[str, ...], active: str) -> str:
    names = offered if active in offered else (*offered, active)
    return " ".join(f"[{n}]" if n == active else n for n in names)


def _int(path: Path) -> int:
    return int(path.read_text().strip() or 0)
