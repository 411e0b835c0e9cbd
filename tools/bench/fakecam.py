"""How much CPU the virtual cameras cost: N cameras, one PyAV client per stream.

    .venv/bin/python -m tools.bench.fakecam [--cameras 64] [--seconds 20]

Prints the server process's CPU (percent of one core, all its threads) with no clients and
with every stream pulled, the client process's own CPU for comparison (the clients run in
this process, so on a small machine they compete with the server), and the packets each
stream delivered against the configured frame rate.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import psutil

from tools.fakecam.control import FakeCamServer, cameras_from_count

ROOT = Path(__file__).resolve().parents[2]
WARMUP_S = 3.0
OPEN_OPTIONS = {"rtsp_transport": "tcp", "analyzeduration": "0", "probesize": "32"}


class StreamClient(threading.Thread):
    """Pulls one stream without decoding (as the recorder does) and counts video packets."""

    def __init__(self, url: str, fps: int, stop: threading.Event) -> None:
        super().__init__(name=f"client {url.rsplit('/', 2)[-2:]}", daemon=True)
        self.url, self.fps, self._stop_event = url, fps, stop
        self.packets = 0
        self.error: str | None = None
        self.playing = threading.Event()

    def run(self) -> None:
        try:
            with av.open(self.url, options=OPEN_OPTIONS, timeout=(30.0, 10.0)) as container:
                video = container.streams.video[0]
                for packet in container.demux(video):
                    if packet.pts is not None:
                        self.packets += 1
                        self.playing.set()
                    if self._stop_event.is_set():
                        break
        except av.error.FFmpegError as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self.playing.set()


@dataclass(frozen=True, slots=True)
class CpuSample:
    server_pct: float
    client_pct: float
    system_pct: float


def measure_cpu(server: psutil.Process, seconds: float) -> CpuSample:
    """CPU over a window, as percent of one core (a 2-core machine tops out at 200)."""
    me = psutil.Process()
    s0, c0, t0 = _busy(server), _busy(me), time.monotonic()
    psutil.cpu_percent(None)
    time.sleep(seconds)
    wall = time.monotonic() - t0
    system = psutil.cpu_percent(None) * psutil.cpu_count()
    return CpuSample(100 * (_busy(server) - s0) / wall, 100 * (_busy(me) - c0) / wall, system)


def _busy(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def start_clients(server: FakeCamServer, stop: threading.Event) -> list[StreamClient]:
    clients = [StreamClient(server.url(cam.name, name), spec.fps, stop)
               for cam in server.cameras.values() for name, spec in cam.streams.items()]
    with ThreadPoolExecutor(8) as pool:  # opening takes a round trip or three each
        list(pool.map(lambda c: c.start(), clients))
    deadline = time.monotonic() + 60
    for client in clients:
        if not client.playing.wait(max(0.0, deadline - time.monotonic())):
            raise SystemExit(f"bench: {client.name} got no packet in 60 s")
    return clients


def pushed(server: FakeCamServer) -> tuple[float, list[int]]:
    """When (mid-way through asking) and how many video packets the server has pushed per
    stream, in ``start_clients`` order."""
    started = time.monotonic()
    counts = [server.stats(cam.name)[name]["packets"]["video"]
              for cam in server.cameras.values() for name in cam.streams]
    return (started + time.monotonic()) / 2, counts


def report_rates(what: str, clients: list[StreamClient], counts: list[int],
                 seconds: float) -> None:
    """``counts``: video packets per stream during the measured window."""
    ratios = [n / (c.fps * seconds) for c, n in zip(clients, counts, strict=True)]
    failed = [c for c in clients if c.error]
    print(f"packets {what} / expected, per stream ({len(clients)} streams): "
          f"min {min(ratios):.3f}  median {statistics.median(ratios):.3f}  "
          f"max {max(ratios):.3f}")
    for client in failed:
        print(f"  {client.name}: {client.error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clip-cache", type=Path, default=ROOT / "var" / "clips")
    args = parser.parse_args(argv)

    cameras = cameras_from_count(args.cameras)  # main 1280x720@25 2 Mb/s, sub 640x360@25
    main_spec, sub_spec = cameras[0].main, cameras[0].sub
    print(f"{args.cameras} cameras: main {main_spec}, sub {sub_spec}")
    started = time.monotonic()
    with FakeCamServer(cameras, clip_cache=args.clip_cache) as server:
        print(f"clips ready and server up in {time.monotonic() - started:.1f} s "
              f"(encoding happens only when {args.clip_cache} lacks the clips)")
        proc = psutil.Process(server.pid)
        idle = measure_cpu(proc, 5.0)
        print(f"no clients: server {idle.server_pct:.1f} %")
        stop = threading.Event()
        clients = start_clients(server, stop)
        time.sleep(WARMUP_S)  # let every client drain what it buffered while connecting
        # Each series gets its own window: asking the server for 64 stats takes a moment.
        received_at, received_before = time.monotonic(), [c.packets for c in clients]
        pushed_at, pushed_before = pushed(server)
        busy = measure_cpu(proc, args.seconds)
        received_window = time.monotonic() - received_at
        counts = [c.packets - b for c, b in zip(clients, received_before, strict=True)]
        pushed_at_end, pushed_after = pushed(server)
        pushes = [a - b for a, b in zip(pushed_after, pushed_before, strict=True)]
        stop.set()
        print(f"{len(clients)} clients for {args.seconds:g} s: server {busy.server_pct:.1f} % "
              f"of one core, clients (this process) {busy.client_pct:.1f} %, "
              f"whole machine {busy.system_pct:.1f} % of {psutil.cpu_count() * 100} %")
        report_rates("received by the clients", clients, counts, received_window)
        report_rates("pushed by the server", clients, pushes, pushed_at_end - pushed_at)
    return 0


if __name__ == "__main__":
    sys.exit(main())
