"""The service contract every part of the daemon follows.

The application (``nvrd.app``) starts services in dependency order and stops them in
reverse; it asks each for its health before every watchdog ping. Services talk to each
other through small interfaces handed to their constructors, never by reaching into
each other's state.
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nvrd.config import NvrConfig


@dataclass(frozen=True, slots=True)
class Health:
    """A service's answer to "are you doing your job?".

    Only faults of the daemon itself count (a crashed thread, a stuck writer): a camera
    that is offline is the camera's fault and must not make systemd restart the daemon.
    """

    ok: bool
    detail: str = ""


class Service(abc.ABC):
    """A part of the daemon with a lifecycle.

    Contract:
    - ``start`` returns once the service is running, or raises and leaves nothing running.
    - ``stop`` is idempotent and returns once everything the service writes is closed.
    - ``health`` is cheap and runs on the event loop.
    - ``apply_config`` gets every new valid configuration (SIGHUP, API) and applies the
      parts it owns in place.
    """

    name: str = "service"

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    def health(self) -> Health:
        return Health(ok=True)

    async def apply_config(self, config: NvrConfig) -> None:  # noqa: B027 - optional hook
        """Apply a new configuration; services without settings ignore it."""


async def open_in_own_threads(open_store: Callable[[], object], workers: int, name: str
                              ) -> concurrent.futures.ThreadPoolExecutor:
    """Run ``open_store`` in a new executor of ``workers`` threads and hand that executor
    back, for the service to keep using (SQLite connections belong to their thread).
    If opening raises, the executor is shut down and the error goes to the caller, which
    decides whether the service can run without its store."""
    executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix=name)
    try:
        await asyncio.get_running_loop().run_in_executor(executor, open_store)
    except BaseException:
        executor.shutdown(wait=False)
        raise
    return executor
