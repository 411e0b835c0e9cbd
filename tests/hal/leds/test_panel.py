"""The front-panel status model: which look each lamp gets for a state, by role and
polarity (``on_means``), and that the panel writes only what changed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hal.board import BoardProfile, Indicator, LedsSection
from hal.leds import (
    Blink,
    FrontPanel,
    LedLook,
    LedNotFound,
    Off,
    On,
    PanelState,
    Phase,
    Trigger,
    plan_looks,
)
from hal.leds.panel import FAST_BLINK, HOLD_BLINK, SHUTDOWN_BLIP, SLOW_BLINK

MakeLed = Callable[..., Path]

RUNNING = PanelState(phase=Phase.RUNNING, network_up=True)


def offers_all(indicator: Indicator, trigger: str) -> bool:
    return True


def offers_none(indicator: Indicator, trigger: str) -> bool:
    return False


def offers_only(*names: str) -> Callable[[Indicator, str], bool]:
    return lambda indicator, trigger: trigger in names


def lamp(role: str, on_means: str, trigger: str | None = None) -> Indicator:
    return Indicator(role=role, device=f"t:{role}", on_means=on_means,  # type: ignore[arg-type]
                     kernel_trigger=trigger)


def test_booting_on_the_sim_board(sim_profile: BoardProfile) -> None:
    looks = plan_looks(sim_profile.leds.indicators, PanelState(), offers_all)
    assert looks == {
        "power": On(),
        "status": SLOW_BLINK,
        "hdd": Trigger("disk-activity"),
        "hdd_fault": Off(),
        "network": Off(),
        "alarm": Off(),
        "record": Off(),
    }


def test_running_healthy_recording(sim_profile: BoardProfile) -> None:
    state = PanelState(phase=Phase.RUNNING, network_up=True, recording=True,
                       bays_present=frozenset({1, 2}))
    looks = plan_looks(sim_profile.leds.indicators, state, offers_all)
    assert looks["status"] == Trigger("heartbeat")  # "working properly", alive
    assert looks["network"] == On()
    assert looks["record"] == On()
    assert looks["hdd_fault"] == Off() and looks["alarm"] == Off()


def test_faults_and_alarm_light_their_lamps(sim_profile: BoardProfile) -> None:
    state = PanelState(phase=Phase.RUNNING, network_up=False, alarm_active=True,
                       bays_faulty=frozenset({3}))
    looks = plan_looks(sim_profile.leds.indicators, state, offers_all)
    assert looks["hdd_fault"] == On()  # a bay's fault counts as "any disk fault"
    assert looks["alarm"] == On()
    assert looks["network"] == Off()
    assert looks["status"] == Trigger("heartbeat")  # a fault does not stop the box


@pytest.mark.parametrize(("on_means", "network_up", "expected"), [
    ("ok", True, On()),      # blue NET lamp: lit when connected (NVR616)
    ("ok", False, Off()),
    ("fault", True, Off()),  # red NET lamp: lit when the network is abnormal (most models)
    ("fault", False, On()),
])
def test_network_lamp_polarity(on_means: str, network_up: bool, expected: LedLook) -> None:
    looks = plan_looks([lamp("network", on_means)],
                       PanelState(phase=Phase.RUNNING, network_up=network_up), offers_all)
    assert looks["network"] == expected


@pytest.mark.parametrize(("role", "on_means", "state", "expected"), [
    ("power", "ok", PanelState(phase=Phase.RUNNING, power_ok=False), Off()),
    ("hdd", "fault", PanelState(disk_fault=True), On()),     # HDD (red): HDD abnormal
    ("hdd", "fault", PanelState(), Off()),
    ("hdd_fault", "fault", PanelState(bays_faulty=frozenset({1})), On()),
    ("alarm", "active", PanelState(alarm_active=True), On()),
    ("record", "active", PanelState(recording=False), Off()),
    ("poe_fault", "fault", PanelState(poe_fault=True), On()),
    ("network_fault", "fault", PanelState(network_up=False), On()),
    ("bay2", "ok", PanelState(bays_present=frozenset({2})), On()),   # powered, healthy
    ("bay2", "ok", PanelState(bays_present=frozenset({2}), bays_faulty=frozenset({2})),
     Off()),
    ("bay2_fault", "fault", PanelState(bays_faulty=frozenset({2})), On()),
    ("bay2_fault", "fault", PanelState(bays_faulty=frozenset({1})), Off()),
])
def test_roles_and_meanings(role: str, on_means: str, state: PanelState,
                            expected: LedLook) -> None:
    assert plan_looks([lamp(role, on_means)], state, offers_all)[role] == expected


@pytest.mark.parametrize(("phase", "pattern"), [
    (Phase.BOOTING, SLOW_BLINK),
    (Phase.BUTTON_HELD, HOLD_BLINK),
    (Phase.FACTORY_RESET_PENDING, FAST_BLINK),
    (Phase.SHUTTING_DOWN, SHUTDOWN_BLIP),
])
def test_phase_patterns_on_the_status_lamp(phase: Phase, pattern: Blink) -> None:
    lamps = [lamp("power", "ok"), lamp("status", "ok", "heartbeat")]
    looks = plan_looks(lamps, PanelState(phase=phase), offers_all)
    assert looks == {"power": On(), "status": pattern}


def test_without_a_status_lamp_the_power_lamp_shows_the_phase() -> None:
    lamps = [lamp("power", "ok"), lamp("hdd", "fault"), lamp("network", "fault")]
    state = PanelState(phase=Phase.FACTORY_RESET_PENDING, network_up=True)
    assert plan_looks(lamps, state, offers_all) == {
        "power": FAST_BLINK, "hdd": Off(), "network": Off()}
    assert plan_looks(lamps, RUNNING, offers_all)["power"] == On()


def test_phase_lamp_steady_without_timer_trigger() -> None:
    lamps = [lamp("status", "ok", "heartbeat")]
    looks = plan_looks(lamps, PanelState(phase=Phase.BOOTING), offers_only("heartbeat"))
    assert looks["status"] == On()


def test_kernel_trigger_not_offered_falls_back_to_a_steady_state(
        sim_profile: BoardProfile) -> None:
    indicators = sim_profile.leds.indicators
    running = plan_looks(indicators, RUNNING, offers_only("timer"))
    assert running["status"] == On()   # no heartbeat: steadily lit while working
    assert running["hdd"] == Off()     # no disk-activity, no disks
    with_disks = plan_looks(indicators, PanelState(phase=Phase.RUNNING,
                                                   bays_present=frozenset({1})),
                            offers_none)
    assert with_disks["hdd"] == On()   # lit while disks are present


def test_bay_activity_lamps_of_the_real_board(real_profile: BoardProfile) -> None:
    state = PanelState(phase=Phase.RUNNING, bays_present=frozenset({1, 3}))
    kernel = plan_looks(real_profile.leds.indicators, state, offers_all)
    assert [kernel[f"bay{n}"] for n in (1, 2, 3, 4)] == [Trigger(f"ata{n}") for n in
                                                         (1, 2, 3, 4)]
    steady = plan_looks(real_profile.leds.indicators, state, offers_only("timer"))
    assert [steady[f"bay{n}"] for n in (1, 2, 3, 4)] == [On(), Off(), On(), Off()]


# --- the panel on a tree -------------------------------------------------------------------


def section_on(make_led: MakeLed, indicators: list[Indicator]) -> LedsSection:
    for indicator in indicators:
        root = make_led(indicator.device).parent
    return LedsSection(backend="sim", sysfs_root=root, indicators=tuple(indicators))


def value(root: Path, device: str, attribute: str) -> str:
    return (root / device / attribute).read_text().strip()


def test_panel_writes_only_changed_lamps(make_led: MakeLed) -> None:
    section = section_on(make_led, [lamp("power", "ok"), lamp("status", "ok", "heartbeat"),
                                    lamp("alarm", "active"), lamp("network", "fault")])
    root = section.sysfs_root
    panel = FrontPanel.from_section(section)
    report = panel.start()
    assert set(report.changed) == {"power", "status", "alarm", "network"}
    assert value(root, "t:status", "trigger") == "timer"  # booting: slow blink
    assert value(root, "t:status", "delay_on") == "500"

    assert value(root, "t:network", "brightness") == "255"  # booting: no network yet

    report = panel.apply(RUNNING)
    assert report.changed == ("status", "network")
    assert value(root, "t:network", "brightness") == "0"  # network up: fault lamp off
    assert value(root, "t:status", "trigger") == "heartbeat"
    assert panel.apply(RUNNING).writes == 0

    report = panel.apply(PanelState(phase=Phase.RUNNING, network_up=True, alarm_active=True))
    assert (report.changed, report.writes) == (("alarm",), 1)
    assert value(root, "t:alarm", "brightness") == "255"
    assert panel.state == PanelState(phase=Phase.RUNNING, network_up=True, alarm_active=True)


def test_missing_lamp_is_reported_and_the_rest_still_work(make_led: MakeLed) -> None:
    section = section_on(make_led, [lamp("power", "ok")])
    section = LedsSection(backend="sim", sysfs_root=section.sysfs_root, indicators=(
        lamp("power", "ok"), lamp("alarm", "active")))  # t:alarm was never made
    panel = FrontPanel.from_section(section)
    panel.start(PanelState(phase=Phase.RUNNING, alarm_active=True))
    assert [e.device for e in panel.unavailable] == ["t:alarm"]
    assert isinstance(panel.unavailable[0], LedNotFound)
    assert set(panel.lamps) == {"power"}
    assert value(section.sysfs_root, "t:power", "brightness") == "255"


def test_failed_write_is_reported_then_retried(make_led: MakeLed) -> None:
    section = section_on(make_led, [lamp("alarm", "active"), lamp("record", "active")])
    root = section.sysfs_root
    panel = FrontPanel.from_section(section)
    panel.start(RUNNING)
    (root / "t:alarm" / "brightness").unlink()
    report = panel.apply(PanelState(phase=Phase.RUNNING, alarm_active=True, recording=True))
    assert report.changed == ("record",)
    assert [e.device for e in report.failed] == ["t:alarm"]
    (root / "t:alarm" / "brightness").write_text("0\n")
    report = panel.apply(PanelState(phase=Phase.RUNNING, alarm_active=True, recording=True))
    assert report.changed == ("alarm",) and not report.failed
    assert value(root, "t:alarm", "brightness") == "255"
