"""onvif-zeep-async, without its side effects on the whole process.

- ``onvif.client`` calls ``logging.basicConfig(level=INFO)`` when it is imported. In the
  daemon (and under pytest) that would add a second stderr handler to the root logger
  before nvrd sets up its own logging. A placeholder handler during the import makes that
  call a no-op; it is removed again at once.
- ``ONVIFCamera()`` deletes ``http_proxy``/``https_proxy`` from ``os.environ`` (its own
  sessions ignore them anyway). :func:`new_camera` puts them back.
"""

from __future__ import annotations

import logging
import os
from typing import Any

_root = logging.getLogger()
_placeholder = logging.NullHandler() if not _root.handlers else None
if _placeholder is not None:
    _root.addHandler(_placeholder)
try:
    from onvif import ONVIFCamera, ONVIFError  # type: ignore[import-untyped]
    from onvif.client import ONVIFService  # type: ignore[import-untyped]
    from onvif.definition import SERVICES  # type: ignore[import-untyped]
    from onvif.util import normalize_url  # type: ignore[import-untyped]
finally:
    if _placeholder is not None:
        _root.removeHandler(_placeholder)

__all__ = ["SERVICES", "ONVIFCamera", "ONVIFError", "ONVIFService", "new_camera",
           "normalize_url"]

_PROXY_VARIABLES = ("http_proxy", "https_proxy")


def new_camera(host: str, port: int, username: str | None, password: str | None) -> Any:
    """An ``ONVIFCamera`` (no WSDL cache file: the WSDLs are local files), leaving the
    process's proxy settings as they were."""
    saved = {name: os.environ[name] for name in _PROXY_VARIABLES if name in os.environ}
    try:
        return ONVIFCamera(host, port, username, password, no_cache=True)
    finally:
        os.environ.update(saved)
