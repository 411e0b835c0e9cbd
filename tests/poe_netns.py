"""Cameras behind simulated PoE ports, each in its own network namespace (root only).

Port N is a veth: ``tpoeN`` on the host (10.88.N.1/24), ``eth0`` in namespace ``tnvrcamN``
(10.88.N.2/24), where a fakecam serves RTSP on port 554. The board profile ``sim-netns``
(``tests/boards``) names these interfaces, so a daemon on it powering port N (the simulated
PSE, ``hal/sim/poe_link.py``) takes the link up, and the camera onto the network. Names
and the 10.88 network keep clear of a demo's ``poeN`` / ``nvrcamN`` / 10.87 on the same
machine.

A plain module, not a conftest: a test module imports the fixture, which registers it
there only::

    from tests.poe_netns import BOARD, BOARD_DIR, StartCameraPorts
    from tests.poe_netns import camera_ports  # noqa: F401  (the fixture)

    @pytest.mark.root
    def test_plug_and_play(camera_ports: StartCameraPorts, ...) -> None:
        port1, port2 = camera_ports(2)          # ports 1 and 2, links down (no power)
        url = port1.rtsp_url("main")            # rtsp://10.88.1.2:554/cam1/main

The daemon: ``Application(..., board_dirs=[BOARD_DIR, shipped_config_dir() / "boards"])``
with ``[system] board = "sim-netns"``. The fixture skips the test where namespaces or the
GStreamer server are unavailable; mark the test ``root`` (and ``gst``) yourself, markers
added at run time do not count for ``-m``. At teardown the cameras stop and every
namespace, veth and route goes, whether the test passed or not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from tools.fakecam.control import (
    CameraSpec,
    FakeCamServer,
    StreamSpec,
    gst_unavailable_reason,
)
from tools.fakecam.netns import CameraPort, root_unavailable_reason

__all__ = ["BOARD", "BOARD_DIR", "INTERFACE_PREFIX", "NETNS_PREFIX", "RTSP_PORT", "SMALL_MAIN",
           "SMALL_SUB", "SUBNET", "PortCamera", "StartCameraPorts", "camera_ports",
           "default_cameras", "make_camera_port"]

BOARD = "sim-netns"
BOARD_DIR = Path(__file__).resolve().parent / "boards"
PNP_PASSWORD = "Plug-Play-Pass7"
"""The password plug-and-play gives (and tries on) the cameras it finds."""


def plug_and_play_toml(volume: Path) -> str:
    """Configuration (after ``config_toml``'s) for a daemon on this board doing
    plug-and-play with ``PNP_PASSWORD`` and recording onto the prepared ``volume`` in
    10 s segments; it looks for cameras every second."""
    return (f'[system]\nboard = "{BOARD}"\n\n'
            f'[[storage.volumes]]\npath = "{volume}"\n\n'
            "[recording]\nsegment_seconds = 10\n\n"
            "[camera_network]\ndiscovery_seconds = 1.0\n\n"
            f'[camera_network.plug_and_play]\npassword = "{PNP_PASSWORD}"\n'
            "wait_seconds = 60\n")
INTERFACE_PREFIX = "tpoe"
NETNS_PREFIX = "tnvrcam"
SUBNET = "10.88"
RTSP_PORT = 554
# Small streams: the clips are encoded once and cached, the server only paces packets.
SMALL_MAIN = StreamSpec(320, 240, 25, 25, 300)
SMALL_SUB = StreamSpec(160, 120, 10, 10, 100)

CamerasFor = Callable[[int], Sequence[CameraSpec]]


def default_cameras(port: int) -> list[CameraSpec]:
    """One camera ``cam<port>`` with a small main and sub stream."""
    return [CameraSpec(f"cam{port}", SMALL_MAIN, SMALL_SUB)]


def make_camera_port(port: int) -> CameraPort:
    """The (not yet created) ``CameraPort`` of PoE port ``port`` with this module's names."""
    return CameraPort(port, interface=f"{INTERFACE_PREFIX}{port}",
                      netns=f"{NETNS_PREFIX}{port}",
                      host_address=f"{SUBNET}.{port}.1/24",
                      camera_address=f"{SUBNET}.{port}.2/24")


@dataclass(frozen=True, slots=True)
class PortCamera:
    """PoE port ``port``: its namespace and veth (``link``) and the fakecams inside."""

    port: int
    link: CameraPort
    cams: FakeCamServer

    @property
    def netns(self) -> str:
        return self.link.netns

    @property
    def interface(self) -> str:
        """The host end of the veth: the port's ``interface`` in the board profile."""
        return self.link.interface

    @property
    def host_address(self) -> str:
        return self.link.host_address

    @property
    def camera_address(self) -> str:
        return self.link.camera_address

    @property
    def camera_names(self) -> list[str]:
        return list(self.cams.cameras)

    def rtsp_url(self, stream: str = "main", camera: str | None = None) -> str:
        """``rtsp://10.88.N.2:554/<camera>/<stream>``; the port's first camera by default."""
        return self.cams.url(camera if camera is not None else self.camera_names[0], stream)


class StartCameraPorts(Protocol):
    """The ``camera_ports`` fixture: ``ports`` is a count (ports 1..count) or the port
    numbers; ``cameras`` the fakecams of each port (one callable of the port number, or
    the same list for every port); ``server_options`` go to ``FakeCamServer``."""

    def __call__(self, ports: int | Sequence[int],
                 cameras: CamerasFor | Sequence[CameraSpec] = default_cameras, *,
                 link_up: bool = False, **server_options: Any) -> list[PortCamera]: ...


@pytest.fixture
def camera_ports(fakecam_clips: Path) -> Iterator[StartCameraPorts]:
    """Make PoE ports with cameras behind them: ``camera_ports(2)``. Links start down (no
    PoE power) unless ``link_up``; the simulated PSE, or ``port.link.set_link``, moves
    them. Everything is removed at teardown."""
    reason = root_unavailable_reason() or gst_unavailable_reason()
    if reason:
        pytest.skip(reason)
    made: list[tuple[CameraPort, FakeCamServer | None]] = []

    def start(ports: int | Sequence[int],
              cameras: CamerasFor | Sequence[CameraSpec] = default_cameras, *,
              link_up: bool = False, **server_options: Any) -> list[PortCamera]:
        numbers = list(range(1, ports + 1)) if isinstance(ports, int) else list(ports)
        result = []
        for number in numbers:
            link = make_camera_port(number)
            made.append((link, None))
            link.create()
            specs = cameras(number) if callable(cameras) else cameras
            cams = FakeCamServer(specs, port=RTSP_PORT, clip_cache=fakecam_clips,
                                 host=link.camera_address, netns=link.netns,
                                 **server_options)
            made[-1] = (link, cams)
            cams.start()
            if link_up:
                link.set_link(True)
            result.append(PortCamera(number, link, cams))
        return result

    yield start
    errors: list[BaseException] = []
    for _link, cams in made:  # cameras first: a live server holds its namespace
        if cams is not None:
            try:
                cams.close()
            except Exception as exc:
                errors.append(exc)
    for link, _cams in made:
        try:
            link.remove()
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]
