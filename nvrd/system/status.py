"""The daemon's status as one value: what the health endpoint, the console and the
systemd STATUS line show. Built by the application; read-only for everyone else."""

from __future__ import annotations

from dataclasses import dataclass, field

from nvrd.hardware.service import HardwareStatus
from nvrd.record.ingest_service import ChannelStatus
from nvrd.record.recorder import ChannelRecording
from nvrd.storage.bays import BayStatus
from nvrd.storage.service import VolumeStatus


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
    recording: list[ChannelRecording] = field(default_factory=list)
    volumes: list[VolumeStatus] = field(default_factory=list)
    bays: list[BayStatus] = field(default_factory=list)
    hardware: HardwareStatus | None = None

    @property
    def streams_recording(self) -> int:
        return sum(1 for channel in self.recording for stream in channel.streams.values()
                   if stream.recording)

    @property
    def volumes_writable(self) -> int:
        return sum(1 for volume in self.volumes if volume.state == "ready")

    @property
    def cameras_online(self) -> int:
        return sum(1 for channel in self.channels if channel.enabled and channel.online)

    @property
    def cameras_enabled(self) -> int:
        return sum(1 for channel in self.channels if channel.enabled)

    def summary(self) -> str:
        """One line for systemd's STATUS= and the console banner."""
        text = (f"{self.cameras_online}/{self.cameras_enabled} cameras online, "
                f"{self.streams_recording} streams recording, "
                f"{self.volumes_writable}/{len(self.volumes)} volumes writable")
        if self.config_error:
            text += "; configuration file rejected (see the log)"
        if self.problems:
            text += "; UNHEALTHY: " + "; ".join(self.problems)
        return text
