"""The camera list as a CSV file (the vendor's ``RemoteConfig_YYYYMMDDhhmmss.csv``):
written for an export, read and merged into the configuration for an import.

Pure: no web, no daemon, no clock. The web routes (``nvrd/web/routes/camera_csv.py``)
read the upload, call :func:`read_csv` and :func:`merge_rows` on the current
configuration table, and hand the result to ``change_config``.

**Passwords are in clear text.** The file carries every camera's password, as the
vendor's unencrypted export does (its manual warns about it; so does the API, in an
``X-Nvrd-Warning`` header): whoever holds the file can log in to the cameras. Stream
URLs are written without credentials; credentials found in a URL go to the username
and password columns when the camera has no account of its own.

The file (:data:`COLUMNS`, in this order, header first)::

    channel,name,enabled,protocol,address,port,manufacturer,model,username,password,
    main_url,sub_url,mode,schedule,onvif_main_profile,onvif_sub_profile

- ``protocol`` is ``onvif`` for a camera with ONVIF settings (``address``/``port`` are
  its ONVIF service's host and HTTP port, ``manufacturer``/``model`` its identity),
  else ``rtsp`` (``address``/``port`` are the main stream URL's host and port, only
  checked on import; an RTSP-only camera keeps no manufacturer or model);
- a blank cell takes the setting's default (``channel``: the lowest free one); a blank
  ``password`` keeps the password of the camera a row replaces;
- the export is UTF-8 with a byte-order mark (so Excel shows non-ASCII names right);
  the import takes UTF-8 with or without it, ``,``, ``;`` or tab as separator (sniffed
  from the header), the columns in any order, and ignores columns it does not know;
- formula injection (OWASP "CSV injection"): a cell starting with ``= + - @``, a tab
  or a carriage return is written with a ``'`` in front, so a spreadsheet shows it as
  text instead of running it; so is a cell starting with ``'`` itself, so that the
  import, which drops one ``'`` before those characters, gives back exactly what was
  exported.

Settings the file has no column for (pre/post-record, retention, motion regions, RS-485
PTZ, stream transports, the ONVIF events/PTZ/clock switches, serial and MAC) take their
defaults on a new camera; a row that replaces a camera keeps the replaced camera's
(the ONVIF ones only when the row names the same ONVIF host and port), so a list edited
in a spreadsheet to change addresses or passwords does not wipe what the file cannot
show.

Import, row by row (:func:`merge_rows`): each row is checked on its own with the
configuration's own rules (:class:`CameraConfig`); rows are placed on channels (see
:data:`Duplicates`); the whole resulting configuration is validated, and when it fails
the rows responsible are found (by the problem's location, else by adding the rows one
at a time) and rejected, and the rest placed again. Every reason names the row as a
spreadsheet numbers it (the header is row 1), the column and the bad value.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import tomli_w
from pydantic import ValidationError

from nvrd.config import ConfigError, ConfigProblem, parse_config
from nvrd.config.errors import NO_VALUE, describe_value
from nvrd.config.schema import MAX_CHANNELS, CameraConfig, OnvifConfig

COLUMNS: Final = (
    "channel", "name", "enabled", "protocol", "address", "port", "manufacturer", "model",
    "username", "password", "main_url", "sub_url", "mode", "schedule",
    "onvif_main_profile", "onvif_sub_profile",
)
MAX_CSV_BYTES: Final = 1 << 20
"""The largest file an import reads (a full 256-channel list is some 60 KiB)."""
MAX_ROWS: Final = MAX_CHANNELS
"""A camera per row, a camera per channel: a longer file cannot fit."""
PASSWORD_WARNING: Final = ("this file holds the cameras' passwords in clear text: keep it "
                           "safe and delete it when it is no longer needed")
BOM: Final = "\ufeff"
DEFAULT_RTSP_PORTS: Final = {"rtsp": 554, "rtsps": 322}
DEFAULT_ONVIF_PORT: Final[int] = OnvifConfig.model_fields["port"].default

Duplicates = Literal["replace", "next_free"]
"""What to do with a row whose channel has a camera, or whose address and port are an
existing camera's: ``replace`` that camera (every camera it matches is removed; the row
lands on its channel, or the matched camera's when it gives none), or ``next_free``:
keep the existing camera and put the row on its own channel if free, else on the lowest
free channel (a channel another row of the file asks for is not taken from it)."""

_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED_START: Final = (*_FORMULA_START, "'")
_SEPARATORS: Final = (",", ";", "\t")
_TRUE: Final = frozenset({"true", "yes", "on", "1", "y"})
_FALSE: Final = frozenset({"false", "no", "off", "0", "n"})
_PROTOCOLS: Final = ("onvif", "rtsp")
_CSV_SETTINGS: Final = frozenset({"channel", "name", "enabled", "main", "sub", "username",
                                  "password", "mode", "schedule", "onvif"})
"""The camera settings a row gives; a replaced camera keeps its other settings."""
_COLUMN_OF_SETTING: Final = {
    "main.url": "main_url", "main": "main_url", "sub.url": "sub_url", "sub": "sub_url",
    "onvif.host": "address", "onvif.port": "port", "onvif.manufacturer": "manufacturer",
    "onvif.model": "model", "onvif.main_profile": "onvif_main_profile",
    "onvif.sub_profile": "onvif_sub_profile",
    **{name: name for name in ("channel", "name", "enabled", "username", "password",
                               "mode", "schedule")},
}
_CAMERA_PATH: Final = re.compile(r"^cameras\[(\d+)\](?:\.(.*))?$")
_SOURCE: Final = "the imported camera list"


# --- cells ------------------------------------------------------------------------------

def escape_cell(text: str) -> str:
    """The cell as written: a ``'`` in front of a formula start (and of a ``'``)."""
    return "'" + text if text.startswith(_ESCAPED_START) else text


def unescape_cell(text: str) -> str:
    """The cell as read: one ``'`` dropped before a formula start or a ``'``."""
    return text[1:] if text.startswith("'") and text[1:].startswith(_ESCAPED_START) else text


# --- export -----------------------------------------------------------------------------

def export_filename(now: dt.datetime) -> str:
    """``RemoteConfig_20220222191255.csv``: the vendor's name, at ``now`` (the
    recorder's local time, which the caller chooses)."""
    return f"RemoteConfig_{now:%Y%m%d%H%M%S}.csv"


def export_csv(cameras: Iterable[CameraConfig]) -> bytes:
    """The camera list as the file's bytes (UTF-8 with BOM, CRLF lines), by channel.
    Passwords in clear text (see the module doc)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for camera in sorted(cameras, key=lambda c: c.channel):
        cells = export_row(camera)
        writer.writerow([escape_cell(cells[column]) for column in COLUMNS])
    return (BOM + buffer.getvalue()).encode("utf-8")


def export_row(camera: CameraConfig) -> dict[str, str]:
    """One camera's cells (not yet escaped), by column."""
    main_url, url_user, url_password = split_credentials(str(camera.main.url))
    username, password = camera.username, camera.password.get_secret_value()
    if not username and url_user:
        username, password = url_user, url_password
    onvif = camera.onvif
    if onvif is not None:
        address, port = onvif.host, onvif.port
    else:
        address, port = stream_address(main_url)
    return {
        "channel": str(camera.channel), "name": camera.name,
        "enabled": "true" if camera.enabled else "false",
        "protocol": "onvif" if onvif is not None else "rtsp",
        "address": address, "port": str(port),
        "manufacturer": onvif.manufacturer if onvif else "",
        "model": onvif.model if onvif else "",
        "username": username, "password": password, "main_url": main_url,
        "sub_url": split_credentials(str(camera.sub.url))[0] if camera.sub else "",
        "mode": camera.mode, "schedule": camera.schedule,
        "onvif_main_profile": onvif.main_profile if onvif else "",
        "onvif_sub_profile": onvif.sub_profile if onvif else "",
    }


def split_credentials(url: str) -> tuple[str, str, str]:
    """(the URL without user and password, user, password), the last two decoded."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, "", ""
    bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return bare, unquote(parts.username or ""), unquote(parts.password or "")


def stream_address(url: str) -> tuple[str, int]:
    """(host, port) of a stream URL, the scheme's default port when it names none."""
    parts = urlsplit(url)
    port = parts.port or DEFAULT_RTSP_PORTS.get(parts.scheme.lower(), 554)
    return (parts.hostname or "").lower(), port


# --- reading ----------------------------------------------------------------------------

class CsvFileError(ValueError):
    """The upload is not a camera list: not UTF-8 text, not CSV, or without the header
    row naming the columns. The message says which, and what to do."""


@dataclass(frozen=True, slots=True)
class CsvRow:
    """A data row as read: cells by column (unescaped; blanks around all but the
    password dropped)."""

    row: int
    """The row number a spreadsheet shows (the header is row 1)."""
    cells: Mapping[str, str]
    extra_cells: int = 0
    """Cells beyond the header's (a separator outside quotes shifted the row)."""


def read_csv(data: bytes) -> list[CsvRow]:
    """The file's data rows (blank rows skipped, still counted in row numbers).

    ``CsvFileError`` when it is not a camera list; the rows themselves are checked by
    :func:`merge_rows`.
    """
    text = _decode(data)
    lines = text.splitlines()
    header_line = next((line for line in lines if line.strip()), None)
    if header_line is None:
        raise CsvFileError("the file is empty: it needs a header row naming the columns "
                           f"({', '.join(COLUMNS)}) and a row per camera")
    separator = max(_SEPARATORS, key=header_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
    try:
        records = list(reader)
    except csv.Error as exc:
        raise CsvFileError(f"the file is not valid CSV: {exc} (line {reader.line_num}); "
                           "a cell holding quotes must be in double quotes, its quotes "
                           "doubled") from None
    header_at = next((i for i, record in enumerate(records)
                      if any(cell.strip() for cell in record)), None)
    if header_at is None:
        raise CsvFileError("the file has no header row naming the columns "
                           f"({', '.join(COLUMNS)})")
    index = _header_index(records[header_at])
    rows = []
    for number, record in enumerate(records[header_at + 1:], start=header_at + 2):
        if not any(cell.strip() for cell in record):
            continue
        cells = {}
        for column, position in index.items():
            raw = unescape_cell(record[position] if position < len(record) else "")
            cells[column] = raw if column == "password" else raw.strip()
        extra = max(0, len(record) - len(records[header_at]))
        rows.append(CsvRow(number, cells, extra))
    if len(rows) > MAX_ROWS:
        raise CsvFileError(f"the file holds {len(rows)} camera rows; a recorder has at most "
                           f"{MAX_ROWS} channels")
    return rows


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CsvFileError(f"the file is not UTF-8 text (byte {exc.start}); save it as "
                           "\"CSV UTF-8\"") from None
    if "\x00" in text:
        raise CsvFileError("the file is not a CSV text file (it holds NUL bytes)")
    return text.removeprefix(BOM)


def _header_index(header: Sequence[str]) -> dict[str, int]:
    names = [cell.strip().removeprefix(BOM).strip().lower() for cell in header]
    twice = sorted({name for name in names if name in COLUMNS and names.count(name) > 1})
    if twice:
        raise CsvFileError(f"the header row names {', '.join(twice)} more than once")
    missing = [column for column in COLUMNS if column not in names]
    if missing:
        what = ("this is not a camera list: its first row names none of the columns"
                if len(missing) == len(COLUMNS) else "the header row lacks some columns")
        raise CsvFileError(f"{what}; missing: {', '.join(missing)} (the first row must "
                           f"name the columns: {', '.join(COLUMNS)})")
    return {column: names.index(column) for column in COLUMNS}


# --- merging into the configuration -----------------------------------------------------

@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why a row was not imported."""

    row: int
    reason: str
    """The whole sentence: ``row 4: main_url: must be an rtsp:// or rtsps:// URL, not
    'http://x'``."""
    field: str | None = None
    """The column at fault (a setting's path for one kept from a replaced camera);
    None when it is the row as a whole."""


@dataclass(frozen=True, slots=True)
class ImportedRow:
    row: int
    channel: int
    name: str
    replaced: bool
    """It replaced an existing camera (same channel, or same address and port)."""
    moved_from: int | None
    """The channel the row asked for, when it was put on another one (``next_free``)."""
    replaced_channels: tuple[int, ...] = ()
    """The channels whose cameras it replaced: its own, and any other with the same
    address and port (that camera is removed: the row is the same camera)."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    table: dict[str, Any]
    """The whole configuration table with the imported cameras (valid when any are)."""
    imported: tuple[ImportedRow, ...]
    rejected: tuple[RowProblem, ...]
    """By row."""
    total_rows: int

    def summary(self) -> str:
        """``3 of 5 rows``."""
        return f"{len(self.imported)} of {self.total_rows} row{_s(self.total_rows)}"


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A row that passed the checks it can pass alone."""

    row: int
    channel: int | None
    settings: dict[str, Any]
    """The camera settings the row gives (no channel; no password when it is blank)."""
    key: tuple[str, int]
    """(address, port) for finding the same camera."""


@dataclass(frozen=True, slots=True)
class _Placed:
    candidate: _Candidate
    channel: int
    replaced: tuple[int, ...]
    """The channels of the cameras it replaces."""
    moved_from: int | None
    base: dict[str, Any] | None
    """The replaced camera whose other settings the row keeps."""


@dataclass(frozen=True, slots=True)
class _Plan:
    cameras: list[dict[str, Any]]
    placed: list[_Placed]
    refused: list[RowProblem]


class _RowError(Exception):
    def __init__(self, problems: Sequence[tuple[str | None, str]]) -> None:
        super().__init__(problems)
        self.problems = tuple(problems)

    @classmethod
    def one(cls, column: str | None, message: str, value: object = NO_VALUE) -> _RowError:
        if value is not NO_VALUE:
            message += f" (got {describe_value(value, column or '')})"
        return cls([(column, message)])

    def problem(self, row: int) -> RowProblem:
        text = "; ".join(f"{column}: {message}" if column else message
                         for column, message in self.problems)
        return RowProblem(row, f"row {row}: {text}", self.problems[0][0])


def merge_rows(table: Mapping[str, Any], rows: Sequence[CsvRow],
               duplicates: Duplicates) -> ImportResult:
    """Merge ``rows`` into a copy of the configuration ``table`` (as ``dump_config``
    writes it): the good rows in, the bad ones named. ``table`` is not changed.

    CPU-bound for large lists (a validation of the whole configuration per round):
    call it in a thread from the event loop.
    """
    rejected: list[RowProblem] = []
    candidates: list[_Candidate] = []
    for row in rows:
        try:
            candidates.append(_candidate(row))
        except _RowError as exc:
            rejected.append(exc.problem(row.row))
    existing: list[dict[str, Any]] = list(table.get("cameras", []))
    while True:
        plan = _place(existing, candidates, duplicates)
        bad = _check_rows(plan)
        if not bad:
            problems = _whole_problems(table, plan)
            if not problems or not candidates:
                break
            bad = _blame(plan, problems) or _blame_one_by_one(table, existing, candidates,
                                                              duplicates)
        rejected += bad.values()
        candidates = [c for c in candidates if c.row not in bad]
    new_table = copy.deepcopy(dict(table))
    new_table["cameras"] = plan.cameras
    imported = tuple(ImportedRow(p.candidate.row, p.channel, _name(plan, p.channel),
                                 bool(p.replaced), p.moved_from, p.replaced)
                     for p in plan.placed)
    return ImportResult(new_table, imported,
                        tuple(sorted(rejected + plan.refused, key=lambda r: r.row)),
                        len(rows))


# --- one row ----------------------------------------------------------------------------

def _candidate(row: CsvRow) -> _Candidate:
    cells = row.cells
    if row.extra_cells:
        raise _RowError.one(None, f"has {row.extra_cells} cell{_s(row.extra_cells)} more "
                            "than the header has columns: a cell holding the separator "
                            "must be in double quotes")
    channel = _number(cells, "channel", 1, MAX_CHANNELS)
    protocol = cells["protocol"].lower() or "rtsp"
    if protocol not in _PROTOCOLS:
        raise _RowError.one("protocol", "must be onvif or rtsp", cells["protocol"])
    settings: dict[str, Any] = {}
    for column in ("name", "username", "mode", "schedule"):
        if cells[column]:
            settings[column] = cells[column]
    if cells["password"]:
        settings["password"] = cells["password"]
    if cells["enabled"]:
        settings["enabled"] = _flag(cells, "enabled")
    if not cells["main_url"]:
        raise _RowError.one("main_url", "required: the main stream's rtsp:// URL")
    settings["main"] = {"url": cells["main_url"]}
    if cells["sub_url"]:
        settings["sub"] = {"url": cells["sub_url"]}
    if protocol == "onvif":
        if not cells["address"]:
            raise _RowError.one("address", "required for an onvif camera: the address "
                                "of its ONVIF service")
        settings["onvif"] = {
            "host": cells["address"].strip("[]"),
            "port": _number(cells, "port", 1, 65535) or DEFAULT_ONVIF_PORT,
            "main_profile": cells["onvif_main_profile"],
            "sub_profile": cells["onvif_sub_profile"],
            "manufacturer": cells["manufacturer"], "model": cells["model"]}
    _validate(settings, channel or 1)
    if protocol == "onvif":
        key = (settings["onvif"]["host"].lower(), settings["onvif"]["port"])
    else:
        key = _check_stream_address(cells, str(settings["main"]["url"]))
    return _Candidate(row.row, channel, settings, key)


def _number(cells: Mapping[str, str], column: str, low: int, high: int) -> int | None:
    text = cells[column]
    if not text:
        return None
    if not text.isdigit() or not low <= int(text) <= high:
        raise _RowError.one(column, f"must be a whole number from {low} to {high}", text)
    return int(text)


def _flag(cells: Mapping[str, str], column: str) -> bool:
    text = cells[column].lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise _RowError.one(column, "must be true or false", cells[column])


def _check_stream_address(cells: Mapping[str, str], url: str) -> tuple[str, int]:
    host, port = stream_address(url)
    address = cells["address"].strip("[]").lower()
    if address and address != host:
        raise _RowError.one("address", f"an rtsp camera's address is its main_url's host "
                            f"({host!r}): leave it blank or make them equal",
                            cells["address"])
    given = _number(cells, "port", 1, 65535)
    if given is not None and given != port:
        raise _RowError.one("port", f"an rtsp camera's port is its main_url's ({port}): "
                            "leave it blank or make them equal", cells["port"])
    return host, port


def _validate(settings: Mapping[str, Any], channel: int) -> CameraConfig:
    try:
        return CameraConfig.model_validate({**settings, "channel": channel})
    except ValidationError as exc:
        problems = ConfigError.from_validation_error(exc, _SOURCE, CameraConfig).problems
        raise _RowError([_column_problem(p.path, p) for p in problems]) from None


def _column_problem(path: str, problem: ConfigProblem) -> tuple[str, str]:
    """(column, sentence) for a configuration problem at ``path`` within a camera."""
    column = _COLUMN_OF_SETTING.get(path, path)
    text = problem.message
    if column in ("main_url", "sub_url") and problem.value is not NO_VALUE:
        if text.startswith("URL scheme"):
            return column, (f"must be an rtsp:// or rtsps:// URL, not "
                            f"{describe_value(problem.value)}")
        text = text.replace("must be a valid URL, ", "must be a valid rtsp:// URL: ")
    if problem.value is not NO_VALUE:
        text += f" (got {describe_value(problem.value, column)})"
    return column, text


# --- placing rows on channels -----------------------------------------------------------

def _place(existing: Sequence[dict[str, Any]], candidates: Sequence[_Candidate],
           duplicates: Duplicates) -> _Plan:
    """Channels for the candidates (see :data:`Duplicates`); rows that cannot have one
    are refused (a channel another row of the file has, in ``replace``; no free
    channel). Rows asking for a free channel are served before rows to be moved."""
    by_channel = {int(camera["channel"]): camera for camera in existing}
    keys = {channel: _camera_key(camera) for channel, camera in by_channel.items()}
    removed: set[int] = set()
    taken: dict[int, int] = {}
    placed: list[_Placed] = []
    later: list[tuple[_Candidate, int | None]] = []
    refused: list[RowProblem] = []
    for candidate in candidates:
        wanted = candidate.channel
        matches = [channel for channel in by_channel if channel not in removed
                   and (channel == wanted or keys[channel] == candidate.key)]
        if duplicates == "next_free":
            if wanted is not None and wanted not in by_channel and wanted not in taken:
                taken[wanted] = candidate.row
                placed.append(_Placed(candidate, wanted, (), None, None))
            else:
                later.append((candidate, wanted))
            continue
        target = wanted if wanted is not None else (matches[0] if matches else None)
        if target is not None and target in taken:
            refused.append(RowProblem(candidate.row, f"row {candidate.row}: channel: channel "
                                      f"{target} is given to row {taken[target]} of this "
                                      "file already", "channel"))
            continue
        if target is None:
            later.append((candidate, None))
            continue
        base = target if target in matches else (matches[0] if matches else None)
        removed.update(matches)
        taken[target] = candidate.row
        placed.append(_Placed(candidate, target, tuple(sorted(matches)), None,
                              by_channel[base] if base is not None else None))
    used = (set(by_channel) - removed) | set(taken)
    free = iter(n for n in range(1, MAX_CHANNELS + 1) if n not in used)
    for candidate, wanted in later:
        channel = next(free, None)
        if channel is None:
            refused.append(RowProblem(candidate.row, f"row {candidate.row}: channel: no "
                                      f"channel is free (1-{MAX_CHANNELS} all have a "
                                      "camera)", "channel"))
            continue
        placed.append(_Placed(candidate, channel, (), wanted, None))
    placed.sort(key=lambda p: p.candidate.row)
    kept = [camera for channel, camera in by_channel.items() if channel not in removed]
    cameras = kept + [_entry(p) for p in placed]
    cameras.sort(key=lambda camera: int(camera["channel"]))
    return _Plan(cameras, placed, refused)


def _camera_key(camera: Mapping[str, Any]) -> tuple[str, int]:
    onvif = camera.get("onvif")
    if isinstance(onvif, Mapping):
        return str(onvif["host"]).lower(), int(onvif.get("port", DEFAULT_ONVIF_PORT))
    return stream_address(str(camera["main"]["url"]))


def _entry(placed: _Placed) -> dict[str, Any]:
    """The ``[[cameras]]`` table of a placed row: its settings on its channel, and the
    replaced camera's settings the file has no column for."""
    settings = copy.deepcopy(placed.candidate.settings)
    base = placed.base
    entry: dict[str, Any] = {}
    if base is not None:
        entry = {k: copy.deepcopy(v) for k, v in base.items() if k not in _CSV_SETTINGS}
        for stream in ("main", "sub"):
            if stream in settings and isinstance(base.get(stream), Mapping):
                settings[stream] = {**base[stream], **settings[stream]}
        onvif, old = settings.get("onvif"), base.get("onvif")
        if onvif is not None and isinstance(old, Mapping) and _camera_key(base) == (
                str(onvif["host"]).lower(), onvif["port"]):
            settings["onvif"] = {**old, **onvif}
        if "password" not in settings and base.get("password"):
            settings["password"] = base["password"]
    entry.update(settings)
    entry["channel"] = placed.channel
    return entry


def _name(plan: _Plan, channel: int) -> str:
    camera = next(c for c in plan.cameras if c["channel"] == channel)
    return str(camera.get("name") or f"Camera {channel}")


# --- finding the rows responsible ---------------------------------------------------------

def _check_rows(plan: _Plan) -> dict[int, RowProblem]:
    """Each placed row's camera checked alone (a replaced camera's kept settings can
    clash with the row's: motion detection without a sub stream)."""
    bad = {}
    for placed in plan.placed:
        try:
            _validate(_entry(placed), placed.channel)
        except _RowError as exc:
            bad[placed.candidate.row] = exc.problem(placed.candidate.row)
    return bad


def _whole_problems(table: Mapping[str, Any], plan: _Plan) -> tuple[ConfigProblem, ...]:
    candidate = dict(table)
    candidate["cameras"] = plan.cameras
    try:
        parse_config(tomli_w.dumps(candidate), _SOURCE)
    except ConfigError as exc:
        return exc.problems or (ConfigProblem("", NO_VALUE, "invalid configuration"),)
    return ()


def _blame(plan: _Plan, problems: Iterable[ConfigProblem]) -> dict[int, RowProblem]:
    """The rows whose cameras the problems point at (``cameras[3].schedule``)."""
    row_at = {index: placed for index, camera in enumerate(plan.cameras)
              for placed in plan.placed if placed.channel == camera["channel"]}
    found: dict[int, list[tuple[str | None, str]]] = {}
    for problem in problems:
        match = _CAMERA_PATH.match(problem.path)
        if match is None or int(match.group(1)) not in row_at:
            continue
        placed = row_at[int(match.group(1))]
        found.setdefault(placed.candidate.row, []).append(
            _column_problem(match.group(2) or "", problem))
    return {row: _RowError(items).problem(row) for row, items in found.items()}


def _blame_one_by_one(table: Mapping[str, Any], existing: Sequence[dict[str, Any]],
                      candidates: Sequence[_Candidate],
                      duplicates: Duplicates) -> dict[int, RowProblem]:
    """For problems elsewhere (a rule naming a channel a row's replacement emptied): add
    the rows, in file order, to those already accepted, and refuse each that makes the
    configuration invalid. Rows are added in halves that are split only when they fail,
    so one bad row among 256 costs some 16 validations of the whole configuration, not
    256 (each takes tens of milliseconds at that size)."""
    accepted: list[_Candidate] = []
    bad: dict[int, RowProblem] = {}

    def add(group: Sequence[_Candidate]) -> None:
        problems = _whole_problems(table, _place(existing, [*accepted, *group], duplicates))
        if not problems:
            accepted.extend(group)
        elif len(group) == 1:
            row = group[0].row
            text = "; ".join(problem.describe() for problem in problems)
            bad[row] = RowProblem(row, f"row {row}: the configuration would not be valid "
                                  f"with it: {text}")
        else:
            add(group[:len(group) // 2])
            add(group[len(group) // 2:])

    if candidates:
        add(candidates)
    if not bad:  # the configuration is invalid without any row: refuse them all
        problems = _whole_problems(table, _place(existing, [], duplicates))
        text = "; ".join(problem.describe() for problem in problems)
        bad = {c.row: RowProblem(c.row, f"row {c.row}: the recorder's configuration is not "
                                 f"valid: {text}") for c in candidates}
    return bad


def _s(n: int) -> str:
    return "" if n == 1 else "s"
