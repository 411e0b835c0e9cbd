"""Errors of the accounts core: small classes that carry data and read as sentences.

Every error has a stable ``code`` (for the API's JSON errors and the web layer's one
code-to-status map) and a ``str()`` that a person understands. None of them ever carries
a password, a hash or a token secret.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class AccountError(Exception):
    """Base of every refusal the accounts core makes."""

    code: ClassVar[str] = "account_error"


class AlreadyInitialized(AccountError):
    code = "already_initialized"

    def __str__(self) -> str:
        return "the recorder is already initialized; its administrator password is set"


class NotInitialized(AccountError):
    code = "not_initialized"

    def __str__(self) -> str:
        return "the recorder is not initialized yet: set the administrator password first"


class FailureReason(StrEnum):
    """Why a login or token was refused. For the audit log only: the outward error is the same."""

    UNKNOWN_USER = "unknown_user"
    WRONG_PASSWORD = "wrong_password"
    BAD_STORED_HASH = "bad_stored_hash"
    DISABLED = "disabled"
    OUTSIDE_LOGIN_WINDOW = "outside_login_window"
    UNKNOWN_TOKEN = "unknown_token"
    EXPIRED_TOKEN = "expired_token"


class AuthenticationFailed(AccountError):
    """A login or token was refused. ``str()`` is the same whatever the ``reason``, so it can
    be shown; ``reason`` and ``username`` are for the audit log and the illegal-login event."""

    code = "authentication_failed"

    def __init__(self, username: str, reason: FailureReason) -> None:
        super().__init__(username, reason)
        self.username = username
        self.reason = reason

    def __str__(self) -> str:
        return "wrong username or password, or the account may not log in now"

    @property
    def counts_as_guess(self) -> bool:
        """True when the caller did not know the password (the lockout should count it).

        A disabled user or a login outside the user's window gave the right password."""
        return self.reason in (FailureReason.UNKNOWN_USER, FailureReason.WRONG_PASSWORD,
                               FailureReason.BAD_STORED_HASH, FailureReason.UNKNOWN_TOKEN)


class WrongOldPassword(AccountError):
    code = "wrong_old_password"

    def __init__(self, username: str) -> None:
        super().__init__(username)
        self.username = username

    def __str__(self) -> str:
        return "the current password is wrong; the password was not changed"


class NotFound(AccountError):
    code = "not_found"
    kind: ClassVar[str] = "item"

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"there is no {self.kind} {self.name!r}"


class UserNotFound(NotFound):
    kind = "user"


class GroupNotFound(NotFound):
    kind = "group"


class TokenNotFound(NotFound):
    kind = "API token"


class NameTaken(AccountError):
    code = "name_taken"

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(kind, name)
        self.kind = kind
        self.name = name

    def __str__(self) -> str:
        return f"a {self.kind} named {self.name!r} already exists (names ignore case)"


class InvalidName(AccountError):
    code = "invalid_name"

    def __init__(self, kind: str, name: str, reason: str) -> None:
        super().__init__(kind, name, reason)
        self.kind = kind
        self.name = name
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.kind} name {self.name!r} is not allowed: {self.reason}"


class BuiltinGroupProtected(AccountError):
    code = "builtin_group"

    def __init__(self, group: str, action: str) -> None:
        super().__init__(group, action)
        self.group = group
        self.action = action

    def __str__(self) -> str:
        return f"the built-in group {self.group!r} cannot be {self.action}"


class GroupNotEmpty(AccountError):
    code = "group_not_empty"

    def __init__(self, group: str, users: tuple[str, ...]) -> None:
        super().__init__(group, users)
        self.group = group
        self.users = users

    def __str__(self) -> str:
        return (f"group {self.group!r} still has users ({', '.join(self.users)}); "
                "move or delete them first")


class LastAdmin(AccountError):
    code = "last_admin"

    def __init__(self, username: str, action: str) -> None:
        super().__init__(username, action)
        self.username = username
        self.action = action

    def __str__(self) -> str:
        return (f"{self.username!r} is the last enabled administrator and cannot be "
                f"{self.action}; enable or create another administrator first")


class RightsNotSubset(AccountError):
    """A user's rights went beyond the group's. ``excess`` says which (see ``Rights.describe``)."""

    code = "rights_not_subset"

    def __init__(self, username: str, group: str, excess: str) -> None:
        super().__init__(username, group, excess)
        self.username = username
        self.group = group
        self.excess = excess

    def __str__(self) -> str:
        return (f"user {self.username!r} may only hold rights of group {self.group!r}; "
                f"not in the group: {self.excess}")


class AdminRightsFixed(AccountError):
    code = "admin_rights_fixed"

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return (f"{self.name!r}: the built-in admin group and its users always hold every "
                "right; put a restricted user in another group instead")


class Forbidden(AccountError):
    """The acting user may not do this: it lacks the right, or would hand out or manage
    rights it does not hold itself (no privilege escalation through account management)."""

    code = "forbidden"

    def __init__(self, actor: str, reason: str) -> None:
        super().__init__(actor, reason)
        self.actor = actor
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.actor!r} may not do this: {self.reason}"
