"""/metrics in Prometheus' text format, parsed back with Prometheus' own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from nvrd.hardware.alarmio import AlarmInputStatus
from nvrd.hardware.service import HardwareStatus
from nvrd.record.ingest import StreamStatus
from nvrd.record.ingest_service import ChannelStatus
from nvrd.storage.service import VolumeStatus
from nvrd.system.status import DaemonStatus
from nvrd.web.metrics import render


def _status() -> DaemonStatus:
    volume = VolumeStatus(
        name='disk "1"', path="/x", group=1, state="ready", reason=None, uuid="u",
        total_bytes=4_000, free_bytes=1_000, floor_bytes=100, queued_bytes=7,
        open_segments=1, write_latency_ms_p50=1.0, write_latency_ms_p99=12.5, streams=())
    return DaemonStatus(
        version="1.2", started_us=0, uptime_s=5.0, board="sim: 4 bays", config_source="file",
        config_error=None,
        channels=[ChannelStatus(3, "Gate", True, {
            "main": StreamStatus(online=True, fps=25.0, bitrate_kbps=2048.0, reconnects=2,
                                 packets=900),
            "sub": StreamStatus(online=False, reconnects=5)})],
        volumes=[volume],
        hardware=HardwareStatus(board="sim", problems={"PoE": "no bus"}, alarm_inputs=[
            AlarmInputStatus(1, "Door", True, "NO", None, True)]))


def _samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = render(_status).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_streams_volumes_and_hardware_are_exposed() -> None:
    samples = _samples()
    main = (("channel", "3"), ("stream", "main"))
    assert samples[("nvrd_stream_online", main)] == 1
    assert samples[("nvrd_stream_online", (("channel", "3"), ("stream", "sub")))] == 0
    assert samples[("nvrd_stream_bitrate_bits_per_second", main)] == 2_048_000
    assert samples[("nvrd_stream_reconnects_total", main)] == 2
    # a label value with quotes survives the round trip (escaping is the library's)
    assert samples[("nvrd_volume_free_bytes", (("volume", 'disk "1"'),))] == 1_000
    assert samples[("nvrd_volume_write_latency_p99_seconds", (("volume", 'disk "1"'),))] \
        == 0.0125
    assert samples[("nvrd_alarm_input_active", (("input", "1"),))] == 1
    assert samples[("nvrd_hardware_problems", ())] == 1
    assert samples[("nvrd_healthy", ())] == 1
