"""The daemon on the simulated board, poked from outside with ``tools/simctl`` as a
developer would: alarm contacts, PoE, lamps, the buttons (factory reset, power off) and a
disk in a bay. The daemon is a separate process, as under systemd."""

from __future__ import annotations

import contextlib
import sqlite3
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hal.sim.disks import sim_unavailable_reason
from tests.daemon_harness import Daemon, config_toml, free_port
from tools.simctl.__main__ import request

pytestmark = pytest.mark.slow


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    port = free_port()
    extra = ('[[alarms.inputs]]\nid = 3\ncontact = "NC"\n\n'
             '[[alarms.outputs]]\nid = 2\nmode = "on"\n\n'
             '[[poe.ports]]\nport = 6\nenabled = false\n')
    (tmp_path / "nvrd.toml").write_text(config_toml(port, extra=extra))
    process = Daemon(tmp_path, port)
    try:
        process.wait_health(lambda h: h["hardware"] is not None
                            and h["hardware"]["panel"] == "running")
        yield process
    finally:
        process.stop()


def sim(daemon: Daemon, cmd: str, **args: Any) -> Any:
    return request(daemon.data_dir / "sim" / "control.sock", cmd, args)


def wait_for_audit(daemon: Daemon, actions: set[str]) -> None:
    """The audit log is written by its own thread, in batches."""
    def logged(_health: dict[str, Any]) -> bool:
        with contextlib.closing(sqlite3.connect(daemon.data_dir / "audit.db")) as db:
            return actions <= {row[0] for row in db.execute("SELECT action FROM audit")}

    daemon.wait_health(logged, timeout=10)


def inputs(health: dict[str, Any]) -> dict[int, bool]:
    return {x["number"]: x["active"] for x in health["hardware"]["alarm_inputs"]}


def test_alarm_contacts_relays_and_lamps(daemon: Daemon) -> None:
    health = daemon.health()
    assert health["hardware"]["problems"] == {}
    assert inputs(health) == {1: False, 2: False, 3: True, 4: False}, \
        "input 3 is NC by the installer's setting: its open contact is an alarm"
    # relay 2 is forced on by the configuration, relay 1 is released: as driven on the
    # (simulated) gpiochip lines, and as the daemon reports them
    assert [r["on"] for r in sim(daemon, "relays")["relays"]] == [False, True]
    assert {r["number"]: r["on"] for r in health["hardware"]["alarm_outputs"]} == {
        1: False, 2: True}
    sim(daemon, "alarm close", input=1)
    sim(daemon, "alarm close", input=3)
    health = daemon.wait_health(lambda h: inputs(h)[1] and not inputs(h)[3])
    assert inputs(health) == {1: True, 2: False, 3: False, 4: False}
    lamps = sim(daemon, "leds")
    assert lamps["alarm"]["mode"] == "on"
    assert lamps["power"]["mode"] == "on"
    sim(daemon, "alarm open", input=1)
    daemon.wait_health(lambda h: not any(inputs(h).values()))
    assert sim(daemon, "leds")["alarm"]["mode"] == "off"

    wait_for_audit(daemon, {"alarm input 1 active", "alarm input 1 normal"})


def test_poe_ports_follow_the_plugged_devices_and_the_installer(daemon: Daemon) -> None:
    sim(daemon, "poe plug", port=2, pd_class=3, power_mw=6500)
    sim(daemon, "poe plug", port=6, pd_class=2, power_mw=4000)
    health = daemon.wait_health(lambda h: any(
        p["port"] == 2 and p["power"] == "delivering" for p in h["hardware"]["poe_ports"]))
    ports = {p["port"]: p for p in health["hardware"]["poe_ports"]}
    assert ports[2]["pd_class"] == 3 and 6000 <= ports[2]["power_mw"] <= 7000
    assert ports[6]["admin_enabled"] is False and ports[6]["power"] != "delivering", \
        "a port the installer switched off stays off with a camera on it"

    sim(daemon, "poe overcurrent", port=2)
    health = daemon.wait_health(lambda h: any(
        p["port"] == 2 and p["power"] != "delivering" for p in h["hardware"]["poe_ports"]))
    assert sim(daemon, "leds").get("poe_fault") is None  # the sim board has no such lamp


def test_factory_reset_button_restores_the_factory_configuration(daemon: Daemon) -> None:
    config = daemon.data_dir / "nvrd.toml"
    assert tomllib.loads(config.read_text())["poe"]["ports"]
    sim(daemon, "button hold", button="reset", seconds=5.5)
    deadline = time.monotonic() + 20
    while tomllib.loads(config.read_text()).get("poe", {}).get("ports"):
        assert time.monotonic() < deadline, "the configuration was not restored"
        time.sleep(0.1)
    restored = tomllib.loads(config.read_text())
    assert restored["system"]["board"] == "sim"
    assert restored.get("alarms", {}).get("inputs", []) == []
    # the factory configuration has the web page on its own port: ask the board instead
    deadline = time.monotonic() + 10
    while sim(daemon, "alarm list")[2]["claimed"] is False or any(
            x["contact_type"] != "NO" for x in sim(daemon, "alarm list")[:3]):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    with contextlib.closing(sqlite3.connect(daemon.data_dir / "audit.db")) as db:
        deadline = time.monotonic() + 10
        wanted = {"factory reset requested by the reset button", "factory reset"}
        while not wanted <= {row[0] for row in db.execute("SELECT action FROM audit")}:
            assert time.monotonic() < deadline, "the factory reset is not in the audit log"
            time.sleep(0.1)


def test_power_button_shuts_the_daemon_down_cleanly(daemon: Daemon) -> None:
    sim(daemon, "button press", button="power")  # and keep it down: off after 3 s
    assert daemon.process.wait(timeout=30) == 0
    log = daemon.log()
    assert "shutdown requested by the power button" in log
    assert "no power-off command" in log


@pytest.mark.root
def test_a_disk_inserted_into_a_bay_is_reported(daemon: Daemon) -> None:
    reason = sim_unavailable_reason()
    if reason:
        pytest.skip(reason)
    sim(daemon, "disk insert", bay=2, size_mib=64, serial="E2E-1")
    try:
        health = daemon.wait_health(lambda h: h["bays"][1]["state"] == "blank")
        assert health["bays"][1]["size_bytes"] == 64 << 20
        sim(daemon, "disk smart", bay=2, health="reallocated")
    finally:
        sim(daemon, "disk remove", bay=2)
    daemon.wait_health(lambda h: h["bays"][1]["state"] == "empty")
