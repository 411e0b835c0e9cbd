""""Add by address": ask a camera everything the recorder needs to fill in a channel.

Order matters (see :func:`probe_camera`): the clock first, anonymously, which also shows
whether anything ONVIF answers at all; then one authenticated call that settles the
password; only then the rest. A wrong password therefore costs the camera's lockout
counter one failed attempt per probe, and an inactive camera is recognised before any
login is tried on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from nvrd.cameras.onvif.client import CameraClock, DeviceInfo, MediaProfile, OnvifDevice
from nvrd.cameras.onvif.errors import OnvifFault

__all__ = ["ProbeResult", "choose_streams", "probe_camera"]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What a probe found: enough to fill a channel's ``[cameras.onvif]`` and streams."""

    host: str
    port: int
    info: DeviceInfo
    mac: str
    """Lower-case ``aa:bb:..``; "" when the camera does not say."""
    profiles: tuple[MediaProfile, ...]
    main: MediaProfile
    """The highest-resolution profile: the recorded stream."""
    sub: MediaProfile | None
    """The next one, if any: live grids and motion detection."""
    main_url: str
    sub_url: str | None
    clock: CameraClock
    ptz: bool
    """The camera offers ONVIF PTZ through the main profile."""


def choose_streams(profiles: list[MediaProfile]) -> tuple[MediaProfile, MediaProfile | None]:
    """Main = the highest resolution, sub = the next highest (ties: the camera's order).

    Raises ``ValueError`` when there is no video profile at all.
    """
    if not profiles:
        raise ValueError("no video profile")
    ranked = sorted(enumerate(profiles), key=lambda item: (-item[1].pixels, item[0]))
    main = ranked[0][1]
    sub = ranked[1][1] if len(ranked) > 1 else None
    return main, sub


async def probe_camera(host: str, port: int, username: str, password: str, *,
                       timeout_s: float = 10.0) -> ProbeResult:
    """Probe the camera at ``host:port``; raises :class:`~.errors.CameraError`.

    Calls, in order: GetSystemDateAndTime (anonymous), GetDeviceInformation (the one
    login that can fail), GetNetworkInterfaces, GetServices, GetProfiles, GetStreamUri
    for main and sub.
    """
    async with OnvifDevice(host, port, username, password, timeout_s=timeout_s) as device:
        clock = await device.clock()
        info = await device.device_information()
        mac = await device.mac()
        profiles = await device.profiles()
        try:
            main, sub = choose_streams(profiles)
        except ValueError:
            raise OnvifFault(f"the device at {device.address} has no video profile to "
                             "record (GetProfiles lists no video encoder): not a camera?",
                             address=device.address) from None
        main_url = await device.stream_uri(main.token)
        sub_url = await device.stream_uri(sub.token) if sub is not None else None
        ptz = main.ptz and await device.supports("ptz")
    return ProbeResult(host=host, port=port, info=info, mac=mac, profiles=tuple(profiles),
                       main=main, sub=sub, main_url=main_url, sub_url=sub_url, clock=clock,
                       ptz=ptz)
