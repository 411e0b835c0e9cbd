"""Every console command, in the order ``help`` lists them (one module per area)."""

from __future__ import annotations

from nvrd.console.commands import (
    accounts,
    clock,
    disks,
    hardware,
    maintenance,
    net,
    power,
    status,
)
from nvrd.console.registry import Command

__all__ = ["all_commands"]

_MODULES = (status, net, disks, hardware, clock, maintenance, accounts, power)


def all_commands() -> list[Command]:
    return [command for module in _MODULES for command in module.COMMANDS]
