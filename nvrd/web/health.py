"""``GET /api/v1/health``: is the recorder alive and are its cameras online.

Answers without a login (monitoring systems and load balancers poll it, and it must
answer on an uninitialized box too), so it shows states and counts, never addresses or
credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from aiohttp import web

from nvrd.system.status import DaemonStatus

STATUS_KEY: web.AppKey[Callable[[], DaemonStatus]] = web.AppKey("daemon_status")


def setup(app: web.Application, status: Callable[[], DaemonStatus]) -> None:
    app[STATUS_KEY] = status
    app.router.add_get("/api/v1/health", get_health)


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
    }
    return web.json_response(body, status=200 if not status.problems else 503)
