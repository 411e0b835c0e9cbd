"""One segment's fragmented MP4, muxed in memory and handed out fragment by fragment.

FFmpeg's mp4 muxer (through PyAV, stream copy, nothing decoded) writes into a sink
that splits its output into top-level boxes: the init segment (ftyp+moov) once, then a
fragment (moof+mdat) per GOP — or per second when GOPs are longer (``frag_duration``).
A fragment leaves here only when complete, so the file on disk only ever grows by whole
fragments and a crash tears at most the fragment being written.

Each segment's media timeline starts at 0 at its first video packet (``base_us``):
players and the catalog agree on offsets without knowing the camera's clock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction

import av
import av.container
import av.stream

from nvrd.record.fmp4 import BoxSplitter, FragmentInfo, InitInfo, parse_init, parse_moof

logger = logging.getLogger(__name__)

MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "opus", "ac3", "eac3", "flac", "alac"})
"""Audio the mp4 muxer can carry; anything else (G.711, G.726, ADPCM) is left out of the
recording with a warning — transcoding it would cost CPU on every stream for audio
most installers never play back."""

MUXER_OPTIONS = {
    # empty_moov: the init segment goes first and never changes; default_base_moof: each
    # fragment is self-contained (players and our parser need no state across them);
    # skip_trailer: no index at the end, which a crash would lose anyway.
    "movflags": "frag_keyframe+empty_moov+default_base_moof+skip_trailer",
    "frag_duration": "1000000",
    # hand bytes over after every packet instead of in 32 KiB chunks at random places
    "flush_packets": "1",
    # never hold video back waiting for audio that stopped
    "max_interleave_delta": "500000",
}


@dataclass(frozen=True, slots=True)
class Fragment:
    data: bytes
    info: FragmentInfo
    start_us: int
    """Video start of the fragment from the segment's start (µs)."""
    end_us: int
    keyframe: bool
    """The fragment starts with a video keyframe (a place playback can seek to)."""


class BoxSink:
    """What an FFmpeg mp4 muxer writes into (PyAV calls ``write`` from inside ``mux``):
    its output cut into whole top-level boxes. Also the live view's muxer's."""

    def __init__(self) -> None:
        self.splitter = BoxSplitter()
        self.boxes: list[tuple[str, bytes]] = []

    def write(self, data: bytes) -> int:
        self.boxes.extend(self.splitter.feed(data))
        return len(data)

    def seekable(self) -> bool:
        return False


class SegmentMuxer:
    """Feed it packets of one segment; collect complete fragments as they come out."""

    def __init__(self, video: av.video.stream.VideoStream,
                 audio: av.audio.stream.AudioStream | None, base_us: int) -> None:
        self._sink = BoxSink()
        self._out = av.open(self._sink, "w", format="mp4", options=dict(MUXER_OPTIONS))
        self._video_in = video
        self._video = self._out.add_stream_from_template(video)
        self._audio = self._out.add_stream_from_template(audio) if audio is not None else None
        # keyed by input stream index: PyAV may hand out a new wrapper per packet
        self._offsets = {video.index: _ticks(base_us, video.time_base)}
        if audio is not None:
            self._offsets[audio.index] = _ticks(base_us, audio.time_base)
        self.init: bytes | None = None
        self.init_info: InitInfo | None = None
        self._pending_init: list[bytes] = []
        self._moof: tuple[bytes, int] | None = None
        self._position = 0
        self._video_track = 1
        self._timescale = 90_000
        self.bytes = 0
        self._closed = False

    def write(self, packet: av.Packet) -> list[Fragment]:
        """Mux one packet; returns the fragments it completed.

        The packet is handed back as it came: the reader shares it with the taps (live
        view, snapshots, motion), which must see the camera's timeline, not this
        segment's. Muxing moves it to the output stream and rescales its timestamps in
        place, so they are restored afterwards."""
        source_stream = packet.stream
        offset = self._offsets.get(source_stream.index)
        if offset is None or packet.dts is None:
            return []
        dts = packet.dts - offset
        if dts < 0:
            return []  # audio from before the segment's first video frame
        pts, time_base = packet.pts, packet.time_base
        packet.dts = dts
        if pts is not None:
            packet.pts = pts - offset
        packet.stream = (self._video if source_stream.index == self._video_in.index
                         else self._audio)
        try:
            self._out.mux(packet)
        finally:
            packet.stream = source_stream
            packet.time_base = time_base
            packet.dts = dts + offset
            packet.pts = pts
        return self._collect()

    def close(self) -> list[Fragment]:
        """Flush the last fragment and release the muxer."""
        if self._closed:
            return []
        self._closed = True
        try:
            self._out.close()
        except av.error.FFmpegError as exc:
            logger.warning("closing a segment's muxer failed: %s", exc)
        return self._collect()

    def _collect(self) -> list[Fragment]:
        fragments = []
        for fourcc, box in self._sink.boxes:
            if fourcc == "moof":
                self._finish_init()
                self._moof = (box, self._position)
            elif fourcc == "mdat" and self._moof is not None:
                fragments.append(self._fragment(*self._moof, box))
                self._moof = None
            elif self.init is None:
                self._pending_init.append(box)
            self._position += len(box)
        self._sink.boxes.clear()
        if self.init is None and self._pending_init and self._pending_init[-1][4:8] == b"moov":
            self._finish_init()
        return fragments

    def _finish_init(self) -> None:
        if self.init is not None:
            return
        self.init = b"".join(self._pending_init)
        self._pending_init.clear()
        self.init_info = parse_init(self.init)
        video = self.init_info.video()
        if video is not None:
            self._video_track, self._timescale = video.track_id, video.timescale
        self.bytes = len(self.init)

    def _fragment(self, moof: bytes, offset: int, mdat: bytes) -> Fragment:
        assert self.init_info is not None
        info = parse_moof(moof, offset, self.init_info, len(mdat))
        run = info.run(self._video_track)
        data = moof + mdat
        self.bytes += len(data)
        if run is None:  # an audio-only fragment (video paused): no place to seek to
            return Fragment(data, info, -1, -1, False)
        scale = 1_000_000 / self._timescale
        return Fragment(data, info, round(run.base_decode_time * scale),
                        round((run.base_decode_time + run.duration) * scale),
                        run.starts_with_sync)


def _ticks(us: int, time_base: Fraction | None) -> int:
    if not time_base:
        return 0
    return round(Fraction(us, 1_000_000) / time_base)
