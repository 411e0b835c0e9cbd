"""The ingest readers against virtual cameras on a real RTSP server: status, plain-words
errors, liveness and reconnection."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from nvrd.record.ingest import IngestSettings, StreamReader, StreamStatus
from tests.daemon_harness import free_port
from tools.fakecam.control import CameraSpec, StartFakeCams, StreamSpec

SMALL = StreamSpec(320, 240, 25, 25, 300)
FAST = IngestSettings(open_timeout_s=3, stall_timeout_s=2, backoff_initial_s=0.5,
                      backoff_max_s=1)


class Watcher:
    """Collects a reader's status reports (on the loop, as the service would)."""

    def __init__(self) -> None:
        self.reports: list[StreamStatus] = []
        self.changed = asyncio.Event()

    def __call__(self, status: StreamStatus) -> None:
        self.reports.append(status)
        self.changed.set()

    async def until(self, predicate: Callable[[StreamStatus], bool],
                    timeout: float = 20) -> StreamStatus:
        deadline = time.monotonic() + timeout
        while True:
            if self.reports and predicate(self.reports[-1]):
                return self.reports[-1]
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"condition not met; last reports: {self.reports[-3:]}"
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)


@contextlib.asynccontextmanager
async def running(url: str) -> AsyncIterator[tuple[StreamReader, Watcher]]:
    """A reader on ``url`` with a watcher of its reports, stopped on exit."""
    watcher = Watcher()
    reader = StreamReader("ch1-main", url, FAST, watcher)
    reader.start()
    try:
        yield reader, watcher
    finally:
        await reader.stop()


async def test_online_status_reports_codec_size_fps_and_bitrate(
        fakecams: StartFakeCams) -> None:
    cams = fakecams([CameraSpec("cam1", SMALL, None)])
    async with running(cams.url("cam1")) as (reader, watcher):
        status = await watcher.until(lambda s: s.online and s.bitrate_kbps is not None)
        assert (status.codec, status.width, status.height) == ("h264", 320, 240)
        assert status.fps is not None and 15 <= status.fps <= 35
        assert status.last_error is None
    assert not reader.alive()
    assert not watcher.reports[-1].online


async def test_a_stalled_stream_is_reconnected_and_comes_back(
        fakecams: StartFakeCams) -> None:
    cams = fakecams([CameraSpec("cam1", SMALL, None)])
    async with running(cams.url("cam1")) as (_, watcher):
        await watcher.until(lambda s: s.online)
        cams.stall("cam1", "main", seconds=10)
        offline = await watcher.until(lambda s: not s.online)
        assert offline.last_error is not None
        assert offline.last_error.startswith("no video from the camera for")
        back = await watcher.until(lambda s: s.online and s.reconnects >= 1)
        assert back.last_error is None


async def test_the_watchdog_ends_a_stall_at_the_limit_through_the_socket(
        fakecams: StartFakeCams) -> None:
    """No PyAV read timeout (its GIL-taking callback is costly with many streams): the
    watchdog finds the connection's own socket and shuts it down once the stream has
    been silent for the stall limit, while the RTSP session itself is still alive."""
    cams = fakecams([CameraSpec("cam1", SMALL, SMALL)])
    main_watcher, sub_watcher = Watcher(), Watcher()
    main = StreamReader("ch1-main", cams.url("cam1", "main"), FAST, main_watcher)
    sub = StreamReader("ch1-sub", cams.url("cam1", "sub"), FAST, sub_watcher)
    main.start()
    sub.start()  # both connect at once: the endpoint is held only until each socket shows
    try:
        await main_watcher.until(lambda s: s.online)
        await sub_watcher.until(lambda s: s.online)
        # main and sub of one camera share host and port: each found its own socket
        assert main.socket_watched and sub.socket_watched
        cams.stall("cam1", "main", seconds=10)
        offline = await main_watcher.until(lambda s: not s.online)
        assert offline.last_error == f"no video from the camera for {FAST.stall_timeout_s:.0f} s"
        # the other stream of the same camera was not touched
        assert sub_watcher.reports[-1].online and sub_watcher.reports[-1].reconnects == 0
    finally:
        await main.stop()
        await sub.stop()


async def test_errors_are_explained_in_plain_words(fakecams: StartFakeCams) -> None:
    cams = fakecams([CameraSpec("cam1", SMALL, None)])
    cases = {
        cams.url("cam1").replace("/cam1/", "/nosuchcam/"): "404 Not Found",
        f"rtsp://127.0.0.1:{free_port()}/cam1/main": "connection refused",
    }
    for url, words in cases.items():
        async with running(url) as (_, watcher):
            status = await watcher.until(lambda s: s.last_error is not None)
            assert status.last_error is not None and words in status.last_error, \
                status.last_error
            assert not status.online and status.next_retry_s == FAST.backoff_initial_s
