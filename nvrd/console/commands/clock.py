"""Console commands for the clock: show it, set it by hand, check it against NTP.

Everything goes through the time service (:class:`nvrd.system.timesync.TimeSync`), the
same path as the web page: it refuses a time set by hand while NTP is on (NTP would undo
it), audits every step with the old and new time, and the recorder notices the step and
starts new recording runs. That split is why ``time set`` asks for a typed confirmation.

Times are typed and shown in the configured time zone (``system.timezone``), the one the
technician reads on the front of the box; ``time set ... utc`` takes UTC instead. A
local time that happens twice (the hour repeated when summer time ends) or never (the
hour skipped when it starts) is refused rather than guessed.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Coroutine
from typing import Any

from nvrd.config import ConfigError
from nvrd.console.registry import Command, CommandError, Context, UsageError
from nvrd.system.timesync import (
    ClockNotSettable,
    NoServers,
    NtpEnabled,
    SyncFailed,
    SyncResult,
    TimeOutOfRange,
    TimeSync,
    check_manual_time,
)

__all__ = ["COMMANDS", "local_to_utc"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_FORMAT = "%Y-%m-%d %H:%M:%S"


def _moment(ns: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=ns // 1000)


def _ns(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // dt.timedelta(microseconds=1) * 1000


def _timesync(ctx: Context) -> TimeSync:
    sync: TimeSync = ctx.service("timesync")
    return sync


def _show_local(ns: int, zone: zoneinfo.ZoneInfo) -> str:
    local = _moment(ns).astimezone(zone)
    offset = local.isoformat()[-6:]  # +01:00
    return f"{local:%Y-%m-%d %H:%M:%S} {local:%Z} (UTC{offset})"


def _offset(ns: int | None) -> str:
    return "?" if ns is None else f"{ns / 1e9:+.3f} s"


def local_to_utc(wall: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The UTC moment of the naive local time ``wall`` in ``zone``; ``CommandError`` when
    that local time does not exist there or exists twice (a daylight-saving change)."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(dt.UTC)
    if first != second:
        back = first.astimezone(zone).replace(tzinfo=None)
        if back != wall:
            raise CommandError(f"{wall:{_FORMAT}} does not exist in {zone.key} (the clocks "
                               "skip that hour): give a time outside it, or UTC with "
                               "'time set DATE TIME utc'")
        raise CommandError(f"{wall:{_FORMAT}} happens twice in {zone.key} (the hour is "
                           "repeated when the clocks go back): give UTC instead with "
                           "'time set DATE TIME utc'")
    return first


def _parse(args: list[str], zone: zoneinfo.ZoneInfo) -> dt.datetime:
    if len(args) not in (2, 3) or (len(args) == 3 and args[2].lower() != "utc"):
        raise UsageError("give the date and the time: YYYY-MM-DD HH:MM:SS [utc]")
    try:
        wall = dt.datetime.strptime(f"{args[0]} {args[1]}", _FORMAT)
    except ValueError:
        raise UsageError(f"{args[0]} {args[1]!s} is not a time like 2025-03-01 14:30:00"
                         ) from None
    wanted = (wall.replace(tzinfo=dt.UTC) if len(args) == 3
              else local_to_utc(wall, zone))
    try:
        check_manual_time(wanted)
    except TimeOutOfRange as exc:
        raise CommandError(f"the time {exc}") from None
    return wanted


# --- time show ----------------------------------------------------------------------------

async def _show(ctx: Context, args: list[str]) -> None:
    if args:
        raise UsageError("time show takes no arguments")
    zone = ctx.zone
    sync = ctx.daemon.timesync
    now_ns = sync.now_ns() if sync is not None else _ns(dt.datetime.now(dt.UTC))
    ntp = ctx.daemon.config.system.ntp
    ctx.out(f"local time  {_show_local(now_ns, zone)}")
    ctx.out(f"UTC         {_moment(now_ns):{_FORMAT}}")
    ctx.out(f"time zone   {zone.key}")
    servers = ", ".join(ntp.servers) or "none"
    if ntp.enabled:
        ctx.out(f"NTP         on, every {ntp.interval_minutes} min, steps the clock when off "
                f"by more than {ntp.step_threshold_ms} ms; servers: {servers}")
    else:
        ctx.out(f"NTP         off; servers: {servers}")
    if sync is None:
        ctx.out("last sync   unknown: the time service is not running")
        return
    last = sync.last
    ctx.out("last sync   " + (_describe(last, zone) if last is not None
                              else "none since the daemon started"))
    if sync.overdue:
        ctx.out("warning     no NTP server gave a good time for three intervals")
    if sync.os_clients:
        ctx.out(f"warning     the system runs {', '.join(sync.os_clients)} too: two NTP "
                "clients fight over the clock, turn one off")


def _describe(result: SyncResult, zone: zoneinfo.ZoneInfo) -> str:
    when = _show_local(result.time_ns, zone)
    if result.server is None:
        return f"{when}: FAILED: {result.error}"
    text = (f"{when}: {result.server}, offset {_offset(result.offset_ns)}, delay "
            f"{(result.delay_ns or 0) / 1e6:.1f} ms, "
            + ("clock stepped" if result.stepped else "clock left alone"))
    return text + (f"; {result.error}" if result.error else "")


# --- time set -----------------------------------------------------------------------------

async def _set(ctx: Context, args: list[str]) -> None:
    zone = ctx.zone
    wanted = _parse(args, zone)
    sync = _timesync(ctx)
    if sync.settings.enabled:
        raise CommandError(f"{NtpEnabled()}; on the console: 'time ntp off'")
    now = _moment(sync.now_ns())
    step_s = (wanted - now).total_seconds()
    question = (f"The clock goes from {_show_local(_ns(now), zone)}\n"
                f"                 to {_show_local(_ns(wanted), zone)} ({step_s:+.0f} s).\n"
                "Recordings running now are split at the step.")
    if not await ctx.confirm(question):
        return
    try:
        step_ns = await sync.set_time(_ns(wanted), user=ctx.username, source="console")
    except (NtpEnabled, ClockNotSettable) as exc:  # audited by the time service
        raise CommandError(str(exc)) from None
    ctx.out(f"clock set: {_show_local(sync.now_ns(), zone)} (moved {step_ns / 1e9:+.3f} s)")


# --- time ntp -----------------------------------------------------------------------------

async def _sync(ctx: Context, args: list[str]) -> None:
    if args:
        raise UsageError("time ntp sync takes no arguments")
    sync = _timesync(ctx)
    servers = ", ".join(sync.settings.servers) or "none"
    ctx.out(f"asking {servers}...")
    try:
        result = await sync.sync_now(user=ctx.username, source="console")
    except NoServers as exc:
        raise CommandError(str(exc)) from None
    except SyncFailed as exc:
        for error in exc.errors:
            ctx.out(f"  {error}")
        raise CommandError("no server gave a usable time; the clock was left alone"
                           ) from None
    except ClockNotSettable as exc:
        last = sync.last
        if last is not None:
            ctx.out(f"{last.server}: the clock is off by {_offset(last.offset_ns)}")
        raise CommandError(str(exc)) from None
    threshold = sync.settings.step_threshold_ms
    ctx.out(f"{result.server}: offset {_offset(result.offset_ns)}, delay "
            f"{(result.delay_ns or 0) / 1e6:.1f} ms")
    if result.stepped:
        ctx.out(f"clock stepped (off by more than {threshold} ms): now "
                f"{_show_local(sync.now_ns(), ctx.zone)}")
    else:
        ctx.out(f"clock not stepped: within {threshold} ms of the server")


def _switch(enabled: bool) -> Callable[[Context, list[str]], Coroutine[Any, Any, None]]:
    """The handler of ``time ntp on`` or ``time ntp off``."""
    async def switch(ctx: Context, args: list[str]) -> None:
        if args:
            raise UsageError("no arguments")
        word = "on" if enabled else "off"
        if ctx.daemon.config.system.ntp.enabled == enabled:
            ctx.out(f"NTP is already {word}")
            return

        def update(table: dict[str, Any]) -> None:
            table.setdefault("system", {}).setdefault("ntp", {})["enabled"] = enabled

        try:
            await ctx.daemon.change_config(update, what=f"time settings changed: "
                                           f"ntp.enabled = {enabled}", user=ctx.username,
                                           source="console")
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        ctx.out(f"NTP is {word}" + (" (checking the clock now, see 'time show')" if enabled
                                    else ""))
    return switch


COMMANDS = [
    Command("time show", _show, "local time, UTC, time zone, NTP settings and last sync",
            aliases=("date",)),
    Command("time set", _set, "set the clock by hand (NTP must be off)",
            usage="YYYY-MM-DD HH:MM:SS [utc]", right="system",
            details="The time is local (system.timezone) unless 'utc' follows. Refused "
                    "while NTP is on ('time ntp off' first). Asks for 'yes': a step splits "
                    "the recordings running now."),
    Command("time ntp sync", _sync, "check the clock against the NTP servers now and step "
            "it if it is off", right="system",
            details="Works while NTP is off too (a one-off check). Prints the offset found "
                    "and whether the clock was stepped (system.ntp.step_threshold_ms)."),
    Command("time ntp on", _switch(True), "switch NTP on (system.ntp.enabled)",
            right="system"),
    Command("time ntp off", _switch(False), "switch NTP off, e.g. to set the time by hand",
            right="system"),
]
