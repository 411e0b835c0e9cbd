"""The system: device information and status, time, network view, logs, metrics and
maintenance (configuration bundle export/import, restore defaults, restart).

Rights: device information and the status summary need a login only (every dashboard
shows them); time (time zone, NTP, sync now, set by hand) under ``system``; the network
view under ``network``; logs under ``log_view``; ``/metrics`` under ``system`` (give a
scraper an API token of a user with that right); configuration export/import under
``import_export`` — an export *with* secrets (``?secrets=true``) also needs the
``security`` right; restore defaults (also the one wiping the accounts) under
``restore_defaults``; restart under ``reboot``.

The configuration bundle is JSON: ``{"format": "nvrd-config", "format_version": 1,
"firmware_version", "board", "exported_at", "secrets", "config": {...}}`` where
``config`` is the configuration file as a table. Without secrets, camera passwords are
left out and passwords written in stream URLs read ``***``; importing such a bundle keeps
the box's current secret of the same camera (same channel; for a URL, the same URL apart
from the password), and refuses a ``***`` it cannot fill. An import keeps the box's own
``system.board`` (it says what the hardware is, not a choice) and is validated whole:
nothing changes unless all of it is valid.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import sqlite3
import time
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, Literal

import psutil
from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model

import nvrd
from nvrd.config import ConfigError, NvrConfig
from nvrd.config.bundle import (
    config_table,
    factory_table,
    restore_secrets,
    strip_secrets,
)
from nvrd.config.schema import NtpConfig, SystemConfig
from nvrd.system.logquery import CSV_HEADER, LogEntry, log_csv, query_log, utc_us
from nvrd.system.support import build_support_bundle, bundle_file
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
from nvrd.web import metrics
from nvrd.web.api.auth import AUTHENTICATOR_KEY
from nvrd.web.api.errors import ApiError, Conflict, Forbidden
from nvrd.web.api.registry import ApiRegistry, RequestContext, json_response
from nvrd.web.routes.common import (
    audit,
    change_config,
    check_toml,
    config_refused,
    daemon,
    daemon_status,
    given,
    settings_model,
    source_of,
    unavailable,
    user_of,
)

routes = ApiRegistry(tags=("system",))

LOG_EXPORT_BATCH = 1000
LOG_EXPORT_MAX_ROWS = 1_000_000
SUPPORT_BUNDLE_TIMEOUT_S = 300.0
"""Gathering runs a few commands (journalctl, ip) with their own time limits."""
RESTART_DELAY_S = 0.5
"""The restart waits this long so that its answer reaches the client first."""
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# --- models -----------------------------------------------------------------------------

class DeviceInfo(BaseModel):
    name: str
    model: str | None
    board: str
    board_description: str
    version: str
    uptime_seconds: float
    started_at: dt.datetime
    hostname: str
    serial: str | None
    """The box's serial number; None: the board profile does not say where to read it."""


class StatusOut(BaseModel):
    """The daemon's state in a few numbers, for dashboards."""

    healthy: bool
    summary: str
    problems: list[str]
    version: str
    uptime_seconds: float
    config_source: str
    config_error: str | None
    cameras_enabled: int
    cameras_online: int
    streams_recording: int
    volumes: int
    volumes_writable: int


class SyncOut(BaseModel):
    """A check of the clock against the NTP servers."""

    time: dt.datetime
    """When it ended (after any step)."""
    server: str | None
    """The server that answered; None: none did."""
    offset_ms: float | None
    """How far the clock was off (positive: it was behind the server)."""
    delay_ms: float | None
    """Round trip to the server."""
    stepped: bool
    """The clock was set (it was off by more than ``step_threshold_ms``)."""
    error: str | None
    """Why there was no good time, or why the clock could not be set."""


class TimeOut(BaseModel):
    timezone: str
    utc: dt.datetime
    local: dt.datetime
    ntp: NtpConfig
    """The NTP settings."""
    last_sync: SyncOut | None
    """The last check against the NTP servers (None: none since the daemon started)."""
    sync_overdue: bool
    """NTP is on and no server gave a good time for three intervals."""
    os_ntp_clients: list[str]
    """NTP clients the operating system runs besides the recorder's (seen when NTP was
    switched on): they fight over the clock, turn them off."""
    missing: list[str]
    """What the vendor's time page has that this recorder does not configure."""


class SetTimeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    utc: AwareDatetime
    """The new time, with its UTC offset (``2025-03-01T12:00:00Z``)."""


class SetTimeOut(BaseModel):
    utc: dt.datetime
    """The time now, after the step."""
    step_ms: float
    """How far the clock moved."""


def _optional(model: type[BaseModel]) -> Any:
    return model | None


NtpIn = settings_model("NtpIn", NtpConfig, tuple(NtpConfig.model_fields),
                       doc="NTP settings to change; those left out keep their value.")
TimeIn: type[BaseModel] = create_model(
    "TimeIn", __base__=settings_model("TimeZoneIn", SystemConfig, ("timezone",), doc=""),
    __doc__="Time settings to change; those left out keep their value.",
    ntp=(_optional(NtpIn), Field(None, description="NTP settings to change.")))


class Address(BaseModel):
    family: Literal["ipv4", "ipv6", "mac"]
    address: str
    netmask: str | None


class Interface(BaseModel):
    name: str
    up: bool
    speed_mbps: int | None
    mtu: int | None
    addresses: list[Address]


class NetworkOut(BaseModel):
    hostname: str
    interfaces: list[Interface]
    """Read from the operating system; the network is not configured by the recorder
    yet (addresses come from the OS's own configuration or DHCP)."""


class LogQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Annotated[str, Field(max_length=32)] | None = None
    """system, config, camera, security, storage, poe, ptz, alarm, hardware ..."""
    user: Annotated[str, Field(max_length=64)] | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    text: Annotated[str, Field(max_length=100)] | None = None
    """Only rows whose action, details, user or source contain it (any case)."""
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


class LogExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Annotated[str, Field(max_length=32)] | None = None
    user: Annotated[str, Field(max_length=64)] | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    text: Annotated[str, Field(max_length=100)] | None = None


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secrets: bool = False
    """Include camera passwords (needs the security right too)."""


class ConfigBundle(BaseModel):
    """A configuration as exported and imported."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["nvrd-config"] = "nvrd-config"
    format_version: Literal[1] = 1
    firmware_version: str = ""
    board: str = ""
    exported_at: dt.datetime | None = None
    secrets: bool = False
    """Whether the passwords are in it."""
    config: dict[str, Any]
    """The configuration file as a table (``nvrd.toml``)."""


class ImportOut(BaseModel):
    imported: bool
    cameras: int
    kept_secrets: int
    """Secrets left out of the bundle and kept from the box's configuration."""


class RestoreBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep_network: bool = True
    """Keep the web settings (address, port, HTTPS), so the box stays reachable."""
    keep_users: bool = True
    """Keep the accounts. False wipes every user, group, API token and session: the
    recorder is uninitialized again (only ``POST /api/v1/init`` answers), as on first
    boot."""


class Accepted(BaseModel):
    message: str


# --- device and status ------------------------------------------------------------------

@routes.get("/api/v1/system", response=DeviceInfo)
async def get_system(ctx: RequestContext) -> DeviceInfo:
    """What this recorder is: name, model, board, firmware version, uptime."""
    d = daemon(ctx)
    status = daemon_status(ctx)
    board = d.hardware.board if d.hardware is not None else None
    return DeviceInfo(
        name=d.config.system.name, model=board.model if board else None,
        board=board.name if board else d.config.system.board,
        board_description=board.description if board else status.board,
        version=status.version, uptime_seconds=round(status.uptime_s, 1),
        started_at=_EPOCH + dt.timedelta(microseconds=status.started_us),
        hostname=socket.gethostname(), serial=None)


@routes.get("/api/v1/status", response=StatusOut)
async def get_status(ctx: RequestContext) -> StatusOut:
    """The daemon's state in a few numbers: health, cameras online, streams recording,
    writable volumes."""
    status = daemon_status(ctx)
    return StatusOut(
        healthy=not status.problems, summary=status.summary(), problems=status.problems,
        version=status.version, uptime_seconds=round(status.uptime_s, 1),
        config_source=status.config_source, config_error=status.config_error,
        cameras_enabled=status.cameras_enabled, cameras_online=status.cameras_online,
        streams_recording=status.streams_recording, volumes=len(status.volumes),
        volumes_writable=status.volumes_writable)


@routes.get("/metrics", response=str, media_type=metrics.CONTENT_TYPE, right="system")
async def get_metrics(ctx: RequestContext) -> web.Response:
    """The recorder's state in Prometheus' text format (streams, disks, PoE, alarms)."""
    body = metrics.render(lambda: daemon_status(ctx))
    return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})


# --- time and network -------------------------------------------------------------------

def _moment(ns: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=ns // 1000)


def _ms(ns: int | None) -> float | None:
    return None if ns is None else round(ns / 1e6, 3)


def _sync_out(result: SyncResult) -> SyncOut:
    return SyncOut(time=_moment(result.time_ns), server=result.server,
                   offset_ms=_ms(result.offset_ns), delay_ms=_ms(result.delay_ns),
                   stepped=result.stepped, error=result.error)


def _timesync(ctx: RequestContext[Any, Any, Any]) -> TimeSync:
    sync = daemon(ctx).timesync
    if sync is None:
        raise unavailable("the time service", code="service_unavailable")
    return sync


def _time(config: NvrConfig, sync: TimeSync | None) -> TimeOut:
    now = _moment(sync.now_ns()) if sync is not None else dt.datetime.now(dt.UTC)
    last = sync.last if sync is not None else None
    return TimeOut(timezone=config.system.timezone, utc=now,
                   local=now.astimezone(zoneinfo.ZoneInfo(config.system.timezone)),
                   ntp=config.system.ntp, last_sync=_sync_out(last) if last else None,
                   sync_overdue=sync.overdue if sync is not None else False,
                   os_ntp_clients=sync.os_clients if sync is not None else [],
                   missing=["DST rules other than the time zone's own"])


@routes.get("/api/v1/system/time", response=TimeOut, right="system")
async def get_time(ctx: RequestContext) -> TimeOut:
    """The time zone, the current time, the NTP settings and the last check against the
    NTP servers."""
    d = daemon(ctx)
    return _time(d.config, d.timesync)


def _changed(changes: dict[str, Any]) -> str:
    flat = {f"ntp.{k}": v for k, v in changes.get("ntp", {}).items()}
    flat |= {k: v for k, v in changes.items() if k != "ntp"}
    return ", ".join(f"{k} = {v}" for k, v in flat.items()) or "nothing"


@routes.put("/api/v1/system/time", body=TimeIn, response=TimeOut, right="system")
async def put_time(ctx: RequestContext[Any]) -> TimeOut:
    """Set the time zone (schedules and shown times follow it) and the NTP settings.

    Switching NTP on needs at least one server; new NTP settings check the clock at once,
    in the background (see ``last_sync`` a moment later)."""
    changes = given(ctx.body)
    ntp = changes.get("ntp", {})

    def update(table: dict[str, Any]) -> None:
        system = table.setdefault("system", {})
        system.update({k: v for k, v in changes.items() if k != "ntp"})
        system.setdefault("ntp", {}).update(ntp)

    config = await change_config(ctx, update, f"time settings changed: {_changed(changes)}")
    return _time(config, daemon(ctx).timesync)


@routes.post("/api/v1/system/time/sync", response=SyncOut, right="system", timeout_s=60.0)
async def sync_time(ctx: RequestContext) -> SyncOut:
    """Check the clock against the NTP servers now, and set it if it is off by more than
    ``step_threshold_ms`` (also while NTP is off: a one-off check).

    409 without servers; 504 when no server answered in time, 502 when they refused or
    answered badly; 503 when the daemon may not set the clock."""
    sync = _timesync(ctx)
    try:
        result = await sync.sync_now(user=user_of(ctx), source=source_of(ctx))
    except NoServers as exc:
        raise Conflict(str(exc), code="ntp_no_servers") from None
    except SyncFailed as exc:
        if exc.timed_out:
            raise ApiError(504, "ntp_no_answer", str(exc)) from None
        raise ApiError(502, "ntp_failed", str(exc)) from None
    except ClockNotSettable as exc:
        raise ApiError(503, "clock_not_settable", str(exc)) from None
    return _sync_out(result)


@routes.post("/api/v1/system/time/set", body=SetTimeIn, response=SetTimeOut,
             right="system")
async def set_time(ctx: RequestContext[SetTimeIn]) -> SetTimeOut:
    """Set the clock by hand (the vendor's "System Time").

    Refused (409) while NTP is on: NTP would undo it. Every step starts new recording
    runs and is audited with the old and new time."""
    sync = _timesync(ctx)
    wanted = ctx.body.utc.astimezone(dt.UTC)
    try:
        check_manual_time(wanted)
    except TimeOutOfRange as exc:
        raise ApiError(422, "validation_failed", f"body.utc: {exc}") from None
    ns = (wanted - _EPOCH) // dt.timedelta(microseconds=1) * 1000
    try:
        step = await sync.set_time(ns, user=user_of(ctx), source=source_of(ctx))
    except NtpEnabled as exc:
        raise Conflict(str(exc), code="ntp_enabled") from None
    except ClockNotSettable as exc:
        raise ApiError(503, "clock_not_settable", str(exc)) from None
    return SetTimeOut(utc=_moment(sync.now_ns()), step_ms=round(step / 1e6, 3))


def _network() -> NetworkOut:
    addresses = psutil.net_if_addrs()
    stats = psutil.net_if_stats()
    families = {socket.AF_INET: "ipv4", socket.AF_INET6: "ipv6",
                getattr(psutil, "AF_LINK", -1): "mac"}
    interfaces = []
    for name in sorted(set(addresses) | set(stats)):
        stat = stats.get(name)
        interfaces.append(Interface(
            name=name, up=bool(stat and stat.isup),
            speed_mbps=(stat.speed or None) if stat else None,
            mtu=stat.mtu if stat else None,
            addresses=[Address(family=families[a.family], address=a.address,  # type: ignore[arg-type]
                               netmask=a.netmask)
                       for a in addresses.get(name, []) if a.family in families]))
    return NetworkOut(hostname=socket.gethostname(), interfaces=interfaces)


@routes.get("/api/v1/system/network", response=NetworkOut, right="network")
async def get_network(ctx: RequestContext) -> NetworkOut:
    """The network interfaces as the operating system has them: link, speed, addresses."""
    return await asyncio.to_thread(_network)


# --- logs -------------------------------------------------------------------------------

def _audit_path(ctx: RequestContext[Any, Any, Any]) -> Path:
    log = daemon(ctx).audit
    if log is None or not log.path.exists():
        raise unavailable("the audit log", code="service_unavailable")
    return log.path


@routes.get("/api/v1/logs", query=LogQuery, response=list[LogEntry], right="log_view")
async def get_logs(ctx: RequestContext[None, LogQuery]) -> list[LogEntry]:
    """Search the audit log by type, user, time and text; newest first."""
    q = ctx.query
    try:
        rows = await asyncio.to_thread(query_log, _audit_path(ctx), type=q.type, user=q.user,
                                       since_us=utc_us(q.since), until_us=utc_us(q.until),
                                       text=q.text, limit=q.limit)
    except sqlite3.Error as exc:
        raise unavailable("the audit log", str(exc), code="service_unavailable") from None
    return [entry for _, entry in rows]


@routes.get("/api/v1/logs/export", query=LogExportQuery, response=str,
            media_type="text/csv", right="log_view", timeout_s=600.0)
async def export_logs(ctx: RequestContext[None, LogExportQuery]) -> web.StreamResponse:
    """The audit log (filtered like the search) as a CSV download, newest first."""
    q = ctx.query
    path = _audit_path(ctx)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="nvrd-log-{stamp}.csv"'})
    await response.prepare(ctx.request)
    await response.write(CSV_HEADER)
    before: int | None = None
    sent = 0
    while sent < LOG_EXPORT_MAX_ROWS:
        rows = await asyncio.to_thread(query_log, path, type=q.type, user=q.user,
                                       since_us=utc_us(q.since), until_us=utc_us(q.until),
                                       before_id=before, text=q.text,
                                       limit=LOG_EXPORT_BATCH)
        if not rows:
            break
        await response.write(log_csv(entry for _, entry in rows))
        sent += len(rows)
        before = rows[-1][0]
    await response.write_eof()
    audit(ctx, "operation", "log exported", details=f"{sent} row(s)")
    return response


@routes.get("/api/v1/system/support-bundle", response=bytes, media_type="application/gzip",
            right="system", timeout_s=SUPPORT_BUNDLE_TIMEOUT_S)
async def get_support_bundle(ctx: RequestContext) -> web.Response:
    """A support bundle to send to support: versions, status, the configuration without
    secrets, the audit log, recent events, SMART, network state and the daemon's log, as
    a ``.tar.gz`` (its ``README.txt`` lists what is inside and what could not be
    gathered). A copy stays in the data directory's ``support`` folder (the newest five).

    Needs the ``system`` right, like the console's ``support-bundle``: the bundle shows
    the whole box (configuration, network, logs), more than ``log_view`` opens; it holds
    no secret, so it does not need ``security`` as an export with secrets does."""
    path = await build_support_bundle(daemon(ctx))
    info = await asyncio.to_thread(bundle_file, path)
    data = await asyncio.to_thread(path.read_bytes)
    audit(ctx, "system", "support bundle downloaded",
          details=f"{path.name}, {info.size_bytes} bytes, sha256 {info.sha256}")
    return web.Response(body=data, headers={
        "Content-Type": "application/gzip",
        "Content-Disposition": f'attachment; filename="{path.name}"'})


# --- configuration bundle ---------------------------------------------------------------

@routes.get("/api/v1/maintenance/config", query=ExportQuery, response=ConfigBundle,
            right="import_export")
async def export_config(ctx: RequestContext[None, ExportQuery]) -> web.Response:
    """Export the configuration as a versioned bundle (without passwords unless
    ``secrets=true``, which also needs the security right)."""
    if ctx.query.secrets:
        authenticator = ctx.app[AUTHENTICATOR_KEY]
        if ctx.principal is None or not authenticator.authorize(ctx.principal, "security",
                                                                None):
            raise Forbidden("exporting with secrets needs the 'security' right too, "
                            "which your account does not have")
    d = daemon(ctx)
    table = config_table(d.config)
    if not ctx.query.secrets:
        strip_secrets(table)
    bundle = ConfigBundle(firmware_version=nvrd.__version__, board=d.config.system.board,
                          exported_at=dt.datetime.now(dt.UTC), secrets=ctx.query.secrets,
                          config=table)
    audit(ctx, "config", "configuration exported",
          details="with secrets" if ctx.query.secrets else "without secrets")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return web.Response(body=bundle.model_dump_json(), content_type="application/json",
                        headers={"Content-Disposition":
                                 f'attachment; filename="nvrd-config-{stamp}.json"'})


@routes.post("/api/v1/maintenance/config", body=ConfigBundle, response=ImportOut,
             right="import_export")
async def import_config(ctx: RequestContext[ConfigBundle]) -> ImportOut:
    """Import a configuration bundle: validated as a whole, then saved, applied and
    audited; nothing changes when any of it is invalid (422 naming each problem)."""
    d = daemon(ctx)
    new = ctx.body.config
    check_toml(new, "the bundle's config")
    new.setdefault("system", {})
    if not isinstance(new["system"], dict):
        raise ApiError(422, "config_invalid", "config.system: must be a JSON object")
    new["system"]["board"] = d.config.system.board
    try:
        kept = restore_secrets(new, d.config, prefix="config.",
                               source="the bundle's config")
    except ConfigError as exc:
        raise config_refused(exc) from None

    def replace(table: dict[str, Any]) -> None:
        table.clear()
        table.update(new)

    config = await change_config(ctx, replace, "configuration imported" + (
        f" (from firmware {ctx.body.firmware_version})" if ctx.body.firmware_version
        else ""))
    return ImportOut(imported=True, cameras=len(config.cameras), kept_secrets=kept)


@routes.post("/api/v1/maintenance/restore-defaults", body=RestoreBody, response=Accepted,
             other_statuses=(202,), right="restore_defaults")
async def restore_defaults(ctx: RequestContext[RestoreBody]) -> Accepted | web.Response:
    """Restore the factory configuration (cameras, schedules, storage, alarms ...).

    Recordings stay on the disks; the board stays. ``keep_network`` keeps the web
    settings. ``keep_users: false`` then wipes the accounts (users, groups, API tokens,
    sessions, lockouts): the answer is 202, the caller's session is gone and the
    recorder must be initialized again (``POST /api/v1/init``), as on first boot.
    """
    accounts = daemon(ctx).accounts
    if not ctx.body.keep_users and (accounts is None or accounts.store is None):
        raise unavailable("the account store", code="service_unavailable")
    table = factory_table(daemon(ctx).config, keep_network=ctx.body.keep_network)
    check_toml(table, "the factory configuration")

    def replace(current: dict[str, Any]) -> None:
        current.clear()
        current.update(table)

    await change_config(ctx, replace, "factory defaults restored" + (
        " (network kept)" if ctx.body.keep_network else "") + (
        "" if ctx.body.keep_users else " (accounts wiped)"))
    if ctx.body.keep_users:
        return Accepted(message="the factory configuration is restored and applied; "
                                "accounts and recordings are kept")
    assert accounts is not None
    await accounts.wipe(user=user_of(ctx), source=source_of(ctx),
                        why="restore defaults without keeping the users")
    return json_response(Accepted(
        message="the factory configuration is restored and every account is wiped: "
                "your session has ended and the recorder must be initialized again "
                "(POST /api/v1/init sets the admin password); recordings are kept"),
        status=202)


@routes.post("/api/v1/maintenance/reboot", response=Accepted, status=202, right="reboot")
async def reboot(ctx: RequestContext) -> Accepted:
    """Restart the recorder: recordings are closed, disks unmounted, then the daemon
    stops and its supervisor (systemd) starts it again."""
    d = daemon(ctx)
    audit(ctx, "system", "restart requested")
    asyncio.get_running_loop().call_later(RESTART_DELAY_S, d.request_stop)
    return Accepted(message=f"restarting in {RESTART_DELAY_S:g} s, requested by "
                            f"{user_of(ctx)} ({source_of(ctx)})")

