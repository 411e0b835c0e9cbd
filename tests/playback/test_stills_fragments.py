"""Recorded pictures from segment files as the recorder writes them (the on-the-fly MP4
tests' clips, cut by the recorder's muxer): every key fragment, read alone with its init
segment, decodes to its key frame, with B-frames and an audio track too."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import av
import pytest

from nvrd.playback.stills import (
    KeyFragment,
    StillError,
    decode_first_frame,
    make_still,
    open_segment_seek,
    read_key_fragment,
)
from tools.bench.playback_footage import Piece, write_footage

T0 = 1_800_000_000_000_000


def jpeg_size(jpeg: bytes) -> tuple[int, int]:
    with av.open(io.BytesIO(jpeg), "r", format="image2pipe") as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height


@pytest.mark.parametrize("clip", ["bframes", "plain"])
def test_each_key_fragment_decodes_alone(clips: Any, tmp_path: Path, clip: str) -> None:
    rows = write_footage(getattr(clips, clip), tmp_path / "disk",
                         pieces=[Piece(T0, first_gop=2, gops=4)])
    (row,) = rows
    path = tmp_path / "disk" / row.path
    assert len(row.fragments) == 4
    # the file's own scan gives the index the catalog holds (what an open segment uses)
    seek, footage_us = open_segment_seek(path)
    assert seek == row.fragments and footage_us == row.end_us - row.start_us
    for offset_us, offset in row.fragments:
        fragment = KeyFragment(path, row.init_bytes, offset, row.start_us + offset_us)
        frame = decode_first_frame(read_key_fragment(fragment))
        assert frame.key_frame and (frame.width, frame.height) == (320, 240)
        still = make_still(fragment, 4, 160)
        assert (still.width, still.height) == (160, 120) == jpeg_size(still.jpeg)
        assert still.time_us == row.start_us + offset_us


def test_an_index_that_does_not_match_the_file_is_refused(clips: Any,
                                                          tmp_path: Path) -> None:
    (row,) = write_footage(clips.plain, tmp_path / "disk",
                           pieces=[Piece(T0, first_gop=0, gops=2)])
    path = tmp_path / "disk" / row.path
    with pytest.raises(StillError, match="expected a moof box"):
        read_key_fragment(KeyFragment(path, row.init_bytes, row.fragments[1][1] + 8, T0))
    with pytest.raises(StillError, match="the file ends"):
        read_key_fragment(KeyFragment(path, row.init_bytes, row.bytes, T0))
