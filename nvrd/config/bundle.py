"""A configuration as it leaves and enters the box: secrets left out, secrets taken back,
and the factory configuration.

Shared by the web API (``/api/v1/maintenance/config``, restore defaults), the console
(``config export``/``config import``) and the support bundle, so that what counts as a
secret is decided in one place. Tables are the configuration file as a TOML table
(``config_table``), not ``NvrConfig``: an export must read like the file, and an import
is validated whole only after its secrets are filled in.

Without secrets, camera passwords are left out and passwords written in stream URLs read
``***``; the MQTT password, webhook secrets and the plug-and-play password are left out
(``nvrd.notify.secrets`` knows the notification ones). Taking them back matches the
same camera (same channel; for a URL, the same URL apart from the password), the same
broker and the same webhook URL, and refuses a ``***`` it cannot fill.
"""

from __future__ import annotations

import tomllib
from typing import Any
from urllib.parse import urlsplit

from nvrd.config.errors import ConfigError, ConfigProblem
from nvrd.config.loader import dump_config, parse_config
from nvrd.config.schema import NvrConfig
from nvrd.notify.secrets import restore_notify_secrets, strip_notify_secrets
from nvrd.paths import shipped_config_dir
from nvrd.system.logs import redact_url

__all__ = ["REDACTED", "config_table", "factory_table", "restore_secrets", "strip_secrets"]

REDACTED = "***"
"""What stands for a password in a stream URL of an export without secrets."""


def config_table(config: NvrConfig) -> dict[str, Any]:
    """The configuration as the file's table (secrets included)."""
    return tomllib.loads(dump_config(config))


def strip_secrets(table: dict[str, Any]) -> dict[str, Any]:
    """Camera passwords left out, passwords in stream URLs as ``***``; the MQTT password,
    webhook secrets and the plug-and-play password left out. Edits ``table``; returns it."""
    strip_notify_secrets(table)
    _plug_and_play(table).pop("password", None)
    for camera in table.get("cameras", []):
        if not isinstance(camera, dict):
            continue
        camera.pop("password", None)
        for stream in ("main", "sub"):
            if isinstance(camera.get(stream), dict) and "url" in camera[stream]:
                camera[stream]["url"] = redact_url(camera[stream]["url"]).replace(
                    ":***@", f":{REDACTED}@")
    return table


def restore_secrets(table: dict[str, Any], current: NvrConfig, *, prefix: str = "",
                    source: str = "the imported configuration") -> int:
    """Fill the secrets an export without secrets left out from the box's configuration
    ``current``; how many were filled. Edits ``table``.

    A ``***`` in a stream URL that cannot be filled is a :class:`ConfigError` naming the
    setting (``prefix`` goes before its path, e.g. ``config.`` for the web's bundle); every
    such URL is named, not just the first."""
    kept = 0
    problems: list[ConfigProblem] = []
    for index, camera in enumerate(table.get("cameras", [])):
        if not isinstance(camera, dict):
            continue
        mine = current.camera(camera["channel"]) if isinstance(camera.get("channel"),
                                                                int) else None
        if "password" not in camera and mine is not None and \
                mine.password.get_secret_value():
            camera["password"] = mine.password.get_secret_value()
            kept += 1
        for stream in ("main", "sub"):
            url = camera[stream].get("url") if isinstance(camera.get(stream), dict) else None
            if not isinstance(url, str) or urlsplit(url).password != REDACTED:
                continue
            theirs = getattr(mine, stream, None) if mine is not None else None
            if theirs is not None and redact_url(str(theirs.url)) == url:
                camera[stream]["url"] = str(theirs.url)
                kept += 1
                continue
            problems.append(ConfigProblem(
                f"{prefix}cameras[{index}].{stream}.url", url,
                "its password was left out at export and this recorder has no camera with "
                "the same URL on that channel to take it from; put the password in the URL"))
    if problems:
        raise ConfigError(source, problems)
    pnp, mine_pnp = _plug_and_play(table), current.camera_network.plug_and_play
    if "password" not in pnp and mine_pnp.password.get_secret_value():
        pnp["password"] = mine_pnp.password.get_secret_value()
        kept += 1
    return kept + restore_notify_secrets(table, current)


def factory_table(current: NvrConfig, *, keep_network: bool) -> dict[str, Any]:
    """The factory configuration (the shipped ``nvrd.toml``, else the schema's defaults)
    as a table, keeping the board and, if asked, the web settings."""
    path = shipped_config_dir() / "nvrd.toml"
    try:
        factory = parse_config(path.read_text("utf-8"), str(path))
    except (OSError, ConfigError):
        factory = NvrConfig()
    table = config_table(factory)
    table.setdefault("system", {})["board"] = current.system.board
    if keep_network:
        table["web"] = config_table(current)["web"]
    return table


def _plug_and_play(table: dict[str, Any]) -> dict[str, Any]:
    """``camera_network.plug_and_play`` of a configuration table (made if absent)."""
    network = table.setdefault("camera_network", {})
    if not isinstance(network, dict):
        return {}
    pnp = network.setdefault("plug_and_play", {})
    return pnp if isinstance(pnp, dict) else {}
