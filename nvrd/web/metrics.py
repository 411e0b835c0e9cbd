"""``/metrics``: the recorder's state in Prometheus' text format, for the monitoring an
integrator already runs (per-stream bitrate and reconnects, disk free and write latency,
PoE power, alarm inputs).

Everything comes from one ``DaemonStatus`` snapshot per scrape (a custom collector, no
metric objects updated on the recording path), so a scrape costs what the health answer
costs and nothing when nobody scrapes. ``prometheus_client`` does the exposition format
(escaping, HELP/TYPE lines) — the part that is easy to get subtly wrong by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from nvrd.system.status import DaemonStatus

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class StatusCollector(Collector):
    def __init__(self, status: Callable[[], DaemonStatus]) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        status = self._status()
        yield from _daemon(status)
        yield from _streams(status)
        yield from _recording(status)
        yield from _volumes(status)
        yield from _bays(status)
        yield from _hardware(status)


def render(status: Callable[[], DaemonStatus]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatusCollector(status))
    return generate_latest(registry)


def _daemon(status: DaemonStatus) -> Iterator[Metric]:
    up = GaugeMetricFamily("nvrd_healthy", "1 while every service of the daemon is healthy")
    up.add_metric([], 0 if status.problems else 1)
    yield up
    uptime = GaugeMetricFamily("nvrd_uptime_seconds", "Seconds since the daemon started")
    uptime.add_metric([], status.uptime_s)
    yield uptime
    info = GaugeMetricFamily("nvrd_build_info", "Version and board", labels=["version",
                                                                           "board"])
    info.add_metric([status.version, status.board.split(":")[0]], 1)
    yield info


def _streams(status: DaemonStatus) -> Iterator[Metric]:
    labels = ["channel", "stream"]
    online = GaugeMetricFamily("nvrd_stream_online", "1 while the camera stream delivers",
                               labels=labels)
    bitrate = GaugeMetricFamily("nvrd_stream_bitrate_bits_per_second",
                                "Measured bitrate of the stream", labels=labels)
    fps = GaugeMetricFamily("nvrd_stream_frames_per_second", "Measured video frame rate",
                            labels=labels)
    reconnects = CounterMetricFamily("nvrd_stream_reconnects",
                                     "Reconnections since the daemon started", labels=labels)
    packets = CounterMetricFamily("nvrd_stream_packets", "Packets received", labels=labels)
    for channel in status.channels:
        for name, stream in channel.streams.items():
            key = [str(channel.channel), name]
            online.add_metric(key, 1 if stream.online else 0)
            if stream.bitrate_kbps is not None:
                bitrate.add_metric(key, stream.bitrate_kbps * 1000)
            if stream.fps is not None:
                fps.add_metric(key, stream.fps)
            reconnects.add_metric(key, stream.reconnects)
            packets.add_metric(key, stream.packets)
    yield from (online, bitrate, fps, reconnects, packets)


def _recording(status: DaemonStatus) -> Iterator[Metric]:
    labels = ["channel", "stream"]
    recording = GaugeMetricFamily("nvrd_stream_recording", "1 while the stream is recorded",
                                  labels=labels)
    written = CounterMetricFamily("nvrd_stream_recorded_bytes", "Bytes recorded",
                                  labels=labels)
    lost = CounterMetricFamily("nvrd_stream_lost_packets",
                               "Packets received but not recorded although wanted",
                               labels=labels)
    for channel in status.recording:
        for name, stream in channel.streams.items():
            key = [str(channel.channel), name]
            recording.add_metric(key, 1 if stream.recording else 0)
            written.add_metric(key, stream.bytes_written)
            lost.add_metric(key, stream.packets_lost)
    yield from (recording, written, lost)


def _volumes(status: DaemonStatus) -> Iterator[Metric]:
    labels = ["volume"]
    ready = GaugeMetricFamily("nvrd_volume_writable", "1 while the volume is recorded on",
                              labels=labels)
    free = GaugeMetricFamily("nvrd_volume_free_bytes", "Free space", labels=labels)
    size = GaugeMetricFamily("nvrd_volume_size_bytes", "Size", labels=labels)
    queued = GaugeMetricFamily("nvrd_volume_queued_bytes", "Bytes waiting for the disk",
                               labels=labels)
    latency = GaugeMetricFamily("nvrd_volume_write_latency_p99_seconds",
                                "99th percentile of recent write latencies", labels=labels)
    for volume in status.volumes:
        key = [volume.name]
        ready.add_metric(key, 1 if volume.state == "ready" else 0)
        if volume.free_bytes is not None:
            free.add_metric(key, volume.free_bytes)
        if volume.total_bytes is not None:
            size.add_metric(key, volume.total_bytes)
        queued.add_metric(key, volume.queued_bytes)
        if volume.write_latency_ms_p99 is not None:
            latency.add_metric(key, volume.write_latency_ms_p99 / 1000)
    yield from (ready, free, size, queued, latency)


def _bays(status: DaemonStatus) -> Iterator[Metric]:
    smart = GaugeMetricFamily("nvrd_disk_smart_ok",
                              "1 if the disk's SMART verdict is ok, 0 if warning or failing",
                              labels=["bay"])
    for bay in status.bays:
        if bay.smart in ("ok", "warning", "failing"):
            smart.add_metric([str(bay.bay)], 1 if bay.smart == "ok" else 0)
    yield smart


def _hardware(status: DaemonStatus) -> Iterator[Metric]:
    hardware = status.hardware
    power = GaugeMetricFamily("nvrd_poe_port_power_watts", "Power delivered on the PoE port",
                              labels=["port"])
    alarm = GaugeMetricFamily("nvrd_alarm_input_active", "1 while the alarm input is in "
                              "alarm", labels=["input"])
    relay = GaugeMetricFamily("nvrd_alarm_output_on", "1 while the relay is on",
                              labels=["output"])
    problems = GaugeMetricFamily("nvrd_hardware_problems",
                                 "Device classes of the board that are not working")
    if hardware is not None:
        for port in hardware.poe_ports:
            power.add_metric([str(port.port)], (port.power_mw or 0) / 1000)
        for x in hardware.alarm_inputs:
            alarm.add_metric([str(x.number)], 1 if x.active else 0)
        for o in hardware.alarm_outputs:
            relay.add_metric([str(o.number)], 1 if o.on else 0)
        problems.add_metric([], len(hardware.problems))
    yield from (power, alarm, relay, problems)
