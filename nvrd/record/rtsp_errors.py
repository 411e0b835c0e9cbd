"""Plain-words explanations of why a camera connection failed, for technicians.

FFmpeg's messages ("Server returned 401 Unauthorized (authorization failed)",
"Immediate exit requested") are accurate but cryptic on an installer's screen and in
the journal; these say what to check.
"""

from __future__ import annotations

import errno

import av


def describe_stream_error(exc: BaseException, *, open_timeout_s: float,
                          stall_timeout_s: float, idle_s: float | None) -> str:
    """One sentence saying what went wrong with an RTSP stream and what to check.

    ``idle_s`` is how long the stream had been silent when it failed, or None if it
    never opened (then a timeout means the camera did not answer at all). A silence past
    the stall limit is the cause whatever FFmpeg reports for it (its read timeout
    surfaces as "Immediate exit requested" or as an I/O error, depending on where it
    strikes). FFmpeg's own text is used without the URL, which may hold a password.
    """
    if idle_s is not None and idle_s >= stall_timeout_s:
        return f"no video from the camera for {idle_s:.0f} s"
    text = getattr(exc, "strerror", None) or str(exc)
    lowered = text.lower()
    if "401" in text or "unauthorized" in lowered:
        return "the camera refused the user name or password (401 Unauthorized)"
    if "403" in text or "forbidden" in lowered:
        return "the camera refused access to this stream (403 Forbidden)"
    if "404" in text or "not found" in lowered:
        return "the camera has no stream at this address (404 Not Found): check the path"
    if isinstance(exc, av.error.ExitError) or "immediate exit" in lowered:
        if idle_s is not None:
            return f"the connection was interrupted after {idle_s:.0f} s without video"
        return f"the camera did not answer within {open_timeout_s:g} s"
    code = getattr(exc, "errno", None)
    if code == errno.ECONNREFUSED or "connection refused" in lowered:
        return "connection refused: camera off, wrong address or wrong RTSP port"
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH) or "unreachable" in lowered:
        return "camera unreachable: check the cable, PoE port and IP address"
    if code == errno.ETIMEDOUT or "timed out" in lowered:
        return "connection timed out: camera unreachable or too busy"
    if code == errno.ECONNRESET or "reset by peer" in lowered:
        return "the camera closed the connection"
    if isinstance(exc, EOFError | av.error.EOFError) or "end of file" in lowered:
        return "the camera ended the stream"
    if "invalid data" in lowered:
        return "the camera sent data that is not a valid RTSP/RTP stream"
    return f"stream error: {text}"
