"""``check_config_file``: what ``nvrd check-config FILE`` prints."""

from __future__ import annotations

from pathlib import Path

from nvrd.config import check_config_file

CAMERAS = """
[[recording.schedules]]
name = "nights"
[[cameras]]
channel = 1
main = { url = "rtsp://10.0.0.1/m" }
[[cameras]]
channel = 2
enabled = false
schedule = "nights"
main = { url = "rtsp://10.0.0.2/m" }
[[alarms.inputs]]
id = 1
"""


def test_a_good_file_gets_a_summary(tmp_path: Path) -> None:
    path = tmp_path / "nvrd.toml"
    path.write_text(CAMERAS)
    ok, report = check_config_file(path)
    assert ok
    assert report == (f"OK: {path}: 2 cameras (1 enabled), 1 schedule besides 'always', "
                      "0 holidays, bay disks only, 1 alarm input, 0 alarm outputs, "
                      "board 'sim', web https://0.0.0.0:8443")


def test_the_shipped_file_checks_ok(shipped_config: Path) -> None:
    ok, report = check_config_file(shipped_config)
    assert ok, report
    assert report.startswith("OK: ")


def test_a_bad_file_gets_one_line_per_problem(tmp_path: Path) -> None:
    path = tmp_path / "nvrd.toml"
    path.write_text(CAMERAS.replace('"nights"\n[[cameras]]', '"always"\n[[cameras]]')
                    + '[web]\nport = 0\nhttps = "maybe"\n')
    ok, report = check_config_file(path)
    assert not ok
    assert report.splitlines() == [  # in schema order
        f"{path}: web.port: must be greater than or equal to 1 (got 0)",
        f"{path}: web.https: must be a valid boolean, unable to interpret input "
        "(got 'maybe')",
        f"{path}: recording.schedules[0].name: 'always' is built in and cannot be redefined; "
        "choose another name (got 'always')",
    ]


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    ok, report = check_config_file(tmp_path / "absent.toml")
    assert (ok, report) == (False, f"{tmp_path / 'absent.toml'}: file not found")
