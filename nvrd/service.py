"""The service contract every part of the daemon follows.

The application (``nvrd.app``) starts services in dependency order and stops them in
reverse; it asks each for its health before every watchdog ping. Services talk to each
other through small interfaces handed to their constructors, never by reaching into
each other's state.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nvrd.config import NvrConfig

logger = logging.getLogger(__name__)


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

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    def health(self) -> Health:
        return Health(ok=True)

    async def apply_config(self, config: NvrConfig) -> None:  # noqa: B027 - optional hook
        """Apply a new configuration; services without settings ignore it."""

    def _create_task(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Spawn a task the service owns: a reference is kept until it ends (so it is not
        garbage-collected) and ``_cancel_tasks`` ends them all on stop. A task that dies
        with an exception is logged at once rather than when it is collected."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s: task %s failed", self.name, task.get_name(),
                         exc_info=task.exception())

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
