"""A recording volume: a directory on a mounted disk that carries an identity file.

Why the identity file: a mount point is an ordinary directory when its disk is missing
(empty bay, failed mount, disk pulled). Writing there would fill the root filesystem
and stop the whole box. So the daemon never writes into a volume whose identity file is
missing, and it notices when the file (or the filesystem under it) changes while
recording: :func:`check_still_mounted` compares the uuid and the device number taken
when the volume was opened.

Preparing a volume (:func:`prepare_volume`) is an explicit step (disk format, CLI); the
daemon never creates an identity on its own, since it cannot tell an empty bay from a new
disk.
"""

from __future__ import annotations

import json
import os
import time
import uuid as uuidlib
from dataclasses import dataclass
from pathlib import Path

from nvrd.config.atomic import atomic_write_bytes, fsync_directory

IDENTITY_FILE = ".nvrd-volume"
IDENTITY_FORMAT = 1
"""Version of the identity file's layout; a newer one is refused, not guessed at."""


class VolumeError(Exception):
    """A volume cannot be used; the message names the path in a technician's words."""


@dataclass(frozen=True, slots=True)
class VolumeIdentity:
    uuid: str
    label: str
    created_us: int
    """When the volume was prepared (UTC microseconds)."""

    def to_json(self) -> bytes:
        return json.dumps({"format": IDENTITY_FORMAT, "uuid": self.uuid, "label": self.label,
                           "created_us": self.created_us}, indent=2).encode() + b"\n"


@dataclass(frozen=True, slots=True)
class Mounted:
    """An opened volume: who it is and which filesystem it was on when opened."""

    identity: VolumeIdentity
    device: int
    """``st_dev`` of the volume directory when it was opened."""


@dataclass(frozen=True, slots=True)
class SpaceInfo:
    total_bytes: int
    free_bytes: int
    """Available to an unprivileged process (``f_bavail``): the root reserve is not ours."""


def prepare_volume(path: Path, label: str = "", *, created_us: int | None = None) -> VolumeIdentity:
    """Make ``path`` a recording volume: create the directory if needed and write a new
    identity. Refuses a directory that already has one (even a damaged one): replacing it
    would orphan the recordings and catalog that belong to the old identity."""
    path = Path(path)
    identity_path = path / IDENTITY_FILE
    if os.path.lexists(identity_path):
        raise VolumeError(f"{path} is already a recording volume ({identity_path} exists); "
                          "refusing to prepare it again")
    if path.exists() and not path.is_dir():
        raise VolumeError(f"{path} is not a directory; cannot prepare a recording volume there")
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
        if created:
            fsync_directory(path.parent)
        identity = VolumeIdentity(
            uuid=str(uuidlib.uuid4()), label=label,
            created_us=time.time_ns() // 1000 if created_us is None else created_us)
        atomic_write_bytes(identity_path, identity.to_json(), mode=0o644)
    except OSError as exc:
        raise VolumeError(f"cannot prepare {path} as a recording volume: "
                          f"{exc.strerror or exc}") from exc
    return identity


def read_identity(path: Path) -> VolumeIdentity:
    """The identity of the volume at ``path``; :class:`VolumeError` if it is missing,
    unreadable or damaged."""
    path = Path(path)
    identity_path = path / IDENTITY_FILE
    try:
        raw = identity_path.read_bytes()
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise VolumeError(
            f"{path} has no {IDENTITY_FILE} identity file: the disk is not mounted or was "
            "never prepared; nothing will be recorded there") from exc
    except OSError as exc:
        raise VolumeError(f"cannot read {identity_path}: {exc.strerror or exc} "
                          "(disk failing or permissions wrong); nothing will be recorded "
                          "there") from exc
    return _parse_identity(identity_path, raw)


def _parse_identity(identity_path: Path, raw: bytes) -> VolumeIdentity:
    damaged = f"{identity_path} is damaged"
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VolumeError(f"{damaged} (not valid JSON); nothing will be recorded there until "
                          "the disk is prepared again") from exc
    if not isinstance(data, dict):
        raise VolumeError(f"{damaged} (not a JSON object)")
    fmt = data.get("format")
    if isinstance(fmt, int) and not isinstance(fmt, bool) and fmt > IDENTITY_FORMAT:
        raise VolumeError(f"{identity_path} has format {fmt}, written by a newer nvrd; "
                          f"this version understands format {IDENTITY_FORMAT}")
    if fmt != IDENTITY_FORMAT:
        raise VolumeError(f"{damaged} (format {fmt!r}, expected {IDENTITY_FORMAT})")
    uuid, label, created_us = data.get("uuid"), data.get("label", ""), data.get("created_us")
    if not isinstance(uuid, str) or not _is_uuid(uuid):
        raise VolumeError(f"{damaged} (uuid {uuid!r} is not a UUID)")
    if not isinstance(label, str):
        raise VolumeError(f"{damaged} (label {label!r} is not text)")
    if not isinstance(created_us, int) or isinstance(created_us, bool):
        raise VolumeError(f"{damaged} (created_us {created_us!r} is not a whole number)")
    return VolumeIdentity(uuid=uuid, label=label, created_us=created_us)


def _is_uuid(text: str) -> bool:
    try:
        uuidlib.UUID(text)
    except ValueError:
        return False
    return True


def open_volume(path: Path) -> Mounted:
    """Identify the volume at ``path`` and remember the filesystem it is on."""
    identity = read_identity(path)
    try:
        device = os.stat(path).st_dev
    except OSError as exc:
        raise VolumeError(f"cannot stat {path}: {exc.strerror or exc}") from exc
    return Mounted(identity=identity, device=device)


def check_still_mounted(path: Path, mounted: Mounted) -> str | None:
    """None while ``path`` is still the volume opened as ``mounted``; otherwise why not,
    in words. Cheap (a small read and a stat): meant to run before each segment."""
    path = Path(path)
    try:
        identity = read_identity(path)
    except VolumeError as exc:
        if isinstance(exc.__cause__, (FileNotFoundError, NotADirectoryError)):
            return f"disk pulled or unmounted: {path}/{IDENTITY_FILE} has vanished"
        return str(exc)
    if identity.uuid != mounted.identity.uuid:
        return (f"another disk is mounted there: {path} is now volume {identity.uuid}"
                f"{_label(identity)}, not {mounted.identity.uuid}{_label(mounted.identity)}")
    try:
        device = os.stat(path).st_dev
    except OSError as exc:
        return f"cannot stat {path}: {exc.strerror or exc}"
    if device != mounted.device:
        return (f"the filesystem under {path} changed (device {_devname(mounted.device)} → "
                f"{_devname(device)}): the disk was unmounted and mounted again")
    return None


def _label(identity: VolumeIdentity) -> str:
    return f" ({identity.label!r})" if identity.label else ""


def _devname(device: int) -> str:
    return f"{os.major(device)}:{os.minor(device)}"


def space(path: Path) -> SpaceInfo:
    """Size and free space of the filesystem holding ``path``."""
    try:
        st = os.statvfs(path)
    except OSError as exc:
        raise VolumeError(f"cannot read the free space of {path}: {exc.strerror or exc}") from exc
    return SpaceInfo(total_bytes=st.f_blocks * st.f_frsize, free_bytes=st.f_bavail * st.f_frsize)
