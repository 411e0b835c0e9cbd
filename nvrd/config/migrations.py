"""Bring a configuration written by older firmware up to the current schema version.

A migration step is a function from the raw TOML table of version N to that of version
N+1, registered with ``@migration(N)``. Steps work on plain dicts, before validation,
because the old layout no longer matches the models. The file on disk is not rewritten
here: the migrated configuration is written, in the current version, the next time it is
saved (so a firmware downgrade can still read an untouched file until then).

A file without ``schema_version`` was written by hand against the running firmware's
documentation (the daemon always writes the version), so it is taken as current.
A file from *newer* firmware is refused: guessing what unknown settings mean could
record the wrong cameras or open the wrong relays.

How to add a version: raise ``CURRENT_SCHEMA_VERSION`` in schema.py, then write::

    @migration(1)
    def _v1_to_v2(raw: RawConfig) -> RawConfig:
        \"\"\"Why the format changed.\"\"\"
        ...
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from nvrd.config.errors import ConfigError
from nvrd.config.schema import CURRENT_SCHEMA_VERSION

RawConfig = dict[str, Any]
Migration = Callable[[RawConfig], RawConfig]

VERSION_KEY = "schema_version"

MIGRATIONS: dict[int, Migration] = {}
"""Step registry: from-version → function producing the next version's raw table."""


def migration(from_version: int, registry: dict[int, Migration] = MIGRATIONS
              ) -> Callable[[Migration], Migration]:
    """Register the step that turns a version ``from_version`` table into the next one."""
    def register(step: Migration) -> Migration:
        if from_version in registry:
            raise ValueError(f"two migrations from schema version {from_version}")
        registry[from_version] = step
        return step
    return register


def file_version(raw: Mapping[str, Any], source: str,
                 current: int = CURRENT_SCHEMA_VERSION) -> int:
    """The schema version a raw table declares (current when absent)."""
    version = raw.get(VERSION_KEY, current)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ConfigError.single(source, VERSION_KEY, "must be a whole number", version)
    return version


def migrate(raw: Mapping[str, Any], source: str, *,
            steps: Mapping[int, Migration] | None = None,
            current: int = CURRENT_SCHEMA_VERSION) -> RawConfig:
    """Return ``raw`` (untouched) migrated to version ``current``, version key included.

    Raises ConfigError for a version this firmware cannot read: below 1, newer than
    ``current``, or older with a missing step. ``steps`` and ``current`` exist for tests.
    """
    registry = MIGRATIONS if steps is None else steps
    version = file_version(raw, source, current)
    if version < 1:
        raise ConfigError.single(
            source, VERSION_KEY, f"must be between 1 and {current}", version)
    if version > current:
        raise ConfigError.single(
            source, VERSION_KEY,
            f"this file was written by newer firmware (schema version {version}); this "
            f"firmware reads versions 1 to {current}: upgrade the firmware or restore a "
            "configuration saved by this version", version)
    migrated: RawConfig = copy.deepcopy(dict(raw))
    while version < current:
        step = registry.get(version)
        if step is None:
            raise ConfigError.single(
                source, VERSION_KEY,
                f"no migration from schema version {version} (this firmware reads "
                f"versions 1 to {current})", version)
        migrated = step(migrated)
        version += 1
        migrated[VERSION_KEY] = version
    migrated[VERSION_KEY] = current
    return migrated
