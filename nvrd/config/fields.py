"""Reusable setting types: constrained, so the schema library does the checking and the
JSON schema (and so the OpenAPI document) states the same limits.

Each type's checks are pydantic constraints or ``AfterValidator`` functions; the messages
say what *is* allowed, because that is what an installer needs to fix the file.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from collections.abc import Callable, Hashable, Sequence
from typing import Annotated, TypeVar

from pydantic import (
    AfterValidator,
    AnyUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    UrlConstraints,
)
from pydantic_core import PydanticCustomError

from nvrd.config.errors import Violation, violations_error

# Lowercase identifier as used for file names (board profiles live in boards/<name>.toml).
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
# A wall-clock time of day; schedules also accept 24:00 as the end of the day.
CLOCK_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
END_CLOCK_TIME_PATTERN = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")


class Section(BaseModel):
    """Base of every configuration section: immutable once loaded, and an unknown key is
    an error (a misspelt setting must not be silently ignored). Attribute docstrings
    become the descriptions of the JSON schema."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


Name32 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
"""A display name of up to 32 characters (surrounding blanks dropped)."""
Name64 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
"""A display name of up to 64 characters (surrounding blanks dropped)."""

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=64)]
"""A lowercase identifier: letters, digits, ``-`` and ``_``."""

RtspUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["rtsp", "rtsps"],
                                           host_required=True)]
"""A camera stream: ``rtsp://`` or ``rtsps://`` with a host (credentials may be inline)."""


def _valid_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone", "unknown time zone; use an IANA name such as 'Europe/Paris', "
            "'America/New_York' or 'UTC'") from None
    return name


TimeZoneName = Annotated[str, StringConstraints(min_length=1, max_length=64),
                         AfterValidator(_valid_timezone)]
"""An IANA time zone name the system's zone database knows."""


def _valid_host(host: str) -> str:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.match(host):
            raise PydanticCustomError(
                "host", "must be an IP address (0.0.0.0 or :: for every interface) "
                "or a host name") from None
    return host


Host = Annotated[str, AfterValidator(_valid_host)]
"""An IPv4/IPv6 address or a host name to listen on."""

Port = Annotated[int, Field(ge=1, le=65535)]

T = TypeVar("T")


def check_unique(items: Sequence[T], key: Callable[[T], Hashable], *, field: str,
                 attribute: str) -> Sequence[T]:
    """Refuse every item whose ``key`` an earlier item already used, naming both.

    Called from a validator on the list field ``field``; each error points at
    ``<field>[i].<attribute>`` of a duplicate.
    """
    seen: dict[Hashable, int] = {}
    duplicates: list[Violation] = []
    for index, item in enumerate(items):
        value = key(item)
        if value in seen:
            duplicates.append(Violation(
                (index, attribute),
                f"{attribute} {value!r} is already used by {field}[{seen[value]}]; "
                f"each {attribute} must be unique", value))
        else:
            seen[value] = index
    if duplicates:
        raise violations_error(duplicates)
    return items
