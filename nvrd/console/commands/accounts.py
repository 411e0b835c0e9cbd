"""``passwd``: change your own password, or reset one — the admin's only with proof of
presence.

The forgotten-admin-password case (vendor FAQ: "contact your service engineer") is solved
by physical presence, not by a secret: the technician types ``passwd admin`` (logged in
as anyone, or in recovery mode without a login) and presses the reset button briefly
while the console waits (``nvrd.console.presence``). Resetting a non-admin user's
password needs the ``accounts`` right, as on the web page. After a reset the user's web
sessions end and the lockouts of that account (web and console) are released, so the
new password works at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nvrd.accounts.errors import AccountError, NotFound, WrongOldPassword
from nvrd.accounts.passwords import check_password, policy_summary
from nvrd.console.registry import Command, CommandError, Context, UsageError

PRESENCE_TIMEOUT_S = 60.0
AUDIT_TYPE = "security"


async def read_new_password(ask: Callable[..., Awaitable[str]], out: Callable[[str], None],
                            name: str) -> str | None:
    """A new password for ``name``, typed twice and checked against the policy (three
    tries); None when abandoned."""
    out(f"Password rules: {policy_summary()}")
    for _ in range(3):
        first = await ask(f"New password for {name}: ", secret=True)
        violations = check_password(first, name)
        if violations:
            out("Refused: the password " + "; ".join(v.message for v in violations))
            continue
        if await ask("Retype it: ", secret=True) != first:
            out("The two passwords differ.")
            continue
        return first
    return None


async def _passwd(ctx: Context, args: list[str]) -> None:
    if len(args) > 1:
        raise UsageError("give at most one user name")
    accounts = ctx.service("accounts")
    store = accounts.store
    if store is None:
        raise CommandError("the account store is not open (see the log)")
    auth = accounts.authenticator
    name = args[0] if args else ctx.username
    if not name:
        raise UsageError("give the user name (passwd admin)")
    try:
        target = await ctx.blocking(store.get_user, name)
    except NotFound:
        raise CommandError(f"there is no user {name[:64]!r}") from None
    own = ctx.user is not None and target.name.casefold() == ctx.user.name.casefold()
    if own:
        await _change_own(ctx, accounts, target.name)
        return
    if target.is_admin or ctx.user is None:
        await _prove_presence(ctx, target.name)
    elif not (ctx.user.is_admin or "accounts" in {str(r) for r in ctx.user.rights.system}):
        raise CommandError(f"resetting {target.name}'s password needs the 'accounts' right")
    password = await read_new_password(ctx.ask, ctx.out, target.name)
    if password is None:
        raise CommandError("no password set: nothing was changed")
    try:
        user = await auth.run_kdf(store.set_password, target.name, password)
    except AccountError as exc:
        raise CommandError(str(exc)) from None
    auth.forget_user(user.name)
    auth.sessions.drop_user(user.name)
    auth.lockout.unlock(username=user.name)
    ctx.service("console").logins.unlock(username=user.name)
    how = "with the reset button's proof of presence" if target.is_admin or not ctx.user \
        else "by an administrator"
    ctx.audit(f"password of {user.name!r} reset at the console {how}", type=AUDIT_TYPE)
    ctx.out(f"Password of {user.name} reset; their web sessions ended and their lockouts "
            "were released.")


async def _change_own(ctx: Context, accounts: object, name: str) -> None:
    auth = accounts.authenticator  # type: ignore[attr-defined]
    store = accounts.store  # type: ignore[attr-defined]
    old = await ctx.ask("Current password: ", secret=True)
    password = await read_new_password(ctx.ask, ctx.out, name)
    if password is None:
        raise CommandError("no password set: nothing was changed")
    try:
        user = await auth.run_kdf(store.change_own_password, name, old, password)
    except WrongOldPassword:
        ctx.audit("password change refused: wrong current password", type=AUDIT_TYPE,
                  result="failed")
        raise CommandError("the current password is wrong: nothing was changed") from None
    except AccountError as exc:
        raise CommandError(str(exc)) from None
    auth.forget_user(user.name)
    auth.sessions.drop_user(user.name)
    ctx.audit("password changed", type=AUDIT_TYPE, details=f"user {user.name!r}")
    ctx.out("Password changed; your web sessions ended.")


async def _prove_presence(ctx: Context, name: str) -> None:
    presence = ctx.presence
    if presence is None or not presence.available:
        ctx.audit(f"password reset of {name!r} refused", type=AUDIT_TYPE, result="refused",
                  details="no reset button to prove presence")
        raise CommandError("this recorder has no reset button to prove you are at it, so "
                           f"{name}'s password cannot be reset here")
    ctx.out(f"To reset {name}'s password, prove you are at the recorder: press the RESET "
            f"button briefly (under 5 s) within {PRESENCE_TIMEOUT_S:.0f} s.")
    ctx.out("(Holding it 5 s or more restores the factory settings instead.)")
    if not await presence.wait(PRESENCE_TIMEOUT_S):
        ctx.audit(f"password reset of {name!r} refused", type=AUDIT_TYPE, result="refused",
                  details="the reset button was not pressed")
        raise CommandError(f"the reset button was not pressed within "
                           f"{PRESENCE_TIMEOUT_S:.0f} s: {name}'s password is unchanged")
    ctx.out("Reset button pressed: presence confirmed.")


COMMANDS = [
    Command("passwd", _passwd, "change your password, or reset a user's (the admin's "
            "needs the reset button pressed)", usage="[USER]",
            details="Without a user: your own password (the current one is asked).\n"
                    "passwd admin: reset an administrator's password; you press the reset "
                    "button\nbriefly to prove you are at the recorder. Also in recovery "
                    "mode, without a login."),
]
