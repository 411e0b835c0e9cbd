"""Serving a :class:`~nvrd.playback.virtualfile.VirtualFile` over HTTP: one byte range.

What a browser's ``<video src>`` and a download manager need (RFC 9110 §14, §13.1.5):

* ``Range: bytes=a-b``, ``a-``, ``-n`` → 206 with ``Content-Range``; several ranges are
  coalesced into the one that covers them all (allowed by §14.2, and simpler for every
  client than multipart); one that cannot be satisfied → 416 with
  ``Content-Range: bytes */size``; a header we cannot parse is ignored (200, whole);
* ``If-Range`` with our ETag: the range applies; with anything else (an older ETag, a
  date: we have no Last-Modified) the whole file is sent;
* ``Accept-Ranges``, ``ETag``, ``Content-Length`` always; HEAD answers the headers only.

The body is written by :class:`VirtualFileResponse` after the handler returned (like
aiohttp's ``FileResponse``), chunk by chunk, each ``await``-ed so a slow client slows the
reads instead of filling memory; it ends early and cleanly when the server shuts down or
a source file is gone (the connection is closed, so the client sees a short body, never a
traceback).

Plain aiohttp: the web layer turns :class:`RangeNotSatisfiable` into its error answer and
hands in how to learn that the server is shutting down.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from nvrd.playback.virtualfile import SourceGone, VirtualFile

logger = logging.getLogger(__name__)

_SPEC = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int
    """Exclusive."""

    @property
    def length(self) -> int:
        return self.end - self.start


class RangeNotSatisfiable(Exception):
    """No requested range overlaps the file; answer 416 with ``content_range``."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.content_range = f"bytes */{size}"


OnClosing = Callable[[Callable[[], None]], Callable[[], None]]
"""Registers a callback for the server's shutdown; returns the function removing it."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range to send for a ``Range`` header; None means the whole file (no header, or
    one we ignore as RFC 9110 allows). Raises RangeNotSatisfiable."""
    if header is None:
        return None
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes" or not specs.strip():
        return None
    ranges: list[ByteRange] = []
    for spec in specs.split(","):
        match = _SPEC.match(spec)
        if match is None or (not match[1] and not match[2]):
            return None  # malformed: ignore the header
        first, last = match[1], match[2]
        if not first:  # suffix: the last n bytes
            n = int(last)
            if n > 0 and size > 0:
                ranges.append(ByteRange(max(size - n, 0), size))
            continue
        start = int(first)
        end = size if not last else int(last) + 1
        if last and end <= start:
            return None  # a-b with b < a is invalid: ignore the header
        if start < size:
            ranges.append(ByteRange(start, min(end, size)))
    if not ranges:
        raise RangeNotSatisfiable(f"bytes {specs.strip()} of a {size}-byte file", size)
    return ByteRange(min(r.start for r in ranges), max(r.end for r in ranges))


def serve(request: web.Request, file: VirtualFile, *, content_type: str,
          disposition: str | None = None, on_closing: OnClosing | None = None
          ) -> VirtualFileResponse:
    """The response for ``request`` (Range, If-Range); raises RangeNotSatisfiable."""
    wanted = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if wanted is not None and if_range is not None and if_range.strip() != file.etag:
        wanted = None  # the client's copy is another file: send this one whole
    chosen = parse_range(wanted, file.size)
    headers = {"Accept-Ranges": "bytes", "ETag": file.etag, "Content-Type": content_type}
    if disposition:
        headers["Content-Disposition"] = disposition
    if chosen is None:
        return VirtualFileResponse(file, ByteRange(0, file.size), 200, headers, on_closing)
    headers["Content-Range"] = f"bytes {chosen.start}-{chosen.end - 1}/{file.size}"
    return VirtualFileResponse(file, chosen, 206, headers, on_closing)


class BodyResponse(web.StreamResponse):
    """A response of known length whose body comes from ``body()`` chunk by chunk, sent
    when aiohttp prepares it (after the handler returned, outside its timeout)."""

    def __init__(self, body: Callable[[], AsyncGenerator[bytes]], length: int, status: int,
                 headers: dict[str, str], on_closing: OnClosing | None = None) -> None:
        super().__init__(status=status, headers=headers)
        self.content_length = length
        self._chunks_of = body
        self._on_closing = on_closing

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        writer = await super().prepare(request)
        if request.method == "HEAD":
            return writer
        closing = False

        def server_closing() -> None:
            nonlocal closing
            closing = True

        remove = (self._on_closing(server_closing) if self._on_closing is not None
                  else lambda: None)
        chunks = self._chunks_of()
        try:
            async for chunk in chunks:
                if closing:
                    logger.info("%s cut short: the server is shutting down", request.path)
                    self.force_close()
                    break
                await self.write(chunk)
        except SourceGone as exc:
            logger.warning("%s %s ended early: %s", request.method, request.path_qs, exc)
            self.force_close()
        finally:
            remove()
            await chunks.aclose()
        return writer


class VirtualFileResponse(BodyResponse):
    """Sends ``range_`` of ``file``."""

    def __init__(self, file: VirtualFile, range_: ByteRange, status: int,
                 headers: dict[str, str], on_closing: OnClosing | None = None) -> None:
        super().__init__(lambda: file.read(range_.start, range_.end), range_.length, status,
                         headers, on_closing)
