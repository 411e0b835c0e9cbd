"""Fixtures shared by every test package.

Virtual IP cameras (tools/fakecam) on a real RTSP server::

    def test_records(fakecams: StartFakeCams) -> None:
        cams = fakecams([CameraSpec("cam1", StreamSpec(320, 240, 25, 25, 300))])
        url = cams.url("cam1", "main")
        cams.stall("cam1", "main", seconds=2)

Tests that use ``fakecams`` get the ``gst`` marker automatically (``-m "not gst"`` skips
them) and are skipped, with the reason, where the GStreamer packages are missing.

No test sets the host's clock: a daemon built in a test that tries (the time API, NTP)
is refused as a daemon without CAP_SYS_TIME is. Tests of setting the time pass their own
clock (``Application(wall_clock=...)``). A fuzzed "set the time" once put this machine
in the year 2000.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from nvrd.system.timesync import SystemWallClock
from tools.fakecam.control import (
    CameraSpec,
    FakeCamServer,
    StartFakeCams,
    gst_unavailable_reason,
)


@pytest.fixture(autouse=True, scope="session")
def _host_clock_untouchable() -> Iterator[None]:
    def refuse(self: SystemWallClock, ns: int) -> None:
        raise PermissionError("tests never set the host's clock")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SystemWallClock, "set_ns", refuse)
        yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "fakecams" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.gst)


@pytest.fixture(scope="session")
def fakecam_clips(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The encoded-clip cache. In pytest's cache directory when there is one, so clips are
    encoded once per spec, not once per run; file names carry the encoding parameters."""
    cache = getattr(request.config, "cache", None)  # absent with -p no:cacheprovider
    if cache is not None:
        return Path(cache.mkdir("fakecam-clips"))
    return tmp_path_factory.mktemp("fakecam-clips")


@pytest.fixture
def fakecams(fakecam_clips: Path) -> Iterator[StartFakeCams]:
    """Start virtual cameras: ``fakecams([CameraSpec("cam1"), ...], port=0)``. Every server
    started is closed at teardown."""
    reason = gst_unavailable_reason()
    if reason:
        pytest.skip(reason)
    servers: list[FakeCamServer] = []

    def start(cameras: Sequence[CameraSpec], *, port: int = 0, host: str = "127.0.0.1",
              verbose: bool = False) -> FakeCamServer:
        server = FakeCamServer(cameras, port=port, clip_cache=fakecam_clips, host=host,
                               verbose=verbose)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.close()
