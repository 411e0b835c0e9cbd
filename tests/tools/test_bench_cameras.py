"""tools/bench/cameras.py, shrunk to two cameras: checks the shape of what it prints and
that every probe and every injected event came through; not the timings (a shared test
machine makes them noisy)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools.fakecam.control import gst_unavailable_reason

ROOT = Path(__file__).resolve().parents[2]
MS = r"median +(\d+\.\d+) ms +p95 +(\d+\.\d+) ms +n=(\d+)"

pytestmark = [pytest.mark.gst, pytest.mark.slow]


def test_prints_probe_reference_ratio_and_event_latency() -> None:
    if reason := gst_unavailable_reason():
        pytest.skip(reason)
    proc = subprocess.run([sys.executable, "-m", "tools.bench.cameras", "--cameras", "2",
                           "--rounds", "2", "--events", "4"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout
    out = proc.stdout
    probe = re.search(r"^A\. probe one camera +" + MS, out, re.M)
    bare = re.search(r"^C\. bare SOAP round trip +" + MS, out, re.M)
    events = re.search(r"^D\. camera event delivered +" + MS, out, re.M)
    assert probe and bare and events, out
    assert int(probe.group(3)) == 4 and int(bare.group(3)) == 4 and int(events.group(3)) == 4
    assert re.search(r"^B\. probe +2 cameras at once +total +\d+\.\d ms", out, re.M), out
    ratio = re.search(r"A / C \(median\) +(\d+\.\d)", out)
    assert ratio and float(ratio.group(1)) > 0, out
