"""Alarm inputs: debounced, NO/NC-aware state of the ALARM IN terminals, fd-driven.

From pin to alarm, in this order:

1. physical level → *asserted* by ``active_low`` (applied by the kernel; the vendor's
   inputs are active-low: a detector pulls the terminal to GND);
2. asserted → debounced (below);
3. debounced → *active* by the contact type: an NO detector closes on alarm (active =
   asserted), an NC detector or tamper loop opens on alarm (active = not asserted). The
   board gives the factory contact type; the installer's choice in nvrd.toml overrides it,
   at start (``contacts=``) or live (``set_contact``).

Debounce: the board's ``debounce_ms`` is asked of the kernel (``debounce_period``), where
the line is then filtered before any edge reaches us. Where the backend did not apply it
(the sim, a driver refusing it) the same stable-for-a-window rule runs here
(``hal.gpio.debounce``): a change is reported one window after its edge, and any excursion
shorter than the window never raises an alarm. Software timers are set from the kernel's
edge timestamps, not from when the loop read them, so a busy loop delays a report but
does not stretch or shrink the window. The timer itself wakes up to ~1 ms late (epoll
timeouts are whole milliseconds); ``tools/bench/alarm`` measures it on top of the window.

The initial level is read with ``get_values`` right after the lines are claimed (edges
only report changes) and reported like any change, with ``cause="initial"``.

Threads: none. Everything, ``on_change`` included, runs on the event loop thread: the fd is
watched with ``loop.add_reader`` and debounce deadlines are ``loop.call_later`` timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from hal.board import AlarmInput
from hal.gpio.base import GpioBackend, GpioError, InputLine, LineRequest
from hal.gpio.debounce import Debouncer, LevelChange

__all__ = [
    "AlarmInputEvent",
    "AlarmInputState",
    "AlarmInputs",
    "Contact",
    "alarm_active",
]

logger = logging.getLogger(__name__)

Contact = Literal["NO", "NC"]
Cause = Literal["initial", "edge", "contact"]


def alarm_active(asserted: bool, contact: Contact) -> bool:
    """Whether an input is in alarm, from its (logical, debounced) line level."""
    return asserted if contact == "NO" else not asserted


@dataclass(frozen=True, slots=True)
class AlarmInputEvent:
    """An alarm input changed state (or its initial state, at start)."""

    number: int
    """ALARM IN number on the chassis."""
    active: bool
    """In alarm, after polarity, debounce and contact type."""
    timestamp_ns: int
    """CLOCK_MONOTONIC: the kernel's timestamp of the edge from which the new level held;
    for ``initial`` and ``contact``, when the state was read or reinterpreted."""
    asserted: bool
    """The line's logical level (after ``active_low``), before the contact type."""
    contact: Contact
    cause: Cause


@dataclass(frozen=True, slots=True)
class AlarmInputState:
    number: int
    active: bool
    asserted: bool
    contact: Contact
    since_ns: int
    debounce: Literal["kernel", "software", "none"]
    debounce_ns: int


class _Input:
    """Mutable per-input state; loop thread only."""

    __slots__ = ("active", "contact", "debouncer", "kernel_debounce_ns", "request", "seqno",
                 "spec", "timer")

    def __init__(self, spec: AlarmInput, contact: Contact) -> None:
        self.spec = spec
        self.contact: Contact = contact
        self.request: LineRequest | None = None
        self.debouncer = Debouncer(False, 0)
        self.kernel_debounce_ns = 0
        self.active = False
        self.timer: asyncio.TimerHandle | None = None
        self.seqno = 0

    @property
    def name(self) -> str:
        return f"alarm input {self.spec.number}"


class AlarmInputs:
    """The alarm inputs of one board, reporting changes to ``on_change`` on the loop thread.

    ``on_change`` is on the alarm-to-relay path: keep it short and non-blocking. An
    exception from it is logged and does not stop the reader. Use as ``async with``, or
    ``await start()`` then ``close()``.
    """

    def __init__(self, inputs: Sequence[AlarmInput], backend: GpioBackend,
                 on_change: Callable[[AlarmInputEvent], None], *,
                 contacts: Mapping[int, Contact] | None = None, consumer: str = "nvrd",
                 clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        overrides = dict(contacts or {})
        self._inputs = {x.number: _Input(x, overrides.pop(x.number, x.contact))
                        for x in inputs}
        if overrides:
            raise ValueError(f"contact types given for unknown alarm inputs "
                             f"{sorted(overrides)} (board has {sorted(self._inputs)})")
        self._backend = backend
        self._on_change = on_change
        self._consumer = consumer
        self._clock_ns = clock_ns
        self._requests: list[LineRequest] = []
        self._by_offset: dict[tuple[int, int], _Input] = {}  # (id(request), offset)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> AlarmInputs:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    async def start(self) -> None:
        """Claim the lines (one request per chip), read and report the initial states, then
        watch the fds. Nothing stays claimed if this fails; errors name the input."""
        if self._loop is not None:
            raise RuntimeError("alarm inputs already started")
        self._loop = asyncio.get_running_loop()
        try:
            for chip, inputs in self._by_chip().items():
                self._claim(chip, inputs)
            now = self._clock_ns()
            for request in self._requests:
                self._read_initial(request, now)
            for request in self._requests:
                self._loop.add_reader(request.fd, self._on_readable, request)
        except BaseException:
            self.close()
            raise
        for number in sorted(self._inputs):
            inp = self._inputs[number]
            self._emit(inp, "initial", inp.debouncer.since_ns)

    def set_contact(self, number: int, contact: Contact) -> None:
        """Change an input's contact type (installer setting); a running input whose alarm
        state flips because of it reports the change at once, ``cause="contact"``."""
        inp = self._input(number)
        if contact not in ("NO", "NC"):
            raise ValueError(f"contact must be 'NO' or 'NC', not {contact!r}")
        if contact == inp.contact:
            return
        inp.contact = contact
        if self._loop is not None and inp.request is not None:
            self._emit(inp, "contact", self._clock_ns())

    def states(self) -> dict[int, AlarmInputState]:
        return {n: AlarmInputState(n, inp.active, inp.debouncer.level, inp.contact,
                                   inp.debouncer.since_ns, self._debounce_kind(inp),
                                   inp.kernel_debounce_ns or inp.debouncer.window_ns)
                for n, inp in sorted(self._inputs.items())}

    def close(self) -> None:
        """Stop watching and release the lines. Idempotent."""
        for inp in self._inputs.values():
            if inp.timer is not None:
                inp.timer.cancel()
                inp.timer = None
            inp.request = None
        requests, self._requests = self._requests, []
        self._by_offset.clear()
        for request in requests:
            if self._loop is not None:
                with contextlib.suppress(OSError, ValueError, GpioError):
                    self._loop.remove_reader(request.fd)
            try:
                request.release()
            except (OSError, GpioError):
                logger.exception("releasing alarm inputs on gpiochip %r", request.chip)

    # --- start-up -------------------------------------------------------------------------

    def _by_chip(self) -> dict[str, list[_Input]]:
        chips: dict[str, list[_Input]] = {}
        for number in sorted(self._inputs):
            inp = self._inputs[number]
            chips.setdefault(inp.spec.chip, []).append(inp)
        return chips

    def _claim(self, chip: str, inputs: list[_Input]) -> None:
        lines = [InputLine(x.spec.line, x.spec.active_low, x.spec.bias, x.spec.debounce_ms)
                 for x in inputs]
        try:
            request = self._backend.request_inputs(chip, lines, consumer=self._consumer)
        except GpioError as err:
            culprit = next((x for x in inputs if x.spec.line == err.line), None)
            names = culprit.name if culprit else ", ".join(x.name for x in inputs)
            raise err.for_signal(names) from err
        self._requests.append(request)
        for inp in inputs:
            inp.request = request
            inp.kernel_debounce_ns = request.kernel_debounce_ns(inp.spec.line)
            self._by_offset[(id(request), inp.spec.line)] = inp

    def _read_initial(self, request: LineRequest, now_ns: int) -> None:
        inputs = [x for x in self._inputs.values() if x.request is request]
        try:
            levels = request.get_values([x.spec.line for x in inputs])
        except (OSError, GpioError) as err:
            raise GpioError(request.chip, None, f"cannot read the initial levels: {err}",
                            signal=", ".join(x.name for x in inputs)) from err
        for inp, level in zip(inputs, levels, strict=True):
            window = 0 if inp.kernel_debounce_ns else inp.spec.debounce_ms * 1_000_000
            inp.debouncer = Debouncer(level, window, now_ns)

    @staticmethod
    def _debounce_kind(inp: _Input) -> Literal["kernel", "software", "none"]:
        if inp.kernel_debounce_ns:
            return "kernel"
        return "software" if inp.debouncer.window_ns else "none"

    def _input(self, number: int) -> _Input:
        try:
            return self._inputs[number]
        except KeyError:
            raise ValueError(f"no alarm input {number} on this board (inputs: "
                             f"{', '.join(map(str, sorted(self._inputs))) or 'none'})"
                             ) from None

    # --- loop callbacks -------------------------------------------------------------------

    def _on_readable(self, request: LineRequest) -> None:
        try:
            events = request.read_edge_events()
        except (OSError, GpioError):
            # A dead request would keep the fd readable and spin the loop: stop watching it.
            logger.exception("reading edges on gpiochip %r; inputs there are no longer "
                             "watched", request.chip)
            if self._loop is not None:
                self._loop.remove_reader(request.fd)
            return
        touched: dict[int, _Input] = {}
        key = id(request)
        for event in events:
            inp = self._by_offset.get((key, event.offset))
            if inp is None:
                continue
            if event.seqno > inp.seqno + 1:  # line seqnos start at 1
                # The kernel's buffer overflowed (the loop was stalled, or the line chatters):
                # the last edge still gives the level, only intermediate bounces are gone.
                logger.warning("%s: %d edges lost (event buffer overflow)", inp.name,
                               event.seqno - inp.seqno - 1)
            inp.seqno = event.seqno
            change = inp.debouncer.feed(event.asserted, event.timestamp_ns)
            if change is not None:
                self._commit(inp, change)
            touched[inp.spec.number] = inp
        for inp in touched.values():
            self._arm_timer(inp)

    def _arm_timer(self, inp: _Input) -> None:
        if inp.timer is not None:
            inp.timer.cancel()
            inp.timer = None
        deadline = inp.debouncer.deadline_ns
        if deadline is None or self._loop is None:
            return
        delay_s = max(0.0, (deadline - self._clock_ns()) / 1e9)
        inp.timer = self._loop.call_later(delay_s, self._on_deadline, inp)

    def _on_deadline(self, inp: _Input) -> None:
        inp.timer = None
        request = inp.request
        if request is None:
            return
        # An edge already queued but not yet read may cancel the pending change.
        if _readable(request.fd):
            self._on_readable(request)
            if inp.timer is not None:  # re-armed by that read
                return
        change = inp.debouncer.due(self._clock_ns())
        if change is not None:
            self._commit(inp, change)
        self._arm_timer(inp)

    def _commit(self, inp: _Input, change: LevelChange) -> None:
        self._emit(inp, "edge", change.timestamp_ns)

    def _emit(self, inp: _Input, cause: Cause, timestamp_ns: int) -> None:
        asserted = inp.debouncer.level
        active = alarm_active(asserted, inp.contact)
        if cause != "initial" and active == inp.active:
            return
        inp.active = active
        event = AlarmInputEvent(inp.spec.number, active, timestamp_ns, asserted, inp.contact,
                                cause)
        try:
            self._on_change(event)
        except Exception:
            logger.exception("alarm input callback failed for %s", event)


def _readable(fd: int) -> bool:
    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable)
