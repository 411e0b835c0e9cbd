"""The web page's files, served from memory under content-hashed names.

The page is plain ES modules with no build step (``nvrd/web/static/``): what is in the
source tree is what the browser runs, so an engineer on site can read it and nothing
has to be rebuilt on the box. What a build would add for speed, this table does once, at
start:

- **Content-hashed names.** ``js/app.js`` is served at ``/assets/js/app.<hash>.js``
  with a year's ``immutable`` caching: a browser asks for it once per firmware, and a new
  firmware can never meet a stale copy. A module's relative imports (``from "./api.js"``,
  ``import("./pages/dashboard.js")``) are rewritten to the imported module's hashed
  name before its own hash is taken, so a change anywhere changes the hash of every
  module that leads to it, and only of those.
- **Compression.** Each file is gzipped once (level 9); a browser that accepts gzip gets
  those bytes, which is what the first load on a slow link costs.
- **The page.** ``index.html`` is rendered with the hashed names (``{{asset:js/app.js}}``)
  and a ``modulepreload`` for every module the start needs, so a slow link fetches them
  in parallel instead of one import at a time. It is served with ``no-cache``.

The same files stay reachable under their plain names (``/static/js/live-player.js``)
with ``no-cache`` and an ETag, for programs that embed the player. Nothing is ever read
from the file system per request: a path is a key in this table or it is 404, so no
request can walk out of the directory.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"
INDEX = "index.html"
HASHED_PREFIX = "/assets/"
PLAIN_PREFIX = "/static/"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
SERVED_SUFFIXES = frozenset({".js", ".css", ".svg", ".png", ".ico", ".woff2", ".html"})
COMPRESSED_SUFFIXES = frozenset({".js", ".css", ".svg", ".html"})
HASH_CHARS = 12

_IMPORT = re.compile(
    r"""(?P<head>\b(?:import|export)\b[^'";]*?\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)"""
    r"""(?P<quote>['"])(?P<spec>\.{1,2}/[^'"]+)(?P=quote)""")
"""A relative module specifier in a static import, a re-export, a bare ``import "x"``
or a dynamic ``import("x")``."""
_PLACEHOLDER = re.compile(r"\{\{(?P<kind>asset|preload):(?P<name>[^}]+)\}\}")
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
          ".html": "text/html", ".woff2": "font/woff2"}


class AssetError(Exception):
    """The page's files are inconsistent (an import of a file that does not exist, an
    import cycle): a fault of the firmware, reported at start."""


@dataclass(frozen=True, slots=True)
class Asset:
    """One file as served: its bytes (rewritten, for modules), their gzip and the hash."""

    name: str
    body: bytes
    gzipped: bytes | None
    digest: str
    content_type: str
    imports: tuple[str, ...] = ()

    @property
    def hashed_path(self) -> str:
        path = PurePosixPath(self.name)
        return f"{HASHED_PREFIX}{path.with_name(f'{path.stem}.{self.digest}{path.suffix}')}"

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'


def _content_type(name: str) -> str:
    suffix = PurePosixPath(name).suffix
    guessed = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return guessed + ("; charset=utf-8" if guessed.startswith("text/") else "")


def _compress(name: str, body: bytes) -> bytes | None:
    if PurePosixPath(name).suffix not in COMPRESSED_SUFFIXES:
        return None
    return gzip.compress(body, compresslevel=9, mtime=0)


def _resolve(importer: str, spec: str) -> str:
    """The table name a relative specifier of ``importer`` points at."""
    parts: list[str] = list(PurePosixPath(importer).parent.parts)
    for part in PurePosixPath(spec).parts:
        if part == "..":
            if not parts:
                raise AssetError(f"{importer}: import {spec!r} leads out of the page's files")
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


class AssetTable:
    """Every servable file under ``root``, rewritten, hashed and compressed."""

    def __init__(self, sources: dict[str, bytes]) -> None:
        self._sources = sources
        self._assets: dict[str, Asset] = {}
        for name in sorted(sources):
            if name != INDEX:
                self._build(name, ())
        self.index = self._render_index()
        self._by_hashed = {asset.hashed_path: asset for asset in self._assets.values()}

    @classmethod
    def load(cls, root: Path = STATIC_DIR) -> AssetTable:
        sources = {path.relative_to(root).as_posix(): path.read_bytes()
                   for path in sorted(root.rglob("*"))
                   if path.is_file() and path.suffix in SERVED_SUFFIXES}
        if INDEX not in sources:
            raise AssetError(f"the web page's {INDEX} is missing from {root}")
        return cls(sources)

    # --- building --------------------------------------------------------------------

    def _build(self, name: str, chain: tuple[str, ...]) -> Asset:
        done = self._assets.get(name)
        if done is not None:
            return done
        if name in chain:
            raise AssetError("import cycle: " + " → ".join((*chain, name)))
        if name not in self._sources:
            raise AssetError(f"{chain[-1]} imports {name}, which does not exist")
        body = self._sources[name]
        imports: list[str] = []
        if name.endswith(".js"):
            def hashed(match: re.Match[str]) -> str:
                target = _resolve(name, match["spec"])
                imports.append(target)
                built = self._build(target, (*chain, name))
                return f'{match["head"]}{match["quote"]}{built.hashed_path}{match["quote"]}'

            body = _IMPORT.sub(hashed, body.decode("utf-8")).encode("utf-8")
        digest = hashlib.sha256(body).hexdigest()[:HASH_CHARS]
        asset = Asset(name, body, _compress(name, body), digest, _content_type(name),
                      tuple(dict.fromkeys(imports)))
        self._assets[name] = asset
        return asset

    def _render_index(self) -> Asset:
        def fill(match: re.Match[str]) -> str:
            asset = self._assets.get(match["name"])
            if asset is None:
                raise AssetError(f"{INDEX} names {match['name']}, which does not exist")
            if match["kind"] == "asset":
                return asset.hashed_path
            return "\n".join(f'<link rel="modulepreload" href="{self._assets[n].hashed_path}">'
                             for n in self.static_closure(asset.name))

        html = _PLACEHOLDER.sub(fill, self._sources[INDEX].decode("utf-8")).encode("utf-8")
        return Asset(INDEX, html, _compress(INDEX, html),
                     hashlib.sha256(html).hexdigest()[:HASH_CHARS], _content_type(INDEX))

    def static_closure(self, name: str) -> list[str]:
        """``name`` and every module it imports statically, transitively (what the
        browser needs before the module runs; dynamic imports come later)."""
        seen: dict[str, None] = {}
        source = self._sources[name].decode("utf-8") if name.endswith(".js") else ""
        dynamic = {_resolve(name, m["spec"]) for m in _IMPORT.finditer(source)
                   if m["head"].rstrip().endswith("(")}
        seen[name] = None
        for imported in self._assets[name].imports:
            if imported not in dynamic:
                for found in self.static_closure(imported):
                    seen.setdefault(found)
        return list(seen)

    # --- looking up ------------------------------------------------------------------

    def __getitem__(self, name: str) -> Asset:
        return self._assets[name]

    def names(self) -> Iterable[str]:
        return self._assets.keys()

    def by_hashed_path(self, path: str) -> Asset | None:
        return self._by_hashed.get(path)

    # --- serving ---------------------------------------------------------------------

    def setup(self, app: web.Application) -> None:
        """Routes: ``/`` (the page), ``/assets/...`` (hashed), ``/static/...`` (plain)."""
        app.router.add_get("/", self._serve_index)
        app.router.add_get(HASHED_PREFIX + "{path:.+}", self._serve_hashed)
        app.router.add_get(PLAIN_PREFIX + "{path:.+}", self._serve_plain)

    async def _serve_index(self, request: web.Request) -> web.StreamResponse:
        return _respond(request, self.index, REVALIDATE)

    async def _serve_hashed(self, request: web.Request) -> web.StreamResponse:
        asset = self.by_hashed_path(request.path)
        if asset is None:
            raise web.HTTPNotFound()
        return _respond(request, asset, IMMUTABLE)

    async def _serve_plain(self, request: web.Request) -> web.StreamResponse:
        asset = self._assets.get(request.match_info["path"])
        if asset is None:
            raise web.HTTPNotFound()
        return _respond(request, asset, REVALIDATE)


def _accepts_gzip(request: web.Request) -> bool:
    return any(part.split(";")[0].strip() == "gzip"
               for part in request.headers.get("Accept-Encoding", "").split(","))


def _respond(request: web.Request, asset: Asset, cache: str) -> web.StreamResponse:
    headers = {"Cache-Control": cache, "ETag": asset.etag, "Vary": "Accept-Encoding"}
    if asset.etag in {tag.strip() for tag in request.headers.get("If-None-Match",
                                                                 "").split(",")}:
        return web.Response(status=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and _accepts_gzip(request):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    response = web.Response(body=body, headers=headers)
    response.headers["Content-Type"] = asset.content_type
    return response
