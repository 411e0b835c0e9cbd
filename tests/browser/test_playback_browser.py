"""Recorded video plays in Chromium: a range of channel 1 served by
``GET /api/v1/channels/1/recordings.mp4`` (nvrd/web/routes/playback.py) set as a
``<video>``'s ``src`` plays, its clock advances, frames are painted with the camera's
picture, a seek to the middle lands there and paints again, and it plays on (at 4×) to
its end. The range spans two segment files (segments are 10 s), so the MP4 is built
across a file boundary, and the middle is (mostly) that boundary."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from tests.browser.harness import (
    MAIN,
    BrowserBox,
    BrowserPage,
    iso,
    recorded_range_across_files,
)
from tests.browser.video import advances, failure, painted_frame, state, wait_for

pytestmark = pytest.mark.slow

SIDE_S = 6.0
"""The range asked for: this long on each side of a file boundary (at most)."""
GOP_S = MAIN.gop / MAIN.fps
FRAME_S = 1 / MAIN.fps


async def play(page: BrowserPage, src: str) -> None:
    """A new ``<video muted playsinline>`` playing ``src``."""
    from playwright.async_api import Error as PlaywrightError

    try:
        await page.page.evaluate("src => { const v = nvrdProbe.video(); v.src = src; "
                                 "return v.play(); }", src)
    except PlaywrightError as exc:
        raise await failure(page, f"play() of {src} refused: "
                                  f"{exc.message.splitlines()[0]}") from exc


async def plays_and_seeks(page: BrowserPage, src: str, length_s: float) -> dict[str, Any]:
    """``src`` (``length_s`` of main stream) plays from its start, paints pictures,
    seeks to its middle, and plays on (fast) to its end; returns the state there."""
    await play(page, src)
    await advances(page, 2.0)
    frame = await painted_frame(page)
    assert (frame.width, frame.height) == (MAIN.width, MAIN.height), frame
    assert frame.media_time >= 2.0 - FRAME_S, frame
    now = await state(page)
    assert abs(now["duration"] - length_s) <= GOP_S + FRAME_S, now
    await page.screenshot("playing")

    middle = length_s / 2
    landed = await page.page.evaluate("t => nvrdProbe.seek('video', t)", middle)
    assert abs(landed - middle) <= FRAME_S, await failure(page, f"seek to {middle} landed "
                                                                f"at {landed}")
    frame = await painted_frame(page)
    assert middle - FRAME_S <= frame.media_time <= middle + GOP_S, frame
    await page.screenshot("after-seek")

    # on to the end, four times as fast: the rest (past the file boundary) plays too
    await page.page.evaluate("() => { document.getElementById('video').playbackRate = 4; }")
    await wait_for(page, "the video to play to its end", "() => nvrdProbe.state().ended")
    return await state(page)


async def test_a_recorded_range_plays_and_seeks(browser_box: BrowserBox,
                                                browser_page: BrowserPage) -> None:
    start_us, end_us = await recorded_range_across_files(browser_box, SIDE_S)
    query = urlencode({"start": iso(start_us), "end": iso(end_us)})
    end = await plays_and_seeks(browser_page, f"/api/v1/channels/1/recordings.mp4?{query}",
                                (end_us - start_us) / 1e6)
    assert end["ended"] and end["currentTime"] >= end["duration"] - FRAME_S, end
