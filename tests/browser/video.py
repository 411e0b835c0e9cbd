"""Checks on a ``<video>`` in the page (made by tests/browser/probe.js), shared by the
playback and live tests: its clock advances, a frame is presented and has a picture.
Waits are conditions with Playwright's deadline; a failure says what the element was
doing and what the page logged."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.browser.harness import BrowserPage

MIN_COLOURS = 16
"""Distinct colours (4 bits a channel) a decoded fakecam picture has at least: its test
pattern has stripes, a box, a progress bar and a label; a black, grey or green (missing
decoder output) frame has one or two."""


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame the compositor presented and what a canvas got from it."""

    media_time: float
    width: int
    height: int
    colours: int


async def state(page: BrowserPage, video: str = "video") -> dict[str, Any]:
    return dict(await page.page.evaluate("id => nvrdProbe.state(id)", video))


async def failure(page: BrowserPage, what: str, video: str = "video") -> AssertionError:
    """An assertion error saying what was waited for, the element's state and the
    page's console."""
    try:
        now = json.dumps(await state(page, video))
    except Exception as exc:  # the page itself may be what broke
        now = f"(no state: {exc})"
    console = "\n".join(page.console[-20:])
    return AssertionError(f"{what}; the video: {now}\nconsole:\n{console}")


async def wait_for(page: BrowserPage, what: str, condition: str, arg: Any = None,
                   video: str = "video") -> None:
    """Waits until the JavaScript function ``condition(arg)`` is true on the page."""
    from playwright.async_api import Error as PlaywrightError

    try:
        await page.page.wait_for_function(condition, arg=arg, polling="raf")
    except PlaywrightError as exc:
        raise await failure(page, f"{what}: {exc.message.splitlines()[0]}", video) from exc


async def current_time(page: BrowserPage, video: str = "video") -> float:
    return float((await state(page, video))["currentTime"])


async def advances(page: BrowserPage, seconds: float, video: str = "video") -> None:
    """Waits until the element's clock has moved ``seconds`` past where it is now (it
    must be playing)."""
    start = await current_time(page, video)
    await wait_for(page, f"currentTime to advance {seconds} s past {start:.3f}",
                   "([id, t]) => nvrdProbe.state(id).currentTime >= t",
                   [video, start + seconds], video)


async def painted_frame(page: BrowserPage, video: str = "video") -> Frame:
    """The next frame presented (requestVideoFrameCallback), drawn onto a canvas; fails
    unless it has a picture."""
    from playwright.async_api import Error as PlaywrightError

    try:
        presented = await page.page.evaluate("id => nvrdProbe.nextFrame(id)", video)
        pixels = await page.page.evaluate("id => nvrdProbe.pixels(id)", video)
    except PlaywrightError as exc:
        raise await failure(page, f"no frame painted: {exc.message.splitlines()[0]}",
                            video) from exc
    frame = Frame(float(presented["mediaTime"]), int(pixels["width"]),
                  int(pixels["height"]), int(pixels["colours"]))
    if frame.colours < MIN_COLOURS:
        raise await failure(page, f"the painted frame has no picture: {frame}, {pixels}",
                            video)
    return frame
