"""Proof that a person stands at the recorder: a short press of its reset button.

Resetting the administrator's password must not be a backdoor (the vendor's FAQ answer to
"forgot password" was a telnet trick). A serial line proves nothing — it may be a serial
server on the network — so the console asks for something only a person at the box can
do: press the reset button (behind its pinhole) briefly while the console waits. A press
held for the factory-reset time is a factory reset, not a proof, so only a *short* press
counts. Presses before the console started waiting do not count either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hal.buttons.longpress import ButtonEvent, ShortPress

__all__ = ["PRESENCE_BUTTON", "Presence"]

PRESENCE_BUTTON = "reset"


class Presence:
    """Waits for a short press of the reset button. ``subscribe`` registers a listener for
    the front panel's button events and returns a function that removes it (None when the
    board has no reset button)."""

    def __init__(self, subscribe: Callable[[Callable[[ButtonEvent], None]],
                                           Callable[[], None]] | None,
                 has_button: Callable[[], bool]) -> None:
        self._subscribe = subscribe
        self._has_button = has_button

    @property
    def available(self) -> bool:
        return self._subscribe is not None and self._has_button()

    async def wait(self, timeout: float) -> bool:
        """True when the reset button was pressed briefly within ``timeout`` seconds."""
        if self._subscribe is None:
            return False
        pressed = asyncio.Event()

        def listener(event: ButtonEvent) -> None:
            if isinstance(event, ShortPress) and event.role == PRESENCE_BUTTON:
                pressed.set()

        unsubscribe = self._subscribe(listener)
        try:
            await asyncio.wait_for(pressed.wait(), timeout)
        except TimeoutError:
            return False
        finally:
            unsubscribe()
        return True
