"""Login lockout: after N failures in a row the account **and** the source address are locked.

Manual L14019–14022: lockout is on by default and locks both. The two are counted
separately, so many usernames tried from one address lock the address, and one username
tried from many addresses locks the account. A success resets the counters of that account
and that address. A lock expires after ``lock_seconds``; expiry releases it and its counter
starts again from zero (a lock clears its counter when it starts).

Addresses: IPv6 addresses are counted per /64 network, because one host usually owns a
whole /64 and could otherwise spray from 2^64 addresses. IPv4 addresses count alone.
Usernames ignore case, as the account store does. Unknown usernames are counted too, so
the tracker does not reveal which accounts exist.

Bounded memory: at most ``max_tracked`` counters per kind; when full, the counter touched
least recently is forgotten (counters never include locked keys, which are kept apart). At
most ``max_tracked`` locks per kind too: when an attacker locks more than that, the lock
closest to expiry is released early. Memory is therefore O(max_tracked) whatever arrives.

Time comes from an injected monotonic ``clock`` (seconds), so tests never sleep and wall
clock steps do not shorten or lengthen locks. :class:`Locked` and :class:`LockInfo` give
remaining seconds; add them to the wall clock to show "locked until".

Each process component that authenticates (web and API, the serial console) owns its own
instance, so a network attacker cannot lock out the technician at the console. There are
no globals. Methods take an internal lock, so the tracker may be shared between threads.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_LOCK_SECONDS = 300.0
DEFAULT_MAX_TRACKED = 10_000


class LockKind(StrEnum):
    ACCOUNT = "account"
    IP = "ip"


@dataclass(frozen=True, slots=True)
class LockEvent:
    """A lock that just started: for the audit log and the "illegal login" event."""

    kind: LockKind
    key: str
    """The username (lowercase) or the address (an IPv6 /64 as ``2001:db8::/64``)."""
    failures: int
    lock_seconds: float


@dataclass(frozen=True, slots=True)
class Locked:
    """Why a login attempt must be refused without checking the password."""

    account_remaining_seconds: float | None
    """Set when the account is locked."""
    ip_remaining_seconds: float | None
    """Set when the source address is locked."""

    @property
    def retry_after_seconds(self) -> float:
        """When both locks will have ended (for a Retry-After header)."""
        return max(self.account_remaining_seconds or 0.0, self.ip_remaining_seconds or 0.0)


@dataclass(frozen=True, slots=True)
class LockInfo:
    """One current lock, for the security page."""

    kind: LockKind
    key: str
    remaining_seconds: float


class _Counters:
    """Failure counters and locks for one kind of key. Not thread-safe on its own."""

    def __init__(self, max_tracked: int) -> None:
        self.max_tracked = max_tracked
        self.failures: OrderedDict[str, int] = OrderedDict()  # least recently failed first
        self.locks: dict[str, float] = {}  # key → clock time the lock ends

    def remaining(self, key: str, now: float) -> float | None:
        until = self.locks.get(key)
        if until is None:
            return None
        if until <= now:
            del self.locks[key]
            return None
        return until - now

    def fail(self, key: str, now: float, max_attempts: int, lock_seconds: float) -> int | None:
        """Count a failure; the failure count when it starts a lock, else None."""
        if self.remaining(key, now) is not None:
            return None  # already locked: the caller should not have tried; do not extend
        count = self.failures.pop(key, 0) + 1
        if count < max_attempts:
            self.failures[key] = count
            while len(self.failures) > self.max_tracked:
                self.failures.popitem(last=False)
            return None
        self.locks[key] = now + lock_seconds
        if len(self.locks) > self.max_tracked:
            self._shed_locks(now)
        return count

    def reset(self, key: str) -> None:
        self.failures.pop(key, None)

    def release(self, key: str) -> bool:
        self.failures.pop(key, None)
        return self.locks.pop(key, None) is not None

    def current(self, now: float) -> list[tuple[str, float]]:
        for key in [k for k, until in self.locks.items() if until <= now]:
            del self.locks[key]
        return sorted(((k, until - now) for k, until in self.locks.items()), key=lambda x: x[0])

    def _shed_locks(self, now: float) -> None:
        self.current(now)
        while len(self.locks) > self.max_tracked:
            del self.locks[min(self.locks, key=self.locks.__getitem__)]


class LockoutTracker:
    """Counts failed logins per account and per source address. See the module docstring."""

    def __init__(
        self,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        lock_seconds: float = DEFAULT_LOCK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = DEFAULT_MAX_TRACKED,
    ) -> None:
        if max_tracked < 1:
            raise ValueError("max_tracked must be at least 1")
        self._lock = threading.Lock()
        self._clock = clock
        self._accounts = _Counters(max_tracked)
        self._ips = _Counters(max_tracked)
        self.max_attempts = DEFAULT_MAX_ATTEMPTS
        self.lock_seconds = DEFAULT_LOCK_SECONDS
        self.reconfigure(max_attempts, lock_seconds)

    def reconfigure(self, max_attempts: int, lock_seconds: float) -> None:
        """Change the limits at run time. Counters are kept (lowering ``max_attempts`` below a
        counter locks at that key's next failure); locks already running keep their end."""
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if lock_seconds <= 0:
            raise ValueError(f"lock_seconds must be positive, got {lock_seconds}")
        with self._lock:
            self.max_attempts = max_attempts
            self.lock_seconds = float(lock_seconds)

    def check(self, username: str | None, ip: str | None) -> Locked | None:
        """Whether an attempt for ``username`` from ``ip`` must be refused before its password
        is even checked (so a locked account does not become a password oracle). ``None``
        leaves that side out: no username for a bearer token, no address on the console."""
        now = self._clock()
        with self._lock:
            account = (self._accounts.remaining(_account_key(username), now)
                       if username is not None else None)
            address = self._ips.remaining(ip_key(ip), now) if ip is not None else None
        if account is None and address is None:
            return None
        return Locked(account, address)

    def failure(self, username: str | None, ip: str | None) -> list[LockEvent]:
        """Count a failed login; the locks this failure started (none, account, IP or both).
        A failure for a key that is already locked is not counted and does not extend it."""
        now = self._clock()
        events: list[LockEvent] = []
        with self._lock:
            targets = []
            if username is not None:
                targets.append((LockKind.ACCOUNT, self._accounts, _account_key(username)))
            if ip is not None:
                targets.append((LockKind.IP, self._ips, ip_key(ip)))
            for kind, counters, key in targets:
                count = counters.fail(key, now, self.max_attempts, self.lock_seconds)
                if count is not None:
                    events.append(LockEvent(kind, key, count, self.lock_seconds))
        return events

    def success(self, username: str | None, ip: str | None) -> None:
        """A login succeeded: forget the failures of this account and this address."""
        with self._lock:
            if username is not None:
                self._accounts.reset(_account_key(username))
            if ip is not None:
                self._ips.reset(ip_key(ip))

    def locked(self) -> list[LockInfo]:
        """Every current lock, accounts first, each sorted by key."""
        now = self._clock()
        with self._lock:
            return ([LockInfo(LockKind.ACCOUNT, k, r) for k, r in self._accounts.current(now)]
                    + [LockInfo(LockKind.IP, k, r) for k, r in self._ips.current(now)])

    def unlock(self, username: str | None = None, ip: str | None = None) -> list[LockInfo]:
        """Release the lock (and counter) of an account and/or address now, for an
        administrator; with neither argument, release everything. Returns what was locked."""
        now = self._clock()
        with self._lock:
            before = ([LockInfo(LockKind.ACCOUNT, k, r) for k, r in self._accounts.current(now)]
                      + [LockInfo(LockKind.IP, k, r) for k, r in self._ips.current(now)])
            if username is None and ip is None:
                self._accounts = _Counters(self._accounts.max_tracked)
                self._ips = _Counters(self._ips.max_tracked)
                return before
            released: list[LockInfo] = []
            if username is not None:
                key = _account_key(username)
                self._accounts.release(key)
                released += [i for i in before if i.kind is LockKind.ACCOUNT and i.key == key]
            if ip is not None:
                key = ip_key(ip)
                self._ips.release(key)
                released += [i for i in before if i.kind is LockKind.IP and i.key == key]
            return released

    def tracked(self) -> tuple[int, int]:
        """(account keys, address keys) held in memory, counters plus locks: for tests and
        diagnostics of the memory bound."""
        with self._lock:
            return (len(self._accounts.failures) + len(self._accounts.locks),
                    len(self._ips.failures) + len(self._ips.locks))


def ip_key(ip: str) -> str:
    """The key an address is counted under: IPv4 alone, IPv6 by its /64 network (an
    IPv4-mapped IPv6 address counts as the IPv4 address). Unparseable text is used as is."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _account_key(username: str) -> str:
    return username.casefold()
