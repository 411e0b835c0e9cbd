"""Failures → :class:`~.errors.CameraError` in words (:func:`translate_error`).

What the network, HTTP, zeep or the camera's SOAP fault said becomes one of the error
kinds a technician can act on, naming ``address:port``. Cameras word their faults
differently; the words matched here are those of the ONVIF spec (``ter:NotAuthorized``)
and of common firmwares ("not activated", "locked").
"""

from __future__ import annotations

import errno

import aiohttp
import zeep.exceptions

from nvrd.cameras.onvif._library import ONVIFError
from nvrd.cameras.onvif.errors import (
    CameraError,
    CameraInactive,
    CameraLocked,
    CameraUnreachable,
    NotOnvif,
    OnvifFault,
    WrongPassword,
)

__all__ = ["NotSoapAnswer", "looks_like_soap", "translate_error"]


class NotSoapAnswer(Exception):
    """The HTTP answer is not XML at all (empty, JSON, an HTML page): zeep would fail on it
    in ways that do not say so."""

    def __init__(self, status: int, content_type: str) -> None:
        super().__init__(f"HTTP {status} {content_type or 'without a content type'}")
        self.status = status
        self.content_type = content_type


def looks_like_soap(content: bytes | None) -> bool:
    start = (content or b"").lstrip(b"\xef\xbb\xbf \t\r\n")[:64].lower()
    return start.startswith(b"<") and not start.startswith((b"<!doctype html", b"<html"))


def translate_error(exc: BaseException, *, address: str, operation: str,
                    timeout_s: float) -> CameraError:
    """What the camera's (or the network's) failure means, in words.

    ``operation`` is the SOAP operation that failed (it appears only where it helps).
    """
    if isinstance(exc, CameraError):
        return exc
    if isinstance(exc, zeep.exceptions.Fault):
        return _translate_fault(exc, address=address, operation=operation)
    if isinstance(exc, zeep.exceptions.TransportError):
        return _translate_http(exc.status_code, address=address)
    if isinstance(exc, NotSoapAnswer):
        return _translate_http(exc.status, address=address)
    if isinstance(exc, zeep.exceptions.XMLSyntaxError | zeep.exceptions.XMLParseError):
        return NotOnvif(f"{address} answers HTTP, but not with ONVIF SOAP ({operation}): "
                        "not an ONVIF camera, or ONVIF is switched off in its settings",
                        address=address)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return CameraUnreachable(f"cannot reach the camera at {address}: "
                                 f"{_connect_problem(exc.os_error)}", address=address)
    if isinstance(exc, TimeoutError):
        return CameraUnreachable(f"the camera at {address} did not answer {operation} "
                                 f"within {timeout_s:g} s", address=address)
    if isinstance(exc, aiohttp.ClientError | OSError):
        return CameraUnreachable(f"the connection to the camera at {address} failed during "
                                 f"{operation}: {exc or type(exc).__name__}", address=address)
    if isinstance(exc, ONVIFError):
        return OnvifFault(f"the camera at {address}: {operation} could not be sent ({exc})",
                          address=address, reason=str(exc))
    if isinstance(exc, zeep.exceptions.Error):
        return OnvifFault(f"the camera at {address} gave an answer to {operation} that "
                          f"cannot be read: {exc}", address=address, reason=str(exc))
    return OnvifFault(f"the camera at {address}: {operation} failed: "
                      f"{type(exc).__name__}: {exc}", address=address, reason=str(exc))


def _connect_problem(error: OSError) -> str:
    if error.errno == errno.ECONNREFUSED:
        return ("connection refused (nothing answers on that port: wrong port, or the "
                "camera's web/ONVIF service is off)")
    if error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "no route to host (is the camera powered and on this network?)"
    if error.errno == errno.ETIMEDOUT:
        return "the connection timed out (is the camera powered and on this network?)"
    return error.strerror or str(error)


def _translate_http(status: int | None, *, address: str) -> CameraError:
    if status in (401, 403):
        return WrongPassword(f"the camera at {address} refused the user name or password "
                             f"(HTTP {status})", address=address)
    if status == 404:
        return NotOnvif(f"{address} answers HTTP but has no ONVIF service there (HTTP 404): "
                        "not an ONVIF camera, or ONVIF is switched off in its settings",
                        address=address)
    if status == 200:
        return NotOnvif(f"{address} answers HTTP, but not with ONVIF SOAP: not an ONVIF "
                        "camera, or ONVIF is switched off in its settings", address=address)
    return NotOnvif(f"{address} answers HTTP {status}, but not with ONVIF SOAP: not an "
                    "ONVIF camera, or ONVIF is switched off in its settings", address=address)


def _subcode_names(fault: zeep.exceptions.Fault) -> tuple[str, ...]:
    names: list[str] = []
    for code in fault.subcodes or ():
        local = getattr(code, "localname", None) or str(code)
        names.append(str(local).rsplit("}", 1)[-1].rsplit(":", 1)[-1])
    return tuple(names)


def _translate_fault(fault: zeep.exceptions.Fault, *, address: str,
                     operation: str) -> CameraError:
    reason = str(fault.message or "").strip()
    subcodes = _subcode_names(fault)
    low = reason.lower()
    if fault.code is None and not subcodes and reason == "Unknown fault occured":
        # zeep's words for an HTTP error whose body is XML but not a SOAP fault
        return NotOnvif(f"{address} answers HTTP, but not with ONVIF SOAP: not an ONVIF "
                        "camera, or ONVIF is switched off in its settings", address=address)
    if "not activated" in low or "inactive" in low:
        return CameraInactive(f"the camera at {address} is not activated yet: set its "
                              "password (activate)", address=address)
    if "locked" in low:
        return CameraLocked(f"the camera at {address} locked the account after failed "
                            f"logins ({reason}); it unlocks by itself after a while, or "
                            "reboot the camera", address=address)
    if "NotAuthorized" in subcodes or "not authorized" in low or "authority" in low:
        return WrongPassword(f"the camera at {address} refused the user name or password",
                             address=address)
    if "ActionNotSupported" in subcodes:
        return OnvifFault(f"the camera at {address} does not support {operation}",
                          address=address, reason=reason, subcodes=subcodes)
    detail = f" ({', '.join(subcodes)})" if subcodes else ""
    return OnvifFault(f"the camera at {address} refused {operation}: "
                      f"{reason or 'no reason given'}{detail}",
                      address=address, reason=reason, subcodes=subcodes)
