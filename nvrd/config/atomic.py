"""Replace a file so that a crash or power cut leaves either the old or the new content.

Steps (each needed; the order is the guarantee):

1. write the data to a temporary file in the *same directory* (so the rename below stays
   within one filesystem), named ``.<name>.tmp-<pid>-<random>`` so leftovers are
   recognisable;
2. fsync the temporary file: its content is on disk before its name is;
3. rename it over the target (atomic on POSIX: readers see old or new, never a mix);
4. fsync the directory: the rename itself survives a power cut.

A crash before step 3 leaves the old file intact plus a temporary file, which nothing
reads and which :func:`remove_stale_temp_files` deletes later (the config store does so
on every load and save; a writer does so for its own target before writing).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from pathlib import Path

logger = logging.getLogger(__name__)

_TEMP_MARKER = ".tmp-"
# A temporary file this old is a leftover even if its writer's pid is in use again (pids
# repeat across boots of an embedded box); no write of a small file takes this long.
STALE_TEMP_AGE_SECONDS = 3600.0

# Temporary files this process is writing now, so that a write of the same target from
# another thread never deletes them as leftovers.
_active_lock = threading.Lock()
_active: set[str] = set()


def temp_path_for(path: Path) -> Path:
    """A fresh temporary name next to ``path``: ``.<name>.tmp-<pid>-<random>``."""
    return path.with_name(f".{path.name}{_TEMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}")


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o640) -> None:
    """Replace ``path`` with ``data`` atomically and durably (see the module doc).

    ``mode`` is applied exactly (not filtered by the umask): configuration files hold
    camera passwords. Blocking: call it from a thread when on the event loop.
    """
    path = Path(path)
    remove_stale_temp_files(path)
    temp = temp_path_for(path)
    with _active_lock:
        _active.add(temp.name)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW,
                     mode)
        try:
            os.fchmod(fd, mode)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    finally:
        with _active_lock:
            _active.discard(temp.name)
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make a rename or creation in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stale_temp_files(path: Path) -> list[Path]:
    """Temporary files of interrupted writes of ``path`` whose writer is gone."""
    prefix = f".{path.name}{_TEMP_MARKER}"
    try:
        candidates = [p for p in path.parent.iterdir() if p.name.startswith(prefix)]
    except FileNotFoundError:
        return []
    return [p for p in candidates if _is_stale(p, p.name[len(prefix):])]


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Delete what :func:`stale_temp_files` finds; returns what was deleted."""
    removed = []
    for stale in stale_temp_files(path):
        try:
            stale.unlink()
        except FileNotFoundError:
            continue
        logger.info("removed %s, left by an interrupted write", stale)
        removed.append(stale)
    return removed


def _is_stale(temp: Path, suffix: str) -> bool:
    """Whether a temporary file is a leftover: its writer is gone (or is this process,
    which is not writing it now), or it is too old to belong to a running write."""
    with _active_lock:
        if temp.name in _active:
            return False
    try:
        age = time.time() - temp.lstat().st_mtime
    except FileNotFoundError:
        return False  # already gone
    pid_text = suffix.split("-", 1)[0]
    if age > STALE_TEMP_AGE_SECONDS or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by another user
    return False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
