"""CPU of recorder-side motion detection per channel, and how many channels fit in a core.

Encodes ``--seconds`` of a sub stream (default 640×360 @ 15 fps H.264, ~512 kbit/s, a
square moving over a textured still scene with sensor grain), then in this process, one
after the other, with ``time.process_time`` (all threads) over the same packets:

- reference: decoding every packet with PyAV alone (one decoder thread), the floor
  that any decoding detector pays;
- motion at the defaults: ``MotionAnalyser`` (its worker thread decodes every packet,
  analyses ``fps`` frames a second, writes bitmaps to a temporary ``motion.db``);
- motion with ``keyframes_only``.

The packets are fed as fast as the analyser takes them (a queue as long as the clip),
so CPU seconds / video seconds is the share of one core a live channel costs.

    python -m tools.bench.motion --seconds 30
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.video.stream
import numpy as np
import numpy.typing as npt

from nvrd.config.schema import MotionConfig
from nvrd.motion.analyser import MotionAnalyser
from nvrd.motion.store import MotionStore


@dataclass(frozen=True, slots=True)
class Clip:
    data: bytes
    seconds: float
    packets: int


@dataclass(frozen=True, slots=True)
class Result:
    label: str
    cpu_s: float
    video_s: float
    detail: str = ""

    @property
    def core_share(self) -> float:
        return self.cpu_s / self.video_s

    def line(self, reference: Result | None) -> str:
        ratio = "" if reference is None else f"  ×{self.cpu_s / reference.cpu_s:4.2f} ref"
        return (f"{self.label:<28} {self.core_share * 100:6.2f} % of a core  "
                f"{1 / self.core_share:7.1f} channels/core{ratio}  {self.detail}")


def scene(width: int, height: int, t: float, rng: np.random.Generator
          ) -> npt.NDArray[np.uint8]:
    yy, xx = np.mgrid[0:height, 0:width]
    luma = 60 + xx * 80 // width + yy * 40 // height + rng.integers(0, 6, (height, width))
    size = height // 6
    x = int((t * width / 4) % (width - size))
    luma[height // 3:height // 3 + size, x:x + size] = 235
    return luma.astype(np.uint8)


def encode(width: int, height: int, fps: int, gop: int, seconds: float, kbps: int) -> Clip:
    out = io.BytesIO()
    rng = np.random.default_rng(1)
    frames = round(seconds * fps)
    with av.open(out, "w", format="mpegts") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = kbps * 1000
        stream.codec_context.gop_size = gop
        stream.codec_context.options = {"preset": "veryfast", "tune": "zerolatency",
                                        "keyint_min": str(gop), "sc_threshold": "0"}
        chroma = np.full((height // 4, width), 128, np.uint8)
        for i in range(frames):
            luma = scene(width, height, i / fps, rng)
            frame = av.VideoFrame.from_ndarray(np.concatenate([luma, chroma, chroma]),
                                               format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return Clip(out.getvalue(), frames / fps, frames)


def demuxed(clip: Clip, use: Callable[[av.video.stream.VideoStream, list[av.Packet]], None]
            ) -> None:
    with av.open(io.BytesIO(clip.data), "r") as container:
        video = container.streams.video[0]
        use(video, [p for p in container.demux(video) if p.size])


def measure_decode(clip: Clip, repeat: int) -> Result:
    cpu = 0.0

    def run(video: av.video.stream.VideoStream, packets: list[av.Packet]) -> None:
        nonlocal cpu
        for _ in range(repeat):
            start = time.process_time()
            decoder = av.CodecContext.create(video.codec_context.name, "r")
            assert isinstance(decoder, av.VideoCodecContext)
            decoder.thread_count = 1
            for packet in packets:
                decoder.decode(packet)
            cpu += time.process_time() - start

    demuxed(clip, run)
    return Result("decode only (reference)", cpu, clip.seconds * repeat)


def measure_motion(clip: Clip, repeat: int, config: MotionConfig, label: str) -> Result:
    cpu = 0.0
    analysed = decoded = 0
    with tempfile.TemporaryDirectory() as tmp:
        store = MotionStore(Path(tmp) / "motion.db")

        def run(video: av.video.stream.VideoStream, packets: list[av.Packet]) -> None:
            nonlocal cpu, analysed, decoded
            for _ in range(repeat):
                analyser = MotionAnalyser(1, config, lambda *event: None, store,
                                          queue_packets=len(packets) + 1)
                start = time.process_time()
                analyser.start()
                analyser.on_session_start(video, None)
                for packet in packets:
                    analyser.on_packet(packet)
                analyser.on_session_end("end of clip")
                analyser.wait_idle()
                analyser.stop()
                cpu += time.process_time() - start
                stats = analyser.stats()
                analysed += stats.analysed
                decoded += stats.decoded

        demuxed(clip, run)
        store.close()
    seconds = clip.seconds * repeat
    return Result(label, cpu, seconds,
                  f"decoded {decoded / seconds:.1f}/s, analysed {analysed / seconds:.1f}/s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="640x360", help="sub stream size (default 640x360)")
    parser.add_argument("--fps", type=int, default=15, help="sub stream frame rate")
    parser.add_argument("--gop", type=int, default=30, help="key frame interval in frames")
    parser.add_argument("--kbps", type=int, default=512, help="sub stream bitrate")
    parser.add_argument("--seconds", type=float, default=20, help="clip length")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the clip per figure")
    parser.add_argument("--analyse-fps", type=float, default=MotionConfig().fps,
                        help="frames analysed per second (default: the configured default)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    clip = encode(width, height, args.fps, args.gop, args.seconds, args.kbps)
    print(f"sub stream {width}x{height} @ {args.fps} fps, GOP {args.gop}, "
          f"{len(clip.data) * 8 / clip.seconds / 1000:.0f} kbit/s, "
          f"{clip.seconds:g} s × {args.repeat}")
    reference = measure_decode(clip, args.repeat)
    default = MotionConfig(enabled=True, fps=args.analyse_fps)
    results = [
        measure_motion(clip, args.repeat, default, f"motion @ {args.analyse_fps:g} fps"),
        measure_motion(clip, args.repeat, MotionConfig(enabled=True, keyframes_only=True),
                       "motion, key frames only"),
    ]
    print(reference.line(None))
    for result in results:
        print(result.line(reference))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
