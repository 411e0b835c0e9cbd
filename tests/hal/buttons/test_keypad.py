"""The board's buttons end to end: packed records through a real named pipe standing in for
``/dev/input/event0``, found by input name in a temporary sysfs tree, timed on a manual
clock."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hal.board import ButtonsSection
from hal.buttons import (
    EV_KEY,
    EV_SYN,
    KEY_POWER,
    KEY_RESTART,
    SYN_REPORT,
    HoldCancelled,
    HoldProgress,
    InputDeviceError,
    Keypad,
    ManualClock,
    Pressed,
    Released,
    Request,
    Requested,
    ShortPress,
)
from tests.hal.buttons.records import Recorder, key, record

KEY_VOLUMEUP = 115


@dataclass
class Board:
    keypad: Keypad
    clock: ManualClock
    events: Recorder
    writer: int

    def send(self, data: bytes) -> None:
        os.write(self.writer, data)


def section(**overrides: object) -> ButtonsSection:
    return ButtonsSection.model_validate({"backend": "evdev", "keys": [
        {"role": "reset", "key_code": KEY_RESTART, "input_name": "gpio-keys"},
        {"role": "power", "key_code": KEY_POWER, "input_name": "gpio-keys"},
    ], **overrides})


def input_tree(root: Path) -> tuple[Path, Path]:
    sysfs = root / "sys" / "class" / "input"
    for number, name in ((0, "Power Button"), (1, "gpio-keys")):
        (sysfs / f"event{number}" / "device").mkdir(parents=True)
        (sysfs / f"event{number}" / "device" / "name").write_text(name + "\n")
    dev = root / "dev" / "input"
    dev.mkdir(parents=True)
    os.mkfifo(dev / "event1")
    return sysfs, dev


@pytest.fixture
async def board(tmp_path: Path, recorder: Recorder) -> AsyncIterator[Board]:
    sysfs, dev = input_tree(tmp_path)
    writer = os.open(dev / "event1", os.O_RDWR)  # the "kernel" end, open first
    clock = ManualClock()
    keypad = Keypad(section(), recorder, clock=clock, sysfs_root=sysfs, dev_root=dev)
    await keypad.start()
    try:
        yield Board(keypad, clock, recorder, writer)
    finally:
        keypad.stop()
        os.close(writer)


async def test_found_by_input_name(board: Board, tmp_path: Path) -> None:
    assert board.keypad.devices == (str(tmp_path / "dev" / "input" / "event1"),)


async def test_reset_long_press_requests_factory_reset(board: Board) -> None:
    board.send(key(KEY_RESTART, 1))
    assert await board.events.next() == Pressed("reset", KEY_RESTART)
    board.clock.advance(2.0)
    progress = [e for e in board.events.drain() if isinstance(e, HoldProgress)]
    assert [p.held_s for p in progress] == [0.0, 1.0, 2.0]
    board.clock.advance(3.0)
    assert [e for e in board.events.drain() if isinstance(e, Requested)] == [
        Requested("reset", KEY_RESTART, Request.FACTORY_RESET, 5.0)]
    board.send(key(KEY_RESTART, 0))
    released = await board.events.next()
    assert released == Released("reset", KEY_RESTART, 5.0, True)


async def test_power_long_press_requests_shutdown(board: Board) -> None:
    board.send(key(KEY_POWER, 1))
    await board.events.until(Pressed)
    board.clock.advance(3.0)
    assert [e.request for e in board.events.drain() if isinstance(e, Requested)] == [
        Request.SHUTDOWN]


async def test_short_power_press(board: Board) -> None:
    board.send(key(KEY_POWER, 1))
    await board.events.until(Pressed)
    board.clock.advance(0.3)
    board.send(key(KEY_POWER, 0))
    short = await board.events.until(ShortPress)
    assert short == ShortPress("power", KEY_POWER, 0.3)
    assert (await board.events.next()).requested is False


async def test_release_before_threshold(board: Board) -> None:
    board.send(key(KEY_RESTART, 1))
    await board.events.until(Pressed)
    board.clock.advance(4.5)
    board.send(key(KEY_RESTART, 0))
    await board.events.until(Released)
    board.clock.advance(10)
    assert not any(isinstance(e, Requested) for e in board.events.items)


async def test_repeat_events_do_not_repeat_the_request(board: Board) -> None:
    board.send(key(KEY_POWER, 1))
    await board.events.until(Pressed)
    board.clock.advance(3.5)
    board.send(key(KEY_POWER, 2) + key(KEY_POWER, 2) + key(KEY_POWER, 0))
    await board.events.until(Released)
    assert sum(isinstance(e, Requested) for e in board.events.items) == 1


async def test_other_codes_and_syn_are_ignored(board: Board) -> None:
    board.send(key(KEY_VOLUMEUP, 1) + record(EV_SYN, SYN_REPORT, 0) + key(KEY_VOLUMEUP, 0)
               + key(KEY_POWER, 1))
    assert await board.events.next() == Pressed("power", KEY_POWER)
    assert [type(e) for e in board.events.drain()] == [HoldProgress]


async def test_truncated_record_is_completed_by_the_next_read(board: Board) -> None:
    data = record(EV_KEY, KEY_RESTART, 1)
    board.send(data[:11])
    board.send(data[11:] + record(EV_SYN, SYN_REPORT, 0))
    assert await board.events.next() == Pressed("reset", KEY_RESTART)


async def test_device_gone_cancels_the_hold(tmp_path: Path, recorder: Recorder) -> None:
    sysfs, dev = input_tree(tmp_path)
    writer = os.open(dev / "event1", os.O_RDWR)
    clock = ManualClock()
    keypad = Keypad(section(), recorder, clock=clock, sysfs_root=sysfs, dev_root=dev)
    await keypad.start()
    os.write(writer, key(KEY_RESTART, 1) + record(EV_KEY, KEY_RESTART, 0)[:5])
    await recorder.until(Pressed)
    os.close(writer)  # unplugged with a half record in flight
    assert await recorder.until(HoldCancelled) == HoldCancelled("reset", KEY_RESTART, 0.0)
    clock.advance(10)
    assert not any(isinstance(e, Requested) for e in recorder.items)
    keypad.stop()


async def test_missing_device_names_the_button(tmp_path: Path, recorder: Recorder) -> None:
    sysfs, dev = input_tree(tmp_path)
    wrong = section(keys=[{"role": "reset", "key_code": KEY_RESTART,
                           "input_name": "front-keys"}])
    keypad = Keypad(wrong, recorder, sysfs_root=sysfs, dev_root=dev)
    with pytest.raises(InputDeviceError, match=r"name=front-keys.*the reset button"):
        await keypad.start()
    assert keypad.devices == ()
