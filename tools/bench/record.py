"""What recording costs: nvrd against one ffmpeg per stream (as Frigate records), same cameras.

    .venv/bin/python -m tools.bench.record [--cameras 16] [--seconds 120] [--json]

Virtual cameras (tools/fakecam, main stream only unless ``--with-sub``) are recorded twice,
one after the other, on the same machine and the same file system:

A. nvrd, run as systemd would (``python -m nvrd run --data-dir DIR``) with one prepared
   volume, until every stream records; then, after a warm-up, over ``--seconds``;
B. the reference: one ``ffmpeg -c copy -f segment`` process per stream, over as long after
   the same warm-up.

It prints the CPU (percent of ONE core, user + system of all threads, over the measuring
window only) and memory of each, per stream and as the ratio nvrd / ffmpeg (lower is
better), the camera server's and the whole machine's CPU (they share the machine: a
saturated or otherwise busy machine makes every figure suspect), and nvrd's packets.

The packet accounting is exact, not a rate estimate. nvrd's own "received" counter is
published once a second per stream, so at an arbitrary instant it lags by up to a second
of packets; instead each stream's window is bracketed by pausing its camera (a fakecam
stall: the RTSP session stays up, nothing is sent) until the camera's sent count and
nvrd's recorded count stand still with the stream recording, so every packet sent inside
the window has been either written or counted as dropped or lost by the time it is read.
Over TCP, sent = received; a packet neither written nor counted is lost without a trace,
the one thing a recorder must never do. nvrd's received counter is shown for comparison.
After the window nvrd is stopped with the cameras still paused, and the samples in the
files it left are counted against what it says it recorded over the whole run: a fragment
the writer refused after its packets were counted shows up there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import asdict, astuple, dataclass, field, fields
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from nvrd.record.fmp4 import scan_file
from nvrd.storage.catalog import CATALOG_FILE
from nvrd.storage.model import SEGMENT_DIR
from nvrd.storage.volume import prepare_volume
from tools.fakecam.control import (
    DEFAULT_SUB,
    FakeCamServer,
    StreamSpec,
    cameras_from_count,
    default_clip_cache,
)
from tools.fakecam.spec import VIDEO_CODECS, parse_video_mode

FFMPEG = "ffmpeg"
DEFAULT_VOLUME_DIR = Path("/var/tmp")
"""A disk-backed file system (/tmp may be a tmpfs, which would flatter both recorders)."""
STARTUP_TIMEOUT_S = 180.0
"""Until every stream records: 64 streams open one after another on a busy machine."""
BRACKET_POLL_S = 0.4
"""A paused stream is settled when two reads this far apart agree."""
MAX_PAUSE_S = 3.5
"""Below nvrd's 5 s media-gap limit (``MAX_MEDIA_GAP_US``): a longer pause would end the
stream's run, a loss the benchmark itself caused."""
NUDGE_S = 0.6
"""How long a paused stream that has not settled runs again before the next try."""
BRACKET_TIMEOUT_S = 45.0
STALL_TIMEOUT_S = 12
"""nvrd's ``ingest.stall_timeout_seconds`` in the benchmark (the default is 10). The
reader's read timeout is half of it: FFmpeg holds back a stream's last frame until the
next one comes or that timeout expires (measured), so a bracket's pause must stay shorter
(then every bracket holds one frame per stream back, and the deltas cancel it), and nvrd,
stopped with the cameras paused, takes about that long to stop."""
FFMPEG_STOP_S = 10.0
DAEMON_STOP_S = 60.0
SATURATED = 0.9
"""Machine busy above this share of all cores: the figures measure contention too."""
LOG_LINE = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL)\s+")


class BenchError(RuntimeError):
    """The benchmark could not measure (a recorder did not start, a process died)."""


# --- settings -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settings:
    cameras: int
    seconds: float
    warmup: float
    main: StreamSpec
    sub: StreamSpec | None
    volume_dir: Path
    clip_cache: Path
    keep: bool
    json: bool

    @property
    def streams_per_camera(self) -> int:
        return 1 if self.sub is None else 2


def parse_args(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=120.0,
                        help="measuring window of each recorder (default 120)")
    parser.add_argument("--warmup", type=float, default=10.0,
                        help="seconds between 'all recording' and the window (default 10)")
    parser.add_argument("--mode", default="1920x1080@25",
                        help="main stream WxH@fps (default 1920x1080@25)")
    parser.add_argument("--bitrate", type=int, default=4000, help="kbit/s (default 4000)")
    parser.add_argument("--gop", type=int, default=50, help="keyframe interval in frames")
    parser.add_argument("--codec", choices=VIDEO_CODECS, default="h264")
    parser.add_argument("--with-sub", action="store_true",
                        help=f"cameras also have a sub stream ({DEFAULT_SUB.width}x"
                             f"{DEFAULT_SUB.height}); both recorders record it too")
    parser.add_argument("--volume-dir", type=Path, default=DEFAULT_VOLUME_DIR,
                        help="where the temporary volume and ffmpeg's files go "
                             "(default /var/tmp)")
    parser.add_argument("--clip-cache", type=Path, default=default_clip_cache())
    parser.add_argument("--keep", action="store_true",
                        help="keep the data directory, volume and ffmpeg output")
    parser.add_argument("--json", action="store_true",
                        help="print the results as JSON instead of the table")
    args = parser.parse_args(argv)
    if args.cameras < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("need --cameras >= 1, --seconds > 0 and --warmup >= 0")
    try:
        width, height, fps = parse_video_mode(args.mode)
        main = StreamSpec(width, height, fps, args.gop, args.bitrate, args.codec)
        sub = StreamSpec(DEFAULT_SUB.width, DEFAULT_SUB.height, DEFAULT_SUB.fps,
                         DEFAULT_SUB.gop, DEFAULT_SUB.bitrate_kbps, args.codec)
    except ValueError as exc:
        parser.error(str(exc))
    return Settings(args.cameras, args.seconds, args.warmup, main,
                    sub if args.with_sub else None, args.volume_dir, args.clip_cache,
                    args.keep, args.json)


@dataclass(frozen=True, slots=True)
class Stream:
    camera: str
    channel: int
    name: str  # "main" or "sub"

    @property
    def label(self) -> str:
        return f"{self.camera}-{self.name}"


def describe(spec: StreamSpec) -> str:
    return (f"{spec.codec} {spec.width}x{spec.height}@{spec.fps} GOP {spec.gop} "
            f"{spec.bitrate_kbps} kbit/s")


# --- measuring processes ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cpu:
    """CPU over one window, in percent of one core (a 2-core machine tops out at 200)."""

    recorder_pct: float
    camera_server_pct: float
    bench_pct: float
    machine_pct: float
    steal_pct: float
    others_pct: float
    """The machine's load that is none of ours (another job skews every figure)."""
    cores: int


@dataclass(frozen=True, slots=True)
class Memory:
    rss_bytes: int
    pss_bytes: int
    """Proportional set size: shared pages (libraries, one per ffmpeg) counted once."""


def busy_seconds(procs: Iterable[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def with_descendants(pid: int) -> list[psutil.Process]:
    proc = psutil.Process(pid)
    return [proc, *proc.children(recursive=True)]


def memory(procs: Iterable[psutil.Process]) -> Memory:
    rss = pss = 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            info = proc.memory_full_info()
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
    return Memory(rss, pss)


def measure_window(recorder: list[psutil.Process], camera_server: psutil.Process,
                   seconds: float) -> tuple[Cpu, float]:
    """Sleep through the window, snapshotting CPU times at its ends only (nothing this
    process does in between adds to the recorder's load). Returns the CPU and the
    window's real length."""
    me = psutil.Process()
    groups = (recorder, [camera_server], [me])
    before = [busy_seconds(g) for g in groups]
    machine_before = psutil.cpu_times()
    started = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - started
    after = [busy_seconds(g) for g in groups]
    machine_after = psutil.cpu_times()
    pct = [100 * (a - b) / wall for a, b in zip(after, before, strict=True)]
    cores = psutil.cpu_count() or 1
    spent = {f: getattr(machine_after, f) - getattr(machine_before, f)
             for f in machine_after._fields}
    total = sum(spent.values()) or 1.0
    idle = spent.get("idle", 0.0) + spent.get("iowait", 0.0)
    # the kernel counts guest time within user time as well
    guest = spent.get("guest", 0.0) + spent.get("guest_nice", 0.0)
    total -= guest
    machine = 100 * cores * (total - idle) / total
    steal = 100 * cores * spent.get("steal", 0.0) / total
    others = max(0.0, machine - sum(pct))
    return Cpu(pct[0], pct[1], pct[2], machine, steal, others, cores), wall


# --- the camera server --------------------------------------------------------------------


def sent_counts(server: FakeCamServer, streams: list[Stream]) -> dict[str, int]:
    """Packets the server has pushed per stream, all tracks."""
    counts: dict[str, int] = {}
    for camera in dict.fromkeys(s.camera for s in streams):
        stats = server.stats(camera)
        for stream in (s for s in streams if s.camera == camera):
            counts[stream.label] = sum(stats[stream.name]["packets"].values())
    return counts


# --- phase A: nvrd ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nvrd_config(web_port: int, volume: Path, urls: dict[int, tuple[str, str | None]]) -> str:
    """Factory defaults except: loopback web port, the benchmark's volume with no free-space
    reserve (the default keeps an hour at the current rate free, which on a small disk
    would have retention deleting while we measure), and a stall timeout longer than the
    brackets' pauses."""
    text = (f'[web]\nhost = "127.0.0.1"\nport = {web_port}\n\n'
            f"[ingest]\nstall_timeout_seconds = {STALL_TIMEOUT_S}\n\n"
            "[storage]\nmin_free_percent = 1\nreserve_minutes = 0\n\n"
            f'[[storage.volumes]]\npath = "{volume}"\nname = "bench"\n\n')
    for channel, (main, sub) in urls.items():
        text += f'[[cameras]]\nchannel = {channel}\nmain = {{ url = "{main}" }}\n'
        if sub is not None:
            text += f'sub = {{ url = "{sub}" }}\n'
        text += "\n"
    return text


class DaemonProcess:
    """nvrd as systemd runs it: its own process, output to ``daemon.log`` in the data dir."""

    def __init__(self, data_dir: Path, web_port: int) -> None:
        self.data_dir, self.web_port = data_dir, web_port
        self.log_path = data_dir / "daemon.log"
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        env["PYTHONUNBUFFERED"] = "1"
        with self.log_path.open("ab") as log:
            # its own session: a Ctrl-C reaches only us, and we stop it in order
            self.process = subprocess.Popen(
                [sys.executable, "-m", "nvrd", "run", "--data-dir", str(data_dir)],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        self._context = ssl.create_default_context()
        self._context.check_hostname = False
        self._context.verify_mode = ssl.CERT_NONE  # the box's own self-signed certificate
        self.returncode: int | None = None

    def health(self) -> dict[str, Any]:
        url = f"https://127.0.0.1:{self.web_port}/api/v1/health"
        try:
            with urllib.request.urlopen(url, context=self._context, timeout=10) as response:
                return dict(json.load(response))
        except urllib.error.HTTPError as exc:  # 503 (unhealthy) still carries the JSON body
            return dict(json.load(exc))

    def wait_health(self, predicate: Callable[[dict[str, Any]], bool], timeout: float,
                    what: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | str = "no answer"
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                last = self.health()
                if predicate(last):
                    return last
            except (OSError, ValueError) as exc:
                last = repr(exc)
            time.sleep(0.5)
        raise BenchError(f"nvrd: {what} not reached in {timeout:g} s; last health: "
                         f"{json.dumps(last)[:1500]}\n--- {self.log_path} (tail) ---\n"
                         f"{self.log()[-3000:]}")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(f"nvrd exited with status {self.process.returncode}:\n"
                             f"{self.log()[-3000:]}")

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=DAEMON_STOP_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.returncode = self.process.returncode
        return self.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass(frozen=True, slots=True)
class StreamCounters:
    sent: int
    received: int
    written: int
    dropped: int
    lost: int
    cannot_keep_up: int
    reconnects: int
    bytes_written: int
    segments: int

    def __sub__(self, other: StreamCounters) -> StreamCounters:
        return StreamCounters(*(a - b for a, b in zip(astuple(self), astuple(other),
                                                        strict=True)))

    @property
    def progress(self) -> tuple[int, int]:
        """What still moves while packets are in flight."""
        return self.sent, self.written + self.dropped + self.lost


def counters(server: FakeCamServer, daemon: DaemonProcess, streams: list[Stream]
             ) -> tuple[dict[str, StreamCounters], dict[str, Any]]:
    """Per stream counters, and the health answer they came from."""
    sent = sent_counts(server, streams)
    health = daemon.health()
    ingest = {c["channel"]: c["streams"] for c in health["cameras"]}
    recording = {c["channel"]: c["streams"] for c in health["recording"]}
    result = {}
    for s in streams:
        cam = ingest[s.channel][s.name]
        rec = recording[s.channel][s.name]
        result[s.label] = StreamCounters(
            sent=sent[s.label], received=cam["packets"], written=rec["packets_recorded"],
            dropped=rec["packets_dropped"], lost=rec["packets_lost"],
            cannot_keep_up=rec["cannot_keep_up"], reconnects=cam["reconnects"],
            bytes_written=rec["bytes_written"], segments=rec["segments"])
    return result, health


@dataclass(slots=True)
class _Paused:
    """One stream's progress through a bracket."""

    stream: Stream
    paused_at: float | None = None
    """monotonic time of the pause; None while it runs."""
    runs_until: float = 0.0
    previous: tuple[int, int] | None = None


def bracket(server: FakeCamServer, daemon: DaemonProcess, streams: list[Stream], *,
            stay_paused: bool = False) -> tuple[dict[str, StreamCounters], list[str]]:
    """Each stream's counters, read while that stream is paused and settled: nothing of it
    in flight (two reads BRACKET_POLL_S apart agree) and recording (a run that has not
    settled yet holds its first packets back; it needs packets to settle, so such a
    stream runs again for NUDGE_S and is tried again). Streams pause and resume one by one,
    none for longer than MAX_PAUSE_S. Returns the counters and the streams that did not
    settle in BRACKET_TIMEOUT_S (their counters are the last read, and approximate).
    With ``stay_paused``, settled streams stay paused (for the last bracket)."""
    pending = {s.label: _Paused(s) for s in streams}
    taken: dict[str, StreamCounters] = {}
    unsettled: list[str] = []
    deadline = time.monotonic() + BRACKET_TIMEOUT_S
    try:
        while pending:
            for p in pending.values():
                if p.paused_at is None and time.monotonic() >= p.runs_until:
                    server.stall(p.stream.camera, p.stream.name)
                    p.paused_at, p.previous = time.monotonic(), None
            time.sleep(BRACKET_POLL_S)
            now, health = counters(server, daemon, streams)
            recording = {(c["channel"], name): bool(status["recording"])
                         for c in health["recording"] for name, status in c["streams"].items()}
            late = time.monotonic() > deadline
            for label, p in list(pending.items()):
                if p.paused_at is None:
                    continue
                progress = now[label].progress
                settled, p.previous = progress == p.previous, progress
                if (settled and recording[(p.stream.channel, p.stream.name)]) or late:
                    taken[label] = now[label]
                    if not settled or not recording[(p.stream.channel, p.stream.name)]:
                        unsettled.append(label)
                    del pending[label]
                    if not stay_paused:
                        server.resume(p.stream.camera, p.stream.name)
                elif settled or time.monotonic() - p.paused_at > MAX_PAUSE_S:
                    server.resume(p.stream.camera, p.stream.name)
                    p.paused_at, p.runs_until = None, time.monotonic() + NUDGE_S
    finally:
        for p in pending.values():
            if p.paused_at is not None:
                with contextlib.suppress(Exception):  # a dead server is reported elsewhere
                    server.resume(p.stream.camera, p.stream.name)
    return taken, sorted(unsettled)


def all_recording(streams: list[Stream]) -> Callable[[dict[str, Any]], bool]:
    def check(health: dict[str, Any]) -> bool:
        recording = {c["channel"]: c["streams"] for c in health.get("recording", ())}
        return all(recording.get(s.channel, {}).get(s.name, {}).get("recording")
                   for s in streams)
    return check


@dataclass(frozen=True, slots=True)
class Packets:
    """nvrd's packet accounting: the window's figures are deltas between the brackets."""

    window_s: float
    """The packet window (brackets included), on average over the streams."""
    unsettled: list[str]
    """Streams a bracket could not settle: their figures are approximate."""
    sent: int
    received: int
    written: int
    """nvrd's ``packets_recorded``: muxed into a segment."""
    dropped: int
    lost_counted: int
    lost_uncounted: int
    """sent - written - dropped - lost_counted: gone without nvrd noticing."""
    cannot_keep_up: int
    reconnects: int
    segments: int
    worst_streams: list[str]
    """Streams that lost anything, worst first (at most 5)."""
    recorded_total: int
    """The whole run: ``packets_recorded`` when nvrd stopped (the cameras paused)..."""
    on_disk: int | None
    """... and the samples in the segment files it left (None: not counted)."""
    never_closed: int | None
    """Segments the recorder never closed (the writer closed them at shutdown)."""

    @property
    def lost_total(self) -> int:
        return self.sent - self.written

    @property
    def not_on_disk(self) -> int:
        return 0 if self.on_disk is None else self.recorded_total - self.on_disk

    @property
    def verdict(self) -> str:
        caveat = (f" (approximate: {len(self.unsettled)} streams did not settle)"
                  if self.unsettled else "")
        if self.lost_total == 0 and self.dropped == 0 and self.lost_counted == 0 \
                and self.not_on_disk == 0:
            return "zero packets lost" + caveat
        text = (f"{self.lost_total} packets lost in the window ({self.dropped} dropped for "
                f"bad timestamps, {self.lost_counted} counted lost by nvrd, "
                f"{self.lost_uncounted} NOT counted by nvrd)")
        if self.not_on_disk:
            text += (f"; over the whole run {self.not_on_disk} packets nvrd counted as "
                     "recorded are not in its files")
        return text + caveat


@dataclass(frozen=True, slots=True)
class Volume:
    name: str
    state: str
    write_latency_ms_p50: float | None
    write_latency_ms_p99: float | None
    queued_bytes: int
    open_segments: int


@dataclass(frozen=True, slots=True)
class RecorderResult:
    what: str
    processes: int
    streams: int
    cpu: Cpu
    memory: Memory
    window_s: float
    bytes_written: int
    notes: list[str] = field(default_factory=list)

    @property
    def bytes_per_s(self) -> float:
        return self.bytes_written / self.window_s


@dataclass(frozen=True, slots=True)
class NvrdResult:
    recorder: RecorderResult
    packets: Packets
    volume: Volume | None
    exit_status: int | None
    log_path: str
    log_problems: list[str]
    """WARNING/ERROR/CRITICAL lines and tracebacks of the daemon's log."""
    started_s: float
    """From launch until every stream recorded."""


def run_nvrd(settings: Settings, server: FakeCamServer, streams: list[Stream],
             workdir: Path) -> NvrdResult:
    data_dir, volume = workdir / "data", workdir / "volume"
    data_dir.mkdir(parents=True)
    prepare_volume(volume, "bench")
    urls: dict[int, tuple[str, str | None]] = {}
    for s in streams:
        main, sub = urls.get(s.channel, ("", None))
        url = server.url(s.camera, s.name)
        urls[s.channel] = (url, sub) if s.name == "main" else (main, url)
    port = free_port()
    (data_dir / "nvrd.toml").write_text(nvrd_config(port, volume, urls))

    progress(f"phase A: nvrd on {len(streams)} streams (data {data_dir}, volume {volume})")
    launched = time.monotonic()
    daemon = DaemonProcess(data_dir, port)
    try:
        daemon.wait_health(all_recording(streams), STARTUP_TIMEOUT_S,
                           f"all {len(streams)} streams recording")
        started_s = time.monotonic() - launched
        progress(f"  all streams recording after {started_s:.1f} s; warming up "
                 f"{settings.warmup:g} s")
        time.sleep(settings.warmup)
        bracket_started = time.monotonic()
        before, unsettled = bracket(server, daemon, streams)
        progress(f"  first bracket took {time.monotonic() - bracket_started:.1f} s; "
                 f"measuring {settings.seconds:g} s")
        procs = with_descendants(daemon.process.pid)
        bytes_before = bytes_recorded(daemon)
        cpu, wall = measure_window(procs, psutil.Process(server.pid), settings.seconds)
        bytes_after = bytes_recorded(daemon)
        mem = memory(procs)
        daemon.check_alive()
        bracket_started = time.monotonic()
        after, unsettled_after = bracket(server, daemon, streams, stay_paused=True)
        progress(f"  last bracket took {time.monotonic() - bracket_started:.1f} s")
        packet_window = wall + (time.monotonic() - bracket_started)
        # the cameras stay paused until nvrd has stopped: this is all it will record
        final, health = counters(server, daemon, streams)
    finally:
        progress("  stopping nvrd (cameras paused, so what it recorded stays put)")
        stopping = time.monotonic()
        status = daemon.stop()
        progress(f"  nvrd exited with status {status} after {time.monotonic() - stopping:.1f} s")
        for s in streams:
            with contextlib.suppress(Exception):  # a dead server is reported elsewhere
                server.resume(s.camera, s.name)

    deltas = {label: after[label] - before[label] for label in after}
    total = StreamCounters(*(sum(col) for col in zip(*(astuple(d) for d in deltas.values()),
                                                      strict=True)))
    lost_by_stream = sorted(((d.sent - d.written, label) for label, d in deltas.items()
                             if d.sent != d.written), reverse=True)
    disk = files_on_volume(volume)
    packets = Packets(
        window_s=packet_window, unsettled=sorted({*unsettled, *unsettled_after}),
        sent=total.sent, received=total.received, written=total.written,
        dropped=total.dropped, lost_counted=total.lost,
        lost_uncounted=total.sent - total.written - total.dropped - total.lost,
        cannot_keep_up=total.cannot_keep_up, reconnects=total.reconnects,
        segments=total.segments,
        worst_streams=[f"{label}: {n}" for n, label in lost_by_stream[:5]],
        recorded_total=sum(c.written for c in final.values()),
        on_disk=disk.samples, never_closed=disk.never_closed)
    volumes = [v for v in health.get("volumes", ()) if v.get("name") == "bench"]
    volume_status = (Volume(**{f.name: volumes[0].get(f.name) for f in fields(Volume)})
                     if volumes else None)
    notes = [f"nvrd's files: {problem}" for problem in disk.problems]
    recorder = RecorderResult("nvrd", len(procs), len(streams), cpu, mem, wall,
                              bytes_after - bytes_before, notes)
    return NvrdResult(recorder, packets, volume_status, status, str(daemon.log_path),
                      log_problems(daemon.log()), started_s)


def bytes_recorded(daemon: DaemonProcess) -> int:
    """Bytes nvrd has handed to its writer, all streams (read outside the CPU window)."""
    return sum(stream["bytes_written"] for channel in daemon.health()["recording"]
               for stream in channel["streams"].values())


@dataclass(frozen=True, slots=True)
class VolumeFiles:
    samples: int | None
    never_closed: int | None
    problems: list[str]


def files_on_volume(volume: Path) -> VolumeFiles:
    """What nvrd left on the volume after a clean stop: the samples in its segment files,
    and how many segments its writer had to close at shutdown because the recorder never
    did (end reason "stop"; a segment the recorder closes itself says why)."""
    problems: list[str] = []
    samples = 0
    for path in sorted((volume / SEGMENT_DIR).rglob("*.mp4")):
        try:
            scan = scan_file(path)
        except OSError as exc:
            problems.append(f"{path.name}: {exc}")
            continue
        if scan.torn_bytes:
            problems.append(f"{path.relative_to(volume)}: {scan.torn_bytes} torn bytes")
        samples += sum(run.samples for fragment in scan.fragments for run in fragment.runs)
    never_closed: int | None = None
    try:
        uri = f"file:{volume / CATALOG_FILE}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            never_closed = db.execute(
                "SELECT count(*) FROM segments WHERE end_reason = 'stop'").fetchone()[0]
            still_open = db.execute(
                "SELECT count(*) FROM segments WHERE state != 'closed'").fetchone()[0]
        if still_open:
            problems.append(f"{still_open} catalog rows not closed after a clean stop")
    except sqlite3.Error as exc:
        problems.append(f"catalog: {exc}")
    return VolumeFiles(samples, never_closed, problems)


def summarize_log(problems: list[str], tracebacks: int = 3) -> list[str]:
    """Warnings counted by message (channel numbers blanked), tracebacks whole."""
    counts: dict[str, int] = {}
    shown: list[str] = []
    for problem in problems:
        if "\n" in problem:
            if len(shown) < tracebacks:
                shown += [f"| {line}" for line in problem.splitlines()]
            continue
        text = re.sub(r"\bch\d+-", "chN-", LOG_LINE.sub(r"\1 ", problem))
        text = re.sub(r"[-+]?\d+\.\d+ s\b", "X s", text)
        counts[text] = counts.get(text, 0) + 1
    lines = [f"{n:>5} x {text}" for text, n in sorted(counts.items(), key=lambda i: -i[1])]
    return (lines + shown) or ["no warnings or errors"]


def log_problems(log: str, limit: int = 2000) -> list[str]:
    """Warning and error lines, and each traceback whole (they are what to report)."""
    found: list[str] = []
    lines = log.splitlines()
    i = 0
    while i < len(lines) and len(found) < limit:
        line = lines[i]
        if line.startswith("Traceback") or LOG_LINE.match(line):
            block = [line]
            # a traceback (logged or bare) runs until the next timestamped line
            while i + 1 < len(lines) and not re.match(r"^\d{4}-\d\d-\d\d ", lines[i + 1]):
                i += 1
                block.append(lines[i])
            found.append("\n".join(block))
        i += 1
    return found


# --- phase B: ffmpeg ----------------------------------------------------------------------


def ffmpeg_command(url: str, out: Path) -> list[str]:
    """What Frigate runs per recorded stream: copy into 60 s MP4 segments."""
    return [FFMPEG, "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp",
            "-i", url, "-c", "copy", "-f", "segment", "-segment_time", "60",
            "-segment_format", "mp4", "-reset_timestamps", "1", str(out / "%05d.mp4")]


def dir_bytes(dirs: Iterable[Path]) -> int:
    total = 0
    for d in dirs:
        for path in d.glob("*.mp4"):
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
    return total


class FfmpegFleet:
    """One ffmpeg per stream; ``stop`` ends them all (SIGTERM lets them finish the MP4)."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.outs: dict[str, Path] = {}
        self.errs: dict[str, Path] = {}

    def start(self, server: FakeCamServer, streams: list[Stream], workdir: Path) -> None:
        for s in streams:
            out = workdir / s.label
            out.mkdir(parents=True)
            self.outs[s.label], self.errs[s.label] = out, workdir / f"{s.label}.err"
            with self.errs[s.label].open("wb") as err:
                # its own session: a Ctrl-C reaches only us, and we stop it in order
                self.procs[s.label] = subprocess.Popen(
                    ffmpeg_command(server.url(s.camera, s.name), out),
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                    start_new_session=True)

    def check_alive(self) -> None:
        dead = {label: p.returncode for label, p in self.procs.items() if p.poll() is not None}
        if dead:
            label = next(iter(dead))
            stderr = self.errs[label].read_text(errors="replace")[-800:]
            raise BenchError(f"{len(dead)} ffmpeg processes exited (e.g. {label}: status "
                             f"{dead[label]}: {stderr})")

    def wait_writing(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if all(dir_bytes([out]) > 0 for out in self.outs.values()):
                return
            time.sleep(0.5)
        idle = [label for label, out in self.outs.items() if dir_bytes([out]) == 0]
        raise BenchError(f"ffmpeg: {len(idle)} streams wrote nothing in {timeout:g} s "
                         f"(e.g. {idle[0]})")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + FFMPEG_STOP_S
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def errors(self) -> list[str]:
        return [f"{label}: {text.strip()[-300:]}" for label, path in self.errs.items()
                if (text := path.read_text(errors="replace")).strip()]


def run_ffmpeg(settings: Settings, server: FakeCamServer, streams: list[Stream],
               workdir: Path) -> RecorderResult:
    progress(f"phase B: {len(streams)} ffmpeg processes (output {workdir})")
    fleet = FfmpegFleet()
    try:
        fleet.start(server, streams, workdir)
        fleet.wait_writing(STARTUP_TIMEOUT_S)
        progress(f"  all streams writing; warming up {settings.warmup:g} s")
        time.sleep(settings.warmup)
        fleet.check_alive()
        procs = [psutil.Process(p.pid) for p in fleet.procs.values()]
        outs = list(fleet.outs.values())
        before = dir_bytes(outs)
        progress(f"  measuring {settings.seconds:g} s")
        cpu, wall = measure_window(procs, psutil.Process(server.pid), settings.seconds)
        written = dir_bytes(outs) - before
        mem = memory(procs)
        fleet.check_alive()
    finally:
        progress("  stopping ffmpeg")
        fleet.stop()
    notes = [f"ffmpeg stderr: {e}" for e in fleet.errors()[:5]]
    return RecorderResult(f"ffmpeg x{len(procs)}", len(procs), len(streams), cpu, mem, wall,
                          written, notes)


# --- report -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpus": psutil.cpu_count(), "cpu_model": model,
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "ffmpeg": ffmpeg_version()}


def ffmpeg_version() -> str:
    try:
        out = subprocess.run([FFMPEG, "-version"], capture_output=True, text=True,
                             check=False, timeout=10).stdout
    except OSError:
        return "missing"
    return out.split("\n", 1)[0].removeprefix("ffmpeg version ").split(" ", 1)[0]


def filesystem(path: Path) -> str:
    """The file system type of ``path`` (a tmpfs flatters both recorders)."""
    best, kind = "", "?"
    for part in psutil.disk_partitions(all=True):
        mount = part.mountpoint
        if (str(path) == mount or str(path).startswith(mount.rstrip("/") + "/")) \
                and len(mount) > len(best):
            best, kind = mount, part.fstype
    return kind


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


MIB = 2**20


def report_text(settings: Settings, info: dict[str, Any], workdir: Path,
                nvrd: NvrdResult, ref: RecorderResult) -> str:
    a, n = nvrd.recorder, nvrd.recorder.streams
    cores = a.cpu.cores
    lines = [
        f"machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['memory_gib']} GiB, "
        f"Linux {info['kernel']}, Python {info['python']}, ffmpeg {info['ffmpeg']}",
        f"settings: {settings.cameras} cameras, main {describe(settings.main)}, "
        + (f"sub {describe(settings.sub)}" if settings.sub else "no sub stream")
        + f" = {n} recorded streams; {settings.warmup:g} s warm-up, {settings.seconds:g} s "
        f"measured per recorder; files on {settings.volume_dir} "
        f"({filesystem(workdir)})",
        "",
        f"{'':34}{'nvrd':>12}{ref.what:>14}{'nvrd/ffmpeg':>14}",
    ]

    def row(label: str, x: float | None, y: float | None, digits: int = 2,
            with_ratio: bool = True) -> None:
        r = ratio(x, y) if with_ratio and x is not None and y is not None else None
        lines.append(f"{label:34}{fmt(x, digits):>12}{fmt(y, digits):>14}"
                     f"{fmt(r) if with_ratio else '':>14}")

    row("processes", a.processes, ref.processes, 0, with_ratio=False)
    row("CPU, % of one core", a.cpu.recorder_pct, ref.cpu.recorder_pct, 1)
    row("CPU per stream, % of one core", a.cpu.recorder_pct / n, ref.cpu.recorder_pct / n)
    row("RSS, MiB", a.memory.rss_bytes / MIB, ref.memory.rss_bytes / MIB, 1)
    row("RSS per stream, MiB", a.memory.rss_bytes / MIB / n, ref.memory.rss_bytes / MIB / n)
    row("PSS, MiB (shared pages once)", a.memory.pss_bytes / MIB, ref.memory.pss_bytes / MIB, 1)
    # ffmpeg's MP4 muxer writes in chunks of about 256 KB per file: a coarse figure
    row("written, MB/s", a.bytes_per_s / 1e6, ref.bytes_per_s / 1e6)
    row("camera server CPU, % of one core", a.cpu.camera_server_pct,
        ref.cpu.camera_server_pct, 1, with_ratio=False)
    row(f"machine busy, % of {cores * 100}", a.cpu.machine_pct, ref.cpu.machine_pct, 1,
        with_ratio=False)
    row("  of which steal", a.cpu.steal_pct, ref.cpu.steal_pct, 1, with_ratio=False)
    row("  of which other processes", a.cpu.others_pct, ref.cpu.others_pct, 1,
        with_ratio=False)
    row("this script, % of one core", a.cpu.bench_pct, ref.cpu.bench_pct, 1,
        with_ratio=False)
    expected = n * settings.main.bitrate_kbps * 125 if settings.sub is None else None
    lines += [
        "",
        f"nvrd CPU per stream / ffmpeg CPU per stream: "
        f"{fmt(ratio(a.cpu.recorder_pct, ref.cpu.recorder_pct))} (lower is better)",
        f"nvrd RSS / ffmpeg RSS: {fmt(ratio(a.memory.rss_bytes, ref.memory.rss_bytes))}"
        f"  (PSS: {fmt(ratio(a.memory.pss_bytes, ref.memory.pss_bytes))})",
    ]
    if expected:
        lines.append(f"configured bitrate: {expected / 1e6:.2f} MB/s in total")
    for result in (a, ref):
        if result.cpu.machine_pct > SATURATED * cores * 100:
            lines.append(f"WARNING: the machine was saturated during the {result.what} "
                         f"window ({result.cpu.machine_pct:.0f} % of {cores * 100} %): the "
                         "figures include contention with the camera server"
                         + (f" and other processes ({result.cpu.others_pct:.0f} %)"
                            if result.cpu.others_pct > 10 else ""))
    p = nvrd.packets
    settled = (f"APPROXIMATE for {len(p.unsettled)} streams the brackets could not settle: "
               f"{', '.join(p.unsettled[:8])}" if p.unsettled
               else "exact: each stream's window bracketed by pausing its camera")
    lines += [
        "",
        f"nvrd packets over {p.window_s:.1f} s ({n} streams; {settled}):",
        f"  sent by the cameras (= received over TCP) {p.sent:>10}",
        f"  received, nvrd's counter (±1 s/stream)    {p.received:>10}",
        f"  written (muxed into a segment)            {p.written:>10}",
        f"  dropped (bad timestamps)                  {p.dropped:>10}",
        f"  lost, counted by nvrd                     {p.lost_counted:>10}",
        f"  lost, not counted (sent-written-counted)  {p.lost_uncounted:>10}",
        f"  cannot keep up                            {p.cannot_keep_up:>10}",
        f"  reconnects                                {p.reconnects:>10}",
        f"  segments closed                           {p.segments:>10}",
        "whole run, after nvrd stopped:",
        f"  packets nvrd counted as written           {p.recorded_total:>10}",
        f"  samples in its segment files              {fmt(p.on_disk, 0):>10}",
        f"  segments it never closed itself           {fmt(p.never_closed, 0):>10}",
        f"verdict: {p.verdict}",
    ]
    if p.worst_streams:
        lines.append(f"  most lost in the window: {', '.join(p.worst_streams)}")
    v = nvrd.volume
    if v is not None:
        lines.append(f"volume {v.name}: {v.state}, write latency p50 "
                     f"{fmt(v.write_latency_ms_p50, 1)} ms, p99 {fmt(v.write_latency_ms_p99, 1)}"
                     " ms (enqueue to written, its last 4096 fragments)")
    lines.append(f"nvrd: all streams recording {nvrd.started_s:.1f} s after launch; exit "
                 f"status {nvrd.exit_status}; log {nvrd.log_path}:")
    lines += [f"  {line}" for line in summarize_log(nvrd.log_problems)]
    lines += [f"note: {note}" for note in (*a.notes, *ref.notes)]
    return "\n".join(lines)


def report_json(settings: Settings, info: dict[str, Any], workdir: Path,
                nvrd: NvrdResult, ref: RecorderResult) -> str:
    n = nvrd.recorder.streams
    doc = {
        "machine": info,
        "settings": {**asdict(settings), "volume_dir": str(settings.volume_dir),
                     "clip_cache": str(settings.clip_cache), "streams": n,
                     "filesystem": filesystem(workdir)},
        "nvrd": {**asdict(nvrd), "cpu_per_stream_pct": nvrd.recorder.cpu.recorder_pct / n,
                 "rss_per_stream_bytes": nvrd.recorder.memory.rss_bytes / n,
                 "bytes_per_s": nvrd.recorder.bytes_per_s,
                 "verdict": nvrd.packets.verdict},
        "ffmpeg": {**asdict(ref), "cpu_per_stream_pct": ref.cpu.recorder_pct / n,
                   "rss_per_stream_bytes": ref.memory.rss_bytes / n,
                   "bytes_per_s": ref.bytes_per_s},
        "cpu_ratio": ratio(nvrd.recorder.cpu.recorder_pct, ref.cpu.recorder_pct),
        "rss_ratio": ratio(nvrd.recorder.memory.rss_bytes, ref.memory.rss_bytes),
        "pss_ratio": ratio(nvrd.recorder.memory.pss_bytes, ref.memory.pss_bytes),
    }
    return json.dumps(doc, indent=2, default=str)


# --- main ---------------------------------------------------------------------------------


def progress(message: str) -> None:
    """Progress goes to stderr: stdout carries only the results."""
    print(message, file=sys.stderr, flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(settings: Settings, stack: ExitStack) -> str:
    if shutil.which(FFMPEG) is None:
        raise BenchError("ffmpeg is not installed (make bench-setup)")
    info = machine()
    settings.volume_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="nvrd-bench-", dir=settings.volume_dir))
    if settings.keep:
        stack.callback(progress, f"kept {workdir}")
    else:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)

    cameras = cameras_from_count(settings.cameras, main=settings.main, sub=settings.sub)
    streams = [Stream(cam.name, channel, name)
               for channel, cam in enumerate(cameras, start=1) for name in cam.streams]
    progress(f"starting {settings.cameras} virtual cameras (clips are encoded once into "
             f"{settings.clip_cache}; the first run of a new spec takes a while)")
    server = stack.enter_context(FakeCamServer(cameras, clip_cache=settings.clip_cache))
    nvrd = run_nvrd(settings, server, streams, workdir / "nvrd")
    ref = run_ffmpeg(settings, server, streams, workdir / "ffmpeg")
    render = report_json if settings.json else report_text
    return render(settings, info, workdir, nvrd, ref)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    # SIGTERM (timeout, a CI runner) cleans up like Ctrl-C
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with ExitStack() as stack:
            text = run(settings, stack)
    except KeyboardInterrupt:
        progress("bench: interrupted (cameras, recorders and temporary files cleaned up)")
        return 130
    except BenchError as exc:
        progress(f"bench: {exc}")
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
