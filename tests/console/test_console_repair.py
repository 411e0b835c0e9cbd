"""Repairs at the console: the admin password reset needs the reset button, recovery mode
restores a configuration file that does not load, destructive commands ask first, and
the line survives whatever is typed at it."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvrd.app import Application
from nvrd.console import session
from nvrd.console.commands import accounts
from tests.console.harness import (
    LOGIN_PROMPT,
    PROMPT,
    ConsoleLine,
    console_daemon,
)
from tests.daemon_harness import config_toml, free_port

NEW_PASSWORD = "Rq8-Tmx4-Vb2"


async def _press_reset_briefly(app: Application) -> None:
    assert app.hardware is not None and app.hardware.sim is not None
    buttons = app.hardware.sim.buttons
    assert buttons is not None
    buttons.press("reset")
    await asyncio.sleep(0.2)  # a short press: far below the 5 s of a factory reset
    buttons.release("reset")


async def test_admin_password_reset_needs_the_reset_button(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with console_daemon(tmp_path) as (app, line):
        await line.expect(LOGIN_PROMPT)
        await line.send("recovery")
        await line.expect("recovery> ")
        # nobody presses the button: refused, the password is unchanged
        monkeypatch.setattr(accounts, "PRESENCE_TIMEOUT_S", 1.0)  # not 60 s of waiting
        await line.send("passwd admin")
        await line.expect("press the RESET button briefly")
        await line.expect("the reset button was not pressed within 1 s: admin's password "
                          "is unchanged")
        await line.expect("recovery> ")
        monkeypatch.setattr(accounts, "PRESENCE_TIMEOUT_S", 30.0)
        await line.send("passwd admin")
        await line.expect("press the RESET button briefly")
        await _press_reset_briefly(app)
        await line.expect("presence confirmed")
        await line.expect("New password for admin: ")
        await line.send("short")
        await line.expect("Refused: the password must be at least 8 characters long")
        await line.expect("New password for admin: ")
        await line.send(NEW_PASSWORD)
        await line.expect("Retype it: ")
        await line.send(NEW_PASSWORD)
        await line.expect("Password of admin reset")
        await line.expect("recovery> ")
        await line.send("exit")
        assert NEW_PASSWORD not in line.transcript, "passwords are never echoed"
        await line.login("admin", NEW_PASSWORD)
        audited = line.audited()
        assert ("password reset of 'admin' refused", "refused",
                "the reset button was not pressed") in audited
        assert any(a.startswith("password of 'admin' reset at the console with the reset "
                                "button") for a, _, _ in audited)
        assert app.hardware is not None and app.hardware.panel is not None
        assert app.hardware.panel.phase.value == "running", "a short press is no factory reset"


async def test_recovery_restores_a_configuration_file_that_does_not_load(
        tmp_path: Path) -> None:
    good = config_toml(free_port(), extra='[system]\nname = "Shop-NVR"\n')
    (tmp_path / "nvrd.last-good.toml").write_text(good)
    corrupt = good.replace('name = "Shop-NVR"', 'name = "Shop-NVR"\n[storage]\nfull_policy = '
                           '"sometimes"\n') + "\x00\x00garbage ["
    async with console_daemon(tmp_path, config=corrupt) as (app, line):
        await line.expect("configuration file was rejected; the recorder runs on the last "
                          "good configuration")
        await line.expect(LOGIN_PROMPT)
        await line.send("recovery")
        await line.expect("recovery> ")
        await line.send("show")
        await line.expect("Running on the last good configuration because the file was "
                          "rejected:")
        await line.expect("nvrd.toml")
        await line.expect("recovery> ")
        await line.send("restore last-good")
        await line.expect("Type 'restore' to go on")
        await line.send("no")
        await line.expect("cancelled: nothing was changed")
        assert "garbage" in (tmp_path / "nvrd.toml").read_text()
        await line.send("restore last-good")
        await line.expect("Type 'restore' to go on")
        await line.send("restore")
        await line.expect("Restored; the recorder runs on it now")
        assert (tmp_path / "nvrd.toml").read_text() == good
        assert app.status().config_error is None
        assert app.config.system.name == "Shop-NVR"
        await line.send("show")
        await line.expect("The configuration file loads fine.")
        await line.send("restore factory")
        await line.expect("the configuration file loads fine: log in to change settings")
        await line.send("exit")
        await line.login()
        assert "configuration: file\n" in await line.run("status")


async def test_factory_reset_and_shutdown_ask_then_stop_cleanly(tmp_path: Path) -> None:
    extra = '[system]\nname = "Lobby"\n'
    async with console_daemon(tmp_path, extra) as (app, line):
        await line.login()
        await line.send("factory-reset")
        await line.expect("Type 'factory-reset' to go on")
        await line.send("yes")
        await line.expect("cancelled: nothing was changed")
        assert app.config.system.name == "Lobby"
        await line.expect(PROMPT)
        await line.send("factory-reset")
        await line.expect("Type 'factory-reset' to go on")
        await line.send("factory-reset")
        await line.expect("Factory configuration restored and running.")
        assert app.config.system.name == "NVR"
        await line.expect(PROMPT)
        await line.send("shutdown")
        await line.expect("Type 'shutdown' to go on")
        await line.send("shutdown")
        await line.expect("Shutting down: closing recordings and unmounting disks")
        # running_app asserts the daemon then stops by itself with status 0


async def test_line_editing_history_completion_and_ctrl_c(tmp_path: Path) -> None:
    async with console_daemon(tmp_path) as (_app, line):
        await line.login()
        # a typo corrected with backspace and cursor keys, the command still runs
        await line.send_bytes(b"statsu\x7f\x7fus\x1b[D\x1b[C\r")
        await line.expect("== System")
        await line.expect(PROMPT)
        # up-arrow recalls it
        await line.send_bytes(b"\x1b[A\r")
        await line.expect("== System")
        await line.expect(PROMPT)
        # Tab completes the unique word, Ctrl-U clears the line
        await line.send_bytes(b"hel\t")
        await line.expect("help ")
        await line.send_bytes(b"\x15\r")
        await line.expect(PROMPT)
        # Ctrl-C stops a running command (a ping to a black-hole address waits)
        await line.send_bytes(b"time set 2030-01-01 00:00:00\r")
        await line.expect("to go on")
        await line.send_bytes(b"\x03")
        await line.expect(r"cancelled|\^C")
        await line.expect(PROMPT)
        # Ctrl-D logs out
        await line.send_bytes(b"\x04")
        await line.expect("Logged out.")
        await line.expect(LOGIN_PROMPT)


async def test_idle_session_is_logged_out(tmp_path: Path) -> None:
    async with console_daemon(tmp_path, "[security]\nidle_logout_minutes = 1\n") as (app, line):
        await line.login()
        assert app.config.security.idle_logout_minutes == 1
        # one minute is the shortest setting; the test shortens the session's clock
        original = session.ConsoleSession._idle_seconds
        session.ConsoleSession._idle_seconds = lambda self: 0.5  # type: ignore[method-assign]
        try:
            await line.send("")
            await line.expect("Logged out after 1 s idle.", timeout=30)
        finally:
            session.ConsoleSession._idle_seconds = original  # type: ignore[method-assign]
        await line.expect(LOGIN_PROMPT)
        assert ("console logout", "ok", "idle") in line.audited()


@pytest.fixture
async def console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                  ) -> AsyncIterator[tuple[Application, ConsoleLine]]:
    monkeypatch.setattr(session, "FAILED_LOGIN_DELAY_S", 0.01)  # junk fails by the dozen
    async with console_daemon(tmp_path) as running:
        yield running


async def _back_at_login(line: ConsoleLine) -> None:
    """Whatever state junk left (half a name, a password prompt, a confirmation, the
    recovery prompt), bring the login prompt back the way a technician would: Ctrl-C,
    wait for the console to go quiet, then Enter (or 'exit' out of recovery)."""
    for _ in range(20):
        await line.send_bytes(b"\x03\x03")
        await line.quiet()
        line.buffer = ""
        await line.send_bytes(b"\r")
        await line.quiet()
        if line.buffer.endswith("recovery> "):
            await line.send_bytes(b"exit\r")
        elif line.buffer.endswith("login: "):
            line.buffer = "login: "
            return
    raise AssertionError(f"the console never came back to login:\n{line.transcript[-2000:]}")


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.lists(st.binary(min_size=1, max_size=3000)
                     | st.text(min_size=500, max_size=3000).map(str.encode),
                     min_size=1, max_size=5))
async def test_garbage_and_long_lines_never_break_the_console(
        console: tuple[Application, ConsoleLine], junk: list[bytes]) -> None:
    app, line = console
    for chunk in junk:
        await line.send_bytes(chunk)
    await _back_at_login(line)
    assert app.console is not None
    app.console.logins.unlock()  # junk logins may have locked the console line
    await line.login()
    assert "== System" in await line.run("status")
    await line.send("exit")
    assert app.console is not None and app.console.problem is None
    assert app.health_problems() == []


async def test_nvrd_console_bridges_a_tty_to_the_daemon(tmp_path: Path) -> None:
    async with console_daemon(tmp_path) as (app, _line):
        assert app.console is not None and app.console.socket_path.exists()
        assert oct(app.console.socket_path.stat().st_mode & 0o777) == "0o600"
        master, slave = os.openpty()
        import tty

        tty.setraw(master)
        os.set_blocking(master, False)
        bridge = subprocess.Popen(
            [sys.executable, "-m", "nvrd", "console", "--data-dir", str(tmp_path),
             "--tty", os.ttyname(slave)])
        try:
            terminal = ConsoleLine(master)
            await terminal.send("")  # wake the session: the banner went out at connect
            await terminal.login()
            assert re.search(r"== Cameras", await terminal.run("status"))
            await terminal.send_bytes(b"\x1d")  # Ctrl-] leaves
            assert await asyncio.to_thread(bridge.wait, 30) == 0
        finally:
            if bridge.poll() is None:
                bridge.kill()
            os.close(master)
            os.close(slave)
