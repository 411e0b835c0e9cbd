"""Live view: a camera stream's video, as it arrives, to browsers (fMP4 for MSE).

No second connection to the camera and nothing decoded: a ``LiveSource`` is a tap on the
stream's reader (``IngestService.add_tap``, as snapshots and motion are), and muxes the
packets the recorder receives anyway into fragments of one frame each
(``nvrd/playback/live_muxer.py``). One source per (channel, stream) serves every viewer of
it, and exists only while someone watches (plus ``linger_s``, so a page reload finds it
warm): an unwatched stream costs one dictionary lookup per packet.

Joining at once: the source keeps the fragments of the current GOP, from its key frame
(``GOP_CACHE_MAX_BYTES`` at most; a longer GOP is not kept and a new viewer waits for
the next key frame). A new viewer gets the init segment, then that GOP, then what
follows; its player starts from the key frame and jumps to the live edge.

Slow viewers (the policy): each viewer has its own queue. When the oldest fragment in it
has waited ``max_wait_s`` or it holds ``max_bytes``, the viewer cannot keep up: its
queued fragments are dropped, it skips to the next key frame (``gops_skipped``,
``fragments_dropped`` count it), and goes on from there. Fragments are shared ``bytes``
(one copy per frame whatever the number of viewers), so memory is bounded by the
sources' last seconds, never by a viewer that stopped reading; the reader thread, the
recorder and the other viewers never wait for one.

Sessions: when the camera's connection ends, viewers get an ``Offline`` item (the
reason the ingest gives) and keep waiting; when it comes back (a reconnect, a new codec
or size), the new session's init segment comes first and their players start over.

Threads: ``LiveSource``'s ``PacketSink`` methods run in the stream's reader thread; they
own the muxer and hand inits, fragments and ``Offline`` to the loop with
``call_soon_threadsafe``. Everything else (the GOP cache, the viewers, the service) is
loop-only. Muxing a frame costs about 0.12 ms of the reader thread (copy, mux, moof
parse; the same from 320x240 to 1080p), no I/O. Design: docs/design/playback.md,
"Live view".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import av
import av.audio.stream
import av.video.stream

from nvrd.config import NvrConfig
from nvrd.playback.live_muxer import LiveFragment, LiveInit, LiveMuxer, LiveMuxerError
from nvrd.record.ingest import PacketSink
from nvrd.record.ingest_service import IngestService
from nvrd.service import Health, Service

logger = logging.getLogger(__name__)

__all__ = ["GOP_CACHE_MAX_BYTES", "LiveFragment", "LiveInit", "LiveSource",
           "LiveVideoError", "LiveVideoService", "Offline", "SourceStats", "Viewer",
           "ViewerClosed", "ViewerStats"]

STREAMS = ("main", "sub")
GOP_CACHE_MAX_BYTES = 6 << 20
"""The current GOP kept for new viewers: 6 MiB is 12 s at 4 Mbit/s."""
VIEWER_MAX_BYTES = 8 << 20
"""A viewer's queue beyond this has fallen behind, however recent its fragments."""
VIEWER_MAX_WAIT_S = 2.0
"""A fragment queued this long means its viewer cannot keep up: it skips ahead. More
than the burst of a GOP handed to a new viewer takes to send on a LAN."""
DEFAULT_MAX_PER_OWNER = 16
"""Live views per user: a 4x4 grid of one recorder."""
DEFAULT_MAX_TOTAL = 32
DEFAULT_LINGER_S = 5.0


class LiveVideoError(Exception):
    """A live view that cannot be opened; ``status``/``code`` as the API answers it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Offline:
    """The camera's stream is down; live view goes on when it is back."""

    message: str


Item = LiveInit | LiveFragment | Offline


class ViewerClosed(Exception):
    """The viewer was ended (``reason`` a code, ``message`` the sentence)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class ViewerStats:
    channel: int
    stream: str
    owner: str
    queued_fragments: int
    queued_bytes: int
    max_queued_bytes: int
    """The most it ever held (what a slow viewer cost)."""
    sent_fragments: int
    sent_bytes: int
    inits: int
    gops_skipped: int
    fragments_dropped: int
    delay_ms: float | None
    """From the frame reaching the muxer to its fragment written to the socket, for the
    last fragment sent."""


@dataclass(frozen=True, slots=True)
class SourceStats:
    channel: int
    stream: str
    viewers: int
    online: bool
    codec: str | None
    width: int | None
    height: int | None
    sessions: int
    fragments: int
    bytes: int
    gop_fragments: int
    errors: int
    retimed: int
    """Steps between frames replaced by one frame (timestamp jumps, stalls, the
    recorder's rebasing at its segment cuts: see ``nvrd/playback/live_muxer.py``)."""


class Viewer:
    """One live view's queue (loop-only); see the module doc for the policy."""

    def __init__(self, channel: int, stream: str, owner: str, *,
                 max_bytes: int = VIEWER_MAX_BYTES,
                 max_wait_s: float = VIEWER_MAX_WAIT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.channel, self.stream, self.owner = channel, stream, owner
        self._clock = clock
        self.max_bytes, self.max_wait_s = max_bytes, max_wait_s
        self._queue: deque[tuple[Item, float]] = deque()
        self._queued_bytes = 0
        self._max_queued_bytes = 0
        self._skipping = True  # nothing to show before an init and a key frame
        self._wake = asyncio.Event()
        self._closed: ViewerClosed | None = None
        self.sent_fragments = self.sent_bytes = self.inits = 0
        self.gops_skipped = self.fragments_dropped = 0
        self._delay_ms: float | None = None

    # --- fed by the source -------------------------------------------------------------

    def start(self, init: LiveInit, gop: list[LiveFragment]) -> None:
        """A session (re)starts for this viewer: init, then the GOP so far."""
        self._clear()
        now = self._clock()
        self._put(init, now)
        for fragment in gop:
            self._put(fragment, now)
        self._skipping = not gop

    def offer(self, fragment: LiveFragment) -> None:
        if self._closed is not None:
            return
        now = self._clock()
        if not self._skipping and self._behind(fragment, now):
            self._skip()
        if self._skipping:
            if not fragment.keyframe:
                self.fragments_dropped += 1
                return
            self._skipping = False
        self._put(fragment, now)

    def offline(self, item: Offline) -> None:
        self._clear()
        self._put(item, self._clock())
        self._skipping = True

    def close(self, reason: str, message: str) -> None:
        if self._closed is None:
            self._closed = ViewerClosed(reason, message)
            self._clear()
            self._wake.set()

    # --- read by the connection --------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed is not None

    async def next(self, timeout: float | None = None) -> Item | None:
        """The next item to send; None when ``timeout`` passed first. Raises
        ``ViewerClosed`` once the viewer was closed."""
        if self._closed is None and not self._queue:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
        if self._closed is not None:
            raise self._closed
        if not self._queue:
            return None
        item, _queued = self._queue.popleft()
        if not isinstance(item, Offline):
            self._queued_bytes -= len(item.data)
        return item

    def sent(self, item: Item) -> None:
        """``item`` was written to the connection."""
        if isinstance(item, LiveFragment):
            self.sent_fragments += 1
            self.sent_bytes += len(item.data)
            self._delay_ms = (time.monotonic_ns() - item.received_ns) / 1e6
        elif isinstance(item, LiveInit):
            self.inits += 1
            self.sent_bytes += len(item.data)

    def stats(self) -> ViewerStats:
        fragments = sum(1 for item, _ in self._queue if isinstance(item, LiveFragment))
        return ViewerStats(self.channel, self.stream, self.owner, fragments,
                           self._queued_bytes, self._max_queued_bytes, self.sent_fragments,
                           self.sent_bytes, self.inits, self.gops_skipped,
                           self.fragments_dropped, self._delay_ms)

    # --- the queue ---------------------------------------------------------------------

    def _put(self, item: Item, now: float) -> None:
        self._queue.append((item, now))
        if not isinstance(item, Offline):
            self._queued_bytes += len(item.data)
            self._max_queued_bytes = max(self._max_queued_bytes, self._queued_bytes)
        self._wake.set()

    def _behind(self, fragment: LiveFragment, now: float) -> bool:
        if self._queued_bytes + len(fragment.data) > self.max_bytes:
            return True
        oldest = next((queued for item, queued in self._queue
                       if isinstance(item, LiveFragment)), None)
        return oldest is not None and now - oldest >= self.max_wait_s

    def _skip(self) -> None:
        """Drop the queued fragments (not an init or offline notice not yet sent) and
        wait for the next key frame."""
        kept: deque[tuple[Item, float]] = deque()
        for entry in self._queue:
            item = entry[0]
            if isinstance(item, LiveFragment):
                self.fragments_dropped += 1
                self._queued_bytes -= len(item.data)
            else:
                kept.append(entry)
        self._queue = kept
        self._skipping = True
        self.gops_skipped += 1
        logger.debug("channel %d %s: a live viewer of %s fell behind; skipping to the "
                     "next key frame", self.channel, self.stream, self.owner)

    def _clear(self) -> None:
        self._queue.clear()
        self._queued_bytes = 0


class LiveSource:
    """One stream's live fMP4: a tap on its reader and the fan-out to its viewers.

    ``PacketSink`` methods: reader thread only. ``_on_*``, ``add``, ``remove``, ``stats``:
    loop only.
    """

    def __init__(self, channel: int, stream: str, loop: asyncio.AbstractEventLoop,
                 offline: str | None = None) -> None:
        self.channel, self.stream = channel, stream
        self._loop = loop
        self._log = logger.getChild(f"ch{channel}-{stream}")
        # reader thread
        self._video: av.video.stream.VideoStream | None = None
        self._muxer: LiveMuxer | None = None
        self._failed = False
        self._retimed_before = 0  # by the session's earlier muxers
        # loop
        self.viewers: set[Viewer] = set()
        self.init: LiveInit | None = None
        self.offline: Offline | None = Offline(offline) if offline else None
        self._gop: list[LiveFragment] = []
        self._gop_bytes = 0
        self._gop_complete = False
        self.sessions = self.fragments = self.bytes = self.errors = 0

    # --- reader thread (PacketSink) ----------------------------------------------------

    def on_session_start(self, video: av.video.stream.VideoStream,
                         audio: av.audio.stream.AudioStream | None) -> None:
        self._close_muxer()
        self._video, self._failed = video, False

    def on_packet(self, packet: av.Packet) -> None:
        video = self._video
        # the stream's type, not its index: the recorder, which sees the packet first,
        # may have pointed it at its own muxer's stream
        if video is None or packet.stream.type != "video":
            return
        muxer = self._muxer
        if muxer is None:
            if not packet.is_keyframe:
                return
            try:
                muxer = self._muxer = LiveMuxer(video)
            except LiveMuxerError as exc:
                self._fail(exc)
                return
        announced = muxer.init is not None
        try:
            fragments = muxer.write(packet)
        except LiveMuxerError as exc:
            self._fail(exc)
            return
        if not announced and muxer.init is not None:
            self._post(muxer.init)
        for fragment in fragments:
            self._post(fragment)

    def on_session_end(self, reason: str) -> None:
        self._close_muxer()
        self._video = None
        self._post(Offline(f"the camera's stream is down ({reason}); live view goes on "
                           "when it is back"))

    def _fail(self, exc: LiveMuxerError) -> None:
        """Drop the muxer; a new one (with a new init) starts at the next key frame."""
        self._close_muxer()
        if not self._failed:  # once per session: a stream may fail at every key frame
            self._log.warning("live view: %s", exc)
        self._failed = True
        self._post(exc)

    def _close_muxer(self) -> None:
        muxer, self._muxer = self._muxer, None
        if muxer is not None:
            muxer.close()
            self._retimed_before += muxer.clock.jumps

    @property
    def retimed(self) -> int:
        """Read anywhere (ints under the GIL): a count, not a state."""
        muxer = self._muxer
        return self._retimed_before + (muxer.clock.jumps if muxer is not None else 0)

    def _post(self, item: Item | LiveMuxerError) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody watches
            self._loop.call_soon_threadsafe(self._on_item, item)

    # --- loop ----------------------------------------------------------------------------

    def _on_item(self, item: Item | LiveMuxerError) -> None:
        if isinstance(item, LiveFragment):
            self._on_fragment(item)
        elif isinstance(item, LiveInit):
            self.sessions += 1
            self.init, self.offline = item, None
            self._reset_gop()
            for viewer in self.viewers:
                viewer.start(item, [])
        elif isinstance(item, Offline):
            self._to_offline(item)
        else:
            self.errors += 1
            self._to_offline(Offline(f"live view failed: {item}; it starts again at the "
                                     "next key frame"))

    def _on_fragment(self, fragment: LiveFragment) -> None:
        self.fragments += 1
        self.bytes += len(fragment.data)
        if fragment.keyframe:
            self._reset_gop()
            self._gop_complete = True
        if self._gop_complete:
            if self._gop_bytes + len(fragment.data) > GOP_CACHE_MAX_BYTES:
                self._reset_gop()  # too long a GOP to keep: new viewers wait for a key
            else:
                self._gop.append(fragment)
                self._gop_bytes += len(fragment.data)
        for viewer in self.viewers:
            viewer.offer(fragment)

    def _to_offline(self, item: Offline) -> None:
        if self.init is None and self.offline == item:
            return
        self.init, self.offline = None, item
        self._reset_gop()
        for viewer in self.viewers:
            viewer.offline(item)

    def _reset_gop(self) -> None:
        self._gop, self._gop_bytes, self._gop_complete = [], 0, False

    def add(self, viewer: Viewer) -> None:
        self.viewers.add(viewer)
        if self.init is not None:
            viewer.start(self.init, list(self._gop))
        elif self.offline is not None:
            viewer.offline(self.offline)

    def remove(self, viewer: Viewer) -> None:
        self.viewers.discard(viewer)

    def stats(self) -> SourceStats:
        init = self.init
        return SourceStats(self.channel, self.stream, len(self.viewers), init is not None,
                           init.codec if init else None, init.width if init else None,
                           init.height if init else None, self.sessions, self.fragments,
                           self.bytes, len(self._gop), self.errors, self.retimed)


class LiveVideoService(Service):
    """Who watches what live; see the module doc."""

    name = "live-video"

    def __init__(self, config: NvrConfig, ingest: IngestService, *,
                 max_per_owner: int = DEFAULT_MAX_PER_OWNER,
                 max_total: int = DEFAULT_MAX_TOTAL,
                 linger_s: float = DEFAULT_LINGER_S) -> None:
        super().__init__()
        self._config = config
        self._ingest = ingest
        self.max_per_owner = max_per_owner
        self.max_total = max_total
        self.linger_s = linger_s
        self._sources: dict[tuple[int, str], LiveSource] = {}
        self._viewers: set[Viewer] = set()
        self._lingering: dict[tuple[int, str], asyncio.TimerHandle] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # registered now, before the first reader runs, so a viewer coming later never
        # swaps a recording reader's sink (see IngestService.add_tap)
        self._ingest.add_tap(self._tap)

    async def stop(self) -> None:
        if self._loop is None:
            return
        for viewer in list(self._viewers):
            viewer.close("shutdown", "the recorder is stopping")
        for handle in self._lingering.values():
            handle.cancel()
        self._lingering.clear()
        self._sources.clear()
        self._ingest.remove_tap(self._tap)
        self._loop = None

    async def apply_config(self, config: NvrConfig) -> None:
        self._config = config
        for viewer in list(self._viewers):
            problem = self._problem(viewer.channel, viewer.stream)
            if problem is not None:
                viewer.close("camera_gone", problem.message)

    def health(self) -> Health:
        return Health(True)

    # --- viewers -------------------------------------------------------------------------

    def check(self, channel: int, stream: str, owner: str) -> None:
        """Raise ``LiveVideoError`` if ``owner`` could not watch now (nothing changes)."""
        problem = self._problem(channel, stream) or self._over_limit(owner)
        if problem is not None:
            raise problem

    def watch(self, channel: int, stream: str, owner: str) -> Viewer:
        """A new viewer of ``channel``'s ``stream`` ("main" or "sub") for ``owner``; end
        it with ``unwatch``. Raises ``LiveVideoError``."""
        loop = self._loop
        if loop is None:
            raise LiveVideoError(503, "not_running", "live view is not running (the "
                                 "recorder is starting or stopping)")
        self.check(channel, stream, owner)
        key = (channel, stream)
        lingering = self._lingering.pop(key, None)
        if lingering is not None:
            lingering.cancel()
        source = self._sources.get(key)
        if source is None:
            source = self._sources[key] = LiveSource(channel, stream, loop,
                                                     self._known_offline(channel, stream))
            self._ingest.refresh_sinks()
        viewer = Viewer(channel, stream, owner)
        self._viewers.add(viewer)
        source.add(viewer)
        logger.info("channel %d %s: live view opened for %s (%d watching)", channel,
                    stream, owner, len(source.viewers))
        return viewer

    def unwatch(self, viewer: Viewer) -> None:
        """End ``viewer``; the last viewer of a stream lets its source go after
        ``linger_s``."""
        if viewer not in self._viewers:
            return
        self._viewers.discard(viewer)
        viewer.close("closed", "the live view was closed")
        key = (viewer.channel, viewer.stream)
        source = self._sources.get(key)
        if source is None:
            return
        source.remove(viewer)
        stats = viewer.stats()
        logger.info("channel %d %s: live view closed for %s (%d fragments sent, %d GOPs "
                    "skipped)", viewer.channel, viewer.stream, viewer.owner,
                    stats.sent_fragments, stats.gops_skipped)
        if source.viewers or self._loop is None:
            return
        if self.linger_s <= 0:
            self._release(key)
        else:
            self._lingering[key] = self._loop.call_later(self.linger_s, self._release, key)

    def viewers(self) -> list[ViewerStats]:
        return [viewer.stats() for viewer in self._viewers]

    def sources(self) -> list[SourceStats]:
        """The streams tapped now (watched, or lingering)."""
        return [source.stats() for source in self._sources.values()]

    # --- plumbing ------------------------------------------------------------------------

    def _tap(self, channel: int, stream: str) -> PacketSink | None:
        return self._sources.get((channel, stream))

    def _release(self, key: tuple[int, str]) -> None:
        self._lingering.pop(key, None)
        source = self._sources.get(key)
        if source is not None and not source.viewers:
            del self._sources[key]
            self._ingest.refresh_sinks()  # the reader ends the tap's session

    def _problem(self, channel: int, stream: str) -> LiveVideoError | None:
        camera = self._config.camera(channel)
        if camera is None:
            return LiveVideoError(404, "no_camera", f"channel {channel}: there is no camera "
                                  "on this channel")
        if not camera.enabled:
            return LiveVideoError(409, "camera_disabled",
                                  f"channel {channel}: the camera is disabled")
        if stream not in STREAMS or (camera.main if stream == "main" else camera.sub) is None:
            return LiveVideoError(404, "no_stream", f"channel {channel}: the camera has no "
                                  f"{stream} stream configured")
        return None

    def _over_limit(self, owner: str) -> LiveVideoError | None:
        if sum(1 for viewer in self._viewers if viewer.owner == owner) >= self.max_per_owner:
            return LiveVideoError(429, "too_many_live_views",
                                  f"{owner} has {self.max_per_owner} live views open "
                                  "already, the most one user may; close one first")
        if len(self._viewers) >= self.max_total:
            return LiveVideoError(503, "too_many_live_views",
                                  f"the recorder serves {self.max_total} live views "
                                  "already, the most it can; try again later")
        return None

    def _known_offline(self, channel: int, stream: str) -> str | None:
        """Why the stream is down if the ingest knows it is (else None: connecting)."""
        for status in self._ingest.snapshot():
            if status.channel == channel:
                stream_status = status.streams.get(stream)
                if stream_status is not None and not stream_status.online \
                        and stream_status.last_error:
                    return (f"the camera's stream is down ({stream_status.last_error}); "
                            "live view goes on when it is back")
        return None
