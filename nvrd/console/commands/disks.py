"""Console commands for the drive bays: list, SMART, prepare (format), mount, unmount.

What a bay is and what may be done with it is the bay service's business
(``nvrd/storage/bays.py``); these commands show its snapshot joined with the storage
service's volumes (free space, which volume is recorded on now) and ask for a typed
confirmation (``bay2``) before anything that erases a disk or moves recording away.

A prepare is not stopped by Ctrl-C once it has begun: an mkfs cut off halfway leaves a
disk that is neither the old one nor a recording disk. The command stops waiting and
says so; the bay service finishes the job and ``disk list`` shows the outcome.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import zoneinfo
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

from hal.disks import DiskError, PrepareRefused, SmartReport
from nvrd.console.registry import Command, CommandError, Context, UsageError, table
from nvrd.storage.bays import BayStatus
from nvrd.storage.catalog import Catalog
from nvrd.storage.service import VolumeStatus
from nvrd.storage.volume import VolumeError
from nvrd.storage.writer import WriterState

__all__ = ["COMMANDS", "BayView", "Recordings", "bay_views", "format_bytes"]

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 10.0
"""How often a running prepare says it is still at work (mkfs on a big disk takes minutes)."""
CATALOG_QUERY_TIMEOUT_S = 5.0
"""How long counting a volume's recordings may take (its writer thread answers; a hung disk
must not hang the console)."""
FILESYSTEMS = ("ext4", "xfs")
BUSY_STATES = ("mounting", "preparing")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_SMART_VALUES: tuple[tuple[str, str, str], ...] = (
    ("reallocated_sectors", "reallocated sectors", ""),
    ("pending_sectors", "pending sectors", ""),
    ("offline_uncorrectable", "offline uncorrectable", ""),
    ("reported_uncorrect", "reported uncorrectable", ""),
    ("command_timeouts", "command timeouts", ""),
    ("crc_errors", "interface CRC errors", ""),
    ("temperature_c", "temperature", " °C"),
    ("power_on_hours", "power-on hours", " h"),
    ("nvme_critical_warning", "NVMe critical warning", ""),
    ("nvme_media_errors", "NVMe media errors", ""),
    ("nvme_available_spare", "NVMe available spare", " %"),
    ("nvme_percentage_used", "NVMe wear (used)", " %"),
)
"""The SMART values a technician judges a disk by, in the order shown."""

# Prepares left running after a Ctrl-C: kept referenced until they end.
_background: set[asyncio.Task[Any]] = set()


# --- what the bays look like --------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BayView:
    """A bay as the technician sees it: the bay service's status and, when its disk is
    mounted as a volume, that volume's status."""

    status: BayStatus
    volume: VolumeStatus | None

    @property
    def write_target(self) -> bool:
        """Streams are recorded onto this bay's disk now."""
        return self.volume is not None and bool(self.volume.streams)


@dataclass(frozen=True, slots=True)
class Recordings:
    """What a volume's catalog holds."""

    bytes: int
    channels: tuple[int, ...]
    oldest_us: int | None


def bay_views(bays: Sequence[BayStatus], volumes: Sequence[VolumeStatus]) -> list[BayView]:
    """Each bay with the volume mounted from it (matched by mount point)."""
    by_path = {v.path: v for v in volumes}
    return [BayView(b, by_path.get(b.mount_point) if b.mount_point else None) for b in bays]


def format_bytes(size: int | None) -> str:
    """Decimal units, as disks are sold: ``2.0 TB``, ``134.2 MB``."""
    if size is None:
        return ""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def _free(volume: VolumeStatus | None) -> str:
    if volume is None or volume.free_bytes is None:
        return ""
    text = format_bytes(volume.free_bytes)
    if volume.total_bytes:
        text += f" ({volume.free_bytes * 100 // volume.total_bytes}%)"
    return text


def _disk_words(status: BayStatus) -> str:
    words = " ".join(x for x in (status.model, status.serial and f"SN {status.serial}") if x)
    return words or (status.device or "")


def _disk_line(status: BayStatus) -> str:
    """``WDC WD40PURZ SN WD-123, 4.0 TB, /dev/sdb``."""
    words = " ".join(x for x in (status.model, status.serial and f"SN {status.serial}") if x)
    return ", ".join(x for x in (words, format_bytes(status.size_bytes), status.device) if x)


def _local(us: int, zone: str) -> str:
    moment = _EPOCH + dt.timedelta(microseconds=us)
    return f"{moment.astimezone(zoneinfo.ZoneInfo(zone)):%Y-%m-%d %H:%M:%S}"


def _bay_number(word: str) -> int:
    text = word.lower().removeprefix("bay")
    if not text.isdigit():
        raise UsageError(f"{word!r} is not a bay number (1, 2 ... or bay1, bay2 ...)")
    return int(text)


def _views(ctx: Context) -> list[BayView]:
    bays = ctx.service("bays")
    storage = ctx.daemon.storage
    return bay_views(bays.snapshot(), storage.snapshot() if storage is not None else [])


def _view(ctx: Context, word: str) -> BayView:
    number = _bay_number(word)
    views = _views(ctx)
    found = next((v for v in views if v.status.bay == number), None)
    if found is None:
        numbers = ", ".join(str(v.status.bay) for v in views) or "none"
        raise CommandError(f"there is no bay {number}; this recorder has bays {numbers}")
    return found


def _disk_health(ctx: Context) -> Any:
    """The HAL's disk health (SMART), or why it is not there."""
    hardware = ctx.service("hardware")
    if hardware.disks is None:
        reason = hardware.problems.get("disks")
        raise CommandError("the disk hardware is not available"
                           + (f": {reason}" if reason else ""))
    return hardware.disks.health


async def _recordings(ctx: Context, volume: VolumeStatus | None) -> Recordings | None:
    """What the volume holds, asked of its writer thread; None when it cannot tell."""
    storage = ctx.daemon.storage
    writer = storage.writers().get(volume.name) if storage and volume else None
    if writer is None or not writer.alive() or writer.state not in (WriterState.READY,
                                                                    WriterState.FULL):
        return None
    try:
        async with asyncio.timeout(CATALOG_QUERY_TIMEOUT_S):
            per_channel: dict[int, int] = await asyncio.wrap_future(
                writer.run_job(Catalog.bytes_by_channel))
            oldest: int | None = await asyncio.wrap_future(
                writer.run_job(Catalog.oldest_start_us))
    except Exception as exc:  # a failing disk: say "unknown", not crash the command
        logger.warning("cannot count the recordings on volume %s: %s", writer.name, exc)
        return None
    return Recordings(sum(per_channel.values()), tuple(sorted(per_channel)), oldest)


def _describe_recordings(found: Recordings | None, zone: str) -> str:
    if found is None:
        return "unknown (the volume's catalog cannot be read now)"
    if not found.channels:
        return "none"
    channels = ", ".join(map(str, found.channels))
    since = f", since {_local(found.oldest_us, zone)}" if found.oldest_us is not None else ""
    return f"{format_bytes(found.bytes)} of channel{'s' if len(found.channels) > 1 else ''} " \
           f"{channels}{since}"


def _where_recording_goes(ctx: Context, leaving: VolumeStatus) -> str:
    storage = ctx.daemon.storage
    others = [v.name for v in (storage.snapshot() if storage else [])
              if v.state == "ready" and v.path != leaving.path]
    if not others:
        return "recording STOPS: there is no other volume to record on"
    return "recording moves to " + ", ".join(others)


# --- disk list ----------------------------------------------------------------------------

async def _list(ctx: Context, args: list[str]) -> None:
    if args:
        raise UsageError("disk list takes no arguments")
    views = _views(ctx)
    if not views:
        ctx.out("this recorder has no drive bays")
    else:
        ctx.out(table(["BAY", "STATE", "DISK", "SIZE", "SMART", "VOLUME", "FREE", "WRITING"],
                      [(v.status.bay, v.status.state, _disk_words(v.status),
                        format_bytes(v.status.size_bytes),
                        v.status.smart or ("not checked" if v.status.identity else ""),
                        v.volume.name if v.volume else (v.status.mount_point or ""),
                        _free(v.volume), "yes" if v.write_target else "")
                       for v in views]))
        for v in views:
            if v.status.problem:
                ctx.out(f"bay {v.status.bay}: {v.status.problem}")
            if v.status.smart in ("warning", "failing") and v.status.smart_summary:
                ctx.out(f"bay {v.status.bay}: SMART {v.status.smart}: "
                        f"{v.status.smart_summary}")
    storage = ctx.daemon.storage
    volumes = storage.snapshot() if storage is not None else []
    in_bays = {v.volume.path for v in views if v.volume is not None}
    others = [v for v in volumes if v.path not in in_bays]
    if others:
        ctx.out("other volumes:")
        ctx.out(table(["VOLUME", "STATE", "PATH", "FREE", "WRITING"],
                      [(v.name, v.state, v.path, _free(v), "yes" if v.streams else "")
                       for v in others]))
    targets = [f"{v.name} ({', '.join(v.streams)})" for v in volumes if v.streams]
    ctx.out("recording to: " + ("; ".join(targets) if targets
                                else "nothing (no stream is assigned to a volume)"))


# --- disk smart ---------------------------------------------------------------------------

def _smart_lines(report: SmartReport) -> list[str]:
    lines = [f"verdict: {report.state} ({report.summary})"]
    if report.reasons:
        lines.append("problems:")
        lines += [f"  {r.severity:<8} {r.message}" for r in report.reasons]
    shown = [(label, getattr(report.values, name), unit)
             for name, label, unit in _SMART_VALUES
             if getattr(report.values, name) is not None]
    if shown:
        lines.append("values:")
        width = max(len(label) for label, _, _ in shown)
        lines += [f"  {label:<{width}}  {value}{unit}" for label, value, unit in shown]
    return lines


async def _smart(ctx: Context, args: list[str]) -> None:
    if not args or len(args) > 2 or (len(args) == 2 and args[1].lower() != "check"):
        raise UsageError("give a bay, and 'check' for a fresh reading")
    view = _view(ctx, args[0])
    status = view.status
    if status.identity is None:
        raise CommandError(f"bay {status.bay} is empty")
    health = _disk_health(ctx)
    if len(args) == 2:
        ctx.out("reading the SMART data of the bay disks (sleeping disks are not woken)...")
        try:
            await ctx.service("bays").check_smart_now()
        except DiskError as exc:
            ctx.audit(f"SMART check of bay {status.bay}", type="storage", result="failed",
                      details=str(exc))
            raise CommandError(f"the SMART check failed: {exc}") from None
        ctx.audit(f"SMART check of bay {status.bay}", type="storage")
    ctx.out(f"bay {status.bay}: {_disk_line(status)}")
    ctx.out(f"identity: {status.identity}")
    report: SmartReport | None = health.last_reports.get(status.identity)
    if report is None:
        ctx.out(f"not checked since the daemon started: 'disk smart {status.bay} check' "
                "reads it now")
        return
    for line in _smart_lines(report):
        ctx.out(line)
    checks = await health.history(status.identity, 1)
    if checks:
        ctx.out(f"checked at {_local(checks[0].at_us, ctx.daemon.config.system.timezone)}")


# --- disk prepare -------------------------------------------------------------------------

async def _prepare(ctx: Context, args: list[str]) -> None:
    if not args or len(args) > 2:
        raise UsageError("give a bay, and optionally the filesystem (ext4 or xfs)")
    fs_type = args[1].lower() if len(args) == 2 else "ext4"
    if fs_type not in FILESYSTEMS:
        raise UsageError(f"{args[1]!r} is not a filesystem for recording: ext4 or xfs")
    view = _view(ctx, args[0])
    status = view.status
    number = status.bay
    bays = ctx.service("bays")
    _disk_health(ctx)  # the disk hardware must be there
    if status.identity is None:
        raise CommandError(f"bay {number} is empty: there is no disk to prepare")
    if status.state in BUSY_STATES:
        raise CommandError(f"bay {number} is busy ({status.state}); try again when it is "
                           "done")
    zone = ctx.daemon.config.system.timezone
    lines = [f"This ERASES everything on the disk in bay {number}:",
             f"  disk        {_disk_line(status)}",
             f"  identity    {status.identity}",
             f"  now         {status.state}" + (f" ({status.problem})" if status.problem
                                                else "")]
    if view.volume is not None:
        recordings = await _recordings(ctx, view.volume)
        lines.append(f"  recordings  {_describe_recordings(recordings, zone)}")
        if view.write_target:
            lines.append(f"  recording   now ({', '.join(view.volume.streams)}): "
                         f"{_where_recording_goes(ctx, view.volume)}")
    elif status.filesystem:
        lines.append(f"  recordings  none of this recorder's (its {status.filesystem} "
                     "filesystem and all on it are lost)")
    else:
        lines.append("  recordings  none")
    lines.append(f"It becomes an empty {fs_type} recording disk.")
    action = f"disk in bay {number} prepare ({fs_type})"
    if not await ctx.confirm("\n".join(lines), f"bay{number}"):
        ctx.audit(action, type="storage", result="rejected", details="not confirmed")
        return
    ctx.out(f"preparing bay {number}: stopping recording on it, formatting {status.device} "
            f"as {fs_type}, making it a recording volume...")
    try:
        # the identity seen above: a disk swapped meanwhile is refused, not erased
        done: BayStatus = await _with_progress(
            ctx, number, bays.prepare(number, confirm=status.identity, fs_type=fs_type))
    except PrepareRefused as exc:
        ctx.audit(action, type="storage", result="rejected", details=exc.reason)
        raise CommandError(f"refused, nothing was changed: {exc.reason}") from None
    except (DiskError, VolumeError, OSError) as exc:
        ctx.audit(action, type="storage", result="failed", details=str(exc))
        raise CommandError(f"preparing the disk in bay {number} failed: {exc}") from None
    ctx.audit(action, type="storage", details=f"{status.model or 'disk'} {status.identity}")
    where = f", mounted at {done.mount_point}" if done.mount_point else ""
    ctx.out(f"done: bay {number} is {done.state}{where}")


async def _with_progress(ctx: Context, number: int, work: Awaitable[BayStatus]) -> BayStatus:
    """Await ``work`` printing the bay's state as it changes and a line every
    ``PROGRESS_INTERVAL_S``. On Ctrl-C the work goes on (see the module docstring)."""
    bays = ctx.service("bays")
    seen: list[str] = []

    def changed() -> None:
        status = next((b for b in bays.snapshot() if b.bay == number), None)
        if status is not None and (not seen or seen[-1] != status.state):
            seen.append(status.state)
            ctx.out(f"  bay {number}: {status.state}")

    remove = bays.add_listener(changed)
    task = asyncio.ensure_future(work)
    started = time.monotonic()
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=PROGRESS_INTERVAL_S)
            if done:
                return task.result()
            ctx.out(f"  still at work ({time.monotonic() - started:.0f} s)...")
    except asyncio.CancelledError:
        if not task.done():
            _background.add(task)
            task.add_done_callback(_finished_in_background)
            ctx.out(f"bay {number}: the prepare goes on (stopping it halfway would leave a "
                    "broken disk); 'disk list' shows when it is done")
        raise
    finally:
        remove()


def _finished_in_background(task: asyncio.Task[Any]) -> None:
    _background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("a prepare left running from the console failed: %s", task.exception())


# --- disk mount / unmount -----------------------------------------------------------------

async def _unmount(ctx: Context, args: list[str]) -> None:
    if len(args) != 1:
        raise UsageError("give one bay")
    view = _view(ctx, args[0])
    status = view.status
    number = status.bay
    bays = ctx.service("bays")
    if status.identity is None:
        raise CommandError(f"bay {number} is empty")
    if status.mount_point is None:
        raise CommandError(f"the disk in bay {number} is not mounted ({status.state})")
    warnings = []
    if view.volume is not None:
        if view.write_target:
            warnings.append(f"Bay {number} is recorded on now ({', '.join(view.volume.streams)})"
                            f": {_where_recording_goes(ctx, view.volume)}.")
        recordings = await _recordings(ctx, view.volume)
        if recordings is None or recordings.channels:
            zone = ctx.daemon.config.system.timezone
            warnings.append(f"It holds recordings ({_describe_recordings(recordings, zone)}):"
                            " they cannot be played back until it is mounted again.")
    action = f"disk in bay {number} unmount"
    if warnings and not await ctx.confirm("\n".join(warnings), f"bay{number}"):
        ctx.audit(action, type="storage", result="rejected", details="not confirmed")
        return
    try:
        done: BayStatus = await bays.unmount(number)
    except DiskError as exc:
        ctx.audit(action, type="storage", result="failed", details=str(exc))
        raise CommandError(str(exc)) from None
    ctx.audit(action, type="storage", details=f"{status.model or 'disk'} {status.identity}")
    ctx.out(f"bay {number} is {done.state}: the disk can be pulled now")


async def _mount(ctx: Context, args: list[str]) -> None:
    if len(args) != 1:
        raise UsageError("give one bay")
    status = _view(ctx, args[0]).status
    number = status.bay
    if status.identity is None:
        raise CommandError(f"bay {number} is empty")
    action = f"disk in bay {number} mount"
    try:
        done: BayStatus = await ctx.service("bays").mount(number)
    except (DiskError, VolumeError, OSError) as exc:
        ctx.audit(action, type="storage", result="failed", details=str(exc))
        raise CommandError(str(exc)) from None
    ctx.audit(action, type="storage", details=f"{status.model or 'disk'} {status.identity}")
    ctx.out(f"bay {number} is {done.state}, mounted at {done.mount_point}"
            + (f" ({done.problem})" if done.problem else ""))


COMMANDS = [
    Command("disk list", _list, "every bay: disk, state, SMART, volume, free space, where "
            "recording goes", aliases=("disks",)),
    Command("disk smart", _smart, "a bay disk's SMART verdict and the values that matter",
            usage="BAY [check]",
            details="'check' reads the SMART data now instead of showing the last reading "
                    "(disks that sleep are not woken)."),
    Command("disk prepare", _prepare, "erase a bay disk and make it a recording disk",
            usage="BAY [ext4|xfs]", right="storage",
            details="Shows what is on the disk and asks for the typed word bayN. Everything "
                    "on the disk is lost. It can take minutes on a large disk; Ctrl-C stops "
                    "waiting, not the prepare."),
    Command("disk mount", _mount, "mount a bay disk again and record on it",
            usage="BAY", right="storage"),
    Command("disk unmount", _unmount, "stop recording on a bay disk and unmount it (safe "
            "to pull)", usage="BAY", right="storage", aliases=("disk umount",),
            details="Asks for the typed word bayN when the disk is recorded on or holds "
                    "recordings; recording moves to the other volumes."),
]
