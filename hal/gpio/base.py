"""The GPIO backend seam: request lines on a gpiochip, read edges, drive outputs.

The shape is libgpiod v2's ``LineRequest`` (``fd``, ``read_edge_events``, ``get_values``,
``set_value``, ``release``), narrowed to what alarm I/O needs, so the real backend
(``gpiod_backend.GpiodBackend``) is a thin adapter and the simulated gpiochip
(``hal.sim.gpio``) can offer the same fd-driven behaviour: the alarm code runs unchanged
against either.

Values crossing this seam are *logical*: the backend applies ``active_low`` (the kernel does
it for the chardev), so ``True`` means "asserted" and an edge is ``RISING`` when the line
becomes asserted. Contact type (NO/NC) is not a line property and is applied above this seam.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from errno import EBUSY
from typing import Literal, Protocol

__all__ = [
    "Bias",
    "ChipNotFoundError",
    "Edge",
    "EdgeEvent",
    "GpioBackend",
    "GpioError",
    "InputLine",
    "LineBusyError",
    "LineRequest",
    "LineRequestError",
    "OutputLine",
]

Bias = Literal["pull-up", "pull-down", "disabled", "as-is"]


class Edge(enum.Enum):
    """Direction of a logical edge (after ``active_low``)."""

    RISING = "rising"
    FALLING = "falling"


@dataclass(frozen=True, slots=True)
class EdgeEvent:
    """One edge as the kernel reports it."""

    offset: int
    """Line offset on its chip."""
    edge: Edge
    """``RISING``: the line became asserted (logical 1)."""
    timestamp_ns: int
    """CLOCK_MONOTONIC nanoseconds, taken by the kernel (or the sim) when the edge was seen,
    not when userspace read it; comparable with ``time.monotonic_ns()``."""
    seqno: int
    """Per-line sequence number starting at 1; a gap means the kernel's event buffer
    overflowed and edges were lost (the last event still tells the current level)."""
    global_seqno: int = 0
    """Sequence number across all lines of the request."""

    @property
    def asserted(self) -> bool:
        """The line's logical level right after this edge."""
        return self.edge is Edge.RISING


@dataclass(frozen=True, slots=True)
class InputLine:
    """An input to request with edge detection on both edges."""

    offset: int
    active_low: bool = False
    bias: Bias = "as-is"
    debounce_ms: int = 0
    """Debounce period to ask the kernel for; 0 for none. The backend may not apply it
    (``LineRequest.kernel_debounce_ns`` says what it did), and the caller then debounces in
    software."""


@dataclass(frozen=True, slots=True)
class OutputLine:
    """An output to request, driven to ``initial`` (logical) from the moment it is claimed."""

    offset: int
    active_low: bool = False
    initial: bool = False


# --- errors ------------------------------------------------------------------------------------


class GpioError(Exception):
    """A GPIO operation failed. ``signal`` names what the line is for ("alarm input 3") once
    a caller that knows has added it (``for_signal``); ``errno`` is the kernel's, if any."""

    def __init__(self, chip: str, line: int | None, reason: str, *,
                 signal: str | None = None, errno: int | None = None) -> None:
        self.chip = chip
        self.line = line
        self.reason = reason
        self.signal = signal
        self.errno = errno
        where = f"gpiochip '{chip}'" + ("" if line is None else f" line {line}")
        super().__init__(f"{signal + ': ' if signal else ''}{where} {reason}")

    def for_signal(self, signal: str) -> GpioError:
        """The same error, prefixed with what the line is for."""
        return type(self)(self.chip, self.line, self.reason, signal=signal, errno=self.errno)


class ChipNotFoundError(GpioError):
    """No gpiochip with this path or label."""

    def __init__(self, chip: str, available: Sequence[str] = (), *,
                 signal: str | None = None) -> None:
        self.available = tuple(available)
        have = ", ".join(self.available) or "none"
        super().__init__(chip, None, f"not found (chips present: {have})", signal=signal)

    def for_signal(self, signal: str) -> ChipNotFoundError:
        return ChipNotFoundError(self.chip, self.available, signal=signal)


class LineBusyError(GpioError):
    """The line is already requested, by another process or by another part of nvrd."""

    def __init__(self, chip: str, line: int, consumer: str, *,
                 signal: str | None = None) -> None:
        self.consumer = consumer
        super().__init__(chip, line, f"is already used by '{consumer or '?'}'", signal=signal,
                         errno=EBUSY)

    def for_signal(self, signal: str) -> LineBusyError:
        return LineBusyError(self.chip, self.line or 0, self.consumer, signal=signal)


class LineRequestError(GpioError):
    """The kernel refused a request or an operation for another reason (bad offset,
    permissions, EINVAL), or the line's request is gone."""


# --- the seam ----------------------------------------------------------------------------------


class LineRequest(Protocol):
    """A set of lines claimed on one chip. Lines stay claimed until ``release``.

    Contract:

    * ``fd`` becomes readable while edge events are queued; ``read_edge_events`` must be
      called only then (like the kernel's, it blocks on an empty queue). Register it with
      ``loop.add_reader``.
    * Edge events of one request come in kernel order, timestamps non-decreasing.
    * ``get_values`` and ``set_value`` are single ioctls: fast, safe on the event loop.
    * ``release`` is idempotent. After it, outputs are no longer driven: the line goes to
      whatever the board's pull resistors make it, which is why boards wire relays so that
      an undriven line leaves them open.
    """

    @property
    def chip(self) -> str:
        """The chip as named in the board profile (path or label), for messages."""
        ...

    @property
    def fd(self) -> int: ...

    @property
    def offsets(self) -> tuple[int, ...]: ...

    def kernel_debounce_ns(self, offset: int) -> int:
        """The debounce period the kernel applies to this input, 0 if none."""
        ...

    def read_edge_events(self) -> list[EdgeEvent]: ...

    def get_values(self, offsets: Sequence[int] | None = None) -> list[bool]:
        """Logical levels of ``offsets`` (all requested lines when ``None``), in that order."""
        ...

    def set_value(self, offset: int, value: bool) -> None:
        """Drive an output to a logical level."""
        ...

    def release(self) -> None: ...


class GpioBackend(Protocol):
    """Claims lines on gpiochips named by /dev path or by label.

    Contract: a failed request claims nothing (all lines of one call or none). Errors are
    ``GpioError`` subclasses naming the chip and, when known, the line: ``LineBusyError``
    when a line is held by another consumer, ``ChipNotFoundError`` for an unknown chip.
    """

    def request_inputs(self, chip: str, lines: Sequence[InputLine], *,
                       consumer: str) -> LineRequest:
        """Claim inputs with edge detection on both edges and CLOCK_MONOTONIC timestamps."""
        ...

    def request_outputs(self, chip: str, lines: Sequence[OutputLine], *,
                        consumer: str) -> LineRequest:
        """Claim outputs, each driven to its ``initial`` level as it is claimed (no glitch
        through the opposite level)."""
        ...
