"""Fixtures shared by the configuration tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from nvrd.config import ConfigError, parse_config

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CONFIG = REPO_ROOT / "config" / "nvrd.toml"


@pytest.fixture
def shipped_config() -> Path:
    return SHIPPED_CONFIG


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def config_error() -> Callable[[str], ConfigError]:
    """Parse TOML text that must be refused; returns the error."""
    def parse_bad(text: str) -> ConfigError:
        with pytest.raises(ConfigError) as caught:
            parse_config(text, "test.toml")
        return caught.value
    return parse_bad


@pytest.fixture
def run_python() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a Python snippet in a child process (with the repository importable), for
    crashes that must really kill a process."""
    def run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        return subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=60)
    return run


# Child-process prelude: os.replace (the rename step) kills the process on call number
# CRASH_AT (argv[1]) without any cleanup, like a power cut between write and rename.
CRASH_ON_RENAME = """
import os, sys
crash_at = int(sys.argv[1])
calls = 0
real_replace = os.replace
def crashing_replace(src, dst):
    global calls
    calls += 1
    if calls == crash_at:
        os._exit(1)
    real_replace(src, dst)
os.replace = crashing_replace
"""


@pytest.fixture
def crash_on_rename() -> str:
    return CRASH_ON_RENAME
