"""The simulated gpio-keys device, read by the real evdev reader and keypad."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hal.board import BoardProfile, ButtonsSection, load_board_profile
from hal.buttons import (
    KEY_POWER,
    KEY_RESTART,
    EvdevReader,
    HoldCancelled,
    KeyAction,
    Keypad,
    ManualClock,
    Pressed,
    Released,
    Request,
    Requested,
)
from hal.sim.buttons import SimButtons
from hal.sim.control import CommandError, ControlServer
from tests.hal.buttons.records import Recorder

SIM_PROFILE = Path(__file__).resolve().parents[3] / "config" / "boards" / "sim.toml"


@pytest.fixture(scope="module")
def profile() -> BoardProfile:
    return load_board_profile(SIM_PROFILE)


@pytest.fixture
def sim(tmp_path: Path, profile: BoardProfile) -> Iterator[SimButtons]:
    with SimButtons.from_section(profile.buttons, tmp_path, wall_clock=lambda: 1234.5) as sim:
        yield sim


@pytest.fixture
async def keypad(sim: SimButtons, profile: BoardProfile, recorder: Recorder) -> AsyncIterator[
        tuple[Keypad, ManualClock]]:
    clock = ManualClock()
    keypad = Keypad(profile.buttons, recorder, clock=clock, dev_root=sim.dev_root,
                    sysfs_root=sim.sysfs_root)
    await keypad.start()
    yield keypad, clock
    keypad.stop()


def test_device_layout(sim: SimButtons) -> None:
    assert sim.device("sim-keys").path.is_fifo()
    assert (sim.dev_root / "sim-keys").resolve() == sim.device("sim-keys").path
    assert (sim.sysfs_root / "event0" / "device" / "name").read_text() == "sim-keys\n"


async def test_press_and_release_reach_the_keypad(sim: SimButtons, recorder: Recorder,
                                                  keypad: tuple[Keypad, ManualClock]) -> None:
    _, clock = keypad
    sim.press("reset")
    assert await recorder.next() == Pressed("reset", KEY_RESTART)
    assert sim.states() == {"reset": True, "power": False}
    clock.advance(5)
    sim.release("reset")
    released = await recorder.until(Released)
    assert released.requested is True
    assert [e.request for e in recorder.items if isinstance(e, Requested)] == [
        Request.FACTORY_RESET]
    assert sim.states() == {"reset": False, "power": False}


async def test_hold_for_a_shutdown(sim: SimButtons, recorder: Recorder,
                                   keypad: tuple[Keypad, ManualClock]) -> None:
    _, clock = keypad

    async def sleep(seconds: float) -> None:
        await recorder.until(Pressed)  # the press was read before time moves on
        clock.advance(seconds)

    await sim.hold("KEY_POWER", 3.0, sleep=sleep)
    assert await recorder.until(Released) == Released("power", KEY_POWER, 3.0, True)
    assert [e.request for e in recorder.items if isinstance(e, Requested)] == [
        Request.SHUTDOWN]


async def test_hold_with_repeats_writes_real_records(sim: SimButtons,
                                                     recorder: Recorder) -> None:
    reader = EvdevReader(sim.device("sim-keys").path, recorder)
    await reader.start()
    try:
        async def no_wait(seconds: float) -> None:
            return None

        await sim.hold(0x198, 2.0, repeat_every_s=0.5, sleep=no_wait)
        got = [await recorder.next() for _ in range(5)]
    finally:
        reader.stop()
    assert [e.action for e in got] == [KeyAction.PRESS, KeyAction.REPEAT, KeyAction.REPEAT,
                                       KeyAction.REPEAT, KeyAction.RELEASE]
    assert {(e.code, e.time_s) for e in got} == {(KEY_RESTART, 1234.5)}


async def test_closing_the_board_is_a_device_gone(sim: SimButtons, recorder: Recorder,
                                                  keypad: tuple[Keypad, ManualClock]) -> None:
    sim.press(KEY_POWER)
    await recorder.until(Pressed)
    sim.close()
    assert isinstance(await recorder.until(HoldCancelled), HoldCancelled)


async def test_keys_found_by_input_name(tmp_path: Path, recorder: Recorder) -> None:
    section = ButtonsSection.model_validate({"backend": "evdev", "keys": [
        {"role": "power", "key_code": KEY_POWER, "input_name": "gpio-keys"}]})
    with SimButtons.from_section(section, tmp_path) as sim:
        keypad = Keypad(section, recorder, clock=ManualClock(), dev_root=sim.dev_root,
                        sysfs_root=sim.sysfs_root)
        await keypad.start()
        try:
            sim.press("0x74")
            assert await recorder.next() == Pressed("power", KEY_POWER)
        finally:
            keypad.stop()


def test_unknown_button(sim: SimButtons) -> None:
    with pytest.raises(CommandError, match="no simulated button 'KEY_WPS_BUTTON'"):
        sim.press("KEY_WPS_BUTTON")
    with pytest.raises(CommandError, match=r"no simulated button 'siren'.*reset=0x198"):
        sim.press("siren")


async def test_control_socket_commands(tmp_path: Path, sim: SimButtons, recorder: Recorder,
                                       keypad: tuple[Keypad, ManualClock]) -> None:
    server = ControlServer(tmp_path / "ctl.sock", sim.commands())
    reply = await server.handle(json.dumps(
        {"cmd": "button press", "args": {"button": "power"}}).encode())
    assert reply == {"ok": True, "result": {"reset": False, "power": True}}
    assert await recorder.next() == Pressed("power", KEY_POWER)
    reply = await server.handle(b'{"cmd": "button release", "args": {"button": 116}}')
    assert reply["result"] == {"reset": False, "power": False}
    assert isinstance(await recorder.until(Released), Released)
    reply = await server.handle(b'{"cmd": "button hold", "args": {"button": "wps", '
                                b'"seconds": 0}}')
    assert reply["ok"] is False and "no simulated button" in reply["error"]
    reply = await server.handle(b'{"cmd": "button hold", "args": {"button": "reset", '
                                b'"seconds": 0.01}}')
    assert reply["ok"] is True
    assert (await recorder.until(Released)).role == "reset"
