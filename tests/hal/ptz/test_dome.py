"""The dome API end to end: PelcoDome → PtzBus → pty → SimPtzLine → SimDome state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from hal.ptz.base import PtzPosition
from hal.ptz.bus import PtzBus
from hal.ptz.commands import Focus, Iris, Pan, PtzProtocol, Tilt, Zoom
from hal.ptz.dome import PelcoDome
from hal.ptz.errors import NoReplyError
from hal.ptz.settings import DomeSettings
from hal.serial.open import LineSettings
from hal.sim.dome import SimDome, SimPtzLine
from hal.sim.pty import PtyPair


class StepClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    bus: PtzBus
    line: SimPtzLine
    clock: StepClock

    async def sent(self, count: int) -> None:
        """Until the sim has seen ``count`` frames in total."""
        await self.line.wait_frames(count)


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def line(pty: PtyPair, clock: StepClock) -> Iterator[SimPtzLine]:
    line = SimPtzLine(pty.master_fd, (
        SimDome(DomeSettings(PtzProtocol.PELCO_D, address=1, baud=9600), clock=clock),
        SimDome(DomeSettings(PtzProtocol.PELCO_P, address=2, baud=4800), clock=clock),
    ))
    yield line
    line.close()


@pytest.fixture
async def rig(pty: PtyPair, line: SimPtzLine, clock: StepClock) -> AsyncIterator[Rig]:
    line.start()
    bus = await PtzBus.open(LineSettings(pty.slave_path, baud=9600), inter_frame_gap_s=0)
    yield Rig(bus, line, clock)
    await bus.close()


D1 = DomeSettings(PtzProtocol.PELCO_D, address=1, baud=9600)
P2 = DomeSettings(PtzProtocol.PELCO_P, address=2, baud=4800)


async def test_move_combines_directions_and_stop_stops(rig: Rig) -> None:
    dome = PelcoDome(rig.bus, D1)
    sim = rig.line.dome(PtzProtocol.PELCO_D, 1)
    await dome.move(Pan.RIGHT, Tilt.DOWN, pan_speed=0x30, tilt_speed=0x10)
    await rig.sent(1)
    state = sim.snapshot()
    assert (state.pan, state.tilt, state.pan_speed, state.tilt_speed) == (
        Pan.RIGHT, Tilt.DOWN, 0x30, 0x10)
    assert state.last_command == "pan right 48, tilt down 16"
    rig.clock.now += 2.0  # 48 °/s right, 16 °/s down for 2 s
    await dome.stop()
    await rig.sent(2)
    state = sim.snapshot()
    assert (state.pan, state.tilt) == (Pan.STOP, Tilt.STOP)
    assert (state.pan_cdeg, state.tilt_cdeg) == (9600, 3200)


async def test_lens_commands(rig: Rig) -> None:
    dome = PelcoDome(rig.bus, D1)
    sim = rig.line.dome(PtzProtocol.PELCO_D, 1)
    steps = [(dome.zoom_in, "zoom", Zoom.IN), (dome.zoom_out, "zoom", Zoom.OUT),
             (dome.focus_near, "focus", Focus.NEAR), (dome.focus_far, "focus", Focus.FAR),
             (dome.iris_open, "iris", Iris.OPEN), (dome.iris_close, "iris", Iris.CLOSE)]
    for count, (call, field, expected) in enumerate(steps, start=1):
        await call()
        await rig.sent(count)
        assert getattr(sim.snapshot(), field) == expected


async def test_presets_aux_pattern_on_a_pelco_p_dome(rig: Rig) -> None:
    dome = PelcoDome(rig.bus, P2)
    sim = rig.line.dome(PtzProtocol.PELCO_P, 2)
    sim.set_position(pan_cdeg=1000, tilt_cdeg=500, zoom=300)
    await dome.set_preset(5)
    sim.set_position(pan_cdeg=20000, tilt_cdeg=0, zoom=0)
    await dome.set_preset(6)
    await dome.clear_preset(6)
    await dome.call_preset(5)
    await dome.aux_on(1)
    await dome.aux_on(2)
    await dome.aux_off(1)
    await dome.pattern_start()
    await rig.sent(8)
    state = sim.snapshot()
    assert state.presets == (5,)
    assert state.last_preset_called == 5
    assert (state.pan_cdeg, state.tilt_cdeg, state.zoom_position) == (1000, 500, 300)
    assert state.aux_on == (2,)
    assert state.pattern == "recording"
    await dome.pattern_stop()
    await dome.pattern_run()
    await rig.sent(10)
    assert sim.snapshot().pattern == "running"
    assert sim.snapshot().wrong_baud_frames == 0
    assert rig.line.dome(PtzProtocol.PELCO_D, 1).snapshot().frames == 0


async def test_position_query_against_the_sim(rig: Rig) -> None:
    dome = PelcoDome(rig.bus, D1)
    rig.line.dome(PtzProtocol.PELCO_D, 1).set_position(pan_cdeg=35999, tilt_cdeg=4500,
                                                       zoom=0x1234)
    assert await dome.position() == PtzPosition(35999, 4500, 0x1234)
    p_dome = PelcoDome(rig.bus, P2)
    rig.line.dome(PtzProtocol.PELCO_P, 2).set_position(pan_cdeg=18000)
    assert await p_dome.query_pan_cdeg() == 18000
    assert rig.bus.stats.replies == 4


async def test_echo_and_garbage_from_the_sim(rig: Rig) -> None:
    dome = PelcoDome(rig.bus, D1)
    rig.line.set_echo(True)
    rig.line.inject(b"\x00\xff\x12")
    rig.line.prefix_next_reply(b"\xff\x01\x00\x59")  # a torn reply before the real one
    rig.line.dome(PtzProtocol.PELCO_D, 1).set_position(pan_cdeg=100)
    assert await dome.query_pan_cdeg() == 100
    await dome.stop()
    await rig.sent(2)
    assert await dome.query_pan_cdeg() == 100
    assert rig.bus.stats.echoes_ignored == 3
    assert rig.bus.stats.replies == 2
    assert rig.bus.stats.foreign_frames == 0


async def test_dome_at_another_baud_does_not_understand(rig: Rig) -> None:
    """A dome set to 4800 while the channel is configured for 9600: the sim ignores the
    frame as the real one would see noise, and the query times out with the line's rate."""
    wrong = PelcoDome(rig.bus, DomeSettings(PtzProtocol.PELCO_P, address=2, baud=9600),
                      reply_timeout_s=0.1)
    with pytest.raises(NoReplyError, match=r"Pelco-P dome 2 .* at 9600 8N1 within 0\.1 s"):
        await wrong.query_pan_cdeg()
    assert rig.line.dome(PtzProtocol.PELCO_P, 2).snapshot().wrong_baud_frames == 1


async def test_dome_without_position_feedback(rig: Rig) -> None:
    rig.line.dome(PtzProtocol.PELCO_D, 1).set_answers_queries(False)
    dome = PelcoDome(rig.bus, D1, reply_timeout_s=0.05)
    with pytest.raises(NoReplyError):
        await dome.position()


@pytest.mark.parametrize(("preset", "message"), [(0, "preset 0 is out of range 1..255"),
                                                 (256, "preset 256")])
async def test_bad_preset_numbers_raise_before_sending(rig: Rig, preset: int,
                                                       message: str) -> None:
    dome = PelcoDome(rig.bus, D1)
    with pytest.raises(ValueError, match=message):
        await dome.call_preset(preset)
    assert rig.bus.stats.frames_sent == 0


async def test_turbo_is_per_dome(rig: Rig) -> None:
    turbo = PelcoDome(rig.bus, DomeSettings(PtzProtocol.PELCO_D, address=1, baud=9600,
                                            turbo=0xFF))
    await turbo.move(Pan.LEFT, turbo=True)
    await rig.sent(1)
    assert rig.line.frames[-1].raw[4] == 0xFF
    assert rig.line.dome(PtzProtocol.PELCO_D, 1).snapshot().turbo
