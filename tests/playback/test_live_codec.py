"""The MSE codec string of a live init segment: from known bytes (the examples of ISO/IEC
14496-15 Annex E and RFC 6381) and from the init segments the live muxer writes for a
virtual camera's clips, checked against the clip's own parameter sets."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from nvrd.playback.live_codec import (
    CodecStringError,
    avc_codec_string,
    hevc_codec_string,
    mse_codec_string,
)
from tests.playback.live_harness import clip_packets, mux_clip, nal_units
from tools.fakecam.spec import StreamSpec


def box(fourcc: str, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), fourcc.encode()) + body


def init_with(entry: bytes, handler: bytes = b"vide") -> bytes:
    """A minimal ftyp + moov whose one track has the sample entry ``entry``."""
    stsd = box("stsd", b"\0\0\0\0" + struct.pack(">I", 1) + entry)
    hdlr = box("hdlr", b"\0\0\0\0" + b"\0\0\0\0" + handler + b"\0" * 12)
    trak = box("trak", box("mdia", hdlr + box("minf", box("stbl", stsd))))
    return box("ftyp", b"isom\0\0\0\0") + box("moov", trak)


def visual_entry(fourcc: str, config: bytes) -> bytes:
    return box(fourcc, b"\0" * 78 + config)


def test_avc_from_the_profile_compatibility_and_level_bytes() -> None:
    avcc = bytes([1, 0x64, 0x00, 0x1F, 0xFF, 0xE1])
    assert avc_codec_string(avcc) == "avc1.64001f"
    assert avc_codec_string(bytes([1, 0x42, 0xC0, 0x1E]), "avc3") == "avc3.42c01e"
    assert mse_codec_string(init_with(visual_entry("avc1", box("avcC", avcc)))) \
        == "avc1.64001f"


def test_hevc_as_the_standard_s_examples() -> None:
    # ISO/IEC 14496-15 E.3: profile space 1 (A), profile 4, compatibility 0x82000000
    # (bit-reversed: 0x41), high tier, level 120, constraint bytes B0 23 00 00 00 00
    hvcc = bytes([1, (1 << 6) | (1 << 5) | 4]) + struct.pack(">I", 0x82000000) \
        + bytes([0xB0, 0x23, 0, 0, 0, 0, 120]) + b"\0" * 10
    assert hevc_codec_string(hvcc, "hev1") == "hev1.A4.41.H120.B0.23"
    # Main profile, main tier, level 3.1, progressive-only (the common camera)
    main = bytes([1, 1]) + struct.pack(">I", 0x60000000) + bytes([0xB0, 0, 0, 0, 0, 0, 93])
    assert hevc_codec_string(main) == "hvc1.1.6.L93.B0"
    assert mse_codec_string(init_with(visual_entry("hvc1", box("hvcC", main)))) \
        == "hvc1.1.6.L93.B0"


def test_what_has_no_codec_string_says_why() -> None:
    with pytest.raises(CodecStringError, match="no video track"):
        mse_codec_string(init_with(box("mp4a", b"\0" * 28), handler=b"soun"))
    with pytest.raises(CodecStringError, match="no avcC"):
        mse_codec_string(init_with(visual_entry("avc1", box("btrt", b"\0" * 12))))
    with pytest.raises(CodecStringError, match=r"only H\.264 and H\.265"):
        mse_codec_string(init_with(visual_entry("mp4v", b"")))
    with pytest.raises(CodecStringError, match="too short"):
        avc_codec_string(bytes([1, 0x64]))
    with pytest.raises(CodecStringError, match="no moov"):
        mse_codec_string(box("ftyp", b"isom\0\0\0\0"))
    truncated = init_with(visual_entry("avc1", box("avcC", bytes([1, 0x64, 0, 0x1F]))))
    with pytest.raises(CodecStringError, match="bytes long"):
        mse_codec_string(truncated[:-3])


def test_a_camera_s_h264_stream_gets_the_profile_and_level_of_its_sps(
        fakecam_clips: Path) -> None:
    spec = StreamSpec(640, 360, 25, 25, 500)
    _stream, packets = clip_packets(fakecam_clips, spec)
    sps = next(nal for p in packets for nal in nal_units(p.data) if nal[0] & 0x1F == 7)
    init, _fragments = mux_clip(fakecam_clips, spec)
    assert init.codec == f"avc1.{sps[1]:02x}{sps[2]:02x}{sps[3]:02x}"
    assert init.mime == f'video/mp4; codecs="{init.codec}"'
    assert (init.width, init.height) == (640, 360)


def test_a_camera_s_h265_stream_gets_the_profile_tier_and_level_of_its_sps(
        fakecam_clips: Path) -> None:
    spec = StreamSpec(320, 240, 25, 25, 300, codec="h265")
    _stream, packets = clip_packets(fakecam_clips, spec)
    sps = next(nal for p in packets for nal in nal_units(p.data) if (nal[0] >> 1) & 0x3F == 33)
    # after the 2-byte NAL header and a byte of sps_video_parameter_set_id etc.: the
    # profile_tier_level starts with profile space, tier, profile (ITU-T H.265 7.3.3)
    ptl = sps[3:]
    profile, tier, level = ptl[0] & 0x1F, (ptl[0] >> 5) & 1, ptl[11]
    init, _fragments = mux_clip(fakecam_clips, spec)
    fourcc, profile_part, _compat, tier_level, *_ = init.codec.split(".")
    assert fourcc in ("hvc1", "hev1")
    assert profile_part == str(profile)
    assert tier_level == f"{'H' if tier else 'L'}{level}"
