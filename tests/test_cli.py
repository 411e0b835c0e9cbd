import subprocess
import sys
from pathlib import Path

from nvrd.paths import shipped_config_dir


def nvrd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nvrd", *args], capture_output=True,
                          text=True, timeout=60)


def test_check_config_accepts_the_factory_configuration() -> None:
    result = nvrd("check-config", str(shipped_config_dir() / "nvrd.toml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK")


def test_check_config_names_the_field_and_the_value(tmp_path: Path) -> None:
    bad = tmp_path / "nvrd.toml"
    bad.write_text('[[cameras]]\nchannel = 3\nmain = { url = "http://10.0.0.7/live" }\n')
    result = nvrd("check-config", str(bad))
    assert result.returncode == 1
    assert "cameras[0].main.url" in result.stderr
    assert "http://10.0.0.7/live" in result.stderr
    assert "rtsp" in result.stderr  # what is allowed


def test_check_config_reports_toml_syntax_with_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "nvrd.toml"
    bad.write_text('[web]\nport = 8443\nhost = "0.0.0.0\n')
    result = nvrd("check-config", str(bad))
    assert result.returncode == 1
    assert "line 3" in result.stderr
