"""The fMP4 reader against real segments from FFmpeg's mp4 muxer (through PyAV), cut,
padded and garbled the ways a power cut or a bug would, plus hand-built boxes for the
tfhd/trun variants FFmpeg does not write."""

from __future__ import annotations

import itertools
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from nvrd.record.fmp4 import (
    BoxSplitter,
    FileScan,
    Fmp4Error,
    FragmentInfo,
    InitInfo,
    TrackInfo,
    TrackRun,
    fragment_seconds,
    parse_init,
    parse_moof,
    scan_file,
)
from nvrd.record.muxer import MUXER_OPTIONS  # the recorder's own settings

FPS = 25
SAMPLE_RATE = 48_000


@dataclass(frozen=True, slots=True)
class Clip:
    path: Path
    data: bytes
    chunks: tuple[bytes, ...]
    """The muxer's output, write call by write call."""
    frames: int
    gop: int
    codec: str
    audio: bool


class _Sink:
    """A write-only output, like the recorder's: the muxer cannot seek back."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        return len(data)


def _video_frames(count: int) -> Iterator[av.VideoFrame]:
    ramp = np.arange(320, dtype=np.uint16)
    for i in range(count):
        rgb = np.empty((240, 320, 3), np.uint8)
        rgb[:, :, 0] = (ramp + 4 * i) % 256
        rgb[:, :, 1] = (np.arange(240, dtype=np.uint16)[:, None] + 2 * i) % 256
        rgb[:, :, 2] = i % 256
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        yield frame


def _audio_frame(pts: int) -> av.AudioFrame:
    t = (np.arange(1024) + pts) / SAMPLE_RATE
    samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
    frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pts
    return frame


def _encode(path: Path, codec: str, seconds: int, gop: int, audio: bool) -> Clip:
    sink = _Sink()
    with av.open(sink, "w", format="mp4", options=dict(MUXER_OPTIONS)) as out:
        video = out.add_stream(codec, rate=FPS)
        assert isinstance(video, av.VideoStream)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        if codec == "libx265":
            video.options = {"preset": "ultrafast", "x265-params":
                             f"keyint={gop}:min-keyint={gop}:scenecut=0:log-level=none"}
        else:
            video.options = {"preset": "ultrafast", "g": str(gop), "keyint_min": str(gop),
                             "sc_threshold": "0"}
        sound = None
        if audio:
            sound = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
            assert isinstance(sound, av.AudioStream)
        frames = seconds * FPS
        audio_pts = 0
        for i, frame in enumerate(_video_frames(frames)):
            out.mux(video.encode(frame))
            while sound is not None and audio_pts < (i + 1) * SAMPLE_RATE // FPS:
                out.mux(sound.encode(_audio_frame(audio_pts)))
                audio_pts += 1024
        out.mux(video.encode(None))
        if sound is not None:
            out.mux(sound.encode(None))
    data = b"".join(sink.chunks)
    path.write_bytes(data)
    return Clip(path, data, tuple(sink.chunks), frames, gop, codec, audio)


CLIP_SPECS = {
    # name: (codec, seconds, gop, audio)
    "h264": ("libx264", 4, 25, False),
    "h264-gop10": ("libx264", 2, 10, False),
    "h264-gop50": ("libx264", 4, 50, False),
    "h264-aac": ("libx264", 3, 25, True),
    "hevc": ("libx265", 2, 25, False),
}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Clip]:
    folder = tmp_path_factory.mktemp("fmp4")
    return {name: _encode(folder / f"{name}.mp4", *spec)
            for name, spec in CLIP_SPECS.items()
            if spec[0] in av.codecs_available}


@pytest.fixture(params=list(CLIP_SPECS))
def clip(request: pytest.FixtureRequest, clips: dict[str, Clip]) -> Clip:
    if request.param not in clips:
        pytest.skip(f"this FFmpeg has no {CLIP_SPECS[request.param][0]} encoder")
    return clips[request.param]


def _boxes(data: bytes) -> list[tuple[str, bytes]]:
    """The top-level boxes, walked the obvious way (reference for the splitter)."""
    boxes, pos = [], 0
    while pos < len(data):
        size, fourcc = struct.unpack_from(">I4s", data, pos)
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, pos + 8)
        boxes.append((fourcc.decode(), data[pos:pos + size]))
        pos += size
    return boxes


def _packets(path: Path, kind: str) -> list[av.Packet]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        return [p for p in container.demux(stream) if p.size]


def _moof_size(data: bytes, fragment: FragmentInfo) -> int:
    return int(struct.unpack_from(">I", data, fragment.offset)[0])


# --- the init segment -------------------------------------------------------------------------


def test_parse_init_reads_the_tracks(clip: Clip) -> None:
    init = parse_init(clip.data)

    assert init.size == clip.data.index(b"moof") - 4
    video = init.video()
    assert video is not None and video.kind == "video"
    assert video.codec == ("avc1" if clip.codec == "libx264" else "hev1")
    assert (video.width, video.height) == (320, 240)
    with av.open(str(clip.path)) as container:
        assert container.streams.video[0].time_base == Fraction(1, video.timescale)
        if clip.audio:
            assert container.streams.audio[0].time_base == Fraction(1, SAMPLE_RATE)
    if clip.audio:
        audio = init.tracks[1]
        assert (audio.kind, audio.codec, audio.timescale) == ("audio", "mp4a", SAMPLE_RATE)
        assert audio.width is None and audio.height is None
    else:
        assert len(init.tracks) == 1


def test_parse_init_stops_at_a_cut_after_the_moov(clips: dict[str, Clip]) -> None:
    data = clips["h264-aac"].data
    whole = parse_init(data)

    assert parse_init(data[:whole.size]) == whole
    assert parse_init(data[:whole.size + 11]) == whole  # a moof cut inside its body
    assert parse_init(data[:whole.size + 5]) == whole  # and inside its header


def test_parse_init_explains_what_is_wrong(clips: dict[str, Clip]) -> None:
    data = clips["h264"].data
    init = parse_init(data)
    garbage = random.Random(7).randbytes(4000)

    with pytest.raises(Fmp4Error, match="not an MP4 init segment"):
        parse_init(garbage)
    with pytest.raises(Fmp4Error, match="no complete moov"):
        parse_init(data[:init.size - 1])
    with pytest.raises(Fmp4Error, match="no complete moov"):
        parse_init(data[:28])  # the ftyp alone
    with pytest.raises(Fmp4Error, match="starts with a 'moof' box"):
        parse_init(data[init.size:])
    with pytest.raises(Fmp4Error):
        parse_init(b"")


def test_parse_init_reads_version_1_headers_and_other_handlers() -> None:
    stsd = _full(b"stsd", 0, 0, struct.pack(">I", 1) + _box(b"stpp", bytes(16)))
    stbl = _box(b"stbl", stsd)
    trak = _box(b"trak",
                _full(b"tkhd", 1, 3, bytes(16) + struct.pack(">I", 7) + bytes(72))
                + _box(b"mdia",
                       _full(b"mdhd", 1, 0, bytes(16) + struct.pack(">IQ", 1000, 0) + bytes(4))
                       + _full(b"hdlr", 0, 0, bytes(4) + b"subt" + bytes(13))
                       + _box(b"minf", stbl)))
    data = _box(b"ftyp", b"iso6" + bytes(4)) + _box(b"moov", trak)

    init = parse_init(data)

    assert init.size == len(data)
    assert init.tracks == (TrackInfo(7, "subt", 1000, "stpp", None, None, 0, 0),)
    assert init.video() is None


# --- whole files ------------------------------------------------------------------------------


def test_scan_file_agrees_with_the_demuxer(clip: Clip) -> None:
    scan = scan_file(clip.path)

    assert scan.init == parse_init(clip.data)
    assert scan.complete_size == scan.file_size == len(clip.data)
    assert scan.torn_bytes == 0
    assert [f.sequence for f in scan.fragments] == list(range(1, len(scan.fragments) + 1))
    assert scan.fragments[0].offset == scan.init.size
    for fragment, following in itertools.pairwise(scan.fragments):
        assert following.offset == fragment.end
    for track in scan.init.tracks:
        runs = [r for f in scan.fragments if (r := f.run(track.track_id)) is not None]
        packets = _packets(clip.path, track.kind)
        assert sum(r.samples for r in runs) == len(packets)
        assert runs[0].base_decode_time == 0
        for run, following_run in itertools.pairwise(runs):
            assert following_run.base_decode_time == run.end_decode_time
        last = packets[-1]
        assert last.dts is not None and last.duration is not None
        assert runs[-1].end_decode_time == last.dts + last.duration


@pytest.mark.parametrize("name", [n for n, spec in CLIP_SPECS.items() if not spec[3]])
def test_video_durations_add_up_to_the_frames(clips: dict[str, Clip], name: str) -> None:
    # Not with AAC: the muxer shifts video by the encoder's priming delay and, an empty
    # moov having no edit list, stretches the first video sample to fill the gap.
    if name not in clips:
        pytest.skip(f"this FFmpeg has no {CLIP_SPECS[name][0]} encoder")
    clip = clips[name]
    scan = scan_file(clip.path)
    assert scan.init is not None
    video = scan.init.video()
    assert video is not None

    total = sum(run.duration for f in scan.fragments if (run := f.run(video.track_id)))

    assert Fraction(total, video.timescale) == Fraction(clip.frames, FPS)


def test_fragments_start_on_keyframes_when_the_gop_fits_in_a_second(clip: Clip) -> None:
    scan = scan_file(clip.path)
    assert scan.init is not None
    video = scan.init.video()
    assert video is not None
    keyframes = [p.is_keyframe for p in _packets(clip.path, "video")]
    runs = [r for f in scan.fragments if (r := f.run(video.track_id)) is not None]

    starts, first = [], 0
    for run in runs:
        starts.append(keyframes[first])
        first += run.samples
    assert [r.starts_with_sync for r in runs] == starts
    if clip.gop <= FPS:
        assert all(starts)
        assert len(runs) == clip.frames // clip.gop
    else:  # frag_duration cuts mid-GOP; such fragments are no place to seek to
        assert not all(starts)
        assert any(starts)


def test_fragment_seconds(clips: dict[str, Clip]) -> None:
    scan = scan_file(clips["h264-aac"].path)
    assert scan.init is not None
    video, audio = scan.init.video(), scan.init.tracks[1]
    assert video is not None

    start, duration = fragment_seconds(scan.fragments[1], video)
    assert start == pytest.approx(1.0, abs=0.05)
    assert duration == pytest.approx(1.0)
    assert fragment_seconds(scan.fragments[1], audio)[1] == pytest.approx(1.0, abs=0.05)
    audio_only = [f for f in scan.fragments if f.run(video.track_id) is None]
    for fragment in audio_only:  # the AAC tail FFmpeg flushes after the last frame
        with pytest.raises(KeyError):
            fragment_seconds(fragment, video)


# --- streaming --------------------------------------------------------------------------------


def test_splitter_cuts_the_muxer_output_into_the_file_boxes(clip: Clip) -> None:
    splitter = BoxSplitter()
    boxes: list[tuple[str, bytes]] = []
    fed = 0
    for chunk in clip.chunks:
        boxes += splitter.feed(chunk)
        fed += len(chunk)
        assert splitter.buffered == fed - splitter.position

    assert boxes == _boxes(clip.data)
    assert splitter.buffered == 0
    assert splitter.position == len(clip.data)


def test_splitter_output_parses_to_the_scanned_fragments(clip: Clip) -> None:
    splitter = BoxSplitter()
    init_boxes: list[bytes] = []
    fragments: list[FragmentInfo] = []
    moof: tuple[bytes, int] | None = None
    init: InitInfo | None = None
    for chunk in clip.chunks:
        offset = splitter.position
        for fourcc, box in splitter.feed(memoryview(chunk)):
            if fourcc == "moof":
                init = init or parse_init(b"".join(init_boxes))
                moof = (box, offset)
            elif fourcc == "mdat":
                assert moof is not None and init is not None
                fragments.append(parse_moof(moof[0], moof[1], init, len(box)))
            else:
                init_boxes.append(box)
            offset += len(box)

    scan = scan_file(clip.path)
    assert init == scan.init
    assert tuple(fragments) == scan.fragments


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_splitter_takes_chunks_of_any_size(clips: dict[str, Clip], seed: int) -> None:
    data = clips["h264-aac"].data
    rng = random.Random(seed)
    sizes = [1, 1, 2, 3, 7, 8, 9, 15, 16, 17, 100, 4096, 32768]
    splitter = BoxSplitter()
    boxes: list[tuple[str, bytes]] = []
    pos = 0
    while pos < len(data):
        size = rng.choice(sizes)
        boxes += splitter.feed(data[pos:pos + size])
        pos += size

    assert boxes == _boxes(data)


def test_splitter_takes_one_byte_at_a_time(clips: dict[str, Clip]) -> None:
    data = clips["h264"].data
    splitter = BoxSplitter()
    boxes: list[tuple[str, bytes]] = []
    for i in range(len(data)):
        boxes += splitter.feed(data[i:i + 1])

    assert boxes == _boxes(data)


def test_splitter_reads_64_bit_sizes() -> None:
    big = struct.pack(">I4sQ", 1, b"free", 16 + 5) + b"hello"
    small = _box(b"skip", b"x")
    splitter = BoxSplitter()

    assert splitter.feed(big[:12]) == []
    assert splitter.buffered == 12
    assert splitter.feed(big[12:] + small[:3]) == [("free", big)]
    assert splitter.feed(small[3:]) == [("skip", small)]


def test_splitter_refuses_sizes_it_cannot_split() -> None:
    splitter = BoxSplitter()
    with pytest.raises(Fmp4Error, match="size 0"):
        splitter.feed(_box(b"free", b"") + struct.pack(">I4s", 0, b"mdat") + b"payload")
    with pytest.raises(Fmp4Error, match="size 0"):
        splitter.feed(b"more")  # the framing is lost for good
    with pytest.raises(Fmp4Error, match="less than its header"):
        BoxSplitter().feed(struct.pack(">I4s", 5, b"moof"))


# --- torn files -------------------------------------------------------------------------------


def _cut_points(data: bytes, init: InitInfo, fragments: tuple[FragmentInfo, ...]) -> set[int]:
    cuts = {0, 4, 8, 20, init.size - 1, init.size, init.size + 3}
    for f in fragments:
        moof_end = f.offset + _moof_size(data, f)
        cuts |= {f.offset + 3, f.offset + 8, (f.offset + moof_end) // 2, moof_end,
                 moof_end + 4, moof_end + 8, (moof_end + f.end) // 2, f.end - 1, f.end}
    return {c for c in cuts if c <= len(data)}


@pytest.mark.parametrize("name", ["h264", "h264-aac"])
def test_a_file_cut_anywhere_keeps_its_complete_fragments(
        clips: dict[str, Clip], name: str, tmp_path: Path) -> None:
    data = clips[name].data
    whole = scan_file(clips[name].path)
    assert whole.init is not None
    path = tmp_path / "cut.mp4"

    for cut in sorted(_cut_points(data, whole.init, whole.fragments)):
        path.write_bytes(data[:cut])
        scan = scan_file(path)

        kept = tuple(f for f in whole.fragments if f.end <= cut)
        assert scan.fragments == kept, cut
        if cut < whole.init.size:
            assert (scan.init, scan.complete_size) == (None, 0), cut
        else:
            assert scan.init == whole.init, cut
            assert scan.complete_size == (kept[-1].end if kept else whole.init.size), cut
        assert scan.file_size == cut
        assert scan.torn_bytes == cut - scan.complete_size


def test_a_file_truncated_to_its_complete_size_decodes_to_the_complete_fragments(
        clips: dict[str, Clip], tmp_path: Path) -> None:
    clip = clips["h264-aac"]
    whole = scan_file(clip.path)
    assert whole.init is not None
    video = whole.init.video()
    assert video is not None
    path = tmp_path / "recovered.mp4"

    for torn in whole.fragments[1:]:
        path.write_bytes(clip.data[:(torn.offset + torn.end) // 2])
        scan = scan_file(path)
        with path.open("r+b") as f:
            f.truncate(scan.complete_size)

        expected = sum(r.samples for f in scan.fragments if (r := f.run(video.track_id)))
        with av.open(str(path)) as container:
            frames = list(container.decode(video=0))
        assert len(frames) == expected > 0
        assert scan_file(path).torn_bytes == 0


def test_a_zero_filled_tail_is_torn(clips: dict[str, Clip], tmp_path: Path) -> None:
    data = clips["h264-aac"].data
    whole = scan_file(clips["h264-aac"].path)
    path = tmp_path / "zeros.mp4"

    path.write_bytes(data + bytes(64 * 1024))
    scan = scan_file(path)
    assert scan.fragments == whole.fragments
    assert scan.complete_size == len(data)
    assert scan.torn_bytes == 64 * 1024

    # The moof header made it to disk, the rest of the blocks did not: the moof "fits".
    last = whole.fragments[-2]
    path.write_bytes(data[:last.offset + 8] + bytes(64 * 1024))
    scan = scan_file(path)
    assert scan.fragments == whole.fragments[:-2]
    assert scan.complete_size == last.offset


def test_garbage_stops_the_scan_without_raising(clips: dict[str, Clip], tmp_path: Path) -> None:
    data = clips["h264"].data
    garbage = random.Random(3).randbytes(10_000)
    path = tmp_path / "garbage.mp4"

    path.write_bytes(garbage)
    scan = scan_file(path)
    assert (scan.init, scan.fragments, scan.complete_size) == (None, (), 0)
    assert scan.torn_bytes == len(garbage)

    path.write_bytes(data + garbage)
    assert scan_file(path).complete_size == len(data)

    path.write_bytes(data + _box(b"junk", bytes(100)) + data[-1000:])
    assert scan_file(path).complete_size == len(data)

    path.write_bytes(b"")
    assert scan_file(path) == FileScan(None, (), 0, 0)


def test_a_moof_must_be_followed_by_its_mdat(clips: dict[str, Clip], tmp_path: Path) -> None:
    data = clips["h264"].data
    whole = scan_file(clips["h264"].path)
    assert whole.init is not None
    last = whole.fragments[-1]
    path = tmp_path / "no-mdat.mp4"

    path.write_bytes(data[:last.offset + _moof_size(data, last)] + _box(b"free", bytes(64)))
    scan = scan_file(path)

    assert scan.fragments == whole.fragments[:-1]
    assert scan.complete_size == last.offset


def test_a_file_must_start_with_ftyp(clips: dict[str, Clip], tmp_path: Path) -> None:
    data = clips["h264"].data
    ftyp_size = int(struct.unpack_from(">I", data)[0])
    path = tmp_path / "no-ftyp.mp4"
    path.write_bytes(data[ftyp_size:])

    assert scan_file(path).init is None
    with pytest.raises(Fmp4Error, match="starts with a 'moov' box"):
        parse_init(data[ftyp_size:])


def test_scan_file_reads_64_bit_mdat_sizes(clips: dict[str, Clip], tmp_path: Path) -> None:
    clip = clips["h264-aac"]
    whole = scan_file(clip.path)
    rewritten = b"".join(
        struct.pack(">I4sQ", 1, b"mdat", len(box) + 8) + box[8:] if fourcc == "mdat" else box
        for fourcc, box in _boxes(clip.data))
    path = tmp_path / "large.mp4"
    path.write_bytes(rewritten)

    scan = scan_file(path)

    assert [(f.offset, f.size) for f in scan.fragments] == [
        (f.offset + 8 * i, f.size + 8) for i, f in enumerate(whole.fragments)]
    assert [f.runs for f in scan.fragments] == [f.runs for f in whole.fragments]
    assert scan.complete_size == len(rewritten)
    splitter = BoxSplitter()
    assert splitter.feed(rewritten) == _boxes(rewritten)


# --- hand-built fragments ---------------------------------------------------------------------


def _box(fourcc: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), fourcc) + payload


def _full(fourcc: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return _box(fourcc, struct.pack(">I", version << 24 | flags) + payload)


NON_SYNC = 0x01010000
SYNC = 0x02000000
INIT = InitInfo(size=100, tracks=(
    TrackInfo(1, "video", 90_000, "avc1", 1920, 1080, 3000, NON_SYNC),
    TrackInfo(2, "audio", 8_000, "mp4a", None, None, 1024, SYNC),
))


def _moof(*trafs: bytes, sequence: int = 9) -> bytes:
    return _box(b"moof", _full(b"mfhd", 0, 0, struct.pack(">I", sequence))
                + b"".join(_box(b"traf", t) for t in trafs))


def _tfdt(base: int, version: int = 1) -> bytes:
    return _full(b"tfdt", version, 0, struct.pack(">Q" if version else ">I", base))


def test_parse_moof_falls_back_to_tfhd_then_trex_defaults() -> None:
    tfhd = _full(b"tfhd", 0, 0x1 | 0x2 | 0x8 | 0x10 | 0x20,
                 struct.pack(">IQIIII", 1, 1234, 1, 3600, 500, NON_SYNC))
    trun = _full(b"trun", 0, 0x1 | 0x4, struct.pack(">IiI", 30, 0, SYNC))
    video = tfhd + _tfdt(90_000, version=0) + trun
    audio = (_full(b"tfhd", 0, 0x20000, struct.pack(">I", 2)) + _tfdt(2**40)
             + _full(b"trun", 0, 0x1 | 0x200, struct.pack(">Ii", 3, 0) + bytes(12)))
    moof = _moof(video, audio)

    fragment = parse_moof(moof, 5000, INIT, 40_000)

    assert fragment == FragmentInfo(5000, len(moof) + 40_000, 9, (
        TrackRun(1, 90_000, 30 * 3600, 30, True),
        TrackRun(2, 2**40, 3 * 1024, 3, True),
    ))
    assert fragment.run(2) == fragment.runs[1]
    assert fragment.run(3) is None
    assert fragment.end == 5000 + len(moof) + 40_000


def test_parse_moof_reads_per_sample_values() -> None:
    samples = [(3000, 900, SYNC, 0), (3003, 100, NON_SYNC, 6000), (2997, 100, NON_SYNC, 3000)]
    trun = _full(b"trun", 1, 0x1 | 0x100 | 0x200 | 0x400 | 0x800,
                 struct.pack(">Ii", len(samples), 0)
                 + b"".join(struct.pack(">IIIi", *s) for s in samples))
    traf = _full(b"tfhd", 0, 0x20000, struct.pack(">I", 1)) + _tfdt(0) + trun

    (run,) = parse_moof(_moof(traf), 0, INIT, 8).runs

    assert run == TrackRun(1, 0, 9000, 3, True)


def test_parse_moof_first_sample_flags_win_over_the_defaults() -> None:
    def starts_with_sync(trun_flags: int, payload: bytes, tfhd_flags: int = 0,
                         tfhd_payload: bytes = b"") -> bool:
        traf = (_full(b"tfhd", 0, tfhd_flags, struct.pack(">I", 1) + tfhd_payload)
                + _tfdt(0) + _full(b"trun", 0, trun_flags, payload))
        return parse_moof(_moof(traf), 0, INIT, 8).runs[0].starts_with_sync

    assert not starts_with_sync(0, struct.pack(">I", 2))  # trex says non-sync
    assert starts_with_sync(0, struct.pack(">I", 2), 0x20, struct.pack(">I", SYNC))
    assert starts_with_sync(0x4, struct.pack(">II", 2, SYNC))
    assert not starts_with_sync(0x400, struct.pack(">III", 2, NON_SYNC, SYNC), 0x20,
                                struct.pack(">I", SYNC))
    assert starts_with_sync(0x4 | 0x400, struct.pack(">IIII", 2, SYNC, NON_SYNC, NON_SYNC))


def test_parse_moof_an_empty_traf_has_no_samples() -> None:
    traf = _full(b"tfhd", 0, 0x10000 | 0x20000, struct.pack(">I", 1)) + _tfdt(7)

    assert parse_moof(_moof(traf), 0, INIT, 8).runs == (TrackRun(1, 7, 0, 0, False),)


def test_parse_moof_adds_up_several_truns() -> None:
    trun = _full(b"trun", 0, 0x4, struct.pack(">II", 2, SYNC))
    traf = _full(b"tfhd", 0, 0x20000, struct.pack(">I", 1)) + _tfdt(0) + trun + trun

    assert parse_moof(_moof(traf), 0, INIT, 8).runs == (TrackRun(1, 0, 4 * 3000, 4, True),)


@pytest.mark.parametrize(("moof", "message"), [
    (_box(b"mdat", b""), "expected a moof"),
    (_box(b"moof", b""), "no mfhd"),
    (_moof(_full(b"tfhd", 0, 0, struct.pack(">I", 5)) + _tfdt(0)), "track 5"),
    (_moof(_full(b"tfhd", 0, 0, struct.pack(">I", 1))), "no tfdt"),
    (_moof(_full(b"tfhd", 0, 0, struct.pack(">I", 1)) + _tfdt(0)
           + _full(b"trun", 0, 0x100, struct.pack(">I", 1000) + bytes(8))),
     "lists 1000 samples"),
    (_moof(_full(b"tfhd", 0, 0x8, struct.pack(">I", 1))), "tfhd of track 1"),
    (_moof(b"\x00\x00\x00\x00junk"), "shorter than its own header"),
    (_moof()[:-1], "only"),
])
def test_parse_moof_explains_bad_boxes(moof: bytes, message: str) -> None:
    with pytest.raises(Fmp4Error, match=message):
        parse_moof(moof, 0, INIT, 8)
