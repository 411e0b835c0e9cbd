"""What the camera tests that drive the daemon's API share: an administrator for the
header authenticator, and waiting for a condition with a guard against hanging."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from nvrd.accounts.rights import ChannelRight, SystemRight
from nvrd.config.schema import MAX_CHANNELS

ADMIN = "admin"
ADMIN_RIGHTS = frozenset(
    [str(r) for r in SystemRight]
    + [f"{r}:{c}" for r in ChannelRight for c in range(1, MAX_CHANNELS + 1)])
HANG_GUARD_S = 120.0
"""Only so that a broken test fails instead of hanging; never a measure."""
POLL_S = 0.2


async def poll_until(what: str, condition: Callable[[], Awaitable[bool] | bool]) -> None:
    """Wait until ``condition`` (plain or async) holds; ``what`` names it for the reader
    of a timeout's traceback."""
    async with asyncio.timeout(HANG_GUARD_S):
        while True:
            result = condition()
            if await result if not isinstance(result, bool) else result:
                return
            await asyncio.sleep(POLL_S)
    del what
