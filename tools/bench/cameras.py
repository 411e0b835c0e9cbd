"""Adding cameras: how long an ONVIF probe and a camera event take, against the bare SOAP
round trip to the same camera.

    .venv/bin/python -m tools.bench.cameras [--cameras 16] [--rounds 5] [--events 50]

Virtual cameras (``tools/fakecam``, RTSP + ONVIF, each its own HTTP port on 127.0.0.1):

A. ``probe_camera`` of one camera (clock, identity, MAC, profiles, two stream URIs: what
   "add by address" waits for), ``--rounds`` times per camera, one at a time;
B. the same probe of every camera at once (the wizard's "add all found");
C. the reference: one bare SOAP POST of GetSystemDateAndTime (aiohttp, no library) to the
   same camera, the cheapest ONVIF exchange there is;
D. camera event latency: the fake's control socket queues a motion event while a
   PullPoint long poll waits; time until ``pull_events`` delivers it, ``--events`` times.
   The reference is the control socket's own round trip (the injection, which D contains).

A / C says how many bare round trips a probe costs (the library's parsing included); D
shows the long poll delivers at once rather than at the next poll.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from typing import Any

import aiohttp

from nvrd.cameras.onvif.client import OnvifDevice
from nvrd.cameras.onvif.events import CameraEvent, pull_events
from nvrd.cameras.onvif.probe import probe_camera
from tools.fakecam.control import CameraSpec, FakeCamServer, StreamSpec, default_clip_cache
from tools.fakecam.spec import OnvifSpec

PASSWORD = "Camera-Pass1"
SMALL = StreamSpec(320, 240, 25, 25, 300)
SMALL_SUB = StreamSpec(160, 120, 10, 10, 100)
CLOCK_REQUEST = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
    '<s:Body><GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/>'
    "</s:Body></s:Envelope>")


def _ms(values: Sequence[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (f"median {statistics.median(ordered) * 1000:7.2f} ms   "
            f"p95 {p95 * 1000:7.2f} ms   n={len(ordered)}")


async def _bare_round_trip(session: aiohttp.ClientSession, host: str, port: int) -> float:
    started = time.perf_counter()
    async with session.post(f"http://{host}:{port}/onvif/device_service", data=CLOCK_REQUEST,
                            headers={"Content-Type": "application/soap+xml"}) as response:
        await response.read()
        assert response.status == 200, response.status
    return time.perf_counter() - started


async def _probe(host: str, port: int) -> float:
    started = time.perf_counter()
    result = await probe_camera(host, port, "admin", PASSWORD)
    assert result.sub_url is not None
    return time.perf_counter() - started


async def _event_latency(cams: FakeCamServer, name: str, count: int
                         ) -> tuple[list[float], list[float]]:
    host, port = cams.onvif_address(name)
    arrived: asyncio.Queue[tuple[float, CameraEvent]] = asyncio.Queue()
    subscribed = asyncio.Event()
    latencies, injections = [], []

    def on_event(event: CameraEvent) -> None:
        if not event.initialized:
            arrived.put_nowait((time.perf_counter(), event))

    async with OnvifDevice(host, port, "admin", PASSWORD) as device:
        task = asyncio.create_task(pull_events(device, on_event, pull_timeout_s=30,
                                               on_subscribed=subscribed.set))
        await subscribed.wait()
        await asyncio.sleep(0.5)  # the synchronisation point's states go first
        for index in range(count):
            started = time.perf_counter()
            await asyncio.to_thread(cams.onvif_event, name, "motion", index % 2 == 0)
            injections.append(time.perf_counter() - started)
            at, _ = await asyncio.wait_for(arrived.get(), 30)
            latencies.append(at - started)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return latencies, injections


async def run(cameras: int, rounds: int, events: int) -> dict[str, Any]:
    specs = [CameraSpec(f"cam{n}", SMALL, SMALL_SUB, onvif=OnvifSpec(password=PASSWORD))
             for n in range(1, cameras + 1)]
    with FakeCamServer(specs, clip_cache=default_clip_cache(), discovery_port=None) as cams:
        addresses = [cams.onvif_address(s.name) for s in specs]
        bare, single = [], []
        async with aiohttp.ClientSession() as session:
            for host, port in addresses:  # warm-up: the library loads its WSDLs once
                await _probe(host, port)
                await _bare_round_trip(session, host, port)
            for _ in range(rounds):  # alternate, so load drift hits both
                for host, port in addresses:
                    bare.append(await _bare_round_trip(session, host, port))
                    single.append(await _probe(host, port))
        started = time.perf_counter()
        await asyncio.gather(*(_probe(host, port) for host, port in addresses))
        together = time.perf_counter() - started
        latencies, injections = await _event_latency(cams, specs[0].name, events)
    ratio = statistics.median(single) / statistics.median(bare)
    print(f"A. probe one camera          {_ms(single)}")
    print(f"B. probe {cameras:2d} cameras at once  total {together * 1000:7.1f} ms")
    print(f"C. bare SOAP round trip      {_ms(bare)}")
    print(f"   A / C (median)            {ratio:7.1f}")
    print(f"D. camera event delivered    {_ms(latencies)}")
    print(f"   injection alone           {_ms(injections)}")
    return {"probe_median_s": statistics.median(single), "together_s": together,
            "bare_median_s": statistics.median(bare), "ratio": ratio,
            "event_median_s": statistics.median(latencies)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=50)
    args = parser.parse_args(argv)
    asyncio.run(run(args.cameras, args.rounds, args.events))


if __name__ == "__main__":
    main()
