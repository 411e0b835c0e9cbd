"""Motion detection tapped on a real RTSP sub stream next to a recording sink."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import av
import av.audio.stream
import av.video.stream

from nvrd.config import parse_config
from nvrd.motion.service import attach_motion
from nvrd.motion.store import MotionStore
from nvrd.record.ingest_service import IngestService
from nvrd.system.auditlog import AuditLog
from tools.fakecam.control import CameraSpec, StartFakeCams, StreamSpec

SMALL = StreamSpec(320, 240, 25, 25, 300)


class CountingSink:
    """Stands in for the recorder's segmenter: counts sessions and packets."""

    def __init__(self) -> None:
        self.sessions = self.packets = 0

    def on_session_start(self, video: av.video.stream.VideoStream,
                         audio: av.audio.stream.AudioStream | None) -> None:
        self.sessions += 1

    def on_packet(self, packet: av.Packet) -> None:
        self.packets += 1

    def on_session_end(self, reason: str) -> None:
        pass


async def until(what: str, condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_the_sub_stream_feeds_motion_and_the_recorder_alike(
        fakecams: StartFakeCams, tmp_path: Path) -> None:
    cams = fakecams([CameraSpec("cam1", SMALL, SMALL)])
    config = parse_config(
        f'[[cameras]]\nchannel = 1\nmain = {{ url = "{cams.url("cam1", "main")}" }}\n'
        f'sub = {{ url = "{cams.url("cam1", "sub")}" }}\n'
        "motion = { enabled = true, fps = 5 }\n", "test")
    audit = AuditLog(tmp_path / "audit.db", 1000)
    await audit.start()
    recording = {"main": CountingSink(), "sub": CountingSink()}
    ingest = IngestService(config, audit, sinks=lambda channel, stream: recording[stream])
    store = MotionStore(tmp_path / "motion.db")
    motion = await attach_motion(ingest, config, lambda *event: None, store)
    await ingest.start()
    try:
        analyser = motion.analyser(1)
        assert analyser is not None
        await until("frames analysed", lambda: analyser.stats().analysed >= 5)
        assert recording["sub"].packets > 0 and recording["main"].packets > 0
        # motion switched off: the analyser leaves, the recording's session goes on
        off = parse_config(
            f'[[cameras]]\nchannel = 1\nmain = {{ url = "{cams.url("cam1", "main")}" }}\n'
            f'sub = {{ url = "{cams.url("cam1", "sub")}" }}\n', "test")
        await motion.apply_config(off)
        await ingest.apply_config(off)
        assert motion.analyser(1) is None
        packets = recording["sub"].packets
        await until("more sub packets", lambda: recording["sub"].packets > packets + 10)
        assert recording["sub"].sessions == 1 and recording["main"].sessions == 1
        assert analyser.stats().dropped == 0
    finally:
        await motion.stop()
        await ingest.stop()
        store.close()
        await audit.stop()
