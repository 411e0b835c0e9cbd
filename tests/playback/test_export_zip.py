"""The streamed zip of several exports: sized before the first byte, read back by Python's
zipfile and Info-ZIP's ``unzip -t`` (CRCs checked), and every MP4 in it decodes."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from nvrd.playback.plan import build_playback
from nvrd.playback.zipstream import ZipEntry, ZipStream
from tests.playback.conftest import T0, Clips, S, decode, recorded
from tools.bench.playback_footage import Piece, write_footage

MODIFIED = (2027, 1, 15, 8, 0, 4)


def test_a_zip_of_two_channels_reads_back_and_decodes(clips: Clips, tmp_path: Path) -> None:
    volume = tmp_path / "v"
    write_footage(clips.plain, volume, channel=1, pieces=[Piece(T0, 0, 4), Piece(T0 + 4 * S, 4, 4)])
    write_footage(clips.bframes, volume, channel=2, pieces=[Piece(T0, 0, 8)])
    files = {channel: build_playback(recorded(volume, channel), T0 + 2 * S, T0 + 7 * S)[0]
             for channel in (1, 2)}
    entries = [ZipEntry(f"ch0{c}.mp4", p.file, MODIFIED) for c, p in files.items()]
    entries.append(ZipEntry("missing.txt", b"channel 3: nothing recorded\n", MODIFIED))
    archive = ZipStream(entries)

    async def read() -> bytes:
        return b"".join([chunk async for chunk in archive.read()])

    data = asyncio.run(read())
    assert len(data) == archive.size
    with zipfile.ZipFile(io.BytesIO(data)) as opened:
        assert opened.testzip() is None
        assert opened.namelist() == ["ch01.mp4", "ch02.mp4", "missing.txt"]
        for info in opened.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.date_time == MODIFIED
        for channel, playback in files.items():
            mp4 = opened.read(f"ch0{channel}.mp4")
            assert mp4 == playback.file.read_all()
            decoded = decode(mp4)
            assert not decoded.errors and len(decoded.video_pts) >= 5 * 25
        assert opened.read("missing.txt") == b"channel 3: nothing recorded\n"
    if shutil.which("unzip") is None:
        pytest.skip("Info-ZIP unzip is not installed")
    path = tmp_path / "export.zip"
    path.write_bytes(data)
    checked = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
