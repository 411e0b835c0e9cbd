"""The simulated bays' plumbing that needs no root: bay→loop mapping, the recorded-style
SMART JSON through the real verdict, and a clear refusal where loop devices are missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from hal.board import DisksSection, load_board_profile
from hal.disks.smart import evaluate
from hal.sim.disks import SimDiskError, SimDisks, bay_loops, sim_smart_json

SIM_BAYS = load_board_profile(Path(__file__).parents[3] / "config/boards/sim.toml").disks
ARGV = ("smartctl", "--json=c", "-a", "-n", "standby", "/dev/loop57")


def test_sim_profile_bays_are_loops_57_to_60() -> None:
    assert bay_loops(SIM_BAYS) == {1: 57, 2: 58, 3: 59, 4: 60}


@pytest.mark.parametrize(("health", "state"), [
    ("healthy", "ok"), ("reallocated", "warning"), ("failing", "failing"),
    ("standby", "standby"), ("unavailable", "unavailable"), (None, "unavailable")])
def test_sim_smart_json_gets_the_real_verdict(health: str | None, state: str) -> None:
    report = evaluate(sim_smart_json(ARGV, health, "SIM1", 64 << 20))  # type: ignore[arg-type]
    assert report.state == state
    if state in ("ok", "warning", "failing"):
        assert report.serial == "SIM1" and report.protocol == "ATA"


def test_reallocated_sim_disk_reports_eight_sectors() -> None:
    report = evaluate(sim_smart_json(ARGV, "reallocated", "SIM1", 1 << 30))
    assert [(r.code, r.value) for r in report.reasons] == [("reallocated_sectors", 8)]


async def test_insert_without_loop_support_says_why(tmp_path: Path) -> None:
    sim = SimDisks(SIM_BAYS, tmp_path, loop_control=tmp_path / "no-loop-control")
    with pytest.raises(SimDiskError, match=r"needs root|no-loop-control"):
        await sim.insert(1, size_mib=16)
    assert all(not b.present for b in sim.snapshot())
    assert list(tmp_path.iterdir()) == []  # no image left behind


def test_unknown_bay_and_profile_without_loop_bays(tmp_path: Path) -> None:
    sim = SimDisks(SIM_BAYS, tmp_path)
    with pytest.raises(SimDiskError, match="no simulated bay 9"):
        sim.set_smart(9, "failing")
    real = DisksSection.model_validate({"bays": [{"number": 1, "id_path": "pci-*-ata-1"}]})
    with pytest.raises(SimDiskError, match="no bay on a loop device"):
        SimDisks(real, tmp_path)
