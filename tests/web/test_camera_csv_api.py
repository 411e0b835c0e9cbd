"""The camera list CSV over the API, against the daemon on the simulated board: export
(headers, file name in the recorder's time zone, the right it needs, the audit), import
into a fresh recorder (round trip), bad rows, duplicates, and files that are not a
camera list. No camera needs to answer: the addresses are documentation addresses."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
import time
import zoneinfo
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from nvrd.app import Application
from nvrd.cameras.csvfile import COLUMNS, MAX_CSV_BYTES
from nvrd.config import NvrConfig
from nvrd.system.auditlog import AuditRecord
from tests.daemon_harness import config_toml, free_port, running_app
from tests.web.api.harness import USER_HEADER, HeaderAuthenticator

ADMIN = "admin"
VIEWER = "viewer"
TIMEZONE = "Asia/Kathmandu"  # UTC+05:45: a local time no UTC clock could pass for
CAMERAS = """
[[cameras]]
channel = 1
name = "Gate, north"
username = "admin"
password = "=gate;secret"
main = { url = "rtsp://192.0.2.10:8554/main" }
sub = { url = "rtsp://192.0.2.10:8554/sub" }

[[cameras]]
channel = 5
name = "Café 入口"
enabled = false
username = "onvif"
password = "dome-pw"
mode = "manual"
main = { url = "rtsp://192.0.2.15/profile0" }
[cameras.onvif]
host = "192.0.2.15"
port = 8080
main_profile = "p0"
manufacturer = "Hik"
model = "DS-1"
"""


@dataclass
class Nvr:
    app: Application
    session: aiohttp.ClientSession
    base: str

    @property
    def config(self) -> NvrConfig:
        return self.app.config

    async def request(self, method: str, path: str, *, user: str | None = ADMIN,
                      data: Any = None, content_type: str | None = "text/csv",
                      params: dict[str, str] | None = None
                      ) -> tuple[int, Any, Mapping[str, str]]:
        headers = {USER_HEADER: user} if user else {}
        if content_type and not isinstance(data, aiohttp.FormData):
            headers["Content-Type"] = content_type
        async with self.session.request(method, self.base + path, data=data,
                                        params=params, headers=headers) as response:
            if response.content_type == "application/json":
                body: Any = await response.json()
            else:
                body = await response.read()
            return response.status, body, dict(response.headers)

    async def upload(self, data: bytes, duplicates: str = "replace", **params: str
                     ) -> tuple[int, Any]:
        status, body, _ = await self.request(
            "POST", "/api/v1/cameras/import", data=data,
            params={"duplicates": duplicates, **params})
        return status, body

    async def audited(self, prefix: str) -> AuditRecord:
        audit = self.app.audit
        assert audit is not None
        deadline = time.monotonic() + 10
        while True:
            records = await asyncio.to_thread(audit.query, type="config")
            found = [r for r in records if r.action.startswith(prefix)]
            if found:
                return found[0]
            assert time.monotonic() < deadline, f"no audit record {prefix!r}: {records}"
            await asyncio.sleep(0.1)


@asynccontextmanager
async def recorder(data_dir: Path, cameras: str = "") -> AsyncIterator[Nvr]:
    data_dir.mkdir(exist_ok=True)
    port = free_port()
    authenticator = HeaderAuthenticator(users={ADMIN: frozenset({"camera"}),
                                               VIEWER: frozenset({"live:1"})})
    extra = f'[system]\ntimezone = "{TIMEZONE}"\n'
    async with running_app(data_dir, config_toml(port, cameras=cameras, extra=extra),
                           authenticator=authenticator) as (app, _), aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=False)) as session:
        yield Nvr(app, session, f"https://127.0.0.1:{port}")


def _settings(config: NvrConfig) -> list[dict[str, Any]]:
    return [{**c.model_dump(mode="json"), "password": c.password.get_secret_value()}
            for c in config.cameras]


def _csv(*rows: dict[str, str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([row.get(column, "") for column in COLUMNS])
    return buffer.getvalue().encode()


def _local_now() -> dt.datetime:
    return dt.datetime.now(zoneinfo.ZoneInfo(TIMEZONE)).replace(microsecond=0, tzinfo=None)


# --- export, then import into a fresh recorder ------------------------------------------

async def test_export_then_import_into_a_fresh_recorder(tmp_path: Path) -> None:
    async with recorder(tmp_path / "a", CAMERAS) as nvr:
        status, _, _ = await nvr.request("GET", "/api/v1/cameras/export.csv", user=VIEWER)
        assert status == 403
        status, _, _ = await nvr.request("GET", "/api/v1/cameras/export.csv", user=None)
        assert status == 401

        before = _local_now()
        status, exported, headers = await nvr.request("GET", "/api/v1/cameras/export.csv")
        after = _local_now()
        assert status == 200
        assert headers["Content-Type"] == "text/csv; charset=utf-8"
        assert headers["Cache-Control"] == "no-store"
        assert "passwords in clear text" in headers["X-Nvrd-Warning"]
        match = re.fullmatch(r'attachment; filename="RemoteConfig_(\d{14})\.csv"',
                             headers["Content-Disposition"])
        assert match is not None, headers["Content-Disposition"]
        assert before <= dt.datetime.strptime(match.group(1), "%Y%m%d%H%M%S") <= after
        text = exported.decode("utf-8-sig")
        assert text.splitlines()[0] == ",".join(COLUMNS)
        assert "'=gate;secret" in text  # a formula cell is defused
        record = await nvr.audited("camera list exported")
        assert (record.user, record.result) == (ADMIN, "ok")
        assert "passwords in clear text" in record.details
        source = _settings(nvr.config)

    async with recorder(tmp_path / "b") as fresh:
        assert fresh.config.cameras == ()
        status, report = await fresh.upload(exported)
        assert status == 200, report
        assert report == {"imported": [
            {"row": 2, "channel": 1, "name": "Gate, north", "replaced": False,
             "moved_from": None, "replaced_channels": []},
            {"row": 3, "channel": 5, "name": "Café 入口", "replaced": False,
             "moved_from": None, "replaced_channels": []}],
            "rejected": [], "total_rows": 2, "dry_run": False}
        assert _settings(fresh.config) == source
        record = await fresh.audited("camera list imported")
        assert record.action == "camera list imported: 2 of 2 rows"


# --- bad rows, duplicates, files that are not camera lists ------------------------------

async def test_import_names_bad_rows_and_handles_duplicates(tmp_path: Path) -> None:
    async with recorder(tmp_path, CAMERAS) as nvr:
        mixed = _csv(
            {"channel": "1", "name": "New gate", "main_url": "rtsp://192.0.2.20/main"},
            {"channel": "2", "main_url": "http://x"},
            {"channel": "3", "name": "Three", "main_url": "rtsp://192.0.2.3/main"},
            {"channel": "4", "main_url": "rtsp://192.0.2.4/main", "schedule": "nope"})

        status, report = await nvr.upload(mixed, "replace", dry_run="true")
        assert status == 200 and report["dry_run"] is True
        assert [i["channel"] for i in report["imported"]] == [1, 3]
        assert nvr.config.camera(3) is None  # nothing changed

        status, report = await nvr.upload(mixed, "next_free")
        assert status == 200, report
        assert report["imported"] == [
            {"row": 2, "channel": 2, "name": "New gate", "replaced": False, "moved_from": 1,
             "replaced_channels": []},
            {"row": 4, "channel": 3, "name": "Three", "replaced": False, "moved_from": None,
             "replaced_channels": []}]
        assert report["rejected"][0] == {
            "row": 3, "field": "main_url",
            "reason": "row 3: main_url: must be an rtsp:// or rtsps:// URL, not 'http://x'"}
        assert report["rejected"][1]["row"] == 5
        assert report["rejected"][1]["field"] == "schedule"
        assert "'nope'" in report["rejected"][1]["reason"]
        assert report["total_rows"] == 4
        assert [c.channel for c in nvr.config.cameras] == [1, 2, 3, 5]
        gate = nvr.config.camera(1)
        assert gate is not None and gate.name == "Gate, north"  # kept
        record = await nvr.audited("camera list imported: 2 of 4")
        assert record.action == "camera list imported: 2 of 4 rows; rejected rows 3, 5"
        assert "row 3: main_url: must be an rtsp:// or rtsps:// URL" in record.details

        # replace, by multipart upload: camera 1 (same channel) and camera 2 (same address
        # and port, imported just above) give way; the blank password keeps camera 1's
        form = aiohttp.FormData()
        form.add_field("note", "ignored")
        form.add_field("file", _csv({"channel": "1", "name": "New gate",
                                     "main_url": "rtsp://192.0.2.20/main"}),
                       filename="RemoteConfig_20260101120000.csv", content_type="text/csv")
        status, report, _ = await nvr.request("POST", "/api/v1/cameras/import", data=form,
                                              params={"duplicates": "replace"})
        assert status == 200, report
        assert report["imported"] == [{"row": 2, "channel": 1, "name": "New gate",
                                       "replaced": True, "moved_from": None,
                                       "replaced_channels": [1, 2]}]
        assert [c.channel for c in nvr.config.cameras] == [1, 3, 5]
        gate = nvr.config.camera(1)
        assert gate is not None and str(gate.main.url) == "rtsp://192.0.2.20/main"
        assert gate.password.get_secret_value() == "=gate;secret"

        # nothing importable: 422 with the report, nothing changed
        before = nvr.config
        status, report = await nvr.upload(_csv({"channel": "9", "main_url": "ftp://x"}))
        assert status == 422
        assert report["imported"] == [] and report["rejected"][0]["field"] == "main_url"
        assert nvr.config == before
        record = await nvr.audited("camera list not imported")
        assert record.result == "rejected" and "row 2: main_url" in record.details

        status, error = await nvr.upload(b"channel,name\n1,x\n")
        assert status == 400 and error["error"]["code"] == "csv_invalid"
        assert "missing: enabled, protocol, address" in error["error"]["message"]
        status, error = await nvr.upload(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\x00")
        assert status == 400 and "UTF-8" in error["error"]["message"]
        status, error = await nvr.upload(_csv() + b"#" * MAX_CSV_BYTES)
        assert status == 413 and error["error"]["code"] == "too_large"
        status, error, _ = await nvr.request(
            "POST", "/api/v1/cameras/import", data=b"{}", content_type="application/json",
            params={"duplicates": "replace"})
        assert status == 415
        status, error = await nvr.upload(mixed, "sometimes")
        assert status == 422 and "query.duplicates" in error["error"]["message"]
        status, _, _ = await nvr.request("POST", "/api/v1/cameras/import", data=mixed,
                                         user=VIEWER, params={"duplicates": "replace"})
        assert status == 403
        assert [c.channel for c in nvr.config.cameras] == [1, 3, 5]
