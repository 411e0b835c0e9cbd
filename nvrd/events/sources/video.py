"""Camera offline / video loss → ``video_loss`` start/stop, source ``camera:<channel>``.

From the ingest's status changes of each camera's *main* stream (the one recorded): a
start when it goes offline (or cannot be reached from the start), with the reason in
words and the time it was last seen online; a stop when video comes back, or when the
channel is no longer read (camera removed or disabled). The start's time is when the
daemon declared the stream lost: for a stall that is ``stall_timeout`` after the last
packet (the ingest's own limit), which ``details.error`` states.
"""

from __future__ import annotations

from collections.abc import Callable

from nvrd.events.model import EventKind
from nvrd.events.sources.base import Conditions, Publish, Source, now_us
from nvrd.record.ingest import StreamStatus
from nvrd.record.ingest_service import IngestService

WATCHED_STREAM = "main"


def camera_source(channel: int) -> str:
    return f"camera:{channel}"


class VideoLossSource(Source):
    name = "video loss"

    def __init__(self, publish: Publish, ingest: IngestService) -> None:
        super().__init__(publish)
        self._ingest = ingest
        self._conditions = Conditions(self.publish)
        self._online_since: dict[int, int] = {}
        self._remove: Callable[[], None] | None = None

    def connect(self) -> None:
        super().connect()
        self._remove = self._ingest.add_listener(self._on_stream)

    def disconnect(self) -> None:
        super().disconnect()
        if self._remove is not None:
            self._remove()
            self._remove = None

    def _on_stream(self, channel: int, stream: str, status: StreamStatus | None) -> None:
        if stream != WATCHED_STREAM:
            return
        source = camera_source(channel)
        if status is None:
            self._online_since.pop(channel, None)
            self._conditions.set(EventKind.VIDEO_LOSS, source, False, channel=channel,
                                 details={"reason": "the camera is no longer recorded"})
        elif status.online:
            if status.online_since_us is not None:
                self._online_since[channel] = status.online_since_us
            self._conditions.set(EventKind.VIDEO_LOSS, source, False, channel=channel,
                                 time_us=status.online_since_us or now_us(),
                                 details={"reconnects": status.reconnects})
        else:
            self._conditions.set(EventKind.VIDEO_LOSS, source, True, channel=channel,
                                 details={"stream": stream, "error": status.last_error,
                                          "online_since_us": self._online_since.get(channel)})
