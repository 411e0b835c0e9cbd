"""The service contract every part of the daemon follows.

The application (``nvrd.app``) starts services in dependency order and stops them in
reverse; it asks each for its health before every watchdog ping. Services talk to each
other through small interfaces handed to their constructors, never by reaching into
each other's state.
"""

from __future__ import annotations

import abc
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
