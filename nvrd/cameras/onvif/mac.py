"""MAC addresses as the recorder stores them: lower-case ``aa:bb:cc:dd:ee:ff``.

Cameras write them every way (``AA-BB-CC-DD-EE-FF``, ``aabb.ccdd.eeff``, bare hex); the
recorder recognises a camera that moved to a new address by its MAC, so one spelling.
(Separate from the ONVIF client so discovery does not load the SOAP library.)
"""

from __future__ import annotations

import re

__all__ = ["normalize_mac"]

_MAC = re.compile(r"^[0-9a-f]{12}$")


def normalize_mac(value: str | None) -> str:
    """Any common spelling → ``aa:bb:cc:dd:ee:ff``; "" for anything else (and for the
    all-zero address, which some cameras report when they do not know)."""
    digits = re.sub(r"[:\-. ]", "", (value or "").strip().lower())
    if not _MAC.match(digits) or digits == "0" * 12:
        return ""
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))
