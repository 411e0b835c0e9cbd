"""The evdev reader on a real pipe: packed ``struct input_event`` records in, key events out;
filtering, split and truncated records, dropped events, finding a device by name."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hal.buttons import (
    EV_KEY,
    EV_SYN,
    EVENT,
    KEY_POWER,
    KEY_RESTART,
    SYN_DROPPED,
    SYN_REPORT,
    EvdevReader,
    InputDeviceNotFound,
    InputEvent,
    KeyAction,
    KeyEvent,
    find_input_device,
    parse_events,
)
from tests.hal.buttons.records import Recorder, key, record

EV_MSC, MSC_SCAN = 0x04, 0x04


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_fd, write_fd = os.pipe()
    yield read_fd, write_fd
    for fd in (read_fd, write_fd):
        with contextlib.suppress(OSError):
            os.close(fd)


def test_record_layout() -> None:
    assert EVENT.size == 24
    data = InputEvent(1_700_000_000, 250_000, EV_KEY, KEY_RESTART, 1).pack()
    assert len(data) == 24
    assert InputEvent.unpack(data) == InputEvent(1_700_000_000, 250_000, 1, 0x198, 1)
    assert InputEvent.unpack(data).time_s == pytest.approx(1_700_000_000.25)


def test_parse_keeps_a_partial_tail() -> None:
    data = key(KEY_POWER, 1) + record(EV_KEY, KEY_POWER, 0)[:10]
    events, rest = parse_events(data)
    assert [(e.type, e.code, e.value) for e in events] == [(EV_KEY, KEY_POWER, 1),
                                                           (EV_SYN, SYN_REPORT, 0)]
    assert rest == record(EV_KEY, KEY_POWER, 0)[:10]


async def test_press_release_and_repeat(pipe: tuple[int, int], recorder: Recorder) -> None:
    read_fd, write_fd = pipe
    reader = EvdevReader(read_fd, recorder)
    await reader.start()
    try:
        os.write(write_fd, key(KEY_RESTART, 1) + key(KEY_RESTART, 2) + key(KEY_RESTART, 0))
        got = [await recorder.next() for _ in range(3)]
    finally:
        reader.stop()
    assert [(e.code, e.action) for e in got] == [(KEY_RESTART, KeyAction.PRESS),
                                                 (KEY_RESTART, KeyAction.REPEAT),
                                                 (KEY_RESTART, KeyAction.RELEASE)]
    assert got[0] == KeyEvent(KEY_RESTART, KeyAction.PRESS, 1_700_000_000.0)


async def test_other_codes_syn_and_other_types_are_ignored(pipe: tuple[int, int],
                                                           recorder: Recorder) -> None:
    read_fd, write_fd = pipe
    reader = EvdevReader(read_fd, recorder, codes=[KEY_POWER])
    await reader.start()
    try:
        os.write(write_fd, record(EV_MSC, MSC_SCAN, 0x90001) + key(KEY_RESTART, 1)
                 + record(EV_SYN, SYN_REPORT, 0) + record(EV_KEY, KEY_POWER, 7)
                 + key(KEY_POWER, 1))
        first = await recorder.next()
    finally:
        reader.stop()
    assert (first.code, first.action) == (KEY_POWER, KeyAction.PRESS)
    assert recorder.drain() == []  # everything before it was dropped, not queued


async def test_record_split_across_reads_is_reassembled(pipe: tuple[int, int],
                                                        recorder: Recorder) -> None:
    read_fd, write_fd = pipe
    reader = EvdevReader(read_fd, recorder)
    await reader.start()
    try:
        data = key(KEY_POWER, 1)
        os.write(write_fd, data[:7])
        os.write(write_fd, data[7:30])
        os.write(write_fd, data[30:] + key(KEY_POWER, 0))
        got = [await recorder.next(), await recorder.next()]
    finally:
        reader.stop()
    assert [e.action for e in got] == [KeyAction.PRESS, KeyAction.RELEASE]
    assert reader.discarded_bytes == 0


async def test_truncated_record_at_end_of_device_is_discarded(pipe: tuple[int, int],
                                                              recorder: Recorder) -> None:
    read_fd, write_fd = pipe
    closed = Recorder()
    reader = EvdevReader(read_fd, recorder, on_closed=closed)
    await reader.start()
    os.write(write_fd, key(KEY_POWER, 1) + record(EV_KEY, KEY_POWER, 0)[:10])
    os.close(write_fd)
    press = await recorder.next()
    await closed.next()
    assert press.action is KeyAction.PRESS
    assert recorder.drain() == []  # the half release never became an event
    assert reader.discarded_bytes == 10
    assert not reader.running


async def test_dropped_events_are_skipped_until_the_next_report(pipe: tuple[int, int],
                                                                recorder: Recorder) -> None:
    read_fd, write_fd = pipe
    dropped = Recorder()
    reader = EvdevReader(read_fd, recorder, on_dropped=dropped)
    await reader.start()
    try:
        os.write(write_fd, record(EV_SYN, SYN_DROPPED, 0) + record(EV_KEY, KEY_RESTART, 0)
                 + record(EV_SYN, SYN_REPORT, 0) + key(KEY_POWER, 1))
        await dropped.next()
        first = await recorder.next()
    finally:
        reader.stop()
    assert (first.code, first.action) == (KEY_POWER, KeyAction.PRESS)


async def test_device_node_by_path(tmp_path: Path, recorder: Recorder) -> None:
    fifo = tmp_path / "event3"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)
    reader = EvdevReader(fifo, recorder)
    try:
        await reader.start()
        os.write(writer, key(KEY_POWER, 1))
        assert (await recorder.next()).code == KEY_POWER
    finally:
        reader.stop()
        os.close(writer)
    with pytest.raises(InputDeviceNotFound, match="event9"):
        await EvdevReader(tmp_path / "event9", recorder).start()


def make_input_tree(root: Path, names: dict[int, str]) -> Path:
    sysfs = root / "sys" / "class" / "input"
    for number, name in names.items():
        entry = sysfs / f"event{number}" / "device"
        entry.mkdir(parents=True)
        (entry / "name").write_text(name + "\n")
    (sysfs / "mice").mkdir()  # not an event device
    return sysfs


def test_find_input_device_by_name(tmp_path: Path) -> None:
    sysfs = make_input_tree(tmp_path, {0: "AT Translated Set 2 keyboard", 10: "gpio-keys",
                                       2: "gpio-keys"})
    dev = tmp_path / "dev" / "input"
    assert find_input_device("gpio-keys", sysfs_root=sysfs, dev_root=dev) == dev / "event2"
    with pytest.raises(InputDeviceNotFound) as caught:
        find_input_device("front-keys", sysfs_root=sysfs, dev_root=dev)
    assert "name=front-keys" in str(caught.value)
    assert "event0='AT Translated Set 2 keyboard'" in str(caught.value)
