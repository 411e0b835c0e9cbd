"""Setting the system clock from NTP servers: an SNTP client and the service that runs it.

The client (:func:`query`, :func:`query_servers`) is SNTP, the client mode of RFC 4330 /
RFC 5905, on asyncio UDP. It is written here on purpose rather than taken from
``ntplib``: ntplib blocks (a thread per query) and does not check the originate timestamp
of the answer against the request, so any host that can send a UDP packet to the box
with the server's address could set its clock. Here, a request carries a random
transmit timestamp (which also keeps the box's own clock out of the packet); an answer
counts only if it comes from the address asked and echoes that value as its originate
timestamp, is a server answer (mode 4) of stratum 1–15, does not say "unsynchronized"
(leap indicator 3) and has a transmit time. Anything else is ignored (a stale or spoofed
packet: the client keeps waiting) or, if it answers *this* request, reported in words:
a kiss-o'-death (stratum 0) with its code, an unsynchronized server. Offset and delay come
from the four timestamps, in 64-bit NTP arithmetic (valid across the 2036 era change
while the clocks are within 68 years of each other).

The service (:class:`TimeSync`), when ``system.ntp.enabled``, checks the clock at start
(bounded: one timeout per server, before the recorder starts, so a box without a
battery-backed clock records with the right time from the first segment) and every
``interval_minutes``. It **steps** the clock when it is off by more than
``step_threshold_ms`` and otherwise leaves it alone: it never slews. Slewing needs
``adjtimex`` and a disciplined frequency loop, which chrony and systemd-timesyncd do
properly; a box that needs better than the threshold should run one of those and leave
``system.ntp.enabled`` off. The two must not run together (they would fight over the
clock): the service looks for a running OS client at start and when NTP is switched on,
logs a warning and shows it in the API. Steps go through an injected :class:`WallClock`
(production: ``clock_settime(CLOCK_REALTIME)``, which needs ``CAP_SYS_TIME``; without it
the step is reported, not raised). Every step is logged and audited (type ``system``,
with the old and the new time); the recorder notices the step itself
(:mod:`nvrd.record.clock`) and starts new runs.

Threads: loop-only. The service's lock makes a periodic check, an API "sync now" and a
time set by hand run one at a time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psutil

from nvrd.config import NvrConfig
from nvrd.config.schema import NtpConfig, ntp_server_label, split_ntp_server
from nvrd.service import Service

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 2.0
"""How long one server may take to answer."""
RESOLVE_TIMEOUT_S = 5.0
"""How long looking up a server's name may take (a slow resolver is not a server that
does not answer)."""
OVERDUE_INTERVALS = 3
"""Without a good answer for this many intervals, the time counts as not synchronized."""
PACKET_BYTES = 48
NTP_VERSION = 4
MODE_CLIENT = 3
MODE_SERVER = 4
LEAP_UNSYNCHRONIZED = 3
MAX_STRATUM = 15
NTP_UNIX_OFFSET_S = 2_208_988_800
"""Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01)."""
OS_NTP_CLIENTS = frozenset({"chronyd", "systemd-timesyncd", "ntpd", "openntpd", "ntpdate",
                            "sntp", "timesyncd"})
CLOCK_NOT_SETTABLE = "the daemon may not set the clock (needs CAP_SYS_TIME)"
KISS_CODES = {
    "DENY": "access denied by the server",
    "RSTR": "access denied by the server",
    "RATE": "asked too often; the server wants fewer requests",
    "INIT": "the server has not synchronized yet",
    "STEP": "the server's clock just stepped",
}
_MASK64 = (1 << 64) - 1
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# --- the clock ---------------------------------------------------------------------------

class WallClock(Protocol):
    """The clock the service reads and sets (the system clock, or a test's)."""

    def now_ns(self) -> int:
        """UTC now, in nanoseconds since the Unix epoch."""
        ...

    def set_ns(self, ns: int) -> None:
        """Set the clock; ``PermissionError`` when this process may not."""
        ...


class SystemWallClock:
    """The system clock; setting it needs CAP_SYS_TIME (or root)."""

    def now_ns(self) -> int:
        return time.time_ns()

    def set_ns(self, ns: int) -> None:
        time.clock_settime_ns(time.CLOCK_REALTIME, ns)


def iso(ns: int) -> str:
    """A UTC time for messages: ``2025-03-01T12:00:00.123Z``."""
    moment = _EPOCH + dt.timedelta(microseconds=ns // 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- the SNTP client ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Measurement:
    """One server's answer: how far our clock is off, and the round trip."""

    server: str
    """As messages name it: ``192.0.2.1:123``."""
    offset_ns: int
    """Add this to our clock to get the server's time."""
    delay_ns: int
    """Round trip minus the server's own processing time."""
    stratum: int


class SntpError(Exception):
    """A server gave no usable time; the message is a whole sentence naming it."""

    timed_out = False

    def __init__(self, server: str, message: str) -> None:
        super().__init__(message)
        self.server = server
        self.message = message

    def __str__(self) -> str:
        return self.message


class NoAnswer(SntpError):
    """Nothing that answered the request within the timeout."""

    timed_out = True


class Unreachable(SntpError):
    """The name does not resolve, the network refuses, nothing listens on the port."""


class KissOfDeath(SntpError):
    """The server answered with stratum 0: it refuses to give the time, for ``code``."""

    def __init__(self, server: str, code: str) -> None:
        meaning = KISS_CODES.get(code)
        super().__init__(server, f"{server} refused to give the time: kiss-o'-death "
                                 f"{code!r}" + (f" ({meaning})" if meaning else ""))
        self.code = code


class BadAnswer(SntpError):
    """An answer to our request that carries no usable time."""


class SyncFailed(Exception):
    """No server gave a usable time; one error per server, in the order asked."""

    def __init__(self, errors: Sequence[SntpError]) -> None:
        super().__init__(errors)
        self.errors = tuple(errors)

    @property
    def timed_out(self) -> bool:
        """Every server was silent (rather than refusing or answering badly)."""
        return all(error.timed_out for error in self.errors)

    def __str__(self) -> str:
        return "; ".join(str(error) for error in self.errors)


def to_ntp(ns: int) -> int:
    """Unix nanoseconds → a 64-bit NTP timestamp (32.32 fixed point, modulo the era)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    fraction = (rest << 32) // 1_000_000_000
    return (((seconds + NTP_UNIX_OFFSET_S) << 32) | fraction) & _MASK64


def ntp_diff_ns(a: int, b: int) -> int:
    """``a - b`` for NTP timestamps, in nanoseconds (signed: correct across eras while
    the two are within 68 years)."""
    diff = (a - b) & _MASK64
    if diff >= 1 << 63:
        diff -= 1 << 64
    return (diff * 1_000_000_000) >> 32


def request_packet(transmit: bytes) -> bytes:
    """A client request whose transmit timestamp is ``transmit`` (8 random bytes)."""
    return bytes([(NTP_VERSION << 3) | MODE_CLIENT]) + bytes(39) + transmit


def measure(server: str, reply: bytes, t1_ns: int, t4_ns: int) -> Measurement:
    """Check an answer to our request (its originate timestamp already matched) and
    compute offset and delay from T1 (sent), T2 (server received), T3 (server sent) and
    T4 (received). Raises :class:`KissOfDeath` or :class:`BadAnswer`."""
    leap, mode, stratum = reply[0] >> 6, reply[0] & 0x7, reply[1]
    if mode != MODE_SERVER:
        raise BadAnswer(server, f"{server} answered in NTP mode {mode}, not as a server "
                                f"(mode {MODE_SERVER})")
    if stratum == 0:
        code = reply[12:16].decode("ascii", "replace").rstrip("\0 ") or "?"
        raise KissOfDeath(server, code)
    if leap == LEAP_UNSYNCHRONIZED or stratum > MAX_STRATUM:
        raise BadAnswer(server, f"{server} is not synchronized itself (stratum {stratum}, "
                                f"leap indicator {leap}); it cannot give the time")
    t2 = int.from_bytes(reply[32:40], "big")
    t3 = int.from_bytes(reply[40:48], "big")
    if t3 == 0:
        raise BadAnswer(server, f"{server} answered without a transmit time")
    t1, t4 = to_ntp(t1_ns), to_ntp(t4_ns)
    offset = (ntp_diff_ns(t2, t1) + ntp_diff_ns(t3, t4)) // 2
    delay = ntp_diff_ns(t4, t1) - ntp_diff_ns(t3, t2)
    return Measurement(server, offset, max(0, delay), stratum)


class _Exchange(asyncio.DatagramProtocol):
    """Waits for the one datagram that answers our request; ignores the others."""

    def __init__(self, peer: tuple[str, int], transmit: bytes, clock: WallClock) -> None:
        self.peer = peer
        self.transmit = transmit
        self.clock = clock
        self.reply: asyncio.Future[tuple[bytes, int]] = \
            asyncio.get_running_loop().create_future()
        self.ignored: list[str] = []

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        received_ns = self.clock.now_ns()
        if (addr[0], addr[1]) != self.peer:
            self.ignored.append(f"a packet from {addr[0]} port {addr[1]}")
        elif len(data) < PACKET_BYTES:
            self.ignored.append(f"a {len(data)}-byte packet (too short for NTP)")
        elif data[24:32] != self.transmit:
            self.ignored.append("an answer whose originate timestamp did not match the "
                                "request (stale or spoofed)")
        elif not self.reply.done():
            self.reply.set_result((data, received_ns))

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)


async def _resolve(host: str, port: int, label: str) -> tuple[int, tuple[str, int]]:
    """(address family, (address, port)). An address needs no lookup (and no thread of
    the loop's resolver pool, which may be busy); a name has its own time limit, apart
    from the answer's."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return (socket.AF_INET6 if address.version == 6 else socket.AF_INET), (host, port)
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_DGRAM)
    except TimeoutError:
        raise Unreachable(label, f"cannot resolve {host} within {RESOLVE_TIMEOUT_S:g} s"
                          ) from None
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise Unreachable(label, f"cannot resolve {host}: {reason}") from None
    family, _, _, _, found = infos[0]
    return family, (str(found[0]), int(found[1]))


async def query(server: str, *, clock: WallClock, timeout_s: float = DEFAULT_TIMEOUT_S
                ) -> Measurement:
    """Ask one server (``host``, ``host:port``) for the time. Raises :class:`NoAnswer`,
    :class:`Unreachable`, :class:`KissOfDeath` or :class:`BadAnswer`."""
    host, port = split_ntp_server(server)
    label = ntp_server_label(host, port)
    loop = asyncio.get_running_loop()
    family, peer = await _resolve(host, port, label)
    transmit = secrets.token_bytes(8)
    exchange = _Exchange(peer, transmit, clock)
    try:
        transport, _ = await loop.create_datagram_endpoint(lambda: exchange, family=family,
                                                           remote_addr=peer)
    except OSError as exc:
        raise Unreachable(label, f"cannot reach {label}: {exc.strerror or exc}") from None
    try:
        sent_ns = clock.now_ns()
        transport.sendto(request_packet(transmit))
        async with asyncio.timeout(timeout_s):
            reply, received_ns = await exchange.reply
    except TimeoutError:
        ignored = (f" (ignored: {'; '.join(sorted(set(exchange.ignored)))})"
                   if exchange.ignored else "")
        raise NoAnswer(label, f"no answer from {label} within {timeout_s:g} s{ignored}"
                       ) from None
    except ConnectionRefusedError:
        raise Unreachable(label, f"nothing answers NTP at {label} (port unreachable)"
                          ) from None
    except OSError as exc:
        raise Unreachable(label, f"cannot reach {label}: {exc.strerror or exc}") from None
    finally:
        transport.close()
    return measure(label, reply, sent_ns, received_ns)


async def query_servers(servers: Sequence[str], *, clock: WallClock,
                        timeout_s: float = DEFAULT_TIMEOUT_S) -> Measurement:
    """The first usable answer, asking the servers in order; :class:`SyncFailed` with
    every server's error when none gives one."""
    errors: list[SntpError] = []
    for server in servers:
        try:
            return await query(server, clock=clock, timeout_s=timeout_s)
        except SntpError as exc:
            logger.debug("NTP: %s", exc)
            errors.append(exc)
    raise SyncFailed(errors)


def running_ntp_clients() -> list[str]:
    """The names of NTP clients the operating system runs (they would fight ours).
    Blocking (reads /proc): call it in a thread."""
    found = set()
    for process in psutil.process_iter(["name"]):
        name = process.info.get("name") or ""
        if name in OS_NTP_CLIENTS:
            found.add(name)
    return sorted(found)


# --- the service -------------------------------------------------------------------------

class NoServers(Exception):
    def __str__(self) -> str:
        return "no NTP server is configured: set system.ntp.servers first"


MANUAL_TIME_RANGE = (dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                     dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
"""A time set by hand outside this is a mistake (recordings would be misplaced): before
this firmware existed is the reset value of a flat RTC battery (2000-01-01), not a date."""


class TimeOutOfRange(ValueError):
    """A time set by hand outside :data:`MANUAL_TIME_RANGE`."""

    def __init__(self, wanted: dt.datetime) -> None:
        low, high = MANUAL_TIME_RANGE
        super().__init__(f"must be between {low:%Y-%m-%d} and {high:%Y-%m-%d} (got "
                         f"{wanted.isoformat()}; an earlier date is what a flat clock "
                         "battery gives, not a date)")


def check_manual_time(wanted: dt.datetime) -> None:
    """Raise :class:`TimeOutOfRange` for a time nobody means to set by hand."""
    if not MANUAL_TIME_RANGE[0] <= wanted < MANUAL_TIME_RANGE[1]:
        raise TimeOutOfRange(wanted)


class NtpEnabled(Exception):
    def __str__(self) -> str:
        return ("NTP is on and would undo a time set by hand: turn NTP off first "
                "(system.ntp.enabled = false)")


class ClockNotSettable(Exception):
    def __str__(self) -> str:
        return CLOCK_NOT_SETTABLE


@dataclass(frozen=True, slots=True)
class SyncResult:
    """The last check of the clock, for the API and the status."""

    time_ns: int
    """When it ended, by the clock (after any step)."""
    server: str | None
    """The server that answered (None: none did)."""
    offset_ns: int | None
    delay_ns: int | None
    stepped: bool
    """The clock was set (it was off by more than the threshold)."""
    error: str | None
    """Why there was no good time, or why the clock could not be set."""


class AuditSink(Protocol):
    def record(self, type: str, action: str, *, user: str = ..., source: str = ...,
               result: str = ..., details: str = ...) -> None: ...


class TimeSync(Service):
    """The daemon's NTP client. See the module docstring."""

    name = "timesync"

    def __init__(self, config: NvrConfig, audit: AuditSink | None, *,
                 clock: WallClock | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 find_os_clients: Callable[[], list[str]] = running_ntp_clients,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._config = config
        self._audit = audit
        self.clock: WallClock = clock or SystemWallClock()
        self.timeout_s = timeout_s
        self._find_os_clients = find_os_clients
        self._monotonic = monotonic
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._since_mono = monotonic()
        self._good_mono: float | None = None
        self.last: SyncResult | None = None
        self.os_clients: list[str] = []

    @property
    def settings(self) -> NtpConfig:
        return self._config.system.ntp

    def now_ns(self) -> int:
        return self.clock.now_ns()

    @property
    def overdue(self) -> bool:
        """NTP is on and no server gave a good time for ``OVERDUE_INTERVALS`` intervals."""
        if not self.settings.enabled:
            return False
        since = self._good_mono if self._good_mono is not None else self._since_mono
        limit = OVERDUE_INTERVALS * self.settings.interval_minutes * 60
        return self._monotonic() - since > limit

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        if self.settings.enabled:
            await self._look_for_os_clients()
            await self._sync_quietly()
            self._task = asyncio.get_running_loop().create_task(self._run(sync_first=False),
                                                                 name="ntp")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def apply_config(self, config: NvrConfig) -> None:
        """New NTP settings restart the schedule with a check at once (in the background:
        the configuration change does not wait for the servers)."""
        before = self.settings
        self._config = config
        if config.system.ntp == before:
            return
        await self.stop()
        self._since_mono, self._good_mono = self._monotonic(), None
        if config.system.ntp.enabled:
            if not before.enabled:
                await self._look_for_os_clients()
            self._task = asyncio.get_running_loop().create_task(self._run(sync_first=True),
                                                                 name="ntp")

    async def _run(self, *, sync_first: bool) -> None:
        if sync_first:
            await self._sync_quietly()
        while True:
            await asyncio.sleep(self.settings.interval_minutes * 60)
            await self._sync_quietly()

    async def _sync_quietly(self) -> None:
        try:
            await self.sync_now()
        except (SyncFailed, ClockNotSettable, NoServers):
            pass  # kept in self.last, logged and audited there
        except Exception:
            logger.exception("the NTP check failed unexpectedly")

    async def _look_for_os_clients(self) -> None:
        try:
            self.os_clients = await asyncio.to_thread(self._find_os_clients)
        except Exception as exc:  # psutil on an odd /proc: informative only
            logger.debug("cannot look for OS NTP clients: %s", exc)
            self.os_clients = []
        if self.os_clients:
            logger.warning("the operating system runs %s as well as the recorder's NTP "
                           "client: two clients fight over the clock; turn one off",
                           ", ".join(self.os_clients))

    # --- actions ---------------------------------------------------------------------

    async def sync_now(self, *, user: str = "", source: str = "daemon") -> SyncResult:
        """Ask the servers; step the clock if it is off by more than the threshold.

        Raises :class:`NoServers`, :class:`SyncFailed` or :class:`ClockNotSettable` (after
        keeping the result in ``last``). Works while NTP is off too (a one-off check)."""
        ntp = self.settings
        if not ntp.servers:
            raise NoServers()
        async with self._lock:
            try:
                found = await query_servers(ntp.servers, clock=self.clock,
                                            timeout_s=self.timeout_s)
            except SyncFailed as exc:
                self._keep(SyncResult(self.clock.now_ns(), None, None, None, False,
                                      str(exc)), user, source)
                raise
            stepped, error = False, None
            if abs(found.offset_ns) > ntp.step_threshold_ms * 1_000_000:
                try:
                    self._step(found.offset_ns, f"by NTP server {found.server}",
                               "clock set by NTP", user, source)
                    stepped = True
                except ClockNotSettable as exc:
                    error = str(exc)
            result = SyncResult(self.clock.now_ns(), found.server, found.offset_ns,
                                found.delay_ns, stepped, error)
            self._keep(result, user, source)
            if error is not None:
                raise ClockNotSettable()
            return result

    async def set_time(self, utc_ns: int, *, user: str, source: str) -> int:
        """Set the clock by hand; the step in nanoseconds. Refused (:class:`NtpEnabled`)
        while NTP is on; :class:`ClockNotSettable` without the capability. Callers check
        what a person typed with :func:`check_manual_time` first."""
        if self.settings.enabled:
            raise NtpEnabled()
        async with self._lock:
            offset = utc_ns - self.clock.now_ns()
            try:
                self._step(offset, "", "clock set by hand", user, source)
            except ClockNotSettable:
                if self._audit is not None:
                    self._audit.record("system", "clock set by hand", user=user,
                                       source=source, result="failed",
                                       details=f"to {iso(utc_ns)}: {CLOCK_NOT_SETTABLE}")
                raise
            return offset

    def _step(self, offset_ns: int, why: str, action: str, user: str, source: str) -> None:
        old = self.clock.now_ns()
        new = old + offset_ns
        try:
            self.clock.set_ns(new)
        except PermissionError:
            raise ClockNotSettable() from None
        details = f"from {iso(old)} to {iso(new)} ({offset_ns / 1e9:+.3f} s)" + (
            f" {why}" if why else "")
        logger.warning("%s: %s", action, details)
        if self._audit is not None:
            self._audit.record("system", action, user=user, source=source, details=details)

    def _keep(self, result: SyncResult, user: str, source: str) -> None:
        """Remember the result; log and audit a failure when it is new (a server that
        stays silent is not written down every interval) or asked for by a person."""
        previous = self.last.error if self.last is not None else None
        self.last = result
        if result.error is None:
            self._good_mono = self._monotonic()
            if previous is not None:
                logger.info("NTP: %s answers again", result.server)
            return
        if result.error == previous and not user:
            logger.debug("NTP check failed again: %s", result.error)
            return
        logger.warning("NTP check failed: %s", result.error)
        if self._audit is not None:
            self._audit.record("system", "NTP check failed", user=user, source=source,
                               result="failed", details=result.error)
