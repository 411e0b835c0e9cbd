from __future__ import annotations

import pytest

from nvrd.accounts.lockout import LockEvent, LockInfo, LockKind, LockoutTracker, ip_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tracker(clock: Clock) -> LockoutTracker:
    return LockoutTracker(max_attempts=5, lock_seconds=300, clock=clock)


def test_account_locks_after_n_failures_from_many_addresses(tracker: LockoutTracker) -> None:
    for i in range(4):
        assert tracker.failure("Alice", f"10.0.0.{i}") == []
        assert tracker.check("alice", "10.0.0.99") is None
    events = tracker.failure("alice", "10.0.0.4")
    assert events == [LockEvent(LockKind.ACCOUNT, "alice", 5, 300.0)]
    locked = tracker.check("ALICE", "10.0.0.99")
    assert locked is not None
    assert locked.account_remaining_seconds == 300.0
    assert locked.ip_remaining_seconds is None
    assert locked.retry_after_seconds == 300.0
    assert tracker.check("bob", "10.0.0.1") is None  # no address was locked


def test_address_locks_across_usernames(tracker: LockoutTracker) -> None:
    for name in ["a", "b", "c", "d"]:
        assert tracker.failure(name, "192.0.2.7") == []
    assert tracker.failure("e", "192.0.2.7") == [LockEvent(LockKind.IP, "192.0.2.7", 5, 300.0)]
    locked = tracker.check("somebody", "192.0.2.7")
    assert locked is not None and locked.ip_remaining_seconds == 300.0
    assert locked.account_remaining_seconds is None
    assert tracker.check("somebody", "192.0.2.8") is None


def test_both_locked_says_both(tracker: LockoutTracker) -> None:
    events: list[LockEvent] = []
    for _ in range(5):
        events += tracker.failure("carol", "198.51.100.1")
    assert {e.kind for e in events} == {LockKind.ACCOUNT, LockKind.IP}
    locked = tracker.check("carol", "198.51.100.1")
    assert locked is not None
    assert locked.account_remaining_seconds == locked.ip_remaining_seconds == 300.0


def test_expiry_releases_and_resets(tracker: LockoutTracker, clock: Clock) -> None:
    for _ in range(5):
        tracker.failure("dave", "203.0.113.5")
    clock.now += 299.0
    locked = tracker.check("dave", "203.0.113.5")
    assert locked is not None and locked.retry_after_seconds == pytest.approx(1.0)
    # A failure while locked is neither counted nor extends the lock.
    assert tracker.failure("dave", "203.0.113.5") == []
    clock.now += 1.0
    assert tracker.check("dave", "203.0.113.5") is None
    assert tracker.locked() == []
    # The counter started again from zero: four more failures do not lock.
    for _ in range(4):
        assert tracker.failure("dave", "203.0.113.5") == []
    assert tracker.check("dave", "203.0.113.5") is None


def test_success_resets_the_account_and_the_address(tracker: LockoutTracker) -> None:
    for _ in range(4):
        tracker.failure("erin", "10.1.1.1")
    tracker.success("Erin", "10.1.1.1")
    for _ in range(4):
        assert tracker.failure("erin", "10.1.1.1") == []
    assert tracker.check("erin", "10.1.1.1") is None


def test_locked_lists_and_unlock_releases(tracker: LockoutTracker, clock: Clock) -> None:
    for _ in range(5):
        tracker.failure("frank", "10.2.2.2")
    clock.now += 100
    assert tracker.locked() == [LockInfo(LockKind.ACCOUNT, "frank", 200.0),
                                LockInfo(LockKind.IP, "10.2.2.2", 200.0)]
    assert tracker.unlock(username="FRANK") == [LockInfo(LockKind.ACCOUNT, "frank", 200.0)]
    locked = tracker.check("frank", "10.2.2.2")
    assert locked is not None and locked.account_remaining_seconds is None
    assert tracker.unlock() == [LockInfo(LockKind.IP, "10.2.2.2", 200.0)]
    assert tracker.check("frank", "10.2.2.2") is None


def test_reconfigure_at_run_time(tracker: LockoutTracker, clock: Clock) -> None:
    tracker.reconfigure(max_attempts=2, lock_seconds=60)
    assert tracker.failure("gina", None) == []
    assert tracker.failure("gina", None) == [LockEvent(LockKind.ACCOUNT, "gina", 2, 60.0)]
    clock.now += 60
    assert tracker.check("gina", None) is None
    with pytest.raises(ValueError, match="max_attempts"):
        tracker.reconfigure(0, 60)
    with pytest.raises(ValueError, match="lock_seconds"):
        tracker.reconfigure(3, 0)


def test_memory_is_bounded_against_address_spraying(clock: Clock) -> None:
    tracker = LockoutTracker(max_attempts=3, lock_seconds=60, clock=clock, max_tracked=100)
    for i in range(5000):
        tracker.failure(f"user{i}", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    accounts, addresses = tracker.tracked()
    assert accounts <= 100 and addresses <= 100
    # Locks are kept apart from counters and bounded too.
    for i in range(300):
        for _ in range(3):
            tracker.failure("x", f"172.16.{i // 256}.{i % 256}")
        clock.now += 0.01
    assert tracker.tracked()[1] <= 200
    assert len([lock for lock in tracker.locked() if lock.kind is LockKind.IP]) == 100
    # The newest lock survived; the oldest were shed first.
    assert tracker.check("y", "172.16.1.43") is not None
    assert tracker.check("y", "172.16.0.0") is None


def test_eviction_forgets_the_least_recent_counter(clock: Clock) -> None:
    tracker = LockoutTracker(max_attempts=3, lock_seconds=60, clock=clock, max_tracked=2)
    tracker.failure("a", "10.0.0.1")
    tracker.failure("a", "10.0.0.2")
    tracker.failure("a", "10.0.0.1")  # 10.0.0.1 now most recent, with 2 failures
    tracker.failure("b", "10.0.0.3")  # evicts 10.0.0.2
    assert tracker.failure("c", "10.0.0.1") == [LockEvent(LockKind.IP, "10.0.0.1", 3, 60.0)]


def test_ipv6_counts_per_64_and_mapped_ipv4_as_ipv4(tracker: LockoutTracker) -> None:
    for i in range(5):
        tracker.failure(f"u{i}", f"2001:db8:1:2::{i + 1}")
    locked = tracker.check("v", "2001:db8:1:2:ffff::9")
    assert locked is not None and locked.ip_remaining_seconds is not None
    assert tracker.check("v", "2001:db8:1:3::1") is None
    assert ip_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert ip_key("2001:db8::1") == "2001:db8::/64"
    assert ip_key("not-an-address") == "not-an-address"


def test_token_failures_count_only_the_address(tracker: LockoutTracker) -> None:
    for _ in range(4):
        assert tracker.failure(None, "10.9.9.9") == []
    assert tracker.failure(None, "10.9.9.9") == [LockEvent(LockKind.IP, "10.9.9.9", 5, 300.0)]
    assert tracker.locked() == [LockInfo(LockKind.IP, "10.9.9.9", 300.0)]
    assert tracker.check(None, "10.9.9.9") is not None
    assert tracker.check("anyone", None) is None


def test_instances_are_independent(clock: Clock) -> None:
    web = LockoutTracker(max_attempts=1, lock_seconds=60, clock=clock)
    console = LockoutTracker(max_attempts=1, lock_seconds=60, clock=clock)
    web.failure("admin", "10.0.0.1")
    assert web.check("admin", None) is not None
    assert console.check("admin", None) is None
