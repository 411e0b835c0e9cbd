"""tools/bench/alarm.py, shrunk: a few edges per run.

Checks the shape of what it prints and that every edge drove the relay; not the timings
(a shared test machine makes them noisy).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"(\d+(?:\.\d+)?)"


def run(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "tools.bench.alarm", "--edges", "20",
                           "--debounced-edges", "3", "--gap-ms", "0", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout
    return proc.stdout


def test_prints_hal_reference_debounced_and_ratio() -> None:
    out = run()
    assert re.search(r"^alarm input 1 \(sim-gpio0 line 0\) -> relay 1 \(line 8\)", out, re.M)
    rows = {}
    for label in ("HAL, debounce 0", "reference: add_reader -> set_value",
                  r"HAL, board debounce 20 ms \(software\)", "  minus the debounce window"):
        found = re.search(rf"^{label}\s+(\d+)\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}$", out, re.M)
        assert found, (label, out)
        edges, p50, p99, top = int(found[1]), *map(float, found.groups()[1:])
        assert 0 < p50 <= p99 <= top, out
        rows[label] = (edges, p50)
    assert rows["HAL, debounce 0"][0] == rows["reference: add_reader -> set_value"][0] == 20
    # the software debounce holds each change for its whole window
    assert rows[r"HAL, board debounce 20 ms \(software\)"][1] >= 20_000
    assert re.search(rf"^HAL / reference: p50 {NUMBER}, p99 {NUMBER}$", out, re.M), out
    assert re.search(r"^every edge drove the relay: yes \(HAL 20/20, reference 20/20, "
                     r"debounced 3/3\)$", out, re.M), out


def test_json_output() -> None:
    results = json.loads(run("--json"))
    assert {"hal", "reference", "debounced", "setup"} <= results.keys()
    for name in ("hal", "reference", "debounced"):
        assert results[name]["driven"] == results[name]["edges"] > 0
    assert results["debounced"]["window_ms"] == 20
