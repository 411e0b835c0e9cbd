"""Motion detection attached to the ingest: one analyser per channel with motion enabled.

``attach_motion(ingest, config, on_region, store)`` (on the loop) builds the analysers
and taps them on the sub streams; ``apply_config`` replaces the analysers whose settings
changed (a new detector: its background restarts) and keeps the others. The event
engine subscribes through ``on_region(channel, region, phase, time_us)``, called on the
loop.
"""

from __future__ import annotations

import asyncio
import logging

from nvrd.config import NvrConfig
from nvrd.config.schema import MotionConfig
from nvrd.motion.analyser import MotionAnalyser, RegionCallback
from nvrd.motion.store import MotionStore
from nvrd.record.ingest import PacketSink
from nvrd.record.ingest_service import IngestService

logger = logging.getLogger(__name__)


def motion_settings(config: NvrConfig) -> dict[int, MotionConfig]:
    """Channels whose sub stream is analysed, with their settings."""
    return {camera.channel: camera.motion for camera in config.cameras
            if camera.enabled and camera.sub is not None and camera.motion.enabled}


class MotionDetection:
    def __init__(self, ingest: IngestService, on_region: RegionCallback,
                 store: MotionStore | None) -> None:
        self._ingest = ingest
        self._on_region = on_region
        self._store = store
        self._analysers: dict[int, MotionAnalyser] = {}

    def analyser(self, channel: int) -> MotionAnalyser | None:
        return self._analysers.get(channel)

    def _tap(self, channel: int, stream: str) -> PacketSink | None:
        return self._analysers.get(channel) if stream == "sub" else None

    async def apply_config(self, config: NvrConfig) -> None:
        """Loop-only."""
        wanted = motion_settings(config)
        stale = [ch for ch, a in self._analysers.items() if wanted.get(ch) != a.config]
        removed = [self._analysers.pop(ch) for ch in stale]
        loop = asyncio.get_running_loop()
        for channel, settings in wanted.items():
            if channel not in self._analysers:
                analyser = MotionAnalyser(channel, settings, self._on_region, self._store,
                                          loop=loop)
                analyser.start()
                self._analysers[channel] = analyser
        self._ingest.refresh_sinks()  # detaches the removed ones (their session ends)
        await asyncio.gather(*(asyncio.to_thread(a.stop) for a in removed))

    async def stop(self) -> None:
        self._ingest.remove_tap(self._tap)
        analysers, self._analysers = list(self._analysers.values()), {}
        await asyncio.gather(*(asyncio.to_thread(a.stop) for a in analysers))


async def attach_motion(ingest: IngestService, config: NvrConfig, on_region: RegionCallback,
                        store: MotionStore | None) -> MotionDetection:
    """Tap motion detection on ``ingest``'s sub streams as ``config`` asks."""
    motion = MotionDetection(ingest, on_region, store)
    await motion.apply_config(config)
    ingest.add_tap(motion._tap)
    return motion
