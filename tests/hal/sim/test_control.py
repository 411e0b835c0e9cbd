"""The simulated board's control socket and ``tools/simctl`` talking to it."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hal.sim.control import CommandError, ControlServer, command
from tools.simctl.__main__ import SimctlError, main, parse_words, request


@dataclass(frozen=True, slots=True)
class Lamp:
    name: str
    lit: bool


class Board:
    def __init__(self) -> None:
        self.inputs: dict[int, bool] = {}

    def set_input(self, input: int, active: bool = True) -> dict[str, bool]:
        if input not in (1, 2):
            raise CommandError(f"there is no alarm input {input}; the board has 1-2")
        self.inputs[input] = active
        return {"active": active}

    async def lamps(self) -> list[Lamp]:
        await asyncio.sleep(0)
        return [Lamp("power", True)]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ControlServer]:
    board = Board()
    server = ControlServer(tmp_path / "sim" / "control.sock", [
        command("alarm set", board.set_input, "set an input"),
        command("leds", board.lamps, "the lamps"),
    ])
    server.board = board  # type: ignore[attr-defined]
    await server.start()
    yield server
    await server.close()


async def test_commands_run_and_results_are_plain_json(server: ControlServer) -> None:
    path = server.path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, "only the daemon's user may poke"
    result = await asyncio.to_thread(request, path, "alarm set", {"input": 2, "active": True})
    assert result == {"active": True}
    assert server.board.inputs == {2: True}  # type: ignore[attr-defined]
    assert await asyncio.to_thread(request, path, "leds") == [{"name": "power", "lit": True}]


async def test_bad_requests_get_a_sentence_and_the_socket_keeps_serving(
        server: ControlServer) -> None:
    path = server.path
    with pytest.raises(SimctlError, match="there is no alarm input 7"):
        await asyncio.to_thread(request, path, "alarm set", {"input": 7})
    with pytest.raises(SimctlError, match=r"unknown argument.*colour.*takes input, active"):
        await asyncio.to_thread(request, path, "alarm set", {"input": 1, "colour": "red"})
    with pytest.raises(SimctlError, match="missing a required argument"):
        await asyncio.to_thread(request, path, "alarm set", {})
    with pytest.raises(SimctlError, match="no command 'fly'"):
        await asyncio.to_thread(request, path, "fly")
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(b"not json\n[1]\n")
    assert b'"ok": false' in await reader.readline()
    assert b"a request is" in await reader.readline()
    writer.close()
    assert await asyncio.to_thread(request, path, "leds")


def test_simctl_maps_words_to_parameters() -> None:
    commands = [{"name": "poe plug", "params": ["port", "pd_class", "power_mw"]},
                {"name": "poe", "params": []}]
    assert parse_words(["poe", "plug", "3", "power_mw=7500"], commands) == (
        "poe plug", {"port": 3, "power_mw": 7500})
    assert parse_words(["poe"], commands) == ("poe", {})
    with pytest.raises(SimctlError, match="too many"):
        parse_words(["poe", "plug", "1", "2", "3", "4"], commands)
    with pytest.raises(SimctlError, match="unknown command"):
        parse_words(["disk", "eject"], commands)


async def test_simctl_cli_prints_the_result_or_the_reason(
        server: ControlServer, capsys: pytest.CaptureFixture[str]) -> None:
    code = await asyncio.to_thread(main, ["--socket", str(server.path), "alarm", "set", "1",
                                          "false"])
    assert code == 0
    assert '"active": false' in capsys.readouterr().out
    code = await asyncio.to_thread(main, ["--socket", str(server.path / "nope"), "leds"])
    assert code == 1
    assert "cannot reach the simulated board" in capsys.readouterr().err
