"""Console commands: how they are declared, found, completed, explained and run.

A command is a few words (``net set``) with a handler, a one-line summary, a usage line
and the right it needs (the same rights as the web API: a technician's account does on the
console what it may do on the web page). Each module in ``nvrd/console/commands`` lists
its commands in ``COMMANDS``. Handlers get a :class:`Context` and the remaining words;
they print with ``ctx.out``, ask with ``ctx.confirm``/``ctx.ask``, and refuse or fail
with :class:`CommandError`, whose message is what the technician reads.
"""

from __future__ import annotations

import asyncio
import shlex
import zoneinfo
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from nvrd.accounts.model import User
    from nvrd.app import Application
    from nvrd.console.presence import Presence

__all__ = ["Command", "CommandError", "Context", "Registry", "UsageError", "table"]

T = TypeVar("T")
Handler = Callable[["Context", list[str]], Coroutine[Any, Any, None]]


class CommandError(Exception):
    """A refusal or a failure, in words for the technician (printed as ``error: ...``)."""


class UsageError(CommandError):
    """The words did not fit the command: the usage line is printed with it."""


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    """The words typed, e.g. ``"net set"``."""
    handler: Handler
    summary: str
    usage: str = ""
    """Arguments after the name, e.g. ``"IFACE ADDRESS/PREFIX [gw GATEWAY]"``."""
    right: str | None = None
    """The account right needed (``nvrd.accounts.rights.SystemRight`` values); None: any
    logged-in user."""
    aliases: tuple[str, ...] = ()
    """Other spellings of the whole name (``"st"`` for ``"status"``)."""
    details: str = ""
    """More help, shown by ``help NAME``."""

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.name.split())


@dataclass
class Context:
    """What a handler works with: the daemon, the logged-in user, the terminal."""

    daemon: Application
    user: User | None
    out: Callable[[str], None]
    """Print text followed by a line end."""
    ask: Callable[..., Awaitable[str]]
    """``await ctx.ask("New password: ", secret=True)``: a line from the technician."""
    audit_sink: Callable[..., None]
    line: str = ""
    """The command line as typed."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Per-session state commands keep between calls (e.g. a pending network change)."""
    presence: Presence | None = None
    """Proof that someone is at the box (the reset button), for the password reset."""

    async def confirm(self, what: str, word: str = "yes") -> bool:
        """Ask for ``word`` typed in full; anything else (or Ctrl-C) is no. Destructive
        commands use a word that names the target (``format bay 2``: type ``bay2``)."""
        try:
            answer = await self.ask(f"{what}\nType '{word}' to go on, anything else to "
                                    "cancel: ")
        except Exception:
            answer = ""
        if answer.strip() != word:
            self.out("cancelled: nothing was changed")
            return False
        return True

    def audit(self, action: str, *, type: str = "system", result: str = "ok",
              details: str = "") -> None:
        """Record in the audit log with the console as source and this user."""
        self.audit_sink(type, action, result=result, details=details)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The box's time zone (``system.timezone``) for times shown to people; UTC when
        the name cannot be loaded (a missing tzdata must not break a command)."""
        try:
            return zoneinfo.ZoneInfo(self.daemon.config.system.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return zoneinfo.ZoneInfo("UTC")

    @property
    def username(self) -> str:
        return self.user.name if self.user is not None else ""

    def service(self, name: str) -> Any:
        """A daemon service by its attribute name (``"storage"``), or a clear error when it
        is not running — the console keeps working while a service is down."""
        service = getattr(self.daemon, name, None)
        if service is None:
            raise CommandError(f"the {name} service is not running")
        return service

    async def blocking(self, function: Callable[..., T], *args: Any) -> T:
        """Run blocking work (subprocess, SQLite, file I/O) off the event loop."""
        return await asyncio.to_thread(function, *args)


class Registry:
    def __init__(self, commands: Iterable[Command]) -> None:
        self.commands: list[Command] = []
        self._by_words: dict[tuple[str, ...], Command] = {}
        for command in commands:
            self.add(command)

    def add(self, command: Command) -> None:
        for spelling in (command.name, *command.aliases):
            words = tuple(spelling.split())
            if words in self._by_words:
                raise ValueError(f"console command {spelling!r} declared twice")
            self._by_words[words] = command
        self.commands.append(command)

    def find(self, words: Sequence[str]) -> tuple[Command | None, list[str]]:
        """The command named by the longest leading run of ``words``, and the rest."""
        lowered = [w.lower() for w in words]
        for size in range(min(len(words), 3), 0, -1):
            command = self._by_words.get(tuple(lowered[:size]))
            if command is not None:
                return command, list(words[size:])
        return None, list(words)

    def group(self, word: str) -> list[Command]:
        """The commands whose name starts with ``word`` (``net`` → net show, net set...)."""
        return [c for c in self.commands if c.words[0] == word.lower() and len(c.words) > 1]

    def complete(self, text: str) -> list[str]:
        """Words that may follow ``text`` (the part of the line before the cursor)."""
        try:
            words = shlex.split(text)
        except ValueError:
            return []
        if text.endswith(" ") or not words:
            done, partial = words, ""
        else:
            done, partial = words[:-1], words[-1]
        names = [c.words for c in self.commands] + [("help",), ("exit",), ("logout",)]
        options = {w[len(done)] for w in names
                   if len(w) > len(done) and tuple(x.lower() for x in done) == w[:len(done)]}
        return sorted(o for o in options if o.startswith(partial.lower()))


def split_line(line: str) -> list[str]:
    """Words as a shell splits them (quotes keep spaces); a lone quote is an error."""
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise CommandError(f"cannot read that line: {exc}") from None


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain-text table, columns as wide as their widest cell."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r]
                                           for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             .rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
