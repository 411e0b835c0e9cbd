"""The web page's first load on a slow link, Lighthouse-style: what the browser transfers
and when the dashboard is interactive, cold and warm, against a bare page on the same link.

    .venv/bin/python -m tools.bench.webui [--cameras 4] [--rounds 3]

The daemon runs in this process on the simulated board, recording ``--cameras`` virtual
cameras (main and sub) on a fresh volume; headless Chromium (Debian's, as in the browser
tests) is logged in as the administrator and throttled through the DevTools protocol like
Lighthouse's mobile profile: 150 ms round trip, 1.6 Mbit/s down, 750 kbit/s up, the CPU
slowed four times.

D. cold: the dashboard (``/#/dashboard``) with an empty cache, until the page marks itself
   usable (``<body data-ready>``: every panel's first data shown, the live tiles
   started); transferred bytes split into the page's files and the API's answers;
W. warm: the same again with the cache kept (the hashed files are ``immutable``: only
   the page and the API are fetched);
R. the reference: the daemon's smallest document (a 404 page) on the same link and CPU —
   one connection and one round trip, the floor of any page on this link.

D / R says how many bare round trips the dashboard costs. The live video (WebSocket
frames after the tiles start) is not counted: it is what the dashboard is for, not what
it costs to open.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from nvrd.storage.volume import prepare_volume
from tests.browser.harness import (
    MAIN,
    SUB,
    TEST_PAGE_PATH,
    BrowserBox,
    launched_chromium,
    logged_in_page,
    recording_config,
)
from tests.daemon_harness import camera_toml
from tests.events.harness import running_box_of
from tools.fakecam.control import CameraSpec, FakeCamServer, default_clip_cache

LATENCY_MS = 150
DOWN_BYTES_S = 1_600_000 / 8
UP_BYTES_S = 750_000 / 8
CPU_SLOWDOWN = 4


@dataclass
class Load:
    """One page load: until usable (ms from navigation start) and what it transferred."""

    ready_ms: float
    asset_bytes: int = 0
    api_bytes: int = 0
    requests: int = 0
    biggest: list[tuple[int, str]] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return self.asset_bytes + self.api_bytes


def _trust(certificate: Path) -> str:
    """Chromium's switch that takes the daemon's self-signed certificate as valid. Only
    then does it cache what the daemon sends: it keeps nothing from a site whose
    certificate error was merely ignored, which would make every warm load cold."""
    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return "--ignore-certificate-errors-spki-list=" + base64.b64encode(
        hashlib.sha256(spki).digest()).decode()


async def _throttled(page: Any) -> Any:
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": LATENCY_MS, "downloadThroughput": DOWN_BYTES_S,
        "uploadThroughput": UP_BYTES_S})
    await cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
    return cdp


async def _load(page: Any, cdp: Any, url: str, *, cold: bool, ready: str | None) -> Load:
    if cold:
        await cdp.send("Network.clearBrowserCache")
    urls: dict[str, str] = {}
    sizes: dict[str, int] = {}
    cdp.on("Network.requestWillBeSent",
           lambda e: urls.__setitem__(e["requestId"], e["request"]["url"]))
    cached: set[str] = set()
    cdp.on("Network.requestServedFromCache", lambda e: cached.add(e["requestId"]))
    cdp.on("Network.responseReceived", lambda e: cached.add(e["requestId"])
           if e["response"].get("fromDiskCache") else None)
    cdp.on("Network.loadingFinished",
           lambda e: sizes.__setitem__(e["requestId"], int(e["encodedDataLength"])))
    await page.goto("about:blank")
    await page.goto(url)
    if ready:
        await page.wait_for_selector(ready, state="attached", timeout=120_000)
        ready_ms = await page.evaluate(
            "() => performance.getEntriesByName('nvrd-ready').at(-1).startTime")
    else:
        await page.wait_for_load_state("load")
        ready_ms = await page.evaluate(
            "() => performance.getEntriesByType('navigation')[0].loadEventEnd")
    await asyncio.sleep(0.2)  # the last loadingFinished events of what was fetched
    load = Load(float(ready_ms))
    for request_id, size in sizes.items():
        if request_id in cached:
            continue  # from the browser's cache: nothing crossed the link
        address = urls.get(request_id, "?")
        path = address.split("/", 3)[-1] if "://" in address else address
        if "/api/" in address:
            load.api_bytes += size
        else:
            load.asset_bytes += size
        load.requests += 1
        load.biggest.append((size, "/" + path))
    load.biggest.sort(reverse=True)
    return load


def _row(name: str, loads: list[Load]) -> str:
    ready = statistics.median(load.ready_ms for load in loads)
    last = loads[-1]
    return (f"{name:<34} ready {ready:8.0f} ms   transferred {last.total_bytes / 1000:7.1f} KB "
            f"(page {last.asset_bytes / 1000:.1f} KB, API {last.api_bytes / 1000:.1f} KB) "
            f"in {last.requests} requests   n={len(loads)}")


async def run(cameras: int, rounds: int) -> dict[str, list[Load]]:
    specs = [CameraSpec(f"cam{n}", MAIN, SUB) for n in range(1, cameras + 1)]
    with tempfile.TemporaryDirectory(prefix="nvrd-bench-webui-") as tmp, \
            FakeCamServer(specs, clip_cache=default_clip_cache(), discovery_port=None) as cams:
        data = Path(tmp)
        prepare_volume(data / "disk", "disk")
        channels = "".join(camera_toml(n, cams.url(f"cam{n}", "main"),
                                       cams.url(f"cam{n}", "sub"))
                           for n in range(1, cameras + 1))
        async with running_box_of(BrowserBox, data, recording_config("disk", channels)) as box, \
                launched_chromium([_trust(data / "tls" / "server.crt")]) as browser, \
                logged_in_page(browser, box.base, "bench-webui") as browser_page:
            page = browser_page.page
            cdp = await _throttled(page)
            results: dict[str, list[Load]] = {"cold": [], "warm": [], "reference": []}
            dashboard = f"{box.base}/#/dashboard"
            ready = 'body[data-ready][data-page="dashboard"]'
            for _ in range(rounds):
                results["reference"].append(await _load(page, cdp, box.base + TEST_PAGE_PATH,
                                                        cold=True, ready=None))
                results["cold"].append(await _load(page, cdp, dashboard, cold=True,
                                                   ready=ready))
                results["warm"].append(await _load(page, cdp, dashboard, cold=False,
                                                   ready=ready))
            return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.cameras, args.rounds))
    print(f"link: {LATENCY_MS} ms RTT, {DOWN_BYTES_S * 8 / 1e6:.1f} Mbit/s down, "
          f"{UP_BYTES_S * 8 / 1e3:.0f} kbit/s up, CPU {CPU_SLOWDOWN}x slower; "
          f"{args.cameras} cameras")
    print(_row("D. dashboard, cold cache", results["cold"]))
    print(_row("W. dashboard, warm cache", results["warm"]))
    print(_row("R. bare 404 document", results["reference"]))
    cold = statistics.median(load.ready_ms for load in results["cold"])
    warm = statistics.median(load.ready_ms for load in results["warm"])
    reference = statistics.median(load.ready_ms for load in results["reference"])
    print(f"   D / R (median) {cold / reference:8.1f}")
    print(f"   W / R (median) {warm / reference:8.1f}")
    print("largest transfers of the last cold load:")
    for size, path in results["cold"][-1].biggest[:8]:
        print(f"   {size / 1000:7.1f} KB  {path}")


if __name__ == "__main__":
    main()
