"""tools/fakecam/netns.py: a virtual camera in its own network namespace behind a veth, the
simulated board's PoE port. Link up: a real PyAV client on the host reads its picture;
link down: the camera is off the network. Namespaces, veths and routes go away afterwards,
also when the test fails.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import av.container
import pytest

from tests.poe_netns import (
    PortCamera,
    StartCameraPorts,
    camera_ports,  # noqa: F401  (the fixture)
    make_camera_port,
)
from tools.fakecam.control import gst_unavailable_reason
from tools.fakecam.netns import (
    UNREACHABLE_METRIC,
    CameraPort,
    NetnsError,
    netns_exec_argv,
    root_unavailable_reason,
)

ROOT = Path(__file__).resolve().parents[2]
# Port numbers of their own: the PoE plug-and-play tests use the low ones.
PORT = 7
OTHER_PORT = 8


def needs_root() -> None:
    reason = root_unavailable_reason()
    if reason:
        pytest.skip(reason)


def read_frame(url: str) -> av.VideoFrame:
    """Open the camera as the recorder does (RTSP over TCP) and decode one picture."""
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(5.0, 5.0)) as container:
        assert isinstance(container, av.container.InputContainer)
        frame = next(container.decode(video=0))
        assert isinstance(frame, av.VideoFrame)
        return frame


def left_behind(port: CameraPort) -> list[str]:
    """What of ``port`` still exists on the host: namespace, interface, fallback route."""
    found = []
    if port.exists():
        found.append(f"netns {port.netns}")
    if port.interface_exists():
        found.append(f"interface {port.interface}")
    routes = subprocess.run(["ip", "route", "show", "table", "main", "exact",
                             str(port.network)], capture_output=True, text=True,
                            check=True).stdout
    if routes.strip():
        found.append(f"routes {routes.strip()!r}")
    return found


@pytest.mark.root
@pytest.mark.gst
def test_the_camera_is_on_the_network_only_while_its_link_is_up(
        camera_ports: StartCameraPorts) -> None:  # noqa: F811 - the imported fixture
    [port] = camera_ports([PORT])
    assert isinstance(port, PortCamera)
    assert (port.interface, port.netns) == (f"tpoe{PORT}", f"tnvrcam{PORT}")
    assert (port.host_address, port.camera_address) == (f"10.88.{PORT}.1", f"10.88.{PORT}.2")
    url = port.rtsp_url("main")
    assert url == f"rtsp://10.88.{PORT}.2:554/cam{PORT}/main"
    # The server really is inside: the namespace has the camera's address on eth0.
    inside = subprocess.run(netns_exec_argv(port.netns, ["ip", "-br", "addr", "show", "eth0"]),
                            capture_output=True, text=True, check=True).stdout
    assert f"10.88.{PORT}.2/24" in inside

    # No PoE power yet: the link is down and the camera cannot be reached.
    assert not port.link.admin_up() and port.link.operstate() == "down"
    with pytest.raises(av.error.FFmpegError):
        read_frame(url)

    port.link.set_link(True)
    port.link.wait_link(True)
    frame = read_frame(url)
    assert (frame.width, frame.height) == (320, 240)
    assert (read_frame(port.rtsp_url("sub")).width) == 160
    assert port.cams.stats(f"cam{PORT}")["main"]["mounted"]  # control socket across netns

    port.link.set_link(False)
    port.link.wait_link(False)
    with pytest.raises(av.error.FFmpegError):
        read_frame(url)

    port.link.set_link(True)
    port.link.wait_link(True)
    assert read_frame(url).width == 320


@pytest.mark.root
def test_a_port_is_made_and_removed_including_a_crashed_runs_leftovers() -> None:
    needs_root()
    port = make_camera_port(OTHER_PORT)
    leftover = make_camera_port(OTHER_PORT).create()  # as a crashed run leaves it
    leftover.set_link(True)
    try:
        with port:  # removes the leftover first, then makes its own
            assert not port.admin_up()
            routes = subprocess.run(["ip", "route", "show", "exact", str(port.network)],
                                    capture_output=True, text=True, check=True).stdout
            assert f"unreachable {port.network} metric {UNREACHABLE_METRIC}" in routes
            inside = subprocess.run(port.exec_argv(["ip", "route"]), capture_output=True,
                                    text=True, check=True).stdout
            assert f"default via {port.host_address} dev eth0" in inside
            raise RuntimeError("the test fails here")
    except RuntimeError:
        pass
    finally:
        leftover.remove()
    assert left_behind(port) == []
    port.remove()  # idempotent


def test_a_port_refuses_addresses_that_cannot_work() -> None:
    with pytest.raises(ValueError, match="two addresses in one network"):
        CameraPort(1, host_address="10.87.1.1/24", camera_address="10.87.2.2/24")
    with pytest.raises(ValueError, match="not a usable interface name"):
        CameraPort(1, interface="eth0")
    port = CameraPort(3)
    assert (port.interface, port.netns, port.host_address, port.camera_address) == (
        "poe3", "nvrcam3", "10.87.3.1", "10.87.3.2")
    assert port.network == ipaddress.IPv4Network("10.87.3.0/24")
    assert isinstance(NetnsError("x"), RuntimeError)


INNER_TEST = """
    import os
    from pathlib import Path

    import pytest

    from tests.poe_netns import StartCameraPorts, camera_ports  # noqa: F401


    @pytest.fixture
    def fakecam_clips() -> Path:
        return Path(os.environ["INNER_CLIPS"])


    def test_fails_with_its_port_up(camera_ports: StartCameraPorts) -> None:
        [port] = camera_ports([{port}], link_up=True)
        Path(os.environ["INNER_MADE"]).write_text(port.netns)
        raise AssertionError("this test fails on purpose")
"""


@pytest.mark.root
@pytest.mark.gst
def test_the_fixture_removes_everything_when_a_test_fails(
        tmp_path: Path, fakecam_clips: Path) -> None:
    reason = root_unavailable_reason() or gst_unavailable_reason()
    if reason:
        pytest.skip(reason)
    inner = tmp_path / "test_inner.py"
    inner.write_text(textwrap.dedent(INNER_TEST.format(port=OTHER_PORT)))
    made = tmp_path / "made"
    env = {**os.environ, "INNER_CLIPS": str(fakecam_clips), "INNER_MADE": str(made)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"),
                           str(inner)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240, check=False)
    assert proc.returncode == 1 and "1 failed" in proc.stdout, proc.stdout + proc.stderr
    assert made.read_text() == f"tnvrcam{OTHER_PORT}"  # it did get that far
    assert left_behind(make_camera_port(OTHER_PORT)) == []
