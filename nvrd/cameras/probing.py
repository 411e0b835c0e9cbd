"""From a probed camera to a channel's settings: the one place that decides what "add by
address" and plug-and-play write into ``[[cameras]]``."""

from __future__ import annotations

from typing import Any

from nvrd.cameras.onvif.probe import ProbeResult

NAME_MAX = 64


def camera_entry(channel: int, probe: ProbeResult, username: str, password: str, *,
                 name: str | None = None) -> dict[str, Any]:
    """The ``[[cameras]]`` table of a probed ONVIF camera on ``channel``: its main and sub
    stream URLs as the camera gave them (credentials stay in ``username``/``password``,
    never in the URLs), its ONVIF address, profiles and identity, and whether it has
    PTZ. Recording settings are left to their defaults."""
    info = probe.info
    entry: dict[str, Any] = {
        "channel": channel,
        "name": (name or f"{info.model or 'Camera'} {probe.host}")[:NAME_MAX],
        "main": {"url": probe.main_url},
        "username": username,
        "password": password,
        "onvif": {
            "host": probe.host,
            "port": probe.port,
            "main_profile": probe.main.token[:64],
            "sub_profile": probe.sub.token[:64] if probe.sub is not None else "",
            "ptz": probe.ptz,
            "manufacturer": info.manufacturer[:64],
            "model": info.model[:64],
            "serial": info.serial[:64],
            "mac": probe.mac,
        },
    }
    if probe.sub_url is not None:
        entry["sub"] = {"url": probe.sub_url}
    return entry
