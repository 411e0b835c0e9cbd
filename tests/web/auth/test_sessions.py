"""The in-memory session store: idle logout on an injected clock, bounds, and secrets
kept out of everything it hands out."""

from __future__ import annotations

import pytest

from nvrd.accounts.rights import USER_RIGHTS, Rights
from nvrd.web.auth.sessions import NewSession, SessionExpired, SessionStore
from tests.web.auth.harness import MonoClock


def _store(minutes: list[int], clock: MonoClock, **kwargs: int) -> SessionStore:
    return SessionStore(lambda: minutes[0], clock=clock, wall_clock=lambda: 1_700_000_000,
                        **kwargs)


def _open(store: SessionStore, user: str = "viewer", ip: str = "192.0.2.7") -> NewSession:
    return store.create(user, ip=ip, user_agent="Firefox", password_changed_us=1,
                        rights=USER_RIGHTS)


def test_a_session_is_found_by_its_secret_only() -> None:
    clock = MonoClock()
    store = _store([15], clock)
    new = _open(store)
    assert store.lookup(new.secret) is new.session
    assert store.lookup(new.secret + "x") is None
    assert store.lookup(new.session.id) is None  # the public id is not a credential
    assert new.session.id != new.secret and new.session.csrf_token != new.secret
    assert new.secret not in repr(new) and new.secret not in repr(new.session)
    assert new.session.csrf_token not in repr(new.session)
    assert new.secret not in repr(store.online())


def test_an_idle_session_ends_and_use_keeps_it_alive() -> None:
    clock = MonoClock()
    minutes = [15]
    store = _store(minutes, clock)
    new = _open(store)
    clock.advance(14 * 60)
    session = store.lookup(new.secret)
    assert session is not None
    store.touch(session)
    clock.advance(14 * 60)
    assert store.lookup(new.secret) is not None  # not touched: idle 14 min
    clock.advance(60)
    with pytest.raises(SessionExpired) as caught:
        store.lookup(new.secret)
    assert caught.value.idle_minutes == 15 and "15 minute" in str(caught.value)
    assert store.lookup(new.secret) is None and len(store) == 0


def test_the_idle_limit_is_read_at_each_lookup() -> None:
    clock = MonoClock()
    minutes = [0]
    store = _store(minutes, clock)
    new = _open(store)
    clock.advance(10 * 3600)
    assert store.lookup(new.secret) is not None  # 0 = never
    minutes[0] = 5  # a reload
    with pytest.raises(SessionExpired):
        store.lookup(new.secret)


def test_listing_purges_expired_sessions_and_shows_idle_time() -> None:
    clock = MonoClock()
    store = _store([1], clock)
    _open(store, "old")
    clock.advance(30)
    fresh = _open(store, "new")
    clock.advance(40)
    online = store.online()
    assert [(s.user, s.id, s.idle_seconds) for s in online] == [("new", fresh.session.id, 40)]


def test_sessions_are_bounded_per_user_and_in_total() -> None:
    clock = MonoClock()
    store = _store([0], clock, max_sessions=4, max_per_user=2)
    first = _open(store, "a")
    clock.advance(1)
    second = _open(store, "A")  # names ignore case
    clock.advance(1)
    third = _open(store, "a")
    assert store.lookup(first.secret) is None  # the least recently used of "a" went
    assert store.lookup(second.secret) is not None and store.lookup(third.secret) is not None
    clock.advance(1)
    others = [_open(store, name) for name in ("b", "c")]
    assert len(store) == 4
    clock.advance(1)
    _open(store, "d")
    assert len(store) == 4 and store.lookup(second.secret) is None
    assert all(store.lookup(o.secret) is not None for o in others)


def test_drop_user_can_keep_one_session_and_rebind_updates_it() -> None:
    clock = MonoClock()
    store = _store([0], clock)
    keep, other = _open(store), _open(store)
    bystander = _open(store, "admin")
    ended = store.drop_user("VIEWER", keep=keep.session.id)
    assert [s.id for s in ended] == [other.session.id]
    assert store.lookup(keep.secret) is not None and store.lookup(other.secret) is None
    assert store.lookup(bystander.secret) is not None
    rights = Rights(all_channels=USER_RIGHTS.all_channels)
    store.rebind(keep.session.id, password_changed_us=99, rights=rights)
    assert keep.session.password_changed_us == 99
    assert store.drop(keep.session.id) is keep.session and store.drop(keep.session.id) is None
