"""Finding and adding cameras: discovery, probing, activation, camera clocks."""

from __future__ import annotations

from nvrd.web.api.registry import ApiRegistry

routes = ApiRegistry(tags=("cameras",))
