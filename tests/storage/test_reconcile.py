"""Start-up reconciliation on real fragmented MP4 files made with PyAV."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from nvrd.record.fmp4 import scan_file
from nvrd.record.muxer import MUXER_OPTIONS
from nvrd.storage.catalog import Catalog, CatalogReader, NewSegment, SegmentRow
from nvrd.storage.model import RecordType, SegmentName
from nvrd.storage.reconcile import ReconcileReport, reconcile

S = 1_000_000
T0 = 1_763_712_000 * S
UUID = "4b0c1f0e-8a53-4f57-9d5f-2b1f6a3c9e01"
FPS = 25
SECONDS = 3


@dataclass(frozen=True, slots=True)
class Clip:
    data: bytes
    init_size: int
    fragment_offsets: tuple[int, ...]
    """Byte offset of each fragment's moof: one fragment (and keyframe) per second."""


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """3 s of 320x240 H.264 as the recorder writes it: init segment + 1 s fragments."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    with av.open(str(path), "w", format="mp4", options=dict(MUXER_OPTIONS)) as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt, stream.gop_size = 320, 240, "yuv420p", FPS
        stream.codec_context.options = {"preset": "ultrafast", "bf": "0"}
        for i in range(FPS * SECONDS):
            image = np.full((240, 320, 3), (i * 7) % 256, dtype=np.uint8)
            image[:, (i * 4) % 320:] = 200
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    scan = scan_file(path)
    assert scan.init is not None and len(scan.fragments) == SECONDS
    return Clip(path.read_bytes(), scan.init.size, tuple(f.offset for f in scan.fragments))


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def catalog(volume: Path) -> Iterator[Catalog]:
    cat = Catalog(volume, UUID)
    yield cat
    cat.close()


def place(volume: Path, data: bytes, channel: int = 1, start_us: int = T0,
          stream: str = "main") -> str:
    relpath = SegmentName(channel, stream, start_us).relpath().as_posix()
    path = volume / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return relpath


def new(relpath: str, *, types: int = RecordType.MOTION, init_bytes: int = 753) -> NewSegment:
    name = SegmentName.parse(relpath)
    assert name is not None
    return NewSegment(channel=name.channel, stream=name.stream, run_start_us=name.start_us - S,
                      start_us=name.start_us, path=relpath, types=int(types), codec="h264",
                      width=320, height=240, init_bytes=init_bytes)


def rows(volume: Path, channel: int = 1) -> list[SegmentRow]:
    with CatalogReader(volume) as reader:
        return reader.segments(channel, "main", T0 - 86_400 * S, T0 + 86_400 * S)


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_an_open_segment_with_a_torn_tail_is_cut_and_closed(
        volume: Path, catalog: Catalog, clip: Clip, caplog: pytest.LogCaptureFixture) -> None:
    third = clip.fragment_offsets[2]
    relpath = place(volume, clip.data[:third + 1000])  # the power went during fragment 3
    sid = catalog.insert_open(new(relpath, init_bytes=clip.init_size))
    catalog.update_open(sid, T0 + 1 * S, clip.fragment_offsets[1], RecordType.MOTION)
    catalog.commit()

    with caplog.at_level(logging.INFO, logger="nvrd.storage.reconcile"):
        report = reconcile(volume, catalog)

    assert (report.open_closed, report.truncated_files, report.truncated_bytes) == (1, 1, 1000)
    assert report.summary() == (
        "closed 1 segment left open by a crash (truncated 1 torn tail, 1000 bytes)")
    assert caplog.records[-1].levelno == logging.WARNING
    assert str(volume) in caplog.records[-1].getMessage()
    path = volume / relpath
    assert path.stat().st_size == third
    assert decoded_frames(path) == 2 * FPS
    [row] = rows(volume)
    assert (row.id, row.state, row.end_reason) == (sid, "closed", "crash-recovered")
    assert (row.start_us, row.end_us, row.bytes) == (T0, T0 + 2 * S, third)
    assert row.fragments == ((0, clip.init_size), (S, clip.fragment_offsets[1]))
    assert row.types == RecordType.MOTION and row.run_start_us == T0 - S


def test_a_complete_open_segment_is_closed_without_cutting(
        volume: Path, catalog: Catalog, clip: Clip) -> None:
    relpath = place(volume, clip.data)
    catalog.insert_open(new(relpath))
    report = reconcile(volume, catalog)
    assert (report.open_closed, report.truncated_files) == (1, 0)
    assert report.summary() == "closed 1 segment left open by a crash"
    [row] = rows(volume)
    assert (row.end_us, row.bytes) == (T0 + SECONDS * S, len(clip.data))
    assert len(row.fragments) == SECONDS


def test_an_open_segment_without_a_complete_fragment_is_deleted(
        volume: Path, catalog: Catalog, clip: Clip) -> None:
    relpath = place(volume, clip.data[:clip.fragment_offsets[0] + 500])
    catalog.insert_open(new(relpath))
    report = reconcile(volume, catalog)
    assert (report.empty_files_removed, report.open_closed, report.rows_dropped) == (1, 0, 0)
    assert not (volume / relpath).exists()
    assert catalog.open_segments() == [] and rows(volume) == []


def test_an_open_segment_whose_file_is_gone_loses_its_row(
        volume: Path, catalog: Catalog) -> None:
    catalog.insert_open(new(SegmentName(1, "main", T0).relpath().as_posix()))
    report = reconcile(volume, catalog)
    assert report.rows_dropped == 1 and catalog.open_segments() == []


def test_an_orphan_is_indexed_from_its_name_and_its_fragments(
        volume: Path, catalog: Catalog, clip: Clip) -> None:
    start = T0 + 123_456
    relpath = place(volume, clip.data[:-10], channel=7, start_us=start)  # torn as well
    report = reconcile(volume, catalog)
    assert (report.orphans_indexed, report.truncated_files, report.truncated_bytes) == (
        1, 1, len(clip.data) - 10 - clip.fragment_offsets[2])
    assert report.summary().endswith("; indexed 1 file missing from the catalog")
    [row] = rows(volume, channel=7)
    assert (row.path, row.start_us, row.run_start_us, row.end_us) == (
        relpath, start, start, start + 2 * S)
    assert (row.types, row.state, row.end_reason) == (RecordType.GENERAL, "closed",
                                                      "orphan-recovered")
    assert (row.codec, row.width, row.height, row.init_bytes) == ("h264", 320, 240,
                                                                  clip.init_size)
    assert row.bytes == clip.fragment_offsets[2] == (volume / relpath).stat().st_size
    assert decoded_frames(volume / relpath) == 2 * FPS


def test_files_that_are_not_segments_are_left_alone_and_empty_ones_removed(
        volume: Path, catalog: Catalog, clip: Clip) -> None:
    stranger = volume / "rec" / "ch001" / "main" / "2025-11-21" / "holiday.mp4"
    stranger.parent.mkdir(parents=True)
    stranger.write_bytes(clip.data)
    notes = volume / "rec" / "README.txt"
    notes.write_text("hands off")
    empty = place(volume, b"", start_us=T0 + 60 * S)
    init_only = place(volume, clip.data[:clip.init_size], start_us=T0 + 120 * S)
    report = reconcile(volume, catalog)
    assert (report.orphans_indexed, report.empty_files_removed) == (0, 2)
    assert stranger.read_bytes() == clip.data and notes.exists()
    assert not (volume / empty).exists() and not (volume / init_only).exists()
    assert rows(volume) == []


def test_rows_whose_files_are_gone_are_dropped(volume: Path, catalog: Catalog,
                                               clip: Clip) -> None:
    kept = place(volume, clip.data)
    lost = SegmentName(1, "main", T0 + 60 * S).relpath().as_posix()
    whole_day_gone = SegmentName(1, "main", T0 - 86_400 * S).relpath().as_posix()
    for relpath in (kept, lost, whole_day_gone):
        catalog.insert_closed(new(relpath), new(relpath).start_us + 3 * S, 1, [], "rotate")
    catalog.commit()
    report = reconcile(volume, catalog)
    assert (report.rows_dropped, report.orphans_indexed) == (2, 0)
    assert report.summary() == "dropped 2 entries whose files are gone"
    assert [row.path for row in rows(volume)] == [kept]


def test_deletions_interrupted_by_a_crash_are_finished(volume: Path, catalog: Catalog,
                                                       clip: Clip) -> None:
    doomed = place(volume, clip.data)
    already_unlinked = place(volume, clip.data, start_us=T0 + 60 * S)
    ids = [catalog.insert_closed(new(p), new(p).start_us + 3 * S, len(clip.data), [], "rotate")
           for p in (doomed, already_unlinked)]
    catalog.queue_deletions(ids)
    (volume / already_unlinked).unlink()  # the crash came after one unlink
    report = reconcile(volume, catalog)
    assert report.deletions_finished == 2
    assert report.orphans_indexed == 0  # the doomed file was not re-indexed
    assert not (volume / doomed).exists()
    assert catalog.pending_deletions() == [] and rows(volume) == []


def test_a_second_run_has_nothing_to_do(volume: Path, catalog: Catalog, clip: Clip,
                                        caplog: pytest.LogCaptureFixture) -> None:
    catalog.insert_open(new(place(volume, clip.data[:-100])))
    place(volume, clip.data, start_us=T0 + 60 * S)
    catalog.insert_closed(new(SegmentName(1, "main", T0 + 120 * S).relpath().as_posix()),
                          T0 + 123 * S, 1, [], "rotate")
    deleted = catalog.insert_closed(new(place(volume, clip.data, start_us=T0 + 180 * S)),
                                    T0 + 183 * S, 1, [], "rotate")
    catalog.queue_deletions([deleted])
    first = reconcile(volume, catalog)
    assert (first.open_closed, first.orphans_indexed, first.rows_dropped,
            first.deletions_finished) == (1, 1, 1, 1)
    before = rows(volume)

    with caplog.at_level(logging.INFO, logger="nvrd.storage.reconcile"):
        second = reconcile(volume, catalog)
    assert second.summary() == "catalog matches the files"
    assert not second.repaired
    assert caplog.records[-1].levelno == logging.INFO
    assert rows(volume) == before


def test_an_empty_volume_is_fine(volume: Path, catalog: Catalog) -> None:
    assert reconcile(volume, catalog).summary() == "catalog matches the files"


def test_summary_in_words() -> None:
    report = ReconcileReport(deletions_finished=0, open_closed=3, truncated_files=2,
                             truncated_bytes=81 * 1024, orphans_indexed=1, rows_dropped=2,
                             empty_files_removed=0, seconds=0.1)
    assert report.summary() == (
        "closed 3 segments left open by a crash (truncated 2 torn tails, 81 KiB); indexed 1 "
        "file missing from the catalog; dropped 2 entries whose files are gone")
    report = ReconcileReport(deletions_finished=4, open_closed=0, truncated_files=1,
                             truncated_bytes=3 * 1024 * 1024, orphans_indexed=0,
                             rows_dropped=1, empty_files_removed=1, seconds=0.1)
    assert report.summary() == (
        "finished 4 deletions interrupted by a crash; truncated 1 torn tail, 3.0 MiB; dropped "
        "1 entry whose file is gone; removed 1 segment file without a complete fragment")
