"""The simulated board's LED tree: the real driver and panel write it, the sim reads the
lamps back as the control socket would report them."""

from __future__ import annotations

from pathlib import Path

import pytest

from hal.board import BoardProfile
from hal.leds import FrontPanel, PanelState, Phase, SysfsLed
from hal.sim.control import CommandError, ControlServer
from hal.sim.leds import DEFAULT_TRIGGERS, SimLeds


def test_tree_layout(tmp_path: Path, sim_profile: BoardProfile) -> None:
    sim = SimLeds.from_section(sim_profile.leds, tmp_path, max_brightness=1).create()
    device = tmp_path / "sim:red:alarm"
    assert sorted(p.name for p in device.iterdir()) == [
        "brightness", "delay_off", "delay_on", "max_brightness", "trigger"]
    assert (device / "trigger").read_text().startswith("[none] timer ")
    assert (device / "max_brightness").read_text() == "1\n"
    assert set(sim.devices) == {i.device for i in sim_profile.leds.indicators}


def test_panel_on_the_sim_tree_reads_back(tmp_path: Path, sim_profile: BoardProfile) -> None:
    sim = SimLeds.from_section(sim_profile.leds, tmp_path).create()
    panel = FrontPanel.from_section(sim_profile.leds, sysfs_root=tmp_path)
    panel.start()
    states = sim.states()
    assert {role: s.mode for role, s in states.items()} == {
        "power": "on", "status": "blink", "hdd": "disk-activity", "hdd_fault": "off",
        "network": "off", "alarm": "off", "record": "off"}
    assert (states["status"].delay_on_ms, states["status"].delay_off_ms) == (500, 500)
    assert states["power"].brightness == 255

    panel.apply(PanelState(phase=Phase.RUNNING, network_up=True, recording=True,
                           alarm_active=True, disk_fault=True))
    modes = {role: s.mode for role, s in sim.states().items()}
    assert modes == {"power": "on", "status": "heartbeat", "hdd": "disk-activity",
                     "hdd_fault": "on", "network": "on", "alarm": "on", "record": "on"}

    panel.apply(PanelState(phase=Phase.FACTORY_RESET_PENDING))
    status = sim.read("status")
    assert (status.mode, status.delay_on_ms, status.delay_off_ms) == ("blink", 100, 100)
    assert sim.read("sim:blue:status") == status  # by device name as well as by role


def test_read_back_restores_the_kernel_form_for_the_next_driver(
        tmp_path: Path, sim_profile: BoardProfile) -> None:
    sim = SimLeds.from_section(sim_profile.leds, tmp_path).create()
    led = SysfsLed("sim:blue:status", tmp_path)
    led.open()
    led.set_trigger("heartbeat")
    assert (tmp_path / "sim:blue:status" / "trigger").read_text() == "heartbeat"
    assert sim.read("status").trigger == "heartbeat"
    text = (tmp_path / "sim:blue:status" / "trigger").read_text().split()
    assert "[heartbeat]" in text and "timer" in text
    again = SysfsLed("sim:blue:status", tmp_path)  # a restarted daemon
    again.open()
    assert again.active_trigger == "heartbeat"
    assert again.offers("timer") and again.offers("disk-activity")


def test_withdrawn_trigger_makes_the_panel_fall_back(tmp_path: Path,
                                                     sim_profile: BoardProfile) -> None:
    sim = SimLeds.from_section(sim_profile.leds, tmp_path).create()
    sim.offer("status", [t for t in DEFAULT_TRIGGERS if t != "heartbeat"])
    panel = FrontPanel.from_section(sim_profile.leds, sysfs_root=tmp_path)
    panel.start(PanelState(phase=Phase.RUNNING))
    assert sim.read("status").mode == "on"  # steady instead of heartbeat


def test_removed_lamp_is_unavailable_to_the_panel(tmp_path: Path,
                                                   sim_profile: BoardProfile) -> None:
    sim = SimLeds.from_section(sim_profile.leds, tmp_path).create()
    sim.remove("alarm")
    panel = FrontPanel.from_section(sim_profile.leds, sysfs_root=tmp_path)
    panel.start()
    assert [e.device for e in panel.unavailable] == ["sim:red:alarm"]
    with pytest.raises(CommandError, match="no simulated LED 'siren'"):
        sim.read("siren")


async def test_control_socket_commands(tmp_path: Path, sim_profile: BoardProfile) -> None:
    sim = SimLeds.from_section(sim_profile.leds, tmp_path / "leds").create()
    FrontPanel.from_section(sim_profile.leds, sysfs_root=sim.root).start(
        PanelState(phase=Phase.RUNNING, alarm_active=True))
    server = ControlServer(tmp_path / "ctl.sock", sim.commands())
    reply = await server.handle(b'{"cmd": "led list"}')
    assert reply["ok"] is True
    assert reply["result"]["alarm"]["mode"] == "on"
    assert reply["result"]["status"]["mode"] == "heartbeat"
    reply = await server.handle(b'{"cmd": "led read", "args": {"led": "sim:red:alarm"}}')
    assert (reply["result"]["role"], reply["result"]["brightness"]) == ("alarm", 255)
    reply = await server.handle(b'{"cmd": "led read", "args": {"led": "siren"}}')
    assert reply == {"ok": False, "error": "no simulated LED 'siren'; the board has alarm, "
                     "hdd, hdd_fault, network, power, record, status"}
