"""A network PTZ camera driven over ONVIF PTZ (ver20), behind the same
:class:`hal.ptz.base.PtzCamera` interface as the RS-485 domes, so linkage, tours and the
UI do not care which kind a channel has.

Mapping:

- ``move``/``zoom`` → ``ContinuousMove`` in the generic velocity space (-1..1), speed
  0..63 scaled to 0..1 (a moving axis never gets 0: Pelco's speed 0 is "slowest", not
  "still"); turbo is full speed. Every motion call sends pan/tilt *and* zoom, so the new
  call replaces the old one as the interface promises (``zoom(IN)`` stops a pan).
- ``stop`` → ``Stop`` (pan/tilt and zoom).
- Presets are numbers here and tokens on the camera. Presets this class stores are named
  ``Preset N``; the map number ↔ token comes from ``GetPresets`` (names ``Preset N``, or
  numeric tokens as many cameras use), cached and re-read when a number is missing.
- Focus, iris (ONVIF Imaging), auxiliaries and patterns are not offered:
  ``NotImplementedError`` says so.

Errors: :class:`CameraPtzError` (a :class:`hal.ptz.errors.PtzError`) carrying the
:class:`~.errors.CameraError`; :class:`PresetNotSet` for a preset the camera does not have.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

from hal.ptz.base import DEFAULT_SPEED, PtzCamera
from hal.ptz.commands import MAX_SPEED, Focus, Iris, Pan, Tilt, Zoom, clamp_speed
from hal.ptz.errors import PtzError
from nvrd.cameras.onvif.client import OnvifDevice, answer_field
from nvrd.cameras.onvif.errors import CameraError, OnvifFault

__all__ = ["MAX_PRESET", "CameraPtzError", "OnvifPtz", "PresetNotSet", "preset_numbers"]

MAX_PRESET = 255
"""Preset numbers 1..255, as for the RS-485 domes (one range for the API and linkage)."""

_PRESET_NAME = re.compile(r"^\s*preset[\s_-]*0*(\d+)\s*$", re.IGNORECASE)


class CameraPtzError(PtzError):
    """The camera failed a PTZ call; ``error`` is the camera error (its ``code`` too)."""

    def __init__(self, error: CameraError) -> None:
        super().__init__(str(error))
        self.error = error
        self.code = error.code


class PresetNotSet(PtzError, LookupError):
    """Going to a preset the camera does not have."""

    def __init__(self, address: str, preset: int) -> None:
        super().__init__(f"the camera at {address} has no preset {preset} (set it first)")
        self.preset = preset


def preset_numbers(presets: Any) -> dict[int, str]:
    """``GetPresets`` → {number: token}: a preset's number is from its name ``Preset N``,
    else from a numeric token; presets with neither are not reachable by number."""
    found: dict[int, str] = {}
    for preset in presets or ():
        token = answer_field(preset, "token")
        if not token:
            continue
        match = _PRESET_NAME.match(str(answer_field(preset, "Name") or ""))
        number = int(match.group(1)) if match else (
            int(token) if str(token).isdigit() else None)
        if number is not None and 1 <= number <= MAX_PRESET:
            found.setdefault(number, str(token))
    return found


class OnvifPtz(PtzCamera):
    """The PTZ of one ONVIF camera, through ``profile_token`` (the profile with the PTZ
    configuration, normally the main one). ``device`` must be open while this is used."""

    def __init__(self, device: OnvifDevice, profile_token: str) -> None:
        self._device = device
        self._profile = profile_token
        self._presets: dict[int, str] | None = None
        self._lock = asyncio.Lock()

    # --- motion ------------------------------------------------------------------------

    async def move(self, pan: Pan = Pan.STOP, tilt: Tilt = Tilt.STOP, *,
                   pan_speed: int = DEFAULT_SPEED, tilt_speed: int = DEFAULT_SPEED,
                   turbo: bool = False) -> None:
        if pan is Pan.STOP and tilt is Tilt.STOP:
            await self.stop()
            return
        x = {Pan.LEFT: -1.0, Pan.RIGHT: 1.0}.get(pan, 0.0) * _velocity(pan_speed, turbo)
        y = {Tilt.UP: 1.0, Tilt.DOWN: -1.0}.get(tilt, 0.0) * _velocity(tilt_speed, False)
        await self._continuous(x, y, 0.0)

    async def zoom(self, zoom: Zoom) -> None:
        if zoom is Zoom.STOP:
            await self.stop()
            return
        speed = _velocity(DEFAULT_SPEED, False)
        await self._continuous(0.0, 0.0, speed if zoom is Zoom.IN else -speed)

    async def stop(self) -> None:
        await self._call("Stop", {"ProfileToken": self._profile, "PanTilt": True,
                                  "Zoom": True})

    async def focus(self, focus: Focus) -> None:
        raise NotImplementedError("focus is not offered for ONVIF cameras here (it is the "
                                  "camera's Imaging service; use the camera's autofocus)")

    async def iris(self, iris: Iris) -> None:
        raise NotImplementedError("iris is not offered for ONVIF cameras here (it is the "
                                  "camera's Imaging service; use the camera's auto iris)")

    # --- presets -----------------------------------------------------------------------

    async def set_preset(self, preset: int) -> None:
        number = _check_preset(preset)
        async with self._lock:
            known = await self._preset_map()
            params: dict[str, Any] = {"ProfileToken": self._profile,
                                      "PresetName": f"Preset {number}"}
            if number in known:
                params["PresetToken"] = known[number]
            answer = await self._call("SetPreset", params)
            token = answer if isinstance(answer, str) else answer_field(answer, "PresetToken")
            if token:
                known[number] = str(token)
            else:  # the camera did not say: read the list again next time
                self._presets = None

    async def call_preset(self, preset: int, *, speed: int | None = None) -> None:
        number = _check_preset(preset)
        token = await self._token(number)
        params: dict[str, Any] = {"ProfileToken": self._profile, "PresetToken": token}
        if speed is not None:
            v = _velocity(speed, False)
            params["Speed"] = {"PanTilt": {"x": v, "y": v}, "Zoom": {"x": v}}
        try:
            await self._call("GotoPreset", params)
        except CameraPtzError as exc:
            if not isinstance(exc.error, OnvifFault):
                raise
            # the cached token may be stale (presets edited on the camera): once more
            self._presets = None
            fresh = await self._token(number)
            if fresh == token:
                raise
            params["PresetToken"] = fresh
            await self._call("GotoPreset", params)

    async def clear_preset(self, preset: int) -> None:
        number = _check_preset(preset)
        async with self._lock:
            known = await self._preset_map(refresh=True)
            token = known.pop(number, None)
            if token is None:
                return  # nothing to forget
            await self._call("RemovePreset", {"ProfileToken": self._profile,
                                              "PresetToken": token})

    async def presets(self) -> dict[int, str]:
        """The camera's presets reachable by number: {number: token}."""
        async with self._lock:
            return dict(await self._preset_map(refresh=True))

    # --- not offered ---------------------------------------------------------------------

    async def aux(self, number: int, on: bool) -> None:
        raise NotImplementedError("auxiliary outputs are not offered for ONVIF cameras "
                                  "here (ONVIF auxiliary commands are vendor-named)")

    async def pattern_start(self) -> None:
        raise NotImplementedError("ONVIF PTZ has no patterns (use a tour of presets)")

    async def pattern_stop(self) -> None:
        raise NotImplementedError("ONVIF PTZ has no patterns (use a tour of presets)")

    async def pattern_run(self) -> None:
        raise NotImplementedError("ONVIF PTZ has no patterns (use a tour of presets)")

    # --- internals ---------------------------------------------------------------------

    async def _continuous(self, x: float, y: float, z: float) -> None:
        await self._call("ContinuousMove", {
            "ProfileToken": self._profile,
            "Velocity": {"PanTilt": {"x": x, "y": y}, "Zoom": {"x": z}},
        })

    async def _call(self, operation: str, params: Mapping[str, Any]) -> Any:
        try:
            return await self._device.call("ptz", operation, params)
        except CameraError as exc:
            raise CameraPtzError(exc) from exc

    async def _preset_map(self, *, refresh: bool = False) -> dict[int, str]:
        if self._presets is None or refresh:
            answer = await self._call("GetPresets", {"ProfileToken": self._profile})
            self._presets = preset_numbers(answer)
        return self._presets

    async def _token(self, number: int) -> str:
        async with self._lock:
            token = (await self._preset_map()).get(number)
            if token is None:
                token = (await self._preset_map(refresh=True)).get(number)
        if token is None:
            raise PresetNotSet(self._device.address, number)
        return token


def _velocity(speed: int, turbo: bool) -> float:
    if turbo:
        return 1.0
    return max(1, clamp_speed(speed)) / MAX_SPEED


def _check_preset(preset: int) -> int:
    if not 1 <= int(preset) <= MAX_PRESET:
        raise ValueError(f"preset {preset} is out of range 1..{MAX_PRESET}")
    return int(preset)


