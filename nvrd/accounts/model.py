"""The account values that cross boundaries: frozen, and never holding a hash or a secret
(except :class:`IssuedToken`, whose secret is shown to its owner once and kept out of repr).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final

from nvrd.accounts.passwords import Strength
from nvrd.accounts.rights import ADMIN_GROUP, Rights
from nvrd.accounts.windows import LoginWindows


class Keep(enum.Enum):
    """Marks an update argument as "leave unchanged" where ``None`` is a meaningful value."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    description: str
    rights: Rights
    builtin: bool


@dataclass(frozen=True, slots=True)
class GroupChange:
    """The result of :meth:`AccountStore.update_group`: the group, and whose rights were clipped."""

    group: Group
    clipped_users: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class User:
    """A user as the rest of nvrd sees it: no password hash."""

    name: str
    group: str
    description: str
    rights: Rights
    """The user's effective rights (always within the group's)."""
    enabled: bool
    login_windows: LoginWindows | None
    """None: may log in at any time."""
    password_strength: Strength
    created_us: int
    password_changed_us: int
    last_login_us: int | None

    @property
    def is_admin(self) -> bool:
        return self.group.lower() == ADMIN_GROUP


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token's description: no secret and no hash."""

    id: str
    user: str
    name: str
    created_us: int
    last_used_us: int | None
    expires_us: int | None

    def expired(self, now_us: int) -> bool:
        return self.expires_us is not None and now_us >= self.expires_us


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token. ``secret`` is shown to its owner once and cannot be retrieved again."""

    token: ApiToken
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class AuthenticatedToken:
    """What a valid bearer token resolves to (the token's name is for the audit source)."""

    user: User
    token: ApiToken
