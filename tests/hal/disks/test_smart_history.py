"""SMART history: a new problem is reported once, growth again, a nap changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from hal.board import DisksSection
from hal.disks import (
    DeviceProbe,
    DiskEvent,
    DiskHealth,
    DiskInventory,
    DiskIoError,
    FakeBlockEvents,
    SmartChecker,
    SmartFailing,
    SmartHistory,
    SmartWarning,
    evaluate,
)
from hal.disks.events import BlockEvent
from hal.disks.runner import CommandResult
from hal.disks.smart import SmartReport
from tests.hal.disks.fakes import FIXTURES, FakeRunner, SysfsTree


def report(fixture: str, **changes: int) -> SmartReport:
    data = json.loads((FIXTURES / fixture).read_text())
    for attr in data.get("ata_smart_attributes", {}).get("table", []):
        key = f"a{attr['id']}"
        if key in changes:
            attr["raw"]["value"] = changes[key]
    return evaluate(data)


def test_new_warning_is_news_once(tmp_path: Path) -> None:
    history = SmartHistory(tmp_path / "smart.db")
    first = history.record("serial:X", report("ata_healthy.json"), 1)
    assert not first.is_news and first.previous is None
    warn = history.record("serial:X", report("ata_reallocated.json"), 2)
    assert warn.is_news and warn.worse
    assert [r.code for r in warn.new_reasons] == ["reallocated_sectors"]
    again = history.record("serial:X", report("ata_reallocated.json"), 3)
    assert not again.is_news and again.new_reasons == ()
    assert again.previous is not None and again.previous.state == "warning"


def test_growing_counter_and_new_problem_are_news(tmp_path: Path) -> None:
    history = SmartHistory(tmp_path / "smart.db")
    history.record("d", report("ata_reallocated.json"), 1)
    grew = history.record("d", report("ata_reallocated.json", a5=16), 2)
    assert grew.is_news and not grew.worse
    assert [(r.code, r.value) for r in grew.new_reasons] == [("reallocated_sectors", 16)]
    pending = history.record("d", report("ata_reallocated.json", a5=16, a197=4), 3)
    assert [r.code for r in pending.new_reasons] == ["pending_sectors"]


def test_a_nap_between_checks_does_not_reraise(tmp_path: Path) -> None:
    history = SmartHistory(tmp_path / "smart.db")
    history.record("d", report("ata_reallocated.json"), 1)
    asleep = history.record("d", report("ata_standby.json"), 2)
    assert not asleep.is_news
    awake = history.record("d", report("ata_reallocated.json"), 3)
    assert not awake.is_news
    assert history.last("d") is not None and history.last("d").state == "warning"  # type: ignore[union-attr]
    assert [c.state for c in history.checks("d")] == ["warning", "standby", "warning"]


def test_history_survives_reopen_and_is_bounded(tmp_path: Path) -> None:
    history = SmartHistory(tmp_path / "smart.db", keep_per_disk=3)
    for i in range(5):
        history.record("d", report("ata_healthy.json"), i)
    history.record("other", report("ata_healthy.json"), 9)
    history.close()
    reopened = SmartHistory(tmp_path / "smart.db", keep_per_disk=3)
    assert [c.at_us for c in reopened.checks("d")] == [4, 3, 2]
    assert reopened.checks("d")[0].values.temperature_c == 34
    assert len(reopened.checks("other")) == 1
    assert not reopened.record("d", report("ata_healthy.json"), 10).is_news


BAYS = DisksSection.model_validate({"bays": [
    {"number": 1, "devpath": "/devices/pci0000:00/0000:00:17.0/ata1/*"}]})
DEVPATH = "/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda"


async def test_health_raises_each_event_once(tmp_path: Path) -> None:
    sysfs = SysfsTree(tmp_path / "sys")
    sysfs.add_disk("sda", DEVPATH, files={"device/serial": "S1", "device/ioerr_cnt": "0x2"})
    fixture = ["ata_healthy.json"]
    runner = FakeRunner(lambda argv: CommandResult(
        argv, 0, (FIXTURES / fixture[0]).read_text(), "") if argv[0] == "smartctl" else None)
    source = FakeBlockEvents([BlockEvent("add", "sda", DEVPATH, "disk")])
    inventory = DiskInventory(BAYS, source, DeviceProbe(runner, sysfs_root=sysfs.root))
    await inventory.start()
    history = SmartHistory(tmp_path / "smart.db")
    health = DiskHealth(inventory, SmartChecker(runner), history, clock_us=lambda: 5,
                        sysfs_root=sysfs.root)
    events: list[DiskEvent] = []
    health.add_listener(events.append)

    await health.check_all_smart()
    assert events == []
    fixture[0] = "ata_reallocated.json"
    await health.check_all_smart()
    await health.check_all_smart()
    assert [type(e) for e in events] == [SmartWarning]
    assert isinstance(events[0], SmartWarning)
    assert events[0].bay == 1 and events[0].new_reasons[0].code == "reallocated_sectors"
    fixture[0] = "ata_failing.json"
    await health.check_all_smart()
    await health.check_all_smart()
    assert [type(e) for e in events] == [SmartWarning, SmartFailing]
    assert health.last_reports["serial:S1"].state == "failing"
    stored = await health.history("serial:S1")  # newest first, kept for the API
    assert [c.state for c in stored] == ["failing", "failing", "warning", "warning", "ok"]
    assert stored[2].values.reallocated_sectors is not None
    assert [c.state for c in await health.history("serial:S1", limit=2)] == ["failing"] * 2

    events.clear()
    assert await health.check_io_errors(inventory.disks()[0]) == 0  # baseline
    (sysfs.root / DEVPATH.lstrip("/") / "device" / "ioerr_cnt").write_text("0x5\n")
    await health.check_all_io_errors()
    await health.check_all_io_errors()
    assert events == [DiskIoError(inventory.disks()[0], new_errors=3, total_errors=5)]
    health.close()
    await inventory.close()
