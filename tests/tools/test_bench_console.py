"""tools/bench/console.py, shrunk: checks the shape of what it prints (each figure and the
ratio against the bare pty), not the timings (a shared test machine makes them noisy)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MS = r"median +(\d+\.\d+) ms +p95 +(\d+\.\d+) ms +n=(\d+)"

pytestmark = pytest.mark.slow


def test_prints_echo_commands_reference_and_ratio() -> None:
    proc = subprocess.run([sys.executable, "-m", "tools.bench.console", "--keys", "5",
                           "--rounds", "2"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout
    out = proc.stdout
    for label, count in (("A. key echo", 5), ("B. command 'help'", 2),
                         ("C. command 'status'", 2), ("R. bare pty round trip", 5)):
        found = re.search(rf"^{re.escape(label)} +" + MS, out, re.M)
        assert found is not None, out
        assert int(found.group(3)) == count
        assert 0 < float(found.group(1)) <= float(found.group(2))
    assert re.search(r"A / R \(median\) +\d+\.\d", out), out
