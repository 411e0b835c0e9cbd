"""(being written)"""

from __future__ import annotations

from nvrd.web.api.registry import ApiRegistry

routes = ApiRegistry(tags=("tags",))
