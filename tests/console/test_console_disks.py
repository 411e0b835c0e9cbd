"""The console's disk commands over the real console pty of the real daemon, with the
simulated board's bays on real loop devices (root): a blank disk is listed, ``disk
prepare`` is refused without the typed word (nothing changes) and makes a recording
volume with it; ``disk unmount`` asks when recording would move, then lets the disk go,
and ``disk mount`` takes it back.

The bays sit on loop97-100 (a copy of the sim profile), clear of the sim profile's
57-60 that other daemon tests use, the HAL tests' 91/92, the bay tests' 93/94 and the
sim board test's 95/96.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hal.disks import read_mounts
from hal.sim.disks import sim_unavailable_reason
from nvrd.app import Application
from nvrd.paths import shipped_config_dir
from nvrd.storage.bays import BayStatus
from nvrd.storage.volume import IDENTITY_FILE
from nvrd.system.auditlog import AuditRecord
from tests.console.harness import PROMPT, ConsoleLine, console_daemon

pytestmark = pytest.mark.root

LOOPS = {57: 97, 58: 98, 59: 99, 60: 100}
SIZE_MIB = 128


def profile_on_test_loops(directory: Path) -> Path:
    """A directory holding the sim profile with its bays moved to loop97-100."""
    directory.mkdir()
    text = (shipped_config_dir() / "boards" / "sim.toml").read_text()
    for old, new in LOOPS.items():
        text = text.replace(f'"/devices/virtual/block/loop{old}"',
                            f'"/devices/virtual/block/loop{new}"')
    assert all(f"loop{new}" in text for new in LOOPS.values())
    (directory / "sim.toml").write_text(text)
    return directory


@dataclass
class Box:
    app: Application
    line: ConsoleLine

    def bay(self, number: int) -> BayStatus:
        assert self.app.bays is not None
        return next(b for b in self.app.bays.snapshot() if b.bay == number)

    async def wait(self, predicate: Callable[[], bool], what: str, timeout: float = 30.0
                   ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self.app.bays is not None
            assert time.monotonic() < deadline, \
                f"timed out waiting for {what}: {self.app.bays.snapshot()}"
            await asyncio.sleep(0.05)

    def volume_ready(self, name: str) -> bool:
        assert self.app.storage is not None
        return any(v.name == name and v.state == "ready" for v in self.app.storage.snapshot())

    async def insert(self, bay: int, serial: str) -> None:
        assert self.app.hardware is not None and self.app.hardware.sim is not None
        await self.app.hardware.sim.disks.insert(bay, SIZE_MIB, serial=serial)

    async def audit(self, action: str, results: set[str]) -> list[AuditRecord]:
        """The console's audit rows of ``action`` once all ``results`` are there (the log
        is written by its own thread)."""
        assert self.app.audit is not None
        audit = self.app.audit
        deadline = time.monotonic() + 10
        while True:
            rows = [r for r in await asyncio.to_thread(audit.query, type="storage",
                                                       limit=1000)
                    if r.action == action and r.source == "console"]
            if results <= {r.result for r in rows}:
                return rows
            assert time.monotonic() < deadline, f"audit rows of {action!r}: {rows}"
            await asyncio.sleep(0.05)


def mounted(path: str | None) -> bool:
    return path is not None and any(m.mount_point == path for m in read_mounts())


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    reason = sim_unavailable_reason() or (None if shutil.which("mkfs.ext4")
                                          else "no mkfs.ext4")
    if reason:
        pytest.skip(reason)
    boards = profile_on_test_loops(tmp_path / "test-boards")
    (tmp_path / "data").mkdir()
    async with console_daemon(tmp_path / "data", board_dirs=[
            boards, shipped_config_dir() / "boards"]) as (app, line):
        assert app.hardware is not None and app.hardware.sim is not None
        assert app.hardware.sim.disks is not None, app.hardware.sim.disks_unavailable
        await line.login()
        yield Box(app, line)


async def test_prepare_needs_the_typed_word_then_makes_a_recording_volume(box: Box) -> None:
    await box.insert(1, "CONSOLE-A")
    await box.wait(lambda: box.bay(1).state == "blank", "bay 1 blank")

    out = await box.line.run("disk list")
    assert re.search(r"^1\s+blank\s+/dev/loop97\s+134\.2 MB", out, re.M), out
    assert re.search(r"^2\s+empty\s*$", out, re.M), out
    assert "bay 1: no filesystem: prepare the disk" in out
    assert "recording to: nothing" in out
    assert re.search(r"^1\s+blank\s", await box.line.run("disks"), re.M)  # the alias

    # refused: a wrong word (even the other bay's) changes nothing
    for answer in ("yes", "bay2", ""):
        await box.line.send("disk prepare 1")
        await box.line.expect(r"This ERASES everything on the disk in bay 1:")
        await box.line.expect(r"disk\s+134\.2 MB, /dev/loop97")
        await box.line.expect(r"recordings\s+none")
        await box.line.expect(r"Type 'bay1' to go on")
        await box.line.send(answer)
        await box.line.expect("cancelled: nothing was changed")
        await box.line.expect(PROMPT)
        status = box.bay(1)
        assert (status.state, status.filesystem, status.mount_point) == ("blank", None, None)
    await box.audit("disk in bay 1 prepare (ext4)", {"rejected"})

    await box.line.send("disk prepare bay1")
    await box.line.expect("Type 'bay1' to go on")
    await box.line.send("bay1")
    await box.line.expect(r"preparing bay 1: .*formatting /dev/loop97 as ext4")
    await box.line.expect(r"bay 1: preparing")
    await box.line.expect(r"done: bay 1 is recording, mounted at (\S+)", timeout=120)
    await box.line.expect(PROMPT)
    status = box.bay(1)
    assert status.state == "recording" and status.filesystem == "ext4"
    assert status.mount_point is not None and mounted(status.mount_point)
    assert (Path(status.mount_point) / IDENTITY_FILE).is_file()
    await box.wait(lambda: box.volume_ready("bay1"), "volume bay1 ready")
    rows = await box.audit("disk in bay 1 prepare (ext4)", {"rejected", "ok"})
    assert all(r.user == "admin" for r in rows)

    out = await box.line.run("disk list")
    assert re.search(r"^1\s+recording\s+/dev/loop97\s+134\.2 MB\s.*\sbay1\s", out,
                     re.M), out

    # a recording disk: prepare says so, and what it holds
    await box.line.send("disk prepare 1")
    await box.line.expect(r"recordings\s+none")
    await box.line.send("no")
    await box.line.expect("cancelled: nothing was changed")
    await box.line.expect(PROMPT)
    assert box.bay(1).state == "recording"

    out = await box.line.run("disk smart 1 check")
    assert "verdict: ok (healthy)" in out and "temperature" in out, out
    await box.audit("SMART check of bay 1", {"ok"})


async def test_unmount_asks_when_recorded_on_and_mount_takes_the_disk_back(box: Box
                                                                           ) -> None:
    await box.insert(2, "CONSOLE-B")
    await box.wait(lambda: box.bay(2).state == "blank", "bay 2 blank")
    assert box.app.bays is not None and box.app.storage is not None
    await box.app.bays.prepare(2, confirm=box.bay(2).device or "")
    await box.wait(lambda: box.volume_ready("bay2"), "volume bay2 ready")
    writer = box.app.storage.assign(1, "main", 1)  # channel 1 records here now
    assert writer is not None and writer.name == "bay2"
    mount_point = box.bay(2).mount_point

    out = await box.line.run("disk list")
    assert re.search(r"^2\s+recording\s.*\bbay2\b.*\byes$", out, re.M), out
    assert "recording to: bay2 (ch1-main)" in out

    await box.line.send("disk unmount 2")
    await box.line.expect(r"Bay 2 is recorded on now \(ch1-main\): recording STOPS: there "
                          r"is no other volume to record on")
    await box.line.expect("Type 'bay2' to go on")
    await box.line.send("no")
    await box.line.expect("cancelled: nothing was changed")
    await box.line.expect(PROMPT)
    assert box.bay(2).state == "recording" and mounted(mount_point)

    await box.line.send("disk umount 2")  # the alias
    await box.line.expect("Type 'bay2' to go on")
    await box.line.send("bay2")
    await box.line.expect("bay 2 is unmounted: the disk can be pulled now")
    await box.line.expect(PROMPT)
    assert box.bay(2).state == "unmounted" and not mounted(mount_point)
    assert not any(v.name == "bay2" for v in box.app.storage.snapshot())
    out = await box.line.run("disk list")
    assert re.search(r"^2\s+unmounted\s", out, re.M), out
    assert "bay 2: unmounted by hand" in out
    out = await box.line.run("disk unmount 2")
    assert "error: the disk in bay 2 is not mounted (unmounted)" in out

    out = await box.line.run("disk mount 2")
    assert "bay 2 is recording, mounted at" in out, out
    assert mounted(mount_point)
    await box.wait(lambda: box.volume_ready("bay2"), "volume bay2 ready again")
    out = await box.line.run("disk mount 2")
    assert "error: the disk in bay 2 is already mounted" in out
    await box.audit("disk in bay 2 unmount", {"rejected", "ok"})
    await box.audit("disk in bay 2 mount", {"ok", "failed"})

    # nothing recorded on it and no recordings: no question asked
    box.app.storage.release(1, "main")
    out = await box.line.run("disk unmount 2")
    assert "Type 'bay2'" not in out and "bay 2 is unmounted" in out, out


async def test_disk_commands_refuse_what_cannot_be(box: Box) -> None:
    for line, message in (
            ("disk prepare 9", "error: there is no bay 9; this recorder has bays 1, 2, 3, 4"),
            ("disk prepare 3", "error: bay 3 is empty: there is no disk to prepare"),
            ("disk prepare 3 ntfs", "'ntfs' is not a filesystem for recording"),
            ("disk prepare three", "'three' is not a bay number"),
            ("disk smart 3", "error: bay 3 is empty"),
            ("disk mount 4", "error: bay 4 is empty"),
            ("disk unmount 4", "error: bay 4 is empty")):
        out = await box.line.run(line)
        assert message in out, (line, out)
