"""The RFC 6381 codec string of an init segment's video track, for Media Source Extensions.

A browser's ``MediaSource.isTypeSupported`` and ``addSourceBuffer`` need the exact codec,
profile and level (``video/mp4; codecs="avc1.64001f"``) before they see a byte of the
stream; a wrong string is refused, or worse, accepted and then fails to decode. The
values are in the decoder configuration record of the sample entry, which FFmpeg's mp4
muxer writes from the camera's parameter sets, so they are read from there and never
guessed from the stream's nominal settings:

* H.264 (ISO/IEC 14496-15 §5.3.3, ``avcC``): ``avc1.PPCCLL``, the hex of
  AVCProfileIndication, profile_compatibility and AVCLevelIndication, after the sample
  entry's own fourcc (``avc1`` or ``avc3``).
* H.265 (ISO/IEC 14496-15 §8.3.3 and Annex E, ``hvcC``): ``hvc1.[A-C]P.C.TL.B...``: the
  profile space as a letter (none for 0) and profile_idc in decimal; the 32 compatibility
  flags bit-reversed, in hex without leading zeros; ``L`` or ``H`` for the tier and the
  level_idc in decimal; then the six constraint bytes in hex, trailing zero bytes left
  out. The prefix is the sample entry's fourcc (``hvc1`` or ``hev1``).

A pure parser: bytes in, string out, no I/O (see STYLE "pure parsers at the edges").
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

__all__ = ["CodecStringError", "avc_codec_string", "hevc_codec_string", "mse_codec_string"]

_HEADER = struct.Struct(">I4s")
_U64 = struct.Struct(">Q")
VISUAL_SAMPLE_ENTRY_BYTES = 78
"""Fields of a VisualSampleEntry before its child boxes (ISO/IEC 14496-12 §12.1.3)."""
_AVC_ENTRIES = frozenset({"avc1", "avc3"})
_HEVC_ENTRIES = frozenset({"hvc1", "hev1"})


class CodecStringError(ValueError):
    """The init segment has no video track whose codec string can be written; says why."""


def mse_codec_string(init: bytes) -> str:
    """The codec string of the first video track of ``init`` (ftyp + moov)."""
    for fourcc, entry, body, end in _video_sample_entries(init):
        config = _child(init, body + VISUAL_SAMPLE_ENTRY_BYTES, end,
                        "avcC" if fourcc in _AVC_ENTRIES else "hvcC")
        if fourcc in _AVC_ENTRIES:
            if config is None:
                raise CodecStringError(f"the {fourcc} sample entry has no avcC box")
            return avc_codec_string(init[config[0]:config[1]], fourcc)
        if fourcc in _HEVC_ENTRIES:
            if config is None:
                raise CodecStringError(f"the {fourcc} sample entry has no hvcC box")
            return hevc_codec_string(init[config[0]:config[1]], fourcc)
        raise CodecStringError(f"video in {fourcc!r} (at byte {entry}) cannot be played by "
                               "a browser's Media Source Extensions here: only H.264 and "
                               "H.265 are")
    raise CodecStringError("the init segment has no video track")


def avc_codec_string(avcc: bytes, fourcc: str = "avc1") -> str:
    """``avc1.PPCCLL`` from the body of an ``avcC`` box (its header left out)."""
    if len(avcc) < 4:
        raise CodecStringError(f"the avcC box is {len(avcc)} bytes long, too short for "
                               "a profile and level")
    if avcc[0] != 1:
        raise CodecStringError(f"the avcC box has configuration version {avcc[0]}, not 1")
    return f"{fourcc}.{avcc[1]:02x}{avcc[2]:02x}{avcc[3]:02x}"


def hevc_codec_string(hvcc: bytes, fourcc: str = "hvc1") -> str:
    """``hvc1.1.6.L93.B0`` (for example) from the body of an ``hvcC`` box."""
    if len(hvcc) < 13:
        raise CodecStringError(f"the hvcC box is {len(hvcc)} bytes long, too short for "
                               "a profile, tier and level")
    if hvcc[0] != 1:
        raise CodecStringError(f"the hvcC box has configuration version {hvcc[0]}, not 1")
    space, tier, profile = hvcc[1] >> 6, (hvcc[1] >> 5) & 1, hvcc[1] & 0x1F
    (compatibility,) = struct.unpack_from(">I", hvcc, 2)
    constraints = bytes(hvcc[6:12]).rstrip(b"\0")
    level = hvcc[12]
    parts = [fourcc, f"{'' if space == 0 else 'ABC'[space - 1]}{profile}",
             f"{_reverse_bits32(compatibility):X}", f"{'H' if tier else 'L'}{level}",
             *(f"{byte:X}" for byte in constraints)]
    return ".".join(parts)


def _reverse_bits32(value: int) -> int:
    return int(f"{value:032b}"[::-1], 2)


# --- boxes --------------------------------------------------------------------------------


def _boxes(buf: bytes, start: int, end: int) -> Iterator[tuple[str, int, int, int]]:
    """(fourcc, box start, body start, box end) of each box in ``buf[start:end]``."""
    pos = start
    while end - pos >= 8:
        size, raw = _HEADER.unpack_from(buf, pos)
        header = 8
        if size == 1:
            if end - pos < 16:
                raise CodecStringError(f"box at byte {pos} is cut off in its 64-bit size")
            (size,) = _U64.unpack_from(buf, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise CodecStringError(f"box {raw!r} at byte {pos} says it is {size} bytes "
                                   f"long; {end - pos} are left")
        yield raw.decode("latin-1"), pos, pos + header, pos + size
        pos += size


def _child(buf: bytes, start: int, end: int, fourcc: str) -> tuple[int, int] | None:
    """(body start, end) of the first ``fourcc`` box in ``buf[start:end]``."""
    for name, _box, body, box_end in _boxes(buf, start, end):
        if name == fourcc:
            return body, box_end
    return None


def _need(buf: bytes, span: tuple[int, int], fourcc: str, where: str) -> tuple[int, int]:
    found = _child(buf, *span, fourcc)
    if found is None:
        raise CodecStringError(f"{where} has no {fourcc} box")
    return found


def _video_sample_entries(init: bytes) -> Iterator[tuple[str, int, int, int]]:
    """(fourcc, box start, body start, end) of the first sample entry of each video
    track, in the order of the tracks."""
    moov = _need(init, (0, len(init)), "moov", "the init segment")
    for name, _box, body, end in _boxes(init, *moov):
        if name != "trak":
            continue
        mdia = _need(init, (body, end), "mdia", "a track")
        hdlr = _need(init, mdia, "hdlr", "a track's mdia")
        if init[hdlr[0] + 8:hdlr[0] + 12] != b"vide":
            continue
        minf = _need(init, mdia, "minf", "the video track")
        stbl = _need(init, minf, "stbl", "the video track")
        stsd = _need(init, stbl, "stsd", "the video track")
        # stsd is a full box: version and flags, then the entry count
        entry = next(_boxes(init, stsd[0] + 8, stsd[1]), None)
        if entry is None:
            raise CodecStringError("the video track has no sample description")
        fourcc, start, entry_body, entry_end = entry
        if entry_end - entry_body < VISUAL_SAMPLE_ENTRY_BYTES:
            raise CodecStringError(f"the {fourcc!r} sample entry is too short")
        yield fourcc, start, entry_body, entry_end
