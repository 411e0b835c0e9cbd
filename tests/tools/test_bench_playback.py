"""tools/bench/playback.py end to end, shrunk: two channels of a few minutes, tiny pictures.

Checks that the benchmark builds its catalog, times ranges and an export, exits 0 and
prints figures that parse; it does not judge them (a shared test machine makes them
noisy)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"(\d+(?:\.\d+)?)"


def test_prints_time_to_first_byte_and_frame_and_export_throughput(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tools.bench.playback", "--channels", "2", "--hours", "0.05",
         "--segment-seconds", "10", "--ranges", "2", "--range-minutes", "0.5",
         "--export-minutes", "1", "--mode", "160x120", "--bitrate", "200",
         "--workdir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout

    assert re.search(r"^catalog: 2 channels x 0.05 h, 36 segments of 10 s", out, re.M), out
    for line in ("time to first byte, 0.5-minute ranges", "time to first decodable frame"):
        found = re.search(rf"^{re.escape(line)}: median {NUMBER} ms, max {NUMBER} ms \(n=2\)$",
                          out, re.M)
        assert found and 0 < float(found[1]) <= float(found[2]), out
    export = re.search(rf"^export of 1 minutes: {NUMBER} MB at {NUMBER} MB/s$", out, re.M)
    assert export and float(export[1]) > 0, out
    assert re.search(rf"^raw read of the same bytes: {NUMBER} MB/s$", out, re.M), out
    assert re.search(rf"^export / raw read: {NUMBER}$", out, re.M), out
    assert list(tmp_path.iterdir()) == []  # the temporary volume is gone
