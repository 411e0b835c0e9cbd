"""TOML ⇄ configuration: the shipped file, dump → load round trips, reading files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nvrd.config import ConfigError, NvrConfig, dump_config, load_config_file, parse_config

EVERYTHING = """
schema_version = 1
[system]
name = "Warehouse"
board = "rev-2_b"
timezone = "Europe/Paris"
[web]
host = "::"
port = 443
https = false
[ingest]
transport = "udp"
open_timeout_seconds = 2.5
stall_timeout_seconds = 4
backoff_initial_seconds = 0.5
backoff_max_seconds = 12
[recording]
segment_seconds = 120
segment_max_mb = 1024
[[recording.schedules]]
name = "nights"
[recording.schedules.days]
monday = [{ start = "00:00", end = "06:00", type = "motion_or_alarm" },
          { start = "20:00", end = "24:00", type = "intelligent" }]
holiday = [{ start = "00:00", end = "24:00" }]
[[recording.holidays]]
name = "New year"
date = 2026-01-01
[[recording.holidays]]
name = "Closed"
start = 2026-08-03
end = 2026-08-14
[storage]
full_policy = "stop"
min_free_percent = 10
[[storage.volumes]]
path = "/srv/disk1"
name = "Bay 1"
[[storage.volumes]]
path = "disk2"
[alarms]
inputs = [{ id = 1, name = "Door", contact = "NC", debounce_ms = 200, enabled = false }]
outputs = [{ id = 3, latch_seconds = 60, mode = "on" }]
[security]
idle_logout_minutes = 0
lockout_attempts = 3
lockout_minutes = 1440
[audit]
max_rows = 5000
[logging]
level = "debug"
[[cameras]]
channel = 12
name = "Gate \\"north\\" — ünïcode"
enabled = false
main = { url = "rtsps://cam12.local:322/Streaming/Channels/101?transportmode=unicast" }
sub = { url = "rtsp://10.0.0.12/sub", transport = "udp" }
username = "admin"
password = "p@ss:w/rd#1"
mode = "manual"
schedule = "nights"
pre_record_seconds = 0
post_record_seconds = 300
max_age_days = 30
quota_gb = 250.5
[[cameras]]
channel = 1
main = { url = "rtsp://user:secret@10.0.0.1/main" }
"""


def test_the_shipped_configuration_validates(shipped_config: Path) -> None:
    config = load_config_file(shipped_config)
    assert config.cameras == ()
    assert [s.name for s in config.recording.schedules] == ["office"]


def test_the_examples_in_the_shipped_configuration_validate_when_uncommented(
        shipped_config: Path) -> None:
    """Installers copy the commented examples; they must be right."""
    text = shipped_config.read_text()
    uncommented = re.sub(r"^# (?=\[\[|[a-z_]+ = )", "", text, flags=re.MULTILINE)
    assert re.findall(r"^\[\[cameras\]\]$", uncommented, re.MULTILINE) == ["[[cameras]]"]
    config = parse_config(uncommented, "examples")
    assert len(config.cameras) == 1 and config.cameras[0].schedule == "always"
    assert len(config.recording.holidays) == 2
    assert len(config.storage.volumes) == 1
    assert (len(config.alarms.inputs), len(config.alarms.outputs)) == (1, 1)
    assert [rule.name for rule in config.events.rules] == ["Back door"]
    assert config.events.disarm.schedule == "nights" and config.events.disarm.input == 4
    assert len(config.notify.webhooks) == 1


@pytest.mark.parametrize("text", [EVERYTHING, ""], ids=["every-setting", "defaults"])
def test_dump_then_load_gives_an_equal_configuration(text: str) -> None:
    config = parse_config(text, "t")
    dumped = dump_config(config)
    again = parse_config(dumped, "dumped")
    assert again == config
    assert dump_config(again) == dumped  # stable: saving twice writes the same bytes


def test_the_shipped_configuration_round_trips(shipped_config: Path) -> None:
    config = load_config_file(shipped_config)
    assert parse_config(dump_config(config), "dumped") == config


def test_dump_writes_secrets_in_full_because_it_is_the_box_s_own_file() -> None:
    config = parse_config(EVERYTHING, "t")
    dumped = dump_config(config)
    assert 'password = "p@ss:w/rd#1"' in dumped
    assert "rtsp://user:secret@10.0.0.1/main" in dumped
    assert parse_config(dumped, "d").cameras[0].password.get_secret_value() == "p@ss:w/rd#1"


def test_dump_leaves_unset_optional_settings_out() -> None:
    dumped = dump_config(parse_config('[[cameras]]\nchannel = 1\nmain = { url = "rtsp://h" }\n',
                                      "t"))
    assert "cameras.sub" not in dumped and "quota_gb" not in dumped
    assert "transport = " in dumped


def test_load_config_file_names_the_file_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "nvrd.toml"
    path.write_text("[web]\nport = -1\n")
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    assert caught.value.source == str(path)
    assert str(caught.value) == (f"{path}: web.port: must be greater than or equal to 1 "
                                 "(got -1)")


@pytest.mark.parametrize(("content", "message"), [
    (None, "file not found"),
    (b"[web]\nport = \xff\n", "not UTF-8"),
])
def test_unreadable_files_are_config_errors(tmp_path: Path, content: bytes | None,
                                            message: str) -> None:
    path = tmp_path / "nvrd.toml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load_config_file(path)


def test_a_config_is_equal_to_itself_rebuilt_from_defaults() -> None:
    assert parse_config(dump_config(NvrConfig()), "t") == NvrConfig()
