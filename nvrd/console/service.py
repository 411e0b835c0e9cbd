"""The console service: sessions on the serial port and on the local console socket.

Started right after the hardware (the simulated board makes the console's pty there) and
before everything that records, so a technician gets a login prompt even when a later
service is in trouble; commands reach the other services only when run, and say so when
one is not there.

The serial line is supervised: when it cannot be opened (no such device, unplugged USB
adapter) or goes away, it is opened again every ``REOPEN_S`` seconds, with the reason in
the log once and in the status, never stopping the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from hal.board import BoardProfile
from hal.serial import LineSettings, SerialOpenError, open_serial
from nvrd.accounts.lockout import LockoutTracker
from nvrd.config import NvrConfig
from nvrd.config.schema import ConsoleConfig
from nvrd.console.commands.all import all_commands
from nvrd.console.presence import PRESENCE_BUTTON, Presence
from nvrd.console.registry import Registry
from nvrd.console.session import ConsoleSession
from nvrd.console.terminal import Terminal
from nvrd.console.transports import SerialTransport, StreamTransport, Transport
from nvrd.service import Health, Service

if TYPE_CHECKING:
    from nvrd.app import Application

__all__ = ["ConsoleService", "console_line"]

logger = logging.getLogger(__name__)

REOPEN_S = 5.0
SOCKET_NAME = "console.sock"


def console_line(board: BoardProfile | None, config: ConsoleConfig,
                 sim_device: str | None = None) -> LineSettings | None:
    """The console's serial line: the board profile's port, with nvrd.toml's overrides."""
    port = board.serial_port("console") if board is not None else None
    if port is None or not config.enabled:
        return None
    line = LineSettings.from_port(port, device=sim_device)
    return dataclasses.replace(
        line, rs485_rts_direction=False, baud=config.baud or line.baud,
        data_bits=config.data_bits or line.data_bits, parity=config.parity or line.parity,
        stop_bits=config.stop_bits or line.stop_bits)


class ConsoleService(Service):
    name = "console"

    def __init__(self, daemon: Application, config: NvrConfig, board: BoardProfile | None,
                 socket_path: Path) -> None:
        super().__init__()
        self._daemon = daemon
        self._config = config
        self._board = board
        self.socket_path = socket_path
        security = config.security
        self.logins = LockoutTracker()
        """The console's own failed-login counters and locks (never the web page's)."""
        self.logins.reconfigure(security.lockout_attempts, security.lockout_minutes * 60.0)
        self.registry = Registry(all_commands())
        self.line: LineSettings | None = None
        self.problem: str | None = None
        self._serial_task: asyncio.Task[None] | None = None
        self._server: asyncio.AbstractServer | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self.line = console_line(self._board, self._config.console, self._sim_device())
        if self.line is not None:
            self._serial_task = asyncio.create_task(self._serve_serial(self.line),
                                                    name="console-serial")
        if self._config.console.enabled and self._config.console.socket:
            try:
                await self._serve_socket()
            except OSError as exc:
                logger.warning("console socket %s not available: %s", self.socket_path, exc)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
        tasks = [t for t in (self._serial_task, *self._sessions) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._serial_task = None
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def apply_config(self, config: NvrConfig) -> None:
        old = self._config.console
        self._config = config
        security = config.security
        self.logins.reconfigure(security.lockout_attempts, security.lockout_minutes * 60.0)
        if config.console != old:
            logger.info("console settings changed: restarting the console")
            await self.stop()
            await self.start()

    def health(self) -> Health:
        # a missing console port is the box's problem, never a reason to restart
        return Health(True, self.problem or "")

    # --- sessions --------------------------------------------------------------------------

    def _sim_device(self) -> str | None:
        hardware = self._daemon.hardware
        board = self._board
        if (hardware is None or hardware.sim is None or board is None
                or board.serial.backend != "sim"):
            return None
        try:
            return str(hardware.sim.serial_device("console"))
        except LookupError:
            return None

    def _presence(self) -> Presence:
        hardware = self._daemon.hardware
        if hardware is None:
            return Presence(None, lambda: False)
        return Presence(hardware.listen_to_buttons,
                        lambda: hardware.has_button(PRESENCE_BUTTON))

    async def _serve_serial(self, line: LineSettings) -> None:
        reported = None
        while True:
            try:
                port = await asyncio.to_thread(open_serial, line)
            except SerialOpenError as exc:
                if str(exc) != reported:
                    logger.error("technicians' console unavailable, retrying every %g s: %s",
                                 REOPEN_S, exc)
                    reported = str(exc)
                self.problem = str(exc)
                await asyncio.sleep(REOPEN_S)
                continue
            reported, self.problem = None, None
            logger.info("technicians' console on %s", line.describe())
            await self._session(SerialTransport(port, line.describe()))
            await asyncio.sleep(REOPEN_S)  # the line went away: a pty's far end closed

    async def _serve_socket(self) -> None:
        self.socket_path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(self.socket_path))
            os.chmod(self.socket_path, 0o600)  # the console is root's: no one else connects
            listener.listen(4)
        except OSError:
            listener.close()
            raise
        self._server = await asyncio.start_unix_server(self._on_connection, sock=listener)

    async def _on_connection(self, reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            await self._session(StreamTransport(reader, writer))
        finally:
            self._sessions.discard(task)

    async def _session(self, transport: Transport) -> None:
        terminal = Terminal(transport, completer=self.registry.complete)
        session = ConsoleSession(terminal, self._daemon, self.registry, self.logins,
                                 self._presence())
        try:
            await session.run()
        except Exception:
            logger.exception("console session on %s ended by an error", transport.name)
        finally:
            await terminal.close()
