"""The PoE power budget, enforced in software above any controller.

Chips like the TPS23861 have no budget register, and the kernel's own budgeting is new and
optional, so the recorder enforces the PSU's limit itself. This module is pure policy: it
maps chassis ports to (controller, channel), keeps the installer's admin state, and decides
which ports may have power. It is tested against the simulated TPS23861.

Rules (numbered so code and tests can cite them):

1. **Admin state is the installer's.** A disabled port stays off: shedding, restoring,
   polling and power-cycling never enable it, and a port found powered behind our back
   is switched off again. Shed ports stay admin-enabled.
2. **Allocation.** A delivering port is allocated its class power at the PSE (802.3:
   class 0 and 3 15.4 W, 1 4 W, 2 7 W, 4 30 W, 5-8 45-90 W; its allowance ``budget_mw``
   if the class is unknown), capped at the port's allowance (a 15.4 W port powers a
   class 4 PD at 15.4 W, like an 802.3af PSE). A port that was just enabled or restored
   holds its expected allocation for ``reservation_s`` until it delivers, so two ports
   cannot take the same headroom before their PDs are classified. Anything else: 0.
3. **Refusal.** ``enable(port)`` needs the port's expected allocation (its class if known,
   else its allowance) to fit in the headroom, ``budget - max(allocated, measured)``;
   otherwise it raises ``PowerBudgetExceeded`` and changes nothing. Enabling never
   preempts another port.
4. **Shedding.** When the allocations or the measured draw exceed the budget (minus the
   margin), ports are shed one at a time until both fit: the **lowest priority first**
   (low, then high, then critical), and **among equal priorities the highest chassis port
   number first** (ports numbered last are, by convention, the least important). A port
   drawing more than its own allowance is shed first, whatever its priority.
5. **Restoring.** Shed ports come back, highest priority (then lowest port number) first,
   when what they needed when shed fits the headroom; restoring stops at the first port
   that does not fit, so a lower-priority port never gets power ahead of a shed
   higher-priority one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from hal.board import PoePort, PoeSection
from hal.poe.base import (
    POWER_CYCLE_OFF_S,
    PortPower,
    PortStatus,
    PseController,
    PseError,
    PseEvent,
    Sleep,
)

__all__ = ["CLASS_POWER_MW", "POLL_INTERVAL_S", "RESERVATION_S", "PoeEvent", "PoeEventKind",
           "PoePortStatus", "PortNotEnabled", "PowerBudgetExceeded", "PowerBudgetManager",
           "UnknownPort", "class_allocation_mw"]

_log = logging.getLogger(__name__)

# Power at the PSE per IEEE 802.3 class (mW).
CLASS_POWER_MW = {0: 15_400, 1: 4_000, 2: 7_000, 3: 15_400, 4: 30_000, 5: 45_000,
                  6: 60_000, 7: 75_000, 8: 90_000}
RESERVATION_S = 10.0   # rule 2: how long an enabled port holds headroom for its PD
POLL_INTERVAL_S = 1.0  # run(): between polls when no INT line drives them
_RANK = {"critical": 0, "high": 1, "low": 2}


def class_allocation_mw(pd_class: int | None, allowance_mw: int) -> int:
    """Rule 2: what a delivering port is allocated."""
    wanted = CLASS_POWER_MW.get(pd_class, allowance_mw) if pd_class is not None \
        else allowance_mw
    return min(wanted, allowance_mw)


class PoeEventKind(enum.Enum):
    POWERED = "powered"
    UNPOWERED = "unpowered"
    CLASS_DETECTED = "class_detected"
    OVERCURRENT = "overcurrent"
    DISCONNECTED = "disconnected"
    SUPPLY_FAULT = "supply_fault"
    BUDGET_EXCEEDED = "budget_exceeded"


@dataclass(frozen=True, slots=True)
class PoeEvent:
    kind: PoeEventKind
    port: int | None
    """Chassis port; ``None`` for controller-wide events (supply faults)."""
    camera_channel: int | None = None
    pd_class: int | None = None
    power_mw: int | None = None
    detail: str | None = None
    """For BUDGET_EXCEEDED: whether the port was shed or refused, and the figures."""
    controller: str | None = None


@dataclass(frozen=True, slots=True)
class PoePortStatus:
    port: int
    camera_channel: int | None
    interface: str | None
    controller: str
    channel: int
    priority: str
    allowance_mw: int
    admin_enabled: bool
    shed: bool
    """Admin-enabled but switched off by the budget manager."""
    power: PortPower
    pd_class: int | None
    power_mw: int | None
    allocated_mw: int
    fault: str | None


@dataclass(eq=False)
class PowerBudgetExceeded(PseError):
    port: int
    needed_mw: int
    available_mw: int

    def __str__(self) -> str:
        return (f"PoE port {self.port} needs {self.needed_mw} mW but only "
                f"{self.available_mw} mW of the budget is left")


@dataclass(eq=False)
class UnknownPort(PseError, KeyError):
    port: int

    def __str__(self) -> str:
        return f"no PoE port {self.port} on this board"


@dataclass(eq=False)
class PortNotEnabled(PseError):
    port: int
    reason: str

    def __str__(self) -> str:
        return f"PoE port {self.port} is {self.reason}"


@dataclass(slots=True)
class _Port:
    cfg: PoePort
    controller: PseController
    channel: int
    admin: bool = True
    shed: bool = False
    shed_need_mw: int = 0
    reserved_mw: int = 0
    reserved_until: float = 0.0
    status: PortStatus | None = None

    @property
    def number(self) -> int:
        return self.cfg.port

    @property
    def shed_key(self) -> tuple[int, int]:
        """Rule 4: the largest key is shed first."""
        return _RANK[self.cfg.priority], self.cfg.port

    @property
    def draw_mw(self) -> int:
        status = self.status
        return (status.power_mw or 0) if status is not None and status.delivering else 0


class PowerBudgetManager:
    def __init__(self, section: PoeSection, controllers: Mapping[str, PseController], *,
                 on_event: Callable[[PoeEvent], None] | None = None, margin_mw: int = 0,
                 reservation_s: float = RESERVATION_S,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        self._section = section
        self._controllers = dict(controllers)
        self._on_event = on_event
        self._budget_mw = section.total_budget_mw - margin_mw
        self._reservation_s = reservation_s
        self._clock = clock
        self._sleep = sleep
        self._ports: dict[int, _Port] = {}
        self._by_channel: dict[tuple[str, int], _Port] = {}
        self._failing: dict[str, str] = {}
        for cfg in sorted(section.ports, key=lambda p: p.port):
            controller = self._controllers.get(cfg.controller)
            if controller is None:
                raise ValueError(f"PoE port {cfg.port}: no controller {cfg.controller!r}")
            channel = cfg.channel if cfg.channel is not None else cfg.port
            port = _Port(cfg, controller, channel)
            self._ports[cfg.port] = port
            self._by_channel[(controller.id, channel)] = port

    def failing_controllers(self) -> dict[str, str]:
        """Controllers whose last poll failed, with why (a chip gone, a bus error)."""
        return dict(self._failing)

    @property
    def budget_mw(self) -> int:
        return self._budget_mw

    def admin_states(self) -> dict[int, bool]:
        """The installer's choices, for nvrd to persist and pass to ``start`` next time."""
        return {number: port.admin for number, port in self._ports.items()}

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self, admin_enabled: Mapping[int, bool] | None = None) -> list[PoeEvent]:
        """Start the controllers and apply the saved admin states (ports not listed are
        enabled). Restoring at boot is not an installer action, so it is not refused
        (rule 3); the first poll sheds by priority if the PDs want too much (rule 4)."""
        for controller in self._controllers.values():
            await controller.start()
        saved = admin_enabled or {}
        for port in sorted(self._ports.values(), key=lambda p: p.shed_key):
            port.admin = saved.get(port.number, True)
            if port.admin:
                await port.controller.enable(port.channel)
            else:
                await port.controller.disable(port.channel)
        return await self.poll()

    async def close(self) -> None:
        for controller in self._controllers.values():
            await controller.close()

    async def run(self, interval_s: float = POLL_INTERVAL_S) -> None:
        """Poll forever (cancel to stop). With an INT line, call ``poll`` on its edges
        instead, and keep this running at a slow interval for the measurements."""
        while True:
            await self.poll()
            await self._sleep(interval_s)

    # --- installer actions -------------------------------------------------------------

    def _port(self, number: int) -> _Port:
        port = self._ports.get(number)
        if port is None:
            raise UnknownPort(number)
        return port

    async def enable(self, number: int) -> None:
        """Rule 3. Idempotent for a port that already has power."""
        port = self._port(number)
        if port.admin and not port.shed:
            return
        need = port.shed_need_mw if port.shed else self._expected_mw(port)
        available = self._budget_mw - max(self._allocated_mw(exclude=port),
                                          self._drawn_mw(exclude=port))
        if need > available:
            self._emit([self._event(PoeEventKind.BUDGET_EXCEEDED, port, power_mw=need,
                                    detail=f"refused: needs {need} mW, {available} mW of "
                                           f"{self._budget_mw} mW left")])
            raise PowerBudgetExceeded(number, need, available)
        port.admin, port.shed = True, False
        self._reserve(port, need)
        await port.controller.enable(port.channel)

    async def disable(self, number: int) -> None:
        port = self._port(number)
        port.admin, port.shed, port.reserved_mw = False, False, 0
        await port.controller.disable(port.channel)
        if port.status is not None:
            port.status = _off(port.status)

    async def power_cycle(self, number: int, off_s: float = POWER_CYCLE_OFF_S) -> None:
        """Reboot the PD. Its allocation stays reserved through the pause (rule 2)."""
        port = self._port(number)
        if not port.admin:
            raise PortNotEnabled(number, "disabled")
        if port.shed:
            raise PortNotEnabled(number, "shed by the power budget")
        self._reserve(port, max(self._allocation_mw(port), port.draw_mw), extra_s=off_s)
        await port.controller.power_cycle(port.channel, off_s)

    # --- state -------------------------------------------------------------------------

    def status(self) -> tuple[PoePortStatus, ...]:
        """Every port as of the last poll, by chassis number."""
        return tuple(self._port_status(p) for p in self._ports.values())

    def port_status(self, number: int) -> PoePortStatus:
        return self._port_status(self._port(number))

    def _port_status(self, port: _Port) -> PoePortStatus:
        status = port.status
        return PoePortStatus(
            port=port.number, camera_channel=port.cfg.camera_channel,
            interface=port.cfg.interface, controller=port.controller.id,
            channel=port.channel, priority=port.cfg.priority,
            allowance_mw=port.cfg.budget_mw, admin_enabled=port.admin, shed=port.shed,
            power=status.power if status else PortPower.UNKNOWN,
            pd_class=status.pd_class if status else None,
            power_mw=status.power_mw if status else None,
            allocated_mw=self._allocation_mw(port),
            fault=("shed: PoE budget exceeded" if port.shed else None)
            or (status.fault if status else None))

    @property
    def allocated_mw(self) -> int:
        return self._allocated_mw()

    @property
    def drawn_mw(self) -> int:
        return self._drawn_mw()

    def _expected_mw(self, port: _Port) -> int:
        pd_class = port.status.pd_class if port.status else None
        return class_allocation_mw(pd_class, port.cfg.budget_mw)

    def _allocation_mw(self, port: _Port) -> int:
        if not port.admin or port.shed:
            return 0
        status = port.status
        if status is not None and status.delivering:
            return class_allocation_mw(status.pd_class, port.cfg.budget_mw)
        return port.reserved_mw if self._clock() < port.reserved_until else 0

    def _allocated_mw(self, exclude: _Port | None = None) -> int:
        return sum(self._allocation_mw(p) for p in self._ports.values() if p is not exclude)

    def _drawn_mw(self, exclude: _Port | None = None) -> int:
        return sum(p.draw_mw for p in self._ports.values() if p is not exclude)

    def _reserve(self, port: _Port, mw: int, extra_s: float = 0.0) -> None:
        port.reserved_mw = mw
        port.reserved_until = self._clock() + self._reservation_s + extra_s

    # --- polling -----------------------------------------------------------------------

    async def poll(self) -> list[PoeEvent]:
        """Read every controller's events and statuses, then enforce rules 1, 4 and 5.
        Emits and returns the events. A failing controller is logged and skipped (its
        ports keep their last status) so one dead chip does not stop the others."""
        events: list[PoeEvent] = []
        for controller in self._controllers.values():
            try:
                raw = await controller.poll_events()
                statuses = await controller.statuses()
            except PseError as exc:
                # said once when it starts and once when it ends, not at every poll
                if self._failing.get(controller.id) != str(exc):
                    _log.error("PoE controller %s not answering (its ports keep their last "
                               "known state): %s", controller.id, exc)
                self._failing[controller.id] = str(exc)
                continue
            if self._failing.pop(controller.id, None) is not None:
                _log.warning("PoE controller %s answers again", controller.id)
            events += [e for e in map(lambda r: self._translate(controller, r), raw) if e]
            for channel, status in statuses.items():
                port = self._by_channel.get((controller.id, channel))
                if port is not None:
                    port.status = status
        await self._hold_admin_off()
        events += await self._shed_overload()
        await self._restore()
        self._emit(events)
        return events

    def _translate(self, controller: PseController, raw: PseEvent) -> PoeEvent | None:
        kind = PoeEventKind(raw.kind.value)
        if raw.channel is None:
            return PoeEvent(kind, None, pd_class=raw.pd_class, detail=raw.detail,
                            controller=controller.id)
        port = self._by_channel.get((controller.id, raw.channel))
        if port is None:
            _log.debug("%s: event on unmapped channel %s", controller.id, raw.channel)
            return None
        return self._event(kind, port, pd_class=raw.pd_class, detail=raw.detail)

    def _event(self, kind: PoeEventKind, port: _Port, *, pd_class: int | None = None,
               power_mw: int | None = None, detail: str | None = None) -> PoeEvent:
        return PoeEvent(kind, port.number, camera_channel=port.cfg.camera_channel,
                        pd_class=pd_class, power_mw=power_mw, detail=detail,
                        controller=port.controller.id)

    async def _hold_admin_off(self) -> None:
        """Rule 1: a port powered although we switched it off is switched off again."""
        for port in self._ports.values():
            if (not port.admin or port.shed) and port.status and port.status.admin_enabled:
                _log.warning("PoE port %d was enabled behind our back; disabling it",
                             port.number)
                await self._switch_off(port)

    async def _shed_overload(self) -> list[PoeEvent]:
        events: list[PoeEvent] = []
        for port in self._ports.values():
            if port.admin and not port.shed and port.draw_mw > port.cfg.budget_mw:
                events.append(await self._shed(
                    port, f"shed: draws {port.draw_mw} mW, more than its "
                          f"{port.cfg.budget_mw} mW allowance"))
        while True:
            allocated, drawn = self._allocated_mw(), self._drawn_mw()
            if allocated <= self._budget_mw and drawn <= self._budget_mw:
                return events
            candidates = [p for p in self._ports.values() if p.admin and not p.shed
                          and (self._allocation_mw(p) or p.draw_mw)]
            if not candidates:
                return events
            victim = max(candidates, key=lambda p: p.shed_key)
            events.append(await self._shed(
                victim, f"shed: {allocated} mW allocated, {drawn} mW drawn, budget "
                        f"{self._budget_mw} mW"))

    async def _shed(self, port: _Port, detail: str) -> PoeEvent:
        port.shed_need_mw = max(self._allocation_mw(port), port.draw_mw)
        draw = port.draw_mw
        port.shed = True
        port.reserved_mw = 0
        _log.warning("PoE port %d (%s priority) %s", port.number, port.cfg.priority, detail)
        await self._switch_off(port)
        return self._event(PoeEventKind.BUDGET_EXCEEDED, port, power_mw=draw, detail=detail)

    async def _switch_off(self, port: _Port) -> None:
        try:
            await port.controller.disable(port.channel)
        except PseError:
            _log.exception("PoE port %d: could not switch it off", port.number)
            return
        if port.status is not None:
            port.status = _off(port.status)

    async def _restore(self) -> None:
        """Rule 5."""
        for port in sorted((p for p in self._ports.values() if p.admin and p.shed),
                           key=lambda p: p.shed_key):
            headroom = self._budget_mw - max(self._allocated_mw(), self._drawn_mw())
            if port.shed_need_mw > headroom:
                return
            _log.info("PoE port %d: budget available again, restoring power", port.number)
            port.shed = False
            self._reserve(port, port.shed_need_mw)
            try:
                await port.controller.enable(port.channel)
            except PseError:
                _log.exception("PoE port %d: could not restore power", port.number)

    def _emit(self, events: list[PoeEvent]) -> None:
        if self._on_event is None:
            return
        for event in events:
            try:
                self._on_event(event)
            except Exception:
                _log.exception("PoE event handler failed on %s", event)


def _off(status: PortStatus) -> PortStatus:
    return dataclasses.replace(status, admin_enabled=False, power=PortPower.DISABLED,
                               pd_class=None, power_mw=0, voltage_mv=None, current_ua=None)
