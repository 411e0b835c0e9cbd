"""The Origin comparison of the CSRF checks."""

from __future__ import annotations

import pytest

from nvrd.web.auth.csrf import same_origin


@pytest.mark.parametrize(("origin", "scheme", "host", "same"), [
    ("https://192.0.2.7", "https", "192.0.2.7", True),
    ("https://192.0.2.7:443", "https", "192.0.2.7", True),
    ("https://192.0.2.7", "https", "192.0.2.7:443", True),
    ("HTTPS://NVR.Example", "https", "nvr.example", True),
    ("http://[2001:db8::1]:8080", "http", "[2001:db8::1]:8080", True),
    ("http://192.0.2.7", "https", "192.0.2.7", False),     # scheme differs
    ("https://192.0.2.7:8443", "https", "192.0.2.7", False),  # port differs
    ("https://evil.example", "https", "192.0.2.7", False),
    ("https://192.0.2.7.evil.example", "https", "192.0.2.7", False),
    ("null", "https", "192.0.2.7", False),
    ("", "https", "192.0.2.7", False),
    ("https://192.0.2.7/path", "https", "192.0.2.7", False),
    ("file://192.0.2.7", "https", "192.0.2.7", False),
])
def test_same_origin(origin: str, scheme: str, host: str, same: bool) -> None:
    assert same_origin(origin, scheme, host) is same
