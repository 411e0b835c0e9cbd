"""A live viewer's bounded queue (skip to the next key frame when it falls behind) and a
source's fan-out (init, the GOP kept for new viewers, offline), on the loop, without a
camera: fragments are made up, time is a test clock."""

from __future__ import annotations

import asyncio

import pytest

from nvrd.playback import live
from nvrd.playback.live import (
    LiveFragment,
    LiveInit,
    LiveSource,
    Offline,
    Viewer,
    ViewerClosed,
)

INIT = LiveInit(b"init", "avc1.64001f", 320, 240)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def fragment(n: int, keyframe: bool = False, size: int = 1000) -> LiveFragment:
    return LiveFragment(bytes([n % 256]) * size, keyframe, n * 40_000, 40_000, 0)


def gop(start: int, length: int = 5) -> list[LiveFragment]:
    return [fragment(start + i, keyframe=i == 0) for i in range(length)]


async def drain(viewer: Viewer) -> list[object]:
    items: list[object] = []
    while (item := await viewer.next(timeout=0)) is not None:
        items.append(item)
    return items


async def test_a_viewer_that_keeps_up_gets_everything_in_order() -> None:
    viewer = Viewer(1, "sub", "ann", clock=Clock())
    viewer.start(INIT, [])
    sent = gop(0) + gop(5)
    for f in sent:
        viewer.offer(f)
    assert await drain(viewer) == [INIT, *sent]
    assert viewer.stats().gops_skipped == 0


async def test_a_viewer_over_its_bytes_skips_to_the_next_key_frame() -> None:
    viewer = Viewer(1, "sub", "ann", max_bytes=12_000, max_wait_s=1e9, clock=Clock())
    viewer.start(INIT, [])
    gops = [gop(0), gop(5), gop(10), gop(15)]
    for f in (f for g in gops for f in g):
        viewer.offer(f)
    stats = viewer.stats()
    assert stats.max_queued_bytes <= 12_000
    # the 12th fragment does not fit: the backlog goes, and the rest of that GOP; the
    # init (not sent yet) stays; what follows starts at a key frame
    assert await drain(viewer) == [INIT, *gops[3]]
    assert (stats.gops_skipped, stats.fragments_dropped) == (1, 15)


async def test_a_viewer_whose_fragments_wait_too_long_skips_ahead() -> None:
    clock = Clock()
    viewer = Viewer(1, "sub", "ann", max_wait_s=2.0, clock=clock)
    viewer.start(INIT, [])
    assert await viewer.next(timeout=0) is INIT
    for f in gop(0):
        viewer.offer(f)
        clock.now += 0.04
    clock.now += 2.0  # nothing was read meanwhile
    viewer.offer(fragment(5))  # not a key frame: dropped with the backlog
    assert viewer.stats().queued_fragments == 0
    viewer.offer(fragment(6))
    fresh = gop(7)
    for f in fresh:
        viewer.offer(f)
    assert await drain(viewer) == fresh
    stats = viewer.stats()
    assert (stats.gops_skipped, stats.fragments_dropped) == (1, 7)


async def test_next_waits_for_an_item_and_close_ends_it() -> None:
    viewer = Viewer(1, "main", "ann", clock=Clock())
    assert await viewer.next(timeout=0) is None
    waiting = asyncio.ensure_future(viewer.next())
    await asyncio.sleep(0)
    viewer.start(INIT, [])
    assert await waiting is INIT
    waiting = asyncio.ensure_future(viewer.next())
    await asyncio.sleep(0)
    viewer.close("shutdown", "the recorder is stopping")
    with pytest.raises(ViewerClosed, match="stopping"):
        await waiting
    with pytest.raises(ViewerClosed):
        await viewer.next(timeout=0)


async def test_a_new_viewer_starts_at_the_last_key_frame() -> None:
    source = LiveSource(1, "sub", asyncio.get_running_loop())
    early = Viewer(1, "sub", "ann", clock=Clock())
    source.add(early)
    source._on_item(INIT)
    first, second = gop(0), gop(5)[:3]
    for f in first + second:
        source._on_item(f)
    late = Viewer(1, "sub", "bob", clock=Clock())
    source.add(late)
    assert await drain(late) == [INIT, *second]
    assert await drain(early) == [INIT, *first, *second]
    assert source.stats().gop_fragments == 3


async def test_offline_then_a_new_session_starts_the_viewers_over() -> None:
    source = LiveSource(1, "sub", asyncio.get_running_loop(), offline="down (no route)")
    viewer = Viewer(1, "sub", "ann", clock=Clock())
    source.add(viewer)
    assert await drain(viewer) == [Offline("down (no route)")]
    source._on_item(INIT)
    for f in gop(0, 2):
        source._on_item(f)
    source._on_item(Offline("the camera's stream is down"))
    source._on_item(fragment(9))  # a late fragment of the old session
    new_init = LiveInit(b"init2", "avc1.42c01e", 640, 360)
    source._on_item(new_init)
    key = fragment(20, keyframe=True)
    source._on_item(key)
    assert await drain(viewer) == [new_init, key]
    stats = source.stats()
    assert (stats.sessions, stats.online, stats.width) == (2, True, 640)


async def test_a_gop_too_long_to_keep_makes_new_viewers_wait_for_a_key_frame(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "GOP_CACHE_MAX_BYTES", 2500)
    source = LiveSource(1, "sub", asyncio.get_running_loop())
    source._on_item(INIT)
    for f in gop(0):
        source._on_item(f)
    viewer = Viewer(1, "sub", "ann", clock=Clock())
    source.add(viewer)
    assert await drain(viewer) == [INIT]
    source._on_item(fragment(5))
    key = fragment(6, keyframe=True)
    source._on_item(key)
    assert await drain(viewer) == [key]
