"""The web page's files (nvrd/web/assets.py): content-hashed names with the imports
rewritten to them, gzip, caching headers, 304s, nothing served from outside the table;
and the first load of the real page stays under the issue's 300 KB compressed."""

from __future__ import annotations

import gzip
import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from nvrd.system.status import DaemonStatus
from nvrd.web.assets import IMMUTABLE, AssetError, AssetTable
from nvrd.web.server import WebService
from tests.daemon_harness import free_port

FIRST_LOAD_BUDGET = 300_000
"""Bytes (compressed) the browser may fetch to show the dashboard the first time."""


def _sources(**changes: str) -> dict[str, bytes]:
    files = {
        "index.html": '<link rel="stylesheet" href="{{asset:css/a.css}}">\n'
                      "{{preload:js/app.js}}\n"
                      '<script type="module" src="{{asset:js/app.js}}"></script>',
        "css/a.css": "body { color: red }",
        "js/app.js": 'import { api } from "./api.js";\nimport "./side.js";\n'
                     'export * from "./ui.js";\n'
                     'const page = () => import("./pages/one.js");\n',
        "js/api.js": "export const api = 1;",
        "js/side.js": "console.log('side');",
        "js/ui.js": 'import { api } from "./api.js";\nexport const ui = api;',
        "js/pages/one.js": 'import { ui } from "../ui.js";\nexport const one = ui;',
    }
    files.update(changes)
    return {name: text.encode() for name, text in files.items()}


def test_imports_point_at_hashed_names_and_a_change_rehashes_only_its_importers() -> None:
    table = AssetTable(_sources())
    app = table["js/app.js"].body.decode()
    for name in ("js/api.js", "js/side.js", "js/ui.js", "js/pages/one.js"):
        assert f'"{table[name].hashed_path}"' in app
    assert re.fullmatch(r"/assets/js/api\.[0-9a-f]{12}\.js", table["js/api.js"].hashed_path)
    assert f'from "{table["js/ui.js"].hashed_path}"' in table["js/pages/one.js"].body.decode()
    # the page names the hashed files and preloads the static imports, not the lazy page
    index = table.index.body.decode()
    assert f'src="{table["js/app.js"].hashed_path}"' in index
    preloaded = set(re.findall(r'rel="modulepreload" href="([^"]+)"', index))
    assert preloaded == {table[n].hashed_path for n in ("js/app.js", "js/api.js",
                                                        "js/side.js", "js/ui.js")}

    changed = AssetTable(_sources(**{"js/ui.js": 'import { api } from "./api.js";\n'
                                                 "export const ui = api + 1;"}))
    moved = {name for name in table.names()
             if table[name].hashed_path != changed[name].hashed_path}
    assert moved == {"js/ui.js", "js/pages/one.js", "js/app.js"}


@pytest.mark.parametrize(("changes", "words"), [
    ({"js/api.js": 'import "./app.js";'}, "import cycle: js/api.js → js/app.js → js/api.js"),
    ({"js/side.js": 'import "./gone.js";'}, "js/side.js imports js/gone.js, which does not"),
    ({"js/side.js": 'import "../../x.js";'}, "leads out of the page's files"),
    ({"index.html": '<script src="{{asset:js/nope.js}}"></script>'}, "names js/nope.js"),
])
def test_an_inconsistent_page_is_refused_at_start(changes: dict[str, str], words: str
                                                  ) -> None:
    with pytest.raises(AssetError, match=re.escape(words)):
        AssetTable(_sources(**changes))


def _status() -> DaemonStatus:
    return DaemonStatus(version="0", started_us=0, uptime_s=1.0, board="sim",
                        config_source="file", config_error=None)


@asynccontextmanager
async def _served(tmp_path: Path) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    web = WebService("127.0.0.1", free_port(), https=True, tls_dir=tmp_path / "tls",
                     status=_status)
    await web.start()
    context = ssl.create_default_context(cafile=tmp_path / "tls" / "server.crt")
    context.check_hostname = False
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context),
                                         auto_decompress=False) as session:
            assert web.url is not None
            yield web.url.rstrip("/"), session
    finally:
        await web.stop()


async def test_the_page_is_served_hashed_compressed_and_cached(tmp_path: Path) -> None:
    table = AssetTable.load()
    app_js = table["js/app.js"]
    async with _served(tmp_path) as (base, session):
        async with session.get(base + "/", headers={"Accept-Encoding": "gzip"}) as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "no-cache"
            assert response.headers["Content-Encoding"] == "gzip"
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]
            index = gzip.decompress(await response.read()).decode()
        assert f'<script type="module" src="{app_js.hashed_path}">' in index

        async with session.get(base + app_js.hashed_path,
                               headers={"Accept-Encoding": "gzip, br"}) as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == IMMUTABLE
            assert response.headers["Content-Type"].startswith("text/javascript")
            assert response.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(await response.read()) == app_js.body
            etag = response.headers["ETag"]
        async with session.get(base + app_js.hashed_path,
                               headers={"If-None-Match": etag}) as response:
            assert response.status == 304 and await response.read() == b""
        async with session.get(base + app_js.hashed_path,
                               headers={"Accept-Encoding": "identity"}) as response:
            assert "Content-Encoding" not in response.headers
            assert await response.read() == app_js.body

        # plain names for programs embedding the player: revalidated, not immutable
        async with session.get(base + "/static/js/live-player.js",
                               headers={"Accept-Encoding": "identity"}) as response:
            assert response.status == 200 and response.headers["Cache-Control"] == "no-cache"
            assert b"export function playLive" in await response.read()
        stale = app_js.hashed_path.replace(app_js.digest, "0" * len(app_js.digest))
        for path in (stale, "/assets/../server.py", "/static/../assets.py",
                     "/static/%2e%2e/assets.py", "/assets/js/app.js"):
            async with session.get(base + path) as response:
                assert response.status == 404, path


def test_the_first_load_of_the_dashboard_fits_a_slow_link() -> None:
    """What a browser fetches to show the dashboard the first time: the page, the style
    sheet, the frame's modules, the dashboard's modules and the live player, gzipped."""
    table = AssetTable.load()
    needed = {"css/app.css", "icon.svg", *table.static_closure("js/app.js"),
              *table.static_closure("js/pages/dashboard.js")}
    sizes = {name: len(table[name].gzipped or table[name].body) for name in needed}
    total = len(table.index.gzipped or b"") + sum(sizes.values())
    assert "js/api.js" in needed and "js/ui.js" in needed
    assert total < FIRST_LOAD_BUDGET, sorted(sizes.items(), key=lambda item: -item[1])
