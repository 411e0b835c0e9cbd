"""``GET /api/v1/health``: is the recorder alive and are its cameras online.

Answers without a login (monitoring systems and load balancers poll it, and it must
answer on an uninitialized box too), so it shows states and counts, never addresses or
credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from aiohttp import web

from nvrd.system.status import DaemonStatus

STATUS_KEY: web.AppKey[Callable[[], DaemonStatus]] = web.AppKey("daemon_status")


def setup(app: web.Application, status: Callable[[], DaemonStatus]) -> None:
    app[STATUS_KEY] = status
    app.router.add_get("/api/v1/health", get_health)


_BAY_KEYS = ("bay", "label", "state", "problem", "model", "size_bytes", "filesystem",
             "smart", "smart_summary")
_POE_KEYS = ("port", "camera_channel", "admin_enabled", "shed", "power", "pd_class",
             "power_mw", "allocated_mw", "allowance_mw", "fault")


def _hardware(status: DaemonStatus) -> dict[str, Any] | None:
    hardware = status.hardware
    if hardware is None:
        return None
    return {
        "problems": hardware.problems,
        "alarm_inputs": [{"number": x.number, "name": x.name, "active": x.active,
                          "contact": x.contact, "enabled": x.enabled}
                         for x in hardware.alarm_inputs],
        "alarm_outputs": [asdict(x) for x in hardware.alarm_outputs],
        "poe_ports": [{key: (value.value if hasattr(value, "value") else value)
                       for key, value in ((k, getattr(p, k)) for k in _POE_KEYS)}
                      for p in hardware.poe_ports],
        "panel": hardware.panel,
        "ptz": hardware.ptz,
    }


async def get_health(request: web.Request) -> web.Response:
    status = request.app[STATUS_KEY]()
    body = {
        "status": "ok" if not status.problems else "unhealthy",
        "version": status.version,
        "uptime_seconds": round(status.uptime_s, 1),
        "board": status.board,
        "config": {"source": status.config_source, "error": status.config_error},
        "problems": status.problems,
        "cameras_online": status.cameras_online,
        "cameras_enabled": status.cameras_enabled,
        "cameras": [
            {
                "channel": channel.channel,
                "name": channel.name,
                "enabled": channel.enabled,
                "online": channel.online,
                "streams": {name: asdict(stream) for name, stream in channel.streams.items()},
            }
            for channel in status.channels
        ],
        "recording": [
            {
                "channel": channel.channel,
                "mode": channel.mode,
                "types": channel.types,
                "events": list(channel.events),
                "streams": {name: asdict(stream) for name, stream in channel.streams.items()},
            }
            for channel in status.recording
        ],
        "volumes": [
            {key: value for key, value in asdict(volume).items() if key != "path"}
            for volume in status.volumes
        ],
        # which disk is where, not serial numbers, device nodes or mount points
        "bays": [
            {key: value for key, value in asdict(bay).items() if key in _BAY_KEYS}
            for bay in status.bays
        ],
        "hardware": _hardware(status),
    }
    return web.json_response(body, status=200 if not status.problems else 503)
