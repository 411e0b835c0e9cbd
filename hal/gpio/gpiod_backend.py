"""``GpioBackend`` on the GPIO character device through libgpiod v2 (pip ``gpiod`` 2.x).

Why v2 and the chardev: sysfs GPIO is obsolete and has no timestamps, bias or debounce;
Debian's ``python3-libgpiod`` is the incompatible v1 API, hence the pinned pip package.

Kernel facts this relies on (uAPI v2, Linux >= 5.10):

* ``active_low`` is applied by the kernel to values *and* edges: with it, a falling
  physical edge is reported as ``RISING_EDGE``. Values crossing our seam are logical.
* Edge timestamps are CLOCK_MONOTONIC (``event_clock`` default), comparable with
  ``time.monotonic_ns()`` and the event loop's clock.
* ``debounce_period`` uses the controller's hardware debounce when it has one, and
  otherwise gpiolib-cdev debounces in software in the kernel; either way a level must be
  stable for the period before an edge is reported. If the kernel still refuses it
  (EINVAL/ENOTSUPP from an old or unusual driver), the lines are requested again without
  it, ``kernel_debounce_ns`` returns 0 and the caller debounces in userspace. What was
  applied is read back from the line info, not assumed.
* Lines are held while the request is open; edges are only reported for changes, so the
  initial level has to be read with ``get_values`` (the alarm code does).

The chip is opened per request and closed right after (as ``gpiod.request_lines`` does);
the request keeps its own fd. ``open_chip`` and ``is_gpiochip`` are injected so the code
that builds ``LineSettings`` and maps errors is tested without a /dev/gpiochip.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import gpiod
from gpiod.line import Bias as GBias
from gpiod.line import Clock, Direction, Value
from gpiod.line import Edge as GEdge

from hal.gpio.base import (
    Bias,
    ChipNotFoundError,
    Edge,
    EdgeEvent,
    GpioError,
    InputLine,
    LineBusyError,
    LineRequestError,
    OutputLine,
)

__all__ = ["GpiodBackend", "GpiodLineRequest", "input_settings", "output_settings"]

logger = logging.getLogger(__name__)

_BIAS: dict[Bias, GBias] = {
    "pull-up": GBias.PULL_UP,
    "pull-down": GBias.PULL_DOWN,
    "disabled": GBias.DISABLED,
    "as-is": GBias.AS_IS,
}
ENOTSUPP = 524
"""The kernel-internal ENOTSUPP, which some drivers leak to userspace."""
_DEBOUNCE_REFUSED = {errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, ENOTSUPP}


class ChipLike(Protocol):
    """The part of ``gpiod.Chip`` this backend uses."""

    def __enter__(self) -> ChipLike: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...
    def get_info(self) -> Any: ...
    def get_line_info(self, line: int | str) -> Any: ...
    def request_lines(self, config: dict[Any, gpiod.LineSettings | None], consumer: str | None
                      = None, event_buffer_size: int | None = None) -> Any: ...


def input_settings(line: InputLine, *, debounce: bool = True) -> gpiod.LineSettings:
    """Settings of an alarm input: both edges, monotonic timestamps, bias and polarity from
    the board, and the kernel debounce period (unless ``debounce`` is off)."""
    return gpiod.LineSettings(
        direction=Direction.INPUT,
        edge_detection=GEdge.BOTH,
        bias=_BIAS[line.bias],
        active_low=line.active_low,
        debounce_period=timedelta(milliseconds=line.debounce_ms if debounce else 0),
        event_clock=Clock.MONOTONIC,
    )


def output_settings(line: OutputLine) -> gpiod.LineSettings:
    """Settings of a relay or buzzer output: driven to its initial level as it is claimed."""
    return gpiod.LineSettings(
        direction=Direction.OUTPUT,
        active_low=line.active_low,
        output_value=Value.ACTIVE if line.initial else Value.INACTIVE,
    )


class GpiodLineRequest:
    """A ``gpiod.LineRequest`` seen through our seam (logical bools, our ``EdgeEvent``)."""

    def __init__(self, request: Any, chip: str, debounce_ns: dict[int, int]) -> None:
        self._request = request
        self._chip = chip
        self._offsets = tuple(int(o) for o in request.offsets)
        self._debounce_ns = debounce_ns
        self._released = False

    @property
    def chip(self) -> str:
        return self._chip

    @property
    def fd(self) -> int:
        return int(self._request.fd)

    @property
    def offsets(self) -> tuple[int, ...]:
        return self._offsets

    def kernel_debounce_ns(self, offset: int) -> int:
        return self._debounce_ns.get(offset, 0)

    def read_edge_events(self) -> list[EdgeEvent]:
        return [EdgeEvent(e.line_offset,
                          Edge.RISING if e.event_type is gpiod.EdgeEvent.Type.RISING_EDGE
                          else Edge.FALLING,
                          e.timestamp_ns, e.line_seqno, e.global_seqno)
                for e in self._request.read_edge_events()]

    def get_values(self, offsets: Sequence[int] | None = None) -> list[bool]:
        wanted = list(self._offsets if offsets is None else offsets)
        return [v == Value.ACTIVE for v in self._request.get_values(wanted)]

    def set_value(self, offset: int, value: bool) -> None:
        self._request.set_value(offset, Value.ACTIVE if value else Value.INACTIVE)

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._request.release()


class GpiodBackend:
    """Lines on ``/dev/gpiochip*``; a chip is named by path or by label."""

    def __init__(self, *, dev_dir: Path = Path("/dev"),
                 open_chip: Callable[[str], ChipLike] | None = None,
                 is_gpiochip: Callable[[str], bool] | None = None) -> None:
        self._dev_dir = dev_dir
        self._open_chip: Callable[[str], ChipLike] = open_chip or gpiod.Chip
        self._is_gpiochip = is_gpiochip or gpiod.is_gpiochip_device
        self._paths: dict[str, str] = {}

    @classmethod
    def probe(cls, dev_dir: Path = Path("/dev"),
              is_gpiochip: Callable[[str], bool] | None = None) -> bool:
        """Whether this machine has any gpiochip this backend could use."""
        check = is_gpiochip or gpiod.is_gpiochip_device
        return any(check(str(p)) for p in sorted(dev_dir.glob("gpiochip*")))

    def request_inputs(self, chip: str, lines: Sequence[InputLine], *,
                       consumer: str) -> GpiodLineRequest:
        config = {x.offset: input_settings(x) for x in lines}
        wants_debounce = any(x.debounce_ms > 0 for x in lines)
        try:
            return self._request(chip, config, consumer, [x.offset for x in lines])
        except LineRequestError as err:
            if not wants_debounce or err.errno not in _DEBOUNCE_REFUSED:
                raise
            logger.warning("gpiochip %r refused kernel debounce on lines %s (%s); "
                           "debouncing in software", chip, sorted(config), err.reason)
        config = {x.offset: input_settings(x, debounce=False) for x in lines}
        return self._request(chip, config, consumer, [x.offset for x in lines])

    def request_outputs(self, chip: str, lines: Sequence[OutputLine], *,
                        consumer: str) -> GpiodLineRequest:
        config = {x.offset: output_settings(x) for x in lines}
        return self._request(chip, config, consumer, [x.offset for x in lines])

    def _request(self, chip: str, config: dict[int, gpiod.LineSettings], consumer: str,
                 offsets: list[int]) -> GpiodLineRequest:
        path = self.chip_path(chip)
        try:
            with self._open_chip(path) as handle:
                try:
                    request = handle.request_lines(config=dict(config), consumer=consumer)
                except OSError as err:
                    raise self._request_error(handle, chip, offsets, err) from err
                debounce_ns = {o: self._debounce_ns(handle, o) for o in offsets
                               if config[o].debounce_period > timedelta(0)}
        except OSError as err:  # opening the chip itself
            if err.errno == errno.ENOENT:
                raise ChipNotFoundError(chip, self._chip_paths()) from err
            if err.errno in (errno.ENODEV, errno.ENOTTY):
                raise LineRequestError(chip, None, "is not a GPIO character device",
                                       errno=err.errno) from err
            raise LineRequestError(chip, None, f"cannot be opened: {err.strerror or err}",
                                   errno=err.errno) from err
        return GpiodLineRequest(request, chip, debounce_ns)

    @staticmethod
    def _debounce_ns(handle: ChipLike, offset: int) -> int:
        """What the kernel applied. Unknown counts as none: the software debounce then runs
        on top (later, never less safe)."""
        try:
            info = handle.get_line_info(offset)
        except OSError:
            logger.warning("cannot read line %d's info to check its debounce", offset)
            return 0
        if not info.debounced:
            return 0
        return int(info.debounce_period / timedelta(microseconds=1)) * 1000

    @staticmethod
    def _request_error(handle: ChipLike, chip: str, offsets: list[int],
                       err: OSError) -> GpioError:
        if err.errno == errno.EBUSY:
            for offset in offsets:
                info = handle.get_line_info(offset)
                if info.used:
                    return LineBusyError(chip, offset, info.consumer)
        line = offsets[0] if len(offsets) == 1 else None
        return LineRequestError(chip, line, f"request refused: {err.strerror or err}",
                                errno=err.errno)

    def chip_path(self, chip: str) -> str:
        """The /dev path of a chip named by path or by label (labels survive renumbering)."""
        if chip.startswith("/"):
            return chip
        if chip not in self._paths:
            for path in self._chip_paths():
                try:
                    with self._open_chip(path) as handle:
                        label = handle.get_info().label
                except OSError:
                    continue
                self._paths.setdefault(label, path)
        try:
            return self._paths[chip]
        except KeyError:
            raise ChipNotFoundError(chip, sorted(self._paths)) from None

    def _chip_paths(self) -> list[str]:
        return [str(p) for p in sorted(self._dev_dir.glob("gpiochip*"))
                if self._is_gpiochip(str(p))]
