"""``python -m tools.fakecam.onvif --config FILE``: the fake cameras' ONVIF side.

Runs on the venv's python (aiohttp, lxml); ``control.FakeCamServer`` starts it after the
RTSP server, whose port the stream URIs need. The config (JSON) names the bind address,
the RTSP port, the control socket, the WS-Discovery port (or null) and the cameras.

Readiness: once every camera's HTTP port and the control socket are bound, one JSON line
``{"ready": true, "cameras": {"cam1": PORT, ...}, "discovery_port": 3702 | null}`` goes to
stdout (``discovery_port`` is null when WS-Discovery is off or could not bind). The
process exits on SIGINT/SIGTERM or when stdin reaches end-of-file (its parent went away).

Control socket: one JSON request per line, one reply per line, ``{"ok": true, "result":
…}`` or ``{"ok": false, "error": "…"}``. Requests carry ``op`` and ``camera``:

- ``onvif_event`` (``kind``, ``active``, ``source``): raise an event (see events.py).
- ``onvif_state``: the camera's state (``state.Camera.snapshot``).
- ``onvif_set`` (``clock_offset_s``, ``inactive``, ``unlock``; each optional): change it;
  ``inactive`` true drops every user (factory reset), false restores the configured one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from tools.fakecam.onvif import events
from tools.fakecam.onvif.discovery import Responder
from tools.fakecam.onvif.server import make_app
from tools.fakecam.onvif.state import Camera, CameraConfig

log = logging.getLogger("fakecam.onvif")
SHUTDOWN_TIMEOUT_S = 1.0


class ControlError(Exception):
    """A refused control request; its text goes back to the caller."""


def control_request(cameras: dict[str, Camera], request: dict[str, Any]) -> Any:
    op, name = request.get("op"), request.get("camera")
    camera = cameras.get(str(name))
    if camera is None:
        raise ControlError(f"no camera {name!r} (have {sorted(cameras)})")
    if op == "onvif_event":
        try:
            return events.inject(camera, str(request.get("kind")),
                                 bool(request.get("active", True)), request.get("source"))
        except ValueError as exc:
            raise ControlError(str(exc)) from None
    if op == "onvif_state":
        return camera.snapshot()
    if op == "onvif_set":
        if request.get("clock_offset_s") is not None:
            camera.clock.offset_s = float(request["clock_offset_s"])
        if request.get("inactive") is not None:
            inactive = bool(request["inactive"])
            if inactive or not camera.accounts.active:
                camera.accounts.reset(inactive=inactive)
        if request.get("unlock"):
            camera.accounts.unlock()
        return camera.snapshot()
    raise ControlError(f"unknown op {op!r}")


async def serve_control(path: str, cameras: dict[str, Camera]) -> asyncio.Server:
    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    reply = {"ok": True, "result": control_request(cameras, json.loads(line))}
                except (ControlError, ValueError, TypeError) as exc:
                    reply = {"ok": False, "error": str(exc)}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return await asyncio.start_unix_server(client, path)


async def serve(config: dict[str, Any], verbose: bool) -> None:
    host = config["host"]
    cameras = {c["name"]: Camera(CameraConfig.from_json(c, int(config["rtsp_port"])))
               for c in config["cameras"]}
    runners = []
    for camera in cameras.values():
        events.reset_properties(camera)
        runner = web.AppRunner(make_app(camera), access_log=log if verbose else None,
                               shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        await web.TCPSite(runner, host, camera.config.http_port,
                          shutdown_timeout=SHUTDOWN_TIMEOUT_S).start()
        camera.port = int(runner.addresses[0][1])
        runners.append(runner)
    control = await serve_control(config["control"], cameras)
    responder = None
    discovery = config.get("discovery")
    if discovery is not None:
        responder = Responder(list(cameras.values()), port=int(discovery.get("port", 3702)),
                              interfaces=discovery.get("interfaces") or (), bind_host=host)
        responder.start()
    print(json.dumps({"ready": True, "cameras": {n: c.port for n, c in cameras.items()},
                      "discovery_port": responder.port if responder else None}), flush=True)
    try:
        await _until_stopped()
    finally:
        if responder is not None:
            responder.close()
        control.close()
        for runner in runners:
            await runner.cleanup()


async def _until_stopped() -> None:
    """Return on SIGINT/SIGTERM or end-of-file on stdin."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stdin = sys.stdin.fileno()

    def on_stdin() -> None:
        try:
            data = os.read(stdin, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(stdin)
            stop.set()

    with contextlib.suppress(PermissionError, ValueError):  # a regular file: signals only
        loop.add_reader(stdin, on_stdin)
    await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.fakecam.onvif")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    config = json.loads(args.config.read_text())
    asyncio.run(serve(config, args.verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main())
