"""The motion benchmark runs and prints its figures (a smoke test; no timing asserted)."""

from __future__ import annotations

import pytest

from tools.bench import motion


def test_the_benchmark_prints_channels_per_core(capsys: pytest.CaptureFixture[str]) -> None:
    assert motion.main(["--size", "176x144", "--seconds", "2", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "decode only (reference)" in out
    assert out.count("channels/core") == 3
