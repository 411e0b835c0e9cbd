"""The camera list CSV: export, reading, and the merge into a configuration (round trip,
bad rows named by row, column and reason, duplicates, separators, BOM, formula cells)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tomllib
import zoneinfo
from typing import Any

import pytest
import tomli_w

from nvrd.cameras.csvfile import (
    BOM,
    COLUMNS,
    CsvFileError,
    ImportedRow,
    ImportResult,
    escape_cell,
    export_csv,
    export_filename,
    merge_rows,
    read_csv,
    unescape_cell,
)
from nvrd.config import NvrConfig, dump_config, parse_config
from nvrd.record.ingest_service import plan_streams

TRICKY = """
[[cameras]]
channel = 1
name = "Gate, north \\"A\\""
username = "nvr"
password = "=cmd|' /C calc'!A0"
main = { url = "rtsp://192.0.2.10:8554/main" }
sub = { url = "rtsp://192.0.2.10:8554/sub" }
mode = "manual"

[[cameras]]
channel = 3
name = "Café Entrée 入口"
enabled = false
username = "admin"
password = "pa;ss,wo\\"rd"
main = { url = "rtsp://[2001:db8::7]/Streaming/101" }
schedule = "night"

[[cameras]]
channel = 4
name = "+1 lobby"
username = "-user"
password = "'quoted"
main = { url = "rtsps://cam4.example.com/main" }
mode = "off"

[[cameras]]
channel = 7
name = "@dome"
username = "onvif"
password = "\\tsecret"
main = { url = "rtsp://192.0.2.17:554/profile0" }
sub = { url = "rtsp://192.0.2.17:554/profile1" }
[cameras.onvif]
host = "192.0.2.17"
port = 8080
main_profile = "=p0"
sub_profile = "p1"
manufacturer = "Hikvision"
model = "DS-2CD2143"

[[recording.schedules]]
name = "night"
[recording.schedules.days]
monday = [{ start = "20:00", end = "24:00", type = "general" }]
"""


def _config(text: str) -> NvrConfig:
    return parse_config(text, "test")


def _table(config: NvrConfig) -> dict[str, Any]:
    return tomllib.loads(dump_config(config))


def _applied(result: ImportResult) -> NvrConfig:
    return parse_config(tomli_w.dumps(result.table), "imported")


def _csv(*rows: dict[str, str], separator: str = ",") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([row.get(column, "") for column in COLUMNS])
    return buffer.getvalue().encode()


def _row(channel: int | str, url: str, **cells: str) -> dict[str, str]:
    return {"channel": str(channel), "main_url": url, **cells}


def _settings(config: NvrConfig) -> list[dict[str, Any]]:
    """Every camera's settings, passwords in clear (SecretStr compares by identity)."""
    return [{**c.model_dump(mode="json"), "password": c.password.get_secret_value()}
            for c in config.cameras]


# --- round trip -------------------------------------------------------------------------

def test_export_then_import_into_an_empty_recorder_gives_the_same_cameras() -> None:
    source = _config(TRICKY)
    data = export_csv(source.cameras)
    schedules = _config("[[recording.schedules]]" + TRICKY.split("[[recording.schedules]]")[1])
    assert not schedules.cameras

    result = merge_rows(_table(schedules), read_csv(data), "replace")

    assert result.rejected == ()
    assert [i.channel for i in result.imported] == [1, 3, 4, 7]
    assert all(not i.replaced and i.moved_from is None for i in result.imported)
    assert result.imported[1].name == "Café Entrée 入口"
    assert _settings(_applied(result)) == _settings(source)


def test_the_file_is_utf8_with_bom_a_header_and_formula_cells_quoted() -> None:
    data = export_csv(_config(TRICKY).cameras)
    assert data.startswith(BOM.encode())
    records = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(records[0]) == COLUMNS
    cells = [dict(zip(COLUMNS, record, strict=True)) for record in records[1:]]
    assert cells[0]["password"] == "'=cmd|' /C calc'!A0"
    assert cells[0]["name"] == 'Gate, north "A"'
    assert cells[2]["name"] == "'+1 lobby" and cells[2]["username"] == "'-user"
    assert cells[2]["password"] == "''quoted"  # a leading ' is kept through the round trip
    assert cells[3]["name"] == "'@dome" and cells[3]["password"] == "'\tsecret"
    assert cells[3]["onvif_main_profile"] == "'=p0"
    assert (cells[3]["protocol"], cells[3]["address"], cells[3]["port"]) == (
        "onvif", "192.0.2.17", "8080")
    assert (cells[3]["manufacturer"], cells[3]["model"]) == ("Hikvision", "DS-2CD2143")
    assert (cells[1]["protocol"], cells[1]["address"], cells[1]["port"]) == (
        "rtsp", "2001:db8::7", "554")
    assert (cells[2]["address"], cells[2]["port"]) == ("cam4.example.com", "322")
    assert cells[1]["enabled"] == "false" and cells[1]["schedule"] == "night"


def test_credentials_in_a_url_go_to_the_account_columns() -> None:
    source = _config('[[cameras]]\nchannel = 2\n'
                     'main = { url = "rtsp://admin:p%40ss@192.0.2.10/main" }\n'
                     'sub = { url = "rtsp://admin:p%40ss@192.0.2.10/sub" }\n')
    data = export_csv(source.cameras)
    assert b"p%40ss" not in data and b"admin:" not in data
    row = read_csv(data)[0].cells
    assert (row["username"], row["password"]) == ("admin", "p@ss")
    assert row["main_url"] == "rtsp://192.0.2.10/main"

    imported = _applied(merge_rows(_table(NvrConfig()), read_csv(data), "replace"))
    # not the same settings, the same streams: the recorder connects with the same URLs
    assert {k: p.url for k, p in plan_streams(imported).items()} == {
        k: p.url for k, p in plan_streams(source).items()}


def test_cells_escaped_and_unescaped() -> None:
    for text in ("=1+1", "+x", "-y", "@z", "\tt", "\rr", "'", "'=a", "''", "plain", "",
                 "a=b", "'plain"):
        assert unescape_cell(escape_cell(text)) == text
    assert escape_cell("=1+1") == "'=1+1"
    assert unescape_cell("'plain") == "'plain"  # a hand-written ' before text stays


def test_export_filename_is_the_vendors_with_local_time() -> None:
    moment = dt.datetime(2022, 2, 22, 18, 12, 55, tzinfo=dt.UTC)
    paris = moment.astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
    assert export_filename(paris) == "RemoteConfig_20220222191255.csv"


# --- reading ----------------------------------------------------------------------------

def test_semicolons_bom_crlf_column_order_and_blank_rows_are_read() -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    columns = [*reversed(COLUMNS), "comment"]
    writer.writerow([c.upper() for c in columns])
    writer.writerow([""] * len(columns))
    values = {"channel": "5", "name": "Hall; east", "main_url": "rtsp://192.0.2.5/m",
              "comment": "ignored"}
    writer.writerow([values.get(c, "") for c in columns])
    rows = read_csv((BOM + buffer.getvalue()).encode())
    assert len(rows) == 1
    assert rows[0].row == 3  # header 1, blank 2
    assert rows[0].cells["name"] == "Hall; east" and rows[0].cells["channel"] == "5"
    assert "comment" not in rows[0].cells

    result = merge_rows(_table(NvrConfig()), rows, "replace")
    assert result.imported == (ImportedRow(3, 5, "Hall; east", False, None),)


def test_a_file_without_the_header_names_the_missing_columns() -> None:
    with pytest.raises(CsvFileError, match=r"missing: schedule, onvif_main_profile, "
                                           r"onvif_sub_profile"):
        read_csv(b",".join(c.encode() for c in COLUMNS[:-3]) + b"\n1,a\n")
    with pytest.raises(CsvFileError, match="names none of the columns"):
        read_csv(b"ip,user,pass\n192.0.2.1,admin,x\n")
    with pytest.raises(CsvFileError, match="not UTF-8"):
        read_csv(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    with pytest.raises(CsvFileError, match="NUL"):
        read_csv(b"channel\x00name\n")
    with pytest.raises(CsvFileError, match="empty"):
        read_csv(b"\r\n  \n")
    with pytest.raises(CsvFileError, match="not valid CSV"):
        read_csv(_csv() + b'1,"Gate"x,true\n')


# --- bad rows ---------------------------------------------------------------------------

def test_bad_rows_are_named_with_column_and_reason_and_the_good_ones_imported() -> None:
    data = _csv(
        _row(1, "rtsp://192.0.2.1/m", name="One"),
        _row(2, "http://x"),
        _row("abc", "rtsp://192.0.2.3/m"),
        _row(4, "rtsp://192.0.2.4/m", schedule="nope"),
        _row(5, "rtsp://192.0.2.5/m", mode="sometimes"),
        _row(6, "rtsp://192.0.2.6/m", protocol="onvif"),
        _row(7, "rtsp://192.0.2.7/m", address="192.0.2.70"),
        _row(8, "", name="no url"),
        _row(9, "rtsp://admin:hunter2@192.0.2.9:99999/m"),
        _row(10, "rtsp://192.0.2.10/m", enabled="maybe"),
        {**_row(11, "rtsp://192.0.2.11/m"), "onvif_sub_profile": "x"},
        _row(12, "rtsp://192.0.2.12/m", name="Twelve"),
    )
    # a comma outside quotes: one cell too many
    data += b"13,Gate, north,true,rtsp,,,,,,,rtsp://192.0.2.13/m,,,,,\n"
    result = merge_rows(_table(NvrConfig()), read_csv(data), "replace")

    assert [(i.row, i.channel, i.name) for i in result.imported] == [
        (2, 1, "One"), (12, 11, "Camera 11"), (13, 12, "Twelve")]
    reasons = {r.row: (r.field, r.reason) for r in result.rejected}
    assert reasons[3] == ("main_url", "row 3: main_url: must be an rtsp:// or rtsps:// URL, "
                                      "not 'http://x'")
    assert reasons[4] == ("channel", "row 4: channel: must be a whole number from 1 to 256 "
                                     "(got 'abc')")
    assert reasons[5][0] == "schedule" and "'nope'" in reasons[5][1]
    assert reasons[5][1].startswith("row 5: schedule: camera 4")
    assert reasons[6][0] == "mode" and "'sometimes'" in reasons[6][1]
    assert reasons[7] == ("address", "row 7: address: required for an onvif camera: the "
                                     "address of its ONVIF service")
    assert reasons[8][0] == "address" and "'192.0.2.70'" in reasons[8][1]
    assert reasons[9] == ("main_url", "row 9: main_url: required: the main stream's "
                                      "rtsp:// URL")
    assert reasons[10] == ("main_url", "row 10: main_url: must be a valid rtsp:// URL: "
                                       "invalid port number "
                                       "(got 'rtsp://admin:********@192.0.2.9:99999/m')")
    assert reasons[11] == ("enabled", "row 11: enabled: must be true or false (got 'maybe')")
    assert reasons[14][0] is None and "1 cell more than the header" in reasons[14][1]
    assert result.total_rows == 13
    assert result.summary() == "3 of 13 rows"
    assert [c.channel for c in _applied(result).cameras] == [1, 11, 12]


def test_nothing_imported_leaves_the_table_as_it_was() -> None:
    table = _table(_config('[[cameras]]\nchannel = 1\nmain = { url = "rtsp://192.0.2.1/m" }\n'))
    result = merge_rows(table, read_csv(_csv(_row(2, "ftp://x"))), "replace")
    assert result.imported == () and len(result.rejected) == 1
    assert result.table == table


# --- duplicates -------------------------------------------------------------------------

EXISTING = """
[[cameras]]
channel = 1
name = "Old one"
username = "admin"
password = "old-secret"
main = { url = "rtsp://192.0.2.1/main", transport = "udp" }
sub = { url = "rtsp://192.0.2.1/sub" }
pre_record_seconds = 10
motion = { enabled = true }

[[cameras]]
channel = 2
name = "Old two"
main = { url = "rtsp://192.0.2.2/main" }
onvif = { host = "192.0.2.2", port = 80, events = false, mac = "00:11:22:33:44:55" }

[[cameras]]
channel = 4
main = { url = "rtsp://192.0.2.4/main" }
"""
DUPLICATE_ROWS = _csv(
    # channel 1 taken; a new address, the password left blank
    _row(1, "rtsp://192.0.2.11/main", name="New one", username="admin",
         sub_url="rtsp://192.0.2.11/sub"),
    # channel 6 free, but the address and ONVIF port are camera 2's
    _row(6, "rtsp://192.0.2.2/main2", protocol="onvif", address="192.0.2.2", port="80",
         name="Two again", model="X1"),
    _row(5, "rtsp://192.0.2.5/main", name="Five"),
    _row("", "rtsp://192.0.2.9/main", name="Anywhere"),
)


def test_duplicates_replace() -> None:
    result = merge_rows(_table(_config(EXISTING)), read_csv(DUPLICATE_ROWS), "replace")
    assert result.rejected == ()
    assert result.imported == (
        ImportedRow(2, 1, "New one", True, None, (1,)),
        ImportedRow(3, 6, "Two again", True, None, (2,)),  # camera 2 moves to channel 6
        ImportedRow(4, 5, "Five", False, None), ImportedRow(5, 2, "Anywhere", False, None))
    config = _applied(result)
    assert [c.channel for c in config.cameras] == [1, 2, 4, 5, 6]
    one = config.camera(1)
    assert one is not None and str(one.main.url) == "rtsp://192.0.2.11/main"
    assert one.password.get_secret_value() == "old-secret"  # blank: kept
    # what the file cannot say is kept from the replaced camera
    assert one.pre_record_seconds == 10 and one.motion.enabled
    assert one.main.transport == "udp"
    six = config.camera(6)
    assert six is not None and six.onvif is not None
    assert (six.onvif.model, six.onvif.events, six.onvif.mac) == (
        "X1", False, "00:11:22:33:44:55")  # the same ONVIF device: its switches kept


def test_duplicates_next_free() -> None:
    result = merge_rows(_table(_config(EXISTING)), read_csv(DUPLICATE_ROWS), "next_free")
    assert result.rejected == ()
    # rows asking for a free channel get it first; the others take the lowest free ones
    assert result.imported == (
        ImportedRow(2, 3, "New one", False, 1), ImportedRow(3, 6, "Two again", False, None),
        ImportedRow(4, 5, "Five", False, None), ImportedRow(5, 7, "Anywhere", False, None))
    config = _applied(result)
    assert [c.channel for c in config.cameras] == [1, 2, 3, 4, 5, 6, 7]
    old = config.camera(1)
    assert old is not None and old.name == "Old one"
    new = config.camera(3)
    assert new is not None and new.password.get_secret_value() == ""  # nothing replaced
    assert new.pre_record_seconds == 5


def test_a_channel_twice_in_the_file() -> None:
    data = _csv(_row(3, "rtsp://192.0.2.31/m", name="First"),
                _row(3, "rtsp://192.0.2.32/m", name="Second"))
    replaced = merge_rows(_table(NvrConfig()), read_csv(data), "replace")
    assert [i.name for i in replaced.imported] == ["First"]
    assert replaced.rejected[0].row == 3 and replaced.rejected[0].field == "channel"
    assert "given to row 2 of this file" in replaced.rejected[0].reason

    moved = merge_rows(_table(NvrConfig()), read_csv(data), "next_free")
    assert moved.imported == (ImportedRow(2, 3, "First", False, None),
                              ImportedRow(3, 1, "Second", False, 3))


def test_a_replaced_camera_whose_settings_clash_with_the_row_is_named() -> None:
    # camera 1 detects motion on its sub stream; a row without a sub stream cannot keep it
    result = merge_rows(_table(_config(EXISTING)),
                        read_csv(_csv(_row(1, "rtsp://192.0.2.11/main"))), "replace")
    assert result.imported == ()
    assert result.rejected[0].field == "motion.enabled"
    assert "sub stream" in result.rejected[0].reason


def test_a_row_that_breaks_a_rule_elsewhere_is_found_row_by_row() -> None:
    config = _config(EXISTING + '\n[[events.rules]]\nname = "door"\nkind = "alarm_input"\n'
                     'record = [4]\n')
    # row 3 takes camera 4's address onto channel 8: channel 4 would be emptied, and
    # the rule records channel 4
    data = _csv(_row(7, "rtsp://192.0.2.70/m"), _row(8, "rtsp://192.0.2.4/main"),
                _row(9, "rtsp://192.0.2.90/m"))
    result = merge_rows(_table(config), read_csv(data), "replace")
    assert [i.channel for i in result.imported] == [7, 9]
    assert [r.row for r in result.rejected] == [3]
    assert "rule 'door': no camera on channel 4" in result.rejected[0].reason
    assert [c.channel for c in _applied(result).cameras] == [1, 2, 4, 7, 9]


def test_no_free_channel_left() -> None:
    cameras = "".join(f'[[cameras]]\nchannel = {n}\nmain = {{ url = "rtsp://192.0.2.1/{n}" }}\n'
                      for n in range(1, 257))
    result = merge_rows(_table(_config(cameras)),
                        read_csv(_csv(_row("", "rtsp://192.0.2.2/m"))), "next_free")
    assert result.imported == ()
    assert "no channel is free" in result.rejected[0].reason
