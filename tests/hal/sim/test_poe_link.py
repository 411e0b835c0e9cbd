"""hal/sim/poe_link.py: the simulated PSE's port power drives the port's network link.

The real budget manager and TPS23861 driver run on the simulated chips. Without root the
link commands go to a recorder; with root (``root`` marker) a real veth into a camera's
namespace goes up and down, read back from sysfs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hal.board import BoardProfile, load_board_profile
from hal.poe import OpenedPoe, open_poe
from hal.sim import SimBoard
from hal.sim.poe_link import LinkError, PoeLink
from tests.poe_netns import BOARD_DIR, make_camera_port
from tools.fakecam.netns import CameraPort, root_unavailable_reason

ROOT = Path(__file__).resolve().parents[3]
SIM = load_board_profile(ROOT / "config/boards/sim.toml")
NETNS = load_board_profile(BOARD_DIR / "sim-netns.toml")
WAIT_S = 10.0
"""Only so that a broken test fails instead of hanging; never a measure."""
PORT = 3  # pse0 channel 2
CYCLE_PAUSE_S = 0.125  # the power cycle's pause, told apart from other sleeps by its value


@dataclass
class Recorder:
    """Stands in for ``ip link set``: what was set, in order."""

    existing: set[str] = field(default_factory=set)
    calls: list[tuple[str, bool]] = field(default_factory=list)
    fail: bool = False

    def set_link(self, interface: str, up: bool) -> None:
        if self.fail:
            raise LinkError(f"ip link set dev {interface}: Operation not permitted")
        self.calls.append((interface, up))

    def exists(self, interface: str) -> bool:
        return interface in self.existing


async def fast_sleep(seconds: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def poe() -> AsyncIterator[OpenedPoe]:
    opened = open_poe(NETNS.poe, sleep=fast_sleep)
    yield opened
    await opened.manager.close()


def flush(link: PoeLink) -> None:
    assert link.flush(WAIT_S), "the link worker did not catch up"


def test_the_test_profile_is_the_sim_profile_with_its_own_interface_names() -> None:
    def normalised(profile: BoardProfile) -> dict[str, object]:
        data = profile.model_dump()
        del data["name"], data["description"]
        for port in data["poe"]["ports"]:
            port["interface"] = port["interface"].removeprefix("t")
        return data

    assert NETNS.name == "sim-netns"
    assert [p.interface for p in NETNS.poe.ports] == [f"tpoe{n}" for n in range(1, 9)]
    assert normalised(NETNS) == normalised(SIM)


async def test_power_on_off_and_cycle_become_link_up_down_in_order(poe: OpenedPoe) -> None:
    recorder = Recorder(existing={"tpoe3"})
    link = PoeLink(NETNS.poe, set_link=recorder.set_link, exists=recorder.exists)
    assert link.interfaces["pse0"][2] == "tpoe3" and link.interfaces["pse1"][3] == "tpoe8"
    try:
        link.attach(poe.sim)
        await poe.manager.start()
        flush(link)
        assert recorder.calls == [("tpoe3", False)]  # its present state, on attach

        poe.sim["pse0"].plug(2, pd_class=3, power_mw=7_000)
        await poe.manager.poll()  # semi-auto: the driver switches power on
        flush(link)
        assert recorder.calls[1:] == [("tpoe3", True)]

        await poe.manager.power_cycle(PORT, off_s=CYCLE_PAUSE_S)
        await poe.manager.disable(PORT)
        await poe.manager.enable(PORT)
        poe.sim["pse0"].force_overcurrent(2)
        flush(link)
        assert recorder.calls[2:] == [("tpoe3", False), ("tpoe3", True),  # the cycle
                                      ("tpoe3", False), ("tpoe3", True),  # disable, enable
                                      ("tpoe3", False)]  # the trip

        link.close()
        poe.sim["pse0"].unplug(2)
        assert link.flush(WAIT_S) and len(recorder.calls) == 7  # no longer followed
    finally:
        link.close()


async def test_missing_interfaces_are_left_alone_and_said_once(
        poe: OpenedPoe, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="hal.sim.poe_link")
    recorder = Recorder()
    link = PoeLink(NETNS.poe, set_link=recorder.set_link, exists=recorder.exists)
    try:
        link.attach(poe.sim)
        await poe.manager.start()
        poe.sim["pse0"].plug(2, pd_class=3, power_mw=7_000)
        await poe.manager.poll()
        await poe.manager.disable(PORT)
        flush(link)
        assert recorder.calls == []
        missing = [r for r in caplog.records if "tpoe3: no such interface" in r.getMessage()]
        assert len(missing) == 1 and missing[0].levelno == logging.DEBUG

        recorder.existing.add("tpoe3")  # made later: followed from then on
        await poe.manager.enable(PORT)
        flush(link)
        assert recorder.calls == [("tpoe3", True)]
    finally:
        link.close()


async def test_a_link_command_that_fails_is_a_warning_once(
        poe: OpenedPoe, caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder(existing={"tpoe3"}, fail=True)
    link = PoeLink(NETNS.poe, set_link=recorder.set_link, exists=recorder.exists)
    try:
        link.attach(poe.sim)
        await poe.manager.start()
        poe.sim["pse0"].plug(2, pd_class=3, power_mw=7_000)
        await poe.manager.poll()
        flush(link)
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING
                    and r.name == "hal.sim.poe_link"]
        assert len(warnings) == 1
        assert "tpoe3 not set down: ip link set dev tpoe3: Operation not permitted" in (
            warnings[0].getMessage())
    finally:
        link.close()


@pytest.fixture
def veth() -> Iterator[CameraPort]:
    reason = root_unavailable_reason()
    if reason:
        pytest.skip(reason)
    with make_camera_port(PORT) as port:
        port.set_link(True)  # up, so that attaching must take it down
        yield port


async def wait_link(port: CameraPort, up: bool) -> None:
    await asyncio.to_thread(port.wait_link, up, WAIT_S)


@pytest.mark.root
async def test_the_sim_board_takes_a_real_port_link_up_and_down_with_power(
        veth: CameraPort, tmp_path: Path) -> None:
    paused_down: list[str] = []

    async def sleep(seconds: float) -> None:
        if seconds == CYCLE_PAUSE_S:  # inside the power cycle: the link must be down
            await wait_link(veth, False)
            paused_down.append(veth.operstate())

    poe = open_poe(NETNS.poe, sleep=sleep)
    board = SimBoard(NETNS, tmp_path / "board")
    try:
        board.attach_poe(poe.sim)
        await poe.manager.start()
        await wait_link(veth, False)  # not powered
        assert not veth.admin_up()

        poe.sim["pse0"].plug(2, pd_class=3, power_mw=7_000)
        await poe.manager.poll()
        await wait_link(veth, True)

        await poe.manager.disable(PORT)
        await wait_link(veth, False)
        await poe.manager.enable(PORT)
        await wait_link(veth, True)

        await poe.manager.power_cycle(PORT, off_s=CYCLE_PAUSE_S)
        assert paused_down == ["down"]
        await wait_link(veth, True)

        poe.sim["pse0"].unplug(2)
        await wait_link(veth, False)
    finally:
        await poe.manager.close()
        await board.close()
    assert board.poe_link is None
