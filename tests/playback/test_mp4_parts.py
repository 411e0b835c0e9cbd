"""The pieces of the on-the-fly MP4 that need no footage: the Range header, and the box
writer's choices for files over 4 GiB and negative composition offsets."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from nvrd.playback.http import ByteRange, RangeNotSatisfiable, parse_range
from nvrd.playback.layout import Composition, Slice, TrackTable
from nvrd.playback.moov import file_head


@pytest.mark.parametrize(("header", "wanted"), [
    (None, None),
    ("bytes=0-99", ByteRange(0, 100)),
    ("bytes=100-", ByteRange(100, 1000)),
    ("bytes=-100", ByteRange(900, 1000)),
    ("bytes=-5000", ByteRange(0, 1000)),
    ("bytes=990-5000", ByteRange(990, 1000)),
    ("bytes=0-0", ByteRange(0, 1)),
    ("bytes= 10 - 19 ", ByteRange(10, 20)),
    ("bytes=0-9,500-509", ByteRange(0, 510)),  # several: coalesced into one
    ("bytes=0-9,5000-", ByteRange(0, 10)),  # the one that cannot be served is dropped
    ("BYTES=1-2", ByteRange(1, 3)),
    ("items=0-9", None),  # another unit: ignored
    ("bytes=9-0", None),  # invalid: ignored
    ("bytes=a-b", None),
    ("bytes=", None),
    ("bytes=-", None),
])
def test_range_header(header: str | None, wanted: ByteRange | None) -> None:
    assert parse_range(header, 1000) == wanted


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0",
                                    "bytes=1000-1001,2000-"])
def test_unsatisfiable_range(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        parse_range(header, 1000)
    assert caught.value.content_range == "bytes */1000"


def _avc_entry() -> bytes:
    entry = struct.pack(">I4s6xH16xHH", 86, b"avc1", 1, 320, 240) + bytes(86 - 36)
    return struct.pack(">I4sII", 16 + len(entry), b"stsd", 0, 1) + entry


def _composition(payload: int, composition: list[int] | None) -> Composition:
    count = 4
    table = TrackTable(
        kind="video", timescale=90_000, entry=_avc_entry(), width=320, height=240,
        durations=np.full(count, 3600, dtype=np.int64),
        sizes=np.full(count, payload // count, dtype=np.int64),
        composition=np.array(composition, dtype=np.int64) if composition else None,
        sync=None, chunk_samples=np.array([2, 2], dtype=np.int64),
        chunk_offsets=np.array([0, payload // 2], dtype=np.int64), media_time=0, delay=0)
    return Composition((table,), (Slice(Path("/x"), 0, payload),), payload, 0, 0, 0, (), 0)


def _box(head: bytes, fourcc: bytes) -> bytes:
    at = head.index(fourcc) - 4
    return head[at:at + int.from_bytes(head[at:at + 4], "big")]


def test_a_file_over_4_gib_has_64_bit_chunk_offsets_and_mdat_size() -> None:
    small = file_head(_composition(1 << 20, None))
    assert b"stco" in small and b"co64" not in small
    assert small[-4:] == b"mdat"

    big = file_head(_composition(5 << 30, None))
    assert b"co64" in big and b"stco" not in big
    assert big[-16:-8] == struct.pack(">I4s", 1, b"mdat")
    assert int.from_bytes(big[-8:], "big") == (5 << 30) + 16
    co64 = _box(big, b"co64")
    offsets = struct.unpack(">2Q", co64[16:])
    assert offsets == (len(big), len(big) + (5 << 29))


def test_negative_composition_offsets_make_a_version_1_ctts() -> None:
    positive = _box(file_head(_composition(1000, [0, 7200, 0, 3600])), b"ctts")
    assert positive[8] == 0
    negative = _box(file_head(_composition(1000, [0, 3600, -3600, 0])), b"ctts")
    assert negative[8] == 1
    assert struct.unpack(">I8i", negative[12:]) == (4, 1, 0, 1, 3600, 1, -3600, 1, 0)
