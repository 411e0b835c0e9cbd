"""What a recorded segment is, shared by the writer, the catalog and the queries.

Times are integer UTC microseconds (``_us``) everywhere; a segment covers
``[start_us, end_us)``. Segments of one stream that follow each other without a break
share a ``run_start_us`` (the start of the first segment of the run); a new run means the
recording was interrupted or its timeline re-anchored (reconnect, clock step, timestamp
jump, disk fault).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass
from pathlib import PurePosixPath


class RecordType(enum.IntFlag):
    """Why footage was recorded; a segment carries every reason that applied to it. The
    timeline colours a span by the highest-priority flag (vendor order: alarm > motion >
    intelligent > general)."""

    GENERAL = 1
    """Continuous recording from a schedule's general period."""
    MOTION = 2
    ALARM = 4
    INTELLIGENT = 8
    """Video analytics (line crossing, intrusion...) reported by a camera."""
    MANUAL = 16
    """The channel's mode is manual: recording regardless of the schedule."""


ALL_RECORD_TYPES = RecordType(sum(RecordType))

SEGMENT_DIR = "rec"
"""Recordings live under ``<volume>/rec/``; nothing else there is ours."""
_SEGMENT_NAME = re.compile(r"ch(\d{3})/(main|sub)/(\d{4}-\d{2}-\d{2})/(\d+)(?:-(\d+))?\.mp4")


@dataclass(frozen=True, slots=True)
class SegmentName:
    """What a segment file's path says about it; orphans are re-indexed from this."""

    channel: int
    stream: str
    start_us: int
    collision: int = 0
    """Distinguishes two segments of a stream that started in the same microsecond
    (only possible after the clock was stepped back)."""

    def relpath(self) -> PurePosixPath:
        """``rec/ch003/main/2026-11-21/1763712000123456.mp4`` (UTC day)."""
        day = dt.datetime.fromtimestamp(self.start_us / 1e6, dt.UTC).date().isoformat()
        suffix = f"-{self.collision}" if self.collision else ""
        return PurePosixPath(SEGMENT_DIR, f"ch{self.channel:03d}", self.stream, day,
                             f"{self.start_us}{suffix}.mp4")

    @classmethod
    def parse(cls, relpath: str | PurePosixPath) -> SegmentName | None:
        """The name of a segment path relative to the volume, or None if it is not one."""
        parts = PurePosixPath(relpath).parts
        if len(parts) != 5 or parts[0] != SEGMENT_DIR:
            return None
        match = _SEGMENT_NAME.fullmatch("/".join(parts[1:]))
        if match is None:
            return None
        return cls(int(match[1]), match[2], int(match[4]), int(match[5] or 0))
