"""Configuration changes the hardware's manual controls make, shared by the web API and
the console: each returns the ``change`` that ``Application.change_config`` applies, so
a port switched off or a relay forced on stays that way across restarts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["poe_port_enabled", "relay_mode"]

TableChange = Callable[[dict[str, Any]], None]


def poe_port_enabled(port: int, enabled: bool) -> TableChange:
    """PoE ``port`` kept on or off (a port not listed is powered)."""
    def change(table: dict[str, Any]) -> None:
        ports = table.setdefault("poe", {}).setdefault("ports", [])
        ports[:] = [p for p in ports if p.get("port") != port]
        if not enabled:
            ports.append({"port": port, "enabled": False})
        ports.sort(key=lambda p: p["port"])
    return change


def relay_mode(number: int, mode: str) -> TableChange:
    """Alarm output ``number`` forced ``on``/``off`` or given back to linkage (``auto``)."""
    def change(table: dict[str, Any]) -> None:
        outputs = table.setdefault("alarms", {}).setdefault("outputs", [])
        entry = next((o for o in outputs if o.get("id") == number), None)
        if entry is None:
            outputs.append({"id": number, "mode": mode})
        else:
            entry["mode"] = mode
    return change
