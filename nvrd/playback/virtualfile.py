"""A file that exists only as a recipe: literal bytes and pieces of other files.

The MP4s of playback and export are never written anywhere (``docs/design/playback.md``,
inv. 1): their head is a few bytes in memory and their body is byte ranges of the
recorded segment files. A :class:`VirtualFile` knows its size before the first byte is
read (Content-Length) and reads any byte range (HTTP Range) in bounded chunks, each
read in a worker thread so the event loop never waits on a disk.

A source file that vanishes while a reader is on it (retention deleted it, a disk was
pulled) or comes up short ends the read with :class:`SourceGone`, which says which file;
a file already open keeps being read after it is unlinked, so only what was not yet
opened can be lost. Each :meth:`VirtualFile.read` opens the files it needs once and closes
them when it ends.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import os
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from pathlib import Path

CHUNK_BYTES = 512 << 10
"""Most bytes read (and held) at once per reader."""


class SourceGone(Exception):
    """A source file of a virtual file cannot be read any more; the message names it."""


@dataclass(frozen=True, slots=True)
class FilePiece:
    """``length`` bytes of ``path`` from ``offset``."""

    path: Path
    offset: int
    length: int


Piece = bytes | FilePiece


class VirtualFile:
    """Pieces laid end to end; immutable once made."""

    def __init__(self, pieces: Sequence[Piece]) -> None:
        self._pieces = tuple(p for p in pieces if _length(p))
        self._starts: list[int] = []
        position = 0
        for piece in self._pieces:
            self._starts.append(position)
            position += _length(piece)
        self.size = position
        self.etag = _etag(self._pieces, self.size)
        """A strong validator made from what the file is made of (its bytes in memory,
        the names, offsets and lengths of the file pieces)."""

    @property
    def pieces(self) -> tuple[Piece, ...]:
        return self._pieces

    async def read(self, start: int = 0, end: int | None = None,
                   chunk: int = CHUNK_BYTES) -> AsyncGenerator[bytes]:
        """The bytes ``[start, end)`` in chunks of at most ``chunk`` bytes."""
        end = self.size if end is None else min(end, self.size)
        if not 0 <= start <= end:
            raise ValueError(f"bad range {start}-{end} of a {self.size}-byte file")
        files = _OpenFiles()
        try:
            position = start
            while position < end:
                stop = min(end, position + chunk)
                if self._literal_only(position, stop):
                    data = self._read_block(files, position, stop)
                else:
                    data = await asyncio.to_thread(self._read_block, files, position, stop)
                position = stop
                yield data
        finally:
            files.close()

    def read_all(self) -> bytes:
        """Every byte, blocking (tests and small files only)."""
        return self.read_blocking(0, self.size)

    def read_blocking(self, start: int, end: int) -> bytes:
        """The bytes ``[start, end)`` in one piece, blocking (a worker thread's call)."""
        end = min(end, self.size)
        if not 0 <= start <= end:
            raise ValueError(f"bad range {start}-{end} of a {self.size}-byte file")
        files = _OpenFiles()
        try:
            return self._read_block(files, start, end)
        finally:
            files.close()

    def _literal_only(self, start: int, stop: int) -> bool:
        first = bisect.bisect_right(self._starts, start) - 1
        last = bisect.bisect_right(self._starts, stop - 1) - 1
        return all(isinstance(self._pieces[i], bytes) for i in range(first, last + 1))

    def _read_block(self, files: _OpenFiles, start: int, stop: int) -> bytes:
        index = bisect.bisect_right(self._starts, start) - 1
        piece, piece_start = self._pieces[index], self._starts[index]
        if stop - piece_start <= _length(piece):  # within one piece: no copy
            within = start - piece_start
            if isinstance(piece, bytes):
                return piece[within:within + stop - start]
            return files.read(piece.path, piece.offset + within, stop - start)
        out = bytearray()
        position = start
        while position < stop:
            piece, piece_start = self._pieces[index], self._starts[index]
            within = position - piece_start
            take = min(stop - position, _length(piece) - within)
            if isinstance(piece, bytes):
                out += piece[within:within + take]
            else:
                out += files.read(piece.path, piece.offset + within, take)
            position += take
            index += 1
        return bytes(out)


def _length(piece: Piece) -> int:
    return len(piece) if isinstance(piece, bytes) else piece.length


def _etag(pieces: tuple[Piece, ...], size: int) -> str:
    digest = hashlib.blake2b(digest_size=12)
    digest.update(str(size).encode())
    for piece in pieces:
        if isinstance(piece, bytes):
            digest.update(b"B%d:" % len(piece))
            digest.update(piece)
        else:
            digest.update(f"F{piece.path}:{piece.offset}:{piece.length};".encode())
    return f'"{digest.hexdigest()}"'


class _OpenFiles:
    """The source files one reader has open (one read at a time: not thread-safe, but a
    reader's reads never overlap)."""

    def __init__(self) -> None:
        self._fds: dict[Path, int] = {}

    def read(self, path: Path, offset: int, length: int) -> bytes:
        fd = self._fds.get(path)
        try:
            if fd is None:
                fd = self._fds[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            data = os.pread(fd, length, offset)
            while len(data) < length:
                more = os.pread(fd, length - len(data), offset + len(data))
                if not more:
                    raise SourceGone(f"{path} ends at byte {offset + len(data)}, before the "
                                     f"{offset + length} that the recording needs")
                data += more
        except OSError as exc:
            raise SourceGone(f"{path} cannot be read: {exc.strerror or exc}") from exc
        return data

    def close(self) -> None:
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            os.close(fd)
