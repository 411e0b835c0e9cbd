import asyncio
import time
from pathlib import Path

from nvrd.system.sdnotify import SdNotifier
from nvrd.system.watchdog import HealthWatchdog, LoopLagProbe
from tests.notify_harness import NotifyListener


async def _count_pings(listener: NotifyListener, seconds: float) -> int:
    """Pings received during ``seconds`` (read off the loop so the loop keeps running)."""
    deadline = time.monotonic() + seconds
    pings = 0
    while (remaining := deadline - time.monotonic()) > 0:
        message = await asyncio.to_thread(listener.receive, remaining)
        if message == "WATCHDOG=1":
            pings += 1
    return pings


async def _pings_arrive(listener: NotifyListener, count: int) -> None:
    """``count`` pings arrive (a hang guard, not a measure: a loaded machine may be slow)."""
    async with asyncio.timeout(30):
        pings = 0
        while pings < count:
            if await asyncio.to_thread(listener.receive, 1.0) == "WATCHDOG=1":
                pings += 1


async def test_pings_only_while_healthy(tmp_path: Path) -> None:
    listener = NotifyListener(tmp_path)
    problems: list[str] = []
    watchdog = HealthWatchdog(SdNotifier({"NOTIFY_SOCKET": listener.address}),
                              lambda: list(problems), LoopLagProbe(0.02))
    task = asyncio.create_task(watchdog.run(0.05))
    try:
        await _pings_arrive(listener, 3)
        problems.append("recorder: writer stuck")
        await asyncio.sleep(0.1)  # a ping already in flight may still land
        while listener.receive(0) is not None:
            pass
        assert await _count_pings(listener, 0.5) == 0
        assert watchdog.last_problems == ["recorder: writer stuck"]
        problems.clear()
        await _pings_arrive(listener, 3)
    finally:
        task.cancel()
        listener.close()


async def test_a_stalled_loop_fails_the_check() -> None:
    probe = LoopLagProbe(0.02)
    watchdog = HealthWatchdog(SdNotifier({}), lambda: [], probe, max_lag=0.3)
    task = asyncio.create_task(probe.run())
    try:
        await asyncio.sleep(0.1)
        assert watchdog.check() == []
        asyncio.get_running_loop().call_soon(time.sleep, 0.6)  # a blocking call on the loop
        await asyncio.sleep(0.1)
        problems = watchdog.check()
        assert len(problems) == 1 and "event loop stalled" in problems[0]
        assert watchdog.check() == []  # seen once, not forever
    finally:
        task.cancel()
