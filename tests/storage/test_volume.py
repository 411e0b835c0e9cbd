"""Volumes: nothing is recorded where the identity file is missing, damaged or changed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nvrd.storage.volume import (
    IDENTITY_FILE,
    Mounted,
    VolumeError,
    check_still_mounted,
    open_volume,
    prepare_volume,
    read_identity,
    space,
)


def test_prepare_creates_the_directory_and_an_identity_that_reads_back(tmp_path: Path) -> None:
    volume = tmp_path / "bay1" / "vol"
    identity = prepare_volume(volume, "bay 1", created_us=1_700_000_000_000_000)
    assert read_identity(volume) == identity
    data = json.loads((volume / IDENTITY_FILE).read_text())
    assert data == {"format": 1, "uuid": identity.uuid, "label": "bay 1",
                    "created_us": 1_700_000_000_000_000}
    assert [p.name for p in volume.iterdir()] == [IDENTITY_FILE]  # no temp file left
    assert prepare_volume(tmp_path / "other").uuid != identity.uuid


@pytest.mark.parametrize("content", [b'{"format": 1}', b"garbage"])
def test_prepare_refuses_a_volume_that_has_an_identity_even_a_damaged_one(
        tmp_path: Path, content: bytes) -> None:
    (tmp_path / IDENTITY_FILE).write_bytes(content)
    with pytest.raises(VolumeError, match="already a recording volume"):
        prepare_volume(tmp_path)
    assert (tmp_path / IDENTITY_FILE).read_bytes() == content


def test_prepare_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "disk").write_text("x")
    with pytest.raises(VolumeError, match="not a directory"):
        prepare_volume(tmp_path / "disk")


@pytest.mark.parametrize("where", ["empty-mount-point", "no-such-dir"])
def test_a_missing_identity_says_the_disk_is_not_mounted(tmp_path: Path, where: str) -> None:
    volume = tmp_path / where
    if where == "empty-mount-point":
        volume.mkdir()
    with pytest.raises(VolumeError) as err:
        read_identity(volume)
    assert str(err.value) == (
        f"{volume} has no .nvrd-volume identity file: the disk is not mounted or was never "
        "prepared; nothing will be recorded there")
    with pytest.raises(VolumeError, match="not mounted"):
        open_volume(volume)


@pytest.mark.parametrize(("content", "reason"), [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"format": 1, "uuid": "nope", "label": "", "created_us": 1}', "'nope' is not a UUID"),
    (b'{"format": 1, "uuid": "4b0c1f0e-8a53-4f57-9d5f-2b1f6a3c9e01", "label": "", '
     b'"created_us": "yesterday"}', "not a whole number"),
    (b'{"uuid": "4b0c1f0e-8a53-4f57-9d5f-2b1f6a3c9e01"}', "format None"),
])
def test_a_damaged_identity_is_refused_with_the_reason(tmp_path: Path, content: bytes,
                                                       reason: str) -> None:
    (tmp_path / IDENTITY_FILE).write_bytes(content)
    with pytest.raises(VolumeError) as err:
        read_identity(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / IDENTITY_FILE} is damaged")
    assert reason in str(err.value)


def test_an_identity_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / IDENTITY_FILE).write_text('{"format": 2, "uuid": "x"}')
    with pytest.raises(VolumeError, match="format 2, written by a newer nvrd"):
        read_identity(tmp_path)


def test_an_unreadable_identity_is_refused(tmp_path: Path) -> None:
    (tmp_path / IDENTITY_FILE).mkdir()  # reading fails even as root
    with pytest.raises(VolumeError, match=f"cannot read {tmp_path / IDENTITY_FILE}: "):
        read_identity(tmp_path)


def test_check_still_mounted_names_what_changed(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    prepare_volume(volume, "left bay")
    mounted = open_volume(volume)
    assert mounted.device == os.stat(volume).st_dev
    assert check_still_mounted(volume, mounted) is None

    moved = Mounted(mounted.identity, mounted.device + 1)
    reason = check_still_mounted(volume, moved)
    assert reason is not None and f"the filesystem under {volume} changed" in reason

    (volume / IDENTITY_FILE).unlink()
    reason = check_still_mounted(volume, mounted)
    assert reason is not None and reason.startswith("disk pulled or unmounted")

    other = prepare_volume(volume, "spare")
    reason = check_still_mounted(volume, mounted)
    assert reason is not None and reason.startswith("another disk is mounted there")
    assert other.uuid in reason and mounted.identity.uuid in reason

    (volume / IDENTITY_FILE).write_text("{")
    reason = check_still_mounted(volume, mounted)
    assert reason is not None and "damaged" in reason


def test_space_reports_the_filesystem_in_bytes(tmp_path: Path) -> None:
    info = space(tmp_path)
    st = os.statvfs(tmp_path)
    assert info.total_bytes == st.f_blocks * st.f_frsize
    assert 0 < info.free_bytes <= info.total_bytes
    with pytest.raises(VolumeError, match="free space"):
        space(tmp_path / "missing")
