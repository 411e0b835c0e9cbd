"""PoE: PSE controllers (TPS23861 over SMBus, the kernel PSE-PD framework, the simulated
board's TPS23861 models) and the software power budget above them.

``open_poe`` is the only place that maps a board profile's controller ``kind`` to a driver
class; callers use the ``PseController`` interface and ``PowerBudgetManager``::

    poe = open_poe(board.poe, on_event=bus.publish)
    await poe.manager.start(saved_admin_states)
    await poe.manager.power_cycle(3)
    poe.sim["pse0"].plug(2, pd_class=3, power_mw=9_000)   # simulated board only
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hal.board import KernelPseController, PoeSection, SimPoeController, Tps23861Controller
from hal.poe.base import (
    POWER_CYCLE_OFF_S,
    BusBusy,
    BusNotFound,
    ChipNotFound,
    PortDisabledError,
    PortPower,
    PortStatus,
    PseController,
    PseError,
    PseEvent,
    PseEventKind,
    PseIoError,
    PseUnavailable,
    Sleep,
    UnknownChannel,
)
from hal.poe.budget import (
    PoeEvent,
    PoeEventKind,
    PoePortStatus,
    PortNotEnabled,
    PowerBudgetExceeded,
    PowerBudgetManager,
    UnknownPort,
    class_allocation_mw,
)
from hal.poe.kernel_pse import (
    CommandResult,
    EthtoolError,
    EthtoolUnsupported,
    KernelPse,
    PseNotSupported,
    Runner,
    run_command,
)
from hal.poe.smbus import SMBusLike, open_smbus
from hal.poe.tps23861 import Tps23861

if TYPE_CHECKING:
    from hal.sim.tps23861 import SimPse

__all__ = [
    "POWER_CYCLE_OFF_S", "BusBusy", "BusNotFound", "ChipNotFound", "CommandResult", "EthtoolError",
    "EthtoolUnsupported", "KernelPse", "OpenedPoe", "PoeEvent", "PoeEventKind",
    "PoePortStatus", "PortDisabledError", "PortNotEnabled", "PortPower", "PortStatus",
    "PowerBudgetExceeded", "PowerBudgetManager", "PseController", "PseError", "PseEvent",
    "PseEventKind", "PseIoError", "PseNotSupported", "PseUnavailable", "Runner", "SMBusLike",
    "Tps23861", "UnknownChannel", "UnknownPort", "class_allocation_mw", "open_controllers",
    "open_poe", "open_smbus", "run_command",
]


@dataclass(frozen=True, slots=True)
class OpenedPoe:
    manager: PowerBudgetManager
    controllers: Mapping[str, PseController]
    sim: Mapping[str, SimPse] = field(default_factory=dict)
    """Tester handles of the ``kind = "sim"`` controllers, by controller id."""


def open_controllers(section: PoeSection, *,
                     smbus_factory: Callable[[int], SMBusLike] = open_smbus,
                     runner: Runner = run_command, ethtool: str = "ethtool",
                     sleep: Sleep = asyncio.sleep,
                     clock: Callable[[], float] = time.monotonic,
                     ) -> tuple[dict[str, PseController], dict[str, SimPse]]:
    """A driver per controller of the profile. Nothing touches hardware until ``start``,
    except opening ``/dev/i2c-N`` (one SMBus per bus, shared by the chips on it)."""
    controllers: dict[str, PseController] = {}
    sims: dict[str, SimPse] = {}
    buses: dict[int, SMBusLike] = {}
    for cfg in section.controllers:
        if isinstance(cfg, Tps23861Controller):
            if cfg.i2c_bus not in buses:
                try:
                    buses[cfg.i2c_bus] = smbus_factory(cfg.i2c_bus)
                except FileNotFoundError as exc:
                    raise BusNotFound(f"/dev/i2c-{cfg.i2c_bus}") from exc
            controllers[cfg.id] = Tps23861(
                buses[cfg.i2c_bus], cfg.address, controller_id=cfg.id,
                bus_name=f"/dev/i2c-{cfg.i2c_bus}", shunt_mohm=cfg.shunt_mohm,
                sleep=sleep, clock=clock)
        elif isinstance(cfg, KernelPseController):
            interfaces = {p.port: p.interface for p in section.ports_of(cfg.id)
                          if p.interface is not None}
            controllers[cfg.id] = KernelPse(cfg.id, interfaces, runner=runner,
                                            ethtool=ethtool, sleep=sleep)
        elif isinstance(cfg, SimPoeController):
            from hal.sim.tps23861 import make_sim_pse  # the sim only when the board asks

            controllers[cfg.id], sims[cfg.id] = make_sim_pse(cfg, sleep=sleep, clock=clock)
    return controllers, sims


def open_poe(section: PoeSection, *, on_event: Callable[[PoeEvent], None] | None = None,
             smbus_factory: Callable[[int], SMBusLike] = open_smbus,
             runner: Runner = run_command, ethtool: str = "ethtool", margin_mw: int = 0,
             sleep: Sleep = asyncio.sleep, clock: Callable[[], float] = time.monotonic,
             ) -> OpenedPoe:
    """Controllers plus the budget manager over them; call ``manager.start()`` next."""
    controllers, sims = open_controllers(section, smbus_factory=smbus_factory,
                                         runner=runner, ethtool=ethtool, sleep=sleep,
                                         clock=clock)
    manager = PowerBudgetManager(section, controllers, on_event=on_event,
                                 margin_mw=margin_mw, clock=clock, sleep=sleep)
    return OpenedPoe(manager, controllers, sims)
