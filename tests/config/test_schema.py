"""The schema: defaults, limits, and the rules that span several settings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from pydantic import SecretStr, ValidationError

from nvrd.config import ALWAYS, ConfigError, NvrConfig, parse_config
from nvrd.config.schema import CURRENT_SCHEMA_VERSION

ParseBad = Callable[[str], ConfigError]
CAMERA = '[[cameras]]\nchannel = {channel}\nmain = {{ url = "rtsp://10.0.0.{channel}/main" }}\n'


def camera(channel: int, extra: str = "") -> str:
    return CAMERA.format(channel=channel) + extra


def test_an_empty_file_is_the_factory_configuration() -> None:
    config = parse_config("", "empty.toml")
    assert config == NvrConfig()
    assert config.schema_version == CURRENT_SCHEMA_VERSION
    assert (config.system.name, config.system.board, config.system.timezone) == \
        ("NVR", "sim", "UTC")
    assert (config.web.host, config.web.port, config.web.https) == ("0.0.0.0", 8443, True)
    assert config.ingest.transport == "tcp"
    assert config.cameras == ()
    assert config.storage.full_policy == "overwrite"
    assert config.audit.max_rows == 100_000
    assert config.logging.level == "info"


def test_a_camera_gets_sensible_defaults() -> None:
    config = parse_config(camera(7), "t")
    cam = config.cameras[0]
    assert cam.name == "Camera 7"
    assert (cam.enabled, cam.mode, cam.schedule) == (True, "auto", "always")
    assert (cam.pre_record_seconds, cam.post_record_seconds) == (5, 30)
    assert (cam.max_age_days, cam.quota_gb, cam.sub) == (0, None, None)
    assert str(cam.main.url) == "rtsp://10.0.0.7/main"
    assert cam.main.transport is None
    assert config.camera(7) is cam and config.camera(8) is None


def test_the_configuration_is_immutable() -> None:
    config = parse_config(camera(1), "t")
    with pytest.raises(ValidationError):
        config.web.port = 1
    with pytest.raises(ValidationError):
        config.cameras[0].enabled = False


def test_the_camera_password_never_shows_in_repr() -> None:
    config = parse_config(camera(1, 'password = "hunter2"\n'), "t")
    assert config.cameras[0].password == SecretStr("hunter2")
    assert "hunter2" not in repr(config) and "hunter2" not in str(config)


@pytest.mark.parametrize(("toml", "path", "fragment"), [
    ('[system]\nname = ""\n', "system.name", "at least 1 character"),
    ('[system]\nboard = "Big Board"\n', "system.board", "pattern"),
    ('[system]\ntimezone = "Mars/Olympus_Mons"\n', "system.timezone", "IANA"),
    ('[web]\nhost = "not a host"\n', "web.host", "IP address"),
    ("[web]\nport = 0\n", "web.port", "greater than or equal to 1"),
    ('[ingest]\ntransport = "sctp"\n', "ingest.transport", "'tcp' or 'udp'"),
    ("[ingest]\nopen_timeout_seconds = 61\n", "ingest.open_timeout_seconds", "60"),
    ("[ingest]\nstall_timeout_seconds = 0\n", "ingest.stall_timeout_seconds", "1"),
    ("[ingest]\nbackoff_max_seconds = 301\n", "ingest.backoff_max_seconds", "300"),
    (camera(0), "cameras[0].channel", "greater than or equal to 1"),
    (camera(257), "cameras[0].channel", "less than or equal to 256"),
    (camera(1, 'mode = "always"\n'), "cameras[0].mode", "'auto', 'manual' or 'off'"),
    (camera(1, "pre_record_seconds = 31\n"), "cameras[0].pre_record_seconds", "30"),
    (camera(1, "post_record_seconds = 5\n"), "cameras[0].post_record_seconds", "10"),
    (camera(1, "max_age_days = 3651\n"), "cameras[0].max_age_days", "3650"),
    (camera(1, "quota_gb = 0\n"), "cameras[0].quota_gb", "greater than 0"),
    (camera(1, 'sub = { url = "rtsp:///nohost" }\n'), "cameras[0].sub.url", "empty host"),
    (camera(1, 'sub = { url = "rtsp://h/", transport = "http" }\n'),
     "cameras[0].sub.transport", "'tcp' or 'udp'"),
    ("[recording]\nsegment_seconds = 5\n", "recording.segment_seconds", "10"),
    ('[storage]\nfull_policy = "pause"\n', "storage.full_policy", "'overwrite' or 'stop'"),
    ("[storage]\nmin_free_percent = 51\n", "storage.min_free_percent", "50"),
    ("[[alarms.inputs]]\nid = 1\ncontact = \"NX\"\n", "alarms.inputs[0].contact",
     "'NO' or 'NC'"),
    ("[[alarms.inputs]]\nid = 1\ndebounce_ms = 10001\n", "alarms.inputs[0].debounce_ms",
     "10000"),
    ("[[alarms.outputs]]\nid = 1\nlatch_seconds = 0\n", "alarms.outputs[0].latch_seconds",
     "1"),
    ("[security]\nlockout_attempts = 2\n", "security.lockout_attempts", "3"),
    ("[audit]\nmax_rows = 10\n", "audit.max_rows", "1000"),
    ('[logging]\nlevel = "trace"\n', "logging.level", "'debug', 'info', 'warning' or 'error'"),
])
def test_limits(config_error: ParseBad, toml: str, path: str, fragment: str) -> None:
    error = config_error(toml)
    assert [p.path for p in error.problems] == [path], str(error)
    assert fragment in error.problems[0].message


def test_a_duplicate_channel_names_the_duplicate_and_the_first_use(
        config_error: ParseBad) -> None:
    error = config_error(camera(1) + camera(2) + camera(1))
    [problem] = error.problems
    assert (problem.path, problem.value) == ("cameras[2].channel", 1)
    assert problem.message == "channel 1 is already used by cameras[0]; each channel must be unique"


def test_every_duplicate_is_reported_at_once(config_error: ParseBad) -> None:
    error = config_error(camera(1) + camera(2) + camera(1) + camera(2))
    assert [(p.path, p.value) for p in error.problems] == [
        ("cameras[2].channel", 1), ("cameras[3].channel", 2)]
    assert error.problems[1].message.startswith("channel 2 is already used by cameras[1]")


def test_duplicate_alarm_ids_and_volume_paths_are_refused(config_error: ParseBad) -> None:
    error = config_error("[[alarms.outputs]]\nid = 2\n[[alarms.outputs]]\nid = 2\n")
    assert [p.path for p in error.problems] == ["alarms.outputs[1].id"]
    error = config_error('[[storage.volumes]]\npath = "/a"\n[[storage.volumes]]\npath = "/a"\n')
    assert [p.path for p in error.problems] == ["storage.volumes[1].path"]


def test_a_camera_must_use_a_schedule_that_exists(config_error: ParseBad) -> None:
    error = config_error(
        '[[recording.schedules]]\nname = "office"\n'
        + camera(1) + camera(4, 'name = "Yard"\nschedule = "nights"\n'))
    [problem] = error.problems
    assert (problem.path, problem.value) == ("cameras[1].schedule", "nights")
    assert "camera 4 ('Yard')" in problem.message
    assert "'nights'" in problem.message
    assert "defined: always, office" in problem.message


def test_every_camera_with_a_missing_schedule_is_reported(config_error: ParseBad) -> None:
    error = config_error(camera(1, 'name = "{odd} name"\nschedule = "a"\n')
                         + camera(2) + camera(3, 'schedule = "b"\n'))
    assert [(p.path, p.value) for p in error.problems] == [
        ("cameras[0].schedule", "a"), ("cameras[2].schedule", "b")]
    assert "camera 1 ('{odd} name')" in error.problems[0].message  # braces kept as written


def test_a_camera_may_use_a_defined_schedule() -> None:
    config = parse_config('[[recording.schedules]]\nname = "office"\n'
                          + camera(1, 'schedule = "office"\n'), "t")
    assert config.recording.schedule("office") == config.recording.schedules[0]
    assert config.recording.schedule("always") is ALWAYS
    assert config.recording.schedule("nope") is None


def test_backoff_max_must_not_be_below_backoff_initial(config_error: ParseBad) -> None:
    error = config_error("[ingest]\nbackoff_initial_seconds = 5\nbackoff_max_seconds = 2\n")
    [problem] = error.problems
    assert (problem.path, problem.value) == ("ingest.backoff_max_seconds", 2)
    assert problem.message == "must be at least backoff_initial_seconds (5)"


def test_always_is_built_in_and_cannot_be_redefined(config_error: ParseBad) -> None:
    error = config_error('[[recording.schedules]]\nname = "always"\n')
    assert [p.path for p in error.problems] == ["recording.schedules[0].name"]
    error = config_error('[[recording.schedules]]\nname = "a"\n[[recording.schedules]]\n'
                         'name = "a"\n')
    assert [p.path for p in error.problems] == ["recording.schedules[1].name"]


def schedule(day: str, periods: str) -> str:
    return f'[[recording.schedules]]\nname = "s"\n[recording.schedules.days]\n{day} = [{periods}]\n'


def test_periods_of_a_day_must_not_overlap(config_error: ParseBad) -> None:
    error = config_error(schedule("monday", '{ start = "12:00", end = "18:00" }, '
                                            '{ start = "08:00", end = "12:30" }'))
    [problem] = error.problems
    assert (problem.path, problem.value) == ("recording.schedules[0].days.monday[0]",
                                             "12:00-18:00")
    assert problem.message.startswith("overlaps the period 08:00-12:30")


def test_a_period_must_end_after_it_starts(config_error: ParseBad) -> None:
    error = config_error(schedule("friday", '{ start = "18:00", end = "08:00" }'))
    [problem] = error.problems
    assert problem.path == "recording.schedules[0].days.friday[0].end"
    assert problem.message == "must be later than start '18:00'"


@pytest.mark.parametrize(("period", "field"), [
    ('{ start = "24:00", end = "24:00" }', "start"),
    ('{ start = "7:00", end = "08:00" }', "start"),
    ('{ start = "07:00", end = "24:30" }', "end"),
    ('{ start = "07:00", end = "08:00", type = "sound" }', "type"),
])
def test_period_fields(config_error: ParseBad, period: str, field: str) -> None:
    error = config_error(schedule("sunday", period))
    assert [p.path for p in error.problems] == [f"recording.schedules[0].days.sunday[0].{field}"]


def test_at_most_six_periods_a_day(config_error: ParseBad) -> None:
    periods = ", ".join(f'{{ start = "0{h}:00", end = "0{h}:30" }}' for h in range(7))
    error = config_error(schedule("holiday", periods))
    assert [p.path for p in error.problems] == ["recording.schedules[0].days.holiday"]
    assert "at most 6" in error.problems[0].message


def test_a_full_day_schedule_is_accepted() -> None:
    config = parse_config(schedule("monday", '{ start = "00:00", end = "08:00", type = "motion" },'
                                             '{ start = "08:00", end = "24:00" }'), "t")
    monday = config.recording.schedules[0].days.periods("monday")
    assert [(p.start_minute, p.end_minute, p.type) for p in monday] == \
        [(0, 480, "motion"), (480, 1440, "general")]


def test_holidays_are_a_day_or_a_range() -> None:
    config = parse_config('[[recording.holidays]]\nname = "Xmas"\ndate = 2025-12-25\n'
                          '[[recording.holidays]]\nname = "Closed"\nstart = "2025-08-04"\n'
                          'end = "2025-08-15"\n', "t")
    xmas, closed = config.recording.holidays
    assert xmas.covers(dt.date(2025, 12, 25)) and not xmas.covers(dt.date(2025, 12, 26))
    assert closed.covers(dt.date(2025, 8, 10)) and not closed.covers(dt.date(2025, 8, 16))


@pytest.mark.parametrize(("holiday", "path", "fragment"), [
    ('name = "x"\n', "start", "needs a date"),
    ('name = "x"\nstart = 2025-01-01\n', "end", "needs a date"),
    ('name = "x"\ndate = 2025-01-01\nend = 2025-01-02\n', "date", "not both"),
    ('name = "x"\nstart = 2025-01-05\nend = 2025-01-01\n', "end", "before start 2025-01-05"),
    ('name = "x"\ndate = "25 Dec"\n', "date", "date"),
])
def test_holiday_rules(config_error: ParseBad, holiday: str, path: str, fragment: str) -> None:
    error = config_error("[[recording.holidays]]\n" + holiday)
    assert [p.path for p in error.problems] == [f"recording.holidays[0].{path}"]
    assert fragment in error.problems[0].message


def test_every_problem_of_a_file_is_reported_at_once(config_error: ParseBad) -> None:
    error = config_error("[web]\nport = 0\n[ingest]\ntransport = \"x\"\n" + camera(999))
    assert [p.path for p in error.problems] == ["web.port", "ingest.transport",
                                                "cameras[0].channel"]


def test_the_schema_exports_json_schema_for_the_api_document() -> None:
    schema = NvrConfig.model_json_schema()
    camera_schema = schema["$defs"]["CameraConfig"]
    assert camera_schema["additionalProperties"] is False
    assert camera_schema["properties"]["channel"]["maximum"] == 256
    assert camera_schema["properties"]["password"]["writeOnly"] is True
    assert "schedule" in camera_schema["properties"]["mode"]["description"]
