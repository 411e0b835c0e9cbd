"""``/api/v1/cameras/export.csv`` and ``/api/v1/cameras/import``: the camera list as CSV."""

from __future__ import annotations

from nvrd.web.api.registry import ApiRegistry

routes = ApiRegistry(tags=("cameras",))
