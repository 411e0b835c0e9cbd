"""The live configuration file, its last-known-good copy, and the factory defaults.

Invariants (what ``load`` and ``save`` keep true):

1. A bad file never stops the daemon: ``load`` always returns a configuration, and says
   where it came from and, when the live file was refused, why.
2. The last-good copy only ever holds bytes that validated (as a live file that loaded,
   or as a saved configuration). It is what the daemon ran on most recently.
3. The live file is the installer's: ``load`` never rewrites a file that exists (a
   rejected file stays as it is, to be fixed); it writes the live file only at first
   boot, seeded from the factory defaults.
4. Every write is atomic (``atomic.py``); leftovers of interrupted writes are removed on
   the next ``load`` or ``save``, and never read.

Load order: live file → last-good copy → shipped defaults file → schema defaults.
All methods block (file I/O, fsync): call them from a thread when on the event loop.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import tomli_w

from nvrd.config.atomic import atomic_write_bytes, remove_stale_temp_files
from nvrd.config.errors import ConfigError
from nvrd.config.loader import dump_config, load_config_file, parse_config, read_config_text
from nvrd.config.schema import NvrConfig

logger = logging.getLogger(__name__)

# Holds camera passwords: owner read/write, group (e.g. a backup user) read.
CONFIG_FILE_MODE = 0o640

ConfigSource = Literal["file", "last-good", "defaults"]


@dataclass(frozen=True)
class LoadedConfig:
    """What ``ConfigStore.load`` found."""

    config: NvrConfig
    source: ConfigSource
    """"file" = the live file; "last-good" = the copy of the last file that loaded;
    "defaults" = the factory configuration."""
    error: ConfigError | None
    """Why the live file was not used (None when it was)."""


class ConfigStore:
    """Loads and saves the live configuration file, keeping a last-known-good copy."""

    def __init__(self, path: Path, last_good_path: Path | None = None,
                 defaults_path: Path | None = None) -> None:
        self.path = Path(path)
        self.last_good_path = (Path(last_good_path) if last_good_path is not None
                               else self.path.with_name(f"{self.path.stem}.last-good.toml"))
        self.defaults_path = Path(defaults_path) if defaults_path is not None else None

    def load(self) -> LoadedConfig:
        """The configuration to run on (never raises for a bad or missing file)."""
        self._remove_leftovers()
        if not self.path.exists():
            if not self.last_good_path.exists():
                return self._first_boot()
            error = ConfigError.single(
                str(self.path), "", "file not found (deleted?); running on the last good "
                "configuration until a configuration is saved")
            return self._fallback(error)
        try:
            text = read_config_text(self.path)
            config = parse_config(text, str(self.path))
        except ConfigError as error:
            return self._fallback(error)
        self._refresh_last_good(text.encode("utf-8"))
        return LoadedConfig(config, "file", None)

    def save(self, cfg: NvrConfig) -> None:
        """Write ``cfg`` as the live file, then as the last-good copy.

        The text is validated before anything is written (a model built with
        ``model_construct`` or ``model_copy(update=...)`` skipped validation), so
        invariant 2 holds; raises ConfigError and writes nothing if it does not validate.
        """
        text = dump_config(cfg)
        parse_config(text, f"{self.path} (to be saved)")
        data = text.encode("utf-8")
        self._remove_leftovers()
        atomic_write_bytes(self.path, data, CONFIG_FILE_MODE)
        atomic_write_bytes(self.last_good_path, data, CONFIG_FILE_MODE)

    def restore_factory(self, keep: Mapping[str, Mapping[str, Any]] | None = None
                        ) -> NvrConfig:
        """Replace the live configuration with the factory one (the vendor's "restore
        defaults"); ``keep`` picks settings of the running configuration to carry over
        as ``{section: {key: value}}`` (the board: it describes the box, not a choice)."""
        config, _, error = self._defaults()
        if error is not None:
            raise error
        if keep is not None:
            raw = tomllib.loads(dump_config(config))
            for section, values in keep.items():
                raw.setdefault(section, {}).update(values)
            config = parse_config(tomli_w.dumps(raw), "factory configuration")
        self.save(config)
        return config

    # --- internals -----------------------------------------------------------------

    def _first_boot(self) -> LoadedConfig:
        """No live file and no last-good copy: seed the live file from the factory one."""
        config, data, error = self._defaults()
        if error is not None:
            return LoadedConfig(config, "defaults", error)
        try:
            atomic_write_bytes(self.path, data, CONFIG_FILE_MODE)
            atomic_write_bytes(self.last_good_path, data, CONFIG_FILE_MODE)
        except OSError as exc:
            logger.error("cannot create %s (running on the factory configuration): %s",
                         self.path, exc)
            return LoadedConfig(config, "defaults", ConfigError.single(
                str(self.path), "", f"cannot be created: {exc.strerror}"))
        logger.info("first start: created %s from the factory configuration", self.path)
        return LoadedConfig(config, "file", None)

    def _fallback(self, error: ConfigError) -> LoadedConfig:
        """The live file is unusable: the last-good copy, else the factory defaults."""
        if self.last_good_path.exists():
            try:
                return LoadedConfig(load_config_file(self.last_good_path), "last-good", error)
            except ConfigError as last_good_error:
                logger.error("the last good configuration is unusable too:\n%s",
                             last_good_error)
        config, _, defaults_error = self._defaults()
        if defaults_error is not None:
            logger.error("the factory configuration is unusable, using the built-in "
                         "defaults:\n%s", defaults_error)
        return LoadedConfig(config, "defaults", error)

    def _defaults(self) -> tuple[NvrConfig, bytes, ConfigError | None]:
        """The factory configuration and its bytes; the schema defaults if the shipped
        file is absent or broken (with why)."""
        if self.defaults_path is not None:
            try:
                text = read_config_text(self.defaults_path)
                return parse_config(text, str(self.defaults_path)), text.encode("utf-8"), None
            except ConfigError as error:
                config = NvrConfig()
                return config, dump_config(config).encode("utf-8"), error
        config = NvrConfig()
        return config, dump_config(config).encode("utf-8"), None

    def _refresh_last_good(self, data: bytes) -> None:
        """Copy a live file that validated to the last-good copy, if it differs. A
        failure only costs the fallback's freshness, so it is logged, not raised."""
        try:
            if self.last_good_path.read_bytes() == data:
                return
        except OSError:
            pass  # absent or unreadable: write it
        try:
            atomic_write_bytes(self.last_good_path, data, CONFIG_FILE_MODE)
        except OSError as exc:
            logger.warning("cannot update %s: %s", self.last_good_path, exc)

    def _remove_leftovers(self) -> None:
        for path in (self.path, self.last_good_path):
            try:
                remove_stale_temp_files(path)
            except OSError as exc:
                logger.warning("cannot remove leftovers of %s: %s", path, exc)
