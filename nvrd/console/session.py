"""One technician's session: banner, login, commands, logout — and recovery before login.

Rules the session keeps:

- **Login** uses the device accounts (the same store, hashing and password policy as the
  web page) but the console's own :class:`~nvrd.accounts.lockout.LockoutTracker`
  (``ConsoleService.logins``): failures on the web page never lock the technician out at the
  serial port, and guesses at the serial port do not lock web users. The console line
  itself is counted as one source, so trying many user names is limited too.
- **Idle logout** after ``security.idle_logout_minutes`` without a key (0: never).
- **Every command line is audited** with source ``console`` and its result (ok, failed,
  refused); commands that change something add their own entry saying what changed.
- **Nothing a command does can end the session**: an unexpected exception is logged with
  its traceback and printed in one line; ``Ctrl-C`` cancels the running command.
- **Recovery** (type ``recovery`` at the login prompt) needs no login, and offers only
  what physical access to the box already gives: restoring a configuration file that does
  not load (last-known-good or factory) and resetting the admin password with the reset
  button's proof of presence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import nvrd
from nvrd.accounts.errors import AccountError, AuthenticationFailed
from nvrd.accounts.lockout import LockoutTracker
from nvrd.console.commands.accounts import read_new_password
from nvrd.console.presence import Presence
from nvrd.console.registry import (
    Command,
    CommandError,
    Context,
    Registry,
    UsageError,
    split_line,
)
from nvrd.console.terminal import (
    EndOfSession,
    Hangup,
    IdleTimeout,
    LineInterrupted,
    Terminal,
)

if TYPE_CHECKING:
    from nvrd.accounts.model import User
    from nvrd.app import Application

__all__ = ["SOURCE", "ConsoleSession", "config_problem"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

SOURCE = "console"
LINE_KEY = "serial-console"
"""The console line as a lockout "source": every failure here counts against it."""
PASSWORD_TIMEOUT_S = 60.0
FAILED_LOGIN_DELAY_S = 1.0
"""The classic pause after a wrong password: guessing at the serial port stays slow."""
LOGIN_FAILED = "Login incorrect"
LOGOUT_WORDS = ("exit", "logout", "quit")


class ConsoleSession:
    def __init__(self, terminal: Terminal, daemon: Application, registry: Registry,
                 logins: LockoutTracker, presence: Presence) -> None:
        self.terminal = terminal
        self.daemon = daemon
        self.registry = registry
        self.logins = logins
        self.presence = presence
        self.user: User | None = None
        self._extra: dict[str, object] = {}
        self._running: asyncio.Task[None] | None = None
        terminal.on_interrupt = self._interrupt

    # --- the session -------------------------------------------------------------------

    async def run(self) -> None:
        """Until the line goes away; never raises for anything typed."""
        with contextlib.suppress(Hangup):
            self._banner()
            while True:
                try:
                    user = await self._login()
                except (LineInterrupted, EndOfSession):
                    self.terminal.line()
                    continue
                if user is not None:
                    await self._command_loop(user)

    def _banner(self) -> None:
        daemon = self.daemon
        out = self.terminal.line
        out()
        out(f"nvrd {nvrd.__version__} on {_safe(lambda: daemon.config.system.name, 'NVR')}"
            f" ({_safe(lambda: daemon.status().board, 'board unknown')})")
        out(f"Technicians' console on {self.terminal.transport.name}.")
        problem = config_problem(daemon)
        if problem:
            out()
            out("!! The configuration file was rejected; the recorder runs on the "
                f"{problem[0]} configuration.")
            out("!! Type 'recovery' at the login prompt to see why and repair it.")
        out()

    async def _login(self) -> User | None:
        name = (await self.terminal.read_line("login: ")).strip()
        if not name:
            return None
        if name == "recovery":
            await self._recovery()
            return None
        if not await self._initialized():
            return await self._first_password(name)
        locked = self.logins.check(name, LINE_KEY)
        password = await self._read_secret("Password: ")
        if locked is not None:
            # asked anyway, so the prompt does not tell which names exist
            self.terminal.line(f"Console login locked: try again in "
                               f"{_duration(locked.retry_after_seconds)}.")
            self._audit("account", "console login refused", user=name[:64],
                        result="refused", details="locked on the console")
            return None
        try:
            user = await self._authenticate(name, password)
        except AuthenticationFailed as exc:
            events = self.logins.failure(name, LINE_KEY)
            self._audit("account", "console login failed", user=exc.username or name[:64],
                        result="failed", details=f"reason: {exc.reason.value}")
            await asyncio.sleep(FAILED_LOGIN_DELAY_S)
            self.terminal.line(LOGIN_FAILED)
            for event in events:
                self.terminal.line(f"Too many failed logins: the console refuses logins "
                                   f"for {_duration(event.lock_seconds)}.")
                self._audit("account", "console login locked", user=name[:64],
                            result="failed", details=f"{event.failures} failed logins; "
                            f"locked for {_duration(event.lock_seconds)} ({event.kind})")
            return None
        except CommandError as exc:
            self.terminal.line(f"error: {exc}")
            return None
        self.logins.success(user.name, LINE_KEY)
        self._audit("account", "console login", user=user.name)
        return user

    async def _authenticate(self, name: str, password: str) -> User:
        accounts = self.daemon.accounts
        if accounts is None or accounts.store is None:
            raise CommandError("the account store is not open; see 'recovery' and the log")
        return await accounts.authenticator.run_kdf(accounts.store.authenticate, name,
                                                    password)

    async def _initialized(self) -> bool:
        accounts = self.daemon.accounts
        if accounts is None:
            return True  # then login says why it cannot work
        return await accounts.authenticator.initialized()

    async def _first_password(self, name: str) -> User | None:
        """An uninitialized box (no admin yet): the console sets the first password, as the
        web page's first-boot page does."""
        self.terminal.line("This recorder is not initialized: no administrator exists yet.")
        if name != "admin":
            self.terminal.line("Log in as 'admin' to set the administrator's password.")
            return None
        password = await read_new_password(self.terminal.read_line, self.terminal.line,
                                           "admin")
        if password is None:
            return None
        accounts = self.daemon.accounts
        assert accounts is not None and accounts.store is not None
        try:
            user = await accounts.authenticator.run_kdf(accounts.store.initialize, password)
        except AccountError as exc:
            self.terminal.line(f"error: {exc}")
            return None
        accounts.authenticator.mark_initialized()
        self._audit("account", "recorder initialized: administrator password set",
                    user=user.name)
        self.terminal.line("Administrator password set.")
        return user

    async def _read_secret(self, prompt: str) -> str:
        try:
            return await self.terminal.read_line(prompt, secret=True,
                                                 timeout=PASSWORD_TIMEOUT_S)
        except IdleTimeout:
            self.terminal.line()
            return ""

    # --- commands ----------------------------------------------------------------------

    async def _command_loop(self, user: User) -> None:
        self.user = user
        self._extra = {}
        self.terminal.line(f"Logged in as {user.name}. Type 'help' for the commands.")
        try:
            while True:
                idle = self._idle_seconds()
                try:
                    line = await self.terminal.read_line(self._prompt(), timeout=idle)
                except LineInterrupted:
                    continue
                except EndOfSession:
                    line = "logout"
                except IdleTimeout:
                    self.terminal.line()
                    self.terminal.line(f"Logged out after {_duration(idle or 0)} idle.")
                    self._audit("account", "console logout", details="idle")
                    return
                words = line.split()
                if words and words[0].lower() in LOGOUT_WORDS:
                    self._audit("account", "console logout")
                    self.terminal.line("Logged out.")
                    return
                await self.execute(line)
        finally:
            self.user = None

    def _prompt(self) -> str:
        name = _safe(lambda: self.daemon.config.system.name, "nvr")
        return f"{self.user.name if self.user else ''}@{name}> "

    def _idle_seconds(self) -> float | None:
        minutes = _safe(lambda: self.daemon.config.security.idle_logout_minutes, 15)
        return minutes * 60.0 if minutes else None

    async def execute(self, line: str, registry: Registry | None = None) -> None:
        """Run one command line (also the recovery menu's, with its own registry)."""
        registry = registry or self.registry
        try:
            words = split_line(line)
        except CommandError as exc:
            self.terminal.line(f"error: {exc}")
            return
        if not words:
            return
        if words[0].lower() in ("help", "?", "h"):
            self._help(registry, words[1:])
            self._audit("system", "console command", details=_printable(line)[:200])
            return
        command, args = registry.find(words)
        if command is None:
            group = registry.group(words[0])
            if group:
                self._list(group, f"'{words[0]}' needs one of:")
            else:
                self.terminal.line(f"unknown command {words[0][:40]!r}: type 'help'")
            self._audit("system", "console command", result="unknown",
                        details=_printable(line)[:200])
            return
        await self._run(command, args, line)

    async def _run(self, command: Command, args: list[str], line: str) -> None:
        shown = _printable(line)[:200]
        if command.right is not None and not self._may(command.right):
            self.terminal.line(f"error: {command.name} needs the '{command.right}' right, "
                               f"which {self._who()} does not have")
            self._audit("system", "console command", result="refused", details=shown)
            return
        context = Context(daemon=self.daemon, user=self.user, out=self.terminal.line,
                          ask=self.terminal.read_line, audit_sink=self._context_audit,
                          line=line, extra=self._extra, presence=self.presence)
        task = asyncio.get_running_loop().create_task(command.handler(context, args),
                                                      name=f"console {command.name}")
        self._running = task
        result = "ok"
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the session itself is being stopped, not just the command
            self.terminal.line("^C (interrupted)")
            result = "interrupted"
        except UsageError as exc:
            self.terminal.line(f"error: {exc}")
            self.terminal.line(f"usage: {command.name} {command.usage}".rstrip())
            result = "failed"
        except CommandError as exc:
            self.terminal.line(f"error: {exc}")
            result = "failed"
        except Hangup:
            raise
        except Exception as exc:
            logger.exception("console command %r failed", command.name)
            self.terminal.line(f"error: {command.name} failed unexpectedly: "
                               f"{type(exc).__name__}: {exc} (details in the log)")
            result = "failed"
        finally:
            self._running = None
        self._audit("system", "console command", result=result, details=shown)

    def _interrupt(self) -> None:
        if self._running is not None:
            self._running.cancel()

    def _may(self, right: str) -> bool:
        user = self.user
        if user is None:
            return False
        return user.is_admin or right in {str(r) for r in user.rights.system}

    def _who(self) -> str:
        return f"user {self.user.name!r}" if self.user else "nobody logged in"

    def _help(self, registry: Registry, words: list[str]) -> None:
        out = self.terminal.line
        if words:
            command, _ = registry.find(words)
            if command is not None:
                out(f"{command.name} {command.usage}".rstrip())
                out(f"  {command.summary}")
                if command.details:
                    out("  " + command.details.replace("\n", "\n  "))
                if command.aliases:
                    out(f"  also: {', '.join(command.aliases)}")
                if command.right:
                    out(f"  needs the '{command.right}' right")
                return
            group = registry.group(words[0])
            if group:
                self._list(group, f"{words[0]}:")
                return
            out(f"no command {words[0][:40]!r}")
            return
        self._list(registry.commands, "Commands (help NAME for more; Tab completes; "
                   "Ctrl-C stops a running command):")
        out("  exit                         log out (also: logout, quit, Ctrl-D)")

    def _list(self, commands: list[Command], title: str) -> None:
        self.terminal.line(title)
        for command in commands:
            name = f"{command.name} {command.usage}".rstrip()
            aliases = f" (also: {', '.join(command.aliases)})" if command.aliases else ""
            if len(name) > 28:
                self.terminal.line(f"  {name}\n  {'':28} {command.summary}{aliases}")
            else:
                self.terminal.line(f"  {name:28} {command.summary}{aliases}")

    # --- recovery ----------------------------------------------------------------------

    async def _recovery(self) -> None:
        from nvrd.console.recovery import recovery_registry

        registry = recovery_registry()
        self._audit("system", "console recovery mode entered")
        self.terminal.line("Recovery mode (no login). Type 'help' for what it can do, "
                           "'exit' to leave.")
        problem = config_problem(self.daemon)
        if problem:
            self.terminal.line(f"The configuration file was rejected; running on the "
                               f"{problem[0]} configuration. 'show' says why.")
        else:
            self.terminal.line("The configuration file loads fine.")
        self._extra = {}
        while True:
            try:
                line = await self.terminal.read_line("recovery> ",
                                                     timeout=self._idle_seconds())
            except LineInterrupted:
                continue
            except (IdleTimeout, EndOfSession):
                self.terminal.line()
                return
            if line.strip().lower() in LOGOUT_WORDS:
                return
            await self.execute(line, registry)

    # --- audit -------------------------------------------------------------------------

    def _context_audit(self, type: str, action: str, *, result: str = "ok",
                       details: str = "") -> None:
        self._audit(type, action, result=result, details=details)

    def _audit(self, type: str, action: str, *, user: str | None = None, result: str = "ok",
               details: str = "") -> None:
        audit = self.daemon.audit
        if audit is None:
            return
        audit.record(type, action, user=user if user is not None else (
            self.user.name if self.user else ""), source=SOURCE, result=result,
            details=details)


def config_problem(daemon: Application) -> tuple[str, str] | None:
    """(the configuration the daemon runs on instead, why the file was rejected), or None
    when the live file is in use."""
    try:
        status = daemon.status()
    except Exception as exc:  # the console must still come up
        return ("unknown", f"the daemon's status is unavailable: {exc}")
    if not status.config_error:
        return None
    # "file": a reload was refused, the daemon still runs on what it loaded before
    source = {"file": "previously loaded", "last-good": "last good",
              "defaults": "factory"}.get(status.config_source, status.config_source)
    return (source, status.config_error)


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


def _duration(seconds: float) -> str:
    seconds = max(1, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    return f"{round(seconds / 60)} min"


def _safe(get: Callable[[], T], default: T) -> T:
    try:
        return get()
    except Exception:
        return default
