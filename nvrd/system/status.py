"""The daemon's status as one value: what the health endpoint, the console and the
systemd STATUS line show. Built by the application; read-only for everyone else."""

from __future__ import annotations

from dataclasses import dataclass, field

from nvrd.record.ingest_service import ChannelStatus


@dataclass(frozen=True, slots=True)
class DaemonStatus:
    version: str
    started_us: int
    uptime_s: float
    board: str
    config_source: str
    """"file", "last-good" or "defaults": where the running configuration came from."""
    config_error: str | None
    problems: list[str] = field(default_factory=list)
    """Why the daemon is unhealthy; empty when healthy."""
    channels: list[ChannelStatus] = field(default_factory=list)

    @property
    def cameras_online(self) -> int:
        return sum(1 for channel in self.channels if channel.enabled and channel.online)

    @property
    def cameras_enabled(self) -> int:
        return sum(1 for channel in self.channels if channel.enabled)

    def summary(self) -> str:
        """One line for systemd's STATUS= and the console banner."""
        text = f"{self.cameras_online}/{self.cameras_enabled} cameras online"
        if self.config_error:
            text += "; configuration file rejected (see the log)"
        if self.problems:
            text += "; UNHEALTHY: " + "; ".join(self.problems)
        return text
