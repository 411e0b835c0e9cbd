"""The live configuration: schema, loading, errors, atomic persistence, migrations.

The daemon parses ``nvrd.toml`` once into a frozen :class:`NvrConfig` through a
:class:`ConfigStore` (which falls back to the last good file, so a bad edit never stops
recording) and hands each service its section.
"""

from nvrd.config.atomic import atomic_write_bytes
from nvrd.config.check import check_config_file
from nvrd.config.errors import (
    NO_VALUE,
    ConfigError,
    ConfigProblem,
    Violation,
    located_error,
    violations_error,
)
from nvrd.config.loader import dump_config, load_config_file, parse_config
from nvrd.config.migrations import migrate
from nvrd.config.schedules import ALWAYS, Holiday, Period, Schedule, WeekSchedule
from nvrd.config.schema import (
    CURRENT_SCHEMA_VERSION,
    AlarmInputConfig,
    AlarmOutputConfig,
    AlarmsConfig,
    AuditConfig,
    CameraConfig,
    IngestConfig,
    LoggingConfig,
    NvrConfig,
    RecordingConfig,
    SecurityConfig,
    StorageConfig,
    StreamConfig,
    SystemConfig,
    VolumeConfig,
    WebConfig,
)
from nvrd.config.store import ConfigStore, LoadedConfig

__all__ = [
    "ALWAYS",
    "CURRENT_SCHEMA_VERSION",
    "NO_VALUE",
    "AlarmInputConfig",
    "AlarmOutputConfig",
    "AlarmsConfig",
    "AuditConfig",
    "CameraConfig",
    "ConfigError",
    "ConfigProblem",
    "ConfigStore",
    "Holiday",
    "IngestConfig",
    "LoadedConfig",
    "LoggingConfig",
    "NvrConfig",
    "Period",
    "RecordingConfig",
    "Schedule",
    "SecurityConfig",
    "StorageConfig",
    "StreamConfig",
    "SystemConfig",
    "Violation",
    "VolumeConfig",
    "WebConfig",
    "WeekSchedule",
    "atomic_write_bytes",
    "check_config_file",
    "dump_config",
    "load_config_file",
    "located_error",
    "migrate",
    "parse_config",
    "violations_error",
]
