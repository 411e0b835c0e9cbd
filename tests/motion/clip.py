"""A real H.264 clip for motion tests: a bright square crossing one corner of a still scene.

Timeline (seconds): 0–1 still; 1–3 a 48×48 square moves right along rows 3–5 of the
grid from column 1 to about column 9; from 3 on it is gone. MPEG-TS, like what an RTSP
demuxer hands out (Annex B, parameter sets in band).
"""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
import numpy.typing as npt

WIDTH, HEIGHT, FPS, GOP = 352, 288, 15, 15
SECONDS = 5.6
SQUARE = 48
SQUARE_Y = 48
MOVE_START_S, MOVE_END_S = 1.0, 3.0


def square_x(t: float) -> int | None:
    if not MOVE_START_S <= t < MOVE_END_S:
        return None
    return 16 + int((t - MOVE_START_S) * 48)  # 16 → 112 px: columns 1–9


def picture(t: float) -> npt.NDArray[np.uint8]:
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    luma = (60 + xx * 80 // WIDTH + yy * 40 // HEIGHT + rng.integers(0, 12, (HEIGHT, WIDTH)))
    x = square_x(t)
    if x is not None:
        luma[SQUARE_Y:SQUARE_Y + SQUARE, x:x + SQUARE] = 235
    return luma.astype(np.uint8)


def encode_clip(width: int = WIDTH, height: int = HEIGHT, fps: int = FPS, gop: int = GOP,
                seconds: float = SECONDS) -> bytes:
    out = io.BytesIO()
    with av.open(out, "w", format="mpegts") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency",
                                        "keyint_min": str(gop), "sc_threshold": "0"}
        chroma = np.full((height // 2, width // 2), 128, np.uint8)
        for i in range(round(seconds * fps)):
            t = i / fps
            luma = picture(t) if (width, height) == (WIDTH, HEIGHT) else _scaled(t, width,
                                                                                  height)
            frame = av.VideoFrame.from_ndarray(
                np.concatenate([luma, chroma.reshape(height // 4, width),
                                chroma.reshape(height // 4, width)]), format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


def _scaled(t: float, width: int, height: int) -> npt.NDArray[np.uint8]:
    rows = np.arange(height) * HEIGHT // height
    cols = np.arange(width) * WIDTH // width
    return picture(t)[rows][:, cols]
