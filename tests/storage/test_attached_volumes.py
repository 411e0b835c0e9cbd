"""Volumes attached at run time (bay disks the daemon mounted) beside configured ones."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from nvrd.config.loader import parse_config
from nvrd.config.schema import VolumeConfig
from nvrd.storage.service import StorageService
from nvrd.storage.volume import prepare_volume
from nvrd.system.auditlog import AuditLog

CONFIG = """
schema_version = 1
[[storage.volumes]]
path = "configured"
"""


async def _wait(predicate: Callable[[], bool], what: str) -> None:
    for _ in range(100):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_an_attached_volume_records_until_detached_and_survives_a_reload(
        tmp_path: Path) -> None:
    prepare_volume(tmp_path / "configured", "configured")
    bay = tmp_path / "bays" / "bay2"
    prepare_volume(bay, "bay2")
    config = parse_config(CONFIG, "test")
    audit = AuditLog(tmp_path / "audit.db", 100)
    await audit.start()
    storage = StorageService(config, tmp_path, audit)
    changes: list[None] = []
    storage.on_change(lambda: changes.append(None))
    await storage.start()
    try:
        await _wait(storage.any_writable, "the configured volume writable")
        await storage.attach(VolumeConfig(path=str(bay), name="bay2", group=2))
        states = {v.name: v.state for v in storage.snapshot()}
        assert set(states) == {"configured", "bay2"}
        await _wait(lambda: all(v.state == "ready" for v in storage.snapshot()), "ready")
        assert changes, "the recorder must hear that a volume came"
        # group 2 channels go to the bay disk
        writer = storage.assign(5, "main", 2)
        assert writer is not None and writer.name == "bay2"

        await storage.apply_config(parse_config(CONFIG, "test"))
        assert {v.name for v in storage.snapshot()} == {"configured", "bay2"}

        await storage.detach(bay)
        assert [v.name for v in storage.snapshot()] == ["configured"]
        moved = storage.assign(5, "main", 2)
        assert moved is not None and moved.name == "configured"
    finally:
        await storage.stop()
        await audit.stop()
