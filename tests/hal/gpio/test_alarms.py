"""AlarmInputs on the simulated gpiochip: the real fd, debounce and NO/NC code paths."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import pytest

from hal.gpio import (
    AlarmInputEvent,
    AlarmInputs,
    GpioBackend,
    InputLine,
    LineBusyError,
    LineRequest,
    OutputLine,
)
from hal.sim.gpio import SimGpioBackend, SimGpioChip
from tests.hal.gpio.helpers import CHIP, Recorder, make_section

MS = 1_000_000


def make(backend: GpioBackend, recorder: Recorder, *specs: dict[str, object],
         **kwargs: object) -> AlarmInputs:
    section = make_section(inputs=list(specs))
    return AlarmInputs(section.alarm_inputs, backend, recorder, **kwargs)  # type: ignore[arg-type]


# (active_low, contact, physical level) → in alarm?
# Active low + NO (the vendor's default): the detector pulls the terminal low on alarm.
# Active low + NC: the loop holds the terminal low at rest and opens (pull-up → high) on alarm.
COMBINATIONS = [
    (True, "NO", False, True),
    (True, "NO", True, False),
    (True, "NC", False, False),
    (True, "NC", True, True),
    (False, "NO", True, True),
    (False, "NO", False, False),
    (False, "NC", True, False),
    (False, "NC", False, True),
]


@pytest.mark.parametrize(("active_low", "contact", "high", "active"), COMBINATIONS)
async def test_polarity_and_contact_give_the_alarm_state(
        chip: SimGpioChip, backend: SimGpioBackend, active_low: bool, contact: str,
        high: bool, active: bool) -> None:
    chip.set_input_level(2, not high)
    recorder = Recorder()
    async with make(backend, recorder, {"number": 3, "line": 2, "active_low": active_low,
                                        "contact": contact, "debounce_ms": 0}) as alarms:
        initial = await recorder.next()
        assert (initial.number, initial.active, initial.cause) == (3, not active, "initial")
        chip.set_input_level(2, high)
        event = await recorder.next()
        assert (event.number, event.active, event.asserted, event.contact, event.cause) == (
            3, active, high != active_low, contact, "edge")
        assert alarms.states()[3].active is active


async def test_initial_state_is_read_and_reported_for_every_input(
        chip: SimGpioChip, backend: SimGpioBackend) -> None:
    chip.set_input_level(0, False)  # input 1: NO, closed → alarm already on at start
    # input 2 floats: the pull-up keeps an active-low NO input quiet
    recorder = Recorder()
    before = time.monotonic_ns()
    async with make(backend, recorder, {"number": 1, "line": 0}, {"number": 2, "line": 1},
                    {"number": 4, "line": 3, "contact": "NC"}) as alarms:
        events = recorder.drain()
        assert [(e.number, e.active, e.cause) for e in events] == [
            (1, True, "initial"), (2, False, "initial"), (4, True, "initial")]
        assert all(e.timestamp_ns >= before for e in events)
        states = alarms.states()
        assert {n: s.active for n, s in states.items()} == {1: True, 2: False, 4: True}
        assert states[1].debounce == "software" and states[1].debounce_ns == 20 * MS


async def test_edge_event_carries_the_edge_timestamp_not_the_read_time(
        chip: SimGpioChip, backend: SimGpioBackend) -> None:
    recorder = Recorder()
    async with make(backend, recorder, {"number": 1, "line": 0, "debounce_ms": 0}):
        recorder.drain()
        before_ns = time.monotonic_ns()
        chip.set_input_level(0, False)
        after_ns = time.monotonic_ns()
        event = await recorder.next()
        assert event.active
        assert before_ns <= event.timestamp_ns <= after_ns  # stamped when the level changed


async def test_debounce_rejects_a_short_glitch_and_accepts_a_held_level(
        chip: SimGpioChip, backend: SimGpioBackend) -> None:
    recorder = Recorder()
    async with make(backend, recorder, {"number": 1, "line": 0, "debounce_ms": 20}):
        recorder.drain()
        # A glitch: both edges queued microseconds apart, far inside the 20 ms window.
        chip.set_input_level(0, False)
        chip.set_input_level(0, None)
        # Then a held level. Had the glitch counted, its report would come first.
        held_from_ns = time.monotonic_ns()
        chip.set_input_level(0, False)
        event = await recorder.next()
        reported_ns = time.monotonic_ns()
        assert (event.active, event.cause) == (True, "edge")
        assert event.timestamp_ns >= held_from_ns  # the held level's edge, not the glitch's
        assert reported_ns >= event.timestamp_ns + 20 * MS  # a full window later
        assert [(e.active, e.cause) for e in recorder.events] == [(False, "initial"),
                                                                  (True, "edge")]


async def test_contact_type_from_config_and_live_change(
        chip: SimGpioChip, backend: SimGpioBackend) -> None:
    recorder = Recorder()
    async with make(backend, recorder, {"number": 1, "line": 0, "contact": "NO"},
                    contacts={1: "NC"}) as alarms:
        # floating, pulled up, active low: not asserted; NC (the installer's) → alarm
        assert recorder.drain()[0].active is True
        alarms.set_contact(1, "NO")
        event = await recorder.next()
        assert (event.active, event.contact, event.cause) == (False, "NO", "contact")
        alarms.set_contact(1, "NO")  # unchanged: no event
        assert recorder.drain() == []
        assert alarms.states()[1].contact == "NO"


def test_contacts_for_unknown_inputs_are_refused(backend: SimGpioBackend) -> None:
    with pytest.raises(ValueError, match=r"unknown alarm inputs \[7\]"):
        make(backend, Recorder(), {"number": 1, "line": 0}, contacts={7: "NC"})


async def test_busy_line_error_names_input_chip_line_and_owner(
        backend: SimGpioBackend, chip: SimGpioChip) -> None:
    backend.request_inputs(CHIP, [InputLine(2)], consumer="other")
    alarms = make(backend, Recorder(), {"number": 1, "line": 1}, {"number": 3, "line": 2})
    with pytest.raises(LineBusyError) as caught:
        await alarms.start()
    assert str(caught.value) == ("alarm input 3: gpiochip 'sim-gpio0' line 2 is already used "
                                 "by 'other'")
    assert not chip.line_info(1).used  # nothing left claimed


async def test_a_failing_callback_is_logged_and_the_reader_goes_on(
        chip: SimGpioChip, backend: SimGpioBackend, caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    calls = 0

    def flaky(event: AlarmInputEvent) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("subscriber bug")
        recorder(event)

    section = make_section(inputs=[{"number": 1, "line": 0, "debounce_ms": 0}])
    with caplog.at_level(logging.ERROR):
        async with AlarmInputs(section.alarm_inputs, backend, flaky):
            chip.set_input_level(0, False)  # second call: raises
            chip.set_input_level(0, None)
            assert (await recorder.next()).cause == "initial"
            assert (await recorder.next()).active is False
    assert "subscriber bug" in caplog.text


async def test_close_releases_the_lines_and_stops_watching(
        chip: SimGpioChip, backend: SimGpioBackend) -> None:
    alarms = make(backend, Recorder(), {"number": 1, "line": 0})
    await alarms.start()
    assert chip.line_info(0).consumer == "nvrd"
    alarms.close()
    alarms.close()
    assert not chip.line_info(0).used


class KernelDebouncedBackend:
    """The sim, but reporting that the kernel applied each input's debounce period (as the
    gpiod backend does when the line info says ``debounced``)."""

    def __init__(self, inner: SimGpioBackend) -> None:
        self.inner = inner

    def request_inputs(self, chip: str, lines: Sequence[InputLine], *,
                       consumer: str) -> LineRequest:
        request = self.inner.request_inputs(chip, lines, consumer=consumer)
        periods = {x.offset: x.debounce_ms * MS for x in lines}
        request.kernel_debounce_ns = periods.__getitem__  # type: ignore[method-assign,assignment]
        return request

    def request_outputs(self, chip: str, lines: Sequence[OutputLine], *,
                        consumer: str) -> LineRequest:
        return self.inner.request_outputs(chip, lines, consumer=consumer)


async def test_kernel_debounced_lines_are_not_debounced_again(
        chip: SimGpioChip, backend: SimGpioBackend) -> None:
    recorder = Recorder()
    async with make(KernelDebouncedBackend(backend), recorder,
                    {"number": 1, "line": 0, "debounce_ms": 500}) as alarms:
        state = alarms.states()[1]
        assert (state.debounce, state.debounce_ns) == ("kernel", 500 * MS)
        recorder.drain()
        chip.set_input_level(0, False)
        event = await recorder.next()
        # reported at once: a 500 ms software window would still be running
        assert time.monotonic_ns() - event.timestamp_ns < 500 * MS


async def test_lost_edges_are_logged_and_the_last_edge_gives_the_level(
        chip: SimGpioChip, backend: SimGpioBackend, caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    async with make(backend, recorder, {"number": 1, "line": 0, "debounce_ms": 0}) as alarms:
        recorder.drain()
        for _ in range(20):  # 40 edges into a 16-event buffer, before the loop reads any
            chip.set_input_level(0, False)
            chip.set_input_level(0, None)
        chip.set_input_level(0, False)  # ends closed: in alarm
        while not alarms.states()[1].active:
            await recorder.next()
    assert "alarm input 1: 25 edges lost (event buffer overflow)" in caplog.text
