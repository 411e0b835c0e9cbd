"""The PTZ interface the daemon programs against, one object per camera channel.

Contract for every implementation:

- Calls are async and return once the command is on its way to the camera (for RS-485,
  once the frame has left the UART); there is no acknowledgement in Pelco, so success
  means "sent", not "done". Queries return the camera's answer or raise.
- Continuous actions (move, zoom, focus, iris) go on until :meth:`stop` or the next
  motion call, which replaces them: ``move(pan=LEFT)`` then ``zoom(IN)`` stops the pan.
- Speeds are 0..63 (0x3F); out-of-range speeds are clamped, never rejected, because a
  joystick or a linkage rule should move the camera rather than fail.
- Presets and auxiliaries are numbered as on the camera (1-based). Invalid numbers raise
  ``ValueError`` before anything is sent.
- Errors are :class:`hal.ptz.errors.PtzError` subclasses (bus gone, no reply).
- Optional features default to raising ``NotImplementedError``: :meth:`position`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from hal.ptz.commands import Focus, Iris, Pan, Tilt, Zoom

__all__ = ["DEFAULT_SPEED", "PtzCamera", "PtzPosition"]

DEFAULT_SPEED = 0x20
"""Half speed: what a single click of a direction button sends."""


@dataclass(frozen=True, slots=True)
class PtzPosition:
    """Where the camera points, as the dome reports it."""

    pan_cdeg: int
    """Pan in 1/100 degree, 0..35999."""
    tilt_cdeg: int
    """Tilt in 1/100 degree (dome-specific zero and sign; Pelco domes: 0 = horizon)."""
    zoom: int
    """Zoom position, dome-specific scale (0 = widest)."""


class PtzCamera(ABC):
    """A pan/tilt/zoom camera on one channel."""

    @abstractmethod
    async def move(self, pan: Pan = Pan.STOP, tilt: Tilt = Tilt.STOP, *,
                   pan_speed: int = DEFAULT_SPEED, tilt_speed: int = DEFAULT_SPEED,
                   turbo: bool = False) -> None:
        """Pan and/or tilt (both at once for diagonals) until told otherwise."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop every motion: pan, tilt, zoom, focus, iris."""

    @abstractmethod
    async def zoom(self, zoom: Zoom) -> None:
        """Zoom in/out until stopped."""

    @abstractmethod
    async def focus(self, focus: Focus) -> None:
        """Drive focus near/far until stopped."""

    @abstractmethod
    async def iris(self, iris: Iris) -> None:
        """Open/close the iris until stopped."""

    @abstractmethod
    async def set_preset(self, preset: int) -> None:
        """Store the current position as ``preset``."""

    @abstractmethod
    async def call_preset(self, preset: int, *, speed: int | None = None) -> None:
        """Go to ``preset``. ``speed`` is a hint for cameras that take a travel speed;
        Pelco has no standard command for it, so Pelco domes ignore it."""

    @abstractmethod
    async def clear_preset(self, preset: int) -> None:
        """Forget ``preset``."""

    @abstractmethod
    async def aux(self, number: int, on: bool) -> None:
        """Switch auxiliary output ``number`` (wiper, light, relay) on or off."""

    @abstractmethod
    async def pattern_start(self) -> None:
        """Start recording a pattern: the moves that follow are memorised."""

    @abstractmethod
    async def pattern_stop(self) -> None:
        """Stop recording the pattern."""

    @abstractmethod
    async def pattern_run(self) -> None:
        """Replay the recorded pattern (until the next motion command)."""

    async def position(self) -> PtzPosition:
        """Ask the camera where it points. Not every camera can answer."""
        raise NotImplementedError(f"{type(self).__name__} cannot report its position")

    async def zoom_in(self) -> None:
        await self.zoom(Zoom.IN)

    async def zoom_out(self) -> None:
        await self.zoom(Zoom.OUT)

    async def focus_near(self) -> None:
        await self.focus(Focus.NEAR)

    async def focus_far(self) -> None:
        await self.focus(Focus.FAR)

    async def iris_open(self) -> None:
        await self.iris(Iris.OPEN)

    async def iris_close(self) -> None:
        await self.iris(Iris.CLOSE)

    async def aux_on(self, number: int) -> None:
        await self.aux(number, True)

    async def aux_off(self, number: int) -> None:
        await self.aux(number, False)
