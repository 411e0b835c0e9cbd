"""The console's maintenance commands over the real console pty of the real daemon:
``log tail``/``log search``, ``config export``/``import``/``check`` and ``support-bundle``.
Secrets never reach the terminal or an exported file; an import is validated whole,
names the bad setting and value, and changes nothing without the typed confirmation."""

from __future__ import annotations

import asyncio
import re
import tarfile
import time
import tomllib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nvrd.app import Application
from nvrd.system.logquery import query_log
from tests.console.harness import ConsoleLine, console_daemon

CAMERA_PASSWORD = "cam-secret-9"
URL_PASSWORD = "url-secret-4"
MQTT_PASSWORD = "mqtt-secret-7"
SECRETS = (CAMERA_PASSWORD, URL_PASSWORD, MQTT_PASSWORD)
CONFIG_EXTRA = (
    '[system]\nname = "Lobby"\n\n'
    "[[cameras]]\nchannel = 1\nmain = { url = \"rtsp://127.0.0.1:9/cam1\" }\n"
    f"sub = {{ url = \"rtsp://viewer:{URL_PASSWORD}@127.0.0.1:9/cam1sub\" }}\n"
    f"username = \"nvr\"\npassword = \"{CAMERA_PASSWORD}\"\n\n"
    "[notify.mqtt]\nhost = \"192.0.2.50\"\nusername = \"nvr\"\n"
    f"password = \"{MQTT_PASSWORD}\"\n"
)
UNTIL_S = 10.0
"""Only so that a broken test fails instead of hanging; never a measure."""
_UP_TO_PROMPT = re.compile(r"(?s)(.*?)^\S+@\S+> ", re.MULTILINE)


@dataclass
class Box:
    app: Application
    line: ConsoleLine
    dir: Path

    async def confirmed(self, command: str, answer: str) -> str:
        """Type a command that asks for a typed confirmation, answer it; the output after
        the question, up to the next prompt."""
        await self.line.send(command)
        await self.line.expect(r"Type '\w+' to go on, anything else to cancel: ")
        await self.line.send(answer)
        return (await self.line.expect(_UP_TO_PROMPT)).group(1)


async def until(check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + UNTIL_S
    while not (value := await check()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)
    return value


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    data = tmp_path / "data"
    data.mkdir()
    async with console_daemon(data, CONFIG_EXTRA) as (app, line):
        await line.login()
        yield Box(app, line, tmp_path)


async def test_log_tail_shows_the_console_login_and_search_finds_it(box: Box) -> None:
    assert box.app.audit is not None
    path = box.app.audit.path

    async def logged() -> bool:  # written by the audit log's thread, in batches
        return bool(await asyncio.to_thread(query_log, path, text="console login"))

    await until(logged)
    text = await box.line.run("log tail 50")
    row = next(line for line in text.splitlines() if "console login" in line)
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+account\s+admin\s+console\s+"
                    r"console login\s+ok", row), row
    assert text.splitlines()[0].split() == ["TIME", "TYPE", "USER", "SOURCE", "ACTION",
                                            "RESULT", "DETAILS"]

    found = await box.line.run("log search LOGIN user=admin type=account since=2020-01-01")
    assert "console login" in found and re.search(r"\d+ entr(y|ies), newest last", found)
    assert "nothing found" in await box.line.run("log search no-such-words-here")
    assert "since must be a date" in await box.line.run("log search x since=yesterday")
    assert "N must be between 1 and 1000" in await box.line.run("log tail 0")


async def test_config_export_holds_no_secret(box: Box) -> None:
    shown = await box.line.run("config export")
    assert "[[cameras]]" in shown and 'name = "Lobby"' in shown
    assert "rtsp://viewer:***@127.0.0.1:9/cam1sub" in shown
    for secret in SECRETS:
        assert secret not in shown
        assert secret not in box.line.transcript

    stick = box.dir / "usb"
    stick.mkdir()
    said = await box.line.run(f"config export {stick}")
    (written,) = stick.glob("nvrd-config_Lobby_*.toml")
    assert f"exported to {written}" in said
    text = written.read_text()
    assert not any(secret in text for secret in SECRETS)
    assert tomllib.loads(text)["cameras"][0]["channel"] == 1
    refused = await box.confirmed(f"config export {written}", "no")
    assert "cancelled: nothing was changed" in refused


async def test_config_import_of_a_bad_file_names_the_setting_and_changes_nothing(
        box: Box) -> None:
    bad = box.dir / "bad.toml"
    bad.write_text('[system]\nname = "Renamed"\n\n[storage]\nmin_free_percent = 99\n')
    said = await box.line.run(f"config import {bad}")
    assert f"error: {bad} is not a valid configuration; nothing was changed" in said
    assert "storage.min_free_percent" in said and "(got 99)" in said
    assert box.app.config.system.name == "Lobby"

    broken = box.dir / "broken.toml"
    broken.write_text('[system]\nname = "Renamed\n')
    said = await box.line.run(f"config import {broken}")
    assert "line 2" in said and "invalid TOML" in said
    web_export = box.dir / "bundle.json"  # the web page's export, edited badly
    web_export.write_text('{"format": "nvrd-config", "config": {"system": {"name": null}}}')
    said = await box.line.run(f"config import {web_export}")
    assert "system.name: null is not a value" in said
    said = await box.line.run(f"config import {box.dir / 'missing.toml'}")
    assert "there is no file" in said and "missing.toml" in said
    assert box.app.config.system.name == "Lobby"


async def test_config_import_applies_after_the_typed_confirmation_only(box: Box) -> None:
    exported = box.dir / "lobby.toml"
    await box.line.run(f"config export {exported}")
    exported.write_text(exported.read_text().replace('name = "Lobby"', 'name = "Hall"'))

    refused = await box.confirmed(f"config import {exported}", "yes")
    assert "cancelled: nothing was changed" in refused
    assert box.app.config.system.name == "Lobby"

    done = await box.confirmed(f"config import {exported}", "import")
    assert "imported and applied: 1 camera" in done, done
    config = box.app.config
    assert config.system.name == "Hall"
    camera = config.camera(1)
    assert camera is not None and camera.password.get_secret_value() == CAMERA_PASSWORD
    assert camera.sub is not None and URL_PASSWORD in str(camera.sub.url)
    assert config.notify.mqtt.password.get_secret_value() == MQTT_PASSWORD
    saved = tomllib.loads((box.app.data_dir.config).read_text())
    assert saved["system"]["name"] == "Hall"

    async def audited() -> bool:
        found = await box.line.run("log search imported type=config")
        return "configuration imported" in found and "console" in found

    await until(audited)


async def test_config_check_of_the_live_file_and_of_a_corrupt_one(box: Box) -> None:
    said = await box.line.run("config check")
    assert f"valid: {box.app.data_dir.config}: 1 camera (1 enabled)" in said
    corrupt = box.dir / "corrupt.toml"
    corrupt.write_bytes(b"[[cameras]\nchannel = \xff\n")
    said = await box.line.run(f"config check {corrupt}")
    assert f"not valid: {corrupt}" in said and "not UTF-8" in said
    corrupt.write_text("[[cameras]\nchannel = 1\n")
    said = await box.line.run(f"config check {corrupt}")
    assert "not valid" in said and "line 1" in said


async def test_support_bundle_prints_a_path_that_exists(box: Box) -> None:
    said = await box.line.run("support-bundle", timeout=120)
    path = Path(re.search(r"path:\s+(\S+)", said).group(1))  # type: ignore[union-attr]
    assert path.is_file() and path.parent == box.app.data_dir.root / "support"
    size = int(re.search(r"size:\s+(\d+) bytes", said).group(1))  # type: ignore[union-attr]
    assert size == path.stat().st_size
    assert re.search(r"sha256: [0-9a-f]{64}", said)
    with tarfile.open(path, "r:gz") as archive:
        assert any(name.endswith("/config.toml") for name in archive.getnames())
