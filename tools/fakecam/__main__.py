"""``python -m tools.fakecam``: serve N virtual IP cameras until Ctrl-C.

    python -m tools.fakecam --cameras 4 --port 8554 --main 1920x1080@25 --codec h265 --audio
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from tools.fakecam.control import FakeCamServer, default_clip_cache
from tools.fakecam.spec import (
    DEFAULT_MAIN,
    DEFAULT_SUB,
    StreamSpec,
    cameras_from_count,
    parse_video_mode,
)


def stream_spec(mode: str, kbps: int, gop_seconds: float, base: StreamSpec) -> StreamSpec:
    width, height, fps = parse_video_mode(mode)
    return replace(base, width=width, height=height, fps=fps, bitrate_kbps=kbps,
                   gop=max(1, round(gop_seconds * fps)))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.fakecam", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=4, help="how many (cam1..camN)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8554, help="0 picks a free port")
    parser.add_argument("--codec", choices=("h264", "h265"), default="h264")
    parser.add_argument("--audio", action="store_true", help="add an AAC track")
    parser.add_argument("--main", default="1280x720@25", metavar="WxH@FPS")
    parser.add_argument("--main-kbps", type=int, default=DEFAULT_MAIN.bitrate_kbps)
    parser.add_argument("--sub", default="640x360@25", metavar="WxH@FPS")
    parser.add_argument("--sub-kbps", type=int, default=DEFAULT_SUB.bitrate_kbps)
    parser.add_argument("--no-sub", action="store_true", help="main stream only")
    parser.add_argument("--gop-seconds", type=float, default=2.0, help="keyframe interval")
    parser.add_argument("--clip-cache", type=Path, default=default_clip_cache())
    parser.add_argument("-v", "--verbose", action="store_true", help="server log on stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        main_spec = stream_spec(args.main, args.main_kbps, args.gop_seconds, DEFAULT_MAIN)
        sub_spec = None if args.no_sub else stream_spec(args.sub, args.sub_kbps,
                                                         args.gop_seconds, DEFAULT_SUB)
        cameras = cameras_from_count(args.cameras, main=main_spec, sub=sub_spec,
                                     codec=args.codec, audio=args.audio)
    except ValueError as exc:
        print(f"fakecam: {exc}", file=sys.stderr)
        return 2
    print(f"fakecam: preparing clips in {args.clip_cache} …", flush=True)
    server = FakeCamServer(cameras, port=args.port, clip_cache=args.clip_cache,
                           host=args.host, verbose=args.verbose)
    try:
        with server:
            for cam in cameras:
                print("  " + "  ".join(server.url(cam.name, s) for s in cam.streams))
            print(f"fakecam: {len(cameras)} cameras on port {server.port}; Ctrl-C stops.",
                  flush=True)
            return server.wait()
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
