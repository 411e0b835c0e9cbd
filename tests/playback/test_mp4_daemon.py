"""Playback and export through the real daemon (on the simulated board, HTTPS, a logged-in
admin) recording a virtual camera: the playback plan, the MP4 by ranges as a browser
fetches it (206, If-Range, HEAD, 416, 404), the same bytes again at the live edge, the
rights (playback, export per channel), the audited export and the zip."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from multidict import CIMultiDict

from nvrd.storage.volume import prepare_volume
from nvrd.system.auditlog import AuditRecord
from tests.daemon_harness import RECORDING_VOLUME
from tests.events.harness import HANG_GUARD_S, Box, Client, running_box
from tests.playback.conftest import decode
from tools.fakecam.control import CameraSpec, FakeCamServer, StreamSpec, gst_unavailable_reason

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow, pytest.mark.gst]

SMALL = StreamSpec(320, 240, 25, 25, 300)
FOOTAGE_S = 13
"""Enough for one closed 10 s segment and an open one after it."""


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def camera_url(fakecam_clips: Path) -> Iterator[str]:
    """One virtual camera for the whole module (it records while the tests run)."""
    reason = gst_unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = FakeCamServer([CameraSpec("cam1", SMALL, None)], port=0,
                           clip_cache=fakecam_clips).start()
    try:
        yield server.url("cam1", "main")
    finally:
        server.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def box(tmp_path_factory: pytest.TempPathFactory, camera_url: str) -> AsyncIterator[Box]:
    data = tmp_path_factory.mktemp("playback")
    prepare_volume(data / "v1", "v1")
    camera = f'[[cameras]]\nchannel = 1\nmain = {{ url = "{camera_url}" }}\n'
    async with running_box(data, RECORDING_VOLUME + camera) as running:
        yield running


async def recorded_since(box: Box, seconds: float) -> tuple[dt.datetime, dt.datetime]:
    """(first instant recorded, now) once ``seconds`` of footage are there."""
    async with asyncio.timeout(HANG_GUARD_S + FOOTAGE_S):
        while True:
            now = dt.datetime.now(dt.UTC)
            status, body = await box.call(box.admin, "GET", "/api/v1/channels/1/timeline",
                                          params={"start": iso(now - dt.timedelta(hours=1)),
                                                  "end": iso(now + dt.timedelta(minutes=1))})
            assert status == 200, body
            if body["spans"]:
                first = dt.datetime.fromisoformat(body["spans"][0]["start"])
                last = dt.datetime.fromisoformat(body["spans"][-1]["end"])
                if (last - first).total_seconds() >= seconds:
                    return first, now
            await asyncio.sleep(0.5)


async def fetch(box: Box, client: Client, url: str, **headers: str
                ) -> tuple[int, CIMultiDict[str], bytes]:
    async with client.session.get(box.base + url, headers=headers) as response:
        return response.status, response.headers.copy(), await response.read()


async def test_playing_a_range_as_a_browser_does(box: Box) -> None:
    first, now = await recorded_since(box, FOOTAGE_S)
    start = first + dt.timedelta(seconds=2.5)
    status, plan = await box.call(box.admin, "GET", "/api/v1/channels/1/recordings",
                                  params={"start": iso(start),
                                          "end": iso(now + dt.timedelta(minutes=5))})
    assert status == 200, plan
    first_frame = dt.datetime.fromisoformat(plan["first_frame"])
    assert start - dt.timedelta(seconds=1) <= first_frame <= start
    assert plan["pieces"] and not plan["gaps"]
    url = plan["url"]
    assert url.startswith("/api/v1/channels/1/recordings.mp4?")

    status, headers, whole = await fetch(box, box.admin, url)
    assert status == 200, whole[:300]
    assert headers["Content-Type"] == "video/mp4"
    assert headers["Accept-Ranges"] == "bytes"
    assert int(headers["Content-Length"]) == len(whole) == plan["bytes"]
    decoded = decode(whole)
    assert not decoded.errors and decoded.keyframes[0]
    last_frame = dt.datetime.fromisoformat(plan["last_frame"])
    span = (last_frame - first_frame).total_seconds()
    assert len(decoded.video_pts) == round(span * 25) + 1
    assert decoded.video_pts[-1] == pytest.approx(span, abs=0.002)

    # a browser seeking: a range from the middle, then from where the moov says
    etag = headers["ETag"]
    status, part_headers, part = await fetch(box, box.admin, url, Range="bytes=1000-5999")
    assert status == 206
    assert part_headers["Content-Range"] == f"bytes 1000-5999/{len(whole)}"
    assert part == whole[1000:6000]
    status, _, tail = await fetch(box, box.admin, url, Range="bytes=-700")
    assert (status, tail) == (206, whole[-700:])
    status, _, same = await fetch(box, box.admin, url, Range="bytes=10-19", **{"If-Range": etag})
    assert (status, same) == (206, whole[10:20])
    status, _, again = await fetch(box, box.admin, url, Range="bytes=10-19",
                                   **{"If-Range": '"another-file"'})
    assert (status, again) == (200, whole)
    status, refused, _ = await fetch(box, box.admin, url, Range=f"bytes={len(whole)}-")
    assert status == 416
    assert refused["Content-Range"] == f"bytes */{len(whole)}"
    async with box.admin.session.head(box.base + url) as response:
        assert response.status == 200
        assert int(response.headers["Content-Length"]) == len(whole)
        assert await response.read() == b""

    # the pinned URL gives the same file while recording goes on
    await asyncio.sleep(1.5)
    status, headers_later, later = await fetch(box, box.admin, url)
    assert (status, headers_later["ETag"], later) == (200, etag, whole)


async def test_keyframes_and_nothing_recorded_and_too_long(box: Box) -> None:
    first, now = await recorded_since(box, FOOTAGE_S)
    params = {"start": iso(first), "end": iso(now)}
    status, _, data = await fetch(box, box.admin, "/api/v1/channels/1/recordings.mp4?"
                                  f"start={params['start']}&end={params['end']}"
                                  "&keyframes=true")
    assert status == 200
    assert all(decode(data).keyframes)
    status, body = await box.call(box.admin, "GET", "/api/v1/channels/1/recordings.mp4",
                                  params={"start": "2001-01-01T00:00:00Z",
                                          "end": "2001-01-01T01:00:00Z"})
    assert status == 404
    assert "nothing is recorded on channel 1" in body["error"]["message"]
    status, body = await box.call(box.admin, "GET", "/api/v1/channels/1/recordings.mp4",
                                  params={"start": "2001-01-01T00:00:00Z",
                                          "end": "2001-01-02T00:00:01Z"})
    assert status == 422
    assert "24 hours" in body["error"]["message"]


async def test_playback_and_export_need_their_rights(box: Box) -> None:
    first, now = await recorded_since(box, FOOTAGE_S)
    params = {"start": iso(first), "end": iso(now)}
    watcher = await box.user("watcher", {"channels": {"1": ["live"]}})
    reviewer = await box.user("reviewer", {"channels": {"1": ["playback"]}})
    for path in ("recordings", "recordings.mp4"):
        status, body = await box.call(watcher, "GET", f"/api/v1/channels/1/{path}",
                                      params=params)
        assert status == 403, body
        assert "'playback' right on channel 1" in body["error"]["message"]
    status, _, _ = await fetch(box, reviewer, "/api/v1/channels/1/recordings.mp4?"
                               f"start={params['start']}&end={params['end']}")
    assert status == 200
    status, body = await box.call(reviewer, "GET", "/api/v1/channels/1/export.mp4",
                                  params=params)
    assert status == 403
    assert "'export' right on channel 1" in body["error"]["message"]
    status, body = await box.call(reviewer, "GET", "/api/v1/export.zip",
                                  params={**params, "channel": "1"})
    assert status == 403
    assert "'export' right on channel 1" in body["error"]["message"]


async def test_an_export_is_a_named_download_and_audited(box: Box) -> None:
    first, _now = await recorded_since(box, FOOTAGE_S)
    start, end = first + dt.timedelta(seconds=1), first + dt.timedelta(seconds=11)
    audit = box.app.audit
    assert audit is not None
    seen: list[AuditRecord] = []
    remove = audit.add_listener(seen.append)
    try:
        status, headers, data = await fetch(
            box, box.admin, f"/api/v1/channels/1/export.mp4?start={iso(start)}&end={iso(end)}")
    finally:
        remove()
    assert status == 200
    stamp = "%Y%m%dT%H%M%SZ"
    name = f"ch01-main_{start.strftime(stamp)}_{end.strftime(stamp)}.mp4"
    assert headers["Content-Disposition"] == f'attachment; filename="{name}"'
    decoded = decode(data)
    # the duration matches the range within one GOP (1 s): it starts at the keyframe at or
    # before the start
    duration = decoded.video_pts[-1] + 0.04
    assert 10 <= duration <= 11 + 0.001
    [record] = [r for r in seen if r.type == "playback"]
    assert record.action == "channel 1 exported"
    assert start.isoformat() in record.details and "main stream" in record.details


async def test_a_zip_of_several_channels(box: Box) -> None:
    first, _now = await recorded_since(box, FOOTAGE_S)
    params = {"start": iso(first), "end": iso(first + dt.timedelta(seconds=8))}
    url = (f"/api/v1/export.zip?channel=1&channel=2&start={params['start']}"
           f"&end={params['end']}")
    status, headers, data = await fetch(box, box.admin, url)
    assert status == 200, data[:300]
    assert headers["Content-Type"] == "application/zip"
    assert int(headers["Content-Length"]) == len(data)
    with zipfile.ZipFile(io.BytesIO(data)) as opened:
        assert opened.testzip() is None
        names = opened.namelist()
        assert names[0].startswith("ch01-main_") and names[1] == "missing.txt"
        assert "channel 2" in opened.read("missing.txt").decode()
        decoded = decode(opened.read(names[0]))
        assert not decoded.errors and len(decoded.video_pts) >= 7 * 25
    status, _body = await box.call(box.admin, "GET", "/api/v1/export.zip",
                                  params={**params, "channel": "5"})
    assert status == 404


async def test_a_download_cut_by_the_client_does_not_hurt_the_server(box: Box) -> None:
    first, now = await recorded_since(box, FOOTAGE_S)
    url = f"/api/v1/channels/1/recordings.mp4?start={iso(first)}&end={iso(now)}"
    async with box.admin.session.get(box.base + url) as response:
        assert response.status == 200
        await response.content.read(1000)
        response.close()
    status, _, data = await fetch(box, box.admin, url)
    assert status == 200 and data
    timeout = aiohttp.ClientTimeout(total=HANG_GUARD_S)
    async with box.admin.session.get(box.base + "/api/v1/health", timeout=timeout) as health:
        assert health.status in (200, 503)
