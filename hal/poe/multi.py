"""Several chips presented as one controller: channel = chip offset + the chip's channel.

Used where a profile declares one controller with more channels than one chip has (the
simulated board's ``channels = 8`` is two 4-port TPS23861). Each member keeps its own bus
lock, so chips are polled one after another but never block each other's transactions.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from hal.poe.base import (
    POWER_CYCLE_OFF_S,
    PortStatus,
    PseController,
    PseEvent,
    Sleep,
)

__all__ = ["MultiChipPse"]


class MultiChipPse(PseController):
    def __init__(self, controller_id: str, members: Sequence[tuple[PseController, int]], *,
                 sleep: Sleep = asyncio.sleep) -> None:
        """``members``: (chip, offset) pairs; the chip's channel c is channel offset + c."""
        self._route: dict[int, tuple[PseController, int]] = {}
        for chip, offset in members:
            for local in chip.channels:
                if offset + local in self._route:
                    raise ValueError(f"{controller_id}: channel {offset + local} is mapped "
                                     "twice")
                self._route[offset + local] = (chip, local)
        super().__init__(controller_id, sorted(self._route), sleep=sleep)
        self._members = tuple(members)

    def _member(self, channel: int) -> tuple[PseController, int]:
        self._check_channel(channel)
        return self._route[channel]

    async def start(self) -> None:
        started: list[PseController] = []
        try:
            for chip, _ in self._members:
                await chip.start()
                started.append(chip)
        except BaseException:
            for chip in started:
                await chip.close()
            raise

    async def close(self) -> None:
        for chip, _ in self._members:
            await chip.close()

    async def enable(self, channel: int) -> None:
        chip, local = self._member(channel)
        await chip.enable(local)

    async def disable(self, channel: int) -> None:
        chip, local = self._member(channel)
        await chip.disable(local)

    async def power_cycle(self, channel: int, off_s: float = POWER_CYCLE_OFF_S) -> None:
        chip, local = self._member(channel)
        await chip.power_cycle(local, off_s)

    async def status(self, channel: int) -> PortStatus:
        chip, local = self._member(channel)
        status = await chip.status(local)
        return _renumber(status, channel)

    async def statuses(self) -> dict[int, PortStatus]:
        result: dict[int, PortStatus] = {}
        for chip, offset in self._members:
            for local, status in (await chip.statuses()).items():
                result[offset + local] = _renumber(status, offset + local)
        return result

    async def poll_events(self) -> list[PseEvent]:
        events: list[PseEvent] = []
        for chip, offset in self._members:
            for event in await chip.poll_events():
                channel = None if event.channel is None else offset + event.channel
                events.append(PseEvent(event.kind, channel, event.pd_class, event.detail))
        return events


def _renumber(status: PortStatus, channel: int) -> PortStatus:
    return dataclasses.replace(status, channel=channel)
