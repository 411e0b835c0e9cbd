"""tools/fakecam: virtual cameras on a real gst-rtsp-server, pulled by a real PyAV client.

Timing assertions are loose bounds on what the client observes (arrival gaps, pts steps),
waiting on packets with deadlines rather than sleeping.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.container
import pytest

from tools.fakecam.clips import clip_frames, encode_video, ensure_video_clip
from tools.fakecam.control import (
    CameraSpec,
    FakeCamError,
    StartFakeCams,
    StreamSpec,
    cameras_from_count,
)
from tools.fakecam.packetfile import ClipFormatError, ClipHeader, Packet, read_clip, write_clip
from tools.fakecam.spec import parse_video_mode

SMALL = StreamSpec(320, 240, 25, 25, 300)  # one keyframe a second
TINY_SUB = StreamSpec(160, 120, 10, 10, 100)
FRAME_S = 1 / SMALL.fps


@dataclass(frozen=True, slots=True)
class Arrival:
    at: float  # time.monotonic() when the demuxer returned the packet
    stream: int
    pts: float  # seconds
    key: bool


def open_rtsp(url: str, read_timeout: float = 5.0) -> av.container.InputContainer:
    """A client as the recorder opens one: TCP, no stream probing (the SDP suffices)."""
    options = {"rtsp_transport": "tcp", "analyzeduration": "0", "probesize": "32"}
    return av.open(url, options=options, timeout=(5.0, read_timeout))


def arrivals(container: av.container.InputContainer, deadline_s: float = 15.0
             ) -> Iterator[Arrival]:
    """Timed packets until end of stream; fails the test if the deadline passes first."""
    end = time.monotonic() + deadline_s
    for packet in container.demux():
        if packet.pts is None or packet.time_base is None:
            continue
        yield Arrival(time.monotonic(), packet.stream.index,
                      float(packet.pts * packet.time_base), bool(packet.is_keyframe))
        assert time.monotonic() < end, f"still reading after {deadline_s} s"


def video_only(got: list[Arrival]) -> list[Arrival]:
    return [a for a in got if a.stream == 0]


def pts_steps(got: list[Arrival]) -> list[float]:
    return [b.pts - a.pts for a, b in itertools.pairwise(got)]


def until_end(container: av.container.InputContainer, deadline_s: float) -> str:
    """Read until the stream ends; 'eof' or the error's class name."""
    try:
        for _ in arrivals(container, deadline_s):
            pass
    except av.error.FFmpegError as exc:
        return type(exc).__name__
    return "eof"


# -- pure parts --

def test_parse_video_mode() -> None:
    assert parse_video_mode("1920x1080@30") == (1920, 1080, 30)
    assert parse_video_mode("640x360") == (640, 360, 25)
    with pytest.raises(ValueError, match="1920x1080@25"):
        parse_video_mode("1080p")


def test_specs_validate_and_count() -> None:
    cams = cameras_from_count(3, codec="h265", audio=True)
    assert [c.name for c in cams] == ["cam1", "cam2", "cam3"]
    assert all(c.main.codec == "h265" and c.sub and c.sub.audio for c in cams)
    assert cameras_from_count(1, sub=None)[0].streams.keys() == {"main"}
    with pytest.raises(ValueError, match="codec"):
        StreamSpec(codec="mjpeg")
    with pytest.raises(ValueError, match="even"):
        StreamSpec(321, 240)
    with pytest.raises(ValueError, match="URL path"):
        CameraSpec("cam 1")


def test_clip_file_round_trip_and_torn_file(tmp_path: Path) -> None:
    header = ClipHeader(kind="video", codec="h264", duration_ns=80_000_000, width=16,
                        height=16, fps=25, gop=2)
    packets = [Packet(0, 40_000_000, True, b"\0\0\0\1key"), Packet(40_000_000, 40_000_000,
                                                                  False, b"\0\0\0\1delta")]
    path = tmp_path / "x.clip"
    write_clip(path, header, packets)
    assert read_clip(path) == (header, packets)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ClipFormatError, match="truncated"):
        read_clip(path)


def test_clip_is_annexb_with_keyframes_every_gop_and_is_cached(tmp_path: Path) -> None:
    spec = StreamSpec(64, 48, 10, 5, 100)
    header, packets = encode_video(spec, "cam7")
    assert len(packets) == clip_frames(spec) == 20
    assert [i for i, p in enumerate(packets) if p.keyframe] == [0, 5, 10, 15]
    assert all(p.data.startswith((b"\0\0\0\1", b"\0\0\1")) for p in packets)
    assert header.duration_ns == 2_000_000_000
    first = ensure_video_clip(tmp_path, spec, "cam7")
    mtime = first.stat().st_mtime_ns
    assert ensure_video_clip(tmp_path, spec, "cam7") == first
    assert first.stat().st_mtime_ns == mtime  # reused, not re-encoded
    assert ensure_video_clip(tmp_path, spec, "cam8") != first  # the label is in the key


# -- against the server --

@pytest.mark.gst
def test_main_and_sub_h264_with_configured_sizes(fakecams: StartFakeCams) -> None:
    cams = fakecams([CameraSpec("cam1", SMALL, TINY_SUB), CameraSpec("cam2", SMALL, None)])
    for cam, stream, spec in [("cam1", "main", SMALL), ("cam1", "sub", TINY_SUB),
                              ("cam2", "main", SMALL)]:
        with open_rtsp(cams.url(cam, stream)) as c:
            video = c.streams.video[0].codec_context
            assert (video.name, video.width, video.height) == ("h264", spec.width, spec.height)
            assert next(arrivals(c)).stream == 0
    with pytest.raises(FakeCamError, match="no sub stream"):
        cams.url("cam2", "sub")


@pytest.mark.gst
def test_h265_with_aac_audio(fakecams: StartFakeCams) -> None:
    spec = StreamSpec(320, 240, 25, 25, 300, codec="h265", audio=True)
    cams = fakecams([CameraSpec("cam1", spec, None)])
    with open_rtsp(cams.url("cam1")) as c:
        video, audio = c.streams.video[0].codec_context, c.streams.audio[0].codec_context
        assert (video.name, video.width, video.height) == ("hevc", 320, 240)
        assert (audio.name, audio.sample_rate, audio.channels) == ("aac", 16000, 1)
        seen: set[int] = set()
        for a in arrivals(c):
            seen.add(a.stream)
            if len(seen) == 2:
                break


@pytest.mark.gst
def test_packets_at_the_configured_rate_with_a_keyframe_every_gop(
        fakecams: StartFakeCams) -> None:
    cams = fakecams([CameraSpec("cam1", SMALL, None)])
    with open_rtsp(cams.url("cam1")) as c:
        got: list[Arrival] = []
        for a in arrivals(c):
            got.append(a)
            if len(got) == 3 * SMALL.gop + 5:
                break
    first_key = next(i for i, a in enumerate(got) if a.key)
    keys = [i - first_key for i, a in enumerate(got) if a.key]
    assert keys == list(range(0, len(got) - first_key, SMALL.gop))
    assert all(step == pytest.approx(FRAME_S, abs=0.002) for step in pts_steps(got))
    steady = got[SMALL.fps:]  # past anything buffered while connecting
    rate = (len(steady) - 1) / (steady[-1].at - steady[0].at)
    assert rate == pytest.approx(SMALL.fps, rel=0.1)


@pytest.mark.gst
def test_clients_of_one_stream_share_a_pipeline(fakecams: StartFakeCams) -> None:
    cams = fakecams([CameraSpec("cam1", SMALL, None)])
    with open_rtsp(cams.url("cam1")) as a, open_rtsp(cams.url("cam1")) as b:
        next(arrivals(a))
        next(arrivals(b))
        main = cams.stats("cam1")["main"]
        assert (main["clients"], main["pipelines_created"]) == (2, 1)


@pytest.mark.gst
def test_stop_disconnects_and_refuses_then_restart_serves_again(
        fakecams: StartFakeCams) -> None:
    cams = fakecams([CameraSpec("cam1", SMALL, TINY_SUB), CameraSpec("cam2", SMALL, None)])
    url = cams.url("cam1")
    with open_rtsp(url) as playing, open_rtsp(cams.url("cam2")) as other:
        next(arrivals(playing))
        cams.stop_camera("cam1")
        started = time.monotonic()
        assert until_end(playing, deadline_s=3) in ("eof", "OSError")  # not a read timeout
        assert time.monotonic() - started < 2
        with pytest.raises(av.error.HTTPNotFoundError):
            open_rtsp(url)
        with pytest.raises(av.error.HTTPNotFoundError):
            open_rtsp(cams.url("cam1", "sub"))
        main = cams.stats("cam1")["main"]
        assert (main["mounted"], main["clients"]) == (False, 0)
        next(arrivals(other))  # the other camera is untouched
    cams.restart_camera("cam1")
    with open_rtsp(url) as again:
        assert next(arrivals(again)).stream == 0
        assert cams.stats("cam1")["main"]["pipelines_created"] == 2  # a fresh pipeline


@pytest.mark.gst
def test_stall_for_seconds_pauses_packets_and_the_timeline_keeps_running(
        fakecams: StartFakeCams) -> None:
    cams = fakecams([CameraSpec("cam1", SMALL, None)])
    stall_s = 1.5
    with open_rtsp(cams.url("cam1"), read_timeout=5) as c:
        got: list[Arrival] = []
        for a in arrivals(c):
            got.append(a)
            if len(got) == SMALL.fps:
                cams.stall("cam1", "main", seconds=stall_s)
            if len(got) == 3 * SMALL.fps:
                break
    gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
    assert stall_s * 0.8 < max(gaps) < stall_s + 1.0
    assert max(pts_steps(got)) == pytest.approx(stall_s, abs=0.2)  # lost, not paused
    assert not cams.stats("cam1")["main"]["stalled"]


@pytest.mark.gst
def test_stall_until_resume_times_out_the_reader_but_keeps_the_session(
        fakecams: StartFakeCams) -> None:
    cams = fakecams([CameraSpec("cam1", SMALL, None)])
    with open_rtsp(cams.url("cam1"), read_timeout=1.0) as c:
        next(arrivals(c))
        cams.stall("cam1", "main")
        # PyAV's read timeout: EXIT, or EIO when it strikes inside FFmpeg's TCP framing
        with pytest.raises((av.error.ExitError, av.error.OSError)):
            for _ in arrivals(c, deadline_s=5):
                pass
        main = cams.stats("cam1")["main"]
        assert main["stalled"] and main["clients"] == 1
        cams.resume("cam1", "main")
        got = [a for _, a in zip(range(10), arrivals(c, deadline_s=5), strict=False)]
        assert len(got) == 10  # the same session delivers again


@pytest.mark.gst
@pytest.mark.parametrize("audio", [False, True], ids=["video", "video+audio"])
def test_jump_shifts_timestamps_and_stays_shifted(fakecams: StartFakeCams,
                                                  audio: bool) -> None:
    """With audio, FFmpeg maps timestamps through RTCP sender reports; the jump must
    survive the next reports (the server sends one about every second)."""
    spec = StreamSpec(320, 240, 25, 25, 300, audio=audio)
    cams = fakecams([CameraSpec("cam1", spec, None)])
    settle = 3 * SMALL.fps if audio else SMALL.fps
    with open_rtsp(cams.url("cam1")) as c:
        video: list[Arrival] = []
        for a in arrivals(c, deadline_s=20):
            if a.stream != 0:
                continue
            video.append(a)
            if len(video) == SMALL.fps:
                cams.jump("cam1", "main", 5.0)
            if len(video) == 2 * SMALL.fps:
                cams.jump("cam1", "main", -3.0)
            if len(video) == 2 * SMALL.fps + settle:
                break
    steps = pts_steps(video)
    jumps = [s for s in steps if abs(s - FRAME_S) > 0.01]
    assert jumps == [pytest.approx(5.0 + FRAME_S, abs=0.01),
                     pytest.approx(-3.0 + FRAME_S, abs=0.01)]
    assert cams.stats("cam1")["main"]["offset_seconds"] == pytest.approx(2.0)


@pytest.mark.gst
def test_requests_for_unknown_cameras_fail_clearly(fakecams: StartFakeCams) -> None:
    cams = fakecams([CameraSpec("cam1", SMALL, None)])
    with pytest.raises(FakeCamError, match="no camera 'cam9'"):
        cams.stall("cam9")
    with pytest.raises(FakeCamError, match="must be positive"):
        cams.stall("cam1", "main", seconds=-1)
    with pytest.raises(FakeCamError, match="would make timestamps negative"):
        cams.jump("cam1", "main", -7200)


@pytest.mark.gst
def test_start_fails_fast_when_the_port_is_taken(fakecams: StartFakeCams) -> None:
    cams = fakecams([CameraSpec("cam1", SMALL, None)])
    with pytest.raises(FakeCamError, match="exited"):
        fakecams([CameraSpec("cam1", SMALL, None)], port=cams.port)
