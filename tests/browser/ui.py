"""The web page (nvrd/web/static/) in the browser: open one of its pages and wait until
it is usable, and find things on it the way a person does (by label, role and text).

A page is usable when the frame (js/app.js) has marked ``<body data-ready>``: the page
module's ``show()`` has finished, so its first data is on screen. Every wait is for a
condition on the page, with Playwright's timeout only as a guard against a hang::

    async def test_x(browser_page: BrowserPage) -> None:
        await open_page(browser_page, "settings/recording")
        page = browser_page.page
        await page.get_by_label("Pre-record").fill("5")
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("status")).to_contain_text("saved")
        await browser_page.screenshot("recording-saved")
"""

from __future__ import annotations

from tests.browser.harness import BrowserPage


async def open_page(browser_page: BrowserPage, route: str = "") -> None:
    """The web page at ``#/route`` (the home page for ""), freshly loaded (so what it
    shows comes from the server, even when the page was already there), once usable.

    Always a whole new document: a ``goto`` to the address already shown, or to another
    hash of it, would only change the hash, and the old page's ``data-ready`` could be
    taken for the new one's."""
    page = browser_page.page
    await page.goto("about:blank")
    await page.goto(f"{browser_page.base}/#/{route}")
    await wait_until_ready(browser_page)


async def wait_until_ready(browser_page: BrowserPage, page_name: str | None = None) -> None:
    """Until the page shown (``page_name``, if given: the route's path, "login",
    "wizard") has marked itself usable."""
    selector = "body[data-ready]"
    if page_name is not None:
        selector = f'body[data-ready][data-page="{page_name}"]'
    await browser_page.page.wait_for_selector(selector, state="attached")
