"""Relays and buzzer on the simulated gpiochip: fail-safe start, switching, close."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from hal.gpio import (
    AlarmOutputs,
    GpioError,
    InputLine,
    LineBusyError,
    LineRequest,
    OutputLine,
    UnknownOutputError,
)
from hal.sim.gpio import OutputChange, SimGpioBackend, SimGpioChip
from tests.hal.gpio.helpers import CHIP, make_section

SECTION = make_section(relays=[{"number": 1, "line": 8}, {"number": 2, "line": 9}],
                       buzzer={"line": 10})


def outputs(backend: object) -> AlarmOutputs:
    return AlarmOutputs.from_section(SECTION, backend)  # type: ignore[arg-type]


def test_outputs_start_released_and_switch(chip: SimGpioChip, backend: SimGpioBackend) -> None:
    seen: list[OutputChange] = []
    chip.add_output_listener(seen.append)
    with outputs(backend) as out:
        assert seen == []  # claimed already inactive: no pulse at start
        assert [chip.output_value(n) for n in (8, 9, 10)] == [False, False, False]
        assert out.states().relays == {1: False, 2: False} and out.states().buzzer is False
        out.set_relay(2, True)
        out.set_buzzer(True)
        assert [chip.output_value(n) for n in (8, 9, 10)] == [False, True, True]
        assert out.states().relays == {1: False, 2: True} and out.states().buzzer is True
        out.set_relay(2, False)
        assert chip.output_value(9) is False


def test_active_low_relay_is_driven_high_when_off(chip: SimGpioChip,
                                                  backend: SimGpioBackend) -> None:
    section = make_section(relays=[{"number": 1, "line": 8, "active_low": True}])
    with AlarmOutputs.from_section(section, backend) as out:
        assert chip.output_value(8) is True
        out.set_relay(1, True)
        assert chip.output_value(8) is False


def test_close_drives_outputs_inactive_before_releasing_even_after_an_error(
        chip: SimGpioChip, backend: SimGpioBackend) -> None:
    seen: list[OutputChange] = []
    chip.add_output_listener(seen.append)
    with pytest.raises(RuntimeError, match="daemon crashed"), outputs(backend) as out:
        out.set_relay(1, True)
        out.set_buzzer(True)
        raise RuntimeError("daemon crashed")
    assert [(c.offset, c.high, c.released) for c in seen] == [
        (8, True, False), (10, True, False),
        (8, False, False), (9, False, False), (10, False, False),  # driven off...
        (8, False, True), (9, False, True), (10, False, True)]  # ...then released
    assert not any(chip.line_info(n).used for n in (8, 9, 10))


class FailingOnLine:
    """A backend whose requests refuse to drive one line (a broken driver)."""

    def __init__(self, inner: SimGpioBackend, bad_line: int) -> None:
        self.inner, self.bad_line = inner, bad_line

    def request_inputs(self, chip: str, lines: Sequence[InputLine], *,
                       consumer: str) -> LineRequest:
        return self.inner.request_inputs(chip, lines, consumer=consumer)

    def request_outputs(self, chip: str, lines: Sequence[OutputLine], *,
                        consumer: str) -> LineRequest:
        request = self.inner.request_outputs(chip, lines, consumer=consumer)
        real_set = request.set_value

        def set_value(offset: int, value: bool) -> None:
            if offset == self.bad_line and not value:
                raise OSError(5, "Input/output error")
            real_set(offset, value)

        request.set_value = set_value  # type: ignore[method-assign]
        return request


def test_one_output_failing_on_close_does_not_leave_the_others_on(
        chip: SimGpioChip, backend: SimGpioBackend, caplog: pytest.LogCaptureFixture) -> None:
    out = outputs(FailingOnLine(backend, bad_line=8))
    out.open()
    out.set_relay(1, True)
    out.set_relay(2, True)
    out.set_buzzer(True)
    out.close()  # does not raise
    assert "could not switch relay 1 off (gpiochip 'sim-gpio0' line 8)" in caplog.text
    # relay 2 and the buzzer were driven off; everything released (relay 1 falls to rest)
    driven = [(c.offset, c.high) for c in chip.output_log if not c.released]
    assert driven[-2:] == [(9, False), (10, False)]
    assert not any(chip.line_info(n).used for n in (8, 9, 10))
    assert [chip.output_value(n) for n in (8, 9, 10)] == [False, False, False]


def test_driving_a_failed_output_raises_an_error_naming_it(
        chip: SimGpioChip, backend: SimGpioBackend) -> None:
    with outputs(FailingOnLine(backend, bad_line=9)) as out:
        with pytest.raises(GpioError, match=r"^relay 2: gpiochip 'sim-gpio0' line 9 cannot "
                                            r"be driven: Input/output error$"):
            out.set_relay(2, False)
        assert out.states().relays[2] is False


def test_unknown_relay_and_closed_outputs(backend: SimGpioBackend) -> None:
    out = outputs(backend)
    with pytest.raises(GpioError, match=r"relay 1: .* is not claimed"):
        out.set_relay(1, True)
    with out, pytest.raises(UnknownOutputError, match=r"no relay 5 on this board \(outputs: "
                                                      r"relay 1, relay 2, buzzer\)"):
        out.set_relay(5, True)
    no_buzzer = AlarmOutputs(SECTION.relays, None, backend)
    with pytest.raises(UnknownOutputError, match="no buzzer"):
        no_buzzer.set_buzzer(True)
    assert no_buzzer.states().buzzer is None


def test_busy_output_line_names_the_relay(backend: SimGpioBackend, chip: SimGpioChip) -> None:
    backend.request_inputs(CHIP, [InputLine(9)], consumer="poe-int")
    with pytest.raises(LineBusyError, match=r"^relay 2: gpiochip 'sim-gpio0' line 9 is "
                                            r"already used by 'poe-int'$"):
        outputs(backend).open()
    assert not chip.line_info(8).used and not chip.line_info(10).used


async def test_beep_pattern_runs_without_blocking_and_ends_silent(
        chip: SimGpioChip, backend: SimGpioBackend) -> None:
    async with outputs(backend) as out:
        task = out.beep(on_s=0.002, off_s=0.002, count=3)
        assert not task.done()  # returned at once, the loop drives the pattern
        await asyncio.wait_for(task, 2)
        pattern = [c.high for c in chip.output_log if c.offset == 10]
        assert pattern == [True, False] * 3
        assert out.states().buzzer is False


async def test_set_buzzer_takes_over_from_a_running_beep(
        chip: SimGpioChip, backend: SimGpioBackend) -> None:
    async with outputs(backend) as out:
        task = out.beep(on_s=10, off_s=10, count=5)
        await asyncio.sleep(0)  # let the beep switch the buzzer on
        assert chip.output_value(10) is True
        out.set_buzzer(True)  # steady tone from now on
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 2)
        assert chip.output_value(10) is True and out.states().buzzer is True
    assert chip.output_value(10) is False  # and closing silenced it
