"""A simulated gpiochip that behaves like the kernel's chardev, at the fd.

The real alarm code (``hal.gpio.alarms``, ``hal.gpio.outputs``) runs against it unchanged:
a request has a real file descriptor (an eventfd) that is readable exactly while edge events
are queued, so ``loop.add_reader`` wakes up as it would on ``/dev/gpiochipN``; events carry
CLOCK_MONOTONIC nanosecond timestamps taken when the level changed, and per-line and
per-request sequence numbers; the queue has the kernel's default depth (16 events per
line) and drops the *oldest* event on overflow, which shows as a sequence-number gap.

Electrical model, per line: a tester drives an input to high or low (``set_input_level``)
or leaves it floating (``None``), when the requested bias decides (pull-up → high,
pull-down → low, otherwise low). ``active_low`` inverts between that physical level and the
logical value the request sees, edges are reported in logical terms, as the v2 uAPI does.
An output is driven only while requested; released, it falls back to its rest level
(low: the board pulls relay drivers off), which is what makes relays fail safe.

Threads: tester methods (``set_input_level``, ``output_value``, ...) may be called from any
thread (a control socket, a benchmark's "hardware" thread); the chip's state is guarded by
one lock. Output listeners run in the thread that drove the output, inside that call.

Differences from the kernel, on purpose: no kernel debounce (``kernel_debounce_ns`` is 0,
so the software debounce above the seam is what runs in the sim) and no line names.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from hal.board import GpioSection
from hal.gpio.base import (
    Bias,
    ChipNotFoundError,
    Edge,
    EdgeEvent,
    InputLine,
    LineBusyError,
    LineRequestError,
    OutputLine,
)

__all__ = [
    "OutputChange",
    "SimGpioBackend",
    "SimGpioChip",
    "SimGpioRegistry",
    "SimLineInfo",
    "SimLineRequest",
]

EVENTS_PER_LINE = 16
"""Kernel default edge-event buffer: 16 events per requested line."""
OUTPUT_LOG_SIZE = 4096


@dataclass(frozen=True, slots=True)
class OutputChange:
    """An output line's physical level changed (or was driven, ``released`` on release)."""

    chip: str
    offset: int
    high: bool
    timestamp_ns: int
    released: bool = False


@dataclass(frozen=True, slots=True)
class SimLineInfo:
    """What ``gpioinfo`` would print for a line."""

    offset: int
    used: bool
    consumer: str
    direction: str  # "input" | "output"
    active_low: bool
    bias: Bias
    high: bool
    """Physical level."""


@dataclass(slots=True)
class _Line:
    offset: int
    external: bool | None = None  # what the outside world drives onto an input
    request: SimLineRequest | None = None
    direction: str = "input"
    active_low: bool = False
    bias: Bias = "as-is"
    driven: bool = False  # physical level an output drives
    edges: bool = False
    seqno: int = 0

    @property
    def high(self) -> bool:
        if self.request is not None and self.direction == "output":
            return self.driven
        if self.external is not None:
            return self.external
        return self.bias == "pull-up"

    @property
    def asserted(self) -> bool:
        return self.high != self.active_low


class SimGpioChip:
    """A gpiochip with ``num_lines`` lines, found by ``label`` (like ``gpiodetect`` shows)."""

    def __init__(self, label: str, num_lines: int, *,
                 clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        if num_lines < 1:
            raise ValueError(f"a gpiochip needs at least one line, not {num_lines}")
        self.label = label
        self.num_lines = num_lines
        self._clock_ns = clock_ns
        self._lock = threading.Lock()
        self._lines = [_Line(i) for i in range(num_lines)]
        self._listeners: list[Callable[[OutputChange], None]] = []
        self.output_log: deque[OutputChange] = deque(maxlen=OUTPUT_LOG_SIZE)
        """The last output changes, oldest first."""

    def __repr__(self) -> str:
        return f"SimGpioChip({self.label!r}, {self.num_lines})"

    # --- tester / simctl side -----------------------------------------------------------------

    def set_input_level(self, offset: int, high: bool | None) -> int | None:
        """Drive an input line from outside (``None``: leave it floating, the bias decides).

        Queues an edge event (and wakes the request's fd) if the line's level changes and it
        is requested with edge detection; returns that event's timestamp, else ``None``."""
        with self._lock:
            line = self._line(offset)
            before = line.asserted
            line.external = high
            if line.asserted == before or line.request is None or not line.edges:
                return None
            line.seqno += 1
            timestamp_ns = self._clock_ns()
            line.request._queue_event(offset, Edge.RISING if line.asserted else Edge.FALLING,
                                      timestamp_ns, line.seqno)
            return timestamp_ns

    def input_level(self, offset: int) -> bool:
        """The physical level of a line as the chip sees it."""
        with self._lock:
            return self._line(offset).high

    def output_value(self, offset: int) -> bool:
        """The physical level of an output line: ``True`` is high (for an active-high relay,
        energised). A released output is at its rest level, low."""
        with self._lock:
            return self._line(offset).high

    def line_info(self, offset: int) -> SimLineInfo:
        with self._lock:
            line = self._line(offset)
            return SimLineInfo(offset, line.request is not None,
                               line.request.consumer if line.request else "",
                               line.direction, line.active_low, line.bias, line.high)

    def add_output_listener(self, listener: Callable[[OutputChange], None]
                            ) -> Callable[[], None]:
        """Call ``listener`` on every output change, in the thread that drove the output
        and before ``set_value`` returns; returns a function that removes it."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
        return remove

    # --- driver side (the sim backend) --------------------------------------------------------

    def request(self, inputs: Sequence[InputLine], outputs: Sequence[OutputLine], *,
                consumer: str) -> SimLineRequest:
        """Claim lines all at once, like ``GPIO_V2_GET_LINE_IOCTL``; ``OSError(EBUSY)`` if one
        is in use, ``OSError(EINVAL)`` for an offset the chip does not have."""
        offsets = [x.offset for x in inputs] + [x.offset for x in outputs]
        with self._lock:
            for offset in offsets:
                if not 0 <= offset < self.num_lines:
                    raise OSError(errno.EINVAL, f"{self.label} has lines 0-"
                                                f"{self.num_lines - 1}, not {offset}")
            if len(set(offsets)) != len(offsets):
                raise OSError(errno.EINVAL, "a line is requested twice in one request")
            for offset in offsets:
                if self._lines[offset].request is not None:
                    raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))
            request = SimLineRequest(self, tuple(offsets), consumer,
                                     EVENTS_PER_LINE * len(offsets))
            for spec in inputs:
                line = self._lines[spec.offset]
                line.request, line.direction, line.edges = request, "input", True
                line.active_low, line.bias, line.seqno = spec.active_low, spec.bias, 0
            changes: list[OutputChange] = []
            now = self._clock_ns()
            for out in outputs:
                line = self._lines[out.offset]
                was = line.high
                line.request, line.direction, line.edges = request, "output", False
                line.active_low, line.bias = out.active_low, "as-is"
                line.driven = out.initial != out.active_low
                if line.high != was:
                    changes.append(OutputChange(self.label, out.offset, line.high, now))
            self._log(changes)
        self._notify(changes)
        return request

    def _get(self, request: SimLineRequest, offsets: Iterable[int]) -> list[bool]:
        with self._lock:
            return [self._owned(request, offset).asserted for offset in offsets]

    def _set(self, request: SimLineRequest, offset: int, value: bool) -> None:
        with self._lock:
            line = self._owned(request, offset)
            if line.direction != "output":
                raise OSError(errno.EPERM, f"line {offset} is an input")
            line.driven = value != line.active_low
            change = OutputChange(self.label, offset, line.driven, self._clock_ns())
            self._log([change])
        self._notify([change])

    def _release(self, request: SimLineRequest) -> None:
        changes: list[OutputChange] = []
        with self._lock:
            now = self._clock_ns()
            for offset in request.offsets:
                line = self._lines[offset]
                if line.request is not request:
                    continue
                is_output = line.direction == "output"
                line.request, line.edges, line.direction = None, False, "input"
                line.active_low, line.bias = False, "as-is"
                if is_output:
                    changes.append(OutputChange(self.label, offset, line.high, now,
                                                released=True))
            self._log(changes)
        self._notify(changes)

    def _owned(self, request: SimLineRequest, offset: int) -> _Line:
        if request.released:
            raise OSError(errno.EBADF, "request released")
        line = self._line(offset)
        if line.request is not request:
            raise OSError(errno.EINVAL, f"line {offset} is not in this request")
        return line

    def _line(self, offset: int) -> _Line:
        if not 0 <= offset < self.num_lines:
            raise ValueError(f"{self.label} has lines 0-{self.num_lines - 1}, not {offset}")
        return self._lines[offset]

    def _log(self, changes: list[OutputChange]) -> None:
        self.output_log.extend(changes)

    def _notify(self, changes: list[OutputChange]) -> None:
        if not changes:
            return
        with self._lock:
            listeners = list(self._listeners)
        for change in changes:
            for listener in listeners:
                listener(change)


class SimLineRequest:
    """The sim's ``LineRequest`` (see ``hal.gpio.base.LineRequest`` for the contract)."""

    def __init__(self, chip: SimGpioChip, offsets: tuple[int, ...], consumer: str,
                 buffer_size: int) -> None:
        self._chip = chip
        self._offsets = offsets
        self.consumer = consumer
        self._events: deque[EdgeEvent] = deque(maxlen=buffer_size)
        self._cond = threading.Condition(threading.Lock())
        self._global_seqno = 0
        self.released = False
        # Non-blocking: a read of the counter never stalls the caller; "readable" is
        # "counter > 0", which holds while the queue is non-empty.
        self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)

    @property
    def chip(self) -> str:
        return self._chip.label

    @property
    def fd(self) -> int:
        if self.released:
            raise OSError(errno.EBADF, "request released")
        return self._fd

    @property
    def offsets(self) -> tuple[int, ...]:
        return self._offsets

    def kernel_debounce_ns(self, offset: int) -> int:
        return 0

    def read_edge_events(self) -> list[EdgeEvent]:
        """Every queued event; blocks while none is queued, like the kernel's read."""
        with self._cond:
            while not self._events and not self.released:
                self._cond.wait()
            if self.released:
                raise OSError(errno.EBADF, "request released")
            events = list(self._events)
            self._events.clear()
            os.eventfd_read(self._fd)
            return events

    def get_values(self, offsets: Sequence[int] | None = None) -> list[bool]:
        return self._chip._get(self, self._offsets if offsets is None else offsets)

    def set_value(self, offset: int, value: bool) -> None:
        self._chip._set(self, offset, value)

    def release(self) -> None:
        with self._cond:
            if self.released:
                return
            self.released = True
            self._events.clear()
            self._cond.notify_all()
        self._chip._release(self)
        os.close(self._fd)

    def _queue_event(self, offset: int, edge: Edge, timestamp_ns: int, seqno: int) -> None:
        with self._cond:
            self._global_seqno += 1
            was_empty = not self._events
            self._events.append(EdgeEvent(offset, edge, timestamp_ns, seqno,
                                          self._global_seqno))
            if was_empty:
                os.eventfd_write(self._fd, 1)
                self._cond.notify_all()


class SimGpioRegistry:
    """The simulated board's gpiochips, by label."""

    def __init__(self, chips: Iterable[SimGpioChip] = ()) -> None:
        self._chips: dict[str, SimGpioChip] = {}
        for chip in chips:
            self.add(chip)

    @classmethod
    def for_section(cls, section: GpioSection, *, min_lines: int = 32,
                    clock_ns: Callable[[], int] = time.monotonic_ns) -> SimGpioRegistry:
        """One chip per chip name in a board profile's GPIO section, big enough for its
        lines (so the sim board has exactly the chips its profile names)."""
        sizes: dict[str, int] = {}
        for _, line in section.lines():
            sizes[line.chip] = max(sizes.get(line.chip, min_lines), line.line + 1)
        return cls(SimGpioChip(label, n, clock_ns=clock_ns) for label, n in sizes.items())

    def add(self, chip: SimGpioChip) -> SimGpioChip:
        if chip.label in self._chips:
            raise ValueError(f"a sim gpiochip labelled {chip.label!r} already exists")
        self._chips[chip.label] = chip
        return chip

    def chip(self, label: str) -> SimGpioChip:
        try:
            return self._chips[label]
        except KeyError:
            raise ChipNotFoundError(label, sorted(self._chips)) from None

    @property
    def labels(self) -> list[str]:
        return sorted(self._chips)


class SimGpioBackend:
    """``GpioBackend`` on a registry of sim chips, found by label."""

    def __init__(self, registry: SimGpioRegistry) -> None:
        self.registry = registry

    def request_inputs(self, chip: str, lines: Sequence[InputLine], *,
                       consumer: str) -> SimLineRequest:
        return self._request(chip, lines, (), consumer)

    def request_outputs(self, chip: str, lines: Sequence[OutputLine], *,
                        consumer: str) -> SimLineRequest:
        return self._request(chip, (), lines, consumer)

    def _request(self, chip_name: str, inputs: Sequence[InputLine],
                 outputs: Sequence[OutputLine], consumer: str) -> SimLineRequest:
        chip = self.registry.chip(chip_name)
        try:
            return chip.request(inputs, outputs, consumer=consumer)
        except OSError as err:
            offsets = [x.offset for x in inputs] + [x.offset for x in outputs]
            if err.errno == errno.EBUSY:
                busy = next(chip.line_info(o) for o in offsets if chip.line_info(o).used)
                raise LineBusyError(chip_name, busy.offset, busy.consumer) from err
            raise LineRequestError(chip_name, offsets[0] if len(offsets) == 1 else None,
                                   f"request refused: {err.strerror}",
                                   errno=err.errno) from err
