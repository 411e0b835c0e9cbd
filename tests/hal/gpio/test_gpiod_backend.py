"""GpiodBackend against a fake ``gpiod.Chip``: this machine has no /dev/gpiochip.

The fake stands where libgpiod's C extension would: it records the ``LineSettings`` the
real code builds and hands back a request with a real eventfd, returning real
``gpiod.EdgeEvent`` and ``gpiod.line.Value`` objects, so everything above the extension runs.
"""

from __future__ import annotations

import errno
import os
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import gpiod
import pytest
from gpiod.line import Bias, Clock, Direction, Edge, Value

from hal.gpio import (
    AlarmInputEvent,
    AlarmInputs,
    AlarmOutputs,
    ChipNotFoundError,
    InputLine,
    LineBusyError,
    LineRequestError,
    OutputLine,
)
from hal.gpio import Edge as OurEdge
from hal.gpio.gpiod_backend import GpiodBackend
from tests.hal.gpio.helpers import Recorder, make_section

MS = 1_000_000
RISING, FALLING = 1, 2  # gpiod._ext.EDGE_EVENT_TYPE_*


class FakeLineInfo:
    def __init__(self, used: bool = False, consumer: str = "",
                 debounce: timedelta = timedelta(0)) -> None:
        self.used, self.consumer = used, consumer
        self.debounced, self.debounce_period = debounce > timedelta(0), debounce


class FakeRequest:
    def __init__(self, config: dict[int, gpiod.LineSettings]) -> None:
        self.config = config
        self.offsets = list(config)
        self.fd = os.eventfd(0, os.EFD_NONBLOCK)
        self.values = {o: Value.INACTIVE for o in config}
        self.events: list[gpiod.EdgeEvent] = []
        self.released = False
        self.set_calls: list[tuple[int, Value]] = []

    def push(self, offset: int, kind: int, timestamp_ns: int) -> None:
        self.values[offset] = Value.ACTIVE if kind == RISING else Value.INACTIVE
        n = len(self.events) + 1
        self.events.append(gpiod.EdgeEvent(kind, timestamp_ns, offset, n, n))
        os.eventfd_write(self.fd, 1)

    def read_edge_events(self) -> list[gpiod.EdgeEvent]:
        os.eventfd_read(self.fd)
        events, self.events = self.events, []
        return events

    def get_values(self, lines: list[int]) -> list[Value]:
        return [self.values[o] for o in lines]

    def set_value(self, line: int, value: Value) -> None:
        self.set_calls.append((line, value))
        self.values[line] = value

    def release(self) -> None:
        self.released = True
        os.close(self.fd)


class FakeChips:
    """``open_chip`` for the backend: chips by path, each with a label and line infos."""

    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels
        self.line_info: dict[tuple[str, int], FakeLineInfo] = {}
        self.refuse: list[OSError] = []  # errors the next request_lines calls raise
        self.requests: list[tuple[str, str | None, FakeRequest]] = []
        self.applied_debounce = True

    def __call__(self, path: str) -> FakeChip:
        if path not in self.labels:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        return FakeChip(self, path)


class FakeChip:
    def __init__(self, chips: FakeChips, path: str) -> None:
        self.chips, self.path = chips, path

    def __enter__(self) -> FakeChip:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        pass

    def get_info(self) -> gpiod.ChipInfo:
        return gpiod.ChipInfo(Path(self.path).name, self.chips.labels[self.path], 32)

    def get_line_info(self, line: int | str) -> FakeLineInfo:
        assert isinstance(line, int)
        return self.chips.line_info.get((self.path, line), FakeLineInfo())

    def request_lines(self, config: dict[Any, gpiod.LineSettings | None],
                      consumer: str | None = None,
                      event_buffer_size: int | None = None) -> FakeRequest:
        if self.chips.refuse:
            raise self.chips.refuse.pop(0)
        settings = {int(k): v for k, v in config.items() if v is not None}
        request = FakeRequest(settings)
        self.chips.requests.append((self.path, consumer, request))
        for offset, s in settings.items():
            if s.debounce_period and self.chips.applied_debounce:
                self.chips.line_info[(self.path, offset)] = FakeLineInfo(
                    True, consumer or "", s.debounce_period)
        return request


@pytest.fixture
def dev(tmp_path: Path) -> Path:
    for name in ("gpiochip0", "gpiochip1", "not-a-chip"):
        (tmp_path / name).touch()
    return tmp_path


@pytest.fixture
def chips(dev: Path) -> FakeChips:
    return FakeChips({str(dev / "gpiochip0"): "INT34C5:00", str(dev / "gpiochip1"): "nvr-io"})


def gpiod_backend(dev: Path, chips: FakeChips) -> GpiodBackend:
    return GpiodBackend(dev_dir=dev, open_chip=chips,
                        is_gpiochip=lambda p: Path(p).name.startswith("gpiochip"))


def test_input_settings_edge_bias_polarity_debounce_clock(dev: Path, chips: FakeChips) -> None:
    backend = gpiod_backend(dev, chips)
    request = backend.request_inputs(f"{dev}/gpiochip0", [
        InputLine(4, active_low=True, bias="pull-up", debounce_ms=20),
        InputLine(5, active_low=False, bias="pull-down", debounce_ms=0)], consumer="nvrd")
    path, consumer, fake = chips.requests[0]
    assert (path, consumer) == (f"{dev}/gpiochip0", "nvrd")
    s4, s5 = fake.config[4], fake.config[5]
    assert (s4.direction, s4.edge_detection, s4.bias, s4.active_low, s4.debounce_period,
            s4.event_clock) == (Direction.INPUT, Edge.BOTH, Bias.PULL_UP, True,
                                timedelta(milliseconds=20), Clock.MONOTONIC)
    assert (s5.bias, s5.active_low, s5.debounce_period) == (Bias.PULL_DOWN, False,
                                                            timedelta(0))
    assert request.offsets == (4, 5)
    assert (request.kernel_debounce_ns(4), request.kernel_debounce_ns(5)) == (20 * MS, 0)


def test_output_settings_start_inactive(dev: Path, chips: FakeChips) -> None:
    backend = gpiod_backend(dev, chips)
    backend.request_outputs("nvr-io", [OutputLine(12), OutputLine(13, active_low=True)],
                            consumer="nvrd")
    path, _, fake = chips.requests[0]
    assert path == f"{dev}/gpiochip1"  # found by label
    for offset, active_low in ((12, False), (13, True)):
        s = fake.config[offset]
        assert (s.direction, s.output_value, s.active_low, s.edge_detection) == (
            Direction.OUTPUT, Value.INACTIVE, active_low, Edge.NONE)


def test_refused_kernel_debounce_falls_back_to_software(dev: Path, chips: FakeChips,
                                                        caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    chips.refuse.append(OSError(errno.EINVAL, "Invalid argument"))
    request = gpiod_backend(dev, chips).request_inputs(
        "INT34C5:00", [InputLine(4, debounce_ms=20)], consumer="nvrd")
    _, _, fake = chips.requests[0]  # the second attempt
    assert fake.config[4].debounce_period == timedelta(0)
    assert fake.config[4].edge_detection == Edge.BOTH
    assert request.kernel_debounce_ns(4) == 0
    assert "debouncing in software" in caplog.text


def test_debounce_not_applied_per_line_info_means_software(dev: Path,
                                                           chips: FakeChips) -> None:
    chips.applied_debounce = False
    request = gpiod_backend(dev, chips).request_inputs(
        "INT34C5:00", [InputLine(4, debounce_ms=20)], consumer="nvrd")
    assert request.kernel_debounce_ns(4) == 0


def test_busy_line_names_its_consumer(dev: Path, chips: FakeChips) -> None:
    chips.line_info[(f"{dev}/gpiochip0", 6)] = FakeLineInfo(True, "gpio-keys")
    chips.refuse.append(OSError(errno.EBUSY, "Device or resource busy"))
    with pytest.raises(LineBusyError) as caught:
        gpiod_backend(dev, chips).request_inputs(
            f"{dev}/gpiochip0", [InputLine(5), InputLine(6)], consumer="nvrd")
    assert str(caught.value) == f"gpiochip '{dev}/gpiochip0' line 6 is already used by " \
                                "'gpio-keys'"


def test_other_refusals_keep_errno_and_chip(dev: Path, chips: FakeChips) -> None:
    chips.refuse.append(PermissionError(errno.EACCES, "Permission denied"))
    with pytest.raises(LineRequestError, match="line 7 request refused: Permission denied") \
            as caught:
        gpiod_backend(dev, chips).request_outputs("nvr-io", [OutputLine(7)], consumer="n")
    assert caught.value.errno == errno.EACCES


def test_unknown_label_and_missing_path(dev: Path, chips: FakeChips) -> None:
    backend = gpiod_backend(dev, chips)
    with pytest.raises(ChipNotFoundError, match=r"'pinctrl' not found \(chips present: "
                                                r"INT34C5:00, nvr-io\)"):
        backend.request_inputs("pinctrl", [InputLine(0)], consumer="nvrd")
    with pytest.raises(ChipNotFoundError, match="gpiochip7' not found"):
        backend.request_inputs(f"{dev}/gpiochip7", [InputLine(0)], consumer="nvrd")


def test_probe_finds_gpiochips(dev: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert GpiodBackend.probe(dev, is_gpiochip=lambda p: "gpiochip" in p)
    assert not GpiodBackend.probe(tmp_path_factory.mktemp("empty"))


def test_edges_values_and_set_value_are_translated(dev: Path, chips: FakeChips) -> None:
    backend = gpiod_backend(dev, chips)
    request = backend.request_inputs("nvr-io", [InputLine(4)], consumer="nvrd")
    fake = chips.requests[0][2]
    fake.push(4, RISING, 111)
    fake.push(4, FALLING, 222)
    events = request.read_edge_events()
    assert [(e.offset, e.edge, e.timestamp_ns, e.seqno) for e in events] == [
        (4, OurEdge.RISING, 111, 1), (4, OurEdge.FALLING, 222, 2)]
    assert request.get_values() == [False]
    out = backend.request_outputs("nvr-io", [OutputLine(12)], consumer="nvrd")
    out.set_value(12, True)
    assert chips.requests[1][2].set_calls == [(12, Value.ACTIVE)]
    out.release()
    out.release()
    assert chips.requests[1][2].released


async def test_alarm_to_relay_through_the_gpiod_backend(dev: Path, chips: FakeChips) -> None:
    """The whole HAL path on the real adapter: initial read, fd wake-up, relay ioctl."""
    section = make_section(inputs=[{"number": 1, "chip": "nvr-io", "line": 4}],
                           relays=[{"number": 1, "chip": "nvr-io", "line": 12}])
    backend = gpiod_backend(dev, chips)
    recorder = Recorder()
    with AlarmOutputs.from_section(section, backend) as outputs:
        def on_change(event: AlarmInputEvent) -> None:
            recorder(event)
            outputs.set_relay(1, event.active)

        async with AlarmInputs(section.alarm_inputs, backend, on_change) as alarms:
            relay = next(r for p, _, r in chips.requests if 12 in r.config)
            inputs = next(r for p, _, r in chips.requests if 4 in r.config)
            assert alarms.states()[1].debounce == "kernel"
            assert (await recorder.next()).cause == "initial"
            inputs.push(4, RISING, 5_000)  # the kernel saw the contact close
            event = await recorder.next()
            assert (event.active, event.timestamp_ns) == (True, 5_000)
            assert relay.set_calls[-1] == (12, Value.ACTIVE)
        assert inputs.released
    assert relay.set_calls[-1] == (12, Value.INACTIVE) and relay.released
