"""The simulated board's control socket: how tests, the demo and ``tools/simctl`` reach
into the box while the daemon runs (press a button, close an alarm contact, plug a camera
into a PoE port, insert a disk, read the relays and lamps).

Why a socket rather than calls into the daemon's objects: the daemon runs as its own
process under the demo and in the end-to-end tests, exactly as on a box; the simulated
hardware lives in that process (it must: the real drivers read its fds and registers),
so the outside world needs a door. One JSON object per line each way, over a Unix
socket only the daemon's user can open (mode 0600) — it is a development tool, and on a
real box there is no simulated board and so no socket.

Request: ``{"cmd": "alarm set", "args": {"input": 1, "active": true}}``.
Reply: ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "what went wrong"}``.
``{"cmd": "help"}`` lists the commands with their parameters, which is how ``simctl``
maps positional words to names.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024

Handler = Callable[..., Any | Awaitable[Any]]


class CommandError(Exception):
    """A request the board cannot carry out; the message goes back to the caller."""


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    """Words separated by one space: ``"poe plug"``."""
    handler: Handler
    """Called with the request's arguments as keywords; may be a coroutine function."""
    params: tuple[str, ...]
    """Parameter names in the order ``simctl`` takes them as positional words."""
    help: str


def command(name: str, handler: Handler, help: str) -> Command:
    """A command whose parameters are the handler's own (so they cannot drift apart)."""
    params = tuple(p for p in inspect.signature(handler).parameters)
    return Command(name, handler, params, help)


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums, tuples and paths as plain JSON values."""
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value))
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return value.hex(" ")
    return value


class ControlServer:
    """Serves ``commands`` on a Unix socket at ``path``."""

    def __init__(self, path: Path, commands: list[Command]) -> None:
        self.path = path
        self._commands = {c.name: c for c in commands}
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by a daemon that was killed
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=MAX_REQUEST_BYTES)
        finally:
            os.umask(old_umask)
        logger.info("simulated board: control socket %s", self.path)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # longer than the limit
                    reply: dict[str, Any] = {"ok": False, "error": "request too long"}
                    writer.write(json.dumps(reply).encode() + b"\n")
                    break
                if not line:
                    break
                reply = await self.handle(line)
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def handle(self, line: bytes) -> dict[str, Any]:
        """One request line → one reply object (never raises)."""
        try:
            request = json.loads(line)
            if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
                raise CommandError('a request is {"cmd": NAME, "args": {...}}')
            args = request.get("args") or {}
            if not isinstance(args, dict):
                raise CommandError("args must be an object")
            return {"ok": True, "result": to_jsonable(await self._run(request["cmd"], args))}
        except (CommandError, ValueError, KeyError, TypeError, OSError) as exc:
            return {"ok": False, "error": str(exc) or type(exc).__name__}
        except Exception as exc:  # a bug in a handler must not kill the socket
            logger.exception("simulated board: command failed")
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    async def _run(self, name: str, args: dict[str, Any]) -> Any:
        if name == "help":
            return [{"name": c.name, "params": list(c.params), "help": c.help}
                    for c in self._commands.values()]
        found = self._commands.get(name)
        if found is None:
            raise CommandError(f"no command {name!r}; 'help' lists them")
        unknown = sorted(set(args) - set(found.params))
        if unknown:
            raise CommandError(f"{name}: unknown argument(s) {', '.join(unknown)}; it takes "
                               f"{', '.join(found.params) or 'none'}")
        try:
            inspect.signature(found.handler).bind(**args)
        except TypeError as exc:
            raise CommandError(f"{name}: {exc}") from None
        result = found.handler(**args)
        if inspect.isawaitable(result):
            result = await result
        return result
