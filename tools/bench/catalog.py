"""How fast a full volume's catalog answers the timeline, playback and retention.

    .venv/bin/python -m tools.bench.catalog [--channels 64] [--days 30] [--segment-seconds 60]
                                            [--dir DIR] [--keep] [--rebuild]

Builds a real per-volume catalog: ``Catalog`` creates the schema, triggers and indexes and
every row goes through ``Catalog.insert_closed``, in the order the writers would add them
(all channels, minute by minute), so pages and indexes are laid out as on a recorder.
The rows are contiguous main-stream segments for every channel (each with its own phase,
boundaries jittered by tens of ms as keyframe-aligned cuts are), ~30 MB each (4 Mb/s), a
seek index of one entry per second (1 s GOP), GENERAL with bursts of GENERAL|MOTION by
day. Prints the build time and the file size, then times the queries:

* cold: one run on fresh connections after the catalog file was dropped from the page
  cache (posix_fadvise), what the first timeline after boot pays; on a VM the host may
  still cache the disk, so the real cold cost can be higher;
* hot: median and p95 of repeated runs (at least 5, up to 2000 or about a second).

The reference, measured in the same run, is the one-day query as a full-table scan
(``NOT INDEXED``): the ratio indexed / scan shows what the index buys.

A catalog this size is several GB and takes minutes to build, so it can be kept for the
next runs: ``--keep`` leaves it in DIR/<parameters>/, and a run finding it there skips the
build (``--rebuild`` forces one). It is rebuilt anyway when its schema differs from what
``Catalog`` creates today. Without ``--keep``, a catalog built by this run is removed at
the end; one found in the cache is left alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from nvrd.storage.catalog import CATALOG_FILE, Catalog, CatalogReader, NewSegment
from nvrd.storage.model import RecordType, SegmentName
from nvrd.storage.timeline import days_with_recordings, local_day_bounds_us, merge_intervals

S = 1_000_000
FORMAT = 1
"""Version of the generated data: bump when the generator changes, so caches are rebuilt."""
START = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
"""Fixed, so a cached catalog and a fresh one hold the same rows; the default 30 days cover
March 2026 in Paris, DST change included (the calendar's 23-hour day)."""
PARIS = ZoneInfo("Europe/Paris")
STREAM = "main"
GOP_US = S
INIT_BYTES = 742
BITRATE_BPS = 4_000_000  # 30 MB a minute
BOUNDARY_JITTER_US = 40_000
COMMIT_EVERY = 50_000
SEED = 20260302
MIN_RUNS, MAX_RUNS, BUDGET_S = 5, 2000, 1.0
RETENTION_BATCH = 200
INFO_FILE = "bench.json"


@dataclass(frozen=True, slots=True)
class Spec:
    channels: int
    days: int
    segment_seconds: int

    @property
    def key(self) -> str:
        """The cache directory's name."""
        return (f"ch{self.channels}-d{self.days}-s{self.segment_seconds}-"
                f"{START:%Y%m%d}-v{FORMAT}")

    @property
    def per_channel(self) -> int:
        return self.days * 86_400 // self.segment_seconds

    @property
    def rows(self) -> int:
        return self.channels * self.per_channel


def start_us() -> int:
    return int(START.timestamp()) * S


# -- building -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Generated:
    segment: NewSegment
    end_us: int
    bytes: int
    fragments: list[tuple[int, int]]


def generate(spec: Spec) -> Iterator[Generated]:
    """The rows, minute by minute across channels, as the writers would add them."""
    rng = random.Random(SEED)
    seg_us = spec.segment_seconds * S
    t0 = start_us()
    phases = [rng.randrange(seg_us) for _ in range(spec.channels)]  # when each one started
    bitrates = [BITRATE_BPS * rng.uniform(0.9, 1.1) for _ in range(spec.channels)]
    run_starts = [t0 + phase for phase in phases]
    starts = list(run_starts)
    motion_left = [0] * spec.channels
    per_segment = spec.segment_seconds / 60
    for k in range(1, spec.per_channel + 1):
        for i in range(spec.channels):
            channel = i + 1
            seg_start = starts[i]
            # Cut at the keyframe nearest the nominal boundary; the next one starts there.
            end = run_starts[i] + k * seg_us + rng.randint(-BOUNDARY_JITTER_US,
                                                           BOUNDARY_JITTER_US)
            starts[i] = end
            local_hour = (seg_start // (3600 * S) + 1) % 24  # Paris in winter is near enough
            if not motion_left[i] and rng.random() < per_segment * (
                    0.04 if 7 <= local_hour < 20 else 0.005):
                motion_left[i] = rng.randint(1, 4)
            types = RecordType.GENERAL
            factor = rng.uniform(0.95, 1.05)
            if motion_left[i]:
                motion_left[i] -= 1
                types |= RecordType.MOTION
                factor *= 1.25
            size = INIT_BYTES + int(bitrates[i] / 8 * (end - seg_start) / S * factor)
            n = max(1, round((end - seg_start) / GOP_US))
            fragments = [(f * GOP_US, INIT_BYTES + (size - INIT_BYTES) * f // n)
                         for f in range(n)]
            path = SegmentName(channel, STREAM, seg_start).relpath().as_posix()
            yield Generated(NewSegment(channel=channel, stream=STREAM,
                                       run_start_us=run_starts[i], start_us=seg_start,
                                       path=path, types=int(types), codec="h264", width=1920,
                                       height=1080, init_bytes=INIT_BYTES),
                            end, size, fragments)


def build(volume: Path, spec: Spec, volume_uuid: str) -> dict[str, Any]:
    """Fill a new catalog through ``Catalog.insert_closed``, committing in big batches
    (the real writer commits far more often; that would measure fsyncs, not the catalog)."""
    began = time.perf_counter()
    catalog = Catalog(volume, volume_uuid)
    motion = 0
    try:
        for n, row in enumerate(generate(spec), 1):
            catalog.insert_closed(row.segment, row.end_us, row.bytes, row.fragments, "rotate")
            motion += bool(row.segment.types & RecordType.MOTION)
            if n % COMMIT_EVERY == 0:
                catalog.commit()
            if n % max(1, spec.rows // 10) == 0:
                print(f"  {n:,} / {spec.rows:,} rows, {time.perf_counter() - began:.0f} s",
                      file=sys.stderr, flush=True)
    finally:
        catalog.close()  # the last connection: SQLite checkpoints and removes the WAL
    build_s = time.perf_counter() - began
    return {"format": FORMAT, "channels": spec.channels, "days": spec.days,
            "segment_seconds": spec.segment_seconds, "rows": spec.rows, "uuid": volume_uuid,
            "motion_rows": motion, "build_s": round(build_s, 1),
            "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "objects": object_sizes(volume / CATALOG_FILE)}


def object_sizes(path: Path) -> dict[str, int]:
    """Bytes per table and index (SQLite's dbstat; empty if it was built without it)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name "
                               "ORDER BY 2 DESC").fetchall())
    except sqlite3.OperationalError:
        return {}
    finally:
        db.close()


def schema_of(path: Path) -> list[tuple[str, str, str | None]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name"
                          ).fetchall()
    finally:
        db.close()


def current_schema() -> list[tuple[str, str, str | None]]:
    """What ``Catalog`` creates today, to tell whether a cached catalog is stale (the
    schema can change without a version bump while it is being developed)."""
    with tempfile.TemporaryDirectory() as tmp:
        Catalog(Path(tmp), "schema-probe").close()
        return schema_of(Path(tmp) / CATALOG_FILE)


def cached(volume: Path, spec: Spec) -> dict[str, Any] | None:
    """The cached catalog's build record, or None if there is none usable (printing why)."""
    try:
        info: dict[str, Any] = json.loads((volume / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
    if (volume / CATALOG_FILE).is_file() and info.get("rows") == spec.rows \
            and info.get("format") == FORMAT:
        if schema_of(volume / CATALOG_FILE) == current_schema():
            return info
        print(f"{volume}: schema differs from what Catalog creates now, rebuilding")
    return None


def prepare(spec: Spec, root: Path, rebuild: bool) -> tuple[Path, dict[str, Any], bool]:
    """The catalog's volume directory, its build record, and whether this run built it.
    A build happens in ``<key>.partial`` and is renamed when complete, so an interrupted
    one is never mistaken for a cache."""
    volume = root / spec.key
    if not rebuild and (info := cached(volume, spec)) is not None:
        return volume, info, False
    partial = root / f"{spec.key}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(volume, ignore_errors=True)
    partial.mkdir(parents=True)
    print(f"building {spec.rows:,} rows in {volume} ...", flush=True)
    try:
        info = build(partial, spec, str(uuid.uuid5(uuid.NAMESPACE_URL, spec.key)))
        (partial / INFO_FILE).write_text(json.dumps(info, indent=1) + "\n")
        partial.rename(volume)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return volume, info, True


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Connections:
    """What the daemon would hold: the reader (timelines, playback), the writer's catalog
    (retention), plus a plain read-only connection for the reference scan."""

    volume: Path
    volume_uuid: str
    reader: CatalogReader = field(init=False)
    catalog: Catalog = field(init=False)
    scan: sqlite3.Connection = field(init=False)

    def __post_init__(self) -> None:
        self.catalog = Catalog(self.volume, self.volume_uuid)
        self.reader = CatalogReader(self.volume)
        path = (self.volume / CATALOG_FILE).resolve()
        self.scan = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)

    def close(self) -> None:
        self.scan.close()
        self.reader.close()
        self.catalog.close()


def evict(volume: Path) -> None:
    """Drop the catalog's pages from the OS page cache (clean pages only, which all are)."""
    for name in (CATALOG_FILE, CATALOG_FILE + "-wal"):
        path = volume / name
        if path.exists():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


@dataclass(frozen=True, slots=True)
class Timing:
    label: str
    result: str
    cold_ms: float
    samples_ms: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95(self) -> float:
        if len(self.samples_ms) < 2:
            return self.samples_ms[0]
        return statistics.quantiles(self.samples_ms, n=20, method="inclusive")[18]


Query = Callable[[Connections], Any]


def measure(label: str, query: Query, hot: Connections, describe: Callable[[Any], str]
            ) -> Timing:
    """One cold run on fresh connections with the file evicted, then hot runs."""
    fresh = Connections(hot.volume, hot.volume_uuid)
    try:
        evict(hot.volume)
        began = time.perf_counter_ns()
        query(fresh)
        cold_ms = (time.perf_counter_ns() - began) / 1e6
    finally:
        fresh.close()
    result = query(hot)  # warm-up, not timed
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < MIN_RUNS or (len(samples) < MAX_RUNS
                                      and time.perf_counter() - started < BUDGET_S):
        began = time.perf_counter_ns()
        query(hot)
        samples.append((time.perf_counter_ns() - began) / 1e6)
    return Timing(label, describe(result), cold_ms, samples)


def scan_day(conns: Connections, channel: int, start: int, end: int) -> list[tuple[int, ...]]:
    """The reference: the one-day timeline query reading every row of the table."""
    return conns.scan.execute(
        "SELECT start_us, end_us, types FROM segments NOT INDEXED WHERE channel = ? "
        "AND stream = ? AND start_us < ? AND end_us > ? ORDER BY start_us, id",
        (channel, STREAM, end, start)).fetchall()


def run_queries(volume: Path, volume_uuid: str, spec: Spec) -> list[Timing]:
    channel = spec.channels // 2 + 1
    day = START.date() + dt.timedelta(days=spec.days // 2)
    day0, day1 = local_day_bounds_us(day, PARIS)
    noon = dt.datetime(day.year, day.month, day.day, 12, tzinfo=PARIS)
    hour0 = int(noon.timestamp()) * S
    instant = hour0 + (2 * 3600 + 23 * 60) * S + 17_250_000

    def count(value: Any) -> str:
        return f"{len(value):,} row{'' if len(value) == 1 else 's'}"

    def probe(conns: Connections) -> Callable[[int, int], bool]:
        return lambda start, end: conns.reader.has_recording(channel, STREAM, start, end)

    hot = Connections(volume, volume_uuid)
    try:
        day_intervals = hot.reader.intervals(channel, STREAM, day0, day1)
        reference = [(i.start_us, i.end_us, i.types) for i in day_intervals]
        if scan_day(hot, channel, day0, day1) != reference:
            raise SystemExit("bench: the full-table scan and intervals() disagree")
        queries: list[tuple[str, Query, Callable[[Any], str]]] = [
            (f"day {day} intervals()",
             lambda c: c.reader.intervals(channel, STREAM, day0, day1), count),
            (f"day {day} segments()",
             lambda c: c.reader.segments(channel, STREAM, day0, day1), count),
            ("hour 12:00-13:00 segments()",
             lambda c: c.reader.segments(channel, STREAM, hour0, hour0 + 3600 * S), count),
            ("segments_at 14:23:17.25", lambda c: c.reader.segments_at(
                channel, STREAM, instant), count),
            (f"calendar {day:%Y-%m} (has_recording)", lambda c: days_with_recordings(
                probe(c), day.year, day.month, PARIS), lambda v: f"{len(v)} days"),
            ("merge_intervals(day)", lambda c: merge_intervals(day_intervals),
             lambda v: f"{len(v):,} spans"),
            (f"oldest_unlocked({RETENTION_BATCH})",
             lambda c: c.catalog.oldest_unlocked(RETENTION_BATCH), count),
            (f"oldest_unlocked({RETENTION_BATCH}, channel)",
             lambda c: c.catalog.oldest_unlocked(RETENTION_BATCH, channel=channel), count),
            ("bytes_by_channel()", lambda c: c.catalog.bytes_by_channel(),
             lambda v: f"{len(v)} channels"),
            ("REFERENCE day full scan", lambda c: scan_day(c, channel, day0, day1), count),
        ]
        print(f"queries on channel {channel}, stream {STREAM}, day {day} Europe/Paris; "
              f"cold = first run, fresh connections, file evicted from the page cache")
        return [measure(label, query, hot, describe) for label, query, describe in queries]
    finally:
        hot.close()


def report(timings: list[Timing]) -> None:
    width = max(len(t.label) for t in timings)
    print(f"{'query':<{width}}  {'result':>12}  {'cold ms':>9}  {'median ms':>9}  "
          f"{'p95 ms':>9}  {'runs':>5}")
    for t in timings:
        print(f"{t.label:<{width}}  {t.result:>12}  {t.cold_ms:9.3f}  {t.median:9.3f}  "
              f"{t.p95:9.3f}  {len(t.samples_ms):5d}")
    scan = timings[-1]
    for name in ("intervals()", "segments()"):
        t = next(t for t in timings if t.label.startswith("day ") and t.label.endswith(name))
        print(f"one day, {name} / full-table scan: hot {ratio(t.median, scan.median)}, "
              f"cold {ratio(t.cold_ms, scan.cold_ms)}")


def ratio(indexed: float, scan: float) -> str:
    value = indexed / scan
    if value <= 1:
        return f"{value:.5f} ({1 / value:,.{0 if value < 0.1 else 1}f}x faster)"
    return f"{value:.2f} ({value:,.1f}x slower)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--segment-seconds", type=int, default=60)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp/nvrd-bench-catalog"),
                        help="where catalogs are built and cached (default %(default)s)")
    parser.add_argument("--keep", action="store_true",
                        help="keep a catalog built by this run for the next runs")
    parser.add_argument("--rebuild", action="store_true",
                        help="build even if a cached catalog matches the parameters")
    args = parser.parse_args(argv)
    if args.channels < 1 or args.days < 1 or not 1 <= args.segment_seconds <= 86_400:
        parser.error("--channels and --days must be at least 1, --segment-seconds 1..86400")
    spec = Spec(args.channels, args.days, args.segment_seconds)

    print(f"{spec.channels} channels x {spec.days} days of {spec.segment_seconds} s "
          f"{STREAM}-stream segments from {START:%Y-%m-%d} UTC: {spec.rows:,} rows "
          f"(SQLite {sqlite3.sqlite_version})")
    volume, info, built = prepare(spec, args.dir, args.rebuild)
    try:
        how = "built" if built else f"cached, built on {info['built_at']}"
        print(f"catalog {volume / CATALOG_FILE} ({how}): build {info['build_s']:.1f} s "
              f"({spec.rows / info['build_s']:,.0f} rows/s through Catalog.insert_closed, "
              f"commit every {COMMIT_EVERY:,})")
        size = (volume / CATALOG_FILE).stat().st_size
        objects = info["objects"]
        parts = ", ".join(f"{name} {b / 1e6:,.0f}" for name, b in objects.items()
                          if b >= 0.01 * size)
        print(f"file size {size / 1e9:.2f} GB, {size / spec.rows:,.0f} bytes/row "
              f"(MB: {parts}); {info['motion_rows'] / spec.rows:.1%} of rows GENERAL|MOTION")
        report(run_queries(volume, info["uuid"], spec))
    finally:
        if built and not args.keep:
            shutil.rmtree(volume, ignore_errors=True)
            print(f"removed {volume} (--keep keeps it for the next run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
