"""The virtual cameras' RTSP server: gst-rtsp-server replaying pre-encoded clips.

Runs on the *system* python (``/usr/bin/python3 -m tools.fakecam.server``, stdlib and gi
only), because GStreamer's Python bindings come from Debian packages and must not be mixed
into the venv. ``control.FakeCamServer`` starts it; nothing else should.

Per mount (``/<camera>/<stream>``) there is one shared media factory, so every client of a
stream is served by the same pipeline::

    appsrc name=video ! h264parse|h265parse config-interval=-1 ! rtph264pay|rtph265pay name=pay0
    appsrc name=audio ! rtpmp4gpay name=pay1                           (if the stream has audio)

One pacer thread pushes the clips' packets into every live appsrc at their due time, looping
the clip with timestamps that keep increasing, so a stream costs no encoding at all.

Faults (driven over the control socket, applied on the GLib main loop):

- stop: the mounts are removed (new clients get 404) and the clients playing them are
  disconnected; restart mounts fresh factories (a new pipeline, timestamps from zero).
- stall: the pacer drops the stream's packets while its timeline keeps running; the RTSP
  session stays up. Resuming sends the next due packet (mid-GOP), as after a network stall.
- jump: an offset added to the stream's buffer timestamps; RTP timestamps follow, while
  RTCP sender reports keep mapping real time, so the client sees a lasting discontinuity.

Readiness: once the RTSP port and the control socket are bound, one JSON line
``{"ready": true, "port": N}`` goes to stdout; nothing else is written there. The server
exits on SIGINT/SIGTERM or when its stdin reaches end-of-file (its parent went away).

Threads: the GLib main loop owns the RTSP server, mounts and sessions; the pacer thread
owns the push schedule; control-socket threads only hand requests to the main loop. Feed
state shared between them is guarded by the pacer's lock.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import itertools
import json
import logging
import os
import signal
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstBase", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstApp, GstBase, GstRtspServer  # noqa: E402

from tools.fakecam.packetfile import ClipHeader, read_clip  # noqa: E402

log = logging.getLogger("fakecam.server")

# Buffer timestamps start an hour in, so a backward jump never needs a negative timestamp.
BASE_PTS_NS = 3600 * Gst.SECOND
PUSH_LEAD_NS = 2_000_000  # push a packet up to 2 ms early rather than sleep for that
MAIN_LOOP_CALL_TIMEOUT_S = 10.0
APPSRC_MAX_BYTES = 4 << 20
# RTCP sender reports about every second (GStreamer's default is 5 s): clients with audio map
# timestamps through them, and tests should not wait long for that mapping to settle.
RTCP_INTERVAL_NS = Gst.SECOND
_PAYLOADERS = {"h264": ("h264parse", "rtph264pay"), "h265": ("h265parse", "rtph265pay")}
_CAPS = {"h264": "video/x-h264", "h265": "video/x-h265"}


class ControlError(Exception):
    """A request the server refuses (unknown camera, bad argument); sent back as text."""


@dataclass(frozen=True, slots=True)
class Clip:
    """A clip in memory: payloads wrapped once in GLib.Bytes so pushing never copies."""

    header: ClipHeader
    packets: tuple[tuple[int, int, bool, GLib.Bytes], ...]


def load_clip(path: Path) -> Clip:
    header, packets = read_clip(path)
    return Clip(header, tuple((p.pts_ns, p.duration_ns, p.keyframe, GLib.Bytes.new(p.data))
                              for p in packets))


class Track:
    """One appsrc fed from one looped clip. Guarded by the pacer lock."""

    def __init__(self, feed: Feed, name: str, clip: Clip) -> None:
        self.feed, self.name, self.clip = feed, name, clip
        self.src: GstApp.AppSrc | None = None
        self.generation = 0  # bumped on attach/detach; stale schedule entries are dropped
        self.t0_ns = self.index = self.loop = 0
        self.pushed = 0

    def attach(self, src: GstApp.AppSrc, t0_ns: int) -> None:
        self.src, self.t0_ns, self.index, self.loop = src, t0_ns, 0, 0
        self.generation += 1

    def detach(self) -> None:
        self.src = None
        self.generation += 1

    def due_ns(self) -> int:
        """Monotonic time at which the current packet is due."""
        return self.t0_ns + self._timeline_ns()

    def push_current(self, now_ns: int) -> None:
        """Push the current packet (unless the stream is stalled) and move to the next."""
        if self.src is not None and not self.feed.stalled(now_ns):
            pts = BASE_PTS_NS + self._timeline_ns() + self.feed.offset_ns
            _, duration, keyframe, data = self.clip.packets[self.index]
            buf = Gst.Buffer.new_wrapped_bytes(data)
            buf.pts = buf.dts = pts
            buf.duration = duration
            if not keyframe:
                buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
            self.src.push_buffer(buf)
            self.pushed += 1
        self.index += 1
        if self.index == len(self.clip.packets):
            self.index, self.loop = 0, self.loop + 1

    def _timeline_ns(self) -> int:
        return self.loop * self.clip.header.duration_ns + self.clip.packets[self.index][0]


class Pacer(threading.Thread):
    """Pushes every attached track's packets at their due time (one thread for all)."""

    def __init__(self) -> None:
        super().__init__(name="fakecam-pacer", daemon=True)
        self.lock = threading.RLock()
        self._wake = threading.Event()
        self._heap: list[tuple[int, int, Track, int]] = []
        self._seq = itertools.count()
        self._stopping = False

    def schedule(self, track: Track) -> None:
        """Call with the lock held, after ``track.attach``."""
        heapq.heappush(self._heap, (track.due_ns(), next(self._seq), track, track.generation))
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def run(self) -> None:
        while not self._stopping:
            with self.lock:
                timeout = self._push_due(time.monotonic_ns())
            self._wake.wait(timeout)
            self._wake.clear()

    def _push_due(self, now_ns: int) -> float | None:
        """Push what is due; return seconds until the next packet (None: nothing queued)."""
        heap = self._heap
        while heap and heap[0][0] <= now_ns + PUSH_LEAD_NS:
            _, _, track, generation = heapq.heappop(heap)
            if generation != track.generation:
                continue  # detached or re-attached since it was scheduled
            track.push_current(now_ns)
            heapq.heappush(heap, (track.due_ns(), next(self._seq), track, generation))
        return (heap[0][0] - now_ns) / 1e9 if heap else None


class Feed:
    """One stream of one camera, served at ``/<camera>/<stream>``; holds its faults."""

    def __init__(self, camera: str, stream: str, clips: dict[str, Clip], pacer: Pacer) -> None:
        self.camera, self.stream = camera, stream
        self.path = f"/{camera}/{stream}"
        self.pacer = pacer
        self.tracks = {kind: Track(self, kind, clip) for kind, clip in clips.items()}
        self.media: GstRtspServer.RTSPMedia | None = None
        self.mounted = False
        self.pipelines_created = 0
        self.offset_ns = 0
        self._stall_until_ns: int | None = None  # -1: until resumed

    # -- faults (any thread; the pacer reads them under its lock) --

    def stalled(self, now_ns: int) -> bool:
        until = self._stall_until_ns
        return until is not None and (until < 0 or now_ns < until)

    def stall(self, seconds: float | None) -> None:
        with self.pacer.lock:
            self._stall_until_ns = -1 if seconds is None else (
                time.monotonic_ns() + int(seconds * 1e9))

    def resume(self) -> None:
        with self.pacer.lock:
            self._stall_until_ns = None

    def jump(self, seconds: float) -> None:
        offset = self.offset_ns + int(seconds * 1e9)
        if BASE_PTS_NS + offset < 0:
            raise ControlError(f"a total jump of {offset / 1e9:.1f} s would make timestamps "
                               f"negative (limit -{BASE_PTS_NS / 1e9:.0f} s)")
        with self.pacer.lock:
            self.offset_ns = offset

    def reset_faults(self) -> None:
        with self.pacer.lock:
            self._stall_until_ns = None
            self.offset_ns = 0

    # -- media lifecycle --

    def make_factory(self) -> GstRtspServer.RTSPMediaFactory:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_shared(True)  # one pipeline per mount, however many clients
        factory.set_launch(f"( {self._launch_line()} )")
        factory.connect("media-configure", self._on_media_configure)
        return factory

    def _launch_line(self) -> str:
        video = self.tracks["video"].clip.header
        parse, pay = _PAYLOADERS[video.codec]
        caps = (f"{_CAPS[video.codec]},stream-format=byte-stream,alignment=au,"
                f"width={video.width},height={video.height},framerate={video.fps}/1")
        line = (f"{_appsrc('video', caps)} ! {parse} config-interval=-1 "
                f"! {pay} name=pay0 pt=96")
        if "audio" in self.tracks:
            audio = self.tracks["audio"].clip.header
            caps = (f"audio/mpeg,mpegversion=4,stream-format=raw,rate={audio.sample_rate},"
                    f"channels={audio.channels},codec_data=(buffer){audio.codec_data}")
            line += f" {_appsrc('audio', caps)} ! rtpmp4gpay name=pay1 pt=97"
        return line

    def _on_media_configure(self, _factory: GstRtspServer.RTSPMediaFactory,
                            media: GstRtspServer.RTSPMedia) -> None:
        element = media.get_element()
        pipeline = element.get_parent()
        pipeline.connect("deep-element-added", _on_element_added)
        media.connect("unprepared", self._on_unprepared)
        now = time.monotonic_ns()
        with self.pacer.lock:
            self.media = media
            self.pipelines_created += 1
            for kind, track in self.tracks.items():
                track.attach(element.get_by_name(kind), now)
                self.pacer.schedule(track)
        log.info("%s: new pipeline", self.path)

    def _on_unprepared(self, media: GstRtspServer.RTSPMedia) -> None:
        with self.pacer.lock:
            if media is self.media:
                self.detach()
        log.info("%s: pipeline gone", self.path)

    def detach(self) -> None:
        with self.pacer.lock:
            self.media = None
            for track in self.tracks.values():
                track.detach()


def _appsrc(name: str, caps: str) -> str:
    return (f"appsrc name={name} is-live=true format=time do-timestamp=false "
            f"max-bytes={APPSRC_MAX_BYTES} leaky-type=downstream caps={caps}")


def _on_element_added(_bin: Gst.Bin, _sub: Gst.Bin, element: Gst.Element) -> None:
    """Tune the elements gst-rtsp-server adds to a media's pipeline.

    Its sinks must not sync to the clock: it sets the TCP appsink's ``sync`` from "rate
    control" at every PLAY, but the pacer already delivers in real time, and a syncing sink
    would hold a forward timestamp jump for its whole length (a stall, not a jump).
    """
    factory = element.get_factory()
    if factory is not None and factory.get_name() == "rtpsession":
        element.set_property("rtcp-min-interval", RTCP_INTERVAL_NS)
    elif isinstance(element, GstBase.BaseSink):
        element.set_property("sync", False)
        element.connect("notify::sync", _keep_unsynced)


def _keep_unsynced(sink: Gst.Element, _pspec: Any) -> None:
    if sink.get_property("sync"):
        sink.set_property("sync", False)


class FakeCams:
    """The RTSP server and its feeds. Every method runs on the GLib main loop."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.pacer = Pacer()
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address(config["host"])
        self.server.set_service(str(config["port"]))
        self.mounts = self.server.get_mount_points()
        self.feeds: dict[tuple[str, str], Feed] = {}
        clips: dict[str, Clip] = {}
        for camera in config["cameras"]:
            for stream, paths in camera["streams"].items():
                loaded = {kind: _cached(clips, path) for kind, path in paths.items() if path}
                self.feeds[camera["name"], stream] = Feed(camera["name"], stream, loaded,
                                                          self.pacer)

    def start(self) -> int:
        """Mount every feed, start serving; returns the bound port."""
        for feed in self.feeds.values():
            self._mount(feed)
        if self.server.attach(None) == 0:
            raise OSError(f"cannot listen on {self.server.get_address()}:"
                          f"{self.server.get_service()}")
        self.pacer.start()
        return int(self.server.get_bound_port())

    def feeds_of(self, camera: str, stream: str | None) -> list[Feed]:
        """The camera's feeds (all, or the one named); ControlError if there is none."""
        found = [f for (cam, name), f in self.feeds.items()
                 if cam == camera and stream in (None, name)]
        if not found:
            raise ControlError(f"no camera {camera!r}" + (f" stream {stream!r}" if stream
                                                           else ""))
        return found

    def stop(self, feeds: list[Feed]) -> None:
        """Unmount (404 from now on) and disconnect every client playing these feeds."""
        medias = [f.media for f in feeds if f.media is not None]
        for feed in feeds:
            if feed.mounted:
                self.mounts.remove_factory(feed.path)
                feed.mounted = False
            feed.detach()
        if medias:
            self._drop_sessions(medias)

    def restart(self, feeds: list[Feed]) -> None:
        """A camera reboot: stop if running, clear faults, mount a fresh factory."""
        self.stop([f for f in feeds if f.mounted])
        for feed in feeds:
            feed.reset_faults()
            self._mount(feed)

    def stats(self, feeds: list[Feed]) -> dict[str, dict[str, Any]]:
        sessions = self.server.get_session_pool().filter(None)
        out: dict[str, dict[str, Any]] = {}
        for feed in feeds:
            now = time.monotonic_ns()
            media = feed.media
            out[feed.stream] = {
                "mounted": feed.mounted,
                "clients": sum(1 for s in sessions if media and _uses(s, [media])),
                "pipelines_created": feed.pipelines_created,
                "packets": {kind: t.pushed for kind, t in feed.tracks.items()},
                "stalled": feed.stalled(now),
                "offset_seconds": feed.offset_ns / 1e9,
            }
        return out

    def _mount(self, feed: Feed) -> None:
        self.mounts.add_factory(feed.path, feed.make_factory())
        feed.mounted = True

    def _drop_sessions(self, medias: list[GstRtspServer.RTSPMedia]) -> None:
        pool = self.server.get_session_pool()
        doomed = [s for s in pool.filter(None) if _uses(s, medias)]

        def close_client(_server: Any, client: GstRtspServer.RTSPClient,
                         *_: Any) -> GstRtspServer.RTSPFilterResult:
            if any(s in doomed for s in client.session_filter(None)):
                return GstRtspServer.RTSPFilterResult.REMOVE
            return GstRtspServer.RTSPFilterResult.KEEP

        def remove_session(_pool: Any, session: GstRtspServer.RTSPSession,
                           *_: Any) -> GstRtspServer.RTSPFilterResult:
            if session in doomed:
                return GstRtspServer.RTSPFilterResult.REMOVE
            return GstRtspServer.RTSPFilterResult.KEEP

        self.server.client_filter(close_client)
        pool.filter(remove_session)
        log.info("dropped %d session(s)", len(doomed))


def _uses(session: GstRtspServer.RTSPSession, medias: list[GstRtspServer.RTSPMedia]) -> bool:
    return any(sm.get_media() in medias for sm in session.filter(None))


def _cached(clips: dict[str, Clip], path: str) -> Clip:
    if path not in clips:
        clips[path] = load_clip(Path(path))
    return clips[path]


# -- control socket --

def handle_request(cams: FakeCams, request: dict[str, Any]) -> Any:
    """One control request (on the main loop). Returns the reply's ``result``."""
    op = request.get("op")
    if op == "ping":
        return "pong"
    camera = request.get("camera")
    if not isinstance(camera, str):
        raise ControlError(f"{op}: 'camera' is required")
    stream = request.get("stream")
    feeds = cams.feeds_of(camera, stream)
    if op == "stop":
        cams.stop(feeds)
    elif op == "restart":
        cams.restart(feeds)
    elif op == "stats":
        return cams.stats(feeds)
    elif op in ("stall", "resume", "jump"):
        if stream is None:
            raise ControlError(f"{op}: 'stream' is required")
        _fault(feeds[0], op, request.get("seconds"))
    else:
        raise ControlError(f"unknown op {op!r}")
    return None


def _fault(feed: Feed, op: str, seconds: Any) -> None:
    if seconds is not None and not isinstance(seconds, int | float):
        raise ControlError(f"{op}: 'seconds' must be a number, not {seconds!r}")
    if op == "stall":
        if seconds is not None and seconds <= 0:
            raise ControlError(f"stall: 'seconds' must be positive, not {seconds}")
        feed.stall(seconds)
    elif op == "resume":
        feed.resume()
    elif seconds is None:
        raise ControlError("jump: 'seconds' is required")
    else:
        feed.jump(seconds)


def call_on_main_loop(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on the GLib main loop and wait for it: the RTSP server is not
    thread-safe for mount and session changes."""
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def run() -> bool:
        try:
            outcome["result"] = fn()
        except Exception as exc:  # handed back to the requesting thread
            outcome["error"] = exc
        done.set()
        return GLib.SOURCE_REMOVE

    GLib.idle_add(run)
    if not done.wait(MAIN_LOOP_CALL_TIMEOUT_S):
        raise ControlError("the server's main loop did not answer")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


class ControlServer(socketserver.ThreadingUnixStreamServer):
    """Line-delimited JSON over a unix socket: one reply line per request line."""

    daemon_threads = True

    def __init__(self, path: str, cams: FakeCams) -> None:
        self.cams = cams
        super().__init__(path, ControlHandler)


class ControlHandler(socketserver.StreamRequestHandler):
    server: ControlServer

    def handle(self) -> None:
        for line in self.rfile:
            reply = self._reply(line)
            self.wfile.write(json.dumps(reply).encode() + b"\n")
            self.wfile.flush()

    def _reply(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ControlError("a request is a JSON object")
            result = call_on_main_loop(lambda: handle_request(self.server.cams, request))
        except (ControlError, ValueError) as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:
            log.exception("control request %r failed", line)
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        return {"ok": True, "result": result}


# -- process --

def _quit_on_stdin_eof(loop: GLib.MainLoop) -> None:
    """The parent holds our stdin; when it dies, stdin hits EOF and we go too."""

    def on_stdin(fd: int, _condition: GLib.IOCondition) -> bool:
        if not os.read(fd, 4096):
            log.info("stdin closed: exiting")
            loop.quit()
            return GLib.SOURCE_REMOVE
        return GLib.SOURCE_CONTINUE

    GLib.io_add_watch(sys.stdin.fileno(), GLib.PRIORITY_DEFAULT,
                      GLib.IOCondition.IN | GLib.IOCondition.HUP, on_stdin)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="virtual IP cameras (run by FakeCamServer)")
    parser.add_argument("--config", type=Path, required=True, help="JSON written by control.py")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="fakecam: %(levelname)s %(message)s", stream=sys.stderr)
    config = json.loads(args.config.read_text())
    Gst.init(None)
    cams = FakeCams(config)
    try:
        port = cams.start()
    except OSError as exc:
        log.error("%s", exc)
        return 1
    control = ControlServer(config["control"], cams)
    threading.Thread(target=control.serve_forever, name="fakecam-control", daemon=True).start()
    loop = GLib.MainLoop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    _quit_on_stdin_eof(loop)
    print(json.dumps({"ready": True, "port": port}), flush=True)
    loop.run()
    cams.pacer.stop()
    control.server_close()  # not shutdown(): that waits out serve_forever's 0.5 s poll
    _remove_own_files(Path(config["control"]), args.config)
    return 0


def _remove_own_files(control: Path, config: Path) -> None:
    """Tidy up even when the parent was killed before it could: the socket, the config, and
    their directory if that leaves it empty (never more)."""
    for path in (control, config):
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        control.parent.rmdir()


if __name__ == "__main__":
    sys.exit(main())
