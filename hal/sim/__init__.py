"""The simulated board (``SimBoard``) and its devices, each at the lowest seam.

``SimBoard`` is loaded on first use: the device modules import the real drivers' packages,
some of which import their sim module lazily, so an eager import here would tie them in a
cycle and make every ``hal.sim.*`` import pull in the whole board.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hal.sim.board import SimBoard

__all__ = ["SimBoard"]


def __getattr__(name: str) -> Any:
    if name == "SimBoard":
        from hal.sim.board import SimBoard

        return SimBoard
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
