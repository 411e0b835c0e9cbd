"""A technician at the serial port: the real daemon on the simulated board, and the other
end of its console pty.

The daemon opens the pty's slave as its console UART (the board profile's ``console``
port, made by ``hal/sim``); the test reads and writes the master, byte for byte what a
terminal on a serial cable would see. Output is decoded, VT100 escapes and carriage
returns removed, so tests match plain text.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from nvrd.app import Application
from nvrd.system.auditlog import AuditRecord
from tests.daemon_harness import config_toml, free_port, running_app

ADMIN_PASSWORD = "Kp7-Wzq4-Lm9"
PROMPT = re.compile(r"^\S+@\S+> ", re.MULTILINE)
LOGIN_PROMPT = re.compile(r"^login: ", re.MULTILINE)
_ESCAPES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\x1b[^\[]|[\r\x07]")
DEFAULT_TIMEOUT_S = 30.0
"""Only so that a broken test fails instead of hanging; never a measure."""


class ConsoleLine:
    """The technician's end of the console line (a pty master, non-blocking), and what the
    console wrote to the audit log meanwhile (``audited``)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.audit: list[AuditRecord] = []
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.buffer = ""
        """Output not yet consumed by ``expect``."""
        self.transcript = ""
        """Everything the console printed, for failure messages."""

    async def send(self, text: str) -> None:
        """Type ``text`` and Enter."""
        await self.send_bytes(text.encode() + b"\r")

    async def send_bytes(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except BlockingIOError:
                await asyncio.sleep(0.01)  # the pty's buffer is full: the daemon reads it
                continue
            view = view[written:]

    async def expect(self, pattern: str | re.Pattern[str],
                     timeout: float = DEFAULT_TIMEOUT_S) -> re.Match[str]:
        """Wait until the output not yet consumed matches; consume it up to the match's end."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        try:
            async with asyncio.timeout(timeout):
                while True:
                    match = regex.search(self.buffer)
                    if match is not None:
                        self.buffer = self.buffer[match.end():]
                        return match
                    await self._read()
        except TimeoutError:
            raise AssertionError(f"console never printed {regex.pattern!r}; unconsumed "
                                 f"output:\n{self.buffer[-3000:]}") from None

    async def login(self, user: str = "admin", password: str = ADMIN_PASSWORD) -> None:
        await self.expect(LOGIN_PROMPT)
        await self.send(user)
        await self.expect("Password: ")
        await self.send(password)
        await self.expect(f"Logged in as {user}")
        await self.expect(PROMPT)

    async def run(self, command: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
        """Type a command; its output (without the echoed command line) up to the next
        prompt."""
        await self.send(command)
        before = (await self.expect(re.compile(r"(?s)(.*?)^\S+@\S+> ", re.MULTILINE),
                                    timeout)).group(1)
        first, _, rest = before.partition("\n")
        assert first.strip() == command.strip(), f"echo {first!r} is not {command!r}"
        return rest

    async def quiet(self, seconds: float = 1.0) -> None:
        """Read until the console has printed nothing for ``seconds``."""
        while True:
            try:
                await asyncio.wait_for(self._read(), seconds)
            except TimeoutError:
                return

    def audited(self) -> list[tuple[str, str, str]]:
        """(action, result, details) of every audit entry with source ``console``."""
        return [(r.action, r.result, r.details) for r in self.audit if r.source == "console"]

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(self.fd, readable)
        try:
            await ready
        finally:
            loop.remove_reader(self.fd)
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        text = _ESCAPES.sub("", self._decoder.decode(data))
        self.buffer += text
        self.transcript += text


def console_fd(app: Application) -> int:
    """The master side of the simulated board's console pty."""
    assert app.hardware is not None and app.hardware.sim is not None
    return int(app.hardware.sim.ptys["console"].master_fd)


async def initialize_admin(app: Application, password: str = ADMIN_PASSWORD) -> None:
    accounts = app.accounts
    assert accounts is not None and accounts.store is not None
    await asyncio.to_thread(accounts.store.initialize, password)
    accounts.authenticator.mark_initialized()


@contextlib.asynccontextmanager
async def console_daemon(tmp_path: Path, extra_config: str = "", *, initialize: bool = True,
                         config: str | None = None, **app_options: Any
                         ) -> AsyncIterator[tuple[Application, ConsoleLine]]:
    """The daemon (``running_app``) on the simulated board with the admin initialized
    (``ADMIN_PASSWORD``) and a :class:`ConsoleLine` on its console; ``config`` replaces the
    whole live configuration file (a corrupt one, for recovery)."""
    text = config if config is not None else config_toml(free_port(), extra=extra_config)
    async with running_app(tmp_path, text, **app_options) as (app, _run):
        if initialize:
            await initialize_admin(app)
        line = ConsoleLine(console_fd(app))
        assert app.audit is not None
        app.audit.add_listener(line.audit.append)
        yield app, line
