"""SMART verdicts from recorded smartctl 7.3 JSON, through the real checker and runner seam."""

from __future__ import annotations

import json

import pytest

from hal.disks.runner import CommandResult
from hal.disks.smart import SmartChecker, SmartReport, evaluate
from tests.hal.disks.fakes import FIXTURES, FakeRunner, fixture_result


async def check(fixture: str) -> tuple[FakeRunner, SmartReport]:
    runner = FakeRunner(lambda argv: fixture_result(fixture, argv))
    report = await SmartChecker(runner).check("/dev/sda")
    return runner, report


async def test_command_line_never_wakes_a_sleeping_disk() -> None:
    runner, _ = await check("ata_healthy.json")
    assert runner.calls == [("smartctl", "--json=c", "-a", "-n", "standby", "/dev/sda")]
    assert SmartChecker(runner).argv("/dev/sdb", "sat")[-3:] == ["-d", "sat", "/dev/sdb"]


async def test_healthy_ata_disk_is_ok_with_its_values() -> None:
    _, report = await check("ata_healthy.json")
    assert report.state == "ok" and report.summary == "healthy" and report.reasons == ()
    assert report.checked
    assert (report.model, report.serial, report.protocol) == (
        "WDC WD40PURZ-85AKKY0", "WD-WX12D81AB3CD", "ATA")
    assert report.values.reallocated_sectors == 0
    assert report.values.temperature_c == 34
    assert report.values.power_on_hours == 21873


async def test_reallocated_sectors_are_a_warning_and_error_log_bit_is_not() -> None:
    _, report = await check("ata_reallocated.json")
    assert report.exit_status == 64  # bit 6: error log has entries (not a verdict on its own)
    assert report.state == "warning"
    assert [(r.code, r.value) for r in report.reasons] == [("reallocated_sectors", 8)]
    assert "8 reallocated sectors" in report.summary


async def test_failing_disk_from_self_assessment_and_exit_bit_3() -> None:
    _, report = await check("ata_failing.json")
    assert report.state == "failing"
    codes = {r.code: r.severity for r in report.reasons}
    assert codes["overall_failed"] == "failing"
    assert codes["attr_5_failed"] == "failing"  # when_failed == "now"
    assert codes["pending_sectors"] == codes["offline_uncorrectable"] == "warning"
    assert codes["selftest_errors"] == "warning"  # exit bit 7


def test_exit_bit_3_alone_means_failing() -> None:
    data = json.loads((FIXTURES / "ata_healthy.json").read_text())
    data["smartctl"]["exit_status"] = 8
    assert evaluate(data).state == "failing"


def test_every_watched_ata_counter_warns() -> None:
    data = json.loads((FIXTURES / "ata_healthy.json").read_text())
    table = data["ata_smart_attributes"]["table"]
    for attr in table:
        if attr["id"] in (197, 198, 199):
            attr["raw"]["value"] = 2
    table.append({"id": 187, "name": "Reported_Uncorrect", "value": 98, "worst": 98,
                  "thresh": 0, "when_failed": "", "flags": {"prefailure": False},
                  "raw": {"value": 2, "string": "2"}})
    report = evaluate(data)
    assert report.state == "warning"
    assert {r.code for r in report.reasons} == {
        "pending_sectors", "offline_uncorrectable", "crc_errors", "reported_uncorrect"}
    assert any("cable" in r.message for r in report.reasons)


def test_temperature_warning_from_temperature_field() -> None:
    data = json.loads((FIXTURES / "ata_healthy.json").read_text())
    data["temperature"]["current"] = 58
    report = evaluate(data)
    assert report.state == "warning" and report.reasons[0].code == "temperature"


def test_temperature_falls_back_to_attribute_194_low_byte() -> None:
    data = json.loads((FIXTURES / "ata_healthy.json").read_text())
    del data["temperature"]
    for attr in data["ata_smart_attributes"]["table"]:
        if attr["id"] == 194:
            attr["raw"]["value"] = (45 << 32) | (20 << 16) | 37  # max/min packed above
    assert evaluate(data).values.temperature_c == 37


async def test_packed_seagate_command_timeout_counter() -> None:
    _, report = await check("ata_seagate_timeouts.json")
    assert report.values.command_timeouts == 1  # 0x0001_0001_0001: the low word
    assert report.state == "warning"


async def test_nvme_healthy() -> None:
    _, report = await check("nvme_healthy.json")
    assert report.state == "ok" and report.protocol == "NVMe"
    assert report.values.nvme_available_spare == 100
    assert report.values.nvme_media_errors == 0


async def test_nvme_media_errors_warn() -> None:
    _, report = await check("nvme_media_errors.json")
    assert report.state == "warning"
    assert [(r.code, r.value) for r in report.reasons] == [("nvme_media_errors", 3)]


async def test_nvme_critical_warning_and_spare_fail() -> None:
    _, report = await check("nvme_failing.json")
    assert report.state == "failing"
    codes = {r.code for r in report.reasons}
    assert {"nvme_critical_0", "nvme_critical_2", "overall_failed"} <= codes
    assert report.values.nvme_critical_warning == 5


def test_nvme_spare_below_threshold_without_the_warning_bit() -> None:
    data = json.loads((FIXTURES / "nvme_healthy.json").read_text())
    data["nvme_smart_health_information_log"]["available_spare"] = 5
    report = evaluate(data)
    assert report.state == "failing" and report.reasons[0].code == "nvme_spare"


def test_nvme_temperature_bit_is_only_a_warning() -> None:
    data = json.loads((FIXTURES / "nvme_healthy.json").read_text())
    data["nvme_smart_health_information_log"]["critical_warning"] = 2
    assert evaluate(data).state == "warning"


async def test_standby_is_not_checked_and_not_a_fault() -> None:
    _, report = await check("ata_standby.json")
    assert report.state == "standby"
    assert report.summary == "not checked, disk asleep"
    assert not report.checked


async def test_unknown_device_type_is_smart_not_available() -> None:
    _, report = await check("unknown_device_type.json")
    assert report.state == "unavailable"
    assert report.summary.startswith("SMART not available")
    assert "Unable to detect device type" in report.summary


def test_device_without_smart_support() -> None:
    data = json.loads((FIXTURES / "ata_healthy.json").read_text())
    data["smart_support"] = {"available": False}
    for key in ("smart_status", "ata_smart_attributes"):
        del data[key]
    assert evaluate(data).summary == "SMART not available: the device has no SMART"


@pytest.mark.parametrize(("runner", "state", "text"), [
    (FakeRunner(missing=["smartctl"]), "unavailable", "not installed"),
    (FakeRunner(timeouts=["smartctl"]), "error", "did not answer"),
    (FakeRunner(lambda argv: CommandResult(argv, 1, "", "smartctl: bad option")),
     "error", "bad option"),
])
async def test_smartctl_missing_hung_or_garbled(runner: FakeRunner, state: str,
                                                text: str) -> None:
    report = await SmartChecker(runner, timeout_s=7).check("/dev/sda")
    assert report.state == state and text in report.summary
    assert runner.timeouts_seen == [7]
