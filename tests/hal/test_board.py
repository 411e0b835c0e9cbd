"""Board profiles: the shipped ones load with the hardware the issue asks for, and every
cross-field rule rejects a broken profile with a ``loc`` that points at the culprit.

Broken profiles are real files: a shipped profile is read, one thing is changed, and the
result is written to ``tmp_path`` and loaded through ``load_board_profile``.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from pydantic import ValidationError

from hal.board import (
    BoardProfile,
    BoardProfileError,
    BoardProfileNotFound,
    KernelPseController,
    SimPoeController,
    Tps23861Controller,
    find_board_profile,
    load_board_profile,
)

REPO = Path(__file__).resolve().parents[2]
BOARDS = REPO / "config" / "boards"
SIM = BOARDS / "sim.toml"
REAL = BOARDS / "nvr8p-tps.toml"

Raw = dict[str, Any]


def _raw(path: Path) -> Raw:
    with path.open("rb") as f:
        return tomllib.load(f)


def _write(tmp_path: Path, raw: Raw, name: str = "board.toml") -> Path:
    path = tmp_path / name
    path.write_text(tomli_w.dumps(raw))
    return path


def _rejected(tmp_path: Path, raw: Raw) -> list[Any]:
    """Load ``raw`` from a file and return the pydantic errors it must produce."""
    with pytest.raises(ValidationError) as info:
        load_board_profile(_write(tmp_path, raw))
    return info.value.errors()


def _locs(errors: list[Any]) -> list[tuple[str | int, ...]]:
    return [tuple(e["loc"]) for e in errors]


# --- the shipped profiles --------------------------------------------------------------------


def test_sim_profile_has_the_hardware_of_the_issue() -> None:
    board = load_board_profile(SIM)

    assert board.name == "sim"
    assert [b.number for b in board.disks.bays] == [1, 2, 3, 4]
    assert [p.port for p in board.poe.ports] == list(range(1, 9))
    assert [p.camera_channel for p in board.poe.ports] == list(range(1, 9))
    assert board.poe.total_budget_mw == 120_000
    assert {p.priority for p in board.poe.ports} == {"critical", "high", "low"}
    assert [a.number for a in board.gpio.alarm_inputs] == [1, 2, 3, 4]
    assert {a.contact for a in board.gpio.alarm_inputs} == {"NO", "NC"}
    assert [r.number for r in board.gpio.relays] == [1, 2]
    assert board.gpio.buzzer is not None
    assert {x.role for x in board.leds.indicators} == {
        "power", "status", "hdd", "hdd_fault", "network", "alarm", "record"}
    assert {k.role: k.key_code for k in board.buttons.keys} == {"reset": 0x198, "power": 116}
    ptz, console = board.serial_port("ptz"), board.serial_port("console")
    assert ptz is not None and console is not None
    assert (ptz.baud, ptz.framing, ptz.rs485) == (9600, "8N1", True)
    assert (console.baud, console.framing) == (115200, "8N1")


def test_sim_profile_is_simulated_everywhere() -> None:
    board = load_board_profile(SIM)

    assert all(isinstance(c, SimPoeController) for c in board.poe.controllers)
    assert (board.gpio.backend, board.leds.backend, board.buttons.backend,
            board.serial.backend) == ("sim", "sim", "sim", "sim")


def test_sim_bays_are_loop_devices() -> None:
    board = load_board_profile(SIM)

    bay = board.bay_for_device(None, "/devices/virtual/block/loop57")
    assert bay is not None and bay.number == 1
    sysfs_path = board.bay_for_device(None, "/sys/devices/virtual/block/loop60")
    assert sysfs_path is not None and sysfs_path.number == 4
    assert board.bay_for_device(None, "/devices/virtual/block/loop570") is None
    assert board.bay_for_device(None, "/devices/virtual/block/loop0") is None


def test_sim_summary_line() -> None:
    assert load_board_profile(SIM).summary() == (
        "sim: 4 bays, 8 PoE ports (120 W), 4 alarm inputs, 2 relays, buzzer, 7 LEDs, "
        "2 buttons, RS-485 sim-rs485, console sim-console")


def test_real_profile_describes_tps23861_gpiochip_led_class_and_ttys() -> None:
    board = load_board_profile(REAL)

    controllers = board.poe.controllers
    assert all(isinstance(c, Tps23861Controller) for c in controllers)
    assert sorted((c.i2c_bus, c.address) for c in controllers  # type: ignore[union-attr]
                  ) == [(1, 0x20), (1, 0x28)]
    assert len(board.poe.ports) == 8 and board.poe.total_budget_mw == 120_000
    assert [len(board.poe.ports_of(c.id)) for c in controllers] == [4, 4]
    assert board.gpio.backend == "gpiod"
    assert all(x.chip.startswith("/dev/gpiochip") for _, x in board.gpio.lines())
    assert (len(board.gpio.alarm_inputs), len(board.gpio.relays)) == (4, 2)
    assert board.gpio.buzzer is not None
    assert board.leds.sysfs_root == Path("/sys/class/leds")
    power, hdd_fault = board.led("power"), board.led("hdd_fault")
    assert power is not None and power.device == "nvr:green:power"
    assert hdd_fault is not None and hdd_fault.device == "nvr:red:hdd-fault"
    assert all(k.device == "/dev/input/by-path/platform-gpio-keys-event"
               for k in board.buttons.keys)
    assert board.summary().endswith("RS-485 ttyS1, console ttyS0")


def test_real_bays_match_both_id_path_spellings_and_the_devpath_fallback() -> None:
    board = load_board_profile(REAL)

    for id_path in ("pci-0000:00:17.0-ata-3", "pci-0000:00:17.0-ata-3.0"):
        bay = board.bay_for_device(id_path)
        assert bay is not None and bay.number == 3
    devpath = "/devices/pci0000:00/0000:00:17.0/ata2/host1/target1:0:0/1:0:0:0/block/sdb"
    bay = board.bay_for_device(None, devpath)
    assert bay is not None and bay.number == 2
    assert board.bay_for_device("pci-0000:00:14.0-usb-0:1:1.0-scsi-0:0:0:0") is None


def test_lookups() -> None:
    board = load_board_profile(SIM)

    port = board.poe_port_for_channel(5)
    assert port is not None and (port.port, port.controller, port.channel) == (5, "pse1", 0)
    assert board.poe_port_for_channel(9) is None
    alarm = board.alarm_input(4)
    assert alarm is not None and alarm.contact == "NC"
    assert board.alarm_input(5) is None
    relay = board.relay(2)
    assert relay is not None and relay.line == 9
    assert board.button("wps") is None
    assert board.poe.controller("pse0") is board.poe.controllers[0]


def test_profile_is_frozen() -> None:
    board = load_board_profile(SIM)

    with pytest.raises(ValidationError):
        board.name = "other"
    assert board.name == "sim"


def test_hal_does_not_import_nvrd() -> None:
    code = ("import sys, hal.board; "
            "sys.exit(any(m == 'nvrd' or m.startswith('nvrd.') for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr


# --- cross-field rules: each rejects a bad profile at the offending field --------------------

Mutation = Callable[[Raw], None]


def _set(*path: str | int, value: Any) -> Mutation:
    def mutate(raw: Raw) -> None:
        target: Any = raw
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def _append(*path: str, item: Raw) -> Mutation:
    def mutate(raw: Raw) -> None:
        target: Any = raw
        for key in path:
            target = target[key]
        target.append(item)
    return mutate


def _delete(*path: str | int) -> Mutation:
    def mutate(raw: Raw) -> None:
        target: Any = raw
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


def _kernel_pse(raw: Raw) -> None:
    """Port 1 moves to a kernel-pse controller but keeps its channel and loses its netdev."""
    raw["poe"]["controllers"].append({"id": "pse9", "kind": "kernel-pse"})
    raw["poe"]["ports"][0]["controller"] = "pse9"
    del raw["poe"]["ports"][0]["interface"]


def _no_board_budget(raw: Raw) -> None:
    del raw["poe"]["budget_mw"]
    raw["poe"]["controllers"][0]["budget_mw"] = 60_000  # pse1 declares none


def _unreachable_board_budget(raw: Raw) -> None:
    for controller in raw["poe"]["controllers"]:
        controller["budget_mw"] = 50_000  # 100 W in total, board says 120 W


SIM_RULES: list[tuple[str, Mutation, tuple[str | int, ...], str]] = [
    ("duplicate bay number", _set("disks", "bays", 2, "number", value=1),
     ("disks", "bays", 2, "number"), "board_duplicate"),
    ("bay without pattern", _delete("disks", "bays", 0, "devpath"),
     ("disks", "bays", 0, "id_path"), "board_bay_unmatched"),
    ("bay pattern swallows another bay", _set("disks", "bays", 1, "devpath",
                                              value="/devices/virtual/block/loop5*"),
     ("disks", "bays", 1, "devpath"), "board_ambiguous"),
    ("devpath not a kernel DEVPATH", _set("disks", "bays", 0, "devpath", value="/dev/loop57"),
     ("disks", "bays", 0, "devpath"), "board_devpath"),
    ("duplicate PoE port number", _set("poe", "ports", 5, "port", value=2),
     ("poe", "ports", 5, "port"), "board_duplicate"),
    ("port names an undeclared controller", _set("poe", "ports", 3, "controller", value="pse7"),
     ("poe", "ports", 3, "controller"), "board_unknown_controller"),
    ("channel beyond the controller", _set("poe", "ports", 0, "channel", value=4),
     ("poe", "ports", 0, "channel"), "board_channel_range"),
    ("two ports on one controller channel", _set("poe", "ports", 1, "channel", value=0),
     ("poe", "ports", 1, "channel"), "board_duplicate"),
    ("port without channel", _delete("poe", "ports", 6, "channel"),
     ("poe", "ports", 6, "channel"), "board_channel_missing"),
    ("kernel-pse port without interface", _kernel_pse,
     ("poe", "ports", 0, "interface"), "board_interface_missing"),
    ("kernel-pse port with a channel", _kernel_pse,
     ("poe", "ports", 0, "channel"), "board_channel_unused"),
    ("duplicate camera channel", _set("poe", "ports", 7, "camera_channel", value=3),
     ("poe", "ports", 7, "camera_channel"), "board_duplicate"),
    ("duplicate port interface", _set("poe", "ports", 4, "interface", value="poe1"),
     ("poe", "ports", 4, "interface"), "board_duplicate"),
    ("duplicate controller id", _set("poe", "controllers", 1, "id", value="pse0"),
     ("poe", "controllers", 1, "id"), "board_duplicate"),
    ("no board budget and a controller without one", _no_board_budget,
     ("poe", "budget_mw"), "board_budget_missing"),
    ("board budget above the controllers' sum", _unreachable_board_budget,
     ("poe", "budget_mw"), "board_budget_unreachable"),
    ("port allowed more than the board budget", _set("poe", "budget_mw", value=20_000),
     ("poe", "ports", 0, "budget_mw"), "board_budget_port"),
    ("unknown controller kind", _set("poe", "controllers", 0, "kind", value="pd69104"),
     ("poe", "controllers", 0), "union_tag_invalid"),
    ("misspelt key", _set("poe", "ports", 0, "budget_w", value=30_000),
     ("poe", "ports", 0, "budget_w"), "extra_forbidden"),
    ("two alarm inputs numbered alike", _set("gpio", "alarm_inputs", 3, "number", value=1),
     ("gpio", "alarm_inputs", 3, "number"), "board_duplicate"),
    ("relay on an alarm input's line", _set("gpio", "relays", 1, "line", value=3),
     ("gpio", "relays", 1, "line"), "board_duplicate"),
    ("buzzer on a relay's line", _set("gpio", "buzzer", "line", value=8),
     ("gpio", "buzzer", "line"), "board_duplicate"),
    ("alarm input contact neither NO nor NC", _set("gpio", "alarm_inputs", 0, "contact",
                                                   value="NX"),
     ("gpio", "alarm_inputs", 0, "contact"), "literal_error"),
    ("negative debounce", _set("gpio", "alarm_inputs", 0, "debounce_ms", value=-1),
     ("gpio", "alarm_inputs", 0, "debounce_ms"), "greater_than_equal"),
    ("GPIO chip path outside /dev", _set("gpio", "relays", 0, "chip", value="sys/gpiochip0"),
     ("gpio", "relays", 0, "chip"), "board_gpio_chip"),
    ("LED role outside the fixed set", _set("leds", "indicators", 0, "role", value="disco"),
     ("leds", "indicators", 0, "role"), "board_led_role"),
    ("duplicate LED role", _set("leds", "indicators", 6, "role", value="alarm"),
     ("leds", "indicators", 6, "role"), "board_duplicate"),
    ("duplicate LED device", _set("leds", "indicators", 1, "device", value="sim:green:power"),
     ("leds", "indicators", 1, "device"), "board_duplicate"),
    ("LED for an undeclared bay", _append("leds", "indicators",
                                          item={"role": "bay5", "device": "sim:blue:bay5",
                                                "on_means": "activity"}),
     ("leds", "indicators", 7, "role"), "board_led_bay"),
    ("fault LED that lights when all is well", _set("leds", "indicators", 3, "on_means",
                                                    value="ok"),
     ("leds", "indicators", 3, "on_means"), "board_led_meaning"),
    ("LED device with a path", _set("leds", "indicators", 0, "device", value="../power"),
     ("leds", "indicators", 0, "device"), "board_sysfs_name"),
    ("button role outside the set", _set("buttons", "keys", 0, "role", value="eject"),
     ("buttons", "keys", 0, "role"), "literal_error"),
    ("duplicate button role", _set("buttons", "keys", 1, "role", value="reset"),
     ("buttons", "keys", 1, "role"), "board_duplicate"),
    ("two roles on one key", _set("buttons", "keys", 1, "key_code", value=0x198),
     ("buttons", "keys", 1, "key_code"), "board_duplicate"),
    ("button without a source", _delete("buttons", "keys", 0, "device"),
     ("buttons", "keys", 0, "device"), "board_key_source"),
    ("serial parity not N/E/O", _set("serial", "ports", 0, "parity", value="M"),
     ("serial", "ports", 0, "parity"), "literal_error"),
    ("non-standard baud rate", _set("serial", "ports", 0, "baud", value=9601),
     ("serial", "ports", 0, "baud"), "literal_error"),
    ("nine data bits", _set("serial", "ports", 1, "data_bits", value=9),
     ("serial", "ports", 1, "data_bits"), "literal_error"),
    ("1.5 stop bits", _set("serial", "ports", 1, "stop_bits", value=1.5),
     ("serial", "ports", 1, "stop_bits"), "literal_error"),
    ("serial role outside the set", _set("serial", "ports", 1, "role", value="modem"),
     ("serial", "ports", 1, "role"), "literal_error"),
    ("two consoles", _set("serial", "ports", 0, "role", value="console"),
     ("serial", "ports", 1, "role"), "board_duplicate"),
    ("RS-485 direction control on an RS-232 port",
     _set("serial", "ports", 1, "rs485_rts_direction", value=True),
     ("serial", "ports", 1, "rs485_rts_direction"), "board_rs485"),
    ("profile name with a path", _set("name", value="../sim"), ("name",),
     "string_pattern_mismatch"),
]


@pytest.mark.parametrize(("mutate", "loc", "kind"), [(m, loc, k) for _, m, loc, k in SIM_RULES],
                         ids=[rule[0] for rule in SIM_RULES])
def test_rule_rejects_bad_sim_profile(tmp_path: Path, mutate: Mutation,
                                      loc: tuple[str | int, ...], kind: str) -> None:
    raw = copy.deepcopy(_raw(SIM))
    mutate(raw)

    errors = _rejected(tmp_path, raw)

    assert (loc, kind) in [(tuple(e["loc"]), e["type"]) for e in errors], errors


REAL_RULES: list[tuple[str, Mutation, tuple[str | int, ...], str]] = [
    ("I²C address beyond 7 bits", _set("poe", "controllers", 1, "address", value=0x90),
     ("poe", "controllers", 1, "tps23861", "address"), "board_i2c_address"),
    ("reserved I²C address", _set("poe", "controllers", 0, "address", value=0x02),
     ("poe", "controllers", 0, "tps23861", "address"), "board_i2c_address"),
    ("two TPS23861 on one address", _set("poe", "controllers", 1, "address", value=0x20),
     ("poe", "controllers", 1, "address"), "board_duplicate"),
    ("PoE interrupt on the buzzer's line", _set("poe", "controllers", 1, "interrupt", "line",
                                                value=14),
     ("poe", "controllers", 1, "interrupt", "line"), "board_duplicate"),
    ("PoE interrupts sharing a line", _set("poe", "controllers", 1, "interrupt", "line",
                                           value=20),
     ("poe", "controllers", 1, "interrupt", "line"), "board_duplicate"),
    ("greedy ID_PATH glob", _set("disks", "bays", 0, "id_path",
                                 value="pci-0000:00:17.0-ata-*"),
     ("disks", "bays", 0, "id_path"), "board_ambiguous"),
    ("tty device that is no device", _set("serial", "ports", 0, "device", value="ttyS1"),
     ("serial", "ports", 0, "device"), "board_serial_device"),
    ("evdev device outside /dev/input", _set("buttons", "keys", 0, "device",
                                             value="/dev/gpio-keys"),
     ("buttons", "keys", 0, "device"), "board_key_device"),
    ("relative sysfs root", _set("leds", "sysfs_root", value="sys/class/leds"),
     ("leds", "sysfs_root"), "board_path"),
]


@pytest.mark.parametrize(("mutate", "loc", "kind"), [(m, loc, k) for _, m, loc, k in REAL_RULES],
                         ids=[rule[0] for rule in REAL_RULES])
def test_rule_rejects_bad_real_profile(tmp_path: Path, mutate: Mutation,
                                       loc: tuple[str | int, ...], kind: str) -> None:
    raw = copy.deepcopy(_raw(REAL))
    mutate(raw)

    errors = _rejected(tmp_path, raw)

    assert (loc, kind) in [(tuple(e["loc"]), e["type"]) for e in errors], errors


def test_error_names_the_bad_value(tmp_path: Path) -> None:
    raw = _raw(REAL)
    raw["poe"]["controllers"][1]["address"] = 0x90

    [error] = _rejected(tmp_path, raw)

    assert "0x90" in error["msg"] and error["input"] == 0x90


def test_all_cross_field_problems_are_reported_together(tmp_path: Path) -> None:
    raw = _raw(SIM)
    raw["poe"]["ports"][2]["port"] = 1
    raw["poe"]["ports"][3]["controller"] = "pse7"
    raw["poe"]["ports"][4]["camera_channel"] = 1
    raw["gpio"]["relays"][0]["line"] = 0

    locs = _locs(_rejected(tmp_path, raw))

    assert locs == [("poe", "ports", 2, "port"), ("poe", "ports", 4, "camera_channel"),
                    ("poe", "ports", 3, "controller"), ("gpio", "relays", 0, "line")]


def test_board_budget_can_be_derived_from_the_controllers(tmp_path: Path) -> None:
    raw = _raw(SIM)
    del raw["poe"]["budget_mw"]
    raw["poe"]["controllers"][0]["budget_mw"] = 60_000
    raw["poe"]["controllers"][1]["budget_mw"] = 65_000

    board = load_board_profile(_write(tmp_path, raw))

    assert board.poe.total_budget_mw == 125_000
    assert "8 PoE ports (125 W)" in board.summary()


def test_port_budget_is_bounded_by_its_controller(tmp_path: Path) -> None:
    raw = _raw(SIM)
    raw["poe"]["controllers"][1]["budget_mw"] = 20_000
    raw["poe"]["controllers"][0]["budget_mw"] = 100_000

    errors = _rejected(tmp_path, raw)

    # Ports 5-7 are on pse1 with the default 30 W; port 8 (15.4 W) fits.
    assert _locs(errors) == [("poe", "ports", i, "budget_mw") for i in (4, 5, 6)]
    assert "controller pse1" in errors[0]["msg"]


def test_kernel_pse_ports_are_addressed_by_interface(tmp_path: Path) -> None:
    raw = _raw(SIM)
    raw["poe"]["controllers"] = [{"id": "pse", "kind": "kernel-pse", "budget_mw": 120_000}]
    for port in raw["poe"]["ports"]:
        port["controller"] = "pse"
        del port["channel"]

    board = load_board_profile(_write(tmp_path, raw))

    assert isinstance(board.poe.controllers[0], KernelPseController)
    assert [p.interface for p in board.poe.ports_of("pse")] == [f"poe{n}" for n in range(1, 9)]


def test_a_box_without_optional_hardware_loads(tmp_path: Path) -> None:
    path = tmp_path / "minimal.toml"
    path.write_text('name = "minimal"\n\n[[disks.bays]]\nnumber = 1\n'
                    'id_path = "pci-0000:00:17.0-ata-1*"\n')

    board = load_board_profile(path)

    assert board.summary() == ("minimal: 1 bay, no PoE, 0 alarm inputs, 0 relays, 0 LEDs, "
                               "0 buttons")


# --- files -----------------------------------------------------------------------------------


def test_toml_syntax_error_reports_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "broken"\n\n[poe]\nbudget_mw = 120 000\n')

    with pytest.raises(BoardProfileError) as info:
        load_board_profile(path)

    assert (info.value.path, info.value.line) == (path, 4)
    assert info.value.column is not None
    assert str(info.value).startswith(f"{path}:4:")
    assert "TOML" in str(info.value)


def test_unreadable_profile_is_a_board_profile_error(tmp_path: Path) -> None:
    with pytest.raises(BoardProfileError) as info:
        load_board_profile(tmp_path / "absent.toml")

    assert str(tmp_path / "absent.toml") in str(info.value)
    assert info.value.line is None


def test_binary_profile_is_a_board_profile_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.toml"
    path.write_bytes(b"name = \"\xff\xfe\"\n")

    with pytest.raises(BoardProfileError, match="UTF-8"):
        load_board_profile(path)


def test_find_prefers_the_first_directory(tmp_path: Path) -> None:
    installed = tmp_path / "boards"
    installed.mkdir()
    override = _write(installed, _raw(SIM), "sim.toml")

    assert find_board_profile("sim", [installed, BOARDS]) == override
    assert find_board_profile("nvr8p-tps", [installed, BOARDS]) == REAL


def test_find_error_lists_searched_dirs_and_available_profiles(tmp_path: Path) -> None:
    missing_dir = tmp_path / "not-there"
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "custom-box.toml").write_text('name = "custom-box"\n')
    (extra / "notes.txt").write_text("not a profile")

    with pytest.raises(FileNotFoundError) as info:
        find_board_profile("nvr16p", [missing_dir, extra, BOARDS])

    message = str(info.value)
    assert "'nvr16p'" in message
    assert str(missing_dir) in message and str(BOARDS) in message
    assert "available: custom-box, nvr8p-tps, sim" in message
    assert isinstance(info.value, BoardProfileNotFound)
    assert info.value.available == ("custom-box", "nvr8p-tps", "sim")


@pytest.mark.parametrize("name", ["../sim", "/etc/passwd", "Sim", ""])
def test_find_refuses_names_that_are_not_plain(name: str) -> None:
    with pytest.raises(FileNotFoundError, match="not a valid profile name"):
        find_board_profile(name, [BOARDS])


def test_every_shipped_profile_validates() -> None:
    names = sorted(p.stem for p in BOARDS.glob("*.toml"))

    assert {"sim", "nvr8p-tps"} <= set(names)
    for name in names:
        board = load_board_profile(find_board_profile(name, [BOARDS]))
        assert isinstance(board, BoardProfile) and board.name == name
