"""Recovery mode: what the console offers before login (type ``recovery`` at ``login:``).

Only what physical access to the box gives anyway: when the configuration file does not
load, see why and put back the last-known-good copy or the factory configuration; and
reset the admin password with the reset button's proof of presence. Everything else
needs a login.
"""

from __future__ import annotations

from nvrd.console.commands.accounts import COMMANDS as PASSWD
from nvrd.console.registry import Command, CommandError, Context, Registry, UsageError

__all__ = ["recovery_registry"]


def _problem(ctx: Context) -> tuple[str, str]:
    from nvrd.console.session import config_problem

    problem = config_problem(ctx.daemon)
    if problem is None:
        raise CommandError("the configuration file loads fine: log in to change settings")
    return problem


async def _show(ctx: Context, args: list[str]) -> None:
    from nvrd.console.session import config_problem

    problem = config_problem(ctx.daemon)
    if problem is None:
        ctx.out("The configuration file loads fine.")
        return
    source, error = problem
    ctx.out(f"Running on the {source} configuration because the file was rejected:")
    ctx.out(error)


async def _restore(ctx: Context, args: list[str]) -> None:
    if args not in (["last-good"], ["factory"]):
        raise UsageError("restore last-good | restore factory")
    _problem(ctx)
    if args == ["last-good"]:
        if not await ctx.confirm("The rejected file is replaced by the last configuration "
                                 "that loaded.", "restore"):
            return
        if not await ctx.daemon.restore_last_good("console recovery"):
            raise CommandError("there is no last good configuration; use 'restore factory'")
    else:
        if not await ctx.confirm("The rejected file is replaced by the factory "
                                 "configuration (cameras, schedules and storage settings "
                                 "are lost; recordings and accounts stay).", "restore"):
            return
        await ctx.daemon.factory_reset("console recovery")
    ctx.out("Restored; the recorder runs on it now. Type 'exit' and log in.")


def recovery_registry() -> Registry:
    return Registry([
        Command("show", _show, "why the configuration file was rejected"),
        Command("restore", _restore, "replace a rejected configuration file",
                usage="last-good | factory"),
        *PASSWD,
    ])
