"""A stand-in for systemd's side of the notify protocol: a datagram socket that
collects what the daemon sends, for tests to wait on."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path


class NotifyListener:
    def __init__(self, directory: Path, abstract: bool = False) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"nvrd-test-{os.getpid()}-{id(self)}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            path = directory / "notify.sock"
            self.sock.bind(str(path))
            self.address = str(path)
        self.messages: list[str] = []

    def receive(self, timeout: float) -> str | None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except (TimeoutError, BlockingIOError):  # timeout 0 makes the socket non-blocking
            return None
        message = data.decode()
        self.messages.append(message)
        return message

    def wait_for(self, line: str, timeout: float) -> list[str]:
        """Receive until a message containing ``line`` arrives; return all received on
        the way (including it). Raises AssertionError at the deadline."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while (remaining := deadline - time.monotonic()) > 0:
            message = self.receive(remaining)
            if message is None:
                break
            seen.append(message)
            if line in message.split("\n"):
                return seen
        raise AssertionError(f"no {line!r} within {timeout} s; got {seen!r}")

    def close(self) -> None:
        self.sock.close()
