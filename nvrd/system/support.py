"""The support bundle: one ``.tar.gz`` a technician sends to support, holding what is
needed to diagnose the box without the box — and no secret.

Contents (each file is one *part*; ``README.txt`` inside lists them and how each went):

- ``versions.txt``: nvrd, Python, kernel, PyAV/FFmpeg, the board;
- ``status.json``: the daemon's status (``Application.status()``);
- ``config.toml``: the running configuration with the secrets left out
  (``nvrd.config.bundle.strip_secrets``: camera, MQTT and plug-and-play passwords,
  webhook secrets; passwords in stream URLs read ``***``);
- ``audit.csv``: the newest ``AUDIT_ROWS`` rows of the audit log, newest first;
- ``events.jsonl``: the newest ``EVENT_ROWS`` events of the event log, newest first;
- ``smart/bay<N>.json``: per bay holding a disk, its state, the last SMART report and
  the stored SMART history;
- ``network.json``: ``ip -j addr`` and ``ip -j route``, or the interfaces as psutil
  sees them when ``ip`` fails;
- ``daemon.log``: the daemon's journal (``journalctl -u nvrd -n 5000``).

Invariants:

1. A part that fails never fails the bundle: its file says ``not available: <why>``
   and the README marks it.
2. No secret is written: the configuration goes through ``strip_secrets``; the audit
   log and events hold no passwords (they are never logged: see ``nvrd.system.logs``).
3. The file appears whole or not at all (``atomic_write_bytes``: temp, fsync, rename,
   fsync dir) in ``<data dir>/support/``, named
   ``nvrd-support_<device name>_<YYYYmmddTHHMMSSZ>.tar.gz``; only the newest
   ``KEEP_BUNDLES`` are kept.

Threads: what reads the daemon's live state (status, configuration, SMART reports) runs
on the loop, which owns that state; files, databases, subprocesses and the compression
run in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import enum
import hashlib
import io
import json
import logging
import platform
import re
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

import psutil
import tomli_w
from pydantic import BaseModel, SecretStr

import nvrd
from nvrd.config.atomic import atomic_write_bytes
from nvrd.config.bundle import config_table, strip_secrets
from nvrd.events.log import EventFilter, EventLog
from nvrd.system.logquery import CSV_HEADER, log_csv, query_log

if TYPE_CHECKING:
    from nvrd.config import NvrConfig
    from nvrd.events.service import EventService
    from nvrd.hardware.service import HardwareService
    from nvrd.paths import DataDir
    from nvrd.storage.bays import BayService
    from nvrd.system.status import DaemonStatus

__all__ = ["AUDIT_ROWS", "EVENT_ROWS", "KEEP_BUNDLES", "BundleFile", "build_support_bundle",
           "bundle_file", "support_dir"]

logger = logging.getLogger(__name__)

KEEP_BUNDLES = 5
AUDIT_ROWS = 5000
EVENT_ROWS = 1000
SMART_HISTORY = 50
"""Stored SMART checks per disk: enough to see a counter creep."""
COMMAND_TIMEOUT_S = 20.0
IP_COMMANDS: dict[str, tuple[str, ...]] = {"addr": ("ip", "-j", "addr"),
                                           "route": ("ip", "-j", "route")}
JOURNAL_COMMAND: tuple[str, ...] = ("journalctl", "-u", "nvrd", "-n", "5000", "--no-pager",
                                    "-o", "short-iso")
"""Module constants so a test can point them at a missing program (a failing part)."""
NOT_AVAILABLE = "not available: "
BUNDLE_PREFIX = "nvrd-support_"
BUNDLE_SUFFIX = ".tar.gz"

Files = dict[str, bytes]


class PartUnavailable(Exception):
    """A part that cannot be gathered here, in words (no traceback class name)."""


@dataclass(frozen=True, slots=True)
class _Part:
    """One thing gathered: its files (relative to the bundle's folder), or why not."""

    name: str
    what: str
    files: Files
    error: str | None = None


class Daemon(Protocol):
    """What the bundle reads of the daemon (``nvrd.app.Application``; the web's
    ``Daemon`` protocol has it too)."""

    hardware: HardwareService | None
    events: EventService | None
    bays: BayService | None

    @property
    def config(self) -> NvrConfig: ...

    @property
    def data_dir(self) -> DataDir: ...

    def status(self) -> DaemonStatus: ...


@dataclass(frozen=True, slots=True)
class BundleFile:
    """A written bundle as the console and the web describe it."""

    path: Path
    size_bytes: int
    sha256: str


def support_dir(daemon: Daemon) -> Path:
    """Where the bundles are kept: ``<data dir>/support``."""
    return daemon.data_dir.root / "support"


async def build_support_bundle(daemon: Daemon, directory: Path | None = None) -> Path:
    """Gather every part, write the bundle into ``directory`` (default:
    :func:`support_dir`), drop the older ones beyond ``KEEP_BUNDLES``; its path."""
    directory = directory or support_dir(daemon)
    parts = [
        await _gather_async("status.json", "the daemon's status (services, cameras, "
                            "recording, volumes, bays, hardware)", _status(daemon)),
        await _gather_async("config.toml", "the running configuration, secrets left out",
                            _config(daemon)),
        await _gather_async("smart/", "per bay with a disk: state, last SMART report, "
                            "SMART history", _smart(daemon)),
    ]
    audit_path = daemon.data_dir.audit_db
    events = daemon.events.log if daemon.events is not None else None
    events_path = daemon.data_dir.events_db
    board = _board_text(daemon)
    secrets = _secret_values(daemon.config)
    name = _bundle_name(daemon.config.system.name, time.gmtime())

    def blocking() -> Path:
        gathered = [
            *parts,
            _gather("versions.txt", "versions: nvrd, Python, kernel, PyAV/FFmpeg, board",
                    lambda: _versions(board)),
            _gather("audit.csv", f"the newest {AUDIT_ROWS} audit log rows, newest first",
                    lambda: _audit(audit_path)),
            _gather("events.jsonl", f"the newest {EVENT_ROWS} events, newest first",
                    lambda: _events(events, events_path)),
            _gather("network.json", "network addresses and routes (ip -j addr / route)",
                    _network),
            _gather("daemon.log", "the daemon's journal (journalctl -u nvrd -n 5000)",
                    _journal),
        ]
        return _write(directory, name, [_scrubbed(part, secrets) for part in gathered])

    path = await asyncio.to_thread(blocking)
    logger.info("support bundle written: %s", path)
    return path


def bundle_file(path: Path) -> BundleFile:
    """Size and SHA-256 of a written bundle (blocking: reads it)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return BundleFile(path, path.stat().st_size, digest.hexdigest())


# --- gathering -------------------------------------------------------------------------

def _gather(name: str, what: str, gather: Callable[[], Files]) -> _Part:
    """Run one part's blocking gatherer; any failure becomes the part's explanation."""
    try:
        return _Part(name, what, gather())
    except Exception as exc:  # inv. 1: one part never costs the bundle
        logger.warning("support bundle: %s not available: %s", name, exc)
        return _Part(name, what, {}, _why(exc))


async def _gather_async(name: str, what: str, gather: Awaitable[Files]) -> _Part:
    try:
        return _Part(name, what, await gather)
    except Exception as exc:  # inv. 1
        logger.warning("support bundle: %s not available: %s", name, exc)
        return _Part(name, what, {}, _why(exc))


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, PartUnavailable) else f"{type(exc).__name__}: {text}"


async def _status(daemon: Daemon) -> Files:
    status = daemon.status()
    data = {"summary": status.summary(), "healthy": not status.problems,
            "status": dataclasses.asdict(status)}
    return {"status.json": _json(data)}


async def _config(daemon: Daemon) -> Files:
    table = strip_secrets(config_table(daemon.config))
    header = ("# nvrd configuration from a support bundle: passwords, webhook secrets and\n"
              "# passwords in stream URLs (***) are left out.\n\n")
    return {"config.toml": (header + tomli_w.dumps(table)).encode()}


async def _smart(daemon: Daemon) -> Files:
    if daemon.bays is None:
        raise PartUnavailable("the bay service is not running")
    hardware = daemon.hardware
    health = hardware.disks.health if hardware is not None and hardware.disks else None
    files: Files = {}
    for bay in daemon.bays.snapshot():
        if bay.identity is None:
            continue
        report = health.last_reports.get(bay.identity) if health is not None else None
        history: list[Any] | str = "the disk hardware is not available"
        if health is not None:
            try:
                history = list(await health.history(bay.identity, SMART_HISTORY))
            except Exception as exc:  # the history is a bonus; the report still counts
                history = f"{NOT_AVAILABLE}{exc}"
        files[f"smart/bay{bay.bay}.json"] = _json({
            "bay": bay, "report": report if report is not None
            else "not checked yet (see smart_interval_minutes)", "history": history})
    if not files:
        files["smart/none.txt"] = b"no disk in any bay\n"
    return files


def _board_text(daemon: Daemon) -> str:
    try:
        board = daemon.hardware.board if daemon.hardware is not None else None
        if board is None:
            return f"{daemon.config.system.board} (profile not loaded)"
        return f"{board.name}: {board.description}" + (f", model {board.model}"
                                                       if board.model else "")
    except Exception as exc:  # inv. 1
        return f"{daemon.config.system.board} (profile unreadable: {exc})"


def _versions(board: str) -> Files:
    uname = platform.uname()
    lines = [f"nvrd {nvrd.__version__}",
             f"Python {sys.version.split()[0]} ({platform.python_implementation()})",
             f"kernel {uname.system} {uname.release} {uname.version} {uname.machine}",
             f"hostname {socket.gethostname()}",
             f"board {board}"]
    try:
        import av  # the daemon has it loaded already; imported here to report its version
        libraries = ", ".join(f"{name} {'.'.join(map(str, version))}"
                              for name, version in sorted(av.library_versions.items()))
        lines.append(f"PyAV {av.__version__}")
        lines.append(f"FFmpeg {getattr(av, 'ffmpeg_version_info', '?')} ({libraries})")
    except Exception as exc:
        lines.append(f"PyAV/FFmpeg: {NOT_AVAILABLE}{exc}")
    return {"versions.txt": ("\n".join(lines) + "\n").encode()}


def _audit(path: Path) -> Files:
    if not path.exists():
        raise PartUnavailable(f"there is no audit log ({path})")
    rows = query_log(path, limit=AUDIT_ROWS)
    return {"audit.csv": CSV_HEADER + log_csv(entry for _, entry in rows)}


def _events(log: EventLog | None, path: Path) -> Files:
    if log is None:
        if not path.exists():
            raise PartUnavailable(f"there is no event log ({path})")
        log = EventLog(path, max_rows=0)  # reading only: its writer is never started
    lines = [json.dumps(event.to_dict(), default=_jsonable)
             for event in log.query(EventFilter(), limit=EVENT_ROWS)]
    return {"events.jsonl": "".join(line + "\n" for line in lines).encode()}


def _network() -> Files:
    state: dict[str, Any] = {"hostname": socket.gethostname()}
    try:
        for key, argv in IP_COMMANDS.items():
            state[key] = json.loads(_run(argv))
        state["source"] = "ip"
    except (PartUnavailable, ValueError) as exc:
        state = {"hostname": socket.gethostname(), "source": "psutil",
                 "ip_failed": str(exc), "interfaces": _psutil_interfaces()}
    return {"network.json": _json(state)}


def _psutil_interfaces() -> dict[str, Any]:
    stats = psutil.net_if_stats()
    return {name: {"up": bool(stats[name].isup) if name in stats else None,
                   "speed_mbps": stats[name].speed if name in stats else None,
                   "mtu": stats[name].mtu if name in stats else None,
                   "addresses": [{"family": str(a.family), "address": a.address,
                                  "netmask": a.netmask} for a in addresses]}
            for name, addresses in sorted(psutil.net_if_addrs().items())}


def _journal() -> Files:
    return {"daemon.log": _run(JOURNAL_COMMAND).encode()}


def _run(argv: tuple[str, ...]) -> str:
    """A command's output; PartUnavailable saying why when it cannot give one."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                              timeout=COMMAND_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise PartUnavailable(f"{argv[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise PartUnavailable(f"{' '.join(argv)} did not finish within "
                              f"{COMMAND_TIMEOUT_S:g} s") from None
    except OSError as exc:
        raise PartUnavailable(f"cannot run {argv[0]}: {exc}") from None
    if done.returncode != 0:
        raise PartUnavailable(f"{' '.join(argv)} exited with {done.returncode}: "
                              f"{done.stderr.strip()[:500]}")
    return done.stdout


# --- secrets (inv. 2) ------------------------------------------------------------------

MIN_SCRUBBED_CHARS = 4
"""Shorter secret values are not searched for: "1234" would blank every number."""


def _secret_values(value: Any) -> set[str]:
    """Every secret of a configuration: its ``SecretStr`` settings and the passwords
    written in its URLs."""
    found: set[str] = set()
    if isinstance(value, SecretStr):
        found.add(value.get_secret_value())
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found |= _secret_values(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            found |= _secret_values(item)
    elif isinstance(value, list | tuple):
        for item in value:
            found |= _secret_values(item)
    elif isinstance(value, str) or type(value).__name__.endswith("Url"):
        with contextlib.suppress(ValueError):
            password = urlsplit(str(value)).password
            if password:
                found |= {password, unquote(password)}
    return {secret for secret in found if len(secret) >= MIN_SCRUBBED_CHARS}


def _scrubbed(part: _Part, secrets: set[str]) -> _Part:
    """The part with any secret of the configuration replaced by ``***``: a safety net
    under ``strip_secrets`` for what other code may have written into logs."""
    if not secrets:
        return part
    files: Files = {}
    for name, data in part.files.items():
        text = data.decode("utf-8", errors="surrogateescape")
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        files[name] = text.encode("utf-8", errors="surrogateescape")
    return dataclasses.replace(part, files=files)


# --- writing ---------------------------------------------------------------------------

def _bundle_name(device: str, moment: time.struct_time) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", device).strip("-.") or "nvr"
    return f"{BUNDLE_PREFIX}{safe}_{time.strftime('%Y%m%dT%H%M%SZ', moment)}"


def _write(directory: Path, name: str, parts: list[_Part]) -> Path:
    files: Files = {"README.txt": _readme(name, parts)}
    for part in parts:
        files.update(part.files if part.error is None
                     else {_failed_name(part.name): f"{NOT_AVAILABLE}{part.error}\n".encode()})
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}{BUNDLE_SUFFIX}"
    atomic_write_bytes(path, _tar_gz(name, files), mode=0o640)  # inv. 3
    _prune(directory)
    return path


def _failed_name(part: str) -> str:
    return f"{part}not-available.txt" if part.endswith("/") else part


def _tar_gz(folder: str, files: Files) -> bytes:
    buffer = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member, data in files.items():
            info = tarfile.TarInfo(f"{folder}/{member}")
            info.size, info.mtime, info.mode = len(data), int(now), 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _readme(name: str, parts: list[_Part]) -> bytes:
    lines = [f"nvrd support bundle {name}",
             f"written {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} by nvrd "
             f"{nvrd.__version__}", "", "Inside:"]
    for part in sorted(parts, key=lambda p: p.name):
        state = "ok" if part.error is None else f"{NOT_AVAILABLE}{part.error}"
        lines.append(f"  {part.name:<14} {part.what} [{state}]")
    lines += ["", "Left out on purpose: every secret. The configuration has no camera,",
              "MQTT or plug-and-play password and no webhook secret; passwords written in",
              "stream URLs read ***. Recordings, snapshots and the account database are",
              "not included.", ""]
    return "\n".join(lines).encode()


def _prune(directory: Path) -> None:
    """Keep the newest ``KEEP_BUNDLES`` bundles (by modification time, then name)."""
    bundles = sorted(directory.glob(f"{BUNDLE_PREFIX}*{BUNDLE_SUFFIX}"),
                     key=lambda p: (p.stat().st_mtime, p.name))
    for old in bundles[:-KEEP_BUNDLES]:
        old.unlink(missing_ok=True)


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, default=_jsonable, ensure_ascii=False) + "\n").encode()


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)
