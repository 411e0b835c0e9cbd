"""The LED-class driver against a temporary sysfs tree: what it writes, which trigger it
selects, how it blinks through the kernel's timer, and how it reports a bad device."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from hal.leds import (
    Blink,
    LedError,
    LedNotFound,
    LedNotWritable,
    Off,
    On,
    SysfsLed,
    Trigger,
    TriggerNotOffered,
    parse_trigger_list,
)

MakeLed = Callable[..., Path]


def read(path: Path, attribute: str) -> str:
    return (path / attribute).read_text().strip()


def opened(make_led: MakeLed, name: str = "nvr:red:alarm", **kwargs: object) -> tuple[
        SysfsLed, Path]:
    path = make_led(name, **kwargs)
    led = SysfsLed(name, path.parent)
    led.open()
    return led, path


def test_parse_trigger_list() -> None:
    parsed = parse_trigger_list("none rc-feedback [timer] heartbeat disk-activity\n")
    assert parsed.offered == ("none", "rc-feedback", "timer", "heartbeat", "disk-activity")
    assert parsed.active == "timer"
    assert parse_trigger_list("[none] timer").active == "none"
    assert parse_trigger_list("").offered == ()


def test_open_reads_max_brightness_and_offered_triggers(make_led: MakeLed) -> None:
    led, _ = opened(make_led, max_brightness=1, triggers="none [heartbeat] timer")
    assert led.max_brightness == 1
    assert led.offered == ("none", "heartbeat", "timer")
    assert led.active_trigger == "heartbeat"
    assert led.offers("timer") and not led.offers("disk-activity")
    assert led.look is None  # nothing shown yet: the first show writes everything


def test_brightness_writes_and_range(make_led: MakeLed) -> None:
    led, path = opened(make_led, max_brightness=255)
    led.set_brightness(128)
    assert read(path, "brightness") == "128"
    assert led.read_brightness() == 128
    with pytest.raises(ValueError, match=r"outside 0\.\.255"):
        led.set_brightness(256)
    assert read(path, "brightness") == "128"


def test_show_writes_only_what_changed(make_led: MakeLed) -> None:
    led, path = opened(make_led, max_brightness=1)
    assert led.show(On()) == 2  # look unknown: trigger none, then brightness
    assert (read(path, "trigger"), read(path, "brightness")) == ("none", "1")
    assert led.show(On()) == 0
    assert led.show(Off()) == 1  # no trigger to leave: the brightness only
    assert read(path, "brightness") == "0"
    assert led.look == Off()


def test_kernel_trigger_selected_when_offered(make_led: MakeLed) -> None:
    led, path = opened(make_led, triggers="[none] timer heartbeat")
    assert led.show(Trigger("heartbeat")) == 1
    assert read(path, "trigger") == "heartbeat"
    assert led.active_trigger == "heartbeat"
    # Leaving a trigger for a steady look writes "none" first, then the brightness.
    assert led.show(On()) == 2
    assert (read(path, "trigger"), read(path, "brightness")) == ("none", "255")


def test_unsupported_trigger_is_refused_without_writing(make_led: MakeLed) -> None:
    led, path = opened(make_led, triggers="[none] timer heartbeat")
    with pytest.raises(TriggerNotOffered) as caught:
        led.show(Trigger("disk-activity"))
    assert caught.value.device == "nvr:red:alarm"
    assert "disk-activity" in str(caught.value) and "heartbeat" in str(caught.value)
    with pytest.raises(TriggerNotOffered):
        led.set_trigger("ata3")
    assert read(path, "trigger") == "[none] timer heartbeat"  # untouched


def test_blink_uses_the_timer_trigger_and_its_delays(make_led: MakeLed) -> None:
    led, path = opened(make_led)
    assert led.show(Blink(100, 200)) == 3
    assert (read(path, "trigger"), read(path, "delay_on"), read(path, "delay_off")) == \
        ("timer", "100", "200")
    # Same trigger, new rhythm: only the delay that changed.
    assert led.show(Blink(100, 900)) == 1
    assert (read(path, "delay_on"), read(path, "delay_off")) == ("100", "900")
    # Back to steady: the timer is removed explicitly.
    assert led.show(Off()) == 2
    assert (read(path, "trigger"), read(path, "brightness")) == ("none", "0")


def test_blink_without_timer_trigger_is_refused(make_led: MakeLed) -> None:
    led, _ = opened(make_led, triggers="[none] heartbeat")
    with pytest.raises(TriggerNotOffered, match="timer"):
        led.show(Blink(500, 500))


def test_blink_times_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1 ms"):
        Blink(0, 500)


def test_brightness_zero_cancels_the_timer(make_led: MakeLed) -> None:
    led, path = opened(make_led)
    led.set_trigger("timer")
    led.set_blink_delays(50, 50)
    assert (read(path, "delay_on"), read(path, "delay_off")) == ("50", "50")
    led.set_brightness(0)
    assert led.active_trigger == "none"
    assert (read(path, "trigger"), read(path, "brightness")) == ("none", "0")
    with pytest.raises(LedError, match="only while the timer trigger is active"):
        led.set_blink_delays(50, 50)


def test_missing_device_names_it_and_lists_the_present_ones(make_led: MakeLed) -> None:
    path = make_led("nvr:blue:lan")
    led = SysfsLed("nvr:red:hdd-fault", path.parent)
    with pytest.raises(LedNotFound) as caught:
        led.open()
    message = str(caught.value)
    assert "nvr:red:hdd-fault" in message and "present: nvr:blue:lan" in message
    assert caught.value.device == "nvr:red:hdd-fault"
    with pytest.raises(LedError, match="not opened"):
        led.show(On())


def test_missing_attribute_is_reported(make_led: MakeLed) -> None:
    path = make_led("nvr:red:alarm")
    (path / "trigger").unlink()
    with pytest.raises(LedNotFound, match=r"nvr:red:alarm.*no trigger attribute"):
        SysfsLed("nvr:red:alarm", path.parent).open()


def test_failed_write_forgets_the_look_and_rewrites_everything(make_led: MakeLed) -> None:
    led, path = opened(make_led)
    led.show(On())
    (path / "delay_on").unlink()  # a timer trigger that failed to appear
    with pytest.raises(LedNotFound, match="delay_on"):
        led.show(Blink(100, 100))
    assert led.look is None
    (path / "delay_on").write_text("500\n")
    assert led.show(Blink(100, 100)) == 3
    assert read(path, "delay_on") == "100"


def _bind_read_only(source: Path, target: Path) -> None:
    subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)


def test_not_writable_device_is_reported(tmp_path: Path, make_led: MakeLed) -> None:
    path = make_led("nvr:green:power")
    if os.geteuid() != 0:
        (path / "brightness").chmod(0o444)
        root = path.parent
    else:
        root = tmp_path / "ro"
        root.mkdir()
        try:
            _bind_read_only(path.parent, root)
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            pytest.skip(f"cannot make a read-only bind mount here: {exc}")
    try:
        led = SysfsLed("nvr:green:power", root)
        with pytest.raises(LedNotWritable) as caught:
            led.open()
        assert caught.value.device == "nvr:green:power"
        assert "brightness is not writable" in str(caught.value)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(root)], check=False)
