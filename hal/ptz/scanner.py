"""Frames out of an RS-485 byte stream, resynchronising after noise. Pure; no I/O.

An RS-485 line delivers bytes, not frames: a read may hold half a frame, two frames, the
tail of a frame we missed, line noise from a dome powering up, or our own frames read back
(2-wire half duplex). The scanner keeps a buffer and repeatedly:

1. drops bytes up to the next sync byte (``0xFF`` Pelco-D, ``0xA0`` Pelco-P);
2. waits if a whole frame of that protocol has not arrived yet;
3. decodes it; on a bad checksum/ETX drops just the sync byte and goes back to 1, so a
   real frame starting inside the rejected bytes is still found.

Both protocols can share one bus, so both sync bytes are looked for. Data bytes can equal
a sync byte; the checksum (and Pelco-P's ETX) rejects those false starts. Pelco-D's 4-byte
"general response" (``FF addr alarm sum``) is not parsed: nvrd sends nothing that
produces one, and such bytes are discarded like noise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from hal.ptz import pelco_d, pelco_p
from hal.ptz.commands import Frame, PtzProtocol
from hal.ptz.errors import FrameError

__all__ = ["FrameScanner"]

logger = logging.getLogger(__name__)

_CODECS: dict[int, tuple[int, Callable[[bytes], Frame]]] = {
    pelco_d.SYNC: (pelco_d.FRAME_LENGTH, pelco_d.decode),
    pelco_p.STX: (pelco_p.FRAME_LENGTH, pelco_p.decode),
}
_SYNC_OF = {PtzProtocol.PELCO_D: pelco_d.SYNC, PtzProtocol.PELCO_P: pelco_p.STX}


class FrameScanner:
    """Feed bytes in any chunking; get the complete, valid frames out in order."""

    def __init__(self, protocols: Iterable[PtzProtocol] = tuple(PtzProtocol)) -> None:
        self._syncs = frozenset(_SYNC_OF[p] for p in protocols)
        self._buffer = bytearray()
        self.discarded = 0
        """Bytes thrown away as noise or broken frames since creation (diagnostics)."""

    @property
    def pending(self) -> bytes:
        """Bytes held back as the start of a frame that has not fully arrived."""
        return bytes(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        while self._skip_to_sync():
            length, decode = _CODECS[self._buffer[0]]
            if len(self._buffer) < length:
                break
            candidate = bytes(self._buffer[:length])
            try:
                frames.append(decode(candidate))
            except FrameError as exc:
                logger.debug("x resync: %s", exc)
                self._discard(1)
                continue
            del self._buffer[:length]
        return frames

    def clear(self) -> None:
        self._discard(len(self._buffer))

    def _skip_to_sync(self) -> bool:
        """Drop leading noise; ``True`` when the buffer now starts with a sync byte."""
        start = next((i for i, byte in enumerate(self._buffer) if byte in self._syncs),
                     len(self._buffer))
        if start:
            logger.debug("x noise: %s", self._buffer[:start].hex(" "))
            self._discard(start)
        return bool(self._buffer)

    def _discard(self, count: int) -> None:
        del self._buffer[:count]
        self.discarded += count
