"""Software tours with an injected sleep: the test decides when each dwell ends."""

from __future__ import annotations

import asyncio

import pytest

from hal.ptz.base import PtzCamera
from hal.ptz.bus import PtzBus
from hal.ptz.commands import Focus, Iris, Pan, PtzProtocol, Tilt, Zoom
from hal.ptz.dome import PelcoDome
from hal.ptz.errors import BusClosedError
from hal.ptz.settings import DomeSettings
from hal.ptz.tour import Tour, TourRunner, TourStop
from hal.sim.dome import SimDome, SimPtzLine
from hal.sim.pty import PtyPair
from tests.hal.ptz.helpers import WAIT_S, MasterEnd


class ManualSleep:
    """``sleep`` for the runner: records each dwell and returns only when released."""

    def __init__(self) -> None:
        self.dwells: list[float] = []
        self._release: asyncio.Queue[None] = asyncio.Queue()
        self._asleep = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.dwells.append(seconds)
        self._asleep.set()
        await self._release.get()

    async def asleep(self) -> None:
        """Until the runner is in its next dwell."""
        async with asyncio.timeout(WAIT_S):
            await self._asleep.wait()
        self._asleep.clear()

    async def release(self) -> None:
        """End the current dwell."""
        self._release.put_nowait(None)


class RecordingCamera(PtzCamera):
    def __init__(self) -> None:
        self.calls: list[tuple[int, int | None]] = []
        self.fail_on: int | None = None

    async def call_preset(self, preset: int, *, speed: int | None = None) -> None:
        if preset == self.fail_on:
            raise BusClosedError("/dev/ttyS1", "the bus is closed")
        self.calls.append((preset, speed))

    async def move(self, pan: Pan = Pan.STOP, tilt: Tilt = Tilt.STOP, *, pan_speed: int = 0,
                   tilt_speed: int = 0, turbo: bool = False) -> None:
        raise AssertionError("a tour only calls presets")

    async def stop(self) -> None: ...
    async def zoom(self, zoom: Zoom) -> None: ...
    async def focus(self, focus: Focus) -> None: ...
    async def iris(self, iris: Iris) -> None: ...
    async def set_preset(self, preset: int) -> None: ...
    async def clear_preset(self, preset: int) -> None: ...
    async def aux(self, number: int, on: bool) -> None: ...
    async def pattern_start(self) -> None: ...
    async def pattern_stop(self) -> None: ...
    async def pattern_run(self) -> None: ...


TOUR = Tour((TourStop(1, 10.0, speed=20), TourStop(4, 5.0), TourStop(2, 30.0)))


async def test_stops_in_order_with_their_dwell_and_loops() -> None:
    camera, sleep = RecordingCamera(), ManualSleep()
    runner = TourRunner(camera, TOUR, sleep=sleep)
    runner.start()
    for _ in range(4):
        await sleep.asleep()
        await sleep.release()
    await sleep.asleep()
    assert camera.calls == [(1, 20), (4, None), (2, None), (1, 20), (4, None)]
    assert sleep.dwells == [10.0, 5.0, 30.0, 10.0, 5.0]
    state = runner.state
    assert (state.running, state.index, state.laps, state.error) == (True, 1, 1, None)
    await runner.stop()
    assert not runner.running
    assert runner.state.index is None


async def test_stop_cancels_cleanly_mid_dwell() -> None:
    camera, sleep = RecordingCamera(), ManualSleep()
    runner = TourRunner(camera, TOUR, sleep=sleep)
    runner.start()
    await sleep.asleep()
    await runner.stop()
    await sleep.release()  # a dwell that would have ended: nothing may follow
    await asyncio.sleep(0)
    assert camera.calls == [(1, 20)]
    assert runner.state.error is None
    await runner.stop()  # idempotent


async def test_single_pass_tour_ends_by_itself() -> None:
    camera, sleep = RecordingCamera(), ManualSleep()
    runner = TourRunner(camera, Tour(TOUR.stops[:2], loop=False), sleep=sleep)
    runner.start()
    for _ in range(2):
        await sleep.asleep()
        await sleep.release()
    await asyncio.wait_for(runner.wait(), WAIT_S)
    assert camera.calls == [(1, 20), (4, None)]
    assert (runner.running, runner.state.laps) == (False, 1)


async def test_bus_error_ends_the_tour_with_the_reason() -> None:
    camera, sleep = RecordingCamera(), ManualSleep()
    camera.fail_on = 4
    runner = TourRunner(camera, TOUR, sleep=sleep)
    runner.start()
    await sleep.asleep()
    await sleep.release()
    await asyncio.wait_for(runner.wait(), WAIT_S)
    assert not runner.running
    assert runner.state.error == "RS-485 bus /dev/ttyS1: the bus is closed"


def test_tour_validation() -> None:
    with pytest.raises(ValueError, match="at least one stop"):
        Tour(())
    with pytest.raises(ValueError, match="dwell time 0"):
        TourStop(1, 0)
    with pytest.raises(ValueError, match="preset 0"):
        TourStop(0, 1)


async def test_tour_on_a_simulated_dome(pty: PtyPair, bus: PtzBus, master: MasterEnd) -> None:
    """The full stack: the runner's preset calls reach a SimDome over the pty, in order,
    and after stop() the bus is free for the next command."""
    del master  # the sim reads the master fd here
    sim = SimDome(DomeSettings(PtzProtocol.PELCO_D, address=7))
    line = SimPtzLine(pty.master_fd, (sim,))
    line.start()
    try:
        dome = PelcoDome(bus, DomeSettings(PtzProtocol.PELCO_D, address=7))
        sleep = ManualSleep()
        runner = TourRunner(dome, Tour((TourStop(3, 1), TourStop(8, 1))), sleep=sleep)
        runner.start()
        called: list[int | None] = []
        for _ in range(3):
            await sleep.asleep()
            await line.wait_frames(len(called) + 1)
            called.append(sim.snapshot().last_preset_called)
            await sleep.release()
        await runner.stop()
        assert called == [3, 8, 3]
        await dome.zoom_in()
        await line.wait_frames(4)
        assert sim.snapshot().zoom is Zoom.IN
        assert sim.snapshot().frames == 4
    finally:
        line.close()
