"""The technicians' console over its pty, driving the real daemon on the simulated board:
login and the console's own lockout, help and aliases, status, PoE, alarm I/O and the
PTZ bus test, and what a command that fails or is refused prints."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp

from hal.ptz import PtzProtocol
from nvrd.app import Application
from tests.console.harness import (
    ADMIN_PASSWORD,
    LOGIN_PROMPT,
    PROMPT,
    ConsoleLine,
    console_daemon,
)

PTZ_CAMERA = """
[[cameras]]
channel = 1
main = { url = "rtsp://127.0.0.1:9/none" }
ptz = { protocol = "pelco-d", address = 2 }
"""
SECURITY = "[security]\nlockout_attempts = 3\nlockout_minutes = 5\n"


async def _web_login(app: Application, password: str) -> int:
    assert app.web is not None and app.web.url
    body = {"username": "admin", "password": password}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session, \
            session.post(f"{app.web.url}api/v1/session", json=body) as reply:
        if reply.status not in (201, 401, 403):
            raise AssertionError(f"{reply.status}: {await reply.text()}")
        return reply.status


async def _fail_login(line: ConsoleLine, password: str = "Wrong-Pass9x") -> str:
    await line.expect(LOGIN_PROMPT)
    await line.send("admin")
    await line.expect("Password: ")
    await line.send(password)
    return (await line.expect(r"(Login incorrect|Console login locked[^\n]*)")).group(1)


async def test_login_commands_and_logout_are_audited(tmp_path: Path) -> None:
    async with console_daemon(tmp_path) as (_app, line):
        await line.expect("Technicians' console on")
        await line.login()
        help_text = await line.run("help")
        for name in ("status", "poe show", "alarm relay", "passwd", "factory-reset", "exit"):
            assert name in help_text
        assert "unknown command 'frobnicate'" in await line.run("frobnicate")
        assert "'poe' needs one of" not in await line.run("poe"), "poe alone shows the ports"
        await line.send("exit")
        await line.expect("Logged out.")
        await line.expect(LOGIN_PROMPT)
        entries = line.audited()
        assert ("console login", "ok", "") in entries
        assert ("console command", "ok", "help") in entries
        assert ("console command", "ok", "poe") in entries
        assert ("console logout", "ok", "") in entries


async def test_console_lockout_is_its_own(tmp_path: Path) -> None:
    async with console_daemon(tmp_path, SECURITY) as (app, line):
        for _ in range(3):
            assert await _fail_login(line) == "Login incorrect"
        await line.expect("Too many failed logins: the console refuses logins for 5 min")
        # locked at the console, even with the right password ...
        assert (await _fail_login(line, ADMIN_PASSWORD)).startswith("Console login locked")
        # ... while the web page still lets the administrator in
        assert await _web_login(app, ADMIN_PASSWORD) == 201
        # and web guesses never lock the technician out
        for _ in range(4):
            assert await _web_login(app, "Wrong-Pass9x") in (401, 403)
        assert await _web_login(app, ADMIN_PASSWORD) == 403, "the web account is locked now"
        assert app.console is not None
        app.console.logins.unlock()  # the console lock ends (as after 5 min)
        await line.login()
        assert "Logged in" not in await line.run("help")
        entries = line.audited()
        assert sum(1 for e in entries if e[0] == "console login failed") == 3
        assert any(e[0] == "console login locked" for e in entries)


async def test_status_shows_every_part_of_the_simulated_board(tmp_path: Path) -> None:
    async with console_daemon(tmp_path, PTZ_CAMERA) as (_app, line):
        await line.login()
        text = await line.run("st")
        for section in ("== System", "== Cameras", "== Disks", "== PoE", "== Alarm I/O",
                        "== Front panel", "== Recent events"):
            assert section in text
        assert re.search(r"nvrd \S+, Python 3\.\d+", text)
        assert re.search(r"board: sim", text)
        camera = r"^\s+1\s+Camera 1\s+main\s+OFFLINE\s+-\s+-\s+idle\s+auto\s+-\s+connection refused"
        assert re.search(camera, text, re.MULTILINE), text
        assert re.search(r"^\s+8\s+8\s+enabled\s+searching", text, re.MULTILINE), "PoE ports"
        assert re.search(r"^\s+4\s+Alarm input 4\s+N[OC]\s+normal", text, re.MULTILINE)
        assert "phase: running" in text
        assert "total drawn" in text


async def test_poe_alarm_and_ptz_commands_drive_the_board(tmp_path: Path) -> None:
    async with console_daemon(tmp_path, PTZ_CAMERA) as (app, line):
        assert app.hardware is not None and app.hardware.poe is not None
        sim, poe = app.hardware.sim, app.hardware.poe
        assert sim is not None and sim.ptz is not None
        await line.login()
        # PoE off asks first; without the word nothing changes
        await line.send("poe off 2")
        await line.expect("Type 'off' to go on")
        await line.send("no")
        await line.expect("cancelled: nothing was changed")
        await line.expect(PROMPT)
        assert next(p for p in poe.status() if p.port == 2).admin_enabled
        await line.send("poe off 2")
        await line.expect("Type 'off' to go on")
        await line.send("off")
        await line.expect(r"2\s+2\s+DISABLED")
        await line.expect(PROMPT)
        assert not next(p for p in poe.status() if p.port == 2).admin_enabled
        assert "enabled = false" in (tmp_path / "nvrd.toml").read_text()
        assert re.search(r"2\s+2\s+enabled", await line.run("poe on 2"))
        assert "there is no PoE port 99" in await line.run("poe on 99")
        assert "the port must be a number" in await line.run("poe cycle two")

        # relays
        assert "ON, mode on" in await line.run("alarm relay 1 on")
        assert sim.relays()["relays"][0]["on"] is True, "relay 1 driven on the GPIO chip"
        assert re.search(r"^\s+1\s+Alarm output 1\s+ON\s+on", await line.run("alarm"), re.MULTILINE)
        assert "off, mode auto" in await line.run("alarm relay 1 auto")

        # the PTZ bus test reaches dome 2 on the RS-485 pty
        assert "go to preset 5 sent" in await line.run("ptz 1 preset 5")
        await sim.ptz.wait_frames(1)
        assert sim.ptz.dome(PtzProtocol.PELCO_D, 2).snapshot().last_preset_called == 5
        assert "channel 3 has no PTZ" in await line.run("ptz 3 preset 1")


async def test_a_user_without_rights_is_refused_with_the_reason(tmp_path: Path) -> None:
    async with console_daemon(tmp_path) as (app, line):
        assert app.accounts is not None and app.accounts.store is not None
        await asyncio.to_thread(app.accounts.store.create_user, "viewer", "Vw7-Kq2-Xz5",
                                "user")
        await line.login("viewer", "Vw7-Kq2-Xz5")
        text = await line.run("poe off 1")
        assert "poe off needs the 'camera' right, which user 'viewer' does not have" in text
        assert "Type 'off'" not in text
        assert "== PoE" in await line.run("status"), "looking needs no right"
        entries = line.audited()
        assert ("console command", "refused", "poe off 1") in entries
