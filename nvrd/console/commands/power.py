"""``factory-reset``, ``reboot``, ``shutdown``: each asks for a typed word first.

All three stop nothing abruptly: the daemon's own shutdown closes the segments being
written, drains the writers and unmounts the bay disks before the board's power-off or
reboot command runs (vendor: "never cut power while the system is shutting down; the HDD
may fail").
"""

from __future__ import annotations

from nvrd.console.registry import Command, CommandError, Context, UsageError


async def _factory_reset(ctx: Context, args: list[str]) -> None:
    wipe_accounts = args == ["all"]
    if args and not wipe_accounts:
        raise UsageError("'factory-reset' or 'factory-reset all'")
    what = ("Every setting returns to the factory configuration: cameras, schedules, "
            "storage, alarms, network settings the recorder manages.")
    if wipe_accounts:
        what += ("\nEvery user, group and API token is deleted too: the recorder must be "
                 "initialized again.")
    what += "\nRecordings stay on the disks."
    if not await ctx.confirm(what, "factory-reset"):
        return
    await ctx.daemon.factory_reset("console")
    ctx.out("Factory configuration restored and running.")
    if wipe_accounts:
        accounts = ctx.service("accounts")
        if accounts.store is None:
            raise CommandError("the account store is not open: accounts were not wiped")
        await accounts.wipe(user=ctx.username, source="console",
                            why="console factory-reset all")
        ctx.out("Accounts wiped: log in as 'admin' to set a new administrator password.")


async def _reboot(ctx: Context, args: list[str]) -> None:
    if args:
        raise UsageError("reboot takes no arguments")
    if not await ctx.confirm("The recorder closes its recordings, unmounts its disks and "
                             "restarts; recording stops for about a minute.", "reboot"):
        return
    ctx.audit("reboot requested")
    ctx.out("Rebooting: closing recordings and unmounting disks...")
    await ctx.daemon.reboot("console")


async def _shutdown(ctx: Context, args: list[str]) -> None:
    if args:
        raise UsageError("shutdown takes no arguments")
    if not await ctx.confirm("The recorder closes its recordings, unmounts its disks and "
                             "switches off. Nothing records until it is powered on again.",
                             "shutdown"):
        return
    ctx.audit("shutdown requested")
    ctx.out("Shutting down: closing recordings and unmounting disks...")
    await ctx.daemon.shut_down("console")


COMMANDS = [
    Command("factory-reset", _factory_reset, "restore the factory configuration (asks "
            "first); 'all' also deletes the accounts", usage="[all]",
            right="restore_defaults"),
    Command("reboot", _reboot, "close recordings, unmount disks, restart (asks first)",
            right="reboot"),
    Command("shutdown", _shutdown, "close recordings, unmount disks, switch off (asks "
            "first)", right="reboot", aliases=("poweroff",)),
]
