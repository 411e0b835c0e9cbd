"""``status``: the whole box on one screen, for the first minute of a service visit.

Each section is built on its own: a service that is down or failing prints its error in
its section and the others still show (a technician is usually there because something
is broken).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import time
from collections.abc import Callable

import psutil

import nvrd
from hal.poe.budget import PoePortStatus
from nvrd.console.commands.disks import format_bytes
from nvrd.console.registry import Command, Context, table
from nvrd.events.log import EventFilter
from nvrd.hardware.alarmio import AlarmInputStatus, AlarmOutputStatus
from nvrd.system.status import DaemonStatus

RECENT_EVENTS = 8


async def _status(ctx: Context, args: list[str]) -> None:
    status = ctx.daemon.status()
    zone = ctx.zone
    sections: list[tuple[str, Callable[[], str]]] = [
        ("System", lambda: _system(ctx, status)),
        ("Cameras", lambda: _cameras(status)),
        ("Disks", lambda: _disks(status)),
        ("PoE", lambda: _poe(status)),
        ("Alarm I/O", lambda: _alarm_io(status)),
        ("Front panel", lambda: _panel(ctx)),
    ]
    for title, build in sections:
        ctx.out(f"== {title}")
        try:
            ctx.out(build())
        except Exception as exc:
            ctx.out(f"  unavailable: {type(exc).__name__}: {exc}")
        ctx.out("")
    ctx.out("== Recent events")
    try:
        ctx.out(await _events(ctx, zone))
    except Exception as exc:
        ctx.out(f"  unavailable: {type(exc).__name__}: {exc}")


def _system(ctx: Context, status: DaemonStatus) -> str:
    memory = psutil.virtual_memory()
    load = os.getloadavg()
    lines = [
        f"  nvrd {nvrd.__version__}, Python {platform.python_version()}, "
        f"kernel {platform.release()}",
        f"  board: {status.board}",
        f"  daemon up {_uptime(status.uptime_s)}; box up "
        f"{_uptime(time.time() - psutil.boot_time())}",
        f"  CPU {psutil.cpu_percent(interval=None):.0f}% (load {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f}, {psutil.cpu_count()} cores); memory {memory.percent:.0f}% used "
        f"({format_bytes(memory.available)} free of {format_bytes(memory.total)})",
        f"  temperature: {_temperatures()}",
        f"  configuration: {status.config_source}"
        + (f" — REJECTED FILE: {status.config_error.splitlines()[0]}"
           if status.config_error else ""),
        "  health: " + ("ok" if not status.problems else "; ".join(status.problems)),
    ]
    return "\n".join(lines)


def _temperatures() -> str:
    try:
        sensors = psutil.sensors_temperatures()
    except (AttributeError, OSError):
        sensors = {}
    readings = [f"{name} {entry.current:.0f} °C" for name, entries in sorted(sensors.items())
                for entry in entries[:1]]
    return ", ".join(readings) if readings else "no sensor readable"


def _cameras(status: DaemonStatus) -> str:
    if not status.channels:
        return "  no cameras configured"
    recording = {c.channel: c for c in status.recording}
    rows = []
    for channel in status.channels:
        rec = recording.get(channel.channel)
        for stream, state in sorted(channel.streams.items()):
            segmenter = rec.streams.get(stream) if rec is not None else None
            rows.append([
                channel.channel, channel.name, stream,
                "disabled" if not channel.enabled else ("online" if state.online
                                                        else "OFFLINE"),
                f"{state.bitrate_kbps:.0f} kb/s" if state.bitrate_kbps else "-",
                f"{state.width}x{state.height}" if state.width else "-",
                ("recording" if segmenter.recording else "idle") if segmenter else "-",
                (rec.mode if rec else "-"),
                (segmenter.volume or "-") if segmenter else "-",
                (state.last_error or "")[:50] if not state.online else "",
            ])
    summary = (f"  {status.cameras_online}/{status.cameras_enabled} online, "
               f"{status.streams_recording} streams recording")
    return summary + "\n" + _indent(table(
        ["CH", "NAME", "STREAM", "STATE", "BITRATE", "SIZE", "RECORDING", "MODE", "VOLUME",
         "LAST ERROR"], rows))


def _disks(status: DaemonStatus) -> str:
    parts = []
    if status.bays:
        parts.append(_indent(table(
            ["BAY", "STATE", "MODEL", "SIZE", "SMART", "MOUNTED AT", "PROBLEM"],
            [[b.bay, b.state, b.model or "-", format_bytes(b.size_bytes), b.smart or "-",
              b.mount_point or "-", b.problem or ""] for b in status.bays])))
    writing = {volume for channel in status.recording for s in channel.streams.values()
               if s.recording and (volume := s.volume)}
    if status.volumes:
        parts.append(_indent(table(
            ["VOLUME", "STATE", "FREE", "SIZE", "WRITING", "REASON"],
            [[v.name, v.state, format_bytes(v.free_bytes), format_bytes(v.total_bytes),
              "yes" if v.name in writing else "no", v.reason or ""]
             for v in status.volumes])))
    return "\n".join(parts) if parts else "  no bays and no recording volumes configured"


def _poe(status: DaemonStatus) -> str:
    hardware = status.hardware
    if hardware is None or not hardware.poe_ports:
        return "  " + ((hardware.problems.get("PoE") if hardware else None)
                       or "no PoE ports on this board")
    return poe_table(hardware.poe_ports)


def poe_table(ports: list[PoePortStatus]) -> str:
    """Every port: channel, admin state, power state, device class, draw, fault."""
    rows: list[list[object]] = []
    total = 0
    for port in ports:
        total += port.power_mw or 0
        rows.append([port.port, port.camera_channel or "-",
                     "enabled" if port.admin_enabled else "DISABLED", port.power.value,
                     f"class {port.pd_class}" if port.pd_class is not None else "-",
                     f"{port.power_mw / 1000:.1f} W" if port.power_mw is not None else "-",
                     port.fault or ""])
    return _indent(table(["PORT", "CH", "ADMIN", "POWER", "DEVICE", "DRAWS", "FAULT"], rows)
                   ) + f"\n  total drawn: {total / 1000:.1f} W"


def _alarm_io(status: DaemonStatus) -> str:
    hardware = status.hardware
    if hardware is None or not (hardware.alarm_inputs or hardware.alarm_outputs):
        return "  " + ((hardware.problems.get("alarm I/O") if hardware else None)
                       or "no alarm inputs or outputs on this board")
    return alarm_tables(hardware.alarm_inputs, hardware.alarm_outputs)


def alarm_tables(inputs: list[AlarmInputStatus], outputs: list[AlarmOutputStatus]) -> str:
    """Alarm inputs (contact, state) and relay outputs (on/off, mode)."""
    text = _indent(table(["IN", "NAME", "CONTACT", "STATE", "ENABLED"],
                         [[i.number, i.name, i.contact, "ALARM" if i.active else "normal",
                           "yes" if i.enabled else "no"] for i in inputs]))
    text += "\n" + _indent(table(["OUT", "NAME", "STATE", "MODE"],
                                 [[o.number, o.name, "ON" if o.on else "off", o.mode]
                                  for o in outputs]))
    return text


def _panel(ctx: Context) -> str:
    hardware = ctx.daemon.hardware
    if hardware is None or hardware.panel is None:
        reason = hardware.problems.get("front panel") if hardware is not None else None
        return "  " + (reason or "no front panel lamps on this board")
    looks = hardware.panel.looks()
    return f"  phase: {hardware.panel.phase}\n" + _indent(table(
        ["LAMP", "LOOK"], sorted(looks.items())))


async def _events(ctx: Context, zone: dt.tzinfo) -> str:
    events = ctx.daemon.events
    if events is None:
        return "  the event service is not running"
    logged = await ctx.blocking(events.log.query, EventFilter(), RECENT_EVENTS)
    if not logged:
        return "  none"
    rows = []
    for entry in reversed(logged):
        event = entry.event
        moment = dt.datetime.fromtimestamp(event.time_us / 1e6, zone)
        rows.append([moment.strftime("%Y-%m-%d %H:%M:%S"), str(event.kind),
                     str(event.phase), event.source, event.channel or "-"])
    return _indent(table(["TIME", "KIND", "PHASE", "SOURCE", "CH"], rows))


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _uptime(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return (f"{days}d " if days else "") + f"{hours:02d}:{minutes:02d}:{seconds:02d}"


COMMANDS = [
    Command("status", _status, "the whole box: versions, load, cameras, disks, PoE, alarm "
            "I/O, lamps, recent events", aliases=("st",)),
]
