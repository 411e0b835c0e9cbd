"""What a stream's recorder sends to the writer of the volume it records on.

The recorder runs in the stream's reader thread and never touches the disk: it hands
these to the volume's writer thread through a bounded queue. A segment is announced with
its init segment, grows by whole fragments, and is closed; keys are unique in the
process, so a writer can hold segments of many streams open at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from nvrd.storage.model import SegmentName


@dataclass(frozen=True, slots=True)
class OpenSegment:
    key: int
    name: SegmentName
    run_start_us: int
    types: int
    codec: str
    width: int | None
    height: int | None
    init: bytes
    """ftyp+moov: the first bytes of the file."""


@dataclass(frozen=True, slots=True)
class AppendFragment:
    key: int
    data: bytes
    """One complete moof+mdat."""
    end_us: int
    """UTC end of the video recorded in the segment once this fragment is on disk."""
    seek: tuple[int, int] | None
    """(µs from the segment start, byte offset in the file) when the fragment starts with
    a keyframe: an entry of the seek index."""
    enqueued_ns: int
    """Monotonic time the recorder queued it; the writer measures latency from here."""


@dataclass(frozen=True, slots=True)
class CloseSegment:
    key: int
    end_us: int | None
    """UTC end of the segment (the next segment's start when cut on a keyframe); None =
    the end of its last fragment."""
    reason: str


WriterMessage = OpenSegment | AppendFragment | CloseSegment
