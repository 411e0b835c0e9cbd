"""Console commands for maintenance: read the audit log, export/import/check the
configuration, build a support bundle.

They share their logic with the web page: the log through ``nvrd.system.logquery``, the
configuration's secrets through ``nvrd.config.bundle`` (an export never holds a password;
an import takes the box's own back, like the web import), changes through
``Application.change_config`` (validated whole, saved atomically, applied, audited with
source "console"), the bundle through ``nvrd.system.support``.

The audit log is read from its file, not through the audit service, so ``log tail``
still works while that service is down. Times are shown and typed in the box's time zone
(``system.timezone``), the one the technician reads on the front of the box.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import time
import zoneinfo
from pathlib import Path
from typing import Any

import tomli_w

from nvrd.config import ConfigError, NvrConfig, check_config_file
from nvrd.config.bundle import config_table, restore_secrets, strip_secrets
from nvrd.config.check import summarize
from nvrd.config.loader import parse_raw, read_config_text, validate_raw
from nvrd.console.registry import Command, CommandError, Context, UsageError, table
from nvrd.system.logquery import LogEntry, query_log, utc_us
from nvrd.system.support import build_support_bundle, bundle_file

__all__ = ["COMMANDS"]

TAIL_DEFAULT = 20
SEARCH_DEFAULT = 50
MAX_ROWS = 1000
"""More rows than this scroll past on a terminal: search narrower (or use the web export)."""
MAX_IMPORT_BYTES = 1 << 20
"""A configuration file is a few kilobytes; a bigger file is the wrong file."""
EXPORT_HEADER = ("# nvrd configuration exported on the console, without secrets: camera,\n"
                 "# MQTT and plug-and-play passwords and webhook secrets are left out and\n"
                 "# passwords in stream URLs read ***. 'config import' on this recorder\n"
                 "# takes them back from its own configuration.\n\n")
IMPORT_WORD = "import"
OVERWRITE_WORD = "overwrite"


# --- log -------------------------------------------------------------------------------

def _audit_path(ctx: Context) -> Path:
    log = ctx.daemon.audit
    path: Path = log.path if log is not None else ctx.daemon.data_dir.audit_db
    if not path.exists():
        raise CommandError(f"there is no audit log yet ({path})")
    return path


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _rows(entries: list[LogEntry], zone: zoneinfo.ZoneInfo) -> str:
    """Oldest first (newest last, next to the prompt), one line per entry."""
    return table(["TIME", "TYPE", "USER", "SOURCE", "ACTION", "RESULT", "DETAILS"],
                 [(f"{e.time.astimezone(zone):%Y-%m-%d %H:%M:%S}", e.type, e.user or "-",
                   e.source, _one_line(e.action), e.result, _one_line(e.details))
                  for e in reversed(entries)])


def _count(text: str, name: str, default: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{name} must be a whole number (got {text[:20]!r})") from None
    if not 1 <= value <= MAX_ROWS:
        raise UsageError(f"{name} must be between 1 and {MAX_ROWS} (got {value}); "
                         f"without it: {default}")
    return value


async def _query(ctx: Context, **where: Any) -> list[LogEntry]:
    path = _audit_path(ctx)
    try:
        rows = await ctx.blocking(lambda: query_log(path, **where))
    except sqlite3.Error as exc:
        raise CommandError(f"the audit log cannot be read: {exc}") from None
    return [entry for _, entry in rows]


async def _log_tail(ctx: Context, args: list[str]) -> None:
    if len(args) > 1:
        raise UsageError("give at most one number")
    limit = _count(args[0], "N", TAIL_DEFAULT) if args else TAIL_DEFAULT
    entries = await _query(ctx, limit=limit)
    if not entries:
        ctx.out("the audit log is empty")
        return
    ctx.out(_rows(entries, ctx.zone))


def _since(text: str, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"since must be a date or time like 2025-03-01 or "
                         f"2025-03-01T08:00 (got {text[:40]!r})") from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


async def _log_search(ctx: Context, args: list[str]) -> None:
    zone = ctx.zone
    options: dict[str, str] = {}
    words: list[str] = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if sep and key.lower() in ("type", "user", "since", "limit"):
            if not value:
                raise UsageError(f"{key}= needs a value")
            options[key.lower()] = value
        else:
            words.append(arg)
    text = " ".join(words)
    if not text and not options:
        raise UsageError("say what to look for: some text, type=, user= or since=")
    limit = (_count(options["limit"], "limit", SEARCH_DEFAULT) if "limit" in options
             else SEARCH_DEFAULT)
    since = _since(options["since"], zone) if "since" in options else None
    entries = await _query(ctx, text=text or None, type=options.get("type"),
                           user=options.get("user"), since_us=utc_us(since), limit=limit)
    if not entries:
        ctx.out("nothing found")
        return
    ctx.out(_rows(entries, zone))
    more = " (the newest; narrow the search or add limit=N for more)" \
        if len(entries) == limit else ""
    ctx.out(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, newest last{more}")


# --- configuration ---------------------------------------------------------------------

def _export_text(ctx: Context) -> str:
    return EXPORT_HEADER + tomli_w.dumps(strip_secrets(config_table(ctx.daemon.config)))


def _export_target(path: Path, device: str) -> Path:
    """A directory (a USB stick's mount point) gets a file named after the box."""
    if path.is_dir():
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in device) or "nvr"
        return path / f"nvrd-config_{safe}_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.toml"
    return path


def _write_file(path: Path, data: bytes) -> None:
    """Written and flushed to the device (a USB stick may be pulled right after). Not
    through a temp file and rename: the stick's filesystem may not do permissions, and a
    half-written export is no worse than none."""
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


async def _config_export(ctx: Context, args: list[str]) -> None:
    if len(args) > 1:
        raise UsageError("give at most one path (quote a path with spaces)")
    text = _export_text(ctx)
    if not args:
        ctx.out(text.rstrip("\n"))
        ctx.audit("configuration exported", type="config",
                  details="without secrets, to the console")
        return
    target = await ctx.blocking(_export_target, Path(args[0]).expanduser(),
                                ctx.daemon.config.system.name)
    if not target.parent.is_dir():
        raise CommandError(f"there is no directory {target.parent} (is the USB stick "
                           "mounted?)")
    if target.exists() and not await ctx.confirm(f"{target} exists and will be replaced.",
                                                 OVERWRITE_WORD):
        return
    try:
        await ctx.blocking(_write_file, target, text.encode())
    except OSError as exc:
        raise CommandError(f"cannot write {target}: {exc.strerror or exc}") from None
    ctx.out(f"exported to {target} ({len(text.encode())} bytes, without secrets)")
    ctx.audit("configuration exported", type="config",
              details=f"without secrets, to {target}")


def _read_table(path: Path) -> dict[str, Any]:
    """A configuration file (TOML), or the web page's export (JSON bundle), as a table;
    ConfigError placed at the line for a syntax error; FileNotFoundError."""
    source = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise  # said in the caller's words
    except OSError as exc:
        raise ConfigError.single(source, "", f"cannot read: {exc.strerror or exc}") from None
    if size > MAX_IMPORT_BYTES:
        raise ConfigError.single(source, "", f"{size} bytes is too big for a configuration "
                                 f"(at most {MAX_IMPORT_BYTES}): is it the right file?")
    text = read_config_text(path)
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            bundle = json.loads(text)
        except ValueError as exc:
            raise ConfigError.single(source, "", f"not a configuration bundle: {exc}"
                                     ) from None
        if not (isinstance(bundle, dict) and bundle.get("format") == "nvrd-config"
                and isinstance(bundle.get("config"), dict)):
            raise ConfigError.single(source, "", "not a configuration bundle (no "
                                     "\"format\": \"nvrd-config\" with a \"config\" object)")
        config: dict[str, Any] = bundle["config"]
        _refuse_nulls(config, source)
        return config
    return parse_raw(text, source)


def _refuse_nulls(value: Any, source: str, at: str = "") -> None:
    """JSON's null has no TOML form: name the first setting that holds one."""
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        where = f"{at}[{key}]" if isinstance(key, int) else f"{at}.{key}" if at else str(key)
        if item is None:
            raise ConfigError.single(source, where, "null is not a value: leave the setting "
                                     "out instead")
        _refuse_nulls(item, source, where)


def _problems(exc: ConfigError) -> str:
    return "\n".join(f"  {problem.describe()}" for problem in exc.problems) or \
        f"  {exc.source}: invalid configuration"


async def _prepared(ctx: Context, path: Path) -> tuple[dict[str, Any], int, NvrConfig]:
    """The file as the table to save (board kept, secrets taken back), how many secrets
    were taken back, and the configuration it validates to; ConfigError otherwise."""
    try:
        new = await ctx.blocking(_read_table, path)
    except FileNotFoundError:
        raise CommandError(f"there is no file {path} (is the USB stick mounted?)") from None
    current = ctx.daemon.config
    system = new.setdefault("system", {})
    if not isinstance(system, dict):
        raise ConfigError.single(str(path), "system", "must be a table", system)
    system["board"] = current.system.board  # what the hardware is, not a choice
    kept = restore_secrets(new, current, source=str(path))
    return new, kept, validate_raw(new, str(path))


async def _config_import(ctx: Context, args: list[str]) -> None:
    if len(args) != 1:
        raise UsageError("give the file to import (quote a path with spaces)")
    path = Path(args[0]).expanduser()
    try:
        new, kept, checked = await _prepared(ctx, path)
    except ConfigError as exc:
        ctx.audit("configuration import", type="config", result="rejected",
                  details=f"{path}: " + "; ".join(p.describe() for p in exc.problems))
        raise CommandError(f"{path} is not a valid configuration; nothing was changed:\n"
                           f"{_problems(exc)}") from None
    ctx.out(f"{path}: {summarize(checked)}")
    if kept:
        ctx.out(f"{kept} secret(s) left out of the file are kept from this recorder")
    if not await ctx.confirm("This replaces the whole configuration of this recorder "
                             "(cameras, recording, alarms, network settings...).",
                             IMPORT_WORD):
        return

    def replace(table_: dict[str, Any]) -> None:
        table_.clear()
        table_.update(new)

    try:
        applied = await ctx.daemon.change_config(
            replace, what="configuration imported", user=ctx.username, source="console",
            details=f"from {path}, {kept} secret(s) kept")
    except ConfigError as exc:
        ctx.audit("configuration imported", type="config", result="rejected",
                  details="; ".join(p.describe() for p in exc.problems))
        raise CommandError("the configuration was refused; nothing was changed:\n"
                           f"{_problems(exc)}") from None
    ctx.out(f"imported and applied: {summarize(applied)}")


async def _config_check(ctx: Context, args: list[str]) -> None:
    if len(args) > 1:
        raise UsageError("give at most one path (quote a path with spaces)")
    live = not args
    path = ctx.daemon.data_dir.config if live else Path(args[0]).expanduser()
    ok, report = await ctx.blocking(check_config_file, path)
    if ok:
        ctx.out(f"valid: {report.removeprefix('OK: ')}")
    else:
        ctx.out(f"not valid: {path}")
        for line in report.splitlines():
            ctx.out(f"  {line.removeprefix(f'{path}: ')}")
    if live:
        try:
            status = ctx.daemon.status()
        except Exception as exc:  # the console reports a failing daemon, never dies of it
            ctx.out(f"(the daemon's status is unavailable: {exc})")
            return
        if status.config_source != "file":
            ctx.out(f"the recorder runs on its {status.config_source} configuration, not on "
                    "this file" + (f": {status.config_error}" if status.config_error else ""))
        elif status.config_error:
            ctx.out(f"note: {status.config_error}")


# --- support bundle --------------------------------------------------------------------

async def _support_bundle(ctx: Context, args: list[str]) -> None:
    if args:
        raise UsageError("takes no arguments")
    ctx.out("gathering logs, status, configuration (without secrets), SMART, versions and "
            "network state ...")
    path = await build_support_bundle(ctx.daemon)
    info = await ctx.blocking(bundle_file, path)
    ctx.out(f"path:   {info.path}")
    ctx.out(f"size:   {info.size_bytes} bytes")
    ctx.out(f"sha256: {info.sha256}")
    ctx.audit("support bundle written", type="system",
              details=f"{path}, {info.size_bytes} bytes, sha256 {info.sha256}")


COMMANDS = [
    Command("log tail", _log_tail, "the newest audit log entries, newest last",
            usage="[N]", right="log_view", aliases=("log",),
            details=f"N entries (default {TAIL_DEFAULT}, at most {MAX_ROWS}), one line "
                    "each: local time, type, user, source, action, result, details."),
    Command("log search", _log_search, "find audit log entries by text, type, user, time",
            usage="TEXT [type=T] [user=U] [since=DATE[THH:MM]] [limit=N]", right="log_view",
            details="TEXT is looked for in the action, details, user and source (any "
                    "case). Types: system, config, security, storage, camera, poe, alarm, "
                    "... since= is in the box's time zone unless it has an offset."),
    Command("config export", _config_export, "the configuration without secrets, shown "
            "or written to a file", usage="[PATH]", right="import_export",
            details="Without PATH the TOML is printed. PATH may be a directory (a USB "
                    "stick's mount point): the file is named after the recorder."),
    Command("config import", _config_import, "replace the configuration with a file "
            "(validated whole first)", usage="PATH", right="import_export",
            details="The file is a configuration (TOML, e.g. from 'config export') or the "
                    "web page's export (JSON). Secrets left out of it are kept from this "
                    "recorder; the board stays. Nothing changes unless all of it is valid "
                    f"and you type '{IMPORT_WORD}'."),
    Command("config check", _config_check, "validate the live configuration file or "
            "another file", usage="[PATH]"),
    Command("support-bundle", _support_bundle, "write a support bundle (logs, status, "
            "config without secrets, SMART, versions, network)", right="system",
            aliases=("bundle",)),
]
