"""The kernel PSE-PD framework through ``ethtool --json --show-pse`` / ``--set-pse``.

Ports are network interfaces (the PSE is bound to a PHY in the device tree); the driver's
channel keys are whatever the caller maps to interface names (``open_poe`` uses the
chassis port number). There is no sysfs interface, and the netlink PSE notifications only
exist in very new kernels, so events are derived by diffing successive statuses.

ethtool prints the reply of ``ETHTOOL_MSG_PSE_GET`` as a JSON array of one object whose
keys are those of ethtool's ``netlink/pse-pd.c`` (``c33-pse-admin-state``,
``c33-pse-power-detection-status``, ``c33-pse-power-class``, ``c33-pse-actual-power`` in
mW, ``c33-pse-available-power-limit`` in mW, ``c33-pse-extended-state``/``-substate``, and
``podl-pse-*`` for PoDL). Bookworm's ethtool 6.1 has no ``--show-pse`` at all ("bad command
line argument(s)"); c33 needs roughly ethtool ≥ 6.10 and a kernel ≥ 6.9.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hal.poe.base import (
    POWER_CYCLE_OFF_S,
    PortDisabledError,
    PortPower,
    PortStatus,
    PseController,
    PseError,
    PseEvent,
    PseEventKind,
    PseUnavailable,
    Sleep,
)

__all__ = ["ETHTOOL_TIMEOUT_S", "CommandResult", "EthtoolError", "EthtoolUnsupported",
           "KernelPse", "PseNotSupported", "Runner", "parse_show_pse", "run_command"]

_log = logging.getLogger(__name__)

ETHTOOL_TIMEOUT_S = 5.0

_DETECTION = {
    "disabled": PortPower.DISABLED, "searching": PortPower.SEARCHING,
    "delivering power": PortPower.DELIVERING, "test": PortPower.SEARCHING,
    "fault": PortPower.FAULT, "otherfault": PortPower.FAULT, "error": PortPower.FAULT,
    "sleep": PortPower.SEARCHING, "idle": PortPower.SEARCHING, "unknown": PortPower.UNKNOWN,
}


@dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


Runner = Callable[[Sequence[str]], Awaitable[CommandResult]]


async def run_command(argv: Sequence[str], timeout_s: float = ETHTOOL_TIMEOUT_S,
                      ) -> CommandResult:
    """Run a command without blocking the loop; a missing binary raises FileNotFoundError."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return CommandResult(proc.returncode or 0, out.decode(errors="replace"),
                         err.decode(errors="replace"))


@dataclass(eq=False)
class EthtoolError(PseError):
    argv: tuple[str, ...]
    returncode: int
    stderr: str

    def __str__(self) -> str:
        return (f"{' '.join(self.argv)} failed ({self.returncode}): "
                f"{self.stderr.strip() or 'no message'}")


@dataclass(eq=False)
class EthtoolUnsupported(PseUnavailable):
    """ethtool is missing or too old to know ``--show-pse``/``--set-pse``."""

    ethtool: str
    reason: str

    def __str__(self) -> str:
        return (f"{self.ethtool} cannot manage PoE: {self.reason} (needs ethtool >= 6.10 "
                "with --show-pse/--set-pse, c33 options)")


@dataclass(eq=False)
class PseNotSupported(PseUnavailable):
    """The interface exists but has no PSE attached (EOPNOTSUPP), or does not exist."""

    interface: str
    reason: str

    def __str__(self) -> str:
        return f"no PSE on {self.interface}: {self.reason}"


def parse_show_pse(text: str, channel: int) -> PortStatus:
    """Pure: the JSON of ``ethtool --json --show-pse IFACE`` as a ``PortStatus``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"ethtool printed no valid JSON: {exc}") from exc
    if isinstance(data, list):
        if len(data) != 1 or not isinstance(data[0], dict):
            raise ValueError(f"expected one PSE object, got {len(data)} entries")
        data = data[0]
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object from ethtool --show-pse")
    prefix = "c33-pse" if any(k.startswith("c33-pse") for k in data) else "podl-pse"
    admin = data.get(f"{prefix}-admin-state")
    detection = data.get(f"{prefix}-power-detection-status", "unknown")
    power = _DETECTION.get(str(detection), PortPower.UNKNOWN)
    if admin == "disabled":
        power = PortPower.DISABLED
    return PortStatus(
        channel, admin_enabled=admin == "enabled", power=power,
        pd_class=_int(data, "c33-pse-power-class"),
        power_mw=_int(data, "c33-pse-actual-power"),
        limit_mw=_int(data, "c33-pse-available-power-limit"),
        fault=_fault(data, power, str(detection)))


def _int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _fault(data: Mapping[str, Any], power: PortPower, detection: str) -> str | None:
    state = data.get("c33-pse-extended-state")
    substate = data.get("c33-pse-extended-substate")
    if power is not PortPower.FAULT and state is None:
        return None
    return str(substate or state or detection)


class KernelPse(PseController):
    def __init__(self, controller_id: str, interfaces: Mapping[int, str], *,
                 runner: Runner = run_command, ethtool: str = "ethtool",
                 sleep: Sleep = asyncio.sleep) -> None:
        super().__init__(controller_id, sorted(interfaces), sleep=sleep)
        self._interfaces = dict(interfaces)
        self._runner = runner
        self._ethtool = ethtool
        self._last: dict[int, PortStatus] = {}

    def interface(self, channel: int) -> str:
        self._check_channel(channel)
        return self._interfaces[channel]

    async def _ethtool_run(self, *args: str, interface: str) -> str:
        argv = (self._ethtool, *args)
        try:
            result = await self._runner(argv)
        except FileNotFoundError as exc:
            raise EthtoolUnsupported(self._ethtool, "not installed") from exc
        if result.returncode == 0:
            return result.stdout
        stderr = result.stderr
        if "bad command line argument" in stderr:
            raise EthtoolUnsupported(self._ethtool, "it does not know --show-pse/--set-pse "
                                     "(bookworm's ethtool 6.1 does not)")
        if "Operation not supported" in stderr:
            raise PseNotSupported(interface, "the kernel reports no PSE for it (EOPNOTSUPP)")
        if "No such device" in stderr or "no device matches name" in stderr:
            raise PseNotSupported(interface, "no such network interface")
        raise EthtoolError(argv, result.returncode, stderr)

    async def start(self) -> None:
        """Check that ethtool and the kernel can read every port; changes nothing."""
        self._last = await self.statuses()

    async def _set(self, channel: int, control: str) -> None:
        interface = self.interface(channel)
        await self._ethtool_run("--set-pse", interface, "c33-pse-admin-control", control,
                                interface=interface)

    async def enable(self, channel: int) -> None:
        await self._set(channel, "enable")

    async def disable(self, channel: int) -> None:
        await self._set(channel, "disable")

    async def power_cycle(self, channel: int, off_s: float = POWER_CYCLE_OFF_S) -> None:
        if not (await self.status(channel)).admin_enabled:
            raise PortDisabledError(self.id, channel)
        await self._set(channel, "disable")
        try:
            await self._sleep(off_s)
        finally:
            await self._set(channel, "enable")

    async def status(self, channel: int) -> PortStatus:
        interface = self.interface(channel)
        text = await self._ethtool_run("--json", "--show-pse", interface, interface=interface)
        try:
            return parse_show_pse(text, channel)
        except ValueError as exc:
            raise EthtoolError((self._ethtool, "--json", "--show-pse", interface), 0,
                               f"unparsable output: {exc}") from exc

    async def poll_events(self) -> list[PseEvent]:
        current = await self.statuses()
        events: list[PseEvent] = []
        for channel, now in current.items():
            events += _diff(self._last.get(channel), now)
        self._last = current
        return events


def _diff(before: PortStatus | None, now: PortStatus) -> list[PseEvent]:
    """Events a status change implies (the kernel has no per-event registers to read)."""
    was = before.power if before else PortPower.UNKNOWN
    channel = now.channel
    events: list[PseEvent] = []
    if now.power is PortPower.FAULT and was is not PortPower.FAULT:
        events.append(PseEvent(PseEventKind.OVERCURRENT, channel, detail=now.fault))
    if was is PortPower.DELIVERING and now.power is not PortPower.DELIVERING:
        if now.power is PortPower.SEARCHING:
            events.append(PseEvent(PseEventKind.DISCONNECTED, channel))
        events.append(PseEvent(PseEventKind.UNPOWERED, channel))
    if now.pd_class is not None and (before is None or before.pd_class != now.pd_class):
        events.append(PseEvent(PseEventKind.CLASS_DETECTED, channel, now.pd_class))
    if now.power is PortPower.DELIVERING and was is not PortPower.DELIVERING:
        events.append(PseEvent(PseEventKind.POWERED, channel, now.pd_class))
    return events
