"""Schema migrations: older files are brought forward step by step; newer ones refused.

The product is at schema version 1 and has no migration yet, so the mechanism is tested
with a registry of test steps standing for future versions 2 and 3.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from nvrd.config import (
    CURRENT_SCHEMA_VERSION,
    ConfigError,
    check_config_file,
    migrate,
    parse_config,
)
from nvrd.config.migrations import MIGRATIONS, Migration, migration

Raw = dict[str, Any]


def future_registry() -> dict[int, Migration]:
    """v1 → v2: ``web.port`` moved to ``web.https_port``; v2 → v3: cameras keyed by
    channel instead of a list."""
    steps: dict[int, Migration] = {}

    @migration(1, steps)
    def _v1_to_v2(raw: Raw) -> Raw:
        web = raw.get("web", {})
        if "port" in web:
            web["https_port"] = web.pop("port")
        return raw

    @migration(2, steps)
    def _v2_to_v3(raw: Raw) -> Raw:
        raw["cameras"] = {str(c["channel"]): c for c in raw.get("cameras", [])}
        return raw

    return steps


V1 = {"schema_version": 1, "web": {"port": 8443}, "cameras": [{"channel": 5, "main": {}}]}


def test_an_older_file_runs_every_step_in_order() -> None:
    migrated = migrate(V1, "old.toml", steps=future_registry(), current=3)
    assert migrated == {"schema_version": 3, "web": {"https_port": 8443},
                        "cameras": {"5": {"channel": 5, "main": {}}}}


def test_a_file_part_way_runs_only_the_remaining_steps() -> None:
    v2 = {"schema_version": 2, "web": {"https_port": 1}, "cameras": [{"channel": 1}]}
    migrated = migrate(v2, "t", steps=future_registry(), current=3)
    assert migrated == {"schema_version": 3, "web": {"https_port": 1},
                        "cameras": {"1": {"channel": 1}}}


def test_migrating_leaves_the_caller_s_table_alone() -> None:
    original = copy.deepcopy(V1)
    migrate(V1, "t", steps=future_registry(), current=3)
    assert original == V1


def test_a_file_of_the_current_version_is_unchanged() -> None:
    v3 = {"schema_version": 3, "cameras": {}}
    assert migrate(v3, "t", steps=future_registry(), current=3) == v3


def test_a_file_without_a_version_is_taken_as_current() -> None:
    """Only hand-written files lack it; they follow the running firmware's documentation."""
    assert migrate({"web": {"port": 1}}, "t", steps=future_registry(), current=3) == \
        {"web": {"port": 1}, "schema_version": 3}


def test_a_newer_file_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ConfigError) as caught:
        migrate({"schema_version": 4}, "new.toml", steps=future_registry(), current=3)
    [problem] = caught.value.problems
    assert (problem.path, problem.value) == ("schema_version", 4)
    assert str(caught.value) == (
        "new.toml: schema_version: this file was written by newer firmware (schema version "
        "4); this firmware reads versions 1 to 3: upgrade the firmware or restore a "
        "configuration saved by this version (got 4)")


@pytest.mark.parametrize(("version", "message"), [
    (0, "must be between 1 and 3"),
    (-2, "must be between 1 and 3"),
    ("2", "must be a whole number"),
    (True, "must be a whole number"),
    (1.5, "must be a whole number"),
])
def test_a_nonsense_version_is_refused(version: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        migrate({"schema_version": version}, "t", steps=future_registry(), current=3)
    assert caught.value.problems[0].path == "schema_version"
    assert caught.value.problems[0].message == message


def test_a_gap_in_the_registry_is_reported_not_skipped() -> None:
    steps = future_registry()
    del steps[2]
    with pytest.raises(ConfigError, match="no migration from schema version 2"):
        migrate(V1, "t", steps=steps, current=3)


def test_a_step_registered_twice_is_a_programming_error() -> None:
    steps = future_registry()
    with pytest.raises(ValueError, match="two migrations from schema version 1"):
        migration(1, steps)(lambda raw: raw)


def test_the_product_registry_covers_every_version_up_to_the_current_one() -> None:
    assert sorted(MIGRATIONS) == list(range(1, CURRENT_SCHEMA_VERSION))


def test_loading_a_file_from_newer_firmware_says_so(tmp_path: Path) -> None:
    text = f"schema_version = {CURRENT_SCHEMA_VERSION + 1}\n[web]\nport = 1\n"
    with pytest.raises(ConfigError, match="written by newer firmware"):
        parse_config(text, "t")
    path = tmp_path / "nvrd.toml"
    path.write_text(text)
    ok, report = check_config_file(path)
    assert not ok and "written by newer firmware" in report
