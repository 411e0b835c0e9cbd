"""tools/bench/record.py end to end, shrunk: one small camera, a few seconds per recorder.

Checks that the benchmark runs both recorders, exits 0, cleans up, and prints figures that
parse; it does not judge the figures (a shared test machine makes them noisy).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.fakecam.control import gst_unavailable_reason

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"(-?\d+(?:\.\d+)?)"
FIGURE = r"(-?\d+(?:\.\d+)?|-)"
"""A figure or "-" (a ratio over a CPU time of zero: one tiny stream for 2 s can take less
than the kernel's 10 ms accounting tick)."""


@pytest.mark.gst
def test_prints_both_recorders_ratio_and_packet_verdict(fakecam_clips: Path,
                                                        tmp_path: Path) -> None:
    reason = gst_unavailable_reason()
    if reason:
        pytest.skip(reason)
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (make bench-setup)")
    proc = subprocess.run(
        [sys.executable, "-m", "tools.bench.record", "--cameras", "1", "--seconds", "2",
         "--warmup", "1", "--mode", "320x240@25", "--gop", "25", "--bitrate", "300",
         "--clip-cache", str(fakecam_clips), "--volume-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout

    assert re.search(rf"^CPU per stream, % of one core\s+{NUMBER}\s+{NUMBER}\s+{FIGURE}$",
                     out, re.M), out
    rss = re.search(rf"^RSS per stream, MiB\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}$", out, re.M)
    assert rss and float(rss[1]) > 0 and float(rss[2]) > 0, out
    assert re.search(rf"^nvrd CPU per stream / ffmpeg CPU per stream: {FIGURE} ", out, re.M)
    assert re.search(rf"^nvrd RSS / ffmpeg RSS: {NUMBER}", out, re.M), out
    sent = re.search(r"^  sent by the cameras .*?(\d+)$", out, re.M)
    written = re.search(r"^  written \(muxed into a segment\)\s+(\d+)$", out, re.M)
    on_disk = re.search(r"^  samples in its segment files\s+(\d+)$", out, re.M)
    assert sent and written and on_disk and int(written[1]) > 0, out
    assert re.search(r"^verdict: (zero packets lost|\d+ packets lost)", out, re.M), out
    assert re.search(r"^machine: \d+ CPUs", out, re.M), out
    # nothing left behind but what pytest made
    assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())
