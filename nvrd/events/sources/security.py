"""Logins refused and locks → ``illegal_login`` and ``account_locked`` pulses.

Sources: ``user:<name as typed>@<address>`` for a refused login or token;
``user:<name>`` for a locked account and ``address:<ip or /64>`` for a locked address
(``details.lock`` says which). The authenticator's hooks are plain lists; the source
removes itself from them when it disconnects.
"""

from __future__ import annotations

import contextlib

from nvrd.accounts.lockout import LockEvent, LockKind
from nvrd.events.model import Event, EventKind, Phase
from nvrd.events.sources.base import Publish, Source, now_us
from nvrd.web.auth.authenticator import AccountsAuthenticator

MAX_NAME = 64
"""A typed user name is cut to this (it is whatever an attacker sent)."""


class SecuritySource(Source):
    name = "security"

    def __init__(self, publish: Publish, authenticator: AccountsAuthenticator) -> None:
        super().__init__(publish)
        self._authenticator = authenticator

    def connect(self) -> None:
        super().connect()
        self._authenticator.on_illegal_login.append(self._on_illegal_login)
        self._authenticator.on_locked.append(self._on_locked)

    def disconnect(self) -> None:
        super().disconnect()
        with contextlib.suppress(ValueError):
            self._authenticator.on_illegal_login.remove(self._on_illegal_login)
        with contextlib.suppress(ValueError):
            self._authenticator.on_locked.remove(self._on_locked)

    def _on_illegal_login(self, username: str, ip: str, reason: str) -> None:
        name = username[:MAX_NAME]
        self.publish(Event(EventKind.ILLEGAL_LOGIN, f"user:{name}@{ip}", None, Phase.PULSE,
                           now_us(), {"user": name, "address": ip, "reason": reason}))

    def _on_locked(self, event: LockEvent) -> None:
        account = event.kind is LockKind.ACCOUNT
        self.publish(Event(
            EventKind.ACCOUNT_LOCKED, f"{'user' if account else 'address'}:{event.key}",
            None, Phase.PULSE, now_us(),
            {"lock": "account" if account else "address", "key": event.key,
             "failures": event.failures, "lock_seconds": round(event.lock_seconds, 1)}))
