"""The hardware service on the real board's profile, on a machine without that hardware:
every missing device class is named as a problem in a technician's words, nothing is
fatal, and what does exist (the disks) still runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from hal.board import load_board_profile
from nvrd.config import parse_config
from nvrd.hardware.ptz import PtzUnavailable
from nvrd.hardware.service import HardwareService
from nvrd.paths import shipped_config_dir
from nvrd.system.auditlog import AuditLog


async def test_missing_hardware_is_reported_not_fatal(tmp_path: Path) -> None:
    board = load_board_profile(shipped_config_dir() / "boards" / "nvr8p-tps.toml")
    audit = AuditLog(tmp_path / "audit.db", 1000)
    await audit.start()
    service = HardwareService(parse_config("schema_version = 1", "test"), tmp_path, audit,
                              board)
    try:
        await service.start()
        problems = service.snapshot().problems
        # this machine has no I²C bus, no gpiochip, no LED class, no input devices, no ttyS1
        assert set(problems) >= {"alarm I/O", "PoE", "front panel", "buttons", "PTZ bus"}
        assert "i2c" in problems["PoE"].lower()
        assert "gpiochip" in problems["alarm I/O"].lower()
        assert "ttyS1" in problems["PTZ bus"]
        assert "disks" not in problems, "the disk layer needs no special hardware"
        assert service.health().ok, "missing hardware must not make systemd restart us"
        assert service.ptz is not None
        with pytest.raises(PtzUnavailable, match="RS-485 PTZ bus is not available"):
            await service.ptz.camera(1)
    finally:
        await service.stop()
        await audit.stop()
    rows = audit.query(type="hardware")
    assert {r.action for r in rows} >= {"PoE not available", "alarm I/O not available"}

