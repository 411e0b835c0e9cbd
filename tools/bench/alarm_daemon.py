"""Run D of the alarm bench: the whole daemon, end to end, while its cameras record.

An in-process ``Application`` on the simulated board (its own data directory and a
prepared volume in a temporary directory), ``cameras`` virtual cameras (tools/fakecam,
main stream only) and one linkage rule::

    [[events.rules]]            # alarm input N -> relay M, event recording on channel 1
    name = "bench"  kind = "alarm_input"  source = "alarm-in:N"  anti_dither_seconds = 0
    relays = [M]  record = [1]  mqtt = false  webhook = false  log = false

Channel 1 records on alarms only (a whole-day schedule of type "alarm", 5 s pre-record,
10 s post-record: the least the settings allow); every other channel records all the
time, so every camera records while the edges are measured. The input's debounce is set
to 0 (run C shows what a debounce window adds: all of it) and the relay's latch to 1 s.

A "hardware" thread (the outside world: ``Rig``) closes and opens the alarm contact on
the daemon's own simulated gpiochip and watches the relay line; latencies come from the
chip's CLOCK_MONOTONIC timestamps, as in runs A-C. The path measured is the daemon's:
eventfd → loop → ``AlarmInputs`` → ``AlarmIO`` (log, audit) → event source → event bus
(event log, live feed) → ``LinkageEngine`` → ``AlarmIO.set_relay`` → the line.

Two kinds of cycle, because the recorder's post-record (10 s at least) makes the event
segment's cycle slow:

- relay cycle (``daemon_edges`` of them, after a warm-up): close the contact, wait for the
  relay (measured: edge → relay on), open the contact; once the bus has handed the
  input's stop to linkage (the incident has ended), a bus subscriber presses the manual's
  "Alarm Reset" (``LinkageEngine.reset_outputs``, as ``POST /alarms/outputs/reset``
  does); wait for the relay to drop and for the loop to have run what that stop queued
  (``_drain``: two round trips through its queue), pause ``gap``. The reset ends the 1 s
  latch at once, so each edge opens a new incident that switches the relay from off, and
  1000 edges take seconds, not 17 minutes of latches; pressing it only after the stop was
  handled, and draining, keeps the next edge from landing in the middle of the last
  one's work (alarms do not come back to back). Channel 1 keeps recording
  through these (each edge is a new alarm within the post-record). They alternate in
  rounds with the bare fd reference (run B's path) on a chip of its own, on the same
  loop under the same load, so "daemon / reference under load" is what the daemon's
  layers cost over the bare path.
- segment cycle (``segment_events`` of them): wait until channel 1 has stopped recording
  (the post-record ran out and the segment was closed at a keyframe), close the contact,
  measure edge → relay on and edge → the segmenter opening the alarm segment
  (``StreamSegmenter.opened_hook``; it opens at the first packet after the recorder asks,
  writing the pre-record first, so this is bounded by the camera's frame interval), then
  open the contact and measure contact open → relay off minus the latch (the latch's
  timer accuracy). Each takes the post-record time, about 11 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from hal.board import AlarmInput, RelayOutput
from hal.sim.gpio import OutputChange, SimGpioChip
from nvrd.app import Application
from nvrd.config import ConfigStore
from nvrd.events.bus import EventBus
from nvrd.events.model import Event, EventKind, Phase
from nvrd.record.segmenter import SegmentOpened, StreamSegmenter
from nvrd.storage.model import RecordType
from nvrd.storage.volume import prepare_volume
from nvrd.system.logs import setup_logging
from nvrd.system.sdnotify import SdNotifier
from tools.fakecam.control import FakeCamServer, StreamSpec, cameras_from_count

EVENT_CHANNEL = 1
LATCH_S = 1
"""The relay's latch (the least the settings allow)."""
PRE_RECORD_S = 5
POST_RECORD_S = 10
"""The least the settings allow: what a segment cycle waits for."""
EDGE_TIMEOUT_S = 2.0
"""A relay not driven this long after an edge counts as missed."""
SEGMENT_TIMEOUT_S = 10.0
"""An alarm segment not opened this long after an edge counts as missed."""
STARTUP_TIMEOUT_S = 180.0
"""Until every camera is online and every continuous channel records."""
STOP_TIMEOUT_S = 90.0
IDLE_POLL_S = 0.1
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
        "holiday")


class BenchError(RuntimeError):
    """Run D could not measure (the daemon did not start, a camera stayed offline)."""


@dataclass(frozen=True, slots=True)
class DaemonSettings:
    cameras: int
    edges: int
    """Relay cycles measured (after ``warmup_edges``)."""
    segment_events: int
    rounds: int
    warmup_edges: int
    gap_s: float
    main: StreamSpec
    board: Path
    alarm: AlarmInput
    relay: RelayOutput
    work_dir: Path
    """Where the temporary data directory and volume go."""
    clip_cache: Path
    keep: bool


@dataclass(slots=True)
class DaemonResults:
    relay_ns: list[int] = field(default_factory=list)
    """Edge → relay on, relay cycles (the edges whose relay followed)."""
    relay_edges: int = 0
    reference_ns: list[int] = field(default_factory=list)
    """The bare fd path, alternated with the relay cycles, under the same load."""
    reference_edges: int = 0
    segment_relay_ns: list[int] = field(default_factory=list)
    """Edge → relay on, segment cycles."""
    segment_ns: list[int] = field(default_factory=list)
    """Edge → alarm segment opened, segment cycles."""
    latch_over_ns: list[int] = field(default_factory=list)
    """Contact open → relay off, minus the latch."""
    segment_events: int = 0
    continuous_channels: int = 0
    """Channels that record all the time (every one but channel 1)."""
    recording_at_end: int = 0
    """Of those, how many still recorded when the measuring ended."""
    packets_lost: int = 0
    """Packets lost or refused by the writer over the run, all streams."""
    cpu: dict[str, float] = field(default_factory=dict)
    """Percent of one core over the relay rounds: this process (the daemon), the camera
    server, the whole machine."""
    errors: list[str] = field(default_factory=list)
    """The daemon's log records at ERROR and above (the first few)."""
    elapsed_s: float = 0.0


# --- the daemon's configuration ---------------------------------------------------------


def daemon_config(web_port: int, volume: Path, urls: list[str], board: str,
                  alarm: AlarmInput, relay: RelayOutput) -> str:
    """Factory defaults except what run D is about (see the module docstring), a loopback
    web port without the HTTP redirect, and the volume with no free-space reserve."""
    whole_day = '[{ start = "00:00", end = "24:00", type = "alarm" }]'
    text = (f'[system]\nboard = "{board}"\n\n'
            f'[web]\nhost = "127.0.0.1"\nport = {web_port}\nhttp_redirect_port = 0\n\n'
            "[storage]\nmin_free_percent = 1\nreserve_minutes = 0\n\n"
            f'[[storage.volumes]]\npath = "{volume}"\nname = "bench"\n\n'
            '[[recording.schedules]]\nname = "alarms"\n[recording.schedules.days]\n'
            + "".join(f"{day} = {whole_day}\n" for day in DAYS) + "\n"
            f"[[alarms.inputs]]\nid = {alarm.number}\ndebounce_ms = 0\n\n"
            f"[[alarms.outputs]]\nid = {relay.number}\nlatch_seconds = {LATCH_S}\n\n"
            f'[[events.rules]]\nname = "bench"\nkind = "alarm_input"\n'
            f'source = "alarm-in:{alarm.number}"\nanti_dither_seconds = 0\n'
            f"relays = [{relay.number}]\nrecord = [{EVENT_CHANNEL}]\n"
            "mqtt = false\nwebhook = false\nlog = false\n\n")
    for channel, url in enumerate(urls, start=1):
        text += f'[[cameras]]\nchannel = {channel}\nmain = {{ url = "{url}" }}\n'
        if channel == EVENT_CHANNEL:
            text += (f'schedule = "alarms"\npre_record_seconds = {PRE_RECORD_S}\n'
                     f"post_record_seconds = {POST_RECORD_S}\n")
        text += "\n"
    return text


class ErrorRecords(logging.Handler):
    """Keeps the daemon's first ERROR+ records, so the bench can say the run was clean."""

    def __init__(self, keep: int = 5) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first: list[str] = []
        self._keep = keep

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.first) < self._keep:
            self.first.append(f"{record.name}: {record.getMessage()}")


# --- the outside world ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SegmentSample:
    relay_ns: int | None
    segment_ns: int | None
    latch_over_ns: int | None


class Rig:
    """The alarm contact, the relay's line and channel 1's segmenter, seen from outside.

    Threads: the cycles run in one "hardware" thread; ``_on_output`` and ``_on_event``
    run on the loop (inside the daemon's ``set_value``, and in the bus's call after
    linkage), ``_on_opened`` in channel 1's reader thread; they hand over through
    ``_relay`` (a condition), ``_opened`` (an event) and plain flags."""

    def __init__(self, chip: SimGpioChip, alarm: AlarmInput, relay: RelayOutput,
                 segmenter: StreamSegmenter, bus: EventBus, reset: Callable[[], None],
                 loop: asyncio.AbstractEventLoop, gap_s: float) -> None:
        self._chip = chip
        self._loop = loop
        self._alarm = alarm
        self._source = f"alarm-in:{alarm.number}"
        self._relay_line = relay.line
        self._segmenter = segmenter
        self._reset = reset
        self._gap_s = gap_s
        self._relay = threading.Condition()
        self._relay_high = False
        self._relay_ns = 0
        self._reset_on_stop = False
        self._opened = threading.Event()
        self._armed = False
        self._opened_mono_us = 0
        self._removers = [chip.add_output_listener(self._on_output),
                          bus.subscribe(self._on_event)]
        segmenter.opened_hook = self._on_opened

    def close(self) -> None:
        for remove in self._removers:
            remove()
        self._segmenter.opened_hook = None

    # --- other threads ----------------------------------------------------------------

    def _on_output(self, change: OutputChange) -> None:
        if change.offset != self._relay_line or change.released:
            return
        with self._relay:
            self._relay_high, self._relay_ns = change.high, change.timestamp_ns
            self._relay.notify_all()

    def _on_event(self, event: Event) -> None:
        """The Alarm Reset of a relay cycle, once linkage has ended the incident."""
        if (self._reset_on_stop and event.phase is Phase.STOP
                and event.kind is EventKind.ALARM_INPUT and event.source == self._source):
            self._reset()

    def _on_opened(self, opened: SegmentOpened) -> None:
        if self._armed and opened.types & RecordType.ALARM:
            self._armed = False
            self._opened_mono_us = opened.opened_mono_us
            self._opened.set()

    # --- the hardware thread ------------------------------------------------------------

    def relay_cycles(self, count: int) -> list[int]:
        """Latencies (ns) of the edges whose relay followed; a missed one is left out."""
        latencies = []
        self._reset_on_stop = True
        for _ in range(count):
            edge_ns = self._contact(closed=True)
            on_ns = self._wait_relay(True, EDGE_TIMEOUT_S)
            self._contact(closed=False)
            if self._wait_relay(False, EDGE_TIMEOUT_S) is None:
                raise BenchError("the relay stayed on after the Alarm Reset")
            self._drain()
            if on_ns is not None:
                latencies.append(on_ns - edge_ns)
            if self._gap_s:
                time.sleep(self._gap_s)
        return latencies

    def segment_cycle(self, idle_timeout_s: float) -> SegmentSample:
        self._reset_on_stop = False  # the relay goes off after its latch
        self._wait_idle(idle_timeout_s)
        self._opened.clear()
        self._armed = True
        edge_ns = self._contact(closed=True)
        on_ns = self._wait_relay(True, EDGE_TIMEOUT_S)
        opened = self._opened.wait(SEGMENT_TIMEOUT_S)
        self._armed = False
        release_ns = self._contact(closed=False)
        off_ns = self._wait_relay(False, LATCH_S + EDGE_TIMEOUT_S)
        return SegmentSample(
            None if on_ns is None else on_ns - edge_ns,
            self._opened_mono_us * 1000 - edge_ns if opened else None,
            None if off_ns is None or on_ns is None
            else off_ns - release_ns - LATCH_S * 1_000_000_000)

    def _drain(self, rounds: int = 2) -> None:
        """Until the loop has run the callbacks queued so far, and those they queued
        (its timers and the daemon's threads go on, as they would for a real alarm)."""
        for _ in range(rounds):
            passed = threading.Event()
            self._loop.call_soon_threadsafe(passed.set)
            if not passed.wait(EDGE_TIMEOUT_S):
                raise BenchError(f"the event loop did not come round in {EDGE_TIMEOUT_S} s")

    def _contact(self, *, closed: bool) -> int:
        """Close or open the contact (as ``SimBoard`` wires it); the edge's timestamp."""
        level = (not self._alarm.active_low) if closed else None
        edge_ns = self._chip.set_input_level(self._alarm.line, level)
        if edge_ns is None:
            raise BenchError("the alarm input produced no edge: is it requested?")
        return edge_ns

    def _wait_relay(self, high: bool, timeout_s: float) -> int | None:
        with self._relay:
            if self._relay.wait_for(lambda: self._relay_high == high, timeout_s):
                return self._relay_ns
        return None

    def _wait_idle(self, timeout_s: float) -> None:
        """Until channel 1 records nothing and the relay is off (polled: a state, not a
        time, is waited for)."""
        deadline = time.monotonic() + timeout_s
        while self._segmenter.status().recording or self._relay_high:
            if time.monotonic() > deadline:
                raise BenchError(f"channel {EVENT_CHANNEL} still records {timeout_s:g} s "
                                 "after its last alarm")
            time.sleep(IDLE_POLL_S)


# --- the run ------------------------------------------------------------------------------


async def run_daemon_bench(settings: DaemonSettings,
                           reference: Callable[[int], Awaitable[list[int]]],
                           progress: Callable[[str], None]) -> DaemonResults:
    """Run D. ``reference(n)`` measures ``n`` edges of the bare fd path (run B) on a chip
    of its own; it runs on this loop between the relay rounds."""
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="nvrd-alarm-", dir=settings.work_dir))
    try:
        specs = cameras_from_count(settings.cameras, main=settings.main, sub=None)
        progress(f"run D: starting {settings.cameras} virtual cameras ({_mode(settings.main)})")
        server = FakeCamServer(specs, clip_cache=settings.clip_cache)
        await asyncio.to_thread(server.start)
        try:
            urls = [server.url(spec.name, "main") for spec in specs]
            async with _daemon(settings, work, urls, progress) as running:
                results = await _measure(settings, running, server.pid, reference,
                                         progress)
        finally:
            await asyncio.to_thread(server.close)
    finally:
        if settings.keep:
            progress(f"run D: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results.elapsed_s = time.monotonic() - started
    return results


@dataclass(slots=True)
class _Running:
    app: Application
    errors: ErrorRecords


@contextlib.asynccontextmanager
async def _daemon(settings: DaemonSettings, work: Path, urls: list[str],
                  progress: Callable[[str], None]) -> AsyncIterator[_Running]:
    data, volume = work / "data", work / "volume"
    data.mkdir()
    prepare_volume(volume, "bench")
    (data / "nvrd.toml").write_text(daemon_config(
        _free_port(), volume, urls, settings.board.stem, settings.alarm, settings.relay))
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    log = (data / "daemon.log").open("a")
    setup_logging("info", stream=log)  # the daemon's own format, into a file
    errors = ErrorRecords()
    root.addHandler(errors)
    app = Application(ConfigStore(data / "nvrd.toml"), data,
                      board_dirs=[settings.board.parent], notifier=SdNotifier(environ={}))
    run = asyncio.create_task(app.run(), name="nvrd")
    try:
        progress(f"run D: starting the daemon (data {data})")
        await _until_recording(app, run, settings.cameras)
        yield _Running(app, errors)
    finally:
        app.request_stop()
        try:
            status = await asyncio.wait_for(run, STOP_TIMEOUT_S)
        finally:
            root.handlers[:] = before[0]
            root.setLevel(before[1])
            log.close()
        if status != 0:
            raise BenchError(f"the daemon exited with status {status}; see "
                             f"{data / 'daemon.log'} (--keep keeps it)")


async def _until_recording(app: Application, run: asyncio.Task[int], cameras: int) -> None:
    """Until the board, linkage and every camera are up, and the continuous channels
    record (channel 1 waits for alarms)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not _ready(app, cameras):
        if run.done():
            raise BenchError(f"the daemon stopped while starting (status {run.result()})")
        if time.monotonic() > deadline:
            raise BenchError(f"not every camera recorded within {STARTUP_TIMEOUT_S:g} s")
        await asyncio.sleep(0.2)


def _ready(app: Application, cameras: int) -> bool:
    if (app.hardware is None or app.hardware.sim is None or app.hardware.alarm_io is None
            or app.linkage is None or app.linkage.engine is None or app.recorder is None
            or app.ingest is None):
        return False
    online = sum(1 for channel in app.ingest.snapshot() if channel.online)
    recording = {c.channel for c in app.recorder.snapshot()
                 if any(s.recording for s in c.streams.values())}
    return online == cameras and recording >= set(range(2, cameras + 1))


async def _measure(settings: DaemonSettings, running: _Running, server_pid: int,
                   reference: Callable[[int], Awaitable[list[int]]],
                   progress: Callable[[str], None]) -> DaemonResults:
    app = running.app
    assert app.hardware is not None and app.hardware.sim is not None
    assert app.linkage is not None and app.linkage.engine is not None
    assert app.recorder is not None and app.events is not None
    segmenter = app.recorder.segmenter(EVENT_CHANNEL, "main")
    if segmenter is None:
        raise BenchError(f"channel {EVENT_CHANNEL} has no recorder")
    loop = asyncio.get_running_loop()
    rig = Rig(app.hardware.sim.gpio.chip(settings.alarm.chip), settings.alarm,
              settings.relay, segmenter, app.events.bus, app.linkage.engine.reset_outputs,
              loop, settings.gap_s)
    results = DaemonResults(continuous_channels=settings.cameras - 1)
    lost_before = _packets_lost(app)
    # one thread of its own: the loop's default executor is the daemon's
    with ThreadPoolExecutor(1, thread_name_prefix="bench-hardware") as hardware:
        try:
            progress(f"run D: {settings.warmup_edges} warm-up edges, then "
                     f"{settings.edges} relay cycles in {settings.rounds} rounds, "
                     "alternating with the reference")
            await loop.run_in_executor(hardware, rig.relay_cycles, settings.warmup_edges)
            per_round = settings.edges // settings.rounds
            cpu = _CpuWindow(server_pid)
            for _ in range(settings.rounds):
                results.relay_ns += await loop.run_in_executor(
                    hardware, rig.relay_cycles, per_round)
                results.reference_ns += await reference(per_round)
            results.relay_edges = results.reference_edges = per_round * settings.rounds
            results.cpu = cpu.percent()
            if settings.segment_events:
                progress(f"run D: {settings.segment_events} alarm segments, each after "
                         f"channel {EVENT_CHANNEL}'s {POST_RECORD_S} s post-record")
            idle_timeout = POST_RECORD_S + 3 * settings.main.gop / settings.main.fps + 15
            for _ in range(settings.segment_events):
                sample = await loop.run_in_executor(hardware, rig.segment_cycle,
                                                    idle_timeout)
                for values, value in ((results.segment_relay_ns, sample.relay_ns),
                                      (results.segment_ns, sample.segment_ns),
                                      (results.latch_over_ns, sample.latch_over_ns)):
                    if value is not None:
                        values.append(value)
            results.segment_events = settings.segment_events
        finally:
            rig.close()
    results.recording_at_end = sum(
        1 for c in app.recorder.snapshot() if c.channel != EVENT_CHANNEL
        and any(s.recording for s in c.streams.values()))
    results.packets_lost = _packets_lost(app) - lost_before
    results.errors = ([f"{running.errors.count} log record(s) at ERROR or above",
                       *running.errors.first] if running.errors.count else [])
    return results


def _packets_lost(app: Application) -> int:
    assert app.recorder is not None
    return sum(s.packets_lost for c in app.recorder.snapshot() for s in c.streams.values())


class _CpuWindow:
    """CPU from now until ``percent``, as percent of one core (2 cores: up to 200)."""

    def __init__(self, server_pid: int) -> None:
        self._me = psutil.Process()
        self._server = psutil.Process(server_pid)
        self._t0 = time.monotonic()
        self._me0, self._server0 = _busy(self._me), _busy(self._server)
        psutil.cpu_percent(None)

    def percent(self) -> dict[str, float]:
        wall = time.monotonic() - self._t0
        return {"daemon": 100 * (_busy(self._me) - self._me0) / wall,
                "cameras": 100 * (_busy(self._server) - self._server0) / wall,
                "machine": psutil.cpu_percent(None) * (psutil.cpu_count() or 1),
                "cores": float(psutil.cpu_count() or 1)}


def _busy(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mode(spec: StreamSpec) -> str:
    return f"{spec.width}x{spec.height}@{spec.fps}, GOP {spec.gop}, {spec.bitrate_kbps} kbit/s"
