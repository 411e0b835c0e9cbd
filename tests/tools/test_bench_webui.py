"""tools/bench/webui.py, shrunk (one camera, one round): checks the shape of what it
prints (each load, the bytes, the ratios), and that a warm load fetches none of the
hashed files again — not the timings (a shared test machine makes them noisy)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.harness import browser_unavailable_reason

ROOT = Path(__file__).resolve().parents[2]
LOAD = (r"ready +(\d+) ms +transferred +(\d+\.\d) KB \(page (\d+\.\d) KB, API (\d+\.\d) KB\) "
        r"in (\d+) requests +n=1")

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.gst]


def test_prints_cold_warm_reference_and_ratios() -> None:
    reason = browser_unavailable_reason()
    if reason:
        pytest.skip(reason)
    proc = subprocess.run([sys.executable, "-m", "tools.bench.webui", "--cameras", "1",
                           "--rounds", "1"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout
    out = proc.stdout
    loads = {}
    for label in ("D. dashboard, cold cache", "W. dashboard, warm cache",
                  "R. bare 404 document"):
        found = re.search(rf"^{re.escape(label)} +" + LOAD, out, re.M)
        assert found is not None, out
        loads[label[0]] = [float(value) for value in found.groups()]
    cold, warm = loads["D"], loads["W"]
    assert cold[0] > 0 and cold[2] > 0 and cold[4] >= 3  # the page, its modules, the API
    assert warm[2] < cold[2] / 2, out  # the hashed files came from the cache
    assert re.search(r"D / R \(median\) +\d+\.\d", out), out
    assert re.search(r"^ +\d+\.\d KB +/assets/js/", out, re.M), out
