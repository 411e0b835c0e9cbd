"""What an account may do: system rights and per-channel rights, and the built-in groups.

A :class:`Rights` value has three parts:

- ``system``: rights over the whole box (:class:`SystemRight`);
- ``all_channels``: channel rights held on *every* channel, including channels added
  later (a new camera is covered the moment it exists, with no account edit);
- ``channels``: extra channel rights on numbered channels (1-based, as in the config).

The rights on channel *c* are ``all_channels | channels.get(c, ∅)``. Values are normalised
at construction (channel entries already covered by ``all_channels`` and empty entries are
dropped), so two values granting the same thing compare equal.

Built-in groups (manual §5.13 and the cybersecurity checklist N8, "least privilege"):

- ``admin``: :data:`ALL_RIGHTS`, every right there is; fixed.
- ``user``: :data:`USER_RIGHTS`, live view and playback on every channel and nothing
  else. The manual's recommendation ("user = live + playback on all channels") is
  followed exactly; ``log_view`` is deliberately *not* included because the logs show
  administrators' source addresses and every configuration change, which a viewing-only
  account has no need to see. An administrator can add it to the ``user`` group.

Meaning of the rights that overlap: the *system* ``ptz`` right is PTZ configuration
(protocol, presets, tours); the *channel* ``ptz`` right is moving that channel's camera.
The system ``backup`` right is backup jobs and bulk export; the channel ``export`` right is
exporting that channel's recordings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeVar

_E = TypeVar("_E", bound=StrEnum)


class SystemRight(StrEnum):
    CAMERA = "camera"
    """Add, remove and configure cameras and channels."""
    NETWORK = "network"
    STORAGE = "storage"
    """Volumes, disks, retention, including prepare/format."""
    EVENTS = "events"
    """Event and alarm rules."""
    SYSTEM = "system"
    """Device name, time, NTP, general settings."""
    SECURITY = "security"
    """Certificates, services, lockout settings, security status."""
    ACCOUNTS = "accounts"
    """Users, groups, other users' tokens and passwords."""
    UPGRADE = "upgrade"
    RESTORE_DEFAULTS = "restore_defaults"
    IMPORT_EXPORT = "import_export"
    """Configuration bundle export and import."""
    LOG_VIEW = "log_view"
    LOG_CLEAR = "log_clear"
    REBOOT = "reboot"
    """Reboot and shutdown."""
    BACKUP = "backup"
    """Backup jobs and bulk export."""
    PTZ = "ptz"
    """PTZ configuration (protocols, presets, tours)."""
    ALARM_OUTPUT = "alarm_output"
    """Manual control of the alarm relays."""


class ChannelRight(StrEnum):
    LIVE = "live"
    PLAYBACK = "playback"
    PTZ = "ptz"
    """Move this channel's camera."""
    EXPORT = "export"
    """Export this channel's recordings."""


class RightsFormatError(ValueError):
    """Stored or submitted rights JSON that does not describe a :class:`Rights` value."""


@dataclass(frozen=True, slots=True)
class Rights:
    """An immutable set of rights. See the module docstring for the three parts."""

    system: frozenset[SystemRight] = frozenset()
    all_channels: frozenset[ChannelRight] = frozenset()
    """Held on every channel, present and future."""
    channels: Mapping[int, frozenset[ChannelRight]] = field(
        default_factory=lambda: MappingProxyType({}))
    """Extra rights on single channels (read-only mapping, channel number → rights)."""

    def __post_init__(self) -> None:
        normalised: dict[int, frozenset[ChannelRight]] = {}
        for channel, rights in sorted(self.channels.items()):
            if isinstance(channel, bool) or not isinstance(channel, int) or channel < 1:
                raise RightsFormatError(f"channel numbers start at 1, got {channel!r}")
            extra = frozenset(rights) - self.all_channels
            if extra:
                normalised[channel] = extra
        object.__setattr__(self, "system", frozenset(self.system))
        object.__setattr__(self, "all_channels", frozenset(self.all_channels))
        object.__setattr__(self, "channels", MappingProxyType(normalised))

    def __hash__(self) -> int:
        return hash((self.system, self.all_channels, frozenset(self.channels.items())))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rights):
            return NotImplemented
        return (self.system == other.system and self.all_channels == other.all_channels
                and dict(self.channels) == dict(other.channels))

    def allows(self, right: SystemRight) -> bool:
        return right in self.system

    def channel_rights(self, channel: int) -> frozenset[ChannelRight]:
        return self.all_channels | self.channels.get(channel, frozenset())

    def allows_channel(self, channel: int, right: ChannelRight) -> bool:
        return right in self.channel_rights(channel)

    def is_empty(self) -> bool:
        return not (self.system or self.all_channels or self.channels)

    def is_subset_of(self, other: Rights) -> bool:
        """True when ``other`` grants everything this does, on every channel (future ones too)."""
        return self.minus(other).is_empty()

    def intersect(self, other: Rights) -> Rights:
        """What both grant. On every channel: (A on c) ∩ (B on c)."""
        every = self.all_channels & other.all_channels
        keys = set(self.channels) | set(other.channels)
        return Rights(self.system & other.system, every,
                      {c: self.channel_rights(c) & other.channel_rights(c) for c in keys})

    def minus(self, other: Rights) -> Rights:
        """What this grants and ``other`` does not: empty iff this is a subset of ``other``."""
        every = self.all_channels - other.all_channels
        keys = set(self.channels) | set(other.channels)
        return Rights(self.system - other.system, every,
                      {c: self.channel_rights(c) - other.channel_rights(c) for c in keys})

    def describe(self) -> str:
        """A short sentence part for error messages, e.g. ``camera, network; live on every
        channel; ptz on channel 3``."""
        parts: list[str] = []
        if self.system:
            parts.append(", ".join(sorted(self.system)))
        if self.all_channels:
            parts.append(f"{', '.join(sorted(self.all_channels))} on every channel")
        parts.extend(f"{', '.join(sorted(rights))} on channel {channel}"
                     for channel, rights in self.channels.items())
        return "; ".join(parts) if parts else "no rights"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: ``{"system": [...], "all_channels": [...], "channels":
        {"3": [...]}}`` with sorted lists (channel keys are strings, as JSON requires)."""
        return {
            "system": sorted(self.system),
            "all_channels": sorted(self.all_channels),
            "channels": {str(c): sorted(r) for c, r in self.channels.items()},
        }

    @classmethod
    def from_json(cls, data: Any) -> Rights:
        """The inverse of :meth:`to_json`. Missing parts mean none; anything else that is not
        understood (an unknown right, a bad channel) raises :class:`RightsFormatError`."""
        if not isinstance(data, Mapping):
            raise RightsFormatError("rights must be an object with system, all_channels, channels")
        unknown = set(data) - {"system", "all_channels", "channels"}
        if unknown:
            names = ", ".join(sorted(map(str, unknown)))
            raise RightsFormatError(f"unknown rights fields: {names}")
        channels_data = data.get("channels", {})
        if not isinstance(channels_data, Mapping):
            raise RightsFormatError("channels must be an object: channel number → list of rights")
        channels: dict[int, frozenset[ChannelRight]] = {}
        for key, names in channels_data.items():
            try:
                channel = int(key)
            except (TypeError, ValueError):
                raise RightsFormatError(f"channel {key!r} is not a number") from None
            channels[channel] = _parse(ChannelRight, names, f"channel {channel}")
        return cls(_parse(SystemRight, data.get("system", []), "system"),
                   _parse(ChannelRight, data.get("all_channels", []), "all_channels"),
                   channels)


def _parse(kind: type[_E], names: Any, where: str) -> frozenset[_E]:
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise RightsFormatError(f"{where} must be a list of rights")
    result: set[_E] = set()
    for name in names:
        try:
            result.add(kind(name))
        except ValueError:
            allowed = ", ".join(m.value for m in kind)
            raise RightsFormatError(
                f"{name!r} is not a right in {where}; expected one of: {allowed}") from None
    return frozenset(result)


NO_RIGHTS = Rights()
ALL_RIGHTS = Rights(frozenset(SystemRight), frozenset(ChannelRight))
"""The admin group's rights: everything, on every channel."""
USER_RIGHTS = Rights(all_channels=frozenset({ChannelRight.LIVE, ChannelRight.PLAYBACK}))
"""The user group's rights when it is created (administrators may change them later)."""

ADMIN_GROUP = "admin"
USER_GROUP = "user"
BUILTIN_GROUPS: Mapping[str, Rights] = MappingProxyType(
    {ADMIN_GROUP: ALL_RIGHTS, USER_GROUP: USER_RIGHTS})
