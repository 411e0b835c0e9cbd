"""Test helpers: packed ``struct input_event`` records, and a recorder that awaits
callbacks with a timeout instead of sleeping."""

from __future__ import annotations

import asyncio
from typing import Any

from hal.buttons import EV_KEY, EV_SYN, SYN_REPORT, InputEvent


def record(type_: int, code: int, value: int, sec: int = 1_700_000_000,
           usec: int = 0) -> bytes:
    return InputEvent(sec, usec, type_, code, value).pack()


def key(code: int, value: int) -> bytes:
    """A key event as gpio-keys sends it: EV_KEY then SYN_REPORT."""
    return record(EV_KEY, code, value) + record(EV_SYN, SYN_REPORT, 0)


class Recorder:
    """Collects callback arguments; ``await next()`` waits for the next one (≤ 2 s)."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._queue: asyncio.Queue[Any] = asyncio.Queue()

    def __call__(self, item: Any = None) -> None:
        self.items.append(item)
        self._queue.put_nowait(item)

    async def next(self, timeout: float = 2.0) -> Any:
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def until(self, kind: type, timeout: float = 2.0) -> Any:
        """Skip items up to the first of ``kind``, which is returned."""
        while True:
            item = await self.next(timeout)
            if isinstance(item, kind):
                return item

    def drain(self) -> list[Any]:
        """Items received and not yet awaited."""
        items = []
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items
