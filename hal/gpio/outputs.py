"""Alarm outputs: the relays and the buzzer, failing safe.

Safe means *released* (relay open, buzzer silent), at every stage:

* lines are claimed already driven inactive (the kernel sets the level with the request),
  so start-up never pulses a relay;
* ``close`` drives every output inactive, one by one, each attempt independent of the
  others' failures, and only then releases the lines; it runs from ``with``/``async with``
  exits, so an exception in the daemon still opens the relays;
* if the process dies without ``close``, the kernel releases the lines and the board's
  pull resistors leave the relays open (the board profile's relays are wired that way).

``set_relay`` and ``set_buzzer`` are one ioctl each and safe on the event loop: they are
the end of the alarm-to-relay path. ``beep`` runs a pattern as a task and returns at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType

from hal.board import Buzzer, GpioSection, RelayOutput
from hal.gpio.base import GpioBackend, GpioError, LineRequest, LineRequestError, OutputLine

__all__ = ["AlarmOutputs", "OutputStates", "UnknownOutputError"]

logger = logging.getLogger(__name__)

BUZZER = "buzzer"


class UnknownOutputError(LookupError):
    """The board has no such relay (or no buzzer)."""

    def __init__(self, name: str, available: Sequence[str]) -> None:
        self.name = name
        self.available = tuple(available)
        super().__init__(f"no {name} on this board (outputs: "
                         f"{', '.join(self.available) or 'none'})")


@dataclass(frozen=True, slots=True)
class OutputStates:
    """What nvrd drives: ``relays[number]`` and the buzzer (``None``: the board has none)."""

    relays: Mapping[int, bool]
    buzzer: bool | None


class _Output:
    __slots__ = ("chip", "line", "name", "on", "request", "spec")

    def __init__(self, name: str, spec: RelayOutput | Buzzer) -> None:
        self.name = name
        self.spec = spec
        self.chip = spec.chip
        self.line = spec.line
        self.request: LineRequest | None = None
        self.on = False


class AlarmOutputs:
    """Relays and buzzer of one board. ``open()`` (or ``with``) claims them, all off."""

    def __init__(self, relays: Sequence[RelayOutput], buzzer: Buzzer | None,
                 backend: GpioBackend, *, consumer: str = "nvrd") -> None:
        self._outputs: dict[str, _Output] = {f"relay {r.number}": _Output(f"relay {r.number}", r)
                                             for r in sorted(relays, key=lambda r: r.number)}
        if buzzer is not None:
            self._outputs[BUZZER] = _Output(BUZZER, buzzer)
        self._backend = backend
        self._consumer = consumer
        self._requests: list[LineRequest] = []
        self._beep: asyncio.Task[None] | None = None

    @classmethod
    def from_section(cls, section: GpioSection, backend: GpioBackend, *,
                     consumer: str = "nvrd") -> AlarmOutputs:
        return cls(section.relays, section.buzzer, backend, consumer=consumer)

    def __enter__(self) -> AlarmOutputs:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> AlarmOutputs:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def open(self) -> None:
        """Claim every output, driven inactive (one request per chip). All or nothing."""
        if self._requests:
            raise RuntimeError("alarm outputs already open")
        chips: dict[str, list[_Output]] = {}
        for out in self._outputs.values():
            chips.setdefault(out.chip, []).append(out)
        try:
            for chip, outs in chips.items():
                lines = [OutputLine(o.line, o.spec.active_low, initial=False) for o in outs]
                try:
                    request = self._backend.request_outputs(chip, lines,
                                                            consumer=self._consumer)
                except GpioError as err:
                    culprit = next((o for o in outs if o.line == err.line), None)
                    raise err.for_signal(culprit.name if culprit else
                                         ", ".join(o.name for o in outs)) from err
                self._requests.append(request)
                for out in outs:
                    out.request, out.on = request, False
        except BaseException:
            self.close()
            raise

    def set_relay(self, number: int, on: bool) -> None:
        self._set(self._output(f"relay {number}"), on)

    def set_buzzer(self, on: bool) -> None:
        """Switch the buzzer; stops a running ``beep``."""
        out = self._output(BUZZER)
        self._cancel_beep()
        self._set(out, on)

    def beep(self, *, on_s: float = 0.2, off_s: float = 0.2, count: int = 3
             ) -> asyncio.Task[None]:
        """Beep ``count`` times without blocking the loop; returns the task. A new beep or
        ``set_buzzer`` stops the running one; the buzzer is off when the task ends, however
        it ends."""
        out = self._output(BUZZER)
        if on_s <= 0 or off_s < 0 or count < 1:
            raise ValueError(f"beep needs on_s > 0, off_s >= 0, count >= 1, not "
                             f"{on_s}, {off_s}, {count}")
        self._cancel_beep()
        self._beep = asyncio.get_running_loop().create_task(
            self._run_beep(out, on_s, off_s, count), name="buzzer-beep")
        return self._beep

    def states(self) -> OutputStates:
        relays = {o.spec.number: o.on for o in self._outputs.values()
                  if isinstance(o.spec, RelayOutput)}
        buzzer = self._outputs.get(BUZZER)
        return OutputStates(relays, None if buzzer is None else buzzer.on)

    def close(self) -> None:
        """Drive every output inactive, then release the lines. Never raises: it runs on
        the way out, and a failure on one output must not leave the others on. Idempotent."""
        self._cancel_beep()
        for out in self._outputs.values():
            if out.request is None:
                continue
            try:
                out.request.set_value(out.line, False)
                out.on = False
            except (OSError, GpioError):
                logger.exception("could not switch %s off (gpiochip %r line %d) before "
                                 "releasing it", out.name, out.chip, out.line)
            out.request = None
        requests, self._requests = self._requests, []
        for request in requests:
            try:
                request.release()
            except (OSError, GpioError):
                logger.exception("releasing outputs on gpiochip %r", request.chip)

    # --- internals ------------------------------------------------------------------------

    def _output(self, name: str) -> _Output:
        try:
            return self._outputs[name]
        except KeyError:
            raise UnknownOutputError(name, list(self._outputs)) from None

    def _set(self, out: _Output, on: bool) -> None:
        if out.request is None:
            raise LineRequestError(out.chip, out.line, "is not claimed (outputs not open)",
                                   signal=out.name)
        try:
            out.request.set_value(out.line, on)
        except OSError as err:
            raise LineRequestError(out.chip, out.line, f"cannot be driven: {err.strerror}",
                                   signal=out.name, errno=err.errno) from err
        except GpioError as err:
            raise err.for_signal(out.name) from err
        out.on = on

    def _cancel_beep(self) -> None:
        if self._beep is not None and not self._beep.done():
            self._beep.cancel()
        self._beep = None

    async def _run_beep(self, out: _Output, on_s: float, off_s: float, count: int) -> None:
        try:
            for i in range(count):
                self._set(out, True)
                await asyncio.sleep(on_s)
                self._set(out, False)
                if i + 1 < count:
                    await asyncio.sleep(off_s)
        finally:
            # Not when a newer beep or set_buzzer took over: the buzzer is theirs now.
            if asyncio.current_task() is self._beep and out.request is not None and out.on:
                try:
                    self._set(out, False)
                except GpioError:
                    logger.exception("could not silence the buzzer after a beep")
