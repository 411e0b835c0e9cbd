"""Errors of the disk layer. Each carries the data a caller needs to report or retry."""

from __future__ import annotations

from collections.abc import Sequence


class DiskError(Exception):
    """Base of every error raised by ``hal.disks``."""


class CommandFailed(DiskError):
    """A tool (mkfs, mount, losetup, ...) exited non-zero."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(f"{' '.join(self.argv)} failed ({returncode}): {stderr.strip()}")


class CommandTimeout(DiskError):
    """A tool did not finish in time (a dying disk can hang mkfs, mount or smartctl)."""

    def __init__(self, argv: Sequence[str], timeout_s: float) -> None:
        self.argv = tuple(argv)
        self.timeout_s = timeout_s
        super().__init__(f"{' '.join(self.argv)} did not finish within {timeout_s:g} s")


class PrepareRefused(DiskError):
    """``prepare`` will not touch this device; ``reason`` says why (shown to the operator)."""

    def __init__(self, device: str, reason: str) -> None:
        self.device = device
        self.reason = reason
        super().__init__(f"refusing to prepare {device}: {reason}")


class MountError(DiskError):
    """Mounting or unmounting failed."""

    def __init__(self, device: str, mount_point: str, reason: str) -> None:
        self.device = device
        self.mount_point = mount_point
        self.reason = reason
        super().__init__(f"{device} on {mount_point}: {reason}")
