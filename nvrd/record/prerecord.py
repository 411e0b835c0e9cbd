"""The RAM pre-record buffer: the last few seconds of a stream as whole GOPs.

When a channel is not recording, its packets still pass through here so that an event
can start the recording ``pre_record`` seconds in the past. The buffer always starts on
a keyframe (a recording cannot start elsewhere) and drops its oldest GOP only when the
next one still reaches back far enough, so what it holds covers at least the pre-record
time and at most one GOP more: the "within one GOP" bound of event recordings.
Memory is bounded by ``max_bytes`` as well, so a camera with a 60 s GOP cannot eat RAM.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import av


@dataclass(slots=True)
class BufferedPacket:
    packet: av.Packet
    media_us: int
    """Position in the run's media timeline (µs from the run's first video packet)."""
    video: bool
    keyframe: bool


@dataclass(slots=True)
class Gop:
    start_us: int
    packets: list[BufferedPacket] = field(default_factory=list)
    bytes: int = 0


class PreRecordBuffer:
    def __init__(self, seconds: float, max_bytes: int) -> None:
        self.window_us = int(seconds * 1_000_000)
        self.max_bytes = max_bytes
        self._gops: deque[Gop] = deque()
        self._bytes = 0

    def __len__(self) -> int:
        return sum(len(g.packets) for g in self._gops)

    @property
    def bytes(self) -> int:
        return self._bytes

    def start_us(self) -> int | None:
        return self._gops[0].start_us if self._gops else None

    def push(self, item: BufferedPacket, *, hold: bool = False) -> None:
        """Keep ``item``; packets before the first keyframe are useless and dropped.
        ``hold`` keeps every GOP regardless of the window (a run whose start is not yet
        settled must not lose its beginning); the byte budget still applies."""
        if item.video and item.keyframe:
            self._gops.append(Gop(item.media_us))
        elif not self._gops:
            return
        gop = self._gops[-1]
        gop.packets.append(item)
        gop.bytes += item.packet.size
        self._bytes += item.packet.size
        self._trim(item.media_us, hold)

    def drain(self) -> list[BufferedPacket]:
        """Everything held, oldest first, and empty the buffer."""
        items = [p for gop in self._gops for p in gop.packets]
        self.clear()
        return items

    def clear(self) -> None:
        self._gops.clear()
        self._bytes = 0

    def _trim(self, now_us: int, hold: bool) -> None:
        # Drop the oldest GOP while the next one alone still covers the window, or while
        # over the byte budget (never the GOP being filled).
        while len(self._gops) >= 2 and (
                (not hold and self._gops[1].start_us <= now_us - self.window_us)
                or self._bytes > self.max_bytes):
            self._bytes -= self._gops.popleft().bytes
