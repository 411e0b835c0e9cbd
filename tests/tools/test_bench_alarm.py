"""tools/bench/alarm.py, shrunk: a few edges per run, and run D (the daemon end to end)
with two small cameras.

Checks the shape of what it prints and that every edge drove the relay; not the timings
(a shared test machine makes them noisy).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools.fakecam.control import gst_unavailable_reason

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"(\d+(?:\.\d+)?)"
SIGNED = r"(-?\d+(?:\.\d+)?)"


def run(*args: str, daemon: bool = False, timeout: float = 60) -> str:
    """The bench; without ``daemon``, runs A-C only."""
    proc = subprocess.run([sys.executable, "-m", "tools.bench.alarm", "--edges", "20",
                           "--debounced-edges", "3", "--gap-ms", "0",
                           *([] if daemon else ["--daemon-edges", "0"]), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          check=False)
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


def table_row(label: str, out: str, number: str = NUMBER) -> tuple[int, float, float, float]:
    found = re.search(rf"^{label}\s+(\d+)\s+{number}\s+{number}\s+{number}$", out, re.M)
    assert found, (label, out)
    return int(found[1]), float(found[2]), float(found[3]), float(found[4])


@pytest.mark.gst
@pytest.mark.slow
def test_run_d_through_the_daemon(fakecam_clips: Path,
                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    """Two cameras recording, 20 relay cycles, one alarm segment: every figure is there
    and positive, every edge drove the relay, the daemon logged no error and its
    temporary directory is gone."""
    reason = gst_unavailable_reason()
    if reason:
        pytest.skip(reason)
    tmp_path = tmp_path_factory.mktemp("alarmd")  # short: the sim's control socket is in it
    out = run("--daemon-edges", "20", "--segment-events", "1", "--cameras", "2",
              "--mode", "320x240@25", "--clip-cache", str(fakecam_clips),
              "--work-dir", str(tmp_path), daemon=True, timeout=240)
    assert re.search(r"^D\. the daemon end to end: 2 cameras \(320x240@25, .*\), channel 2 "
                     r"recording all the time, channel 1 on alarms$", out, re.M), out
    for label, edges in (("edge -> relay driven", 20), ("reference under the same load", 20),
                         ("edge -> relay, channel 1 idle", 1),
                         ("edge -> alarm segment opened", 1)):
        count, p50, p99, top = table_row(label, out)
        assert count == edges and 0 < p50 <= p99 <= top, (label, out)
    # the latch's timer may fire a hair early: only its presence is checked
    assert table_row("contact open -> relay off, minus 1 s latch", out, SIGNED)[0] == 1
    assert re.search(rf"^daemon / reference \(B\): p50 {NUMBER}, p99 {NUMBER}; daemon / "
                     rf"reference under load: p50 {NUMBER}, p99 {NUMBER}$", out, re.M), out
    assert re.search(r"^goal edge -> relay p99 under 20 ms: (met|NOT met) \(", out, re.M), out
    assert re.search(r"^recording meanwhile: 1/1 continuous channels recording", out, re.M)
    assert re.search(r"^every alarm opened its segment: yes \(1/1\)$", out, re.M), out
    assert "daemon log:" not in out, out
    assert re.search(r"^every edge drove the relay: yes \(HAL 20/20, reference 20/20, "
                     r"debounced 3/3, daemon 20/20, daemon reference 20/20, "
                     r"segment events 1/1\)$", out, re.M), out
    assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())
