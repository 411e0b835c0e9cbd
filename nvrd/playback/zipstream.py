"""A zip archive streamed as it is read: several exports in one download.

Entries are STORED (video does not compress) and their sizes are known before the first
byte, so the archive's total size is too (Content-Length): local headers carry the
sizes, and the CRC-32, which needs the data, follows each entry in a data descriptor
(general purpose flag bit 3), as every zip reader that reads the central directory
accepts (Info-ZIP, libarchive, Python, Windows, macOS). Zip64 records are written only
where a size or an offset needs them (an entry or archive of 4 GiB or more).

Nothing is held but the chunk being passed on: entries are read from their
:class:`~nvrd.playback.virtualfile.VirtualFile` (or bytes) in order.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

from nvrd.playback.virtualfile import VirtualFile

_U32 = 0xFFFFFFFF
_FLAGS = 0x0008 | 0x0800  # data descriptor follows; names are UTF-8
_UNIX_FILE = (0o100644 << 16)


@dataclass(frozen=True, slots=True)
class ZipEntry:
    name: str
    content: VirtualFile | bytes
    modified: tuple[int, int, int, int, int, int]
    """(year, month, day, hour, minute, second), as the DOS date fields hold it."""

    @property
    def size(self) -> int:
        return len(self.content) if isinstance(self.content, bytes) else self.content.size


@dataclass(frozen=True, slots=True)
class _Placed:
    entry: ZipEntry
    offset: int
    """Where the entry's local header starts."""

    @property
    def zip64(self) -> bool:
        return self.entry.size >= _U32 or self.offset >= _U32


class ZipStream:
    """The archive of ``entries``: its size now, its bytes by :meth:`read`."""

    def __init__(self, entries: Sequence[ZipEntry]) -> None:
        placed = []
        offset = 0
        for entry in entries:
            item = _Placed(entry, offset)
            placed.append(item)
            offset += (len(_local_header(item)) + entry.size
                       + (24 if item.zip64 else 16))
        self._placed = tuple(placed)
        self._directory_offset = offset
        self._directory_size = sum(len(_central_header(p, 0)) for p in placed)
        self.size = offset + self._directory_size + len(self._end())

    async def read(self) -> AsyncGenerator[bytes]:
        crcs = []
        for item in self._placed:
            yield _local_header(item)
            crc = 0
            if isinstance(item.entry.content, bytes):
                crc = zlib.crc32(item.entry.content)
                yield item.entry.content
            else:
                async for chunk in item.entry.content.read():
                    crc = zlib.crc32(chunk, crc)
                    yield chunk
            crcs.append(crc)
            size = item.entry.size
            yield (struct.pack("<IIQQ", 0x08074B50, crc, size, size) if item.zip64
                   else struct.pack("<IIII", 0x08074B50, crc, size, size))
        yield b"".join(_central_header(p, crc) for p, crc in zip(self._placed, crcs,
                                                                   strict=True))
        yield self._end()

    def _end(self) -> bytes:
        count = len(self._placed)
        offset, size = self._directory_offset, self._directory_size
        end = b""
        if count >= 0xFFFF or offset >= _U32 or size >= _U32:
            zip64_at = offset + size
            end += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count,
                               size, offset)
            end += struct.pack("<IIQI", 0x07064B50, 0, zip64_at, 1)
        end += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, min(count, 0xFFFF),
                           min(count, 0xFFFF), min(size, _U32), min(offset, _U32), 0)
        return end


def _dos_time(modified: tuple[int, int, int, int, int, int]) -> tuple[int, int]:
    year, month, day, hour, minute, second = modified
    return (hour << 11 | minute << 5 | second // 2,
            max(year - 1980, 0) << 9 | month << 5 | day)


def _local_header(item: _Placed) -> bytes:
    entry = item.entry
    name = entry.name.encode()
    time, date = _dos_time(entry.modified)
    if item.zip64:
        extra = struct.pack("<HHQQ", 0x0001, 16, entry.size, entry.size)
        sizes = (_U32, _U32)
    else:
        extra, sizes = b"", (entry.size, entry.size)
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if item.zip64 else 20, _FLAGS, 0,
                       time, date, 0, *sizes, len(name), len(extra)) + name + extra


def _central_header(item: _Placed, crc: int) -> bytes:
    entry = item.entry
    name = entry.name.encode()
    time, date = _dos_time(entry.modified)
    big_size = entry.size >= _U32
    big_offset = item.offset >= _U32
    extra = b""
    if big_size or big_offset:
        fields = ((entry.size, entry.size) if big_size else ()) + (
            (item.offset,) if big_offset else ())
        extra = struct.pack(f"<HH{len(fields)}Q", 0x0001, 8 * len(fields), *fields)
    size = _U32 if big_size else entry.size
    version = 45 if item.zip64 else 20
    return struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 3 << 8 | version, version, _FLAGS,
                       0, time, date, crc, size, size, len(name), len(extra), 0, 0, 0,
                       _UNIX_FILE, min(item.offset, _U32)) + name + extra
