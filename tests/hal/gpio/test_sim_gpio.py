"""The simulated gpiochip behaves like the chardev at the fd."""

from __future__ import annotations

import asyncio
import select
import time

import pytest

from hal.board import GpioSection
from hal.gpio import ChipNotFoundError, Edge, InputLine, LineBusyError, OutputLine
from hal.sim.gpio import OutputChange, SimGpioBackend, SimGpioChip, SimGpioRegistry
from tests.hal.gpio.helpers import CHIP, make_section


def readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def test_fd_is_readable_exactly_while_events_are_queued(chip: SimGpioChip) -> None:
    request = chip.request([InputLine(2, bias="pull-down")], [], consumer="t")
    assert not readable(request.fd)
    before = time.monotonic_ns()
    stamps = [chip.set_input_level(2, True), chip.set_input_level(2, False)]
    after = time.monotonic_ns()
    assert readable(request.fd)
    events = request.read_edge_events()
    assert [(e.offset, e.edge, e.seqno, e.global_seqno) for e in events] == [
        (2, Edge.RISING, 1, 1), (2, Edge.FALLING, 2, 2)]
    assert [e.timestamp_ns for e in events] == stamps
    assert before <= events[0].timestamp_ns <= events[1].timestamp_ns <= after
    assert not readable(request.fd)
    assert chip.set_input_level(2, False) is None  # no level change, no edge
    assert not readable(request.fd)


def test_active_low_inverts_values_and_edges(chip: SimGpioChip) -> None:
    request = chip.request([InputLine(0, active_low=True, bias="pull-up")], [], consumer="t")
    assert request.get_values() == [False]  # pulled up, active low: not asserted
    chip.set_input_level(0, False)  # contact pulls to GND
    assert request.get_values() == [True]
    assert [e.edge for e in request.read_edge_events()] == [Edge.RISING]
    chip.set_input_level(0, None)  # floating again: the pull-up wins
    assert [e.edge for e in request.read_edge_events()] == [Edge.FALLING]


def test_event_queue_drops_oldest_on_overflow_with_a_seqno_gap(chip: SimGpioChip) -> None:
    request = chip.request([InputLine(1)], [], consumer="t")
    for i in range(40):
        chip.set_input_level(1, i % 2 == 0)
    events = request.read_edge_events()
    assert len(events) == 16
    assert [e.seqno for e in events] == list(range(25, 41))


def test_a_line_requested_twice_is_busy(backend: SimGpioBackend) -> None:
    backend.request_inputs(CHIP, [InputLine(3)], consumer="other")
    with pytest.raises(LineBusyError) as caught:
        backend.request_outputs(CHIP, [OutputLine(4), OutputLine(3)], consumer="nvrd")
    assert (caught.value.chip, caught.value.line, caught.value.consumer) == (CHIP, 3, "other")
    assert str(caught.value) == "gpiochip 'sim-gpio0' line 3 is already used by 'other'"
    # all or nothing: line 4 was not claimed by the failed request
    backend.request_outputs(CHIP, [OutputLine(4)], consumer="nvrd")


def test_unknown_chip_names_the_chips_present(backend: SimGpioBackend) -> None:
    with pytest.raises(ChipNotFoundError, match=r"'nope' not found \(chips present: sim-gpio0"):
        backend.request_inputs("nope", [InputLine(0)], consumer="t")


def test_outputs_are_logged_with_time_and_revert_when_released(chip: SimGpioChip) -> None:
    seen: list[OutputChange] = []
    remove = chip.add_output_listener(seen.append)
    request = chip.request([], [OutputLine(8), OutputLine(9, active_low=True)], consumer="t")
    assert (chip.output_value(8), chip.output_value(9)) == (False, True)  # both inactive
    before = time.monotonic_ns()
    request.set_value(8, True)
    assert chip.output_value(8) is True
    assert seen[-1].offset == 8 and seen[-1].high and seen[-1].timestamp_ns >= before
    request.release()
    assert (chip.output_value(8), chip.output_value(9)) == (False, False)
    assert [(c.offset, c.high, c.released) for c in seen[-2:]] == [(8, False, True),
                                                                    (9, False, True)]
    remove()
    chip.request([], [OutputLine(8, initial=True)], consumer="t")
    assert len(seen) == 4  # listener removed
    assert chip.output_log[-1].high is True


async def test_add_reader_wakes_on_an_edge_from_another_thread(chip: SimGpioChip) -> None:
    request = chip.request([InputLine(5)], [], consumer="t")
    loop = asyncio.get_running_loop()
    got: asyncio.Future[list[Edge]] = loop.create_future()
    loop.add_reader(request.fd, lambda: got.set_result(
        [e.edge for e in request.read_edge_events()]))
    try:
        await asyncio.to_thread(chip.set_input_level, 5, True)
        assert await asyncio.wait_for(got, 2) == [Edge.RISING]
    finally:
        loop.remove_reader(request.fd)
        request.release()


def test_registry_for_a_board_section_has_its_chips() -> None:
    section: GpioSection = make_section(inputs=[{"number": 1, "line": 40}],
                                        relays=[{"number": 1, "chip": "other", "line": 2}])
    registry = SimGpioRegistry.for_section(section)
    assert registry.labels == ["other", CHIP]
    assert registry.chip(CHIP).num_lines == 41
    assert registry.chip("other").num_lines == 32


def test_open_backend_follows_the_board_profile() -> None:
    from hal.gpio import open_backend
    from hal.gpio.gpiod_backend import GpiodBackend

    section = make_section(inputs=[{"number": 1, "line": 0}])
    registry = SimGpioRegistry.for_section(section)
    backend = open_backend(section, sim=registry)
    assert isinstance(backend, SimGpioBackend) and backend.registry is registry
    with pytest.raises(ValueError, match="sim=SimGpioRegistry"):
        open_backend(section)
    real = section.model_copy(update={"backend": "gpiod"})
    assert isinstance(open_backend(real), GpiodBackend)
