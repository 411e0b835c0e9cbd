"""The simulated board end to end: ``config/boards/sim.toml`` built as one ``SimBoard``, poked
through a real control socket with ``simctl``'s client, while the *real* drivers (alarm
inputs and outputs, front panel, keypad, PoE budget manager, PTZ bus) run on its devices.

The disk test uses loop95/96 (``disk_bays``), clear of the sim profile's 57-60, the HAL
disk tests' 91/92 and the storage tests' 93/94.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hal.board import DisksSection, load_board_profile
from hal.buttons import Keypad, ManualClock, Pressed, Request, Requested
from hal.buttons.longpress import ButtonEvent
from hal.disks.runner import SubprocessRunner
from hal.gpio import AlarmInputEvent, AlarmInputs, AlarmOutputs, open_backend
from hal.leds import FrontPanel, PanelState, Phase
from hal.poe import PortPower, open_poe
from hal.ptz import DomeSettings, Pan, PelcoDome, PtzBus, PtzProtocol
from hal.serial import LineSettings
from hal.sim import SimBoard
from hal.sim.control import CommandError, ControlServer
from tools.simctl.__main__ import SimctlError, main, request

PROFILE = load_board_profile(Path(__file__).resolve().parents[3] / "config/boards/sim.toml")
TEST_BAYS = DisksSection.model_validate({"bays": [
    {"number": 1, "devpath": "/devices/virtual/block/loop95", "hot_swap": True},
    {"number": 2, "devpath": "/devices/virtual/block/loop96", "hot_swap": True}]})
WAIT_S = 5.0


@dataclass
class ClockSleep:
    """``button hold``'s sleep: once the keypad has seen the press, move its clock."""

    clock: ManualClock = field(default_factory=ManualClock)
    pressed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, seconds: float) -> None:
        await asyncio.wait_for(self.pressed.wait(), WAIT_S)
        self.clock.advance(seconds)


@dataclass
class Rig:
    board: SimBoard
    socket: Path
    sleep: ClockSleep

    async def ctl(self, cmd: str, **args: Any) -> Any:
        return await asyncio.to_thread(request, self.socket, cmd, args)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    sleep = ClockSleep()
    board = SimBoard(PROFILE, tmp_path / "board", disk_bays=TEST_BAYS, sleep=sleep)
    await board.start()
    # A short directory: AF_UNIX paths are limited to 108 bytes, tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="simboard") as short:
        server = ControlServer(Path(short) / "control.sock", board.commands())
        await server.start()
        try:
            yield Rig(board, server.path, sleep)
        finally:
            await server.close()
            await board.close()


async def next_event(queue: asyncio.Queue[AlarmInputEvent]) -> AlarmInputEvent:
    return await asyncio.wait_for(queue.get(), WAIT_S)


async def test_alarm_contacts_drive_the_real_alarm_inputs(rig: Rig) -> None:
    events: asyncio.Queue[AlarmInputEvent] = asyncio.Queue()
    backend = open_backend(PROFILE.gpio, sim=rig.board.gpio)
    async with AlarmInputs(PROFILE.gpio.alarm_inputs, backend, events.put_nowait):
        initial = [events.get_nowait() for _ in range(4)]
        # At rest: NO contacts open, the NC tamper loop (input 4) closed; nothing in alarm.
        assert [(e.number, e.active, e.cause) for e in initial] == [
            (n, False, "initial") for n in (1, 2, 3, 4)]

        closed = await rig.ctl("alarm close", input=2)
        assert closed["contact"] == "closed" and closed["line"] == "low"  # active-low input
        event = await next_event(events)
        assert (event.number, event.active, event.cause) == (2, True, "edge")
        assert event.timestamp_ns == closed["edge_ns"]  # the edge the level held from

        opened = await rig.ctl("alarm open", input="4")  # the tamper loop is cut
        event = await next_event(events)
        assert (event.number, event.active, event.contact) == (4, True, "NC")
        assert event.timestamp_ns == opened["edge_ns"]
        reclosed = await rig.ctl("alarm close", input=4)
        event = await next_event(events)
        assert (event.number, event.active) == (4, False)
        assert event.timestamp_ns == reclosed["edge_ns"] > opened["edge_ns"]

        listed = {a["number"]: a for a in await rig.ctl("alarm list")}
        assert listed[2]["contact"] == "closed" and listed[1]["contact"] == "open"
        assert listed[4] == {"number": 4, "contact_type": "NC", "contact": "closed",
                             "line": "low", "claimed": True}
    assert all(not a["claimed"] for a in (await rig.ctl("status"))["alarm_inputs"])


async def test_relays_set_by_the_real_outputs_show_in_relays(rig: Rig) -> None:
    backend = open_backend(PROFILE.gpio, sim=rig.board.gpio)
    with AlarmOutputs.from_section(PROFILE.gpio, backend) as outputs:
        outputs.set_relay(2, True)
        outputs.set_buzzer(True)
        state = await rig.ctl("relays")
        assert [(r["number"], r["on"], r["claimed"]) for r in state["relays"]] == [
            (1, False, True), (2, True, True)]
        assert state["buzzer"]["on"] is True
        recent = state["log"][-2:]
        assert [(c["output"], c["on"]) for c in recent] == [("relay 2", True),
                                                            ("buzzer", True)]
        assert recent[0]["timestamp_ns"] <= recent[1]["timestamp_ns"]
        assert 0 <= recent[1]["ago_s"] < WAIT_S and recent[1]["at"]
    state = await rig.ctl("relays")  # closed: every output off and released
    assert not any(r["on"] or r["claimed"] for r in state["relays"])
    assert state["log"][-1]["released"] is True


async def test_front_panel_lamps_read_back(rig: Rig) -> None:
    panel = FrontPanel.from_section(PROFILE.leds, sysfs_root=rig.board.leds_root)
    report = panel.start(PanelState(phase=Phase.RUNNING, network_up=True, recording=True,
                                    alarm_active=True))
    assert not report.failed and not panel.unavailable
    lamps = await rig.ctl("leds")
    assert {role: lamp["mode"] for role, lamp in lamps.items()} == {
        "power": "on", "status": "heartbeat", "hdd": "disk-activity", "hdd_fault": "off",
        "network": "on", "alarm": "on", "record": "on"}
    assert lamps["alarm"]["device"] == "sim:red:alarm"
    assert (await rig.ctl("status"))["leds"]["record"] == "on"
    panel.apply(PanelState(phase=Phase.RUNNING, network_up=True))
    assert (await rig.ctl("led read", led="alarm"))["mode"] == "off"


async def test_holding_reset_asks_the_real_keypad_for_a_factory_reset(rig: Rig) -> None:
    requested: asyncio.Future[Requested] = asyncio.get_running_loop().create_future()

    def on_event(event: ButtonEvent) -> None:
        if isinstance(event, Pressed):
            rig.sleep.pressed.set()
        elif isinstance(event, Requested) and not requested.done():
            requested.set_result(event)

    keypad = Keypad(PROFILE.buttons, on_event, clock=rig.sleep.clock,
                    dev_root=rig.board.buttons_dev_root,
                    sysfs_root=rig.board.buttons_sysfs_root)
    await keypad.start()
    try:
        held = await rig.ctl("button hold", button="reset", seconds=6)
        event = await asyncio.wait_for(requested, WAIT_S)
    finally:
        keypad.stop()
    assert event.request is Request.FACTORY_RESET and event.role == "reset"
    assert event.held_s >= 5.0
    assert held == {"reset": False, "power": False}  # released again
    with pytest.raises(SimctlError, match=r"no simulated button 'jump'.*reset=0x198"):
        await rig.ctl("button hold", button="jump", seconds=1)
    with pytest.raises(SimctlError, match="SECONDS must be a number from 0 to 60"):
        await rig.ctl("button hold", button="reset", seconds="soon")


async def test_plugging_a_camera_powers_the_port_in_the_real_budget_manager(rig: Rig) -> None:
    with pytest.raises(SimctlError, match="PoE is not attached yet"):
        await rig.ctl("poe plug", port=3)
    poe = open_poe(PROFILE.poe)
    rig.board.attach_poe(poe.sim)
    await poe.manager.start()
    try:
        plugged = await rig.ctl("poe plug", port=3, pd_class=3, power_mw=7_000)
        assert (plugged["controller"], plugged["channel"]) == ("pse0", 2)
        assert plugged["pd_present"] and plugged["pd_class"] == 3
        await poe.manager.poll()
        status = poe.manager.port_status(3)
        assert status.power is PortPower.DELIVERING and status.pd_class == 3
        ports = {p["port"]: p for p in await rig.ctl("poe ports")}
        assert ports[3]["power_good"] and ports[3]["draw_mw"] == 7_000
        assert not ports[4]["pd_present"]

        await rig.ctl("poe overcurrent", port=3)
        await poe.manager.poll()
        assert poe.manager.port_status(3).power is not PortPower.DELIVERING
        await rig.ctl("poe unplug", port="3")
        assert not (await rig.ctl("status"))["poe"]["ports"][2]["pd_present"]
        with pytest.raises(SimctlError, match=r"there is no PoE port 9; the board has 1-8"):
            await rig.ctl("poe plug", port=9)
        with pytest.raises(SimctlError, match=r"there is no PD class 12; .* 0-8"):
            await rig.ctl("poe plug", port=1, pd_class=12)
    finally:
        await poe.manager.close()


async def test_a_real_ptz_bus_moves_a_simulated_dome(rig: Rig) -> None:
    line = LineSettings.from_port(PROFILE.serial.ports[0],
                                  device=rig.board.serial_device("ptz"))
    bus = await PtzBus.open(line, inter_frame_gap_s=0)
    try:
        dome = PelcoDome(bus, DomeSettings(PtzProtocol.PELCO_D, 2))
        await dome.move(Pan.LEFT, pan_speed=20)
        assert rig.board.ptz is not None
        await rig.board.ptz.wait_frames(1)
        domes = {d["address"]: d for d in (await rig.ctl("ptz domes"))["domes"]}
        assert sorted(domes) == [1, 2, 3, 4]
        assert (domes[2]["pan"], domes[2]["pan_speed"], domes[2]["frames"]) == ("left", 20, 1)
        assert domes[1]["frames"] == 0 and domes[2]["baud"] == 9600  # the profile's rate

        assert await rig.ctl("ptz noise", hex_bytes="ff 00 13") == {"injected": 3}
        assert await rig.ctl("ptz echo", on="on") == {"echo": True}
        await dome.stop()
        assert isinstance(await dome.query_pan_cdeg(), int)  # a round trip through it all
        assert bus.stats.echoes_ignored >= 1
        with pytest.raises(SimctlError, match="HEX_BYTES must be hex bytes"):
            await rig.ctl("ptz noise", hex_bytes="zz")
        with pytest.raises(SimctlError, match="ON must be on or off"):
            await rig.ctl("ptz echo", on="maybe")
    finally:
        await bus.close()


@pytest.mark.root
async def test_disks_go_in_and_out_of_real_loop_devices(rig: Rig) -> None:
    if os.geteuid() != 0:
        pytest.skip("simulated disks need root (loop devices, losetup)")
    board = rig.board
    assert board.disks is not None and board.disks_unavailable is None
    inserted = await rig.ctl("disk insert", bay=1, size_mib=64, serial="SIMTEST1")
    assert inserted["present"] and inserted["devnode"] == "/dev/loop95"
    assert Path("/sys/block/loop95/loop/backing_file").read_text().strip().endswith(
        "SIMTEST1.img")
    assert (await rig.ctl("disk smart", bay=1, health="failing"))["smart"] == "failing"
    smart = await board.smart_runner(["smartctl", "--json=c", "-a", "/dev/loop95"],
                                     timeout_s=10)
    assert json.loads(smart.stdout)["smart_status"]["passed"] is False
    with pytest.raises(SimctlError, match="bay 1 already holds disk SIMTEST1"):
        await rig.ctl("disk insert", bay=1)
    with pytest.raises(SimctlError, match="HEALTH must be one of healthy, reallocated"):
        await rig.ctl("disk smart", bay=1, health="dead")
    removed = await rig.ctl("disk remove", bay=1)
    assert not removed["present"] and not Path("/sys/block/loop95").exists()
    assert [b["present"] for b in await rig.ctl("disk list")] == [False, False]
    with pytest.raises(SimctlError, match=r"there is no bay 7; the board has 1, 2"):
        await rig.ctl("disk insert", bay=7)


async def test_without_loop_devices_disk_commands_say_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hal.sim.board.sim_unavailable_reason",
                        lambda: "simulated disks need root (loop devices, losetup, mount)")
    board = SimBoard(PROFILE, tmp_path / "board", disk_bays=TEST_BAYS)
    await board.start()
    try:
        assert board.disks is None and isinstance(board.smart_runner, SubprocessRunner)
        handlers = {c.name: c.handler for c in board.commands()}
        with pytest.raises(CommandError, match=r"simulated disks are unavailable: .*need root"):
            handlers["disk list"]()
        assert board.snapshot()["disks"] == {
            "available": False, "bays": [],
            "reason": "simulated disks need root (loop devices, losetup, mount)"}
    finally:
        await board.close()


async def test_bad_arguments_get_sentences_naming_valid_values(rig: Rig) -> None:
    with pytest.raises(SimctlError, match=r"there is no alarm input 9; the board has 1-4"):
        await rig.ctl("alarm close", input=9)
    with pytest.raises(SimctlError, match=r"there is no alarm input 'two'"):
        await rig.ctl("alarm open", input="two")
    with pytest.raises(SimctlError, match=r"no simulated LED 'disco'; the board has alarm"):
        await rig.ctl("led read", led="disco")
    with pytest.raises(SimctlError, match=r"power_mw must be a whole number from 0"):
        await rig.ctl("poe plug", port=1, power_mw=-5)


async def test_status_is_the_whole_board_and_close_undoes_it(rig: Rig) -> None:
    board = rig.board
    status = await rig.ctl("status")
    assert json.loads(json.dumps(board.snapshot())) == board.snapshot()
    assert set(status) == {"board", "alarm_inputs", "relays", "buzzer", "leds", "buttons",
                           "poe", "disks", "ptz", "serial"}
    assert status["board"]["name"] == "sim" and status["poe"]["attached"] is False
    assert [a["contact"] for a in status["alarm_inputs"]] == ["open"] * 3 + ["closed"]
    assert status["buttons"] == {"reset": False, "power": False}
    assert len(status["ptz"]["domes"]) == 4
    console = board.serial_device("console")
    assert status["serial"] == {"ptz": board.serial_device("ptz"), "console": console}
    assert os.path.exists(console)
    with pytest.raises(LookupError, match="no simulated serial port 'modem'"):
        board.serial_device("modem")
    names = {c.name for c in board.commands()}
    assert {"alarm close", "alarm open", "alarm list", "relays", "leds", "led list",
            "button press", "button release", "button hold", "poe plug", "poe unplug",
            "poe overcurrent", "poe ports", "disk insert", "disk remove", "disk smart",
            "disk list", "ptz domes", "ptz noise", "ptz echo"} <= names

    fds = [board.ptys[role].master_fd for role in ("ptz", "console")]
    await board.close()
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)
    assert not board.leds_root.exists() and not board.buttons_dev_root.exists()
    assert board.snapshot()["serial"] == {}
    await board.close()  # idempotent
    with pytest.raises(RuntimeError, match="start the simulated board"):
        board.commands()


async def test_simctl_words_reach_the_board(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    def simctl(*words: str) -> int:
        return main(["--socket", str(rig.socket), *words])

    assert await asyncio.to_thread(simctl, "alarm", "close", "3") == 0
    assert '"contact": "closed"' in capsys.readouterr().out
    assert await asyncio.to_thread(simctl, "ptz", "echo", "on") == 0
    assert '"echo": true' in capsys.readouterr().out
    assert await asyncio.to_thread(simctl, "alarm", "open", "5") == 1
    assert "there is no alarm input 5; the board has 1-4" in capsys.readouterr().err
