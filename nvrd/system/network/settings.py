"""Changing the recorder's network safely: apply at once, undo unless confirmed.

A change made by a person (the console's ``net set`` / ``net dhcp``) goes like this:

1. Snapshot the interface: its IPv4 addresses, whether it is up, the IPv4 default routes
   (ours may replace another interface's) and the resolv.conf we write.
2. Apply the new setting (static address, or a DHCP lease) with iproute. If that fails
   or is cancelled half way, the snapshot is restored at once and the error reported.
3. The change is *pending*: a timer restores the snapshot after ``confirm_seconds``.
   Only one change is pending at a time, box-wide (two technicians cannot stack
   changes whose reverts would undo each other in the wrong order).
4. ``confirm`` writes the setting to the configuration (``network.interfaces``, through
   the daemon's ``change_config``: validated, saved atomically, audited) and stops the
   timer; from then on it is applied again at every start. ``revert`` (or the timer)
   restores the snapshot.

Settings from the configuration are applied by :meth:`NetworkSettings.apply_configured`
(at start and when the section changes). A DHCP interface keeps a task that renews the
lease at half its time (udhcpc runs one-shot, so nothing else would), paused while a
person's change of that interface is pending.

Threads: loop-only. One lock serializes changes, confirmations, reverts (the timer's
too) and configured applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from nvrd.config.atomic import atomic_write_bytes
from nvrd.config.network import InterfaceConfig
from nvrd.system.network.dhcp import DhcpClient, Lease
from nvrd.system.network.iproute import DefaultRoute, IpError, IpRoute, LinkState

__all__ = ["AppliedSetting", "NetworkError", "NetworkSettings", "NetworkView", "PendingChange",
           "Snapshot", "describe_setting"]

logger = logging.getLogger(__name__)

DHCP_RETRY_SECONDS = 30.0
"""How soon a configured DHCP interface without a lease asks again."""
DHCP_MIN_RENEW_SECONDS = 30.0
DHCP_DEFAULT_LEASE_SECONDS = 3600
RESTORE_TIMEOUT_SECONDS = 30.0


class NetworkError(Exception):
    """A network change refused or failed, in words for the technician."""


class AuditSink(Protocol):
    def record(self, type: str, action: str, *, user: str = "", source: str = "daemon",
               result: str = "ok", details: str = "") -> None: ...


Persist = Callable[[InterfaceConfig, str, str], Awaitable[None]]
"""Save a confirmed setting: ``persist(setting, user, source)``; raises to refuse."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An interface as it was before a change: what a revert puts back."""

    interface: str
    up: bool
    addresses: tuple[str, ...]
    defaults: tuple[DefaultRoute, ...]
    resolv_conf: bytes | None
    """Our resolv.conf's content; None: there was none."""


@dataclass(frozen=True, slots=True)
class AppliedSetting:
    """What applying a setting did."""

    setting: InterfaceConfig
    address: str
    gateway: str | None
    dns: tuple[str, ...]
    lease: Lease | None = None

    def describe(self) -> str:
        """``eth0: 192.168.1.20/24, gateway 192.168.1.1, DNS 1.1.1.1 (static)``."""
        text = f"{self.setting.name}: {self.address}"
        text += f", gateway {self.gateway}" if self.gateway else ", no gateway"
        if self.dns:
            text += f", DNS {' '.join(self.dns)}"
        origin = "static"
        if self.lease is not None:
            origin = f"DHCP lease from {self.lease.server or 'the server'}"
            if self.lease.lease_seconds:
                origin += f" for {self.lease.lease_seconds} s"
        return f"{text} ({origin})"


@dataclass(eq=False)
class PendingChange:
    """A change applied and not yet confirmed."""

    applied: AppliedSetting
    snapshot: Snapshot
    deadline: float
    """``time.monotonic()`` at which it is reverted."""
    user: str
    source: str
    timer: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def interface(self) -> str:
        return self.applied.setting.name

    def seconds_left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


@dataclass(frozen=True, slots=True)
class NetworkView:
    """Everything ``net show`` prints."""

    links: tuple[LinkState, ...]
    defaults: tuple[DefaultRoute, ...]
    dns: tuple[str, ...]
    configured: tuple[InterfaceConfig, ...]
    pending: PendingChange | None
    problems: dict[str, str]


def describe_setting(setting: InterfaceConfig) -> str:
    """A setting in one line, for the audit log."""
    if setting.mode == "dhcp":
        text = f"{setting.name}: DHCP"
    else:
        text = f"{setting.name}: {setting.address}"
        text += f" via {setting.gateway}" if setting.gateway else ""
    return text + (f", DNS {' '.join(setting.dns)}" if setting.dns else "")


class NetworkSettings:
    """Applies interface settings, keeps the one pending change and its revert timer."""

    def __init__(self, ip: IpRoute, dhcp: DhcpClient, resolv_conf: Path, *,
                 confirm_seconds: int, persist: Persist, audit: AuditSink | None = None
                 ) -> None:
        self.ip = ip
        self.dhcp = dhcp
        self.resolv_conf = resolv_conf
        self.confirm_seconds = confirm_seconds
        self._persist = persist
        self._audit = audit
        self._lock = asyncio.Lock()
        self._pending: PendingChange | None = None
        self._confirming = False
        self.applied: dict[str, InterfaceConfig] = {}
        """The configured setting each interface runs on (confirmed changes included)."""
        self.problems: dict[str, str] = {}
        """Why a configured interface is not as configured, by name."""
        self._renewers: dict[str, asyncio.Task[None]] = {}
        self.dhcp_retry_seconds = DHCP_RETRY_SECONDS
        self._closed = False

    @property
    def pending(self) -> PendingChange | None:
        return self._pending

    # --- a person's change ----------------------------------------------------------

    async def change(self, setting: InterfaceConfig, *, user: str, source: str
                     ) -> PendingChange:
        """Apply ``setting`` now, to be reverted after ``confirm_seconds`` unless
        :meth:`confirm` is called. ``NetworkError`` when another change is pending or the
        setting cannot be applied (the interface is then as it was)."""
        async with self._lock:
            if self._closed:
                raise NetworkError("the network service is stopping")
            if self._pending is not None:
                raise NetworkError(self._pending_refusal())
            await self._stop_renewal(setting.name)  # a renewal must not undo the change
            try:
                snapshot = await self._snapshot(setting.name)
            except NetworkError:
                self._resume_renewal(setting.name)
                raise
            try:
                applied = await self._apply(setting)
            except BaseException as exc:
                await self._restore_quietly(snapshot)
                self._resume_renewal(setting.name)
                if isinstance(exc, IpError | OSError):
                    self._record("network change failed", user, source, result="failed",
                                 details=f"{describe_setting(setting)}: {exc}")
                    raise NetworkError(f"cannot apply the change: {exc}; the previous "
                                       "settings are back") from exc
                raise
            pending = PendingChange(applied, snapshot,
                                    time.monotonic() + self.confirm_seconds, user, source)
            pending.timer = asyncio.get_running_loop().create_task(
                self._expire(pending), name=f"network-revert-{setting.name}")
            self._pending = pending
            self._record("network change applied", user, source,
                         details=f"{applied.describe()}; reverted in {self.confirm_seconds} s "
                                 "unless confirmed")
            logger.warning("network change of %s applied by %s (%s); reverted in %d s unless "
                           "confirmed", setting.name, user or "?", source, self.confirm_seconds)
            return pending

    async def confirm(self, *, user: str, source: str) -> PendingChange:
        """Keep the pending change: save it to the configuration, stop the timer."""
        async with self._lock:
            pending = self._pending
            if pending is None:
                raise NetworkError("there is no network change waiting for confirmation")
            setting = pending.applied.setting
            previous = self.applied.get(setting.name)
            self.applied[setting.name] = setting  # so the apply_config it causes is a no-op
            self._confirming = True
            try:
                await self._persist(setting, user, source)
            except Exception as exc:
                if previous is None:
                    self.applied.pop(setting.name, None)
                else:
                    self.applied[setting.name] = previous
                raise NetworkError(
                    f"cannot save the change: {exc}; it is still applied and is reverted in "
                    f"{pending.seconds_left():.0f} s unless confirmed") from exc
            finally:
                self._confirming = False
            self._finish(pending)
            self.problems.pop(setting.name, None)
            self._resume_renewal(setting.name)
            logger.info("network change of %s confirmed by %s (%s)", setting.name,
                        user or "?", source)
            return pending

    async def revert(self, *, user: str, source: str) -> PendingChange:
        """Undo the pending change now."""
        async with self._lock:
            pending = self._pending
            if pending is None:
                raise NetworkError("there is no network change to revert")
            await self._undo(pending, user, source, "reverted by hand")
            return pending

    async def _expire(self, pending: PendingChange) -> None:
        await asyncio.sleep(pending.seconds_left())
        async with self._lock:
            if self._pending is not pending:
                return  # confirmed or reverted meanwhile
            pending.timer = None  # this task: not to be cancelled by _finish
            await self._undo(pending, pending.user, "daemon",
                             f"not confirmed within {self.confirm_seconds} s")

    async def _undo(self, pending: PendingChange, user: str, source: str, why: str) -> None:
        errors = await self._restore(pending.snapshot)
        self._finish(pending)
        self._resume_renewal(pending.interface)
        result = "failed" if errors else "ok"
        details = f"{pending.interface}: {why}"
        if errors:
            details += f"; restoring failed: {'; '.join(errors)}"
            logger.error("network change of %s %s, but restoring failed: %s",
                         pending.interface, why, "; ".join(errors))
        else:
            logger.warning("network change of %s %s: previous settings restored",
                           pending.interface, why)
        self._record("network change reverted", user, source, result=result, details=details)

    def _finish(self, pending: PendingChange) -> None:
        if pending.timer is not None:
            pending.timer.cancel()
            pending.timer = None
        if self._pending is pending:
            self._pending = None

    def _pending_refusal(self) -> str:
        pending = self._pending
        assert pending is not None
        return (f"a change of {pending.interface} is waiting for confirmation "
                f"({pending.seconds_left():.0f} s left); confirm or revert it first")

    # --- configured settings ----------------------------------------------------------

    async def apply_configured(self, interfaces: Sequence[InterfaceConfig]) -> None:
        """Make the interfaces run on ``interfaces``: those whose setting changed are
        applied (static at once, DHCP by its renewal task); those no longer listed are
        left as they are. Errors are logged and kept in :attr:`problems`, not raised: a
        wrong interface name must not stop the recorder."""
        if self._confirming:
            return  # our own confirmation saving what is already applied
        changed = [s for s in interfaces if self.applied.get(s.name) != s]
        listed = {s.name for s in interfaces}
        for name in [n for n in self.applied if n not in listed]:
            await self._stop_renewal(name)
            self.applied.pop(name)
            self.problems.pop(name, None)
        if not changed:
            return
        async with self._lock:
            for setting in changed:
                await self._apply_configured_one(setting)

    async def _apply_configured_one(self, setting: InterfaceConfig) -> None:
        pending = self._pending
        if pending is not None and pending.interface == setting.name:
            logger.warning("the configuration changes %s: its pending change is dropped",
                           setting.name)
            self._finish(pending)
        await self._stop_renewal(setting.name)
        self.applied[setting.name] = setting
        self.problems.pop(setting.name, None)
        if setting.mode == "dhcp":
            self._resume_renewal(setting.name)
            return
        try:
            applied = await self._apply(setting)
        except (IpError, OSError) as exc:
            self.problems[setting.name] = str(exc)
            logger.error("cannot apply the network settings of %s: %s", setting.name, exc)
            self._record("network settings applied", "", "daemon", result="failed",
                         details=f"{describe_setting(setting)}: {exc}")
            return
        logger.info("network: %s", applied.describe())
        self._record("network settings applied", "", "daemon", details=applied.describe())

    # --- DHCP renewal -------------------------------------------------------------------

    def _resume_renewal(self, name: str) -> None:
        setting = self.applied.get(name)
        if (setting is None or setting.mode != "dhcp" or self._closed
                or name in self._renewers):
            return
        pending = self._pending
        if pending is not None and pending.interface == name:
            return
        self._renewers[name] = asyncio.get_running_loop().create_task(
            self._renew(setting), name=f"dhcp-{name}")

    async def _stop_renewal(self, name: str) -> None:
        """Cancel the interface's renewal task and wait until it has stopped (a udhcpc it
        ran is killed), so nothing else changes the interface afterwards."""
        task = self._renewers.pop(name, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait([task])

    async def _renew(self, setting: InterfaceConfig) -> None:
        """Keep a configured DHCP interface leased: now, then at half the lease time."""
        failed = False
        while True:
            try:
                applied = await self._apply(setting)
            except Exception as exc:  # keep asking whatever went wrong
                self.problems[setting.name] = str(exc)
                if not failed:
                    logger.error("network: %s; asking again every %g s", exc,
                                 self.dhcp_retry_seconds)
                    self._record("network settings applied", "", "daemon", result="failed",
                                 details=f"{describe_setting(setting)}: {exc}")
                failed = True
                await asyncio.sleep(self.dhcp_retry_seconds)
                continue
            if failed or setting.name in self.problems:
                self._record("network settings applied", "", "daemon",
                             details=applied.describe())
            self.problems.pop(setting.name, None)
            failed = False
            logger.info("network: %s", applied.describe())
            lease = applied.lease.lease_seconds if applied.lease else None
            await asyncio.sleep(max(DHCP_MIN_RENEW_SECONDS,
                                    (lease or DHCP_DEFAULT_LEASE_SECONDS) / 2))

    # --- applying and restoring -------------------------------------------------------

    async def _apply(self, setting: InterfaceConfig) -> AppliedSetting:
        """Put ``setting`` on its interface. ``IpError`` (``DhcpError``) on failure."""
        await self.ip.link(setting.name)
        lease: Lease | None = None
        if setting.mode == "dhcp":
            lease = await self.dhcp.lease(setting.name)
            address, gateway = lease.address, lease.router
            dns = setting.dns or lease.dns
        else:
            assert setting.address is not None, "validated: static has an address"
            address, gateway, dns = setting.address, setting.gateway, setting.dns
        await self.ip.set_addresses(setting.name, [address])
        if gateway is not None:
            await self.ip.replace_default(DefaultRoute(setting.name, gateway))
        else:
            await self.ip.drop_defaults(setting.name)
        if dns:
            await asyncio.to_thread(self._write_resolv_conf, setting.name, dns)
        return AppliedSetting(setting, address, gateway, tuple(dns), lease)

    async def _snapshot(self, name: str) -> Snapshot:
        try:
            link = await self.ip.link(name)
            defaults = await self.ip.default_routes()
        except IpError as exc:
            raise NetworkError(str(exc)) from exc
        resolv = await asyncio.to_thread(self._read_resolv_conf)
        return Snapshot(name, link.up, link.addresses, tuple(defaults), resolv)

    async def _restore(self, snapshot: Snapshot) -> list[str]:
        """Put ``snapshot`` back; the errors of the steps that failed (each step is tried)."""
        errors: list[str] = []

        async def step(action: Awaitable[None]) -> None:
            try:
                await action
            except (IpError, OSError) as exc:
                errors.append(str(exc))

        name = snapshot.interface
        await step(self.ip.set_addresses(name, snapshot.addresses))
        await step(self.ip.drop_defaults(name))
        try:
            current = await self.ip.default_routes()
        except IpError as exc:
            errors.append(str(exc))
            current = []
        for route in snapshot.defaults:
            if route not in current:
                await step(self.ip.replace_default(route))
        if not snapshot.up:
            await step(self.ip.set_up(name, False))
        await step(asyncio.to_thread(self._put_back_resolv_conf, snapshot.resolv_conf))
        return errors

    async def _restore_quietly(self, snapshot: Snapshot) -> None:
        """Restore after a failed or cancelled apply; survives being cancelled itself."""
        task = asyncio.ensure_future(self._restore(snapshot))
        try:
            errors = await asyncio.wait_for(asyncio.shield(task), RESTORE_TIMEOUT_SECONDS)
        except (asyncio.CancelledError, TimeoutError):
            logger.error("restoring %s after a failed change did not finish",
                         snapshot.interface)
            return
        if errors:
            logger.error("restoring %s after a failed change: %s", snapshot.interface,
                         "; ".join(errors))

    def _read_resolv_conf(self) -> bytes | None:
        try:
            return self.resolv_conf.read_bytes()
        except FileNotFoundError:
            return None

    def _write_resolv_conf(self, interface: str, dns: Sequence[str]) -> None:
        text = f"# written by nvrd: DNS servers of {interface}\n"
        text += "".join(f"nameserver {server}\n" for server in dns)
        self.resolv_conf.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.resolv_conf, text.encode(), mode=0o644)

    def _put_back_resolv_conf(self, content: bytes | None) -> None:
        if content is None:
            with contextlib.suppress(FileNotFoundError):
                self.resolv_conf.unlink()
        elif self._read_resolv_conf() != content:
            atomic_write_bytes(self.resolv_conf, content, mode=0o644)

    def dns_servers(self) -> tuple[str, ...]:
        """The ``nameserver`` lines of our resolv.conf (blocking: small file)."""
        content = self._read_resolv_conf() or b""
        return tuple(line.split()[1] for line in content.decode(errors="replace").splitlines()
                     if line.startswith("nameserver") and len(line.split()) > 1)

    # --- showing and closing ----------------------------------------------------------

    async def view(self) -> NetworkView:
        """Interfaces, routes, DNS, the configured settings and the pending change."""
        try:
            links = await self.ip.links()
            defaults = await self.ip.default_routes()
        except IpError as exc:
            raise NetworkError(str(exc)) from exc
        dns = await asyncio.to_thread(self.dns_servers)
        return NetworkView(tuple(links), tuple(defaults), dns, tuple(self.applied.values()),
                           self._pending, dict(self.problems))

    async def close(self) -> None:
        """Stop renewing; a pending change is reverted (it was never confirmed, so the
        configuration does not have it: the box must not keep it past a restart)."""
        async with self._lock:
            self._closed = True
            for name in list(self._renewers):
                await self._stop_renewal(name)
            pending = self._pending
            if pending is not None:
                await self._undo(pending, pending.user, "daemon", "reverted: the daemon stops")

    def _record(self, action: str, user: str, source: str, *, result: str = "ok",
                details: str = "") -> None:
        if self._audit is not None:
            self._audit.record("network", action, user=user, source=source, result=result,
                               details=details)
