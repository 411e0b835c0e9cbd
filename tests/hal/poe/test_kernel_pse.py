"""The kernel PSE-PD driver against recorded ``ethtool --json --show-pse`` output (field
names from ethtool's netlink/pse-pd.c) and the argv it runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from hal.poe.base import PortDisabledError, PortPower, PseEvent, PseEventKind
from hal.poe.kernel_pse import (
    CommandResult,
    EthtoolError,
    EthtoolUnsupported,
    KernelPse,
    PseNotSupported,
    parse_show_pse,
)
from tests.hal.poe.helpers import RecordingSleep

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


class FakeEthtool:
    """Answers ``--show-pse`` with the current fixture per interface; records argv."""

    def __init__(self, shows: dict[str, str]) -> None:
        self.shows = shows
        self.calls: list[tuple[str, ...]] = []
        self.fail: CommandResult | None = None

    async def __call__(self, argv: Sequence[str]) -> CommandResult:
        self.calls.append(tuple(argv))
        if self.fail is not None:
            return self.fail
        if "--show-pse" in argv:
            return CommandResult(0, fixture(self.shows[argv[-1]]), "")
        return CommandResult(0, "", "")


def test_parse_delivering() -> None:
    status = parse_show_pse(fixture("show-pse-lan1-delivering.json"), 1)
    assert status.admin_enabled and status.power is PortPower.DELIVERING
    assert (status.pd_class, status.power_mw, status.limit_mw) == (4, 6100, 30000)
    assert status.fault is None


def test_parse_searching_disabled_fault_and_podl() -> None:
    searching = parse_show_pse(fixture("show-pse-lan2-searching.json"), 2)
    assert searching.power is PortPower.SEARCHING and searching.pd_class is None
    disabled = parse_show_pse(fixture("show-pse-lan3-disabled.json"), 3)
    assert disabled.power is PortPower.DISABLED and not disabled.admin_enabled
    fault = parse_show_pse(fixture("show-pse-lan4-overload.json"), 4)
    assert fault.power is PortPower.FAULT and fault.fault == "Overload state"
    budget = parse_show_pse(fixture("show-pse-lan1-budget.json"), 1)
    assert (budget.pd_class, budget.power_mw, budget.limit_mw) == (3, 8450, 15400)
    podl = parse_show_pse(fixture("show-pse-t1l0-podl.json"), 9)
    assert podl.admin_enabled and podl.power is PortPower.DELIVERING


def test_parse_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_show_pse("PSE attributes for lan1:\n", 1)
    with pytest.raises(ValueError):
        parse_show_pse("[ ]", 1)


async def test_status_runs_show_pse_json() -> None:
    ethtool = FakeEthtool({"lan1": "show-pse-lan1-delivering.json"})
    pse = KernelPse("kpse", {1: "lan1"}, runner=ethtool, ethtool="/usr/sbin/ethtool")
    status = await pse.status(1)
    assert ethtool.calls == [("/usr/sbin/ethtool", "--json", "--show-pse", "lan1")]
    assert status.channel == 1 and status.power_mw == 6100


async def test_enable_disable_and_power_cycle_argv(sleep: RecordingSleep) -> None:
    ethtool = FakeEthtool({"lan2": "show-pse-lan2-searching.json"})
    pse = KernelPse("kpse", {2: "lan2"}, runner=ethtool, sleep=sleep)
    await pse.enable(2)
    await pse.disable(2)
    ethtool.calls.clear()
    await pse.power_cycle(2, off_s=2.5)
    assert ethtool.calls == [
        ("ethtool", "--json", "--show-pse", "lan2"),
        ("ethtool", "--set-pse", "lan2", "c33-pse-admin-control", "disable"),
        ("ethtool", "--set-pse", "lan2", "c33-pse-admin-control", "enable"),
    ]
    assert sleep.calls == [2.5]


async def test_power_cycle_refuses_an_admin_disabled_port() -> None:
    ethtool = FakeEthtool({"lan3": "show-pse-lan3-disabled.json"})
    pse = KernelPse("kpse", {3: "lan3"}, runner=ethtool)
    with pytest.raises(PortDisabledError):
        await pse.power_cycle(3, off_s=0)
    assert not any("--set-pse" in call for call in ethtool.calls)


async def test_bookworm_ethtool_without_show_pse() -> None:
    ethtool = FakeEthtool({})
    ethtool.fail = CommandResult(1, "", fixture("ethtool-6.1-show-pse.stderr"))
    pse = KernelPse("kpse", {1: "lan1"}, runner=ethtool)
    with pytest.raises(EthtoolUnsupported) as info:
        await pse.start()
    assert "--show-pse" in str(info.value) and "6.1" in str(info.value)


async def test_missing_ethtool_binary() -> None:
    async def runner(argv: Sequence[str]) -> CommandResult:
        raise FileNotFoundError(argv[0])

    with pytest.raises(EthtoolUnsupported, match="not installed"):
        await KernelPse("kpse", {1: "lan1"}, runner=runner).status(1)


@pytest.mark.parametrize(("stderr", "reason"), [
    ("show-pse-eopnotsupp.stderr", "EOPNOTSUPP"),
    ("show-pse-nodev.stderr", "no such network interface"),
])
async def test_interface_without_pse(stderr: str, reason: str) -> None:
    ethtool = FakeEthtool({})
    ethtool.fail = CommandResult(1, "[  ]\n", fixture(stderr))
    with pytest.raises(PseNotSupported, match=reason) as info:
        await KernelPse("kpse", {5: "lan5"}, runner=ethtool).enable(5)
    assert info.value.interface == "lan5"


async def test_other_failures_keep_the_message() -> None:
    ethtool = FakeEthtool({})
    ethtool.fail = CommandResult(1, "", "netlink error: Operation not permitted\n")
    with pytest.raises(EthtoolError, match="not permitted"):
        await KernelPse("kpse", {1: "lan1"}, runner=ethtool).enable(1)


async def test_events_from_status_changes() -> None:
    ethtool = FakeEthtool({"lan1": "show-pse-lan2-searching.json"})
    pse = KernelPse("kpse", {1: "lan1"}, runner=ethtool)
    await pse.start()
    assert await pse.poll_events() == []
    ethtool.shows["lan1"] = "show-pse-lan1-delivering.json"
    assert await pse.poll_events() == [PseEvent(PseEventKind.CLASS_DETECTED, 1, 4),
                                       PseEvent(PseEventKind.POWERED, 1, 4)]
    ethtool.shows["lan1"] = "show-pse-lan2-searching.json"
    assert [e.kind for e in await pse.poll_events()] == [PseEventKind.DISCONNECTED,
                                                          PseEventKind.UNPOWERED]
    ethtool.shows["lan1"] = "show-pse-lan4-overload.json"
    events = await pse.poll_events()
    assert events == [PseEvent(PseEventKind.OVERCURRENT, 1, detail="Overload state")]
