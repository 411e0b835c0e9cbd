"""What PyAV's read timeout costs when many RTSP streams are read in one process.

``av.open(url, timeout=(open, read))`` installs an interrupt callback that FFmpeg calls
on every socket read; with a read timeout set, PyAV's callback takes the GIL each time
to read the clock. One stream does not notice; dozens of reader threads contend for the
GIL hundreds of times per second each. This measures the demux-only CPU of N streams
in one process with the read timeout (how nvrd reads today: it is how a stalled stream
is detected) against the same streams without it (the reference), in the same run.

    python -m tools.bench.demux --cameras 64 --seconds 20
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from dataclasses import dataclass

import av

from tools.fakecam.control import (
    FakeCamServer,
    StreamSpec,
    cameras_from_count,
    default_clip_cache,
)


@dataclass(frozen=True, slots=True)
class Result:
    label: str
    cpu_percent: float
    packets_per_second: float


def measure(urls: list[str], read_timeout: float | None, warmup: float, seconds: float,
            label: str) -> Result:
    """Demux every URL in its own thread (as nvrd's readers do) and measure this
    process's CPU over ``seconds`` after ``warmup``."""
    stop = threading.Event()
    counts = [0] * len(urls)

    def read(index: int, url: str) -> None:
        with av.open(url, options={"rtsp_transport": "tcp"},
                     timeout=(10.0, read_timeout)) as container:
            for _packet in container.demux(container.streams.video[0]):
                counts[index] += 1
                if stop.is_set():
                    return

    threads = [threading.Thread(target=read, args=(i, url), daemon=True)
               for i, url in enumerate(urls)]
    for thread in threads:
        thread.start()
    time.sleep(warmup)
    cpu0, wall0, packets0 = time.process_time(), time.monotonic(), sum(counts)
    time.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    packets = sum(counts) - packets0
    stop.set()
    for thread in threads:
        thread.join(timeout=15)
    return Result(label, 100 * cpu / wall, packets / wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--read-timeout", type=float, default=5.0,
                        help="PyAV read timeout of the measured run (s)")
    args = parser.parse_args()
    spec = StreamSpec(1920, 1080, 25, 50, 4000)
    with FakeCamServer(cameras_from_count(args.cameras, main=spec, sub=None),
                       clip_cache=default_clip_cache()) as cams:
        urls = [cams.url(f"cam{n}", "main") for n in range(1, args.cameras + 1)]
        reference = measure(urls, None, args.warmup, args.seconds, "no read timeout")
        measured = measure(urls, args.read_timeout, args.warmup, args.seconds,
                           f"read timeout {args.read_timeout:g} s")
    print(f"machine: {os.cpu_count()} CPUs; {args.cameras} streams 1920x1080@25 GOP 50, "
          f"{args.seconds:g} s measured after {args.warmup:g} s")
    print(f"{'':28}{'CPU % of one core':>20}{'per stream':>12}{'packets/s':>12}")
    for result in (reference, measured):
        print(f"{result.label:28}{result.cpu_percent:20.1f}"
              f"{result.cpu_percent / args.cameras:12.3f}{result.packets_per_second:12.0f}")
    ratio = measured.cpu_percent / reference.cpu_percent if reference.cpu_percent else 0
    print(f"read timeout / no read timeout: {ratio:.2f}")


if __name__ == "__main__":
    main()
