"""The account store: groups, users and API tokens in one SQLite file, and every rule on them.

Web pages, the API and the serial console all go through this class, so the rules below
live here and nowhere else.

Rules (numbered so code and tests can cite them):

1. Every user is in exactly one group (a foreign key; a group with users cannot be deleted).
2. The built-in groups ``admin`` and ``user`` cannot be deleted or renamed. ``admin`` always
   holds every right (``ALL_RIGHTS``, refreshed at every open so rights added by a newer
   firmware reach it) and so do its users; ``user`` starts with ``USER_RIGHTS`` and may be
   changed.
3. A user's rights are a subset of the group's. Creating a user or moving it to another
   group without giving rights gives it the group's rights. Shrinking a group's rights
   *clips* its users' rights to the new group rights (the change reports whom it clipped);
   growing them does not grow the users'.
4. The last enabled user of the ``admin`` group cannot be deleted, disabled or moved out of
   it, so the box always has an administrator. ``initialized()`` means such a user exists.
5. Usernames and group names are 1–32 characters of ``A–Z a–z 0–9 _ . - @``, starting with a
   letter or digit, unique ignoring case (SQLite ``NOCASE``); lookups ignore case and results
   carry the spelling given at creation.
6. Passwords obey :mod:`nvrd.accounts.passwords`; only scrypt hashes are stored, plus the
   password's strength class for the security status page.
7. An acting user (``actor=``) needs the ``accounts`` right, may only manage users and groups
   whose rights are within its own, and may only hand out rights it holds itself: account
   management cannot escalate privileges. ``actor=None`` means the system itself (first
   boot, the console's recovery paths, tests). Users may always manage their own tokens and
   change their own password (with the old one, :meth:`change_own_password`).
8. API tokens: only the SHA-256 of the secret is stored; the secret is returned once by
   :meth:`issue_token`. A token acts as its user, with the user's current rights, and stops
   working when the user is disabled, outside its login window, deleted, or the token expires.
9. Authentication gives one outward error for every refusal, and runs the KDF whether or not
   the user exists (against a dummy hash with the same parameters), so neither the message
   nor the timing tells which usernames exist. The internal reason is on the error for the
   audit log.

Threads: one connection guarded by a lock; every method blocks (SQLite, and scrypt for
0.2 s), so call them through ``asyncio.to_thread`` from the loop. The KDF always runs
*outside* the lock so concurrent logins do not queue behind each other.

Durability: WAL with ``synchronous=FULL``: account changes are rare and a password change
lost to a power cut would surprise the person who made it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from nvrd.accounts.errors import (
    AccountError,
    AdminRightsFixed,
    AlreadyInitialized,
    AuthenticationFailed,
    BuiltinGroupProtected,
    FailureReason,
    Forbidden,
    GroupNotEmpty,
    GroupNotFound,
    InvalidName,
    LastAdmin,
    NameTaken,
    RightsNotSubset,
    TokenNotFound,
    UserNotFound,
    WrongOldPassword,
)
from nvrd.accounts.model import (
    KEEP,
    ApiToken,
    AuthenticatedToken,
    Group,
    GroupChange,
    IssuedToken,
    Keep,
    User,
)
from nvrd.accounts.passwords import (
    DEFAULT_PARAMS,
    HashFormatError,
    ScryptParams,
    Strength,
    dummy_hash,
    hash_password,
    needs_rehash,
    require_valid,
    strength,
    verify_password,
)
from nvrd.accounts.rights import (
    ADMIN_GROUP,
    ALL_RIGHTS,
    BUILTIN_GROUPS,
    USER_GROUP,
    Rights,
    SystemRight,
)
from nvrd.accounts.windows import LoginWindows, load_zone, utc_now

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MAX_TOKENS_PER_USER = 16
TOKEN_PREFIX = "nvrd_"
# last_used_us of a token is written at most this often (one write per request is waste).
TOKEN_TOUCH_INTERVAL_US = 60_000_000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,31}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SCHEMA_V1 = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value NOT NULL
);
CREATE TABLE groups (
    name TEXT PRIMARY KEY COLLATE NOCASE,          -- rule 5
    description TEXT NOT NULL DEFAULT '',
    rights TEXT NOT NULL,                          -- Rights.to_json()
    builtin INTEGER NOT NULL DEFAULT 0 CHECK (builtin IN (0, 1))
);
CREATE TABLE users (
    name TEXT PRIMARY KEY COLLATE NOCASE,          -- rule 5
    group_name TEXT NOT NULL REFERENCES groups (name)
        ON UPDATE CASCADE ON DELETE RESTRICT,      -- rule 1
    description TEXT NOT NULL DEFAULT '',
    rights TEXT NOT NULL,                          -- Rights.to_json(), within the group's (rule 3)
    password_hash TEXT NOT NULL,                   -- scrypt$N$r$p$salt$hash
    password_strength TEXT NOT NULL,               -- passwords.Strength at the time it was set
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    login_windows TEXT,                            -- LoginWindows.to_json(); NULL = any time
    created_us INTEGER NOT NULL,                   -- UTC microseconds since the epoch
    password_changed_us INTEGER NOT NULL,
    last_login_us INTEGER
);
CREATE INDEX users_by_group ON users (group_name);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES users (name)
        ON UPDATE CASCADE ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret_sha256 BLOB NOT NULL UNIQUE,            -- never the secret itself (rule 8)
    created_us INTEGER NOT NULL,
    last_used_us INTEGER,
    expires_us INTEGER                             -- NULL = never
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_name);
"""


class StoreVersionError(AccountError):
    code = "store_version"

    def __init__(self, path: Path, found: int) -> None:
        super().__init__(path, found)
        self.path = path
        self.found = found

    def __str__(self) -> str:
        return (f"{self.path} has account schema version {self.found}, newer than this "
                f"firmware understands ({SCHEMA_VERSION}); it was left untouched")


class InvalidValue(AccountError):
    code = "invalid_value"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


_USER_COLUMNS = ("name, group_name, description, rights, enabled, login_windows, "
                 "password_strength, created_us, password_changed_us, last_login_us")
_TOKEN_COLUMNS = "id, user_name, name, created_us, last_used_us, expires_us"


class AccountStore:
    """Groups, users and tokens in ``path``. See the module docstring for the rules."""

    def __init__(
        self,
        path: Path,
        *,
        params: ScryptParams = DEFAULT_PARAMS,
        timezone: str = "UTC",
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.path = path
        self.params = params
        self._zone = load_zone(timezone)
        self._clock = clock
        self._dummy_hash = dummy_hash(params)
        self._lock = threading.RLock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._migrate()
            self._seed_builtin_groups()
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> AccountStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def set_timezone(self, name: str) -> None:
        """The box's time zone, in which login windows are read (``ValueError`` if unknown)."""
        self._zone = load_zone(name)

    # --- first boot --------------------------------------------------------------------------

    def initialized(self) -> bool:
        """True once an enabled user of the admin group exists (rule 4 keeps it true)."""
        with self._lock:
            return self._enabled_admins(self._db) > 0

    def initialize(self, admin_password: str, username: str = "admin") -> User:
        """Create the first administrator. Only once: :class:`AlreadyInitialized` after."""
        _check_name("user", username)
        if self.initialized():
            raise AlreadyInitialized()
        require_valid(admin_password, username)
        encoded = hash_password(admin_password, self.params)
        now_us = self._now_us()
        with self._transaction() as db:
            if self._enabled_admins(db) > 0:  # a concurrent initialize won the race
                raise AlreadyInitialized()
            self._insert_user(db, username, ADMIN_GROUP, ALL_RIGHTS, "", encoded,
                              strength(admin_password, username), True, None, now_us)
            return self._user(db, username)

    def wipe(self) -> None:
        """Delete every user, custom group and API token and put the built-in groups back
        as on a fresh box, in one transaction: the box is uninitialized afterwards (no
        administrator; :meth:`initialize` works again). For the factory resets of the API
        and the console; the caller audits it and ends the sessions.

        Deleted rows are overwritten (``secure_delete``) and the WAL is truncated, so no
        password hash of the old accounts stays readable in the file."""
        with self._lock:
            self._db.execute("PRAGMA secure_delete=ON")
            try:
                with self._transaction() as db:
                    db.execute("DELETE FROM api_tokens")
                    db.execute("DELETE FROM users")
                    db.execute("DELETE FROM groups")
                    self._seed_groups(db)
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._db.execute("PRAGMA secure_delete=OFF")
        logger.warning("account store wiped: every user, group and API token deleted")

    # --- logging in --------------------------------------------------------------------------

    def authenticate(self, username: str, password: str, *, now: datetime | None = None) -> User:
        """The user, when the password is right and the user may log in at ``now``.

        Raises :class:`AuthenticationFailed` otherwise, with the same message and the same
        KDF cost whatever the reason (rule 9). A successful login records ``last_login_us``
        and upgrades a hash made with other parameters than the store's."""
        now = now or self._clock()
        with self._lock:
            row = self._db.execute(
                f"SELECT {_USER_COLUMNS}, password_hash FROM users WHERE name = ?",
                (username,)).fetchone()
        stored = row[-1] if row is not None else self._dummy_hash
        shown = username[:64]
        try:
            ok = verify_password(password, stored)
        except HashFormatError:
            logger.error("the stored password hash of user %r is corrupt", shown)
            verify_password(password, self._dummy_hash)  # keep the timing
            raise AuthenticationFailed(shown, FailureReason.BAD_STORED_HASH) from None
        if row is None:
            raise AuthenticationFailed(shown, FailureReason.UNKNOWN_USER)
        if not ok:
            raise AuthenticationFailed(row[0], FailureReason.WRONG_PASSWORD)
        user = _user_from_row(row[:-1])
        self._check_may_log_in(user, now)
        now_us = _to_us(now)
        new_hash = None
        if needs_rehash(stored, self.params):
            new_hash = hash_password(password, self.params)
        with self._transaction() as db:
            db.execute("UPDATE users SET last_login_us = ? WHERE name = ?", (now_us, user.name))
            if new_hash is not None:
                db.execute("UPDATE users SET password_hash = ? "
                           "WHERE name = ? AND password_hash = ?", (new_hash, user.name, stored))
            return self._user(db, user.name)

    def verify_token(self, secret: str, *, now: datetime | None = None) -> AuthenticatedToken:
        """The user and token a bearer secret belongs to; :class:`AuthenticationFailed`
        when it is unknown, expired, or its user may not log in at ``now`` (rule 8)."""
        now = now or self._clock()
        now_us = _to_us(now)
        digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
        with self._lock:
            row = self._db.execute(
                f"SELECT {_TOKEN_COLUMNS}, secret_sha256 FROM api_tokens WHERE secret_sha256 = ?",
                (digest,)).fetchone()
        if row is None or not hmac.compare_digest(bytes(row[-1]), digest):
            raise AuthenticationFailed("", FailureReason.UNKNOWN_TOKEN)
        token = ApiToken(*row[:-1])
        if token.expired(now_us):
            raise AuthenticationFailed(token.user, FailureReason.EXPIRED_TOKEN)
        try:
            user = self.get_user(token.user)
        except UserNotFound:  # deleted since the token was read (its tokens go with it)
            raise AuthenticationFailed("", FailureReason.UNKNOWN_TOKEN) from None
        self._check_may_log_in(user, now)
        if token.last_used_us is None or now_us - token.last_used_us >= TOKEN_TOUCH_INTERVAL_US:
            with self._transaction() as db:
                db.execute("UPDATE api_tokens SET last_used_us = ? WHERE id = ?",
                           (now_us, token.id))
            token = ApiToken(token.id, token.user, token.name, token.created_us, now_us,
                             token.expires_us)
        return AuthenticatedToken(user, token)

    def _check_may_log_in(self, user: User, now: datetime) -> None:
        if not user.enabled:
            raise AuthenticationFailed(user.name, FailureReason.DISABLED)
        if user.login_windows is not None and not user.login_windows.allows(now, self._zone):
            raise AuthenticationFailed(user.name, FailureReason.OUTSIDE_LOGIN_WINDOW)

    # --- users -------------------------------------------------------------------------------

    def get_user(self, name: str) -> User:
        with self._lock:
            return self._user(self._db, name)

    def list_users(self, group: str | None = None) -> list[User]:
        """Every user (or the users of ``group``), sorted by name ignoring case."""
        with self._lock:
            if group is None:
                rows = self._db.execute(
                    f"SELECT {_USER_COLUMNS} FROM users ORDER BY name").fetchall()
            else:
                self._group(self._db, group)
                rows = self._db.execute(
                    f"SELECT {_USER_COLUMNS} FROM users WHERE group_name = ? ORDER BY name",
                    (group,)).fetchall()
        return [_user_from_row(r) for r in rows]

    def create_user(
        self,
        name: str,
        password: str,
        group: str = USER_GROUP,
        *,
        rights: Rights | None = None,
        description: str = "",
        enabled: bool = True,
        login_windows: LoginWindows | None = None,
        actor: User | None = None,
    ) -> User:
        """A new user. ``rights=None`` gives it the group's rights (rule 3)."""
        _check_name("user", name)
        _check_description(description)
        require_valid(password, name)
        encoded = hash_password(password, self.params)
        now_us = self._now_us()
        with self._transaction() as db:
            target_group = self._group(db, group)
            final = _rights_in_group(name, target_group, rights)
            self._authorize(db, actor, grants=final)
            if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise NameTaken("user", name)
            self._insert_user(db, name, target_group.name, final, description, encoded,
                              strength(password, name), enabled, login_windows, now_us)
            return self._user(db, name)

    def update_user(
        self,
        name: str,
        *,
        group: str | None = None,
        rights: Rights | None = None,
        description: str | None = None,
        enabled: bool | None = None,
        login_windows: LoginWindows | Keep | None = KEEP,
        actor: User | None = None,
    ) -> User:
        """Change a user; ``None`` (``KEEP`` for ``login_windows``) leaves a field as it is.

        A new ``group`` without ``rights`` gives the user the new group's rights (rule 3).
        Refuses to disable the last administrator or move it out of ``admin`` (rule 4)."""
        if description is not None:
            _check_description(description)
        with self._transaction() as db:
            current = self._user(db, name)
            self._authorize(db, actor, over=current)
            new_group = self._group(db, group if group is not None else current.group)
            moved = new_group.name != current.group
            if rights is None and not moved:
                final = current.rights
            else:
                final = _rights_in_group(current.name, new_group, rights)
            self._authorize(db, actor, grants=final)
            new_enabled = current.enabled if enabled is None else enabled
            leaves_admins = current.is_admin and current.enabled and (moved or not new_enabled)
            if leaves_admins and self._enabled_admins(db) <= 1:
                action = "moved out of the admin group" if moved else "disabled"
                raise LastAdmin(current.name, action)
            windows = current.login_windows if isinstance(login_windows, Keep) else login_windows
            db.execute(
                "UPDATE users SET group_name = ?, rights = ?, description = ?, enabled = ?, "
                "login_windows = ? WHERE name = ?",
                (new_group.name, _dump_rights(final),
                 current.description if description is None else description,
                 int(new_enabled), _dump_windows(windows), current.name))
            return self._user(db, current.name)

    def delete_user(self, name: str, *, actor: User | None = None) -> None:
        """Delete a user and its tokens; never the last administrator (rule 4)."""
        with self._transaction() as db:
            current = self._user(db, name)
            self._authorize(db, actor, over=current)
            if current.is_admin and current.enabled and self._enabled_admins(db) <= 1:
                raise LastAdmin(current.name, "deleted")
            db.execute("DELETE FROM users WHERE name = ?", (current.name,))

    def set_password(self, name: str, new_password: str, *, actor: User | None = None) -> User:
        """Set another user's password (an administrator's reset; no old password needed).
        For users changing their own password, use :meth:`change_own_password`."""
        with self._lock:
            current = self._user(self._db, name)
            self._authorize(self._db, actor, over=current)  # before spending a KDF run
        require_valid(new_password, current.name)
        encoded = hash_password(new_password, self.params)
        with self._transaction() as db:
            current = self._user(db, name)
            self._authorize(db, actor, over=current)
            return self._store_password(db, current.name, encoded,
                                        strength(new_password, current.name))

    def change_own_password(self, name: str, old_password: str, new_password: str) -> User:
        """A user changes its own password: the old one must be right
        (:class:`WrongOldPassword` otherwise) and the new one must obey the policy."""
        with self._lock:
            row = self._db.execute("SELECT name, password_hash FROM users WHERE name = ?",
                                   (name,)).fetchone()
        if row is None:
            raise UserNotFound(name)
        try:
            ok = verify_password(old_password, row[1])
        except HashFormatError:
            ok = False
        if not ok:
            raise WrongOldPassword(row[0])
        require_valid(new_password, row[0])
        encoded = hash_password(new_password, self.params)
        with self._transaction() as db:
            return self._store_password(db, row[0], encoded, strength(new_password, row[0]))

    # --- groups ------------------------------------------------------------------------------

    def get_group(self, name: str) -> Group:
        with self._lock:
            return self._group(self._db, name)

    def list_groups(self) -> list[Group]:
        """Built-in groups first, then the others by name."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, description, rights, builtin FROM groups "
                "ORDER BY builtin DESC, name").fetchall()
        return [_group_from_row(r) for r in rows]

    def create_group(self, name: str, rights: Rights, description: str = "", *,
                     actor: User | None = None) -> Group:
        _check_name("group", name)
        _check_description(description)
        with self._transaction() as db:
            self._authorize(db, actor, grants=rights)
            if db.execute("SELECT 1 FROM groups WHERE name = ?", (name,)).fetchone():
                raise NameTaken("group", name)
            db.execute("INSERT INTO groups (name, description, rights, builtin) "
                       "VALUES (?, ?, ?, 0)", (name, description, _dump_rights(rights)))
            return self._group(db, name)

    def update_group(
        self,
        name: str,
        *,
        new_name: str | None = None,
        description: str | None = None,
        rights: Rights | None = None,
        actor: User | None = None,
    ) -> GroupChange:
        """Rename, describe or re-right a group. Built-in groups keep their names and the
        admin group its rights (rule 2); shrinking rights clips the users' (rule 3)."""
        if new_name is not None:
            _check_name("group", new_name)
        if description is not None:
            _check_description(description)
        with self._transaction() as db:
            current = self._group(db, name)
            self._authorize(db, actor, grants=current.rights)
            if new_name is not None and new_name != current.name:
                if current.builtin:
                    raise BuiltinGroupProtected(current.name, "renamed")
                taken = db.execute("SELECT name FROM groups WHERE name = ?", (new_name,)).fetchone()
                if taken is not None and taken[0] != current.name:
                    raise NameTaken("group", new_name)
            if rights is not None and current.name == ADMIN_GROUP and rights != ALL_RIGHTS:
                raise AdminRightsFixed(current.name)
            final_name = current.name if new_name is None else new_name
            final_rights = current.rights if rights is None else rights
            self._authorize(db, actor, grants=final_rights)
            db.execute("UPDATE groups SET name = ?, description = ?, rights = ? WHERE name = ?",
                       (final_name, current.description if description is None else description,
                        _dump_rights(final_rights), current.name))
            clipped = self._clip_users(db, final_name, final_rights)
            return GroupChange(self._group(db, final_name), clipped)

    def delete_group(self, name: str, *, actor: User | None = None) -> None:
        """Delete an empty, non-built-in group (rules 1 and 2)."""
        with self._transaction() as db:
            current = self._group(db, name)
            self._authorize(db, actor, grants=current.rights)
            if current.builtin:
                raise BuiltinGroupProtected(current.name, "deleted")
            users = tuple(r[0] for r in db.execute(
                "SELECT name FROM users WHERE group_name = ? ORDER BY name", (current.name,)))
            if users:
                raise GroupNotEmpty(current.name, users)
            db.execute("DELETE FROM groups WHERE name = ?", (current.name,))

    # --- API tokens --------------------------------------------------------------------------

    def issue_token(self, user: str, name: str, expires_us: int | None = None, *,
                    actor: User | None = None) -> IssuedToken:
        """A new bearer token for ``user``. Only the secret's SHA-256 is stored (rule 8)."""
        if not 1 <= len(name) <= 64 or not name.isprintable():
            raise InvalidValue("token name", "must be 1–64 printable characters")
        now_us = self._now_us()
        if expires_us is not None and expires_us <= now_us:
            raise InvalidValue("token expiry", "must be in the future")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = secrets.token_hex(8)
        with self._transaction() as db:
            owner = self._user(db, user)
            self._authorize_tokens(db, actor, owner)
            (count,) = db.execute("SELECT COUNT(*) FROM api_tokens WHERE user_name = ?",
                                  (owner.name,)).fetchone()
            if count >= MAX_TOKENS_PER_USER:
                raise InvalidValue("tokens", f"a user may hold at most {MAX_TOKENS_PER_USER}; "
                                             "revoke one first")
            db.execute(
                "INSERT INTO api_tokens (id, user_name, name, secret_sha256, created_us, "
                "expires_us) VALUES (?, ?, ?, ?, ?, ?)",
                (token_id, owner.name, name, hashlib.sha256(secret.encode()).digest(), now_us,
                 expires_us))
        return IssuedToken(ApiToken(token_id, owner.name, name, now_us, None, expires_us), secret)

    def list_tokens(self, user: str | None = None) -> list[ApiToken]:
        """Tokens (of ``user``, or all), oldest first; never secrets or hashes."""
        with self._lock:
            if user is None:
                rows = self._db.execute(
                    f"SELECT {_TOKEN_COLUMNS} FROM api_tokens ORDER BY created_us, id").fetchall()
            else:
                owner = self._user(self._db, user)
                rows = self._db.execute(
                    f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE user_name = ? "
                    "ORDER BY created_us, id", (owner.name,)).fetchall()
        return [ApiToken(*r) for r in rows]

    def revoke_token(self, token_id: str, *, actor: User | None = None) -> None:
        with self._transaction() as db:
            row = db.execute(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE id = ?",
                             (token_id,)).fetchone()
            if row is None:
                raise TokenNotFound(token_id)
            token = ApiToken(*row)
            self._authorize_tokens(db, actor, self._user(db, token.user))
            db.execute("DELETE FROM api_tokens WHERE id = ?", (token.id,))

    # --- internals ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._transaction() as db:
            has_meta = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
            version = 0
            if has_meta:
                row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StoreVersionError(self.path, version)
            if version == 0:
                _run_script(db, _SCHEMA_V1)
                version = 1
            # Later versions: "if version == 1: ...; version = 2", one step per version.
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                       (version,))

    def _seed_builtin_groups(self) -> None:
        with self._transaction() as db:
            self._seed_groups(db)

    @staticmethod
    def _seed_groups(db: sqlite3.Connection) -> None:
        """The built-in groups (rule 2): created if missing, admin given every right."""
        for name, rights in BUILTIN_GROUPS.items():
            db.execute("INSERT OR IGNORE INTO groups (name, description, rights, builtin) "
                       "VALUES (?, ?, ?, 1)", (name, _BUILTIN_DESCRIPTIONS[name],
                                               _dump_rights(rights)))
        everything = _dump_rights(ALL_RIGHTS)
        db.execute("UPDATE groups SET rights = ?, builtin = 1 WHERE name = ?",
                   (everything, ADMIN_GROUP))
        db.execute("UPDATE groups SET builtin = 1 WHERE name = ?", (USER_GROUP,))
        db.execute("UPDATE users SET rights = ? WHERE group_name = ?",
                   (everything, ADMIN_GROUP))

    def _authorize(self, db: sqlite3.Connection, actor: User | None, *,
                   over: User | None = None, grants: Rights | None = None) -> None:
        """Rule 7, with the actor read afresh inside the transaction (never a stale copy)."""
        if actor is None:
            return
        fresh = self._fresh_actor(db, actor)
        if not fresh.rights.allows(SystemRight.ACCOUNTS):
            raise Forbidden(fresh.name, "managing accounts needs the accounts right")
        if over is not None and not over.rights.is_subset_of(fresh.rights):
            raise Forbidden(fresh.name, f"user {over.name!r} holds rights you do not: "
                                        f"{over.rights.minus(fresh.rights).describe()}")
        if grants is not None and not grants.is_subset_of(fresh.rights):
            raise Forbidden(fresh.name, "you cannot hand out rights you do not hold: "
                                        f"{grants.minus(fresh.rights).describe()}")

    def _authorize_tokens(self, db: sqlite3.Connection, actor: User | None, owner: User) -> None:
        if actor is not None and self._fresh_actor(db, actor).name == owner.name:
            return  # rule 7: one's own tokens
        self._authorize(db, actor, over=owner)

    def _fresh_actor(self, db: sqlite3.Connection, actor: User) -> User:
        try:
            fresh = self._user(db, actor.name)
        except UserNotFound:
            raise Forbidden(actor.name, "the acting user no longer exists") from None
        if not fresh.enabled:
            raise Forbidden(fresh.name, "the acting user is disabled")
        return fresh

    def _clip_users(self, db: sqlite3.Connection, group: str, rights: Rights) -> tuple[str, ...]:
        clipped = []
        rows = db.execute("SELECT name, rights FROM users WHERE group_name = ? ORDER BY name",
                          (group,)).fetchall()
        for user_name, stored in rows:
            held = _load_rights(stored)
            kept = held.intersect(rights)
            if kept != held:
                db.execute("UPDATE users SET rights = ? WHERE name = ?",
                           (_dump_rights(kept), user_name))
                clipped.append(user_name)
        return tuple(clipped)

    def _insert_user(self, db: sqlite3.Connection, name: str, group: str, rights: Rights,
                     description: str, encoded: str, password_strength: Strength,
                     enabled: bool, windows: LoginWindows | None, now_us: int) -> None:
        try:
            db.execute(
                "INSERT INTO users (name, group_name, description, rights, password_hash, "
                "password_strength, enabled, login_windows, created_us, password_changed_us) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (name, group, description, _dump_rights(rights), encoded,
                 password_strength.value, int(enabled), _dump_windows(windows), now_us, now_us))
        except sqlite3.IntegrityError:
            raise NameTaken("user", name) from None

    def _store_password(self, db: sqlite3.Connection, name: str, encoded: str,
                        password_strength: Strength) -> User:
        db.execute("UPDATE users SET password_hash = ?, password_strength = ?, "
                   "password_changed_us = ? WHERE name = ?",
                   (encoded, password_strength.value, self._now_us(), name))
        return self._user(db, name)

    @staticmethod
    def _enabled_admins(db: sqlite3.Connection) -> int:
        (count,) = db.execute("SELECT COUNT(*) FROM users WHERE group_name = ? AND enabled = 1",
                              (ADMIN_GROUP,)).fetchone()
        return int(count)

    @staticmethod
    def _user(db: sqlite3.Connection, name: str) -> User:
        row = db.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise UserNotFound(name)
        return _user_from_row(row)

    @staticmethod
    def _group(db: sqlite3.Connection, name: str) -> Group:
        row = db.execute("SELECT name, description, rights, builtin FROM groups WHERE name = ?",
                         (name,)).fetchone()
        if row is None:
            raise GroupNotFound(name)
        return _group_from_row(row)

    def _now_us(self) -> int:
        return _to_us(self._clock())


_BUILTIN_DESCRIPTIONS = {
    ADMIN_GROUP: "Administrators: every right. Cannot be deleted or renamed.",
    USER_GROUP: "Users: live view and playback on every channel. Cannot be deleted or renamed.",
}


def _run_script(db: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the open transaction first; run statement by statement
    # so the whole migration stays one transaction.
    # Comments are stripped first (they may contain ";"); statements hold no string literals.
    bare = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    for statement in bare.split(";"):
        if statement.strip():
            db.execute(statement)


def _check_name(kind: str, name: str) -> None:
    if not _NAME.match(name):
        raise InvalidName(kind, name[:64], "use 1–32 characters of A–Z, a–z, 0–9, _ . - @, "
                                           "starting with a letter or digit")


def _check_description(description: str) -> None:
    if len(description) > 256 or not description.isprintable():
        raise InvalidValue("description", "must be at most 256 printable characters")


def _rights_in_group(user: str, group: Group, rights: Rights | None) -> Rights:
    """The rights a user of ``group`` ends up with (rules 2 and 3)."""
    if group.name == ADMIN_GROUP:
        if rights is not None and rights != ALL_RIGHTS:
            raise AdminRightsFixed(user)
        return ALL_RIGHTS
    if rights is None:
        return group.rights
    if not rights.is_subset_of(group.rights):
        raise RightsNotSubset(user, group.name, rights.minus(group.rights).describe())
    return rights


def _dump_rights(rights: Rights) -> str:
    return json.dumps(rights.to_json(), sort_keys=True, separators=(",", ":"))


def _load_rights(text: str) -> Rights:
    return Rights.from_json(json.loads(text))


def _dump_windows(windows: LoginWindows | None) -> str | None:
    return None if windows is None else json.dumps(windows.to_json(), separators=(",", ":"))


def _user_from_row(row: tuple[Any, ...]) -> User:
    (name, group, description, rights, enabled, windows, pw_strength, created_us,
     changed_us, last_login_us) = row
    return User(name, group, description, _load_rights(rights), bool(enabled),
                None if windows is None else LoginWindows.from_json(json.loads(windows)),
                Strength(pw_strength), created_us, changed_us, last_login_us)


def _group_from_row(row: tuple[Any, ...]) -> Group:
    name, description, rights, builtin = row
    return Group(name, description, _load_rights(rights), bool(builtin))


def _to_us(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return (moment - _EPOCH) // timedelta(microseconds=1)
