"""What went wrong talking to a camera, in words a technician can act on.

Every failure of :mod:`nvrd.cameras.onvif` is one of these. ``code`` is the short machine
code the API returns (one kind → one HTTP status in the web layer); ``str(error)`` is the
sentence the installer reads, naming the camera's ``address:port`` and what to do.
Library errors (aiohttp, zeep) are wrapped with ``raise … from``, so logs keep the cause.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "CameraError",
    "CameraInactive",
    "CameraLocked",
    "CameraUnreachable",
    "NotOnvif",
    "OnvifFault",
    "WrongPassword",
]


class CameraError(Exception):
    """Base of every camera failure; ``address`` is ``host:port`` ("" when not known)."""

    code: ClassVar[str] = "camera_error"

    def __init__(self, message: str, *, address: str = "") -> None:
        super().__init__(message)
        self.address = address


class CameraUnreachable(CameraError):
    """No route, connection refused, or no answer in time: the network or the camera is
    down, or the address/port is wrong."""

    code = "unreachable"


class WrongPassword(CameraError):
    """The camera refused the user name or password."""

    code = "wrong_password"


class CameraInactive(CameraError):
    """The camera has never been activated: it has no password yet, so it refuses every
    call until one is set (:meth:`OnvifDevice.activate`)."""

    code = "inactive"


class CameraLocked(CameraError):
    """The camera locked the account after too many failed logins; it unlocks by itself
    after a while (Hikvision-like cameras: 30 min) or on a reboot."""

    code = "locked"


class NotOnvif(CameraError):
    """Something answers HTTP at that address, but not ONVIF (a web page, a 404, not SOAP),
    or the camera's ONVIF service is switched off."""

    code = "not_onvif"


class OnvifFault(CameraError):
    """Any other SOAP fault; the message carries the camera's own reason."""

    code = "fault"

    def __init__(self, message: str, *, address: str = "", reason: str = "",
                 subcodes: tuple[str, ...] = ()) -> None:
        super().__init__(message, address=address)
        self.reason = reason
        self.subcodes = subcodes
