"""The accounts service: opens the account store and owns the web's login state.

It builds, once, what the web server needs before anything starts: the
:class:`AccountsAuthenticator` (hand it to ``WebService(authenticator=...)``) with its
lockout tracker and session store. ``start`` opens the SQLite store in a thread (a
corrupt or too new file stops the daemon at start-up with the store's sentence, like any
service that cannot start); ``apply_config`` applies the ``security`` section (lockout
limits; the idle logout is read at every request) and the time zone of login windows.
``wipe`` returns the accounts to their first-boot state (restore defaults without
keeping the users, the console's factory reset).

Start it before the web service and stop it after.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from nvrd.accounts.lockout import LockoutTracker
from nvrd.accounts.passwords import DEFAULT_PARAMS, ScryptParams
from nvrd.accounts.store import AccountStore
from nvrd.config import NvrConfig
from nvrd.service import Health, Service
from nvrd.web.auth.authenticator import AccountsAuthenticator, AuditSink
from nvrd.web.auth.sessions import SessionStore


class AccountsService(Service):
    name = "accounts"

    def __init__(self, path: Path, config: NvrConfig, audit: AuditSink | None, *,
                 params: ScryptParams = DEFAULT_PARAMS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.path = path
        self._params = params
        self._config = config
        security = config.security
        self.lockout = LockoutTracker(security.lockout_attempts,
                                      security.lockout_minutes * 60.0, clock=clock)
        self.sessions = SessionStore(lambda: self._config.security.idle_logout_minutes,
                                     clock=clock)
        self.authenticator = AccountsAuthenticator(lockout=self.lockout,
                                                   sessions=self.sessions, audit=audit,
                                                   clock=clock)
        self._store: AccountStore | None = None

    @property
    def store(self) -> AccountStore | None:
        return self._store

    async def start(self) -> None:
        store = await asyncio.to_thread(AccountStore, self.path, params=self._params,
                                        timezone=self._config.system.timezone)
        self._store = store
        self.authenticator.attach(store)

    async def stop(self) -> None:
        store, self._store = self._store, None
        self.authenticator.attach(None)
        if store is not None:
            await asyncio.to_thread(store.close)

    async def apply_config(self, config: NvrConfig) -> None:
        self._config = config
        security = config.security
        self.lockout.reconfigure(security.lockout_attempts, security.lockout_minutes * 60.0)
        if self._store is not None:
            self._store.set_timezone(config.system.timezone)

    async def wipe(self, *, user: str, source: str, why: str) -> None:
        """Wipe the accounts (users, groups, API tokens, sessions, lockouts): the box is
        uninitialized again, as on first boot. Audited first (type ``security``), so the
        log says who did it even if the wipe fails. For the API's restore defaults and the
        console's factory reset."""
        store = self.authenticator.store  # 503 when the store is not open
        self.authenticator.audit("accounts wiped: every user, group, API token and "
                                 "session deleted", user=user, source=source, details=why)
        # Sessions end before the store changes (no request acts on a half-wiped box) and
        # again after it (one opened meanwhile would belong to a deleted user).
        self.authenticator.forget_all()
        await asyncio.to_thread(store.wipe)
        self.authenticator.forget_all()

    def health(self) -> Health:
        if self._store is None:
            return Health(False, "the account store is not open")
        return Health(True)
