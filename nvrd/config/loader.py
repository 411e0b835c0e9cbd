"""TOML text ⇄ ``NvrConfig``: parse (syntax → migrations → schema) and dump.

Pure apart from :func:`load_config_file` reading one file: persistence policy (which
file, last-good copy, defaults) belongs to ``store.py``.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, SecretStr, ValidationError

from nvrd.config.errors import ConfigError
from nvrd.config.migrations import migrate
from nvrd.config.schema import NvrConfig

DUMP_HEADER = (
    "# nvrd live configuration, written by the recorder.\n"
    "# Edit with care: `nvrd check-config FILE` validates a file without applying it;\n"
    "# the daemon reloads on SIGHUP and keeps its running configuration if the file is bad.\n"
    "\n"
)


def parse_raw(text: str, source: str) -> dict[str, Any]:
    """TOML text → table, or ConfigError placed at the line and column."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError.from_toml_error(exc, source, text) from exc


def validate_raw(raw: Mapping[str, Any], source: str) -> NvrConfig:
    """A table of any supported schema version → validated, current configuration."""
    migrated = migrate(raw, source)
    try:
        return NvrConfig.model_validate(migrated)
    except ValidationError as exc:
        raise ConfigError.from_validation_error(exc, source, model=NvrConfig) from exc


def parse_config(text: str, source: str) -> NvrConfig:
    """The configuration in ``text``; ``source`` names it in errors (usually the path)."""
    return validate_raw(parse_raw(text, source), source)


def load_config_file(path: Path) -> NvrConfig:
    """Read and validate one file; an unreadable file is a ConfigError too."""
    return parse_config(read_config_text(path), str(path))


def read_config_text(path: Path) -> str:
    try:
        return Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError.single(str(path), "", "file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError.single(
            str(path), "", f"not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError.single(str(path), "", f"cannot read: {exc.strerror}") from None


def dump_config(cfg: NvrConfig) -> str:
    """The configuration as TOML that :func:`parse_config` reads back equal.

    Every setting is written, defaults included, so the file shows what the box runs
    on. Secrets are written in full: this is the box's own file (mode 0640); unset
    optional settings are left out (TOML has no null).
    """
    return DUMP_HEADER + tomli_w.dumps(_toml_table(cfg))


def _toml_table(model: BaseModel) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = _toml_value(getattr(model, name))
        if value is not None:
            table[name] = value
    return table


def _toml_value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return _toml_table(value)
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Mapping):
        return {str(k): _toml_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_toml_value(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str | dt.date | dt.time):
        return value
    return str(value)  # URLs, paths: written as text, validated again on load
