"""Who is asking: the principal the authenticator hands to every route handler.

Handlers read ``ctx.principal.name`` and ``ctx.principal.source`` when they audit, so
both names are part of the contract. The principal never holds a secret: a session is
named by its public id (not the cookie value) and a token by its id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nvrd.accounts.rights import Rights

Via = Literal["session", "token"]


@dataclass(frozen=True, slots=True)
class Principal:
    """A logged-in user, as one request sees it (rights read afresh, at most a second or
    two old)."""

    name: str
    group: str
    rights: Rights
    via: Via
    ip: str
    source: str
    """For the audit log: ``web 192.0.2.7`` or ``api-token:<token name> 192.0.2.7``."""
    session_id: str | None = None
    """The session's public id (what the online-users list shows), never its cookie."""
    token_id: str | None = None

    @classmethod
    def for_session(cls, name: str, group: str, rights: Rights, ip: str,
                    session_id: str) -> Principal:
        return cls(name, group, rights, "session", ip, session_source(ip),
                   session_id=session_id)

    @classmethod
    def for_token(cls, name: str, group: str, rights: Rights, ip: str, token_id: str,
                  token_name: str) -> Principal:
        return cls(name, group, rights, "token", ip, token_source(token_name, ip),
                   token_id=token_id)


def session_source(ip: str) -> str:
    return f"web {ip}"


def token_source(token_name: str, ip: str) -> str:
    # A token name is printable text chosen by its owner; keep the source one short line.
    return f"api-token:{token_name[:64]} {ip}"
