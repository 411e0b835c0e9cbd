"""Holds a camera's RTSP stream open and reports its status.

One named thread per stream (``ingest-ch3-main``) blocks in PyAV's demuxer; nothing is
decoded. The daemon owns liveness instead of trusting the camera: an open that hangs
ends at ``open_timeout`` (PyAV's interrupt callback, during the open only), and a
stream without packets for ``stall_timeout`` is ended by the stall watchdog (one
thread for all readers, ``check_stall``), which shuts the connection's socket down
(``rtsp_socket`` says why not PyAV's read timeout). Reconnection backs off from
``backoff_initial`` to ``backoff_max``, starting over after a connection that
delivered video.

Packets go to the stream's ``PacketSink`` (the recorder's segmenter), called in the
reader thread for every packet; the sink is looked up per packet, so the recorder can be
attached, swapped or detached while the connection stays up.

Threads: the reader thread owns the container and the counters. It hands a
``StreamStatus`` snapshot to the loop with ``call_soon_threadsafe`` on every state change
and once a second while online; ``on_status`` therefore always runs on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Protocol

import av
import av.audio.stream
import av.container
import av.stream
import av.video.stream

from nvrd.record import rtsp_socket
from nvrd.record.rtsp_errors import describe_stream_error
from nvrd.system.logs import redact_url

logger = logging.getLogger(__name__)

# How often an online stream reports its counters to the loop (seconds).
STATUS_INTERVAL_SECONDS = 1.0


class PacketSink(Protocol):
    """Receives a stream's packets in its reader thread (``StreamSegmenter``).

    One packet object goes to every sink of a stream (``FanOutSink``), so a sink must
    leave it as it found it (timestamps, time base, stream) and must not block."""

    def on_session_start(self, video: av.video.stream.VideoStream,
                         audio: av.audio.stream.AudioStream | None) -> None: ...

    def on_packet(self, packet: av.Packet) -> None: ...

    def on_session_end(self, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class IngestSettings:
    transport: str = "tcp"
    open_timeout_s: float = 10.0
    stall_timeout_s: float = 10.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """What an installer wants to know about one camera stream."""

    online: bool = False
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    """Video packets per second, measured over the last status interval."""
    bitrate_kbps: float | None = None
    """Measured over the last status interval, audio included."""
    audio_codec: str | None = None
    last_error: str | None = None
    reconnects: int = 0
    packets: int = 0
    online_since_us: int | None = None
    next_retry_s: float | None = None


STALL_CHECK_INTERVAL_S = 0.25
CLAIM_POLL_INTERVAL_S = 0.05


class _StallWatchdog:
    """One thread that asks every running reader, four times a second, whether its
    connection went silent (readers block in FFmpeg without a read timeout), and finds
    the sockets of connections being established (``rtsp_socket.Claim``)."""

    def __init__(self) -> None:
        self._readers: set[StreamReader] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, reader: StreamReader) -> None:
        with self._lock:
            self._readers.add(reader)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ingest-watchdog",
                                                daemon=True)
                self._thread.start()

    def remove(self, reader: StreamReader) -> None:
        with self._lock:
            self._readers.discard(reader)

    def _run(self) -> None:
        rounds = 0
        while True:
            time.sleep(CLAIM_POLL_INTERVAL_S)
            rounds += 1
            check_stalls = rounds % round(STALL_CHECK_INTERVAL_S / CLAIM_POLL_INTERVAL_S) == 0
            with self._lock:
                readers = list(self._readers)
            for reader in readers:
                try:
                    claim = reader._claim
                    if claim is not None:
                        claim.poll()  # release the endpoint once its socket is known
                    if check_stalls:
                        reader.check_stall()
                except Exception:
                    logger.exception("stall watchdog")


_watchdog = _StallWatchdog()


class StreamReader:
    """One camera stream's connection; see the module docstring for the threading rules."""

    def __init__(
        self,
        label: str,
        url: str,
        settings: IngestSettings,
        on_status: Callable[[StreamStatus], None],
        sink: PacketSink | None = None,
    ) -> None:
        self.label = label
        self.sink = sink
        """Replaced from the loop; the reader thread re-reads it for every packet."""
        self.url = url
        self.settings = settings
        self._on_status = on_status
        self._quit = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._status = StreamStatus()
        self._lock = asyncio.Lock()
        self._last_packet: float | None = None  # monotonic time; reader thread only
        self._session_video_packets = 0
        self._attached: PacketSink | None = None  # reader thread only
        self._handle: rtsp_socket.SocketHandle | None = None
        self._handle_lock = threading.Lock()
        self._stalled_for: float | None = None
        self._claim: rtsp_socket.Claim | None = None
        self._log = logger.getChild(label)

    @property
    def _read_timeout_s(self) -> float:
        """PyAV's read timeout, half the stall limit: when it first expires FFmpeg hands
        out the frame its parser still held (measured: a silent stream yields one packet
        after the timeout, then fails after the second), so a stall is detected at
        ``stall_timeout_s`` while shorter pauses survive."""
        return self.settings.stall_timeout_s / 2

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name=f"ingest-{self.label}", daemon=True)
        _watchdog.add(self)
        self._thread.start()

    async def stop(self) -> None:
        """Ask the thread to quit and wait for it off the loop: the connection's socket is
        shut down (a reader on PyAV's read timeout returns within half the stall limit)."""
        async with self._lock:
            self._quit.set()
            with self._handle_lock:  # a blocked read returns end-of-stream at once
                handle, self._handle = self._handle, None
                if handle is not None:
                    handle.shutdown()
            thread, self._thread = self._thread, None
            if thread is not None:
                await asyncio.to_thread(thread.join)
            _watchdog.remove(self)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- reader thread -------------------------------------------------------------

    def _run(self) -> None:
        delay = self.settings.backoff_initial_s
        while not self._quit.is_set():
            try:
                delivered = self._session()
            except Exception as exc:  # a bug met on one camera's data must not end ingest
                self._log.exception("unexpected error in the stream reader")
                self._status = replace(self._status, last_error=f"internal error: {exc!r}")
                delivered = False
            if self._quit.is_set():
                break
            if delivered:
                delay = self.settings.backoff_initial_s
            self._status = replace(
                self._status, online=False, fps=None, bitrate_kbps=None, online_since_us=None,
                reconnects=self._status.reconnects + 1, next_retry_s=delay,
            )
            self._log.warning("offline: %s; retrying in %g s", self._status.last_error, delay)
            self._publish()
            self._quit.wait(delay)
            delay = min(delay * 2, self.settings.backoff_max_s)
        self._status = replace(self._status, online=False, fps=None, bitrate_kbps=None,
                               online_since_us=None, next_retry_s=None)
        self._publish()

    def _session(self) -> bool:
        """One connection: open, read until it fails or we are told to quit. Returns
        whether video packets arrived (a healthy connection resets the backoff)."""
        settings = self.settings
        self._last_packet = None
        self._session_video_packets = 0
        self._log.debug("connecting to %s over %s", redact_url(self.url), settings.transport)
        self._stalled_for = None
        try:
            container = self._open()
            self._last_packet = time.monotonic()
            try:
                self._read(container)
            finally:
                with self._handle_lock:  # never while the watchdog shuts the socket down
                    self._handle = None
                    container.close()
        except (av.error.FFmpegError, OSError, EOFError) as exc:
            idle = None if self._last_packet is None else time.monotonic() - self._last_packet
            self._status = replace(self._status, last_error=describe_stream_error(
                exc, open_timeout_s=settings.open_timeout_s,
                stall_timeout_s=settings.stall_timeout_s, idle_s=idle))
        finally:
            self._detach(self._status.last_error or "disconnected")
        return self._session_video_packets > 0

    def _open(self) -> av.container.InputContainer:
        """Connect. Over TCP without PyAV's read timeout (see ``rtsp_socket``): the
        watchdog ends a stall by shutting the connection's socket down. When the socket
        cannot be told apart (or over UDP), PyAV's read timeout does it instead."""
        settings = self.settings
        options = {"rtsp_transport": settings.transport}
        with_read_timeout = (settings.open_timeout_s, self._read_timeout_s)
        if settings.transport != "tcp":
            return av.open(self.url, options=options, timeout=with_read_timeout)
        endpoint = rtsp_socket.endpoint_of(self.url)
        remotes = rtsp_socket.resolve(endpoint)
        if not remotes:
            return av.open(self.url, options=options, timeout=with_read_timeout)
        lock = rtsp_socket.endpoint_lock(endpoint)
        while not lock.acquire(timeout=STALL_CHECK_INTERVAL_S):
            if self._quit.is_set():
                raise EOFError("stopping")
        claim = self._claim = rtsp_socket.Claim(lock, remotes)
        try:
            container = av.open(self.url, options=options,
                                timeout=(settings.open_timeout_s, None))
        except BaseException:
            claim.abandon()
            raise
        finally:
            self._claim = None
        handle = claim.finish()
        if handle is None:
            container.close()
            self._log.info("cannot find this stream's socket; using PyAV's read timeout")
            return av.open(self.url, options=options, timeout=with_read_timeout)
        with self._handle_lock:
            self._handle = handle
        return container

    @property
    def socket_watched(self) -> bool:
        """The current connection's socket is known: a stall ends it without PyAV's
        costly read timeout."""
        return self._handle is not None

    def check_stall(self) -> None:
        """Watchdog (any thread): end a connection silent for ``stall_timeout``."""
        last = self._last_packet
        if last is None:
            return
        idle = time.monotonic() - last
        if idle < self.settings.stall_timeout_s:
            return
        with self._handle_lock:
            handle, self._handle = self._handle, None
            if handle is not None:
                self._stalled_for = idle
                handle.shutdown()

    def _read(self, container: av.container.InputContainer) -> None:
        if not container.streams.video:
            self._status = replace(self._status, last_error="the stream has no video track")
            return
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        self._status = replace(
            self._status, online=True, codec=video.codec_context.name,
            width=video.codec_context.width or None, height=video.codec_context.height or None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            fps=_nominal_fps(video.average_rate), bitrate_kbps=None, last_error=None,
            online_since_us=time.time_ns() // 1000, next_retry_s=None,
        )
        self._log.info("online: %s %sx%s%s", self._status.codec, self._status.width,
                       self._status.height,
                       f" + {self._status.audio_codec}" if audio is not None else "")
        self._publish()
        streams: list[av.stream.Stream] = [video] if audio is None else [video, audio]
        self._demux(container, streams, video, audio, self._attach(video, audio))

    def _attach(self, video: av.video.stream.VideoStream,
                audio: av.audio.stream.AudioStream | None) -> PacketSink | None:
        """Follow ``self.sink``: end the session on the old sink, start it on the new."""
        wanted = self.sink
        if wanted is not self._attached:
            self._detach("recording detached")
            if wanted is not None:
                wanted.on_session_start(video, audio)
            self._attached = wanted
        return wanted

    def _detach(self, reason: str) -> None:
        sink, self._attached = self._attached, None
        if sink is not None:
            sink.on_session_end(reason)

    def _demux(self, container: av.container.InputContainer, streams: list[av.stream.Stream],
               video: av.video.stream.VideoStream, audio: av.audio.stream.AudioStream | None,
               sink: PacketSink | None) -> None:
        window_video = window_bytes = 0
        window_start = last_video = time.monotonic()
        measuring = False
        stall_s = self.settings.stall_timeout_s
        held_after_s = self._read_timeout_s
        for packet in container.demux(streams):
            if self._quit.is_set():
                self._status = replace(self._status, last_error="stopping")
                return
            if packet.size == 0:  # a demuxer flush packet: the stream ended
                continue
            window_bytes += packet.size
            now = time.monotonic()
            if self._last_packet is None or now - self._last_packet < 0.9 * held_after_s:
                # a packet after a full read timeout is the parser's held frame, not the
                # stream coming back: the silence goes on (see _read_timeout_s)
                self._last_packet = now
            if packet.stream.index == video.index:
                self._session_video_packets += 1
                window_video += 1
                last_video = now
            elif now - last_video > stall_s:
                # the demuxer's timeout only sees packets; audio alone is not a camera
                self._status = replace(self._status, last_error=(
                    f"the camera sends audio but no video for {now - last_video:.0f} s"))
                return
            if self.sink is not sink:
                sink = self._attach(video, audio)
            if sink is not None:
                sink.on_packet(packet)
            if now - window_start >= STATUS_INTERVAL_SECONDS:
                elapsed = now - window_start
                self._status = replace(self._status,
                                       packets=self._status.packets + window_video)
                if measuring:
                    self._status = replace(
                        self._status, fps=round(window_video / elapsed, 2),
                        bitrate_kbps=round(window_bytes * 8 / elapsed / 1000, 1))
                # the first window holds the burst buffered while the stream was probed
                measuring = True
                self._publish()
                window_start, window_video, window_bytes = now, 0, 0
        stalled = self._stalled_for
        self._status = replace(self._status, last_error=(
            f"no video from the camera for {stalled:.0f} s" if stalled is not None
            else "the camera ended the stream"))

    def _publish(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            # the loop may close between the check and the call
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._on_status, self._status)


def _nominal_fps(rate: Fraction | None) -> float | None:
    return round(float(rate), 2) if rate else None
