"""``nvrd check-config FILE``: validate a configuration without starting anything.

For installers editing the file by hand and for provisioning scripts: the same parser and
messages as the daemon, and a one-line summary of what the daemon would run on.
"""

from __future__ import annotations

from pathlib import Path

from nvrd.config.errors import ConfigError
from nvrd.config.loader import parse_raw, read_config_text, validate_raw
from nvrd.config.migrations import file_version
from nvrd.config.schema import CURRENT_SCHEMA_VERSION, NvrConfig


def check_config_file(path: Path) -> tuple[bool, str]:
    """(True, "OK: ...summary") or (False, the error text, one problem per line)."""
    source = str(path)
    try:
        raw = parse_raw(read_config_text(path), source)
        version = file_version(raw, source)
        config = validate_raw(raw, source)
    except ConfigError as error:
        return False, str(error)
    report = f"OK: {source}: {summarize(config)}"
    if version < CURRENT_SCHEMA_VERSION:
        report += (f"\n(schema version {version}: migrated to {CURRENT_SCHEMA_VERSION} when "
                   "loaded; rewritten in the new version at the next save)")
    return True, report


def summarize(config: NvrConfig) -> str:
    """What a configuration sets up, in one line."""
    cameras = config.cameras
    enabled = sum(camera.enabled for camera in cameras)
    alarms = config.alarms
    web = config.web
    parts = [
        f"{_count(len(cameras), 'camera')} ({enabled} enabled)",
        _count(len(config.recording.schedules), "schedule") + " besides 'always'",
        _count(len(config.recording.holidays), "holiday"),
        _count(len(config.storage.volumes), "volume") if config.storage.volumes
        else "bay disks only",
        _count(len(alarms.inputs), "alarm input"),
        _count(len(alarms.outputs), "alarm output"),
        f"board {config.system.board!r}",
        f"web {'https' if web.https else 'http'}://{web.host}:{web.port}",
    ]
    return ", ".join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
