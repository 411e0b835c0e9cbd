"""Drive virtual IP cameras from the venv: start the RTSP server, inject faults, read stats.

``FakeCamServer`` encodes the cameras' clips (cached), starts ``tools/fakecam/server.py`` on
the system python and talks to it over a unix socket (one JSON line per request and reply).
Stdlib only apart from clip encoding (PyAV, imported when clips are made), so tests and the
demo can import it freely::

    with FakeCamServer([CameraSpec("cam1")], clip_cache=cache) as cams:
        url = cams.url("cam1", "main")      # rtsp://127.0.0.1:<port>/cam1/main
        cams.stall("cam1", "main", seconds=3)

Cameras with ``CameraSpec(..., onvif=OnvifSpec())`` also answer ONVIF and WS-Discovery:
a second process (``tools/fakecam/onvif``, on the venv's python) started after the RTSP
server, driven the same way (``onvif_event``, ``onvif_state``, ``onvif_set``).
"""

from __future__ import annotations

import functools
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

from tools.fakecam.netns import netns_exec_argv
from tools.fakecam.spec import (
    DEFAULT_MAIN,
    DEFAULT_SUB,
    STREAM_NAMES,
    CameraSpec,
    MovingBox,
    OnvifSpec,
    StreamSpec,
    cameras_from_count,
)

__all__ = ["DEFAULT_MAIN", "DEFAULT_SUB", "CameraSpec", "FakeCamError", "FakeCamServer",
           "MovingBox", "OnvifSpec", "StartFakeCams", "StreamSpec", "cameras_from_count",
           "default_clip_cache", "gst_unavailable_reason"]

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"
STARTUP_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 15.0
# The venv's settings must not reach the system python (it would import the venv's
# packages), and the server needs none of ours.
_SCRUBBED_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")


class FakeCamError(RuntimeError):
    """The server failed to start, died, or refused a request."""


class StartFakeCams(Protocol):
    """The type of the ``fakecams`` pytest fixture: starts a server, closed at teardown."""

    def __call__(self, cameras: Sequence[CameraSpec], *, port: int = 0,
                 host: str = "127.0.0.1", verbose: bool = False) -> FakeCamServer: ...


def default_clip_cache() -> Path:
    """Where clips live when no cache is given: reused across runs, outside the repo."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nvrd" / "fakecam-clips"


@functools.cache
def gst_unavailable_reason() -> str | None:
    """None if the system python can run the server, else why not (for pytest skips)."""
    probe = ("import gi; gi.require_version('Gst', '1.0'); "
             "gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
             "missing = [e for e in ('appsrc', 'h264parse', 'h265parse', 'rtph264pay', "
             "'rtph265pay', 'rtpmp4gpay') if not Gst.ElementFactory.find(e)]; "
             "print(' '.join(missing))")
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"{SYSTEM_PYTHON} is missing (run scripts/setup)"
    proc = subprocess.run([SYSTEM_PYTHON, "-E", "-s", "-c", probe], capture_output=True,
                          text=True, env=_server_env(), timeout=60, check=False)
    if proc.returncode:
        return f"GStreamer RTSP server not importable (run scripts/setup): {proc.stderr[-300:]}"
    if proc.stdout.strip():
        return f"GStreamer elements missing (run scripts/setup): {proc.stdout.strip()}"
    return None


def _spawn_argv(argv: Sequence[str], netns: str | None) -> list[str]:
    """The command line that runs ``argv`` in network namespace ``netns`` (None: here).
    Every server process of a ``FakeCamServer`` is started through this, so a camera
    behind a simulated PoE port (tools/fakecam/netns.py) is wholly inside its namespace;
    the unix control socket still works, being a path on the shared filesystem."""
    return list(argv) if netns is None else netns_exec_argv(netns, argv)


def _server_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}


class FakeCamServer:
    """N virtual cameras on one RTSP port, each with a main and an optional sub stream.

    A context manager: ``start()`` returns only once the server answers (it reports its port
    on stdout after binding), ``close()`` stops it. Fault injection is per camera (``stop``,
    ``restart``) or per stream (``stall``, ``resume``, ``jump``); see server.py for what a
    client sees.

    ONVIF cameras get an HTTP port each (``onvif_address``) on ``host``; their
    WS-Discovery responder listens on UDP ``discovery_port`` (3702, shared with other
    fakecams on the host; 0 picks a free port for unicast probes in tests; None: off).
    """

    def __init__(self, cameras: Sequence[CameraSpec], port: int = 0,
                 clip_cache: Path | None = None, host: str = "127.0.0.1",
                 verbose: bool = False, netns: str | None = None,
                 discovery_port: int | None = 3702) -> None:
        names = [c.name for c in cameras]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"need at least one camera and unique names, got {names}")
        self.cameras = {c.name: c for c in cameras}
        self.host = host
        self.clip_cache = clip_cache or default_clip_cache()
        self._requested_port = port
        self._verbose = verbose
        self.netns = netns  # network namespace the servers run in (needs root); None: here
        self._port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        # The ONVIF process (only when a camera has ``onvif``): its ports, and where
        # WS-Discovery listens (None: off or not bound; 0 asks for any free port).
        self._discovery_requested = discovery_port
        self._onvif_proc: subprocess.Popen[bytes] | None = None
        self._onvif_ports: dict[str, int] = {}
        self._discovery_port: int | None = None

    # -- lifecycle --

    def start(self) -> Self:
        if self._proc is not None:
            raise FakeCamError("already started")
        config = self._config()  # encodes clips first: the slow part, done once per spec
        self._workdir = Path(tempfile.mkdtemp(prefix="fakecam-"))
        config["control"] = str(self._workdir / "control.sock")
        (self._workdir / "config.json").write_text(json.dumps(config))
        cmd = [SYSTEM_PYTHON, "-E", "-s", "-m", "tools.fakecam.server",
               "--config", str(self._workdir / "config.json")]
        if self._verbose:
            cmd.append("--verbose")
        self._proc = subprocess.Popen(_spawn_argv(cmd, self.netns), cwd=ROOT,
                                      env=_server_env(), stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE)
        try:
            self._port = self._wait_ready(STARTUP_TIMEOUT_S)
            self._start_onvif()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop the server (closing its stdin asks it to exit; then SIGTERM, SIGKILL)."""
        onvif, self._onvif_proc = self._onvif_proc, None
        if onvif is not None:
            _stop_process(onvif)
        proc, self._proc = self._proc, None
        if proc is not None:
            _stop_process(proc)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def wait(self) -> int:
        """Block until the server exits (the command line serves until Ctrl-C)."""
        if self._proc is None:
            raise FakeCamError("not started")
        return self._proc.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._port is None:
            raise FakeCamError("not started")
        return self._port

    @property
    def pid(self) -> int:
        """The server process (for CPU measurements)."""
        if self._proc is None:
            raise FakeCamError("not started")
        return self._proc.pid

    def url(self, cam: str, stream: str = "main") -> str:
        self._check_stream(cam, stream)
        return f"rtsp://{self.host}:{self.port}/{cam}/{stream}"

    # -- faults --

    def stop_camera(self, cam: str, stream: str | None = None) -> None:
        """The camera disappears: its mounts answer 404 and its clients are disconnected."""
        self._request("stop", cam, stream)

    def restart_camera(self, cam: str, stream: str | None = None) -> None:
        """The camera (re)boots: fresh pipelines, timestamps from zero, faults cleared."""
        self._request("restart", cam, stream)

    def stall(self, cam: str, stream: str = "main", seconds: float | None = None) -> None:
        """No packets for ``seconds`` (None: until ``resume``); the session stays up.

        Packets due meanwhile are dropped, as in a network stall: the first packet after
        it (usually mid-GOP) carries a timestamp that far ahead."""
        self._request("stall", cam, stream, seconds=seconds)

    def resume(self, cam: str, stream: str = "main") -> None:
        self._request("resume", cam, stream)

    def jump(self, cam: str, stream: str = "main", seconds: float = 10.0) -> None:
        """Shift the stream's timestamps by ``seconds`` (either sign), from now on.

        Jumps add up; a restart clears them. A client sees one pts/dts discontinuity of
        ``seconds`` (plus a frame) that lasts, also through RTCP sender reports."""
        self._request("jump", cam, stream, seconds=seconds)

    def stats(self, cam: str) -> dict[str, dict[str, Any]]:
        """Per stream: mounted, clients (sessions playing it), pipelines_created, packets
        pushed per track, stalled, offset_seconds."""
        result: dict[str, dict[str, Any]] = self._request("stats", cam, None)
        return result

    # -- ONVIF (cameras with ``CameraSpec.onvif``; see tools/fakecam/onvif) --

    def onvif_port(self, cam: str) -> int:
        """The camera's ONVIF HTTP port (device service at ``/onvif/device_service``)."""
        self._onvif_spec(cam)
        if cam not in self._onvif_ports:
            raise FakeCamError("not started")
        return self._onvif_ports[cam]

    def onvif_address(self, cam: str) -> tuple[str, int]:
        """(host, port) to give an ONVIF client."""
        return self.host, self.onvif_port(cam)

    @property
    def discovery_port(self) -> int | None:
        """The UDP port WS-Discovery answers on; None when off or it could not bind."""
        return self._discovery_port

    def onvif_event(self, cam: str, kind: str, active: bool = True,
                    source: str | None = None) -> dict[str, Any]:
        """Raise a camera event on every PullPoint subscription: ``kind`` is motion, tamper,
        intrusion, input (properties: ``active`` is their new state) or line_crossing (a
        pulse). ``source`` is the rule name (the input token for ``input``); None: the
        default one. Returns topic, utc and how many subscriptions got it."""
        result: dict[str, Any] = self._onvif_request("onvif_event", cam, kind=kind,
                                                     active=active, source=source)
        return result

    def onvif_state(self, cam: str) -> dict[str, Any]:
        """What the camera's ONVIF side remembers: ``ptz`` (moving, velocity, last_velocity,
        position, moves, presets; None without PTZ), ``presets``, ``clock_offset_s``,
        ``date_time_type``, ``time_set_calls``, ``auth_failures``, ``locked``,
        ``locked_for_s``, ``active``, ``users`` (name -> level), ``subscriptions``,
        ``properties``, ``reboots``, ``port``."""
        result: dict[str, Any] = self._onvif_request("onvif_state", cam)
        return result

    def onvif_set(self, cam: str, *, clock_offset_s: float | None = None,
                  inactive: bool | None = None, unlock: bool = False) -> dict[str, Any]:
        """Move the camera's clock, make it inactive (no users: a factory reset) or active
        again (the configured user), or lift a login lock. Returns ``onvif_state``."""
        result: dict[str, Any] = self._onvif_request(
            "onvif_set", cam, clock_offset_s=clock_offset_s, inactive=inactive, unlock=unlock)
        return result

    def _onvif_spec(self, cam: str) -> OnvifSpec:
        spec = self.cameras.get(cam)
        if spec is None or spec.onvif is None:
            raise FakeCamError(f"camera {cam!r} has no ONVIF (CameraSpec.onvif)")
        return spec.onvif

    def _onvif_config(self) -> dict[str, Any]:
        cameras = []
        for cam in self.cameras.values():
            onvif = cam.onvif
            if onvif is None:
                continue
            cameras.append({
                "name": cam.name, "username": onvif.username, "password": onvif.password,
                "inactive": onvif.inactive, "manufacturer": onvif.manufacturer,
                "model": onvif.model, "firmware": onvif.firmware,
                "serial": onvif.serial_for(cam.name), "mac": onvif.mac_for(cam.name),
                "endpoint": onvif.endpoint_uuid(cam.name), "ptz": onvif.ptz,
                "clock_offset_s": onvif.clock_offset_s, "http_port": onvif.http_port,
                "wsse_max_skew_s": onvif.wsse_max_skew_s,
                "streams": {name: {"codec": s.codec, "width": s.width, "height": s.height,
                                   "fps": s.fps, "gop": s.gop, "bitrate_kbps": s.bitrate_kbps}
                            for name, s in cam.streams.items()}})
        discovery = (None if self._discovery_requested is None
                     else {"port": self._discovery_requested})
        return {"host": self.host, "rtsp_port": self.port, "discovery": discovery,
                "cameras": cameras}

    def _start_onvif(self) -> None:
        """Start the ONVIF process (venv python) if any camera has ONVIF; after the RTSP
        server, whose port the stream URIs carry; in the same network namespace."""
        config = self._onvif_config()
        if not config["cameras"]:
            return
        assert self._workdir is not None
        config["control"] = str(self._workdir / "onvif.sock")
        (self._workdir / "onvif.json").write_text(json.dumps(config))
        cmd = [sys.executable, "-m", "tools.fakecam.onvif",
               "--config", str(self._workdir / "onvif.json")]
        if self._verbose:
            cmd.append("--verbose")
        self._onvif_proc = subprocess.Popen(_spawn_argv(cmd, self.netns), cwd=ROOT,
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready = _read_ready(self._onvif_proc, STARTUP_TIMEOUT_S, "the ONVIF server")
        self._onvif_ports = {name: int(port) for name, port in ready["cameras"].items()}
        self._discovery_port = ready.get("discovery_port")

    def _onvif_request(self, op: str, cam: str, **args: Any) -> Any:
        self._onvif_spec(cam)
        proc = self._onvif_proc
        if proc is None or self._workdir is None:
            raise FakeCamError("not started")
        if proc.poll() is not None:
            raise FakeCamError(f"the ONVIF server died (exit status {proc.returncode})")
        reply = _exchange(self._workdir / "onvif.sock", {"op": op, "camera": cam, **args})
        if not reply.get("ok"):
            raise FakeCamError(f"{op} {cam}: {reply.get('error')}")
        return reply.get("result")

    # -- internals --

    def _config(self) -> dict[str, Any]:
        from tools.fakecam.clips import ensure_audio_clip, ensure_video_clip

        cameras = []
        for cam in self.cameras.values():
            streams = {}
            for name, spec in cam.streams.items():
                audio = ensure_audio_clip(self.clip_cache) if spec.audio else None
                video = ensure_video_clip(self.clip_cache, spec, cam.text, cam.scene)
                streams[name] = {"video": str(video), "audio": str(audio) if audio else None}
            cameras.append({"name": cam.name, "streams": streams})
        return {"host": self.host, "port": self._requested_port, "cameras": cameras}

    def _wait_ready(self, timeout: float) -> int:
        """Read the server's one stdout line; fail fast if it exits first."""
        assert self._proc is not None
        return int(_read_ready(self._proc, timeout, "the RTSP server")["port"])

    def _request(self, op: str, cam: str, stream: str | None, **args: Any) -> Any:
        if cam not in self.cameras:
            raise FakeCamError(f"no camera {cam!r} (have {sorted(self.cameras)})")
        if stream is not None:
            self._check_stream(cam, stream)
        reply = self._send({"op": op, "camera": cam, "stream": stream, **args})
        if not reply.get("ok"):
            raise FakeCamError(f"{op} {cam}/{stream or '*'}: {reply.get('error')}")
        return reply.get("result")

    def _send(self, request: dict[str, Any]) -> dict[str, Any]:
        if self._proc is None or self._workdir is None:
            raise FakeCamError("not started")
        if self._proc.poll() is not None:
            raise FakeCamError(f"the RTSP server died (exit status {self._proc.returncode})")
        return _exchange(self._workdir / "control.sock", request)

    def _check_stream(self, cam: str, stream: str) -> None:
        if stream not in STREAM_NAMES:
            raise FakeCamError(f"stream must be one of {STREAM_NAMES}, not {stream!r}")
        spec = self.cameras.get(cam)
        if spec is None or stream not in spec.streams:
            raise FakeCamError(f"camera {cam!r} has no {stream} stream")


def _read_ready(proc: subprocess.Popen[bytes], timeout: float, what: str) -> dict[str, Any]:
    """Read a server's one JSON stdout line; fail fast if it exits first."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FakeCamError(f"{what} did not report ready in {timeout:g} s")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                code = proc.wait()
                raise FakeCamError(f"{what} exited ({code}) before it was ready; "
                                   "its stderr has the reason")
            line += chunk
    result: dict[str, Any] = json.loads(line)
    return result


def _exchange(path: Path, request: dict[str, Any]) -> dict[str, Any]:
    """One request and its reply over a server's control socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(REQUEST_TIMEOUT_S)
        sock.connect(str(path))
        sock.sendall(json.dumps(request).encode() + b"\n")
        with sock.makefile("rb") as replies:
            line = replies.readline()
    if not line:
        raise FakeCamError(f"no reply to {request['op']}")
    reply: dict[str, Any] = json.loads(line)
    return reply


def _stop_process(proc: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    for step in (_close_stdin, subprocess.Popen.terminate, subprocess.Popen.kill):
        step(proc)
        try:
            proc.wait(timeout=grace_s)
            break
        except subprocess.TimeoutExpired:
            continue
    if proc.stdout is not None:
        proc.stdout.close()


def _close_stdin(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()

