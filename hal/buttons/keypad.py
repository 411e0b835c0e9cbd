"""The board's front-panel buttons as one service: evdev readers plus a hold machine each.

Built from the profile's ``[buttons]``. Keys on the same input device (reset and power on
one ``gpio-keys`` node) share one reader. Where a key's device is:

- ``device`` with backend ``evdev``: that path (``/dev/input/by-path/...-event``);
- ``device`` with backend ``sim``: a name under ``dev_root`` (the simulated board's
  ``dev/input`` directory, see :class:`hal.sim.buttons.SimButtons`);
- ``input_name``: the ``eventN`` whose ``device/name`` under ``sysfs_root`` matches.

Every event goes to the one ``on_event`` callback, on the event loop
(see :mod:`hal.buttons.longpress` for what is emitted when).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from hal.board import ButtonsSection, Key
from hal.buttons.clock import Clock
from hal.buttons.evdev import (
    DEFAULT_DEV_ROOT,
    DEFAULT_SYSFS_ROOT,
    EvdevReader,
    InputDeviceError,
    KeyAction,
    KeyEvent,
    find_input_device,
)
from hal.buttons.longpress import DEFAULT_HOLD_POLICY, ButtonEvent, HoldPolicy, LongPress

__all__ = ["Keypad", "resolve_key_device"]

logger = logging.getLogger(__name__)


def resolve_key_device(key: Key, backend: str, *, sysfs_root: Path = DEFAULT_SYSFS_ROOT,
                       dev_root: Path = DEFAULT_DEV_ROOT) -> Path:
    """The device node a key's events come from; raises :class:`InputDeviceNotFound`."""
    if key.device is not None:
        return dev_root / key.device if backend == "sim" else Path(key.device)
    assert key.input_name is not None  # the profile guarantees exactly one of the two
    return find_input_device(key.input_name, sysfs_root=sysfs_root, dev_root=dev_root)


class Keypad:
    """Front-panel buttons. ``clock`` defaults to the running loop at :meth:`start`."""

    def __init__(self, section: ButtonsSection, on_event: Callable[[ButtonEvent], None], *,
                 clock: Clock | None = None, policy: HoldPolicy = DEFAULT_HOLD_POLICY,
                 sysfs_root: Path = DEFAULT_SYSFS_ROOT,
                 dev_root: Path = DEFAULT_DEV_ROOT) -> None:
        self._section = section
        self._on_event = on_event
        self._clock = clock
        self._policy = policy
        self._sysfs_root = sysfs_root
        self._dev_root = dev_root
        self._readers: list[EvdevReader] = []
        self._holds: dict[tuple[Path, int], LongPress] = {}

    @property
    def devices(self) -> tuple[str, ...]:
        """The input devices being read."""
        return tuple(r.name for r in self._readers)

    def hold(self, role: str) -> LongPress | None:
        return next((h for h in self._holds.values() if h.role == role), None)

    async def start(self) -> None:
        """Find and open every device; on any failure nothing stays open."""
        if self._readers:
            return
        clock: Clock = self._clock if self._clock is not None else asyncio.get_running_loop()
        by_device: dict[Path, list[Key]] = {}
        for key in self._section.keys:
            try:
                path = resolve_key_device(key, self._section.backend,
                                          sysfs_root=self._sysfs_root,
                                          dev_root=self._dev_root)
            except InputDeviceError as exc:
                raise type(exc)(exc.device, f"{exc.detail} (the {key.role} button)") \
                    from exc
            by_device.setdefault(path, []).append(key)
        holds: dict[tuple[Path, int], LongPress] = {}
        readers: list[EvdevReader] = []
        for path, keys in by_device.items():
            for key in keys:
                holds[(path, key.key_code)] = LongPress(
                    key.role, key.key_code, clock, self._on_event,
                    self._policy.rule(key.role), self._policy.progress_interval_s)
            readers.append(EvdevReader(
                path, self._key_handler(path), codes=[k.key_code for k in keys],
                on_dropped=self._cancel_handler(path), on_closed=self._cancel_handler(path)))
        try:
            for reader in readers:
                await reader.start()
        except InputDeviceError:
            for reader in readers:
                reader.stop()
            raise
        self._holds, self._readers = holds, readers
        logger.info("buttons: %s", ", ".join(
            f"{h.role}={h.code:#x} on {p}" for (p, _), h in holds.items()))

    def stop(self) -> None:
        """Stop reading; holds in progress end with ``HoldCancelled``."""
        for reader in self._readers:
            reader.stop()
        for hold in self._holds.values():
            hold.cancel()
        self._readers = []
        self._holds = {}

    def _key_handler(self, path: Path) -> Callable[[KeyEvent], None]:
        def handle(event: KeyEvent) -> None:
            hold = self._holds.get((path, event.code))
            if hold is None:
                return
            if event.action is KeyAction.PRESS:
                hold.press()
            elif event.action is KeyAction.REPEAT:
                hold.repeat()
            else:
                hold.release()
        return handle

    def _cancel_handler(self, path: Path) -> Callable[[], None]:
        def cancel() -> None:
            for (device, _), hold in self._holds.items():
                if device == path:
                    hold.cancel()
        return cancel
