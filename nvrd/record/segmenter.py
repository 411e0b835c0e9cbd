"""Turns one stream's packets into segments: runs, rotation, pre-record, record types.

Runs in the stream's reader thread, called for every packet; it never blocks and never
touches the disk (complete fragments go to the volume's writer through ``SegmentTarget``).
The loop steers it by replacing three values, each read once per packet:

- ``settings`` (segment length and size, pre-record, rotation offset, a generation that
  changes when the channel's settings do: the current segment is cut);
- ``flags`` (what the channel should record now; 0 = nothing, keep pre-record);
- ``target`` (the volume writer; None = no writable volume).

Time model (docs: DESIGN.md "Segments"): a run is footage with one continuous media
timeline. Its wall-clock anchor is fixed in its first ``SETTLE_US`` as the smallest
``arrival - media`` seen (the packet that waited least in buffers), and from then on
every instant is ``anchor + media time``. A run ends on a reconnect, a timestamp
discontinuity, a step of the system clock, drift between media time and arrival beyond
``MAX_LATENCY_US``, a volume change or a writer that cannot keep up. Where the media
timeline is intact (clock step, drift, volume change) the cut waits for the next keyframe,
so nothing is lost; where it is broken the segment ends before the offending packet.

Segments are cut only on keyframes: after ``segment_us`` (staggered per stream by
``rotate_offset_us`` so that streams do not all rotate — and fsync — at once), at
``segment_max_bytes``, when the record types or settings change, or when recording stops.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import av
import av.audio.stream
import av.video.stream

from nvrd.record.clock import Clock, SystemClock
from nvrd.record.muxer import MP4_AUDIO_CODECS, Fragment, SegmentMuxer
from nvrd.record.prerecord import BufferedPacket, PreRecordBuffer
from nvrd.record.timestamps import ClockStepDetector, TrackClock, Verdict
from nvrd.storage.messages import AppendFragment, CloseSegment, OpenSegment, WriterMessage
from nvrd.storage.model import RecordType, SegmentName

logger = logging.getLogger(__name__)

SETTLE_US = 2_000_000
"""How long a new run watches arrivals before its wall-clock anchor is fixed. The first
second or so of a connection arrives in a burst (what the demuxer buffered while
probing); the anchor must come from packets that arrived in real time."""
MAX_LATENCY_US = 3_000_000
"""Media time drifting this far from arrival time (a camera clock running slow or
fast) re-anchors at the next rotation: a new run, nothing lost."""
MIN_LATENCY_US = -500_000
PRERECORD_MAX_BYTES = 48 << 20
"""Pre-record RAM per stream, whatever the GOP and bitrate (30 s at 12 Mbit/s)."""

CANNOT_KEEP_UP = "volume cannot keep up"
_segment_keys = itertools.count(1)


class SegmentTarget(Protocol):
    """A volume writer as a recorder sees it (``nvrd.storage.writer.VolumeWriter``)."""

    @property
    def name(self) -> str: ...

    def submit(self, message: WriterMessage) -> bool:
        """Queue ``message``; False if the disk is too far behind to take more."""
        ...


@dataclass(frozen=True, slots=True)
class SegmenterSettings:
    segment_us: int = 60_000_000
    segment_max_bytes: int = 512 << 20
    pre_record_us: int = 0
    rotate_offset_us: int = 0
    generation: int = 0


@dataclass(frozen=True, slots=True)
class SegmenterStatus:
    """Counters a technician reads to tell "recording fine" from "losing footage"."""

    recording: bool
    types: int
    volume: str | None
    segment_start_us: int | None
    run_start_us: int | None
    segments: int
    bytes_written: int
    packets_recorded: int
    packets_dropped: int
    """Bad timestamps (none, backwards)."""
    packets_lost: int
    """Received but not recorded although recording was wanted (waiting for a keyframe
    after a fault, writer behind)."""
    discontinuities: int
    clock_steps: int
    cannot_keep_up: int
    last_cut: str | None


@dataclass(frozen=True, slots=True)
class SegmentOpened:
    """A segment was opened (what ``StreamSegmenter.opened_hook`` is called with)."""

    channel: int
    stream: str
    types: int
    """What it records (RecordType flags)."""
    start_us: int
    """UTC start of its footage (earlier than the opening when pre-record leads it)."""
    opened_mono_us: int
    """When the segmenter opened it, on the monotonic clock (the segmenter's ``Clock``)."""


@dataclass(slots=True)
class _Session:
    video: av.video.stream.VideoStream
    audio: av.audio.stream.AudioStream | None
    video_clock: TrackClock
    audio_clock: TrackClock | None
    frame_ticks: int
    """One frame in the video time base (from the nominal rate), to date a keyframe that
    arrived without a timestamp."""
    held_keyframe: av.Packet | None = None


@dataclass(slots=True)
class _Run:
    anchor_us: int
    base_dts_us: int
    settled: bool = False


@dataclass(slots=True)
class _Segment:
    key: int
    muxer: SegmentMuxer
    target: SegmentTarget
    types: int
    generation: int
    run_start_us: int
    start_media_us: int
    start_us: int
    rotate_at_us: int
    end_us: int
    announced: bool = False


class StreamSegmenter:
    """One stream's recorder; see the module docstring for the threading rules."""

    def __init__(self, channel: int, stream: str, settings: SegmenterSettings,
                 clock: Clock | None = None,
                 notify: Callable[[str, str], None] | None = None) -> None:
        self.channel, self.stream = channel, stream
        self.settings = settings
        self.flags = RecordType(0)
        self.target: SegmentTarget | None = None
        self._clock = clock or SystemClock()
        self._notify = notify or (lambda kind, message: None)
        self._log = logger.getChild(f"ch{channel}-{stream}")
        self._ring = PreRecordBuffer(settings.pre_record_us / 1e6, PRERECORD_MAX_BYTES)
        self._steps = ClockStepDetector()
        self._session: _Session | None = None
        self._run: _Run | None = None
        self._segment: _Segment | None = None
        self._cut_for_new_run: str | None = None
        self._recording_since_us: int | None = None
        """Start of the first segment of the current recording (the catalog's
        ``run_start_us``): kept across cuts that leave no break, reset by any break."""
        self._counts = dict.fromkeys(
            ("segments", "bytes_written", "packets_recorded", "packets_dropped",
             "packets_lost", "discontinuities", "clock_steps", "cannot_keep_up"), 0)
        self._last_cut: str | None = None
        self._dropped_reason = ""
        self.opened_hook: Callable[[SegmentOpened], None] | None = None
        """Called in the reader thread, at once, whenever a segment opens (it must be quick
        and never block): for whoever needs the moment recording starts — the alarm bench
        times alarm edge → event segment with it. ``status`` says that a segment is open,
        not when it opened (its ``segment_start_us`` is where the footage begins)."""

    # --- status (any thread) -----------------------------------------------------------

    def status(self) -> SegmenterStatus:
        segment, run = self._segment, self._run
        return SegmenterStatus(
            recording=segment is not None, types=segment.types if segment else 0,
            volume=segment.target.name if segment else None,
            segment_start_us=segment.start_us if segment else None,
            run_start_us=segment.run_start_us if segment else (run.anchor_us if run else None),
            last_cut=self._last_cut, **self._counts)

    # --- reader thread -------------------------------------------------------------------

    def on_session_start(self, video: av.video.stream.VideoStream,
                         audio: av.audio.stream.AudioStream | None) -> None:
        if audio is not None and audio.codec_context.name not in MP4_AUDIO_CODECS:
            self._log.warning("audio in %s cannot be stored in MP4; recording video only",
                              audio.codec_context.name)
            audio = None
        assert video.time_base is not None
        rate = video.average_rate or video.guessed_rate
        frame_ticks = max(1, round(1 / (rate * video.time_base))) if rate else 1
        self._session = _Session(
            video, audio, TrackClock(video.time_base),
            TrackClock(audio.time_base) if audio is not None and audio.time_base else None,
            frame_ticks)

    def on_session_end(self, reason: str) -> None:
        """The connection ended (or the reader is stopping): close what is open."""
        self._end_run(reason)
        self._session = None

    def on_packet(self, packet: av.Packet) -> None:
        session = self._session
        if session is None:
            return
        video = packet.stream.index == session.video.index
        if video and session.video_clock.last_dts_us is None:
            # FFmpeg's RTSP demuxer hands out a connection's first keyframe before it can
            # time it (no RTCP yet); dropping it would lose the whole first GOP of every
            # connection. Keep it and date it one frame before the next video packet.
            if packet.dts is None and packet.is_keyframe:
                session.held_keyframe = packet
                return
            held, session.held_keyframe = session.held_keyframe, None
            if held is not None and packet.dts is not None:
                held.dts = packet.dts - session.frame_ticks
                held.pts = held.dts + ((packet.pts - packet.dts)
                                       if packet.pts is not None else 0)
                self._process(held, session, True)
        self._process(packet, session, video)

    def _process(self, packet: av.Packet, session: _Session, video: bool) -> None:
        clock = session.video_clock if video else session.audio_clock
        if clock is None:
            return  # audio we cannot store
        mono_us, wall_us = self._clock.mono_us(), self._clock.wall_us()
        verdict = clock.check(packet.dts, mono_us)
        if verdict is Verdict.DROP:
            self._drop(clock.reason)
            return
        if verdict is Verdict.DISCONTINUITY:
            self._counts["discontinuities"] += 1
            self._log.warning("%s: starting a new run", clock.reason)
            self._notify("discontinuity", clock.reason)
            self._end_run(clock.reason, keep_clocks=True)
        step = self._steps.check(wall_us, mono_us)
        if step:
            self._counts["clock_steps"] += 1
            message = f"the system clock was stepped {step / 1e6:+.3f} s"
            self._log.warning("%s: a new run starts at the next keyframe", message)
            self._notify("clock-step", message)
            self._cut_for_new_run = message
        keyframe = video and packet.is_keyframe
        dts_us = clock.last_dts_us
        assert dts_us is not None
        run = self._run
        if run is None:
            if not keyframe:
                if self._wanted():
                    self._counts["packets_lost"] += 1
                return
            run = self._run = _Run(anchor_us=wall_us, base_dts_us=dts_us)
        media_us = dts_us - run.base_dts_us
        if media_us < 0:
            return  # audio from before the run's first video frame
        if not run.settled:
            run.anchor_us = min(run.anchor_us, wall_us - media_us)
            run.settled = media_us >= SETTLE_US
        item = BufferedPacket(packet, media_us, video, keyframe)
        if keyframe:
            self._at_keyframe(item, wall_us)
            run = self._run
            assert run is not None
        if self._segment is not None:
            self._mux(item)
            return
        self._ring.window_us = self.settings.pre_record_us
        # a run that is settling, or about to be recorded from its start, keeps it all
        self._ring.push(item, hold=not run.settled or self._wanted())
        if run.settled and self._wanted():
            self._open_from_ring()

    # --- decisions -----------------------------------------------------------------------

    def _wanted(self) -> bool:
        return bool(self.flags) and self.target is not None

    def _at_keyframe(self, item: BufferedPacket, wall_us: int) -> None:
        """Cut, stop or re-anchor here (before ``item`` is recorded) if anything asks."""
        run = self._run
        assert run is not None
        latency = wall_us - (run.anchor_us + item.media_us)
        new_run = self._cut_for_new_run
        if new_run is None and run.settled and not MIN_LATENCY_US <= latency <= MAX_LATENCY_US:
            new_run = f"media time drifted {latency / 1e6:+.1f} s from the wall clock"
        segment = self._segment
        if (segment is not None and new_run is None and self.target is not None
                and segment.target is not self.target):
            new_run = f"recording moved to volume {self.target.name}"
        if new_run is not None:
            self._cut_for_new_run = None
            self._log.info("%s: new run", new_run)
            self._close(run.anchor_us + item.media_us, new_run)
            self._new_run_at(item, wall_us)
            return
        if segment is None:
            return
        reason = self._cut_reason(segment, item)
        if reason is not None:
            continues = self._wanted()
            if not self._close(run.anchor_us + item.media_us, reason, continues=continues):
                self._new_run_at(item, wall_us)  # the writer fell behind: a break
            elif continues:
                self._open(item.media_us)

    def _new_run_at(self, item: BufferedPacket, wall_us: int) -> None:
        """Start a new run on keyframe ``item`` (anchored anew, settling again)."""
        run = self._run
        assert run is not None
        self._ring.clear()
        self._run = _Run(anchor_us=wall_us, base_dts_us=run.base_dts_us + item.media_us)
        item.media_us = 0

    def _cut_reason(self, segment: _Segment, item: BufferedPacket) -> str | None:
        settings = self.settings
        wanted = int(self.flags) if self.target is not None else 0
        if not wanted:
            return "recording stopped"
        if wanted != segment.types:
            return "record types changed"
        if settings.generation != segment.generation:
            return "settings changed"
        run = self._run
        assert run is not None
        if run.anchor_us + item.media_us >= segment.rotate_at_us:
            return "rotate"
        if segment.muxer.bytes >= settings.segment_max_bytes:
            return "size limit"
        return None

    # --- segments ------------------------------------------------------------------------

    def _open_from_ring(self) -> None:
        items = self._ring.drain()
        if not items:
            return
        self._open(items[0].media_us)
        for item in items:
            if self._segment is None:
                self._counts["packets_lost"] += 1
                continue
            self._mux(item)

    def _open(self, start_media_us: int) -> None:
        session, run, target = self._session, self._run, self.target
        assert session is not None and run is not None and target is not None
        start_us = run.anchor_us + start_media_us
        if self._recording_since_us is None:
            self._recording_since_us = start_us
        settings = self.settings
        segment_us = settings.segment_us
        earliest = start_us + segment_us // 2
        periods = math.ceil((earliest - settings.rotate_offset_us) / segment_us)
        self._segment = _Segment(
            key=next(_segment_keys),
            muxer=SegmentMuxer(session.video, session.audio, run.base_dts_us + start_media_us),
            target=target, types=int(self.flags), generation=settings.generation,
            run_start_us=self._recording_since_us, start_media_us=start_media_us,
            start_us=start_us,
            rotate_at_us=settings.rotate_offset_us + periods * segment_us, end_us=start_us)
        hook = self.opened_hook
        if hook is not None:
            hook(SegmentOpened(self.channel, self.stream, self._segment.types, start_us,
                               self._clock.mono_us()))

    def _mux(self, item: BufferedPacket) -> None:
        segment = self._segment
        assert segment is not None
        try:
            fragments = segment.muxer.write(item.packet)
        except av.error.FFmpegError as exc:
            self._log.warning("the muxer refused a packet (%s): closing the segment", exc)
            self._abandon(f"muxer error: {exc}")
            return
        self._counts["packets_recorded"] += 1
        if not segment.announced and segment.muxer.init is not None:
            segment.announced = self._announce(segment)
            if not segment.announced:
                self._cannot_keep_up(segment, fragments)
                return
        if not self._send(segment, fragments):
            self._cannot_keep_up(segment)

    def _announce(self, segment: _Segment) -> bool:
        session = self._session
        assert session is not None and segment.muxer.init is not None
        context = session.video.codec_context
        return segment.target.submit(OpenSegment(
            key=segment.key,
            name=SegmentName(self.channel, self.stream, segment.start_us),
            run_start_us=segment.run_start_us, types=segment.types, codec=context.name,
            width=context.width or None, height=context.height or None,
            init=segment.muxer.init))

    def _send(self, segment: _Segment, fragments: list[Fragment]) -> bool:
        """Queue ``fragments``; False (and the rest counted lost) when the writer refuses."""
        for index, fragment in enumerate(fragments):
            if fragment.end_us >= 0:
                segment.end_us = segment.start_us + fragment.end_us
            seek = ((fragment.start_us, fragment.info.offset) if fragment.keyframe else None)
            accepted = segment.target.submit(AppendFragment(
                segment.key, fragment.data, segment.end_us, seek,
                enqueued_ns=self._clock.mono_us() * 1000))
            if not accepted:
                self._count_lost(fragments[index:])
                return False
            self._counts["bytes_written"] += len(fragment.data)
        return True

    def _close(self, end_us: int | None, reason: str, *, continues: bool = False) -> bool:
        """Finish the open segment, if any. ``end_us``: where the next one starts;
        ``continues``: the next one follows without a break (same catalog run). False
        if the writer refused its last fragments (counted as cannot keep up)."""
        if not continues:
            self._recording_since_us = None
        segment, self._segment = self._segment, None
        if segment is None:
            return True
        fragments = segment.muxer.close()
        self._last_cut = reason
        if not segment.announced:
            self._count_lost(fragments)
            return True
        sent = self._send(segment, fragments)
        # a close is always accepted, so the writer never keeps a segment open forever
        segment.target.submit(CloseSegment(segment.key, end_us if sent else None,
                                           reason if sent else CANNOT_KEEP_UP))
        self._counts["segments"] += 1
        if not sent:
            self._recording_since_us = None
            self._report_cannot_keep_up(segment)
        return sent

    def _abandon(self, reason: str, unsent: list[Fragment] | None = None) -> None:
        """Give up the open segment and its run: the writer keeps what it has."""
        self._recording_since_us = None
        segment, self._segment = self._segment, None
        if segment is not None:
            self._count_lost([*(unsent or []), *segment.muxer.close()])
            if segment.announced:
                segment.target.submit(CloseSegment(segment.key, None, reason))
                self._counts["segments"] += 1
        self._last_cut = reason
        self._run = None
        self._ring.clear()

    def _cannot_keep_up(self, segment: _Segment, unsent: list[Fragment] | None = None
                        ) -> None:
        self._report_cannot_keep_up(segment)
        self._abandon(CANNOT_KEEP_UP, unsent)

    def _report_cannot_keep_up(self, segment: _Segment) -> None:
        self._counts["cannot_keep_up"] += 1
        message = f"volume {segment.target.name} cannot keep up: recording interrupted"
        self._log.warning("%s", message)
        self._notify("cannot-keep-up", message)

    def _count_lost(self, fragments: list[Fragment]) -> None:
        """Packets counted as recorded when muxed whose fragments never reached the
        writer: they move from recorded to lost."""
        lost = sum(_samples(f) for f in fragments)
        self._counts["packets_recorded"] -= lost
        self._counts["packets_lost"] += lost

    def _end_run(self, reason: str, *, keep_clocks: bool = False) -> None:
        self._close(None, reason)
        self._run = None
        self._ring.clear()
        self._cut_for_new_run = None
        if not keep_clocks:
            self._session_clocks_reset()

    def _session_clocks_reset(self) -> None:
        session = self._session
        if session is not None:
            session.video_clock.reset()
            if session.audio_clock is not None:
                session.audio_clock.reset()

    def _drop(self, reason: str) -> None:
        self._counts["packets_dropped"] += 1
        if reason != self._dropped_reason:
            self._dropped_reason = reason
            self._log.info("dropping packets: %s", reason)


def _samples(fragment: Fragment) -> int:
    return sum(run.samples for run in fragment.info.runs)
