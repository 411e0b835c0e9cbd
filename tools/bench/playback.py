"""What playback and export cost: the on-the-fly MP4 of a range in a big catalog.

    .venv/bin/python -m tools.bench.playback [--channels 16] [--hours 24] [--json]

Builds a catalog of ``--channels`` × ``--hours`` of footage on a temporary volume,
cheaply: one real segment is encoded and cut by the recorder's own muxer
(``tools/bench/playback_footage.py``), then hard-linked under every segment name with a
catalog row each, through the real ``Catalog`` (a segment's media time starts at 0, so
the same file serves at any instant). Then, in this process, on the playback code the
daemon's routes call (``nvrd.playback.plan``), without HTTP:

* for random ``--range-minutes`` ranges of random channels: the time to the first byte
  of the MP4 (catalog query, fragment headers read, moov built, first chunk read) and
  to the first decodable frame (PyAV reading the file through its byte ranges, as a
  player does: the moov, then the first samples);
* export throughput: the whole MP4 of ``--export-minutes`` read chunk by chunk as the
  web server sends it, in MB/s, next to reading the same bytes of the same files
  directly (``os.pread``, same chunk size): the ratio says what making the file costs.

Every segment is the same file, so after the first pass everything is in the page
cache: the figures are the CPU cost of the method, not the disks' speed.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import av

from nvrd.playback.plan import build_playback
from nvrd.playback.virtualfile import CHUNK_BYTES, FilePiece, VirtualFile
from nvrd.storage.catalog import Catalog, CatalogReader
from nvrd.storage.service import RecordedSegment
from nvrd.storage.volume import prepare_volume
from tools.bench.playback_footage import ClipSpec, catalogue, encode_clip, mux_segment

US = 1_000_000
T0 = 1_800_000_000 * US


@dataclass(frozen=True, slots=True)
class Settings:
    channels: int
    hours: float
    segment_seconds: int
    width: int
    height: int
    bitrate_kbps: int
    ranges: int
    range_minutes: float
    export_minutes: float
    seed: int
    workdir: Path | None
    json: bool = False


@dataclass(frozen=True, slots=True)
class Results:
    segments: int
    segment_bytes: int
    build_s: float
    ttfb_ms: list[float]
    first_frame_ms: list[float]
    head_bytes: int
    export_bytes: int
    export_mb_s: float
    raw_mb_s: float

    @property
    def ratio(self) -> float:
        return self.export_mb_s / self.raw_mb_s if self.raw_mb_s else 0.0


def parse_args(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--segment-seconds", type=int, default=60)
    parser.add_argument("--mode", default="640x360", help="picture size (default 640x360)")
    parser.add_argument("--bitrate", type=int, default=1000, help="kbit/s (default 1000)")
    parser.add_argument("--ranges", type=int, default=10, help="random ranges to time")
    parser.add_argument("--range-minutes", type=float, default=10.0)
    parser.add_argument("--export-minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the temporary volume goes (default: the system's temp)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    width, _, height = args.mode.partition("x")
    settings = Settings(args.channels, args.hours, args.segment_seconds, int(width),
                        int(height), args.bitrate, args.ranges, args.range_minutes,
                        args.export_minutes, args.seed, args.workdir, args.json)
    return settings


def build_catalog(settings: Settings, root: Path) -> tuple[Path, int, int]:
    """(volume, segments, bytes per segment) of ``channels × hours`` of hard links."""
    clip = encode_clip(root / "clip.mp4", ClipSpec(
        width=settings.width, height=settings.height, seconds=settings.segment_seconds + 1,
        bitrate_kbps=settings.bitrate_kbps))
    segment = mux_segment(clip, 0, settings.segment_seconds)
    source = root / "segment.mp4"
    source.write_bytes(segment.data)
    volume = root / "volume"
    identity = prepare_volume(volume, "bench")
    per_channel = max(1, int(settings.hours * 3600 // settings.segment_seconds))
    step = settings.segment_seconds * US
    catalog = Catalog(volume, identity.uuid)
    try:
        for channel in range(1, settings.channels + 1):
            for i in range(per_channel):
                catalogue(volume, catalog, segment, channel=channel, stream="main",
                          start_us=T0 + i * step, run_start_us=T0, data_path=source)
            catalog.commit()
    finally:
        catalog.close()
    return volume, per_channel * settings.channels, len(segment.data)


def segments_of(volume: Path, channel: int, start_us: int, end_us: int
                ) -> list[RecordedSegment]:
    with CatalogReader(volume) as reader:
        return [RecordedSegment("bench", volume / row.path, row)
                for row in reader.segments(channel, "main", start_us, end_us)]


class _Reader(io.RawIOBase):
    """A virtual file as a seekable binary file, for PyAV (a player's byte ranges)."""

    def __init__(self, file: VirtualFile) -> None:
        self._file = file
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._file.size}
        self._position = max(0, base[whence] + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        end = min(self._file.size, self._position + len(buffer))
        if end <= self._position:
            return 0
        data = self._file.read_blocking(self._position, end)
        buffer[:len(data)] = data
        self._position += len(data)
        return len(data)


def time_ranges(settings: Settings, volume: Path, rng: random.Random
                ) -> tuple[list[float], list[float], int]:
    """(ms to first byte, ms to first decoded frame, head bytes of the last range)."""
    span_us = int(settings.hours * 3600 * US)
    length_us = int(settings.range_minutes * 60 * US)
    ttfb: list[float] = []
    first_frame: list[float] = []
    head = 0
    for _ in range(settings.ranges):
        channel = rng.randint(1, settings.channels)
        start = T0 + rng.randrange(max(1, span_us - length_us))
        end = start + length_us
        began = time.perf_counter()
        [playback] = build_playback(segments_of(volume, channel, start, end), start, end)
        first = asyncio.run(_first_chunk(playback.file))
        ttfb.append((time.perf_counter() - began) * 1000)
        assert first
        with av.open(_Reader(playback.file), "r") as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            next(iter(container.decode(stream)))
        first_frame.append((time.perf_counter() - began) * 1000)
        head = playback.head_size
    return ttfb, first_frame, head


async def _first_chunk(file: VirtualFile) -> bytes:
    chunks = file.read()
    try:
        return await anext(chunks)
    finally:
        await chunks.aclose()


def time_export(settings: Settings, volume: Path) -> tuple[int, float, float]:
    """(bytes, export MB/s, raw read MB/s) of one export of ``export_minutes``."""
    start = T0 + US
    end = start + int(settings.export_minutes * 60 * US)
    [playback] = build_playback(segments_of(volume, 1, start, end), start, end)
    pieces = [p for p in playback.file.pieces if isinstance(p, FilePiece)]
    raw_s = _raw_read(pieces)  # also warms the page cache for both
    raw_s = min(raw_s, _raw_read(pieces))
    began = time.perf_counter()
    total = asyncio.run(_drain(playback.file))
    export_s = time.perf_counter() - began
    raw_bytes = sum(p.length for p in pieces)
    return total, total / export_s / 1e6, raw_bytes / raw_s / 1e6


async def _drain(file: VirtualFile) -> int:
    total = 0
    async for chunk in file.read():
        total += len(chunk)
    return total


def _raw_read(pieces: list[FilePiece]) -> float:
    began = time.perf_counter()
    fds: dict[Path, int] = {}
    try:
        for piece in pieces:
            fd = fds.get(piece.path)
            if fd is None:
                fd = fds[piece.path] = os.open(piece.path, os.O_RDONLY)
            done = 0
            while done < piece.length:
                data = os.pread(fd, min(CHUNK_BYTES, piece.length - done),
                                piece.offset + done)
                done += len(data)
    finally:
        for fd in fds.values():
            os.close(fd)
    return time.perf_counter() - began


def run(settings: Settings) -> Results:
    rng = random.Random(settings.seed)
    with tempfile.TemporaryDirectory(prefix="nvrd-bench-playback-",
                                     dir=settings.workdir) as tmp:
        began = time.perf_counter()
        volume, segments, segment_bytes = build_catalog(settings, Path(tmp))
        build_s = time.perf_counter() - began
        _progress(f"catalog built: {segments} segments in {build_s:.1f} s")
        ttfb, first_frame, head = time_ranges(settings, volume, rng)
        export_bytes, export_mb_s, raw_mb_s = time_export(settings, volume)
    return Results(segments, segment_bytes, build_s, ttfb, first_frame, head, export_bytes,
                   export_mb_s, raw_mb_s)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _ms(values: list[float]) -> str:
    return (f"median {statistics.median(values):.1f} ms, max {max(values):.1f} ms "
            f"(n={len(values)})")


def report(settings: Settings, results: Results) -> str:
    return "\n".join([
        f"catalog: {settings.channels} channels x {settings.hours:g} h, "
        f"{results.segments} segments of {settings.segment_seconds} s "
        f"({settings.width}x{settings.height}, {results.segment_bytes / 1e6:.2f} MB each), "
        f"built in {results.build_s:.1f} s",
        f"time to first byte, {settings.range_minutes:g}-minute ranges: "
        f"{_ms(results.ttfb_ms)}",
        f"time to first decodable frame: {_ms(results.first_frame_ms)}",
        f"head (ftyp+moov) of a {settings.range_minutes:g}-minute file: "
        f"{results.head_bytes / 1e3:.1f} kB",
        f"export of {settings.export_minutes:g} minutes: {results.export_bytes / 1e6:.1f} MB "
        f"at {results.export_mb_s:.0f} MB/s",
        f"raw read of the same bytes: {results.raw_mb_s:.0f} MB/s",
        f"export / raw read: {results.ratio:.2f}",
    ])


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    results = run(settings)
    if settings.json:
        print(json.dumps({**asdict(results), "ratio": results.ratio}, indent=2))
    else:
        print(report(settings, results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
