"""SMART health through ``smartctl --json``: a verdict from the attributes that matter.

Why these attributes: 5 (reallocated), 187 (reported uncorrectable), 188 (command
timeout), 197 (pending) and 198 (offline uncorrectable) are the counters that predict a
drive failure in field data; 199 (UDMA CRC errors) points at the cable or backplane, not
the platters, but a recorder must still say so. Any non-zero count is a warning; the
drive's own verdict (``smart_status.passed``, exit bit 3) or an attribute at or below its
threshold *now* is failing. NVMe reports health directly (critical warning bits, spare,
media errors).

``-n standby`` keeps smartctl from spinning up a sleeping disk: it then exits with bit 1
and no data, which is "not checked, disk asleep", not a fault. A device smartctl cannot
talk to (a loop device, an unsupported USB bridge) is "SMART not available", also not a
fault. smartctl's exit status is a bit mask and non-zero is normal; it is read, never
treated as failure of the command.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hal.disks.errors import CommandTimeout
from hal.disks.runner import CommandRunner

__all__ = [
    "EXIT_DISK_FAILING",
    "EXIT_OPEN_FAILED",
    "SMARTCTL_TIMEOUT_S",
    "SmartChecker",
    "SmartReason",
    "SmartReport",
    "SmartState",
    "SmartValues",
    "evaluate",
]

SMARTCTL_TIMEOUT_S = 60.0

# smartctl(8) exit status bits.
EXIT_COMMAND_LINE = 1 << 0  # also: device could not be identified ("Unable to detect ...")
EXIT_OPEN_FAILED = 1 << 1  # open failed, or the disk is in standby with -n standby
EXIT_SMART_CMD_FAILED = 1 << 2
EXIT_DISK_FAILING = 1 << 3
EXIT_PREFAIL_NOW = 1 << 4
EXIT_PREFAIL_PAST = 1 << 5
EXIT_ERROR_LOG = 1 << 6
EXIT_SELFTEST_ERRORS = 1 << 7

TEMP_WARN_C = {"ATA": 55, "NVMe": 70, "SCSI": 55}
"""Sustained temperatures above these shorten a drive's life (HDD datasheets: 60 °C max)."""

# NVMe critical_warning bits: bit 1 (temperature) is a warning, the others mean failing.
_NVME_CRITICAL = {0: "available spare below threshold", 2: "reliability degraded",
                  3: "media is read-only", 4: "volatile memory backup failed"}
_NVME_TEMPERATURE_BIT = 1

SmartState = Literal["ok", "warning", "failing", "standby", "unavailable", "error"]
Severity = Literal["warning", "failing"]


@dataclass(frozen=True, slots=True)
class SmartReason:
    """One problem. ``code`` is stable (history compares codes); ``message`` is for people."""

    code: str
    severity: Severity
    message: str
    value: int | None = None


@dataclass(frozen=True, slots=True)
class SmartValues:
    """The values stored in the history: enough to see a counter move between checks."""

    reallocated_sectors: int | None = None
    reported_uncorrect: int | None = None
    command_timeouts: int | None = None
    pending_sectors: int | None = None
    offline_uncorrectable: int | None = None
    crc_errors: int | None = None
    temperature_c: int | None = None
    power_on_hours: int | None = None
    nvme_critical_warning: int | None = None
    nvme_media_errors: int | None = None
    nvme_available_spare: int | None = None
    nvme_percentage_used: int | None = None


@dataclass(frozen=True, slots=True)
class SmartReport:
    state: SmartState
    summary: str
    """One line for the operator: "healthy", "not checked, disk asleep", ..."""
    reasons: tuple[SmartReason, ...] = ()
    values: SmartValues = SmartValues()
    exit_status: int | None = None
    protocol: str | None = None
    model: str | None = None
    serial: str | None = None

    @property
    def checked(self) -> bool:
        """Whether this report is a verdict (ok/warning/failing) rather than "no data"."""
        return self.state in ("ok", "warning", "failing")


class SmartChecker:
    """Runs smartctl through the injected runner (the sim answers with recorded JSON)."""

    def __init__(self, runner: CommandRunner, *, smartctl: str = "smartctl",
                 timeout_s: float = SMARTCTL_TIMEOUT_S) -> None:
        self._runner = runner
        self._smartctl = smartctl
        self._timeout_s = timeout_s

    def argv(self, devnode: str, device_type: str | None = None) -> list[str]:
        """``device_type`` is smartctl's ``-d`` (``sat`` for USB bridges)."""
        argv = [self._smartctl, "--json=c", "-a", "-n", "standby"]
        if device_type:
            argv += ["-d", device_type]
        return [*argv, devnode]

    async def check(self, devnode: str, device_type: str | None = None) -> SmartReport:
        argv = self.argv(devnode, device_type)
        try:
            result = await self._runner(argv, timeout_s=self._timeout_s)
        except FileNotFoundError:
            return SmartReport("unavailable", "SMART not available: smartctl is not installed")
        except CommandTimeout:
            return SmartReport("error", f"smartctl did not answer within {self._timeout_s:g} s")
        try:
            data = json.loads(result.stdout)
        except ValueError:
            return SmartReport("error", "smartctl printed no JSON: "
                               + (result.stderr or result.stdout).strip()[:200],
                               exit_status=result.returncode)
        if not isinstance(data, dict):
            return SmartReport("error", "smartctl JSON is not an object",
                               exit_status=result.returncode)
        return evaluate(data)


def evaluate(data: Mapping[str, Any]) -> SmartReport:
    """The verdict for one smartctl JSON document (pure; fixtures test it directly)."""
    exit_status = _int(_get(data, "smartctl", "exit_status")) or 0
    device = data.get("device") or {}
    ident: dict[str, Any] = {
        "exit_status": exit_status,
        "protocol": device.get("protocol") if isinstance(device, dict) else None,
        "model": data.get("model_name"), "serial": data.get("serial_number")}
    messages = [m.get("string", "") for m in _get(data, "smartctl", "messages") or []
                if isinstance(m, dict)]
    has_data = any(k in data for k in ("smart_status", "ata_smart_attributes",
                                       "nvme_smart_health_information_log"))
    if exit_status & (EXIT_COMMAND_LINE | EXIT_OPEN_FAILED) and not has_data:
        if any(" mode, exit(" in m or "STANDBY" in m or "SLEEP" in m for m in messages):
            return SmartReport("standby", "not checked, disk asleep", **ident)
        why = next((m for m in messages if m), "smartctl could not open the device")
        return SmartReport("unavailable", f"SMART not available: {why}", **ident)
    support = data.get("smart_support") or {}
    if support.get("available") is False:
        return SmartReport("unavailable", "SMART not available: the device has no SMART",
                           **ident)
    if support.get("enabled") is False:
        return SmartReport("unavailable", "SMART not available: disabled on the device",
                           **ident)
    if not has_data:
        return SmartReport("unavailable", "SMART not available: no health data returned",
                           **ident)
    values = _values(data)
    reasons = _overall(data, exit_status) + _ata(data) + _nvme(data)
    reasons += _temperature(values.temperature_c, ident["protocol"])
    if any(r.severity == "failing" for r in reasons):
        state: SmartState = "failing"
    elif reasons:
        state = "warning"
    else:
        state = "ok"
    summary = "healthy" if state == "ok" else "; ".join(r.message for r in reasons)
    return SmartReport(state, summary, tuple(reasons), values, **ident)


def _overall(data: Mapping[str, Any], exit_status: int) -> list[SmartReason]:
    reasons = []
    if _get(data, "smart_status", "passed") is False or exit_status & EXIT_DISK_FAILING:
        reasons.append(SmartReason("overall_failed", "failing",
                                   "the drive's self-assessment says FAILING"))
    if exit_status & EXIT_SELFTEST_ERRORS:
        reasons.append(SmartReason("selftest_errors", "warning",
                                   "a recent self-test reported errors"))
    return reasons


# (attribute id, code, message with {n}); raw value > 0 is a warning.
_ATA_COUNTERS: tuple[tuple[int, str, str], ...] = (
    (5, "reallocated_sectors", "{n} reallocated sectors"),
    (187, "reported_uncorrect", "{n} uncorrectable errors reported"),
    (188, "command_timeouts", "{n} command timeouts"),
    (197, "pending_sectors", "{n} sectors pending reallocation"),
    (198, "offline_uncorrectable", "{n} offline uncorrectable sectors"),
    (199, "crc_errors", "{n} interface CRC errors (check the cable or backplane)"),
)


def _ata(data: Mapping[str, Any]) -> list[SmartReason]:
    table = _ata_table(data)
    reasons = []
    for attr in table.values():
        when = attr.get("when_failed") or ""
        name = attr.get("name") or f"attribute {attr.get('id')}"
        if when == "now":
            reasons.append(SmartReason(f"attr_{attr.get('id')}_failed", "failing",
                                       f"{name} is at or below its failure threshold"))
        elif when == "past":
            reasons.append(SmartReason(f"attr_{attr.get('id')}_failed_past", "warning",
                                       f"{name} was below its failure threshold in the past"))
    for attr_id, code, message in _ATA_COUNTERS:
        n = _ata_raw(table, attr_id)
        if n:
            reasons.append(SmartReason(code, "warning", message.format(n=n), n))
    return reasons


def _nvme(data: Mapping[str, Any]) -> list[SmartReason]:
    log = data.get("nvme_smart_health_information_log")
    if not isinstance(log, dict):
        return []
    reasons = []
    warning = _int(log.get("critical_warning")) or 0
    for bit, text in _NVME_CRITICAL.items():
        if warning & (1 << bit):
            reasons.append(SmartReason(f"nvme_critical_{bit}", "failing", text, warning))
    if warning & (1 << _NVME_TEMPERATURE_BIT):
        reasons.append(SmartReason("nvme_temperature", "warning",
                                   "temperature outside the drive's limits", warning))
    spare, threshold = _int(log.get("available_spare")), _int(log.get("available_spare_threshold"))
    if spare is not None and threshold is not None and spare < threshold \
            and not warning & 1:
        reasons.append(SmartReason("nvme_spare", "failing",
                                   f"available spare {spare}% below threshold {threshold}%",
                                   spare))
    media = _int(log.get("media_errors"))
    if media:
        reasons.append(SmartReason("nvme_media_errors", "warning",
                                   f"{media} media and data integrity errors", media))
    used = _int(log.get("percentage_used"))
    if used is not None and used >= 100:
        reasons.append(SmartReason("nvme_worn_out", "warning",
                                   f"rated endurance used up ({used}%)", used))
    return reasons


def _temperature(celsius: int | None, protocol: str | None) -> list[SmartReason]:
    limit = TEMP_WARN_C.get(protocol or "ATA", TEMP_WARN_C["ATA"])
    if celsius is not None and celsius >= limit:
        return [SmartReason("temperature", "warning",
                            f"temperature {celsius} °C (limit {limit} °C)", celsius)]
    return []


def _values(data: Mapping[str, Any]) -> SmartValues:
    table = _ata_table(data)
    log = data.get("nvme_smart_health_information_log")
    log = log if isinstance(log, dict) else {}
    temperature = _int(_get(data, "temperature", "current"))
    if temperature is None:
        for attr_id in (194, 190):
            raw = _ata_raw(table, attr_id)
            if raw is not None:
                temperature = raw & 0xFF  # higher bytes hold min/max on many drives
                break
    return SmartValues(
        reallocated_sectors=_ata_raw(table, 5), reported_uncorrect=_ata_raw(table, 187),
        command_timeouts=_ata_raw(table, 188), pending_sectors=_ata_raw(table, 197),
        offline_uncorrectable=_ata_raw(table, 198), crc_errors=_ata_raw(table, 199),
        temperature_c=temperature,
        power_on_hours=_int(_get(data, "power_on_time", "hours")),
        nvme_critical_warning=_int(log.get("critical_warning")),
        nvme_media_errors=_int(log.get("media_errors")),
        nvme_available_spare=_int(log.get("available_spare")),
        nvme_percentage_used=_int(log.get("percentage_used")))


def _ata_table(data: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    rows = _get(data, "ata_smart_attributes", "table") or []
    return {row["id"]: row for row in rows if isinstance(row, dict) and "id" in row}


def _ata_raw(table: Mapping[int, Mapping[str, Any]], attr_id: int) -> int | None:
    attr = table.get(attr_id)
    if attr is None:
        return None
    raw = _int(_get(attr, "raw", "value"))
    if raw is not None and attr_id == 188 and raw > 0xFFFF:
        raw &= 0xFFFF  # Seagate packs three 16-bit counters; the low word is the count
    return raw


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None

