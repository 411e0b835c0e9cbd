"""Error messages: each names the setting, quotes the value and says what is allowed."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails

from nvrd.config import NO_VALUE, ConfigError, ConfigProblem, located_error
from nvrd.config.errors import MASK, MAX_VALUE_REPR_CHARS, describe_value, format_loc

ParseBad = Callable[[str], ConfigError]


def only_problem(error: ConfigError) -> ConfigProblem:
    assert len(error.problems) == 1, str(error)
    return error.problems[0]


def test_a_bad_url_names_the_field_path_the_value_and_the_allowed_schemes(
        config_error: ParseBad) -> None:
    error = config_error('[[cameras]]\nchannel = 3\nmain = { url = "http://10.0.0.7/live" }\n'
                         '[[cameras]]\nchannel = 4\nmain = { url = "rtsp://10.0.0.8/" }\n'
                         'sub = { url = "ftp://10.0.0.8/sub" }\n')
    assert [p.path for p in error.problems] == ["cameras[0].main.url", "cameras[1].sub.url"]
    assert error.problems[0].value == "http://10.0.0.7/live"
    assert str(error).splitlines() == [
        "test.toml: cameras[0].main.url: URL scheme must be 'rtsp' or 'rtsps' "
        "(got 'http://10.0.0.7/live')",
        "test.toml: cameras[1].sub.url: URL scheme must be 'rtsp' or 'rtsps' "
        "(got 'ftp://10.0.0.8/sub')",
    ]


def test_a_number_out_of_range_states_the_limit(config_error: ParseBad) -> None:
    problem = only_problem(config_error("[web]\nport = 70000\n"))
    assert (problem.path, problem.value) == ("web.port", 70000)
    assert problem.describe() == "web.port: must be less than or equal to 65535 (got 70000)"


def test_a_choice_lists_the_allowed_values(config_error: ParseBad) -> None:
    problem = only_problem(config_error('[storage]\nfull_policy = "delete"\n'))
    assert problem.path == "storage.full_policy"
    assert problem.message == "must be 'overwrite' or 'stop'"
    assert problem.value == "delete"


def test_an_unknown_setting_lists_the_section_and_suggests_the_spelling(
        config_error: ParseBad) -> None:
    problem = only_problem(config_error("[web]\nprot = 8443\n"))
    assert problem.path == "web.prot"
    assert problem.message == ("unknown setting 'prot' (did you mean 'port'?); "
                               "allowed in this section: host, port, https, http_redirect_port")


def test_an_unknown_section_lists_the_top_level_names(config_error: ParseBad) -> None:
    problem = only_problem(config_error("[webserver]\nport = 1\n"))
    assert problem.path == "webserver"
    assert "unknown setting 'webserver'" in problem.message
    assert "allowed at the top level: schema_version, system, web," in problem.message


def test_an_unknown_setting_inside_a_list_item_lists_that_item_s_settings(
        config_error: ParseBad) -> None:
    problem = only_problem(config_error(
        '[[cameras]]\nchannel = 1\nmain = { url = "rtsp://h/", codec = "h264" }\n'))
    assert problem.path == "cameras[0].main.codec"
    assert problem.message.endswith("allowed in this section: url, transport")


def test_a_missing_required_setting_has_no_value_to_quote(config_error: ParseBad) -> None:
    problem = only_problem(config_error("[[cameras]]\nchannel = 1\n"))
    assert problem.path == "cameras[0].main"
    assert problem.value is NO_VALUE
    assert problem.describe() == "cameras[0].main: required setting is missing"


def test_a_toml_syntax_error_gives_line_and_column_and_quotes_the_line(
        config_error: ParseBad) -> None:
    problem = only_problem(config_error('[web]\nport = 8443\nhost = "0.0.0.0\n'))
    assert problem.path == "line 3, column 16"
    assert problem.message.startswith("invalid TOML: illegal character")
    assert problem.value == 'host = "0.0.0.0'


def test_a_toml_error_at_the_end_of_the_file(config_error: ParseBad) -> None:
    problem = only_problem(config_error("[web]\nport =\n"))
    assert problem.path.startswith(("line 2", "end of file"))
    assert problem.message.startswith("invalid TOML")


def test_passwords_are_masked_in_messages_wherever_they_appear(config_error: ParseBad) -> None:
    error = config_error(
        '[[cameras]]\nchannel = 1\npassword = "hunter2"\npasswd = "hunter3"\n'
        'main = { url = "http://admin:hunter4@10.0.0.7/live" }\n')
    text = str(error)
    for secret in ("hunter2", "hunter3", "hunter4"):
        assert secret not in text
    assert "cameras[0].passwd: unknown setting 'passwd' (did you mean 'password'?)" in text
    assert f"(got 'http://admin:{MASK}@10.0.0.7/live')" in text


def test_a_syntax_error_on_a_password_line_does_not_quote_the_password(
        config_error: ParseBad) -> None:
    problem = only_problem(config_error('[[cameras]]\nchannel = 1\npassword = "hunter2\n'))
    assert problem.path.startswith("line 3")
    assert "hunter2" not in problem.describe()
    assert problem.value == f"password = {MASK}"


def test_a_wrong_password_type_is_masked_too(config_error: ParseBad) -> None:
    problem = only_problem(config_error(
        '[[cameras]]\nchannel = 1\nmain = { url = "rtsp://h/" }\npassword = 123456\n'))
    assert problem.path == "cameras[0].password"
    assert "123456" not in problem.describe()


def test_long_values_are_cut() -> None:
    text = describe_value("x" * 500)
    assert len(text) == MAX_VALUE_REPR_CHARS
    assert text.endswith("…")


def test_locations_read_like_the_file() -> None:
    assert format_loc(("cameras", 2, "main", "url")) == "cameras[2].main.url"
    assert format_loc(("recording", "schedules", 0, "days", "monday", 1)) == \
        "recording.schedules[0].days.monday[1]"
    assert format_loc(()) == ""


class Led(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    colour: Literal["red", "green"] = "green"


class ProfileForErrorTests(BaseModel):
    """Stands for another subsystem's model (the HAL board profile): nothing nvrd-specific."""

    model_config = ConfigDict(extra="forbid")
    leds: list[Led] = Field(default_factory=list)
    bays: int = Field(1, ge=1, le=8)

    @model_validator(mode="after")
    def _one_led_per_bay(self) -> ProfileForErrorTests:
        if len(self.leds) > self.bays:
            raise located_error(f"at most {self.bays} LEDs (one per bay)",
                                at=("leds", self.bays), value=self.leds[self.bays].name)
        return self


def profile_error(data: object,
                  model: type[BaseModel] | None = ProfileForErrorTests) -> ConfigError:
    with pytest.raises(ValidationError) as caught:
        ProfileForErrorTests.model_validate(data)
    return ConfigError.from_validation_error(caught.value, "board profile 'x'", model=model)


def test_the_formatter_works_for_any_model() -> None:
    error = profile_error({"bays": 0, "leds": [{"name": "hdd", "colour": "blue", "pin": 4}]})
    assert str(error).splitlines() == [
        "board profile 'x': leds[0].colour: must be 'red' or 'green' (got 'blue')",
        "board profile 'x': leds[0].pin: unknown setting 'pin'; allowed in this section: "
        "name, colour (got 4)",
        "board profile 'x': bays: must be greater than or equal to 1 (got 0)",
    ]


def test_without_the_model_it_is_found_by_the_error_s_title() -> None:
    """The daemon formats the board profile's errors without saying which model it was."""
    error = profile_error({"bayz": 2}, model=None)
    assert only_problem(error).message == (
        "unknown setting 'bayz' (did you mean 'bays'?); allowed at the top level: leds, bays")


def test_an_unknown_setting_of_an_unknown_model_is_still_named() -> None:
    exc = ValidationError.from_exception_data("NoSuchModel", [
        InitErrorDetails(type="extra_forbidden", loc=("a", 1, "bayz"), input=2)])
    problem = only_problem(ConfigError.from_validation_error(exc, "x"))
    assert (problem.path, problem.value) == ("a[1].bayz", 2)
    assert problem.message.startswith("unknown setting 'bayz'")


def test_a_located_error_points_below_the_validator_that_raised_it() -> None:
    error = profile_error({"bays": 1, "leds": [{"name": "a"}, {"name": "b"}]})
    problem = only_problem(error)
    assert (problem.path, problem.value) == ("leds[1]", "b")
    assert problem.message == "at most 1 LEDs (one per bay)"


def test_a_config_error_survives_pickling() -> None:
    """Errors cross process boundaries (a checker run in a worker process)."""
    error = ConfigError("f.toml", [ConfigProblem("web.port", 0, "too small")])
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.source, copy.problems, str(copy)) == (error.source, error.problems, str(error))
    assert pickle.loads(pickle.dumps(NO_VALUE)) is NO_VALUE
