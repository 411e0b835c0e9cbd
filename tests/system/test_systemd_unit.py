"""The unit file is checked by systemd itself. ``systemd-analyze verify`` exits 0 even
on unknown keys, so the test requires an empty stderr (reference §5)."""

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "nvrd.service"

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                reason="systemd-analyze is not installed")


def _verify(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # ExecStart must name an executable that exists here: use the nvrd entry point of
    # this environment instead of the installed path.
    nvrd = Path(sys.prefix) / "bin" / "nvrd"
    unit = tmp_path / "nvrd.service"
    unit.write_text(text.replace("/opt/nvrd/venv/bin/nvrd", str(nvrd)))
    return subprocess.run(["systemd-analyze", "verify", str(unit)],
                          capture_output=True, text=True, timeout=60)


def test_unit_verifies_without_any_warning(tmp_path: Path) -> None:
    result = _verify(UNIT.read_text(), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_the_check_catches_a_typo(tmp_path: Path) -> None:
    broken = UNIT.read_text().replace("NoNewPrivileges=yes", "NoNewPrivilegs=yes")
    assert _verify(broken, tmp_path).stderr != ""


def test_unit_has_watchdog_restart_and_no_mount_namespace() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    service, unit = parser["Service"], parser["Unit"]
    assert service["Type"] == "notify"
    assert service["WatchdogSec"] == "30s"
    assert service["Restart"] == "always"
    assert int(unit["StartLimitBurst"]) >= 1 and int(unit["StartLimitIntervalSec"]) > 0
    # these create a private mount namespace, hiding the daemon's disk mounts from the host
    for option in ("ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
                   "ReadWritePaths", "ReadOnlyPaths", "ProtectKernelModules",
                   "ProtectKernelTunables", "TemporaryFileSystem", "PrivateMounts"):
        assert option not in service, option
