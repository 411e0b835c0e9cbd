"""Storage (right ``storage``): volumes, drive bays, SMART, the full-disk policy, and
preparing (formatting) a bay disk.

Preparing wipes a disk, so it needs the disk's identity or device name as confirmation
(shown by ``GET /api/v1/storage/bays``); without it the answer is 409 with the reason
and nothing is touched. It may take long (mkfs on a big disk): the route's timeout is
``PREPARE_TIMEOUT_S``.

Not settable here, on purpose: ``storage.volumes`` (recording directories) and
``storage.mount_root`` are paths on the box's filesystem; they are set in the
configuration file or on the console, not by a remote client.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hal.disks import DiskError, PrepareRefused
from hal.disks.smart import SmartReport, SmartValues
from nvrd.config.schema import BayConfig, StorageConfig
from nvrd.storage.bays import BayStatus
from nvrd.storage.service import VolumeStatus
from nvrd.web.api.errors import ApiError, Conflict, NotFound
from nvrd.web.api.registry import ApiRegistry, RequestContext
from nvrd.web.routes.common import (
    audit,
    change_config,
    daemon,
    given,
    settings_model,
    unavailable,
)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
routes = ApiRegistry(tags=("storage",))

PREPARE_TIMEOUT_S = 1800.0
SMART_CHECK_TIMEOUT_S = 300.0
SETTINGS = ("full_policy", "min_free_percent", "reserve_minutes", "bays",
            "smart_interval_minutes")

StorageSettingsIn = settings_model(
    "StorageSettingsIn", StorageConfig, SETTINGS,
    doc="Storage settings to change; those left out keep their value. ``bays`` replaces "
        "the per-bay settings as a whole.")


class StorageSettings(BaseModel):
    """The storage settings a client may change (``volumes`` and ``mount_root`` are the
    box's own paths and stay in the configuration file)."""

    full_policy: str
    min_free_percent: int
    reserve_minutes: int
    bays: list[BayConfig]
    smart_interval_minutes: int


class StorageOut(BaseModel):
    settings: StorageSettings
    volumes: list[VolumeStatus]
    bays: list[BayStatus]


class BayPath(BaseModel):
    bay: Annotated[int, Field(ge=1, le=64)]


class SmartOut(BaseModel):
    bay: int
    identity: str | None
    """The disk the report is about (None: the bay is empty)."""
    report: SmartReport | None
    """The latest check (None: not checked since the daemon started)."""


class SmartCheckOut(BaseModel):
    time: dt.datetime
    state: str
    """ok, warning, failing; standby and unavailable: not checked (no data)."""
    summary: str
    reasons: list[tuple[str, str, int | None]]
    """(code, severity, value) per problem found."""
    values: SmartValues


class SmartHistoryOut(BaseModel):
    bay: int
    identity: str | None
    checks: list[SmartCheckOut]
    """Newest first."""


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=1000)] = 100


class PrepareBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm: Annotated[str, Field(min_length=1, max_length=256)]
    """The disk's identity or device name, as ``GET /api/v1/storage/bays`` shows it:
    proof that the disk meant is the disk in the bay. Everything on it is erased."""
    filesystem: Literal["ext4", "xfs"] = "ext4"


def _settings(config: StorageConfig) -> StorageSettings:
    return StorageSettings(
        full_policy=config.full_policy, min_free_percent=config.min_free_percent,
        reserve_minutes=config.reserve_minutes,
        bays=list(config.bays),
        smart_interval_minutes=config.smart_interval_minutes)


def _bays(ctx: RequestContext[Any, Any, Any]) -> Any:
    bays = daemon(ctx).bays
    if bays is None:
        raise unavailable("the drive bay service", code="service_unavailable")
    return bays


def _bay(ctx: RequestContext[Any, Any, BayPath]) -> BayStatus:
    number = ctx.path.bay
    found = next((b for b in _bays(ctx).snapshot() if b.bay == number), None)
    if found is None:
        raise NotFound(f"there is no bay {number} on this recorder")
    return found


def _smart(ctx: RequestContext[Any, Any, BayPath], bay: BayStatus) -> SmartOut:
    hardware = daemon(ctx).hardware
    disks = hardware.disks if hardware is not None else None
    report = (disks.health.last_reports.get(bay.identity)
              if disks is not None and bay.identity is not None else None)
    return SmartOut(bay=bay.bay, identity=bay.identity, report=report)


def _disks_present(ctx: RequestContext[Any, Any, Any]) -> None:
    hardware = daemon(ctx).hardware
    if hardware is None or hardware.disks is None:
        reason = hardware.problems.get("disks") if hardware is not None else None
        raise unavailable("the disk hardware", reason)


@routes.get("/api/v1/storage", response=StorageOut, right="storage")
async def get_storage(ctx: RequestContext) -> StorageOut:
    """Volumes (free space, state, write latency), drive bays and the storage settings."""
    d = daemon(ctx)
    return StorageOut(settings=_settings(d.config.storage),
                      volumes=d.storage.snapshot() if d.storage else [],
                      bays=d.bays.snapshot() if d.bays else [])


@routes.put("/api/v1/storage/settings", body=StorageSettingsIn, response=StorageSettings,
            right="storage")
async def put_storage_settings(ctx: RequestContext[Any]) -> StorageSettings:
    """Change the full-disk policy, free-space reserve, per-bay group/record settings or
    the SMART interval; settings left out keep their value."""
    changes = given(ctx.body)

    def update(table: dict[str, Any]) -> None:
        table.setdefault("storage", {}).update(changes)

    config = await change_config(ctx, update, "storage settings changed: "
                                 + ", ".join(sorted(changes)))
    return _settings(config.storage)


@routes.get("/api/v1/storage/bays", response=list[BayStatus], right="storage")
async def get_bays(ctx: RequestContext) -> list[BayStatus]:
    """Every drive bay: state, disk (model, serial, size, identity), filesystem, SMART."""
    return list(_bays(ctx).snapshot())


@routes.get("/api/v1/storage/bays/{bay:\\d+}/smart", path_model=BayPath, response=SmartOut,
            right="storage")
async def get_smart(ctx: RequestContext[None, None, BayPath]) -> SmartOut:
    """The latest SMART report of the disk in a bay."""
    return _smart(ctx, _bay(ctx))


@routes.get("/api/v1/storage/bays/{bay:\\d+}/smart/history", path_model=BayPath,
            query=HistoryQuery, response=SmartHistoryOut, right="storage")
async def get_smart_history(ctx: RequestContext[None, HistoryQuery, BayPath]
                            ) -> SmartHistoryOut:
    """The stored SMART checks of the disk in a bay, newest first: when a counter
    (reallocated, pending sectors ...) started to grow, the temperature over time."""
    bay = _bay(ctx)
    hardware = daemon(ctx).hardware
    disks = hardware.disks if hardware is not None else None
    checks = (await disks.health.history(bay.identity, ctx.query.limit)
              if disks is not None and bay.identity is not None else [])
    return SmartHistoryOut(bay=bay.bay, identity=bay.identity, checks=[
        SmartCheckOut(time=_EPOCH + dt.timedelta(microseconds=c.at_us), state=c.state,
                      summary=c.summary, reasons=list(c.reasons), values=c.values)
        for c in checks])


@routes.post("/api/v1/storage/bays/{bay:\\d+}/smart", path_model=BayPath, response=SmartOut,
             right="storage", timeout_s=SMART_CHECK_TIMEOUT_S)
async def check_smart(ctx: RequestContext[None, None, BayPath]) -> SmartOut:
    """Read the SMART data of the bay disks now (sleeping disks are not woken)."""
    bay = _bay(ctx)
    _disks_present(ctx)
    if bay.identity is None:
        raise Conflict(f"bay {bay.bay} is empty", code="bay_empty")
    try:
        await _bays(ctx).check_smart_now()
    except DiskError as exc:
        audit(ctx, "storage", f"SMART check of bay {bay.bay}", result="failed",
              details=str(exc))
        raise ApiError(502, "smart_failed", f"the SMART check failed: {exc}") from None
    audit(ctx, "storage", f"SMART check of bay {bay.bay}")
    return _smart(ctx, _bay(ctx))


@routes.post("/api/v1/storage/bays/{bay:\\d+}/prepare", path_model=BayPath,
             body=PrepareBody, response=BayStatus, right="storage",
             timeout_s=PREPARE_TIMEOUT_S)
async def prepare_bay(ctx: RequestContext[PrepareBody, None, BayPath]) -> BayStatus:
    """Erase the disk in a bay and make it a recording disk (ext4 or xfs).

    Destructive: ``confirm`` must be the disk's identity or device name, else 409
    ``prepare_refused`` and nothing is touched. May take many minutes on a large disk.
    """
    bay = _bay(ctx)
    _disks_present(ctx)
    if bay.identity is None:
        raise Conflict(f"bay {bay.bay} is empty: there is no disk to prepare",
                       code="bay_empty")
    action = f"disk in bay {bay.bay} prepare ({ctx.body.filesystem})"
    try:
        status: BayStatus = await _bays(ctx).prepare(bay.bay, confirm=ctx.body.confirm,
                                                     fs_type=ctx.body.filesystem)
    except PrepareRefused as exc:
        audit(ctx, "storage", action, result="rejected", details=exc.reason)
        raise Conflict(str(exc), code="prepare_refused") from None
    except DiskError as exc:
        audit(ctx, "storage", action, result="failed", details=str(exc))
        raise ApiError(500, "prepare_failed", f"preparing the disk in bay {bay.bay} "
                       f"failed: {exc}") from None
    audit(ctx, "storage", action, details=f"{bay.model or 'disk'} {bay.identity}")
    return status
