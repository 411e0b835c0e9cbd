"""Atomic writes: old or new content after a crash, never a mix, and no litter."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nvrd.config.atomic import (
    STALE_TEMP_AGE_SECONDS,
    atomic_write_bytes,
    remove_stale_temp_files,
    stale_temp_files,
    temp_path_for,
)

RunPython = Callable[..., subprocess.CompletedProcess[str]]


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name)


def test_writes_and_replaces_the_content(tmp_path: Path) -> None:
    target = tmp_path / "state.toml"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two" * 100_000)
    assert target.read_bytes() == b"two" * 100_000
    assert leftovers(tmp_path) == []


def test_the_mode_is_exact_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o077)
    try:
        atomic_write_bytes(tmp_path / "a", b"x", mode=0o644)
        atomic_write_bytes(tmp_path / "b", b"x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o640


def test_temporary_names_are_hidden_recognisable_and_unique(tmp_path: Path) -> None:
    first, second = temp_path_for(tmp_path / "nvrd.toml"), temp_path_for(tmp_path / "nvrd.toml")
    assert first.parent == tmp_path
    assert first.name.startswith(f".nvrd.toml.tmp-{os.getpid()}-")
    assert first != second


def test_steps_are_write_fsync_rename_fsync_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        steps.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        steps.append(("rename", Path(src).name))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write_bytes(tmp_path / "nvrd.toml", b"data")
    [(kind1, temp), (kind2, renamed), (kind3, directory)] = steps
    assert (kind1, kind2, kind3) == ("fsync", "rename", "fsync")
    assert Path(temp).name == renamed and renamed.startswith(".nvrd.toml.tmp-")
    assert directory == str(tmp_path)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "nvrd.toml"
    target.write_bytes(b"old")

    def full_disk(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_a_crash_between_write_and_rename_keeps_the_old_file(
        tmp_path: Path, run_python: RunPython, crash_on_rename: str) -> None:
    target = tmp_path / "nvrd.toml"
    target.write_bytes(b"old content")
    child = run_python(crash_on_rename + (
        "from pathlib import Path\n"
        "from nvrd.config.atomic import atomic_write_bytes\n"
        "atomic_write_bytes(Path(sys.argv[2]), b'new content')\n"
        "print('not reached')\n"), "1", str(target))
    assert child.returncode == 1, child.stderr
    assert "not reached" not in child.stdout
    assert target.read_bytes() == b"old content"
    [temp] = leftovers(tmp_path)
    assert (tmp_path / temp).read_bytes() == b"new content"  # written and fsynced, not renamed

    atomic_write_bytes(target, b"next content")  # the next write cleans up
    assert target.read_bytes() == b"next content"
    assert leftovers(tmp_path) == []


@pytest.fixture
def live_process() -> Iterator[int]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process.pid
    process.kill()
    process.wait()


@pytest.fixture
def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_only_leftovers_of_finished_writers_are_removed(
        tmp_path: Path, live_process: int, dead_pid: int) -> None:
    target = tmp_path / "nvrd.toml"
    running = tmp_path / f".nvrd.toml.tmp-{live_process}-aaaa"
    dead = tmp_path / f".nvrd.toml.tmp-{dead_pid}-bbbb"
    ours = tmp_path / f".nvrd.toml.tmp-{os.getpid()}-cccc"
    ancient = tmp_path / f".nvrd.toml.tmp-{live_process}-dddd"
    garbled = tmp_path / ".nvrd.toml.tmp-xyz"
    other_file = tmp_path / f".other.toml.tmp-{dead_pid}-eeee"
    for path in (running, dead, ours, ancient, garbled, other_file):
        path.write_bytes(b"partial")
    old = time.time() - STALE_TEMP_AGE_SECONDS - 60
    os.utime(ancient, (old, old))

    assert sorted(stale_temp_files(target)) == sorted([dead, ours, ancient, garbled])
    removed = remove_stale_temp_files(target)
    assert sorted(removed) == sorted([dead, ours, ancient, garbled])
    assert leftovers(tmp_path) == sorted([running.name, other_file.name])


def test_leftovers_of_a_missing_directory_are_none(tmp_path: Path) -> None:
    assert stale_temp_files(tmp_path / "absent" / "nvrd.toml") == []
