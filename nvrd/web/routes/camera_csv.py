"""``/api/v1/cameras/export.csv`` and ``/api/v1/cameras/import``: the camera list as CSV.

The file (``RemoteConfig_YYYYMMDDhhmmss.csv``, the vendor's name) and the merge rules are
:mod:`nvrd.cameras.csvfile`'s. **The export carries every camera's password in clear
text**, as the vendor's unencrypted export does; the answer says so in an
``X-Nvrd-Warning`` header for the web page to show, and the export is audited. Right:
``camera`` for both.

An import is one configuration change: the rows that pass land together, or nothing
changes. The report names every row that did not, with the column and the reason; it
comes with 200 when some rows were imported, 422 when none could be. ``dry_run=true``
answers the same report without changing anything (a page asks it first, to show which
rows would replace cameras before the installer chooses ``duplicates``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tomllib
import zoneinfo
from collections.abc import Callable
from typing import Any

from aiohttp import BodyPartReader, web
from pydantic import BaseModel, ConfigDict

from nvrd.cameras.csvfile import (
    MAX_CSV_BYTES,
    PASSWORD_WARNING,
    CsvFileError,
    Duplicates,
    ImportResult,
    export_csv,
    export_filename,
    merge_rows,
    read_csv,
)
from nvrd.config import dump_config
from nvrd.web.api.errors import ApiError, Conflict
from nvrd.web.api.registry import ApiRegistry, RequestContext, body_too_large, json_response
from nvrd.web.routes.common import audit, change_config, daemon

routes = ApiRegistry(tags=("cameras",))

CSV_MEDIA_TYPE = "text/csv"
CSV_MEDIA_TYPES = frozenset({CSV_MEDIA_TYPE, "text/plain", "application/csv",
                             "application/vnd.ms-excel", "application/octet-stream"})
"""What browsers and tools call a .csv file (Windows: ``application/vnd.ms-excel``)."""
IMPORT_TIMEOUT_S = 120.0
"""A 256-row list whose rows break a rule elsewhere is checked row by row."""
MULTIPART_OVERHEAD_BYTES = 64 << 10
"""A form's other fields and part headers, besides the file itself."""
ATTEMPTS = 3
"""Imports merged again when another change landed between merge and save."""


class ImportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duplicates: Duplicates
    """A row whose channel has a camera, or whose address and port are an existing
    camera's: ``replace`` that camera, or keep it and put the row on the lowest free
    channel (``next_free``)."""
    dry_run: bool = False
    """Answer the report without importing anything."""


class ImportedRowOut(BaseModel):
    row: int
    """The row number a spreadsheet shows (the header is row 1)."""
    channel: int
    name: str
    replaced: bool
    """It replaced an existing camera (same channel, or same address and port)."""
    moved_from: int | None
    """The channel the row asked for, when it was put on another one."""
    replaced_channels: list[int]
    """The channels whose cameras it replaced: its own, and any other with the same
    address and port (removed: the row is the same camera)."""


class RejectedRowOut(BaseModel):
    row: int
    reason: str
    """The sentence: ``row 4: main_url: must be an rtsp:// or rtsps:// URL ...``."""
    field: str | None = None
    """The column at fault; none when it is the row as a whole."""


class ImportReport(BaseModel):
    imported: list[ImportedRowOut]
    rejected: list[RejectedRowOut]
    total_rows: int
    """Camera rows in the file (blank rows not counted)."""
    dry_run: bool = False
    """Nothing was changed: this is what the import would do."""


class _ConfigMoved(Exception):
    """The configuration changed between the merge and the save."""


# --- routes -----------------------------------------------------------------------------

@routes.get("/api/v1/cameras/export.csv", response=str, media_type=CSV_MEDIA_TYPE,
            right="camera")
async def export_cameras(ctx: RequestContext) -> web.Response:
    """The camera list as a CSV download (``RemoteConfig_YYYYMMDDhhmmss.csv``, the
    recorder's local time), passwords in clear text.

    One row per camera: channel, name, enabled, protocol, address, port, manufacturer,
    model, username, password, stream URLs (without credentials), mode, schedule, ONVIF
    profiles. The ``X-Nvrd-Warning`` header says the file holds passwords; audited."""
    config = daemon(ctx).config
    now = dt.datetime.now(zoneinfo.ZoneInfo(config.system.timezone))
    body = export_csv(config.cameras)
    name = export_filename(now)
    count = len(config.cameras)
    audit(ctx, "config", "camera list exported",
          details=f"{count} camera{'' if count == 1 else 's'}, passwords in clear text, "
                  f"{name}")
    return web.Response(body=body, headers={
        "Content-Type": f"{CSV_MEDIA_TYPE}; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store",
        "X-Nvrd-Warning": PASSWORD_WARNING})


@routes.post("/api/v1/cameras/import", query=ImportQuery, response=ImportReport,
             other_statuses=(422,), right="camera", timeout_s=IMPORT_TIMEOUT_S)
async def import_cameras(ctx: RequestContext[None, ImportQuery]) -> ImportReport | web.Response:
    """Import cameras from a CSV camera list (as the export writes it): each row checked
    on its own, the good ones added in one change, the others named with the reason.

    The body is the file (``text/csv``, at most 1 MiB, UTF-8 with or without BOM, ``,``
    or ``;`` separated), or a multipart form upload with the file in ``file``. 200 with
    the report when some rows were imported; 422 with it when none could be; 400 when
    the body is not a CSV file with the header row (naming the missing columns); 413
    when larger than 1 MiB. A blank password keeps the replaced camera's."""
    data = await _read_upload(ctx.request)
    try:
        rows = read_csv(data)
    except CsvFileError as exc:
        raise ApiError(400, "csv_invalid", str(exc)) from None
    q = ctx.query
    for _ in range(ATTEMPTS):
        base = tomllib.loads(dump_config(daemon(ctx).config))
        result = await asyncio.to_thread(merge_rows, base, rows, q.duplicates)
        report = _report(result, q.dry_run)
        if not result.imported:
            if not q.dry_run:
                audit(ctx, "config", f"camera list not imported: {result.summary()}",
                      result="rejected", details=_rejections(result))
            return json_response(report, status=422)
        if q.dry_run:
            return report
        try:
            await change_config(ctx, _replace_with(base, result.table), _what(result),
                                details=_rejections(result) if result.rejected else "")
        except _ConfigMoved:
            continue
        return report
    raise Conflict("the configuration kept changing while the list was imported; "
                   "import it again")


# --- helpers ----------------------------------------------------------------------------

async def _read_upload(request: web.Request) -> bytes:
    """The CSV file's bytes from the body or a multipart form's ``file`` field; 413 over
    :data:`MAX_CSV_BYTES`, 415 for another kind of body."""
    multipart = request.content_type == "multipart/form-data"
    limit = MAX_CSV_BYTES + (MULTIPART_OVERHEAD_BYTES if multipart else 0)
    if request.content_length is not None and request.content_length > limit:
        raise body_too_large(MAX_CSV_BYTES)
    if multipart:
        return await _multipart_file(request)
    if request.content_type not in CSV_MEDIA_TYPES:
        raise ApiError(415, "unsupported_media_type",
                       f"send the camera list as {CSV_MEDIA_TYPE}, or as a multipart form "
                       f"upload with the file in a field named 'file' (got "
                       f"{request.content_type})")
    data = await request.read()  # the server refuses more than its own limit (413)
    if len(data) > MAX_CSV_BYTES:
        raise body_too_large(MAX_CSV_BYTES)
    return data


async def _multipart_file(request: web.Request) -> bytes:
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if isinstance(part, BodyPartReader) and part.name == "file":
            data = bytearray()
            while chunk := await part.read_chunk():
                data += chunk
                if len(data) > MAX_CSV_BYTES:
                    raise body_too_large(MAX_CSV_BYTES)
            return bytes(data)
        await part.release()
    raise ApiError(400, "csv_invalid", "the multipart upload has no field named 'file'; "
                   "put the CSV file in it")


def _replace_with(base: dict[str, Any], table: dict[str, Any]
                  ) -> Callable[[dict[str, Any]], None]:
    """The change for ``change_config``: the merged table, if the configuration is still
    the one merged into (else :class:`_ConfigMoved`, and the import merges again)."""
    def change(current: dict[str, Any]) -> None:
        if current != base:
            raise _ConfigMoved()
        current.clear()
        current.update(table)
    return change


def _report(result: ImportResult, dry_run: bool) -> ImportReport:
    return ImportReport(
        imported=[ImportedRowOut(row=i.row, channel=i.channel, name=i.name,
                                 replaced=i.replaced, moved_from=i.moved_from,
                                 replaced_channels=list(i.replaced_channels))
                  for i in result.imported],
        rejected=[RejectedRowOut(row=r.row, reason=r.reason, field=r.field)
                  for r in result.rejected],
        total_rows=result.total_rows, dry_run=dry_run)


def _what(result: ImportResult) -> str:
    """The audit line: ``camera list imported: 3 of 5 rows; rejected rows 4, 6`` (the
    reasons go in its details)."""
    text = f"camera list imported: {result.summary()}"
    if result.rejected:
        text += f"; rejected row{'' if len(result.rejected) == 1 else 's'} " + ", ".join(
            str(r.row) for r in result.rejected)
    return text


def _rejections(result: ImportResult) -> str:
    return "; ".join(r.reason for r in result.rejected) or "the file has no camera rows"
