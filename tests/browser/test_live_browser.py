"""Live video plays in Chromium: the page imports the web UI's player
(``/static/js/live-player.js``: ``playLive(video, url, {onStatus}) -> {close()}``), which
feeds the fragmented MP4 of ``wss://…/api/v1/channels/1/live?stream=sub`` to MSE; the
``<video>``'s clock advances and frames are painted with the camera's picture. The
module is loaded as the UI loads it, under the daemon's Content-Security-Policy, and the
WebSocket carries the page's session cookie."""

from __future__ import annotations

import pytest

from tests.browser.harness import SUB, BrowserBox, BrowserPage
from tests.browser.video import advances, failure, painted_frame, wait_for

pytestmark = pytest.mark.slow

FRAME_S = 1 / SUB.fps
PLAYER = "/static/js/live-player.js"


async def start_live(page: BrowserPage, url: str) -> None:
    """A new ``<video muted autoplay playsinline>`` given to ``playLive``; what the
    player reports through ``onStatus`` collects in ``window.nvrdLiveStatus``."""
    from playwright.async_api import Error as PlaywrightError

    try:
        await page.page.evaluate(
            """async ([player, url]) => {
                const {playLive} = await import(player);
                const video = nvrdProbe.video();
                video.autoplay = true;
                window.nvrdLiveStatus = [];
                const onStatus = (status) => {
                    window.nvrdLiveStatus.push(JSON.stringify(status));
                    console.log("live status: " + JSON.stringify(status));
                };
                window.nvrdLive = playLive(video, url, {onStatus});
            }""", [PLAYER, url])
    except PlaywrightError as exc:
        raise await failure(page, f"playLive({url}) failed: "
                                  f"{exc.message.splitlines()[0]}") from exc


async def test_the_live_sub_stream_plays(browser_box: BrowserBox,
                                         browser_page: BrowserPage) -> None:
    url = browser_box.base.replace("https://", "wss://") + "/api/v1/channels/1/live?stream=sub"
    await start_live(browser_page, url)
    await wait_for(browser_page, "the live video to start playing",
                   "() => { const s = nvrdProbe.state(); "
                   "return s.readyState >= 3 && !s.paused && s.currentTime > 0; }")
    first = await painted_frame(browser_page)
    assert (first.width, first.height) == (SUB.width, SUB.height), first
    await advances(browser_page, 2.0)
    later = await painted_frame(browser_page)
    assert later.media_time >= first.media_time + 2.0 - FRAME_S, (first, later)
    await browser_page.screenshot("live")

    await browser_page.page.evaluate("() => window.nvrdLive.close()")
