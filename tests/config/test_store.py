"""The config store: a bad or missing file never leaves the daemon without a
configuration, the last-good copy only holds what validated, saves survive crashes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from nvrd.config import ConfigError, ConfigStore, NvrConfig, dump_config, parse_config

RunPython = Callable[..., subprocess.CompletedProcess[str]]

GOOD = '[web]\nport = 9443\n[[cameras]]\nchannel = 1\nmain = { url = "rtsp://10.0.0.1/m" }\n'
BETTER = GOOD + '[[cameras]]\nchannel = 2\nmain = { url = "rtsp://10.0.0.2/m" }\n'
BAD = GOOD.replace("channel = 1", "channel = 999")
DEFAULTS = '[system]\nname = "Factory"\n'


@pytest.fixture
def live(tmp_path: Path) -> Path:
    return tmp_path / "nvrd.toml"


@pytest.fixture
def last_good(tmp_path: Path) -> Path:
    return tmp_path / "nvrd.last-good.toml"


@pytest.fixture
def defaults(tmp_path: Path) -> Path:
    path = tmp_path / "factory" / "nvrd.toml"
    path.parent.mkdir()
    path.write_text(DEFAULTS)
    return path


@pytest.fixture
def store(live: Path, defaults: Path) -> ConfigStore:
    return ConfigStore(live, defaults_path=defaults)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name)


def test_the_last_good_copy_sits_next_to_the_live_file_by_default(live: Path) -> None:
    assert ConfigStore(live).last_good_path == live.parent / "nvrd.last-good.toml"
    other = live.parent / "elsewhere.toml"
    assert ConfigStore(live, last_good_path=other).last_good_path == other


def test_first_boot_seeds_the_live_file_from_the_factory_file(
        store: ConfigStore, live: Path, last_good: Path, defaults: Path) -> None:
    loaded = store.load()
    assert (loaded.source, loaded.error) == ("file", None)
    assert loaded.config.system.name == "Factory"
    assert live.read_bytes() == defaults.read_bytes()  # comments and all
    assert last_good.read_bytes() == defaults.read_bytes()


def test_first_boot_without_a_factory_file_writes_the_schema_defaults(live: Path) -> None:
    loaded = ConfigStore(live).load()
    assert (loaded.config, loaded.source, loaded.error) == (NvrConfig(), "file", None)
    assert parse_config(live.read_text(), "written") == NvrConfig()


def test_first_boot_with_a_broken_factory_file_runs_on_the_schema_defaults(
        live: Path, defaults: Path) -> None:
    defaults.write_text("[web]\nport = 0\n")
    loaded = ConfigStore(live, defaults_path=defaults).load()
    assert (loaded.config, loaded.source) == (NvrConfig(), "defaults")
    assert loaded.error is not None and "web.port" in str(loaded.error)
    assert not live.exists()  # nothing invalid, and nothing made up, is written


def test_a_valid_file_is_used_and_becomes_the_last_good_copy(
        store: ConfigStore, live: Path, last_good: Path) -> None:
    live.write_text(GOOD)
    loaded = store.load()
    assert (loaded.source, loaded.error) == ("file", None)
    assert loaded.config.web.port == 9443
    assert last_good.read_text() == GOOD


def test_the_last_good_copy_is_rewritten_only_when_the_file_changed(
        store: ConfigStore, live: Path, last_good: Path) -> None:
    live.write_text(GOOD)
    store.load()
    before = last_good.stat()
    store.load()
    after = last_good.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    live.write_text(BETTER)
    store.load()
    assert last_good.read_text() == BETTER


def test_a_bad_file_falls_back_to_the_last_good_configuration_and_says_why(
        store: ConfigStore, live: Path, last_good: Path) -> None:
    live.write_text(GOOD)
    store.load()
    live.write_text(BAD)
    loaded = store.load()
    assert loaded.source == "last-good"
    assert loaded.config == parse_config(GOOD, "good")
    assert isinstance(loaded.error, ConfigError)
    assert str(loaded.error) == (f"{live}: cameras[0].channel: must be less than or equal "
                                 "to 256 (got 999)")
    assert live.read_text() == BAD  # the installer's file is left for them to fix
    assert last_good.read_text() == GOOD  # and never overwritten by a bad one


def test_a_toml_syntax_error_falls_back_too(store: ConfigStore, live: Path) -> None:
    live.write_text(GOOD)
    store.load()
    live.write_text(GOOD + "[web\n")
    loaded = store.load()
    assert loaded.source == "last-good"
    assert loaded.error is not None and "line 6" in str(loaded.error)


def test_a_bad_file_without_a_last_good_copy_runs_on_the_factory_file(
        store: ConfigStore, live: Path) -> None:
    live.write_text(BAD)
    loaded = store.load()
    assert (loaded.source, loaded.config.system.name) == ("defaults", "Factory")
    assert loaded.error is not None and "999" in str(loaded.error)


def test_a_bad_last_good_copy_is_skipped(store: ConfigStore, live: Path,
                                         last_good: Path) -> None:
    live.write_text(BAD)
    last_good.write_text("not toml at all")
    loaded = store.load()
    assert (loaded.source, loaded.config.system.name) == ("defaults", "Factory")
    assert loaded.error is not None and "999" in str(loaded.error)


def test_without_any_file_the_schema_defaults_are_used(live: Path) -> None:
    live.write_text(BAD)
    loaded = ConfigStore(live).load()
    assert (loaded.source, loaded.config) == ("defaults", NvrConfig())


def test_a_deleted_live_file_runs_on_the_last_good_copy(
        store: ConfigStore, live: Path, last_good: Path) -> None:
    live.write_text(GOOD)
    store.load()
    live.unlink()
    loaded = store.load()
    assert (loaded.source, loaded.config.web.port) == ("last-good", 9443)
    assert loaded.error is not None and "file not found" in str(loaded.error)
    assert not live.exists()  # not silently re-created: the next save does that


def test_save_writes_the_live_file_and_the_last_good_copy(
        store: ConfigStore, live: Path, last_good: Path) -> None:
    config = parse_config(BETTER, "t")
    store.save(config)
    assert live.read_text() == last_good.read_text() == dump_config(config)
    assert live.stat().st_mode & 0o777 == 0o640  # camera passwords inside
    loaded = store.load()
    assert (loaded.config, loaded.source) == (config, "file")


def test_save_refuses_a_configuration_that_skipped_validation(
        store: ConfigStore, live: Path, last_good: Path) -> None:
    store.save(parse_config(GOOD, "t"))
    before = live.read_bytes()
    config = parse_config(GOOD, "t")
    broken = config.model_copy(update={"web": config.web.model_copy(update={"port": 0})})
    with pytest.raises(ConfigError, match=r"web\.port"):
        store.save(broken)
    assert live.read_bytes() == last_good.read_bytes() == before


SAVE_IN_CHILD = """
from pathlib import Path
from nvrd.config import ConfigStore, parse_config
store = ConfigStore(Path(sys.argv[2]))
store.save(parse_config(sys.argv[3], "new"))
print("not reached")
"""


def test_a_save_crashing_between_write_and_rename_keeps_the_old_configuration(
        store: ConfigStore, live: Path, last_good: Path, run_python: RunPython,
        crash_on_rename: str) -> None:
    store.save(parse_config(GOOD, "t"))
    old = live.read_bytes()

    child = run_python(crash_on_rename + SAVE_IN_CHILD, "1", str(live), BETTER)

    assert child.returncode == 1, child.stderr
    assert "not reached" not in child.stdout
    assert live.read_bytes() == last_good.read_bytes() == old  # intact ...
    [temp] = leftovers(live.parent)
    assert temp.startswith(".nvrd.toml.tmp-")
    assert parse_config(old.decode(), "old") == parse_config(GOOD, "t")  # ... and valid
    loaded = store.load()
    assert (loaded.source, loaded.error) == ("file", None)
    assert loaded.config == parse_config(GOOD, "t")
    assert leftovers(live.parent) == []  # the leftover was ignored, then removed


def test_a_save_crashing_before_the_last_good_copy_is_completed_by_the_next_load(
        store: ConfigStore, live: Path, last_good: Path, run_python: RunPython,
        crash_on_rename: str) -> None:
    store.save(parse_config(GOOD, "t"))

    child = run_python(crash_on_rename + SAVE_IN_CHILD, "2", str(live), BETTER)

    assert child.returncode == 1, child.stderr
    assert parse_config(live.read_text(), "live") == parse_config(BETTER, "t")
    assert parse_config(last_good.read_text(), "lg") == parse_config(GOOD, "t")
    assert leftovers(live.parent) != []
    loaded = store.load()
    assert (loaded.source, len(loaded.config.cameras)) == ("file", 2)
    assert last_good.read_bytes() == live.read_bytes()
    assert leftovers(live.parent) == []


def test_a_leftover_is_also_removed_by_the_next_save(
        store: ConfigStore, live: Path, run_python: RunPython, crash_on_rename: str) -> None:
    store.save(parse_config(GOOD, "t"))
    run_python(crash_on_rename + SAVE_IN_CHILD, "1", str(live), BETTER)
    assert leftovers(live.parent) != []
    store.save(parse_config(BETTER, "t"))
    assert leftovers(live.parent) == []
    assert store.load().config == parse_config(BETTER, "t")
