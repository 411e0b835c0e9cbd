"""The grabber and the JPEG encoder on a real H.264 clip (encoded here, demuxed by PyAV)."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest

from nvrd.snapshots.grabber import FrameGrabber, KeyFrame, to_jpeg

WIDTH, HEIGHT, GOP, FRAMES = 320, 240, 10, 25
RED = (200, 40, 40)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1 s H.264 MP4: left half red, right half a moving white bar; a key frame every
    ``GOP`` frames, so packets 0, 10 and 20 are key frames."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.gop_size = GOP
        stream.codec_context.options = {"preset": "ultrafast", "bf": "0",
                                        "keyint_min": str(GOP), "sc_threshold": "0"}
        for n in range(FRAMES):
            image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
            image[:, : WIDTH // 2] = RED
            image[:, WIDTH // 2 + n * 4: WIDTH // 2 + n * 4 + 20] = 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def feed(clip: Path, grabber: FrameGrabber, arm_at: dict[int, list[KeyFrame]]) -> None:
    """Play the clip into ``grabber``; before packet ``n`` in ``arm_at``, arm a waiter
    collecting into that list."""
    with av.open(str(clip)) as container:
        video = container.streams.video[0]
        grabber.on_session_start(video, None)
        for n, packet in enumerate(p for p in container.demux(video) if p.size):
            if n in arm_at:
                grabber.arm(arm_at[n].append)
            grabber.on_packet(packet)
        grabber.on_session_end("the clip ended")


def test_an_armed_grabber_hands_over_the_next_key_frame_once(clip: Path) -> None:
    grabber = FrameGrabber(3, "sub", wall_us=lambda: 1234)
    first: list[KeyFrame] = []
    mid_gop: list[KeyFrame] = []
    also: list[KeyFrame] = []
    feed(clip, grabber, {0: first, 3: mid_gop, 5: also})
    assert len(first) == 1 and first[0].pts == 0
    # armed mid-GOP: the next key frame (packet 10), one object for both waiters
    assert len(mid_gop) == 1 and mid_gop[0] is also[0]
    key = mid_gop[0]
    assert (key.channel, key.stream, key.codec, key.time_us) == (3, "sub", "h264", 1234)
    assert key.pts is not None and key.pts * key.time_base == pytest.approx(GOP / 25)
    assert not grabber.receiving


def test_a_disarmed_waiter_gets_nothing(clip: Path) -> None:
    grabber = FrameGrabber(1, "main")
    got: list[KeyFrame] = []
    grabber.arm(got.append)
    grabber.disarm(got.append)
    feed(clip, grabber, {})
    assert got == []


def test_the_key_frame_becomes_a_jpeg_of_its_size_and_colours(clip: Path) -> None:
    grabber = FrameGrabber(1, "main")
    got: list[KeyFrame] = []
    feed(clip, grabber, {1: got})
    sizes = []
    for level in range(1, 7):
        picture = to_jpeg(got[0], level)
        assert (picture.width, picture.height) == (WIDTH, HEIGHT)
        with av.open(io.BytesIO(picture.jpeg), "r", format="image2pipe") as container:
            frame = next(container.decode(video=0))
        assert isinstance(frame, av.VideoFrame)
        assert (frame.width, frame.height) == (WIDTH, HEIGHT)
        rgb = frame.to_ndarray(format="rgb24")
        # full range kept: red stays red (a limited-range mix-up shifts it by ~15-20)
        assert np.abs(rgb[HEIGHT // 2, WIDTH // 4].astype(int) - RED).max() <= 12
        sizes.append(len(picture.jpeg))
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]  # better costs more
