"""How fast the API answers while the recorder works: ``GET /api/v1/status`` under load
while 16 cameras record.

    .venv/bin/python -m tools.bench.api [--cameras 16] [--seconds 20] [--clients 16] [--json]

A. nvrd runs as systemd runs it (its own process) with ``--cameras`` virtual cameras
   (tools/fakecam, main + sub) recording onto a prepared volume; the box is initialized
   through the API and an API token issued; then ``--clients`` concurrent HTTPS
   keep-alive clients (aiohttp, in this process) ask for the status as fast as it answers,
   for ``--seconds`` after a short warm-up.
   The recording's loss counters (packets lost or dropped) are read before and after:
   answering the API must not cost footage.
B. The reference, measured in the same run with the same clients: a bare aiohttp HTTPS
   server in its own process answering a stored copy of the same status document — what
   the status request costs with nothing else to do (no recording, no access checks).

It prints requests per second and latency percentiles of both, and the ratios. The
clients share the machine (2 cores here): the figures are for comparing A with B, not
absolute capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

from nvrd.storage.volume import prepare_volume
from tools.bench.record import DaemonProcess, free_port, machine, nvrd_config
from tools.fakecam.control import FakeCamServer, cameras_from_count
from tools.fakecam.spec import DEFAULT_SUB

STARTUP_TIMEOUT_S = 120.0
WARMUP_S = 3.0
PASSWORD = "Bench-Pass-2026!x"

REFERENCE_SERVER = r'''
import ssl, sys
from aiohttp import web
body = open(sys.argv[1], "rb").read()
async def status(request):
    return web.Response(body=body, content_type="application/json")
app = web.Application()
app.router.add_get("/api/v1/status", status)
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(sys.argv[3], sys.argv[4])
web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), ssl_context=context,
            print=None, access_log=None)
'''


@dataclass(frozen=True, slots=True)
class Load:
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def hammer(url: str, headers: dict[str, str], clients: int, seconds: float) -> Load:
    """``clients`` keep-alive connections asking in a loop; statistics after a warm-up."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the box's own self-signed certificate
    latencies: list[float] = []
    errors = 0
    start = time.monotonic() + WARMUP_S
    end = start + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while (now := time.monotonic()) < end:
            try:
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    ok = response.status == 200
            except aiohttp.ClientError:
                ok = False
            done = time.monotonic()
            if now >= start:
                if ok:
                    latencies.append((done - now) * 1000)
                else:
                    errors += 1

    connector = aiohttp.TCPConnector(ssl=context, limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return Load(len(latencies), errors, seconds, len(latencies) / seconds,
                _percentile(latencies, 0.5), _percentile(latencies, 0.9),
                _percentile(latencies, 0.99), max(latencies, default=float("nan")))


async def api_token(base: str) -> str:
    """Initialize the box (first boot) and issue an API token, as an integrator would."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context),
                                     cookie_jar=jar) as session:
        async with session.post(f"{base}/api/v1/init", json={"password": PASSWORD}) as r:
            if r.status not in (200, 201):
                raise SystemExit(f"bench: init refused: {r.status} {await r.text()}")
            csrf = (await r.json())["csrf_token"]
        async with session.post(f"{base}/api/v1/tokens", json={"name": "bench"},
                                headers={"X-CSRF-Token": csrf}) as r:
            if r.status not in (200, 201):
                raise SystemExit(f"bench: token refused: {r.status} {await r.text()}")
            return str((await r.json())["secret"])


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="nvrd-bench-api-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        volume = work / "volume"
        prepare_volume(volume, "bench")
        cameras = cameras_from_count(args.cameras, sub=DEFAULT_SUB)
        with FakeCamServer(cameras, port=free_port()) as server:
            urls: dict[int, tuple[str, str | None]] = {
                n: (server.url(f"cam{n}", "main"), server.url(f"cam{n}", "sub"))
                for n in range(1, args.cameras + 1)}
            port = free_port()
            data = work / "data"
            data.mkdir()
            (data / "nvrd.toml").write_text(nvrd_config(port, volume, urls)
                                            .replace("[web]\n", "[web]\nhttp_redirect_port = 0\n"))
            daemon = DaemonProcess(data, port)
            try:
                daemon.wait_health(lambda h: h["cameras_online"] == args.cameras,
                                   STARTUP_TIMEOUT_S, "every camera online")
                base = f"https://127.0.0.1:{port}"
                token = asyncio.run(api_token(base))
                headers = {"Authorization": f"Bearer {token}"}
                lost_before = _footage_lost(daemon.health())
                nvrd = asyncio.run(hammer(f"{base}/api/v1/status", headers, args.clients,
                                          args.seconds))
                body = asyncio.run(_fetch(f"{base}/api/v1/status", headers))
                health = daemon.health()
                lost = _footage_lost(health) - lost_before
            finally:
                daemon.stop()
            reference = run_reference(work, data, body, args)
    return {"machine": machine(), "cameras": args.cameras, "clients": args.clients,
            "recording_streams": sum(s["recording"] for c in health["recording"]
                                     for s in c["streams"].values()),
            "packets_lost_during_load": lost,
            "nvrd": asdict(nvrd), "reference": asdict(reference),
            "ratio_rps": nvrd.rps / reference.rps if reference.rps else None,
            "ratio_p99": nvrd.p99_ms / reference.p99_ms if reference.p99_ms else None}


def _footage_lost(health: dict[str, Any]) -> int:
    """Packets received but not recorded, summed over every stream."""
    return sum(s["packets_lost"] + s["packets_dropped"] for c in health["recording"]
               for s in c["streams"].values())


async def _fetch(url: str, headers: dict[str, str]) -> bytes:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session, \
            session.get(url, headers=headers) as response:
        return await response.read()


def run_reference(work: Path, data: Path, body: bytes, args: argparse.Namespace) -> Load:
    (work / "status.json").write_bytes(body)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", REFERENCE_SERVER, str(work / "status.json"), str(port),
         str(data / "tls" / "server.crt"), str(data / "tls" / "server.key")],
        start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                asyncio.run(_fetch(f"https://127.0.0.1:{port}/api/v1/status", {}))
                break
            except (OSError, aiohttp.ClientError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("bench: the reference server did not start") from None
                time.sleep(0.2)
        return asyncio.run(hammer(f"https://127.0.0.1:{port}/api/v1/status", {},
                                  args.clients, args.seconds))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def report(result: dict[str, Any]) -> str:
    def row(name: str, load: dict[str, Any]) -> str:
        return (f"{name:<34} {load['requests']:>8} {load['errors']:>6} {load['rps']:>9.0f} "
                f"{load['p50_ms']:>8.2f} {load['p90_ms']:>8.2f} {load['p99_ms']:>8.2f} "
                f"{load['max_ms']:>8.2f}")

    lines = [
        f"GET /api/v1/status over HTTPS, {result['clients']} keep-alive clients, while "
        f"{result['recording_streams']} streams of {result['cameras']} cameras record",
        f"{'':<34} {'requests':>8} {'errors':>6} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8}",
        row("nvrd (token auth, recording)", result["nvrd"]),
        row("reference: bare aiohttp, same JSON", result["reference"]),
        f"nvrd / reference: req/s {result['ratio_rps']:.2f}, p99 {result['ratio_p99']:.2f}",
        f"packets lost or dropped by the recording during the load: "
        f"{result['packets_lost_during_load']}",
        f"machine: {result['machine']}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
