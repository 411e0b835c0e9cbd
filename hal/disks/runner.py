"""Running tools (smartctl, blkid, mkfs, mount) without blocking the event loop.

Every disk tool runs through a ``CommandRunner`` so tests and the simulator can answer
for it (recorded smartctl JSON, an argv log) while the real code runs. The real runner
uses ``asyncio.create_subprocess_exec``: the loop only waits on the child's pipes.

Timeouts: a command on a dying disk can sit in uninterruptible sleep (D state). After the
timeout the child is killed and reaped for at most ``REAP_GRACE_S``; if it cannot be
reaped (still in D state) the runner gives up on it rather than hang its caller, and
asyncio's child watcher reaps it whenever the kernel lets go.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from hal.disks.errors import CommandFailed, CommandTimeout

__all__ = ["REAP_GRACE_S", "CommandResult", "CommandRunner", "SubprocessRunner", "checked"]

REAP_GRACE_S = 2.0
"""How long a killed child may take to exit before the runner stops waiting for it."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class CommandRunner(Protocol):
    """Runs ``argv`` and returns its result; never raises for a non-zero exit.

    Raises ``CommandTimeout`` when the command outlives ``timeout_s`` and
    ``FileNotFoundError`` when the program does not exist.
    """

    async def __call__(self, argv: Sequence[str], *, timeout_s: float) -> CommandResult: ...


class SubprocessRunner:
    """The real runner. ``env`` overrides are merged into the environment (``LC_ALL=C``
    by default, so tool messages are parseable)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = {**os.environ, "LC_ALL": "C", **(env or {})}

    async def __call__(self, argv: Sequence[str], *, timeout_s: float) -> CommandResult:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=self._env)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), REAP_GRACE_S)
            raise CommandTimeout(argv, timeout_s) from None
        return CommandResult(tuple(argv), proc.returncode or 0,
                             out.decode(errors="replace"), err.decode(errors="replace"))


async def checked(runner: CommandRunner, argv: Sequence[str], *, timeout_s: float
                  ) -> CommandResult:
    """Run and raise ``CommandFailed`` on a non-zero exit (for tools where 0 means done)."""
    result = await runner(argv, timeout_s=timeout_s)
    if result.returncode != 0:
        raise CommandFailed(argv, result.returncode, result.stderr or result.stdout)
    return result
