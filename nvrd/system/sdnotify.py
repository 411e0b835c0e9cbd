"""systemd's notify protocol, without the systemd Python package.

The protocol is one datagram per state change to the AF_UNIX socket named by
``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace). When the
variable is unset (run by hand, in tests without a harness) every call is a no-op,
so callers never need to ask whether they run under systemd.
"""

from __future__ import annotations

import logging
import os
import socket

logger = logging.getLogger(__name__)


class SdNotifier:
    """Sends ``READY=1``, ``STATUS=...``, ``WATCHDOG=1``, ``STOPPING=1`` to systemd."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]
        self._address = address
        self._socket: socket.socket | None = None
        self._watchdog_usec = _watchdog_usec_for_this_process(env)

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    @property
    def watchdog_interval_seconds(self) -> float | None:
        """How often to ping: half of ``WatchdogSec=``, as systemd recommends; None if off."""
        if self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 2e6

    def notify(self, *states: str) -> bool:
        """Send the given ``KEY=value`` lines in one datagram. Never raises: a lost
        notification must not take the daemon down; systemd's timeouts catch the rest."""
        if not self._address:
            return False
        message = "\n".join(states).encode()
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX,
                                             socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto(message, self._address)
        except OSError as exc:
            logger.warning("could not notify systemd at %r: %s", self._address, exc)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={status}")

    def reloading(self) -> bool:
        return self.notify("RELOADING=1", "STATUS=reloading configuration")

    def status(self, status: str) -> bool:
        return self.notify(f"STATUS={status}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1", "STATUS=stopping")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _watchdog_usec_for_this_process(env: dict[str, str] | os._Environ[str]) -> int | None:
    """``WATCHDOG_USEC`` applies to us only if ``WATCHDOG_PID`` is unset or is our pid
    (a child started by the daemon inherits the variables but must not ping)."""
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        logger.warning("ignoring malformed WATCHDOG_USEC=%r", usec)
        return None
    return value if value > 0 else None
