"""The 22×18 motion grid: cell masks from the configuration and the 50-byte bitmap.

A bitmap holds one bit per cell, cell (column c, row r) at bit index ``r * 22 + c``,
packed most significant bit first (``numpy.packbits``): cell (0, 0) is the top bit of
byte 0; the last 4 bits of byte 49 are always 0. The same packing serves the stored
per-second bitmaps and the cell masks of a smart-search query, so a query is a bitwise
AND of two integers.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from nvrd.config.schema import MOTION_GRID_COLUMNS, MOTION_GRID_ROWS, MotionCells

COLUMNS = MOTION_GRID_COLUMNS
ROWS = MOTION_GRID_ROWS
BITMAP_BYTES = (COLUMNS * ROWS + 7) // 8  # 50

CellMask = npt.NDArray[np.bool_]
"""A (ROWS, COLUMNS) boolean array: True = the cell belongs / moved."""


def empty_mask() -> CellMask:
    return np.zeros((ROWS, COLUMNS), dtype=bool)


def mask_of(rectangles: Iterable[MotionCells]) -> CellMask:
    """The cells a region's rectangles cover."""
    mask = empty_mask()
    for rect in rectangles:
        mask[rect.top:rect.bottom + 1, rect.left:rect.right + 1] = True
    return mask


def mask_of_cells(cells: Iterable[tuple[int, int]]) -> CellMask:
    """From (column, row) pairs, e.g. the cells a user painted for a smart search."""
    mask = empty_mask()
    for column, row in cells:
        if not (0 <= column < COLUMNS and 0 <= row < ROWS):
            raise ValueError(f"cell ({column}, {row}) is outside the {COLUMNS}×{ROWS} grid "
                             f"(columns 0–{COLUMNS - 1}, rows 0–{ROWS - 1})")
        mask[row, column] = True
    return mask


def to_bitmap(mask: CellMask) -> bytes:
    """The 50-byte bitmap of a cell mask."""
    if mask.shape != (ROWS, COLUMNS):
        raise ValueError(f"a cell mask is {ROWS}×{COLUMNS}, not {mask.shape}")
    return np.packbits(mask.reshape(-1)).tobytes()


def from_bitmap(bitmap: bytes) -> CellMask:
    if len(bitmap) != BITMAP_BYTES:
        raise ValueError(f"a motion bitmap is {BITMAP_BYTES} bytes, not {len(bitmap)}")
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8))[:ROWS * COLUMNS]
    return bits.reshape(ROWS, COLUMNS).astype(bool)
