"""The test picture and sound: cheap to make, moving, and telling cameras apart.

The picture moves (diagonal stripes and a bouncing box) so a frozen stream is visible, and
carries the camera's label and a colour tint derived from it, so a person looking at a grid
of 64 cameras can tell which is which. Frames are built directly in YUV 4:2:0 with numpy,
which skips a colour conversion per frame. The ``MovingBox`` scene (``MovingBoxPicture``)
is the opposite for motion tests: everything still but one box in one place.
"""

from __future__ import annotations

import zlib

import numpy as np
import numpy.typing as npt

from tools.fakecam.spec import MovingBox

# 3x5 glyphs, row-major; enough for camera names (letters, digits, - and _).
_GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111",
    "3": "111001111001111", "4": "101101111001001", "5": "111100111001111",
    "6": "111100111101111", "7": "111001010010010", "8": "111101111101111",
    "9": "111101111001111", "A": "010101111101101", "B": "110101110101110",
    "C": "011100100100011", "D": "110101101101110", "E": "111100110100111",
    "F": "111100110100100", "G": "011100101101011", "H": "101101111101101",
    "I": "111010010010111", "J": "001001001101010", "K": "101101110101101",
    "L": "100100100100111", "M": "101111111101101", "N": "110101101101101",
    "O": "010101101101010", "P": "110101110100100", "Q": "010101101110011",
    "R": "110101110101101", "S": "011100010001110", "T": "111010010010010",
    "U": "101101101101111", "V": "101101101101010", "W": "101101111111101",
    "X": "101101010101101", "Y": "101101010010010", "Z": "111001010100111",
    "-": "000000111000000", "_": "000000000000111", " ": "000000000000000",
}

Plane = npt.NDArray[np.uint8]


def text_mask(text: str, height: int) -> npt.NDArray[np.bool_]:
    """A boolean bitmap of ``text`` about ``height`` pixels tall (unknown characters blank)."""
    scale = max(1, height // 6)
    cells = []
    for ch in text.upper():
        bits = _GLYPHS.get(ch, _GLYPHS[" "])
        glyph = np.array([c == "1" for c in bits], dtype=bool).reshape(5, 3)
        cells.append(np.pad(glyph, ((0, 0), (0, 1))))  # one column of spacing
    mask = np.concatenate(cells, axis=1) if cells else np.zeros((5, 1), bool)
    return np.kron(mask, np.ones((scale, scale), dtype=bool))


class TestPicture:
    """Frame ``i`` of a clip ``frames`` long; the motion wraps exactly at the loop point."""

    def __init__(self, width: int, height: int, frames: int, label: str) -> None:
        self.width, self.height, self.frames = width, height, frames
        yy, xx = np.mgrid[0:height, 0:width]
        self._stripes = ((xx + yy) // 2).astype(np.int32)
        self._label = text_mask(label, max(12, height // 6))
        tint = zlib.crc32(label.encode())
        self._u = np.uint8(96 + tint % 64)
        self._v = np.uint8(96 + (tint >> 8) % 64)

    def yuv420(self, i: int) -> Plane:
        """The frame as one (height * 3 / 2, width) plane array, as PyAV's yuv420p wants."""
        w, h = self.width, self.height
        phase = i / self.frames
        y = (16 + (self._stripes + int(phase * 256)) % 128).astype(np.uint8)
        self._draw_box(y, phase)
        self._draw_label(y)
        y[h - max(2, h // 40):, : int(w * (i + 1) / self.frames)] = 235  # loop progress bar
        chroma = np.empty((h // 2, w), dtype=np.uint8)
        chroma[: h // 4] = self._u
        chroma[h // 4:] = self._v
        return np.concatenate([y, chroma.reshape(h // 2, w)])

    def _draw_box(self, y: Plane, phase: float) -> None:
        w, h = self.width, self.height
        size = max(4, h // 6)
        travel = w - size
        x = int(abs(1 - 2 * phase) * travel)  # there and back once per loop
        top = h // 2 - size // 2
        y[top:top + size, x:x + size] = 235

    def _draw_label(self, y: Plane) -> None:
        _draw_label(y, self._label)


class MovingBoxPicture:
    """The ``MovingBox`` scene (see ``tools/fakecam/spec.py``): a still background (a
    gradient with a fixed texture, so a motion detector has something to fit its light
    model to), the label, and a bright box moving inside the scene's area only. Nothing
    else changes from frame to frame: no stripes, no progress bar."""

    def __init__(self, width: int, height: int, frames: int, label: str,
                 scene: MovingBox) -> None:
        self.width, self.height, self.frames = width, height, frames
        left, top, right, bottom = scene.pixels(width, height)
        self._area = (left, top, right, bottom)
        self._size = max(2, min(round(scene.box * height), right - left, bottom - top))
        yy, xx = np.mgrid[0:height, 0:width]
        texture = np.random.default_rng(zlib.crc32(label.encode())).integers(0, 12, (height,
                                                                                     width))
        self._background = (60 + xx * 80 // width + yy * 40 // height + texture
                            ).astype(np.uint8)
        _draw_label(self._background, text_mask(label, max(12, height // 6)))
        tint = zlib.crc32(label.encode())
        self._u = np.uint8(96 + tint % 64)
        self._v = np.uint8(96 + (tint >> 8) % 64)

    def box_at(self, i: int) -> tuple[int, int]:
        """The box's top-left corner in frame ``i``; it lies wholly inside the area."""
        left, top, right, bottom = self._area
        phase = i / self.frames
        x = left + int(_there_and_back(phase) * (right - left - self._size))
        y = top + int(_there_and_back(2 * phase % 1) * (bottom - top - self._size))
        return x, y

    def yuv420(self, i: int) -> Plane:
        w, h = self.width, self.height
        y = self._background.copy()
        x0, y0 = self.box_at(i)
        y[y0:y0 + self._size, x0:x0 + self._size] = 235
        chroma = np.empty((h // 2, w), dtype=np.uint8)
        chroma[: h // 4] = self._u
        chroma[h // 4:] = self._v
        return np.concatenate([y, chroma.reshape(h // 2, w)])


def _there_and_back(phase: float) -> float:
    """0 → 1 → 0 as ``phase`` goes 0 → 1 (continuous at the loop point)."""
    return 1 - abs(1 - 2 * phase)


def _draw_label(y: Plane, mask: npt.NDArray[np.bool_]) -> None:
    height, width = y.shape
    mh = min(mask.shape[0], height - 4)
    mw = min(mask.shape[1], width - 4)
    region = y[4:4 + mh, 4:4 + mw]
    region[:] = 16
    region[mask[:mh, :mw]] = 235


def tone(sample_rate: int, samples: int) -> npt.NDArray[np.float32]:
    """A quiet 440 Hz tone with a beep at the start of the loop (audible looping)."""
    t = np.arange(samples, dtype=np.float32) / sample_rate
    signal = 0.1 * np.sin(2 * np.pi * 440 * t)
    beep = t < 0.1
    signal[beep] = 0.3 * np.sin(2 * np.pi * 880 * t[beep])
    return signal.astype(np.float32)
