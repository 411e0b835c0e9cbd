"""Shared helpers of the accounts tests: cheap scrypt parameters, a settable clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from nvrd.accounts.passwords import ScryptParams
from nvrd.accounts.store import AccountStore

FAST = ScryptParams(n=16, r=1, p=1)
"""Cheap parameters so store tests run in milliseconds; one test uses the real ones."""
ADMIN_PASSWORD = "Kx9#mQ2vLp"
GOOD_PASSWORD = "Tr4il-Ridge"


class FakeClock:
    """A wall clock tests set and advance (UTC, timezone-aware)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


MakeStore = Callable[..., AccountStore]
