"""Start-up reconciliation: make a volume's catalog match its files again after a crash.

Run by the volume's writer thread before it accepts writes. The files are the truth
(the writer fsyncs a file before it writes its row), so:

1. finish the deletions queued in ``pending_delete`` (unlink, fsync the directories,
   forget the entries); this comes first so that their files are not re-indexed below;
2. close every row still 'open': scan its file, cut a torn tail back to the last
   complete fragment (truncate + fsync), and close the row with the duration of the
   complete fragments (``crash-recovered``); a file without a complete fragment is
   deleted with its row, a missing file just loses its row;
3. presence scan, one directory at a time (a volume holds millions of segments; one
   directory's listing and rows are in memory at once, never the whole volume):
   segment files without a row are scanned, their torn tail cut, and indexed
   (``orphan-recovered``, type GENERAL since why they were recorded is lost); rows
   without a file are dropped. Files whose names are not segment names are left alone.

Nothing here changes when run again: the second run reports that the catalog matches.
I/O errors propagate (``OSError``): a disk that cannot be read now is failing, and its
writer must not start recording on it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nvrd.config.atomic import fsync_directory
from nvrd.record.fmp4 import FileScan, scan_file
from nvrd.storage.catalog import Catalog, NewSegment
from nvrd.storage.model import SEGMENT_DIR, RecordType, SegmentName

logger = logging.getLogger(__name__)

_CODEC_NAMES = {"avc1": "h264", "avc3": "h264", "hvc1": "hevc", "hev1": "hevc"}
"""Sample-entry fourcc → the codec name the recorder stores (FFmpeg's, as in ingest)."""


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    deletions_finished: int
    open_closed: int
    """Rows left 'open' by a crash and closed now (the file had complete fragments)."""
    truncated_files: int
    """Torn tails cut, in recovered open segments and in orphans."""
    truncated_bytes: int
    orphans_indexed: int
    rows_dropped: int
    """Rows whose files were gone."""
    empty_files_removed: int
    """Segment files without a single complete fragment, deleted with their rows."""
    seconds: float

    @property
    def repaired(self) -> bool:
        """Whether anything had to be fixed (what the log level follows)."""
        return any((self.deletions_finished, self.open_closed, self.truncated_files,
                    self.orphans_indexed, self.rows_dropped, self.empty_files_removed))

    def summary(self) -> str:
        """The report in words, for the log and the disk status page."""
        if not self.repaired:
            return "catalog matches the files"
        parts = []
        tails = (f"truncated {_count(self.truncated_files, 'torn tail')}, "
                 f"{_size(self.truncated_bytes)}")
        if self.deletions_finished:
            parts.append(f"finished {_count(self.deletions_finished, 'deletion')} "
                         "interrupted by a crash")
        if self.open_closed:
            closed = f"closed {_count(self.open_closed, 'segment')} left open by a crash"
            parts.append(f"{closed} ({tails})" if self.truncated_files else closed)
        elif self.truncated_files:
            parts.append(tails)
        if self.orphans_indexed:
            parts.append(f"indexed {_count(self.orphans_indexed, 'file')} missing from the "
                         "catalog")
        if self.rows_dropped:
            parts.append(f"dropped {_count(self.rows_dropped, 'entry', 'entries')} whose "
                         f"{'file is' if self.rows_dropped == 1 else 'files are'} gone")
        if self.empty_files_removed:
            parts.append(f"removed {_count(self.empty_files_removed, 'segment file')} "
                         "without a complete fragment")
        return "; ".join(parts)


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{round(n / 1024)} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


@dataclass
class _Tally:
    deletions_finished: int = 0
    open_closed: int = 0
    truncated_files: int = 0
    truncated_bytes: int = 0
    orphans_indexed: int = 0
    rows_dropped: int = 0
    empty_files_removed: int = 0
    dirty_dirs: set[Path] = field(default_factory=set)
    """Directories in which files were removed: fsynced before the commit."""


@dataclass(frozen=True, slots=True)
class _Recovered:
    """What the complete part of a segment file holds (after its torn tail was cut)."""

    scan: FileScan
    duration_us: int
    fragments: tuple[tuple[int, int], ...]


def reconcile(volume_root: Path, catalog: Catalog) -> ReconcileReport:
    """Repair ``catalog`` against the files of the volume at ``volume_root`` (steps in
    the module doc). Blocking: the volume's writer thread runs it before writing."""
    volume_root = Path(volume_root)
    started = time.monotonic()
    tally = _Tally()
    _finish_deletions(volume_root, catalog, tally)
    _close_open_rows(volume_root, catalog, tally)
    _presence_scan(volume_root, catalog, tally)
    for directory in sorted(tally.dirty_dirs):
        with contextlib.suppress(FileNotFoundError):
            fsync_directory(directory)
    catalog.commit()
    report = ReconcileReport(
        tally.deletions_finished, tally.open_closed, tally.truncated_files,
        tally.truncated_bytes, tally.orphans_indexed, tally.rows_dropped,
        tally.empty_files_removed, time.monotonic() - started)
    logger.log(logging.WARNING if report.repaired else logging.INFO,
               "volume %s: %s (%.2f s)", volume_root, report.summary(), report.seconds)
    return report


def _finish_deletions(root: Path, catalog: Catalog, tally: _Tally) -> None:
    pending = catalog.pending_deletions()
    if not pending:
        return
    directories = set()
    for relpath in pending:
        path = root / relpath
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            logger.info("deleted %s (deletion interrupted by a crash)", path)
        directories.add(path.parent)
    for directory in directories:
        with contextlib.suppress(FileNotFoundError):
            fsync_directory(directory)
    catalog.finish_deletions(pending)
    tally.deletions_finished = len(pending)


def _close_open_rows(root: Path, catalog: Catalog, tally: _Tally) -> None:
    for row in catalog.open_segments():
        path = root / row.path
        if not path.exists():
            logger.warning("%s was being recorded but is gone; dropping its entry", path)
            catalog.delete_rows([row.id])
            tally.rows_dropped += 1
            continue
        recovered = _recover_file(path, tally)
        if recovered is None:
            catalog.delete_rows([row.id])
            continue
        catalog.close_segment(row.id, row.start_us + recovered.duration_us,
                              recovered.scan.complete_size, row.types, recovered.fragments,
                              "crash-recovered")
        tally.open_closed += 1


def _recover_file(path: Path, tally: _Tally) -> _Recovered | None:
    """Scan a segment file and cut its torn tail; None (and the file deleted) when it has
    no complete video fragment, so it holds nothing that can be played."""
    scan = scan_file(path)
    video = scan.init.video() if scan.init is not None else None
    runs = [] if video is None else [
        (fragment, run) for fragment in scan.fragments
        if (run := fragment.run(video.track_id)) is not None]
    if video is None or not runs:
        logger.warning("%s holds no complete video fragment (%d bytes); deleting it", path,
                       scan.file_size)
        path.unlink()
        tally.dirty_dirs.add(path.parent)
        tally.empty_files_removed += 1
        return None
    if scan.torn_bytes:
        _truncate(path, scan.complete_size)
        logger.warning("%s: cut a torn tail of %d bytes after the last complete fragment",
                       path, scan.torn_bytes)
        tally.truncated_files += 1
        tally.truncated_bytes += scan.torn_bytes
    scale = 1_000_000 / video.timescale  # as the muxer converts, so both agree to the µs
    last = runs[-1][1]
    seek = tuple((round(run.base_decode_time * scale), fragment.offset)
                 for fragment, run in runs if run.starts_with_sync)
    return _Recovered(scan, round(last.end_decode_time * scale), seek)


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)
        os.fsync(f.fileno())


def _presence_scan(root: Path, catalog: Catalog, tally: _Tally) -> None:
    seen: set[str] = set()
    for directory, files in _segment_directories(root):
        seen.add(directory)
        _reconcile_directory(root, directory, files, catalog, tally)
    for directory in catalog.directories():
        if directory not in seen:
            rows = catalog.paths_in(directory)
            logger.warning("%s is gone with the %d segments the catalog lists in it",
                           root / directory, len(rows))
            catalog.delete_rows(list(rows.values()))
            tally.rows_dropped += len(rows)


def _segment_directories(root: Path) -> Iterator[tuple[str, list[str]]]:
    """(directory relative to the volume, names of the ``.mp4`` files in it) for every
    directory under ``rec/``, one at a time."""
    def report(exc: OSError) -> None:
        if not isinstance(exc, FileNotFoundError):  # no rec/ yet: nothing recorded
            logger.error("cannot list %s: %s", exc.filename, exc.strerror or exc)

    for dirpath, _dirnames, filenames in os.walk(root / SEGMENT_DIR, onerror=report):
        relative = Path(dirpath).relative_to(root).as_posix()
        yield relative, [name for name in filenames if name.endswith(".mp4")]


def _reconcile_directory(root: Path, directory: str, files: Iterable[str], catalog: Catalog,
                         tally: _Tally) -> None:
    known = catalog.paths_in(directory)
    present = set()
    for name in files:
        relpath = f"{directory}/{name}"
        present.add(relpath)
        if relpath not in known:
            _index_orphan(root, relpath, catalog, tally)
    gone = [id_ for relpath, id_ in known.items() if relpath not in present]
    if gone:
        logger.warning("%s: %d segments listed in the catalog are gone", root / directory,
                       len(gone))
        catalog.delete_rows(gone)
        tally.rows_dropped += len(gone)


def _index_orphan(root: Path, relpath: str, catalog: Catalog, tally: _Tally) -> None:
    name = SegmentName.parse(relpath)
    path = root / relpath
    if name is None:
        logger.warning("%s is not named like a segment; leaving it alone", path)
        return
    if path.is_symlink() or not path.is_file():
        logger.warning("%s is not a regular file; leaving it alone", path)
        return
    recovered = _recover_file(path, tally)
    if recovered is None:
        return
    init = recovered.scan.init
    video = init.video() if init is not None else None
    assert init is not None and video is not None  # _recover_file checked both
    segment = NewSegment(
        channel=name.channel, stream=name.stream, run_start_us=name.start_us,
        start_us=name.start_us, path=relpath, types=int(RecordType.GENERAL),
        codec=_CODEC_NAMES.get(video.codec, video.codec), width=video.width,
        height=video.height, init_bytes=init.size)
    catalog.insert_closed(segment, name.start_us + recovered.duration_us,
                          recovered.scan.complete_size, recovered.fragments,
                          "orphan-recovered")
    logger.warning("%s was missing from the catalog; indexed it", path)
    tally.orphans_indexed += 1

