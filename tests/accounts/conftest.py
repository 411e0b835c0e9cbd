"""Fixtures for the accounts tests (helpers in ``tests/accounts/helpers.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nvrd.accounts.store import AccountStore
from tests.accounts.helpers import ADMIN_PASSWORD, FAST, FakeClock, MakeStore


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 4, 12, 0, tzinfo=UTC))  # a Wednesday



@pytest.fixture
def make_store(tmp_path: Path, clock: FakeClock) -> Iterator[MakeStore]:
    """Opens (or reopens) the store file in tmp_path; every store is closed at the end."""
    opened: list[AccountStore] = []

    def make(**kwargs: object) -> AccountStore:
        kwargs.setdefault("params", FAST)
        kwargs.setdefault("clock", clock)
        store = AccountStore(tmp_path / "accounts.sqlite3", **kwargs)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: MakeStore) -> AccountStore:
    """An initialized store: admin user "admin" with ADMIN_PASSWORD."""
    s = make_store()
    s.initialize(ADMIN_PASSWORD)
    return s
