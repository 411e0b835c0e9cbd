"""Alarm-input edge to relay driven, through the HAL, against the bare fd path.

    .venv/bin/python -m tools.bench.alarm [--edges 1000] [--debounced-edges 200]
                                          [--daemon-edges 1000] [--segment-events 10]
                                          [--cameras 16] [--board config/boards/sim.toml]
                                          [--json]

On the simulated gpiochip of the board profile (``hal/sim/gpio.py``: a real eventfd per
request, woken from another thread as the kernel wakes a reader on an interrupt), a
"hardware" thread toggles an alarm input and waits until the relay line is driven, then
pauses ``--gap-ms`` (alarms do not come back to back) and toggles again. Each latency is
the relay change's timestamp minus the edge's timestamp, both CLOCK_MONOTONIC ns taken by
the sim chip, so it covers: eventfd wake-up → event loop → ``AlarmInputs`` (read, debounce,
NO/NC) → ``on_change`` → ``AlarmOutputs.set_relay`` → the chip records the set.

Runs, all in this process, on the same loop:

A. the HAL with the input's debounce set to 0;
B. the reference: the same fd wake-up without the HAL, an ``add_reader`` callback that
   reads the events and sets the output line directly;
C. the HAL with the board's debounce for that input; in the sim it is the software
   debounce, which holds every change for its window (the price of rejecting glitches),
   so it is shown separately, with the window subtracted.

D. the daemon end to end (``alarm_daemon.py``): an in-process ``Application`` on the sim
   board with ``--cameras`` virtual cameras recording and a linkage rule "input → relay,
   record channel 1"; edge → relay driven over ``--daemon-edges``, and edge → the event
   segment opened over ``--segment-events`` (each waits out channel 1's post-record, so
   they are few; the segment opens at the camera's next packet, so that figure is bounded
   by its frame interval). ``--daemon-edges 0`` skips D.

A and B alternate in rounds after a warm-up, so drift on a shared machine hits both. The
ratio A / B (p50, p99) is what the HAL's layers cost over the bare path. D's relay rounds
alternate with B's path too, on a chip of its own under the same load; D / B (the idle B
above) is the whole cost, load included, and D / that reference the daemon's layers
alone. The goal for D's edge → relay is p99 under 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hal.board import AlarmInput, RelayOutput, load_board_profile
from hal.gpio import AlarmInputEvent, AlarmInputs, AlarmOutputs, InputLine, OutputLine
from hal.sim.gpio import OutputChange, SimGpioBackend, SimGpioChip, SimGpioRegistry
from tools.bench.alarm_daemon import DaemonResults, DaemonSettings, run_daemon_bench
from tools.fakecam.control import DEFAULT_MAIN, StreamSpec, default_clip_cache
from tools.fakecam.spec import parse_video_mode

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BOARD = ROOT / "config" / "boards" / "sim.toml"
EDGE_TIMEOUT_S = 2.0
"""A relay not driven this long after an edge counts as missed (the bench then fails)."""
WARMUP_EDGES = 50
ROUNDS = 5
GOAL_P99_US = 20_000
"""Edge → relay through the daemon, at the 99th percentile."""
DEFAULT_WORK_DIR = Path("/var/tmp")
"""Run D's data directory and volume: a disk-backed file system, as the record bench."""


@dataclass(frozen=True, slots=True)
class Figures:
    """Latencies of one run, in µs."""

    edges: int
    driven: int
    p50_us: float
    p99_us: float
    max_us: float


@dataclass(frozen=True, slots=True)
class Settings:
    edges: int
    debounced_edges: int
    gap_s: float
    board: Path
    input_number: int
    relay_number: int
    json: bool
    daemon_edges: int
    segment_events: int
    cameras: int
    main: StreamSpec
    work_dir: Path
    clip_cache: Path
    keep: bool


def parse_args(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edges", type=int, default=1000,
                        help="edges measured for the HAL and for the reference (default 1000)")
    parser.add_argument("--debounced-edges", type=int, default=200,
                        help="edges with the board's debounce (each costs the window; "
                             "default 200, 0 to skip)")
    parser.add_argument("--gap-ms", type=float, default=1.0,
                        help="pause after the relay is driven before the next edge")
    parser.add_argument("--board", type=Path, default=DEFAULT_BOARD,
                        help="board profile with a sim GPIO backend (default sim.toml)")
    parser.add_argument("--input", type=int, default=1, help="alarm input number")
    parser.add_argument("--relay", type=int, default=1, help="relay number")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    daemon = parser.add_argument_group("run D, the daemon end to end")
    daemon.add_argument("--daemon-edges", type=int, default=1000,
                        help="edge -> relay cycles through the daemon (default 1000; "
                             "0 skips run D)")
    daemon.add_argument("--segment-events", type=int, default=10,
                        help="alarms that start channel 1's recording, each after its "
                             "post-record (about 11 s each; default 10)")
    daemon.add_argument("--cameras", type=int, default=16,
                        help="virtual cameras recording meanwhile (default 16)")
    daemon.add_argument("--mode", default=f"{DEFAULT_MAIN.width}x{DEFAULT_MAIN.height}"
                                          f"@{DEFAULT_MAIN.fps}",
                        help="their main stream, WxH@fps (default %(default)s, "
                             f"GOP {DEFAULT_MAIN.gop}, {DEFAULT_MAIN.bitrate_kbps} kbit/s)")
    daemon.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR,
                        help="where the daemon's temporary data directory and volume go "
                             "(default /var/tmp)")
    daemon.add_argument("--clip-cache", type=Path, default=default_clip_cache())
    daemon.add_argument("--keep", action="store_true",
                        help="keep the daemon's data directory, volume and log")
    args = parser.parse_args(argv)
    if args.edges < ROUNDS or args.debounced_edges < 0 or args.gap_ms < 0:
        parser.error(f"need --edges >= {ROUNDS}, --debounced-edges >= 0, --gap-ms >= 0")
    if args.daemon_edges and (args.daemon_edges < ROUNDS or args.cameras < 1
                              or args.segment_events < 0):
        parser.error(f"need --daemon-edges 0 or >= {ROUNDS}, --cameras >= 1, "
                     "--segment-events >= 0")
    try:
        width, height, fps = parse_video_mode(args.mode)
        main = StreamSpec(width, height, fps, DEFAULT_MAIN.gop, DEFAULT_MAIN.bitrate_kbps)
    except ValueError as exc:
        parser.error(str(exc))
    return Settings(args.edges, args.debounced_edges, args.gap_ms / 1000, args.board,
                    args.input, args.relay, args.json, args.daemon_edges,
                    args.segment_events, args.cameras, main, args.work_dir,
                    args.clip_cache, args.keep)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def figures(latencies_ns: list[int], edges: int) -> Figures:
    values = sorted(x / 1000 for x in latencies_ns)
    if not values:
        return Figures(edges, 0, math.nan, math.nan, math.nan)
    return Figures(edges, len(values), percentile(values, 0.5), percentile(values, 0.99),
                   values[-1])


class Hardware:
    """The "outside world" thread: toggles the input, waits for the relay to follow."""

    def __init__(self, chip: SimGpioChip, input_line: int, relay_line: int,
                 gap_s: float) -> None:
        self._chip = chip
        self._input = input_line
        self._relay = relay_line
        self._gap_s = gap_s
        self._driven = threading.Event()
        self._last: OutputChange | None = None
        self._closed = True  # the detector's contact; the input starts open
        chip.add_output_listener(self._on_output)

    def _on_output(self, change: OutputChange) -> None:
        if change.offset == self._relay and not change.released:
            self._last = change
            self._driven.set()

    def run(self, edges: int) -> list[int]:
        """Latencies (ns) of the edges whose relay followed; a missed one is left out."""
        latencies: list[int] = []
        for _ in range(edges):
            self._closed = not self._closed
            self._driven.clear()
            # Active-low input with a pull-up: a closed contact pulls it low.
            edge_ns = self._chip.set_input_level(self._input, False if self._closed else None)
            if edge_ns is None:
                raise RuntimeError("the input produced no edge: is it requested?")
            if self._driven.wait(EDGE_TIMEOUT_S) and self._last is not None \
                    and self._last.high == self._closed:
                latencies.append(self._last.timestamp_ns - edge_ns)
            if self._gap_s:
                time.sleep(self._gap_s)
        return latencies

    def release_contact(self) -> None:
        """Back to open between runs, with nothing listening to the edge."""
        self._closed = False
        self._chip.set_input_level(self._input, None)


async def run_hal(backend: SimGpioBackend, hardware: Hardware, alarm: AlarmInput,
                  relay: RelayOutput, edges: int) -> list[int]:
    with AlarmOutputs([relay], None, backend, consumer="bench") as outputs:
        def on_change(event: AlarmInputEvent) -> None:
            outputs.set_relay(relay.number, event.active)

        async with AlarmInputs([alarm], backend, on_change, consumer="bench"):
            return await asyncio.to_thread(hardware.run, edges)


async def run_reference(backend: SimGpioBackend, hardware: Hardware, alarm: AlarmInput,
                        relay: RelayOutput, edges: int) -> list[int]:
    """The fd wake-up path alone: add_reader → read events → set the output line."""
    loop = asyncio.get_running_loop()
    inputs = backend.request_inputs(alarm.chip, [InputLine(alarm.line, alarm.active_low,
                                                           alarm.bias)], consumer="bench")
    output = backend.request_outputs(relay.chip, [OutputLine(relay.line, relay.active_low)],
                                     consumer="bench")
    line = relay.line

    def on_readable() -> None:
        for event in inputs.read_edge_events():
            output.set_value(line, event.asserted)

    loop.add_reader(inputs.fd, on_readable)
    try:
        return await asyncio.to_thread(hardware.run, edges)
    finally:
        loop.remove_reader(inputs.fd)
        output.set_value(line, False)
        inputs.release()
        output.release()


async def measure(settings: Settings) -> dict[str, object]:
    board = load_board_profile(settings.board)
    if board.gpio.backend != "sim":
        raise SystemExit(f"{settings.board}: the benchmark needs a board with the sim GPIO "
                         f"backend, not {board.gpio.backend!r}")
    alarm = board.gpio.alarm_input(settings.input_number)
    relay = board.gpio.relay(settings.relay_number)
    # The hardware thread closes a contact by pulling the line low, and reads an energised
    # relay as a high line: the vendor's wiring (active-low NO input, active-high relay).
    if (alarm is None or relay is None or alarm.contact != "NO" or not alarm.active_low
            or alarm.bias != "pull-up" or relay.active_low):
        raise SystemExit(f"{settings.board}: needs alarm input {settings.input_number} NO, "
                         f"active low with a pull-up, and relay {settings.relay_number} "
                         "active high")
    backend = SimGpioBackend(SimGpioRegistry.for_section(board.gpio))
    chip = backend.registry.chip(alarm.chip)
    if relay.chip != alarm.chip:
        raise SystemExit("the benchmark needs the input and the relay on one chip")
    hardware = Hardware(chip, alarm.line, relay.line, settings.gap_s)
    undebounced = alarm.model_copy(update={"debounce_ms": 0})

    hal: list[int] = []
    ref: list[int] = []
    for edges, keep in ((WARMUP_EDGES, False), *((settings.edges // ROUNDS, True),) * ROUNDS):
        for out, run in ((hal, run_hal), (ref, run_reference)):
            hardware.release_contact()
            latencies = await run(backend, hardware, undebounced, relay, edges)
            if keep:
                out.extend(latencies)
    measured = settings.edges // ROUNDS * ROUNDS
    results: dict[str, object] = {
        "hal": asdict(figures(hal, measured)),
        "reference": asdict(figures(ref, measured)),
    }
    if settings.debounced_edges and alarm.debounce_ms:
        hardware.release_contact()
        debounced = await run_hal(backend, hardware, alarm, relay, settings.debounced_edges)
        results["debounced"] = {**asdict(figures(debounced, settings.debounced_edges)),
                                "window_ms": alarm.debounce_ms,
                                "over_window": asdict(figures(
                                    [x - alarm.debounce_ms * 1_000_000 for x in debounced],
                                    settings.debounced_edges))}
    if settings.daemon_edges:
        async def reference(edges: int) -> list[int]:
            hardware.release_contact()
            return await run_reference(backend, hardware, undebounced, relay, edges)

        daemon = await run_daemon_bench(DaemonSettings(
            cameras=settings.cameras, edges=settings.daemon_edges,
            segment_events=settings.segment_events, rounds=ROUNDS,
            warmup_edges=WARMUP_EDGES, gap_s=settings.gap_s, main=settings.main,
            board=settings.board, alarm=alarm, relay=relay, work_dir=settings.work_dir,
            clip_cache=settings.clip_cache, keep=settings.keep), reference, progress)
        results["daemon"] = daemon_figures(daemon, settings)
    results["setup"] = {
        "board": board.name, "input": alarm.number, "relay": relay.number,
        "chip": alarm.chip, "input_line": alarm.line, "relay_line": relay.line,
        "gap_ms": settings.gap_s * 1000, "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    return results


def daemon_figures(daemon: DaemonResults, settings: Settings) -> dict[str, object]:
    events = daemon.segment_events
    main = settings.main
    return {
        "relay": asdict(figures(daemon.relay_ns, daemon.relay_edges)),
        "reference_under_load": asdict(figures(daemon.reference_ns,
                                               daemon.reference_edges)),
        "segment": asdict(figures(daemon.segment_ns, events)),
        "segment_relay": asdict(figures(daemon.segment_relay_ns, events)),
        "latch_over": asdict(figures(daemon.latch_over_ns, events)),
        "cameras": settings.cameras, "mode": f"{main.width}x{main.height}@{main.fps}",
        "gop": main.gop, "bitrate_kbps": main.bitrate_kbps,
        "frame_interval_ms": 1000 / main.fps,
        "continuous_channels": daemon.continuous_channels,
        "recording_at_end": daemon.recording_at_end, "packets_lost": daemon.packets_lost,
        "cpu_percent": daemon.cpu, "errors": daemon.errors,
        "elapsed_s": round(daemon.elapsed_s, 1),
    }


def progress(message: str) -> None:
    """What the bench is doing, on stderr (stdout has the results)."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def render(results: dict[str, object]) -> str:
    setup = results["setup"]
    assert isinstance(setup, dict)
    hal = Figures(**results["hal"])  # type: ignore[arg-type]
    ref = Figures(**results["reference"])  # type: ignore[arg-type]
    lines = [
        f"alarm input {setup['input']} ({setup['chip']} line {setup['input_line']}) -> relay "
        f"{setup['relay']} (line {setup['relay_line']}), sim gpiochip, board "
        f"{setup['board']}, {setup['gap_ms']:g} ms between edges",
        f"{'edge -> relay driven, us':<44}{'edges':>7}{'p50':>10}{'p99':>10}{'max':>10}",
        row("HAL, debounce 0", hal),
        row("reference: add_reader -> set_value", ref),
    ]
    debounced = results.get("debounced")
    if isinstance(debounced, dict):
        window = debounced["window_ms"]
        lines.append(row(f"HAL, board debounce {window} ms (software)",
                         Figures(**{k: v for k, v in debounced.items()
                                    if k not in ("window_ms", "over_window")})))
        lines.append(row("  minus the debounce window", Figures(**debounced["over_window"])))
    lines.append(f"HAL / reference: p50 {ratio(hal.p50_us, ref.p50_us)}, "
                 f"p99 {ratio(hal.p99_us, ref.p99_us)}")
    counts = [("HAL", hal), ("reference", ref)]
    if isinstance(debounced, dict):
        counts.append(("debounced", Figures(**{k: v for k, v in debounced.items()
                                               if k not in ("window_ms", "over_window")})))
    daemon = results.get("daemon")
    if isinstance(daemon, dict):
        lines.extend(render_daemon(daemon, ref))
        counts += [("daemon", Figures(**daemon["relay"])),
                   ("daemon reference", Figures(**daemon["reference_under_load"])),
                   ("segment events", Figures(**daemon["segment_relay"]))]
    all_driven = all(f.driven == f.edges for _, f in counts)
    lines.append(f"every edge drove the relay: {'yes' if all_driven else 'NO'} ("
                 + ", ".join(f"{name} {f.driven}/{f.edges}" for name, f in counts) + ")")
    lines.append(f"machine: {setup['cpus']} CPUs, Python {setup['python']}")
    return "\n".join(lines)


def render_daemon(daemon: dict[str, Any], idle_ref: Figures) -> list[str]:
    relay = Figures(**daemon["relay"])
    ref = Figures(**daemon["reference_under_load"])
    segment = Figures(**daemon["segment"])
    cpu = daemon["cpu_percent"]
    cameras = daemon["cameras"]
    others = {1: "no other channel", 2: "channel 2"}.get(cameras, f"channels 2-{cameras}")
    lines = [
        f"D. the daemon end to end: {cameras} cameras ({daemon['mode']}, GOP "
        f"{daemon['gop']}, {daemon['bitrate_kbps']} kbit/s), {others} recording all the "
        "time, channel 1 on alarms",
        f"{'daemon end to end, us':<44}{'edges':>7}{'p50':>10}{'p99':>10}{'max':>10}",
        row("edge -> relay driven", relay),
        row("reference under the same load", ref),
        row("edge -> relay, channel 1 idle", Figures(**daemon["segment_relay"])),
        row("edge -> alarm segment opened", segment),
        f"  (it opens at the camera's next packet: frame interval "
        f"{daemon['frame_interval_ms']:g} ms)",
        row("contact open -> relay off, minus 1 s latch", Figures(**daemon["latch_over"])),
        f"daemon / reference (B): p50 {ratio(relay.p50_us, idle_ref.p50_us)}, "
        f"p99 {ratio(relay.p99_us, idle_ref.p99_us)}; daemon / reference under load: "
        f"p50 {ratio(relay.p50_us, ref.p50_us)}, p99 {ratio(relay.p99_us, ref.p99_us)}",
        f"goal edge -> relay p99 under {GOAL_P99_US / 1000:g} ms: "
        + ("-" if math.isnan(relay.p99_us) else
           f"{'met' if relay.p99_us < GOAL_P99_US else 'NOT met'} "
           f"({relay.p99_us / 1000:.2f} ms)"),
        f"recording meanwhile: {daemon['recording_at_end']}/{daemon['continuous_channels']} "
        f"continuous channels recording at the end, {daemon['packets_lost']} packets lost; "
        f"CPU (% of one core) daemon {cpu.get('daemon', math.nan):.0f}, cameras "
        f"{cpu.get('cameras', math.nan):.0f}, machine {cpu.get('machine', math.nan):.0f} "
        f"of {100 * cpu.get('cores', math.nan):.0f}; run D took {daemon['elapsed_s']:g} s",
    ]
    opened = Figures(**daemon["segment"])
    if opened.edges:
        lines.append(f"every alarm opened its segment: "
                     f"{'yes' if opened.driven == opened.edges else 'NO'} "
                     f"({opened.driven}/{opened.edges})")
    lines += [f"daemon log: {error}" for error in daemon["errors"]]
    return lines


def row(label: str, f: Figures) -> str:
    return f"{label:<44}{f.edges:>7}{f.p50_us:>10.1f}{f.p99_us:>10.1f}{f.max_us:>10.1f}"


def ratio(a: float, b: float) -> str:
    return "-" if not b or math.isnan(a) or math.isnan(b) else f"{a / b:.2f}"


def all_driven(results: dict[str, object]) -> bool:
    runs = [results["hal"], results["reference"], results.get("debounced")]
    daemon = results.get("daemon")
    if isinstance(daemon, dict):
        runs += [daemon[name] for name in ("relay", "reference_under_load", "segment",
                                           "segment_relay", "latch_over")]
    return all(r["driven"] == r["edges"] for r in runs if isinstance(r, dict))


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    results = asyncio.run(measure(settings))
    print(json.dumps(results, indent=2) if settings.json else render(results))
    return 0 if all_driven(results) else 1


if __name__ == "__main__":
    sys.exit(main())
