import os
from pathlib import Path

import pytest

from nvrd.system.sdnotify import SdNotifier
from tests.notify_harness import NotifyListener


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_states_reach_the_socket(tmp_path: Path, abstract: bool) -> None:
    listener = NotifyListener(tmp_path, abstract=abstract)
    notifier = SdNotifier({"NOTIFY_SOCKET": listener.address})
    try:
        assert notifier.ready("4/4 cameras online")
        assert notifier.watchdog()
        assert notifier.stopping()
        assert listener.receive(1) == "READY=1\nSTATUS=4/4 cameras online"
        assert listener.receive(1) == "WATCHDOG=1"
        assert listener.receive(1) == "STOPPING=1\nSTATUS=stopping"
    finally:
        notifier.close()
        listener.close()


def test_without_notify_socket_everything_is_a_no_op() -> None:
    notifier = SdNotifier({})
    assert not notifier.enabled
    assert notifier.ready("x") is False
    assert notifier.watchdog_interval_seconds is None


def test_watchdog_interval_is_half_of_watchdog_sec_for_our_pid_only() -> None:
    mine = SdNotifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())})
    assert mine.watchdog_interval_seconds == 15.0
    unset_pid = SdNotifier({"WATCHDOG_USEC": "2000000"})
    assert unset_pid.watchdog_interval_seconds == 1.0
    inherited = SdNotifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"})
    assert inherited.watchdog_interval_seconds is None
    assert SdNotifier({"WATCHDOG_USEC": "soon"}).watchdog_interval_seconds is None


def test_a_vanished_socket_does_not_raise(tmp_path: Path) -> None:
    notifier = SdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.watchdog() is False
