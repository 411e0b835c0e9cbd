"""PoE ports, alarm terminals and the PTZ bus: look, switch, and test.

The same operations as the web API, through the same services and the same saved
settings (``nvrd.hardware.settings``), so what a technician switches here is what the
web page shows, and it survives a restart.
"""

from __future__ import annotations

from typing import Any

from hal.poe import PortNotEnabled, PowerBudgetExceeded, UnknownPort
from hal.poe.base import PseError
from hal.ptz import PtzError
from nvrd.console.commands.status import alarm_tables, poe_table
from nvrd.console.registry import Command, CommandError, Context, UsageError
from nvrd.hardware.ptz import PtzUnavailable
from nvrd.hardware.settings import poe_port_enabled, relay_mode


def number(text: str, what: str) -> int:
    """A positive whole number typed by the technician, or a usage error naming it."""
    if not text.isdigit() or not 0 < int(text) < 10_000:
        raise UsageError(f"{what} must be a number like 1, not {text[:20]!r}")
    return int(text)


# --- PoE ------------------------------------------------------------------------------------

def _poe(ctx: Context) -> Any:
    hardware = ctx.service("hardware")
    if hardware.poe is None:
        raise CommandError("PoE: " + (hardware.problems.get("PoE")
                                      or "this board has no PoE ports"))
    return hardware.poe


def _port(ctx: Context, args: list[str]) -> int:
    if len(args) != 1:
        raise UsageError("give one port number")
    port = number(args[0], "the port")
    if not any(p.port == port for p in _poe(ctx).status()):
        raise CommandError(f"there is no PoE port {port} on this recorder")
    return port


def _show_port(ctx: Context, port: int) -> None:
    ctx.out(poe_table([p for p in _poe(ctx).status() if p.port == port]))


async def _poe_show(ctx: Context, args: list[str]) -> None:
    poe = _poe(ctx)
    ports = list(poe.status())
    ctx.out(poe_table(ports))
    allocated = sum(p.allocated_mw for p in ports)
    ctx.out(f"  budget: {poe.opened.manager.budget_mw / 1000:.1f} W, "
            f"{allocated / 1000:.1f} W allocated")


async def _poe_on(ctx: Context, args: list[str]) -> None:
    await _switch(ctx, _port(ctx, args), on=True)


async def _poe_off(ctx: Context, args: list[str]) -> None:
    port = _port(ctx, args)
    if await ctx.confirm(f"The device on PoE port {port} loses power.", "off"):
        await _switch(ctx, port, on=False)


async def _switch(ctx: Context, port: int, *, on: bool) -> None:
    """Switch ``port`` and keep it so across restarts (the saved ``[[poe.ports]]``)."""
    poe = _poe(ctx)
    try:
        await (poe.enable(port) if on else poe.disable(port))
    except PowerBudgetExceeded as exc:
        raise CommandError(str(exc)) from None
    except PseError as exc:
        raise CommandError(f"PoE port {port}: {exc}") from None
    await ctx.daemon.change_config(poe_port_enabled(port, on), what=f"PoE port {port} "
                                   f"{'enabled' if on else 'disabled'}", user=ctx.username,
                                   source="console")
    _show_port(ctx, port)


async def _poe_cycle(ctx: Context, args: list[str]) -> None:
    port = _port(ctx, args)
    ctx.out(f"power-cycling PoE port {port} (off, discharge, on)...")
    try:
        await _poe(ctx).power_cycle(port)
    except (PortNotEnabled, UnknownPort) as exc:
        raise CommandError(str(exc)) from None
    except PseError as exc:
        raise CommandError(f"PoE port {port}: {exc}") from None
    ctx.audit(f"PoE port {port} power cycle", type="poe")
    _show_port(ctx, port)


# --- alarm I/O ----------------------------------------------------------------------------

def _alarm_io(ctx: Context) -> Any:
    hardware = ctx.service("hardware")
    if hardware.alarm_io is None:
        raise CommandError("alarm I/O: " + (hardware.problems.get("alarm I/O")
                                            or "this board has no alarm terminals"))
    return hardware.alarm_io


async def _alarm_show(ctx: Context, args: list[str]) -> None:
    alarm_io = _alarm_io(ctx)
    ctx.out(alarm_tables(list(alarm_io.inputs()), list(alarm_io.outputs())))


async def _relay(ctx: Context, args: list[str]) -> None:
    if len(args) != 2 or args[1].lower() not in ("on", "off", "auto"):
        raise UsageError("give the output number and on, off or auto")
    output, mode = number(args[0], "the output"), args[1].lower()
    alarm_io = _alarm_io(ctx)
    if not any(o.number == output for o in alarm_io.outputs()):
        raise CommandError(f"there is no alarm output {output} on this recorder")
    await ctx.daemon.change_config(relay_mode(output, mode), what=f"alarm output {output} "
                                   f"set to {mode}", user=ctx.username, source="console")
    if mode == "auto":  # linkage drives it from now on; until it does, it is off
        try:
            alarm_io.set_relay(output, False, reason="mode auto")
        except RuntimeError as exc:
            raise CommandError(f"alarm output {output}: {exc}") from None
    state = next(o for o in alarm_io.outputs() if o.number == output)
    ctx.out(f"alarm output {output} ({state.name}): {'ON' if state.on else 'off'}, "
            f"mode {state.mode}")


# --- PTZ ------------------------------------------------------------------------------------

async def _ptz(ctx: Context, args: list[str]) -> None:
    if len(args) == 1 and args[0].lower() == "show":
        await _ptz_show(ctx)
        return
    if len(args) != 3 or args[1].lower() != "preset":
        raise UsageError("give the channel, 'preset' and the preset number")
    channel, preset = number(args[0], "the channel"), number(args[2], "the preset")
    ptz = ctx.service("hardware").ptz
    if ptz is None:
        raise CommandError("the PTZ service is not running")
    try:
        camera = await ptz.camera(channel)
        await camera.call_preset(preset)
    except PtzUnavailable as exc:
        raise CommandError(str(exc)) from None
    except (PtzError, ValueError) as exc:
        raise CommandError(f"channel {channel}: {exc}") from None
    dome: dict[str, object] = next(
        (d for d in ptz.describe() if d["channel"] == channel), {})
    how = (f"{dome.get('dome')} at {dome.get('baud')} baud" if dome.get("baud")
           else str(dome.get("dome", "")))
    ctx.out(f"channel {channel}: go to preset {preset} sent ({how})")
    ctx.audit(f"channel {channel}: preset {preset} called (console bus test)", type="ptz")


async def _ptz_show(ctx: Context) -> None:
    hardware = ctx.service("hardware")
    ptz = hardware.ptz
    problem = hardware.problems.get("PTZ bus")
    if problem:
        ctx.out(f"PTZ bus: {problem}")
    domes = ptz.describe() if ptz is not None else []
    if not domes:
        ctx.out("no PTZ cameras configured")
    for dome in domes:
        ctx.out(f"channel {dome['channel']}: {dome['dome']}"
                + (f" at {dome['baud']} baud" if dome.get("baud") else "")
                + (" (touring)" if dome.get("touring") else ""))


COMMANDS = [
    Command("poe show", _poe_show, "every PoE port: power, class, draw, faults",
            aliases=("poe",)),
    Command("poe on", _poe_on, "switch a port on (kept across restarts)", usage="PORT",
            right="camera"),
    Command("poe off", _poe_off, "switch a port off (asks first)", usage="PORT",
            right="camera"),
    Command("poe cycle", _poe_cycle, "power-cycle a port: the remote reboot of a hung "
            "camera", usage="PORT", right="camera"),
    Command("alarm show", _alarm_show, "alarm inputs and relay outputs",
            aliases=("alarm", "alarms")),
    Command("alarm relay", _relay, "force a relay on or off, or give it back to linkage",
            usage="OUTPUT on|off|auto", right="alarm_output"),
    Command("ptz", _ptz, "call a preset on a channel's PTZ camera (a bus test), or list "
            "the PTZ cameras", usage="CHANNEL preset N | show", right="ptz"),
]
