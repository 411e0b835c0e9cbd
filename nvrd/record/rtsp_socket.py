"""The TCP socket an RTSP connection runs on, so a stalled stream can be ended from outside.

Why: PyAV can only interrupt a blocking read through its read timeout, and with a read
timeout set its interrupt callback takes the GIL on every socket read. With dozens of
reader threads that contention costs more CPU than demuxing itself (measured by
``tools/bench/demux.py``: 64 streams at 1080p, 0.32 % of a core per stream without a
read timeout, 0.46–0.90 % with one). Instead the readers run without a read timeout and
a watchdog ends a stalled connection by shutting its socket down: FFmpeg's blocked read
returns end-of-stream, the reader closes the container and reconnects.

Finding the socket: a reader takes its endpoint's lock (host and port: a camera's main
and sub stream, or every channel of an encoder) before it connects, and the one
established TCP connection to that endpoint that appears meanwhile is its own
(``/proc/net/tcp*`` give the socket inode, ``/proc/self/fd`` the descriptor). The lock
is held only until that connection shows up — the watchdog polls for it (``Claim``) —
not for the whole open with its second of stream probing, so streams behind one address
connect one after the other within milliseconds. A reader whose socket stays ambiguous
uses PyAV's read timeout.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

_ESTABLISHED = "01"
_locks: dict[tuple[str, int], threading.Lock] = {}
_locks_guard = threading.Lock()


def endpoint_of(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    default = 322 if parts.scheme == "rtsps" else 554
    return parts.hostname or "", parts.port or default


def endpoint_lock(endpoint: tuple[str, int]) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(endpoint, threading.Lock())


def resolve(endpoint: tuple[str, int]) -> set[tuple[str, int]]:
    """The (address, port) pairs a connection to ``endpoint`` may show (blocking DNS)."""
    host, port = endpoint
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return set()
    found = set()
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        found.add((str(address), port))
        if isinstance(address, ipaddress.IPv4Address):  # seen as ::ffff:a.b.c.d on tcp6
            found.add((str(ipaddress.IPv6Address(f"::ffff:{address}")), port))
    return found


def connections_to(remotes: set[tuple[str, int]]) -> set[int]:
    """Inodes of the established TCP connections (any process) to ``remotes``."""
    return {inode for inode, remote in _tcp_table() if remote in remotes}


def _tcp_table() -> Iterator[tuple[int, tuple[str, int]]]:
    for name, width in (("tcp", 8), ("tcp6", 32)):
        try:
            with open(f"/proc/net/{name}") as table:
                lines = table.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _ESTABLISHED:
                continue
            address, port = fields[2].split(":")
            if len(address) != width:
                continue
            yield int(fields[9]), (_address(address), int(port, 16))


def _address(hex_address: str) -> str:
    """/proc/net/tcp* print addresses as 32-bit words in host (little-endian) order."""
    raw = b"".join(bytes.fromhex(hex_address[i:i + 8])[::-1]
                   for i in range(0, len(hex_address), 8))
    return str(ipaddress.ip_address(raw))


def own_socket_fds() -> dict[int, int]:
    """Socket inode -> file descriptor of this process."""
    found = {}
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/self/fd/{name}")
                if target.startswith("socket:["):
                    found[int(target[8:-1])] = int(name)
    return found


@dataclass(frozen=True, slots=True)
class SocketHandle:
    """One connection's socket. The reader that owns it must not close the container
    while ``shutdown`` runs (they share the reader's lock), so the descriptor cannot
    have been reused for another file in between."""

    fd: int
    inode: int

    def shutdown(self) -> bool:
        """End the connection: a blocked read returns end-of-stream. False if the
        descriptor no longer is this socket."""
        try:
            if os.readlink(f"/proc/self/fd/{self.fd}") != f"socket:[{self.inode}]":
                return False
            with socket.socket(fileno=os.dup(self.fd)) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            return False
        return True


def find_new_connection(before: set[int], remotes: set[tuple[str, int]]
                        ) -> SocketHandle | None:
    """This process's one new connection to ``remotes`` since ``before``, or None."""
    new = connections_to(remotes) - before
    if len(new) != 1:
        return None
    inode = new.pop()
    fd = own_socket_fds().get(inode)
    return None if fd is None else SocketHandle(fd, inode)


class Claim:
    """A connection being established under its endpoint's lock: the lock is released
    as soon as the new connection is found (``poll``, from the watchdog) or the open
    ended (``finish``/``abandon``, from the reader), whichever comes first."""

    def __init__(self, lock: threading.Lock, remotes: set[tuple[str, int]]) -> None:
        self._lock = lock
        self._remotes = remotes
        self._before = connections_to(remotes)
        self._mutex = threading.Lock()
        self._done = False
        self.handle: SocketHandle | None = None

    def poll(self) -> None:
        with self._mutex:
            if not self._done:
                self.handle = find_new_connection(self._before, self._remotes)
                if self.handle is not None:
                    self._release()

    def finish(self) -> SocketHandle | None:
        """The open succeeded: the connection (None if it cannot be told apart)."""
        with self._mutex:
            if not self._done:
                self.handle = find_new_connection(self._before, self._remotes)
                self._release()
            return self.handle

    def abandon(self) -> None:
        with self._mutex:
            if not self._done:
                self._release()

    def _release(self) -> None:
        self._done = True
        self._lock.release()
