"""The account endpoints: first boot, the password policy, logging in and out, sessions,
users, groups, API tokens and login lockouts.

The rules themselves live in :mod:`nvrd.accounts` (the store's numbered rules) and the
login flows in :mod:`nvrd.web.auth`; this module maps them to HTTP. Handlers find the
:class:`~nvrd.web.auth.AccountsAuthenticator` where the framework keeps it
(``app[AUTHENTICATOR_KEY]``), so ``routes`` needs no setup of its own: give it to
``WebService(apis=[routes, ...], authenticator=service.authenticator)``.

- Every account error becomes an :class:`ApiError` with the store's code and sentence
  (:func:`api_error`): 404 not found, 409 name taken / group not empty / last admin /
  built-in group, 422 invalid values and password policy (one detail per reason), 403
  privilege escalation.
- Every change is audited (type ``security``) with the acting user and source.
- The store is told who acts (``actor=``), so account management cannot escalate
  privileges; route-level rights only keep the uninvolved out early.
- Nothing returns a password hash, a session cookie value or a token secret, except the
  one answer that issues a token (its secret, once).
- Every store call runs in a thread; those that hash a password through
  ``run_kdf`` (a few at a time).
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from nvrd.accounts.errors import (
    AccountError,
    AdminRightsFixed,
    AlreadyInitialized,
    AuthenticationFailed,
    BuiltinGroupProtected,
    Forbidden,
    GroupNotEmpty,
    InvalidName,
    LastAdmin,
    NameTaken,
    NotFound,
    NotInitialized,
    RightsNotSubset,
    WrongOldPassword,
)
from nvrd.accounts.lockout import LockInfo
from nvrd.accounts.model import KEEP, ApiToken, Group, Keep, User
from nvrd.accounts.passwords import PasswordPolicyError, Strength, check_password, strength
from nvrd.accounts.rights import ChannelRight, Rights, RightsFormatError, SystemRight
from nvrd.accounts.store import InvalidValue
from nvrd.accounts.windows import LoginWindows, WindowsFormatError
from nvrd.web.api.auth import AUTHENTICATOR_KEY, SESSION_COOKIE
from nvrd.web.api.errors import ApiError, ErrorDetail, Unauthenticated
from nvrd.web.api.registry import ApiRegistry, RequestContext, json_response
from nvrd.web.auth.authenticator import AccountsAuthenticator, AccountsUnavailable
from nvrd.web.auth.csrf import require_same_origin
from nvrd.web.auth.principal import Principal, session_source
from nvrd.web.auth.sessions import NewSession, SessionExpired

T = TypeVar("T")

routes = ApiRegistry(tags=("accounts",))

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,31}"
MAX_PASSWORD_CHARS = 1024
"""Far above the policy's 32: a longer value is refused as invalid, not hashed."""

# --- models ------------------------------------------------------------------------------

ChannelNumber = Annotated[int, Field(ge=1, le=4096)]
Name = Annotated[str, Field(min_length=1, max_length=64)]
Password = Annotated[str, Field(max_length=MAX_PASSWORD_CHARS)]
Description = Annotated[str, Field(max_length=256)]
DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
TimeOfDay = Annotated[str, Field(pattern=r"^([01]\d|2[0-4]):[0-5]\d$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RightsModel(_In):
    """Rights: system rights, channel rights on every channel (present and future), and
    extra channel rights on numbered channels."""

    system: list[SystemRight] = []
    all_channels: list[ChannelRight] = []
    channels: dict[ChannelNumber, list[ChannelRight]] = {}

    def to_rights(self) -> Rights:
        return Rights(frozenset(self.system), frozenset(self.all_channels),
                      {channel: frozenset(rights) for channel, rights in self.channels.items()})

    @classmethod
    def of(cls, rights: Rights) -> RightsModel:
        return cls(system=sorted(rights.system), all_channels=sorted(rights.all_channels),
                   channels={c: sorted(r) for c, r in rights.channels.items()})


class LoginPeriodModel(_In):
    """A weekly period: the weekdays it starts on, local start and end ("24:00" allowed);
    an end at or before the start passes midnight."""

    days: Annotated[list[DayName], Field(min_length=1, max_length=7)]
    start: TimeOfDay
    end: TimeOfDay


def _windows(periods: list[LoginPeriodModel] | None, field: str) -> LoginWindows | None:
    if periods is None:
        return None
    try:
        return LoginWindows.from_json([p.model_dump() for p in periods])
    except WindowsFormatError as exc:
        raise _invalid(field, str(exc)) from None


def _windows_out(windows: LoginWindows | None) -> list[LoginPeriodModel] | None:
    if windows is None:
        return None
    return [LoginPeriodModel.model_validate(p) for p in windows.to_json()]


class InitBody(_In):
    username: Annotated[str, Field(min_length=1, max_length=32)] = "admin"
    password: Password


class PolicyCheckBody(_In):
    username: Annotated[str, Field(max_length=64)] = ""
    password: Password


class ViolationOut(BaseModel):
    code: str
    message: str


class PolicyCheckOut(BaseModel):
    """Whether the password would be accepted, every reason it would not, and its
    strength (``invalid``, ``weak`` or ``strong``)."""

    acceptable: bool
    strength: Strength
    violations: list[ViolationOut]


class LoginBody(_In):
    username: Name
    password: Password


class SessionOut(BaseModel):
    """Who is logged in. ``csrf_token`` goes into the X-CSRF-Token header of every change
    a browser session makes (null for API tokens, which need none)."""

    user: str
    group: str
    rights: RightsModel
    via: Literal["session", "token"]
    session_id: str | None
    csrf_token: str | None
    idle_logout_minutes: int
    """0: sessions are never logged out for being idle."""


class SessionInfoOut(BaseModel):
    id: str
    user: str
    ip: str
    user_agent: str
    created_us: int
    last_seen_us: int
    idle_seconds: float
    current: bool
    """The session that asks."""


class SessionPath(_In):
    id: str


class UserOut(BaseModel):
    name: str
    group: str
    description: str
    rights: RightsModel
    enabled: bool
    login_windows: list[LoginPeriodModel] | None
    """Null: may log in at any time."""
    password_strength: Strength
    created_us: int
    password_changed_us: int
    last_login_us: int | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(name=user.name, group=user.group, description=user.description,
                   rights=RightsModel.of(user.rights), enabled=user.enabled,
                   login_windows=_windows_out(user.login_windows),
                   password_strength=user.password_strength, created_us=user.created_us,
                   password_changed_us=user.password_changed_us,
                   last_login_us=user.last_login_us)


class UserCreate(_In):
    name: Name
    password: Password
    group: Name = "user"
    rights: RightsModel | None = None
    """Null: the group's rights."""
    description: Description = ""
    enabled: bool = True
    login_windows: list[LoginPeriodModel] | None = None


class UserPatch(_In):
    """Only the fields sent change; ``login_windows: null`` removes the windows."""

    group: Name | None = None
    rights: RightsModel | None = None
    description: Description | None = None
    enabled: bool | None = None
    login_windows: list[LoginPeriodModel] | None = None


class UserPath(_In):
    name: str


class PasswordBody(_In):
    """Changing one's own password needs the current one (``old_password``); an
    administrator with the accounts right resets another user's without it."""

    old_password: Password | None = None
    new_password: Password


class GroupOut(BaseModel):
    name: str
    description: str
    rights: RightsModel
    builtin: bool

    @classmethod
    def of(cls, group: Group) -> GroupOut:
        return cls(name=group.name, description=group.description,
                   rights=RightsModel.of(group.rights), builtin=group.builtin)


class GroupCreate(_In):
    name: Name
    description: Description = ""
    rights: RightsModel = RightsModel()


class GroupPatch(_In):
    name: Name | None = None
    description: Description | None = None
    rights: RightsModel | None = None
    """Shrinking a group's rights clips its users' rights too."""


class GroupChangeOut(BaseModel):
    group: GroupOut
    clipped_users: list[str]
    """Users whose rights were reduced to fit the group's new rights."""


class TokenOut(BaseModel):
    id: str
    user: str
    name: str
    created_us: int
    last_used_us: int | None
    expires_us: int | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(id=token.id, user=token.user, name=token.name,
                   created_us=token.created_us, last_used_us=token.last_used_us,
                   expires_us=token.expires_us)


class TokenQuery(_In):
    user: Name | None = None
    """Another user's tokens (needs the accounts right)."""
    all: bool = False
    """Every user's tokens (needs the accounts right)."""


class TokenCreate(_In):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    user: Name | None = None
    """Issue for another user (needs the accounts right); default: yourself."""
    expires_in_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    """Null: never expires."""


class IssuedTokenOut(BaseModel):
    """The new token. ``secret`` is shown this once: send it as
    ``Authorization: Bearer <secret>``; it cannot be read again."""

    token: TokenOut
    secret: str


class TokenPath(_In):
    id: str


class LockOut(BaseModel):
    kind: Literal["account", "ip"]
    key: str
    """The username (lowercase) or the address (an IPv6 /64 network)."""
    remaining_seconds: float


class LockQuery(_In):
    """Release one account's or one address's lock; neither releases every lock."""

    username: Name | None = None
    ip: Annotated[str, Field(min_length=1, max_length=64)] | None = None


# --- helpers -----------------------------------------------------------------------------

def _auth(ctx: RequestContext[Any, Any, Any]) -> AccountsAuthenticator:
    authenticator = ctx.app[AUTHENTICATOR_KEY]
    if not isinstance(authenticator, AccountsAuthenticator):
        raise AccountsUnavailable()
    return authenticator


def _principal(ctx: RequestContext[Any, Any, Any]) -> Principal:
    if not isinstance(ctx.principal, Principal):
        raise Unauthenticated()
    return ctx.principal


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "validation_failed", f"the request is not valid: {field}: {message}",
                    details=[ErrorDetail(field, f"{field}: {message}")])


def api_error(exc: AccountError, *, password_field: str = "body.password") -> ApiError:
    """The API's answer to a refusal of the accounts core: its code, its sentence."""
    message = str(exc)
    if isinstance(exc, PasswordPolicyError):
        return ApiError(422, exc.code, message, details=[
            ErrorDetail(password_field, f"{password_field}: {v.message} ({v.code})")
            for v in exc.violations])
    status = 400
    if isinstance(exc, NotFound | AlreadyInitialized):
        status = 404
    elif isinstance(exc, NameTaken | GroupNotEmpty | LastAdmin | BuiltinGroupProtected
                    | AdminRightsFixed):
        status = 409
    elif isinstance(exc, InvalidName | InvalidValue | RightsNotSubset):
        status = 422
    elif isinstance(exc, Forbidden | WrongOldPassword | NotInitialized):
        status = 403
    elif isinstance(exc, AuthenticationFailed):
        status = 401
    return ApiError(status, exc.code, message)


async def _store_call(function: Callable[..., T], *args: object, **kwargs: object) -> T:
    try:
        return await asyncio.to_thread(function, *args, **kwargs)
    except AccountError as exc:
        raise api_error(exc) from None


async def _kdf_call(auth: AccountsAuthenticator, function: Callable[..., T], *args: object,
                    password_field: str = "body.password", **kwargs: object) -> T:
    try:
        return await auth.run_kdf(function, *args, **kwargs)
    except AccountError as exc:
        raise api_error(exc, password_field=password_field) from None


def _rights(model: RightsModel | None, field: str) -> Rights | None:
    if model is None:
        return None
    try:
        return model.to_rights()
    except RightsFormatError as exc:
        raise _invalid(field, str(exc)) from None


def _require_any_right(auth: AccountsAuthenticator, principal: Principal,
                       *rights: SystemRight) -> None:
    if not any(auth.authorize(principal, right, None) for right in rights):
        names = " or ".join(f"'{r}'" for r in rights)
        raise ApiError(403, "forbidden",
                       f"this needs the {names} right, which your account does not have")


def _session_answer(auth: AccountsAuthenticator, user: User, new: NewSession,
                    request: web.Request, status: int) -> web.Response:
    out = SessionOut(user=user.name, group=user.group, rights=RightsModel.of(user.rights),
                     via="session", session_id=new.session.id,
                     csrf_token=new.session.csrf_token,
                     idle_logout_minutes=auth.sessions.idle_minutes)
    response = json_response(out, status=status)
    response.set_cookie(SESSION_COOKIE, new.secret, httponly=True, secure=request.secure,
                        samesite="Strict", path="/")
    return response


def _user_agent(request: web.Request) -> str:
    return "".join(ch for ch in request.headers.get("User-Agent", "") if ch.isprintable())


def _audit(auth: AccountsAuthenticator, principal: Principal, action: str,
           details: str = "", result: str = "ok") -> None:
    auth.audit(action, user=principal.name, source=principal.source, details=details,
               result=result)


# --- first boot and the password policy --------------------------------------------------

@routes.post("/api/v1/init", body=InitBody, response=SessionOut, status=201, public=True,
             allow_uninitialized=True, only_uninitialized=True)
async def initialize(ctx: RequestContext[InitBody]) -> web.Response:
    """Set up the recorder: create the administrator and log in.

    Only before the recorder is set up (404 afterwards). The password must obey the
    password policy; a refusal lists every reason. Sets the session cookie and returns
    the CSRF token.
    """
    require_same_origin(ctx.request)
    auth = _auth(ctx)
    user = await _kdf_call(auth, auth.store.initialize, ctx.body.password, ctx.body.username)
    auth.mark_initialized()
    auth.audit("recorder initialized: administrator created", user=user.name,
               source=session_source(ctx.client_ip))
    new = auth.open_session(user, ip=ctx.client_ip, user_agent=_user_agent(ctx.request))
    return _session_answer(auth, user, new, ctx.request, 201)


@routes.post("/api/v1/password-policy/check", body=PolicyCheckBody, response=PolicyCheckOut,
             public=True, allow_uninitialized=True)
async def check_password_policy(ctx: RequestContext[PolicyCheckBody]) -> PolicyCheckOut:
    """Check a password against the policy as it is typed.

    Reads no account: the answer depends only on the username and password sent. Nothing
    is stored or logged.
    """
    body = ctx.body
    violations = check_password(body.password, body.username)
    return PolicyCheckOut(acceptable=not violations,
                          strength=strength(body.password, body.username),
                          violations=[ViolationOut(code=v.code.value, message=v.message)
                                      for v in violations])


# --- the session -------------------------------------------------------------------------

@routes.post("/api/v1/session", body=LoginBody, response=SessionOut, status=201, public=True)
async def log_in(ctx: RequestContext[LoginBody]) -> web.Response:
    """Log in: sets the session cookie and returns the CSRF token.

    After too many failures the account and the source address are locked for a while
    (403 ``locked`` with Retry-After); a refused login is 401 ``login_failed`` whatever
    the reason.
    """
    require_same_origin(ctx.request)
    auth = _auth(ctx)
    login = await auth.login(ctx.body.username, ctx.body.password, ip=ctx.client_ip,
                             user_agent=_user_agent(ctx.request))
    old = ctx.request.cookies.get(SESSION_COOKIE)
    if old:  # never keep a session id chosen before the login (session fixation)
        try:
            stale = auth.sessions.lookup(old)
        except SessionExpired:  # already ended by the lookup
            stale = None
        if stale is not None:
            auth.sessions.drop(stale.id)
    return _session_answer(auth, login.user, login.session, ctx.request, 201)


@routes.get("/api/v1/session", response=SessionOut)
async def who_am_i(ctx: RequestContext) -> SessionOut:
    """Who is logged in, with which rights, and the session's CSRF token."""
    auth, principal = _auth(ctx), _principal(ctx)
    csrf = None
    if principal.session_id is not None:
        session = auth.sessions.get(principal.session_id)
        csrf = session.csrf_token if session is not None else None
    return SessionOut(user=principal.name, group=principal.group,
                      rights=RightsModel.of(principal.rights), via=principal.via,
                      session_id=principal.session_id, csrf_token=csrf,
                      idle_logout_minutes=auth.sessions.idle_minutes)


@routes.delete("/api/v1/session")
async def log_out(ctx: RequestContext) -> web.Response:
    """Log out: ends this session and clears its cookie."""
    auth, principal = _auth(ctx), _principal(ctx)
    if principal.session_id is None:
        raise ApiError(400, "no_session", "an API token has no session to log out of; "
                                          "revoke the token instead (DELETE /api/v1/tokens/{id})")
    auth.sessions.drop(principal.session_id)
    _audit(auth, principal, "logged out")
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/", secure=ctx.request.secure, httponly=True,
                        samesite="Strict")
    return response


@routes.get("/api/v1/sessions", response=list[SessionInfoOut])
async def list_sessions(ctx: RequestContext) -> list[SessionInfoOut]:
    """Who is online: every open browser session (needs the security or accounts right)."""
    auth, principal = _auth(ctx), _principal(ctx)
    _require_any_right(auth, principal, SystemRight.SECURITY, SystemRight.ACCOUNTS)
    return [SessionInfoOut(id=s.id, user=s.user, ip=s.ip, user_agent=s.user_agent,
                           created_us=s.created_us, last_seen_us=s.last_seen_us,
                           idle_seconds=round(s.idle_seconds, 1),
                           current=s.id == principal.session_id)
            for s in auth.sessions.online()]


@routes.delete("/api/v1/sessions/{id:[0-9a-f]{16}}", path_model=SessionPath)
async def end_session(ctx: RequestContext[None, None, SessionPath]) -> None:
    """Kick: end a user's session (needs the security or accounts right)."""
    auth, principal = _auth(ctx), _principal(ctx)
    _require_any_right(auth, principal, SystemRight.SECURITY, SystemRight.ACCOUNTS)
    ended = auth.sessions.drop(ctx.path.id)
    if ended is None:
        raise ApiError(404, "not_found", f"there is no open session {ctx.path.id!r}")
    _audit(auth, principal, "session ended by an administrator",
           f"user {ended.user!r}, logged in from {ended.ip}")


# --- users -------------------------------------------------------------------------------

USER_PATH = "/api/v1/users/{name:" + NAME_PATTERN + "}"


@routes.get("/api/v1/users", response=list[UserOut], right=SystemRight.ACCOUNTS)
async def list_users(ctx: RequestContext) -> list[UserOut]:
    """Every user, by name."""
    users = await _store_call(_auth(ctx).store.list_users)
    return [UserOut.of(u) for u in users]


@routes.post("/api/v1/users", body=UserCreate, response=UserOut, status=201,
             right=SystemRight.ACCOUNTS)
async def create_user(ctx: RequestContext[UserCreate]) -> web.Response:
    """Create a user; without rights it gets its group's rights.

    You can only hand out rights you hold yourself.
    """
    auth, principal, body = _auth(ctx), _principal(ctx), ctx.body
    actor = await auth.actor(principal)
    user = await _kdf_call(
        auth, auth.store.create_user, body.name, body.password, body.group,
        rights=_rights(body.rights, "body.rights"), description=body.description,
        enabled=body.enabled, login_windows=_windows(body.login_windows, "body.login_windows"),
        actor=actor)
    _audit(auth, principal, "user created", f"user {user.name!r} in group {user.group!r}")
    return json_response(UserOut.of(user), status=201)


@routes.get(USER_PATH, path_model=UserPath, response=UserOut, right=SystemRight.ACCOUNTS)
async def get_user(ctx: RequestContext[None, None, UserPath]) -> UserOut:
    """One user."""
    return UserOut.of(await _store_call(_auth(ctx).store.get_user, ctx.path.name))


@routes.patch(USER_PATH, path_model=UserPath, body=UserPatch, response=UserOut,
              right=SystemRight.ACCOUNTS)
async def update_user(ctx: RequestContext[UserPatch, None, UserPath]) -> UserOut:
    """Change a user's group, rights, description, enabled state or login windows.

    A user whose rights change or who is disabled is logged out.
    """
    auth, principal, body = _auth(ctx), _principal(ctx), ctx.body
    actor = await auth.actor(principal)
    windows: LoginWindows | Keep | None = KEEP
    if "login_windows" in body.model_fields_set:
        windows = _windows(body.login_windows, "body.login_windows")
    before = await _store_call(auth.store.get_user, ctx.path.name)
    user = await _store_call(auth.store.update_user, ctx.path.name, group=body.group,
                             rights=_rights(body.rights, "body.rights"),
                             description=body.description, enabled=body.enabled,
                             login_windows=windows, actor=actor)
    auth.forget_user(user.name)
    if user.rights != before.rights or not user.enabled:
        auth.sessions.drop_user(user.name)
    changed = sorted(body.model_fields_set)
    _audit(auth, principal, "user changed", f"user {user.name!r}: {', '.join(changed)}")
    return UserOut.of(user)


@routes.delete(USER_PATH, path_model=UserPath, right=SystemRight.ACCOUNTS)
async def delete_user(ctx: RequestContext[None, None, UserPath]) -> None:
    """Delete a user, its sessions and its API tokens (never the last administrator)."""
    auth, principal = _auth(ctx), _principal(ctx)
    actor = await auth.actor(principal)
    user = await _store_call(auth.store.get_user, ctx.path.name)
    await _store_call(auth.store.delete_user, user.name, actor=actor)
    auth.forget_user(user.name)
    auth.sessions.drop_user(user.name)
    _audit(auth, principal, "user deleted", f"user {user.name!r}")


@routes.put(USER_PATH + "/password", path_model=UserPath, body=PasswordBody,
            response=UserOut)
async def set_password(ctx: RequestContext[PasswordBody, None, UserPath]) -> UserOut:
    """Change your own password (send the current one), or reset another user's (needs the
    accounts right).

    Your other sessions end; the user of a reset is logged out everywhere.
    """
    auth, principal, body = _auth(ctx), _principal(ctx), ctx.body
    if ctx.path.name.casefold() == principal.name.casefold():
        user = await _change_own_password(auth, principal, body)
        auth.forget_user(user.name)
        if principal.session_id is not None:
            auth.sessions.rebind(principal.session_id,
                                 password_changed_us=user.password_changed_us,
                                 rights=user.rights)
        auth.sessions.drop_user(user.name, keep=principal.session_id)
        _audit(auth, principal, "password changed", f"user {user.name!r}")
        return UserOut.of(user)
    _require_any_right(auth, principal, SystemRight.ACCOUNTS)
    actor = await auth.actor(principal)
    user = await _kdf_call(auth, auth.store.set_password, ctx.path.name, body.new_password,
                           actor=actor, password_field="body.new_password")
    auth.forget_user(user.name)
    auth.sessions.drop_user(user.name)
    _audit(auth, principal, "password reset by an administrator", f"user {user.name!r}")
    return UserOut.of(user)


async def _change_own_password(auth: AccountsAuthenticator, principal: Principal,
                               body: PasswordBody) -> User:
    if body.old_password is None:
        raise _invalid("body.old_password",
                       "changing your own password needs your current password")
    # A stolen session must not become a way to guess the password: the lockout applies.
    auth.check_guess_allowed(principal.name, principal.ip)
    try:
        return await auth.run_kdf(auth.store.change_own_password, principal.name,
                                  body.old_password, body.new_password)
    except WrongOldPassword as exc:
        auth.count_failed_guess("password change refused", principal.name, principal.ip,
                                "wrong_old_password", principal.source)
        raise api_error(exc) from None
    except AccountError as exc:
        raise api_error(exc, password_field="body.new_password") from None


# --- groups ------------------------------------------------------------------------------

GROUP_PATH = "/api/v1/groups/{name:" + NAME_PATTERN + "}"


@routes.get("/api/v1/groups", response=list[GroupOut], right=SystemRight.ACCOUNTS)
async def list_groups(ctx: RequestContext) -> list[GroupOut]:
    """Every group, the built-in ones first."""
    return [GroupOut.of(g) for g in await _store_call(_auth(ctx).store.list_groups)]


@routes.post("/api/v1/groups", body=GroupCreate, response=GroupOut, status=201,
             right=SystemRight.ACCOUNTS)
async def create_group(ctx: RequestContext[GroupCreate]) -> web.Response:
    """Create a group (with rights you hold yourself)."""
    auth, principal, body = _auth(ctx), _principal(ctx), ctx.body
    actor = await auth.actor(principal)
    group = await _store_call(auth.store.create_group, body.name,
                              _rights(body.rights, "body.rights"), body.description,
                              actor=actor)
    _audit(auth, principal, "group created",
           f"group {group.name!r}: {group.rights.describe()}")
    return json_response(GroupOut.of(group), status=201)


@routes.get(GROUP_PATH, path_model=UserPath, response=GroupOut, right=SystemRight.ACCOUNTS)
async def get_group(ctx: RequestContext[None, None, UserPath]) -> GroupOut:
    """One group."""
    return GroupOut.of(await _store_call(_auth(ctx).store.get_group, ctx.path.name))


@routes.patch(GROUP_PATH, path_model=UserPath, body=GroupPatch, response=GroupChangeOut,
              right=SystemRight.ACCOUNTS)
async def update_group(ctx: RequestContext[GroupPatch, None, UserPath]) -> GroupChangeOut:
    """Rename, describe or change the rights of a group.

    Shrinking the rights clips its users' rights; those users are logged out.
    """
    auth, principal, body = _auth(ctx), _principal(ctx), ctx.body
    actor = await auth.actor(principal)
    change = await _store_call(auth.store.update_group, ctx.path.name, new_name=body.name,
                               description=body.description,
                               rights=_rights(body.rights, "body.rights"), actor=actor)
    auth.forget_user()
    for name in change.clipped_users:
        auth.sessions.drop_user(name)
    details = f"group {ctx.path.name!r}: {', '.join(sorted(body.model_fields_set))}"
    if change.clipped_users:
        details += f"; rights clipped for {', '.join(change.clipped_users)}"
    _audit(auth, principal, "group changed", details)
    return GroupChangeOut(group=GroupOut.of(change.group),
                          clipped_users=list(change.clipped_users))


@routes.delete(GROUP_PATH, path_model=UserPath, right=SystemRight.ACCOUNTS)
async def delete_group(ctx: RequestContext[None, None, UserPath]) -> None:
    """Delete an empty group (the built-in ones cannot be deleted)."""
    auth, principal = _auth(ctx), _principal(ctx)
    actor = await auth.actor(principal)
    await _store_call(auth.store.delete_group, ctx.path.name, actor=actor)
    _audit(auth, principal, "group deleted", f"group {ctx.path.name!r}")


# --- API tokens --------------------------------------------------------------------------

@routes.get("/api/v1/tokens", query=TokenQuery, response=list[TokenOut])
async def list_tokens(ctx: RequestContext[None, TokenQuery]) -> list[TokenOut]:
    """Your API tokens; another user's or everyone's with the accounts right.

    Never the secrets.
    """
    auth, principal, query = _auth(ctx), _principal(ctx), ctx.query
    owner: str | None = principal.name
    if query.all or (query.user is not None
                     and query.user.casefold() != principal.name.casefold()):
        _require_any_right(auth, principal, SystemRight.ACCOUNTS)
        owner = None if query.all else query.user
    return [TokenOut.of(t) for t in await _store_call(auth.store.list_tokens, owner)]


@routes.post("/api/v1/tokens", body=TokenCreate, response=IssuedTokenOut, status=201)
async def issue_token(ctx: RequestContext[TokenCreate]) -> web.Response:
    """Issue an API token (for yourself; for another user with the accounts right).

    The answer holds the secret, this once.
    """
    auth, principal, body = _auth(ctx), _principal(ctx), ctx.body
    actor = await auth.actor(principal)
    expires_us = None
    if body.expires_in_days is not None:
        expires_us = (int(datetime.datetime.now(datetime.UTC).timestamp() * 1_000_000)
                      + body.expires_in_days * 86_400_000_000)
    issued = await _store_call(auth.store.issue_token, body.user or principal.name, body.name,
                               expires_us, actor=actor)
    _audit(auth, principal, "API token issued",
           f"token {issued.token.name!r} ({issued.token.id}) of user {issued.token.user!r}")
    return json_response(IssuedTokenOut(token=TokenOut.of(issued.token),
                                        secret=issued.secret), status=201)


@routes.delete("/api/v1/tokens/{id:[0-9a-f]{16}}", path_model=TokenPath)
async def revoke_token(ctx: RequestContext[None, None, TokenPath]) -> None:
    """Revoke an API token: yours, or another user's with the accounts right."""
    auth, principal = _auth(ctx), _principal(ctx)
    actor = await auth.actor(principal)
    await _store_call(auth.store.revoke_token, ctx.path.id, actor=actor)
    auth.forget_user()  # the token may be remembered: it is refused from now on
    _audit(auth, principal, "API token revoked", f"token {ctx.path.id}")


# --- lockouts ----------------------------------------------------------------------------

def _locks_out(locks: list[LockInfo]) -> list[LockOut]:
    return [LockOut(kind=lock.kind.value, key=lock.key,
                    remaining_seconds=round(lock.remaining_seconds, 1)) for lock in locks]


@routes.get("/api/v1/security/lockouts", response=list[LockOut], right=SystemRight.SECURITY)
async def list_lockouts(ctx: RequestContext) -> list[LockOut]:
    """Accounts and addresses locked after failed logins, with the time left."""
    return _locks_out(_auth(ctx).lockout.locked())


@routes.delete("/api/v1/security/lockouts", query=LockQuery, response=list[LockOut],
               right=SystemRight.SECURITY)
async def release_lockouts(ctx: RequestContext[None, LockQuery]) -> list[LockOut]:
    """Release the lock of an account (``username``) or address (``ip``), or every lock.

    Returns the locks released.
    """
    auth, principal, query = _auth(ctx), _principal(ctx), ctx.query
    released = auth.lockout.unlock(query.username, query.ip)
    what = ", ".join(f"{lock.kind.value} {lock.key}" for lock in released) or "nothing locked"
    _audit(auth, principal, "login locks released", what)
    return _locks_out(released)
