"""``GET /api/v1/health``: is the recorder alive and are its cameras online.

Answers without a login (monitoring systems and load balancers poll it, and it must
answer on an uninitialized box too), so it shows states and counts, never addresses or
credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel

from nvrd.system.status import DaemonStatus
from nvrd.web.api.registry import ApiRegistry, RequestContext, json_response

STATUS_KEY: web.AppKey[Callable[[], DaemonStatus]] = web.AppKey("daemon_status")

routes = ApiRegistry(tags=("system",))


def setup(app: web.Application, status: Callable[[], DaemonStatus]) -> None:
    """Where the health route finds the daemon's status (the route is in ``routes``)."""
    app[STATUS_KEY] = status


class ConfigState(BaseModel):
    source: str
    """"file", "last-good" or "defaults": where the running configuration came from."""
    error: str | None


class HealthReport(BaseModel):
    """The recorder's health: states and counts, never addresses or credentials."""

    status: Literal["ok", "unhealthy"]
    version: str
    uptime_seconds: float
    board: str
    config: ConfigState
    problems: list[str]
    """Why the recorder is unhealthy; empty when it is healthy."""
    cameras_online: int
    cameras_enabled: int
    cameras: list[dict[str, Any]]
    recording: list[dict[str, Any]]
    volumes: list[dict[str, Any]]
    bays: list[dict[str, Any]]
    hardware: dict[str, Any] | None


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


@routes.get("/api/v1/health", response=HealthReport, other_statuses=(503,), public=True,
            allow_uninitialized=True)
async def get_health(ctx: RequestContext) -> web.Response:
    """Whether the recorder is healthy, and the state of its cameras, disks and hardware.

    Answers without a login, also before the recorder is set up: 200 when healthy,
    503 with the same report when not (monitoring systems poll it).
    """
    status = ctx.app[STATUS_KEY]()
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
    report = HealthReport.model_validate(body)
    return json_response(report, status=200 if not status.problems else 503)
