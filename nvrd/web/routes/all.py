"""Every API registry the daemon serves, accounts first."""

from __future__ import annotations

from nvrd.web.api.registry import ApiRegistry
from nvrd.web.routes import (
    accounts,
    camera_csv,
    camera_setup,
    cameras,
    events,
    hardware,
    linkage,
    live,
    live_video,
    network,
    playback,
    recording,
    security,
    snapshots,
    stills,
    storage,
    system,
    tags,
)


def daemon_apis() -> list[ApiRegistry]:
    """The route registries of the subjects, in the order the API document lists them."""
    return [accounts.routes, cameras.routes, camera_setup.routes,
            camera_csv.routes, recording.routes, storage.routes,
            hardware.routes, system.routes, security.routes, events.routes, linkage.routes,
            network.routes, snapshots.routes, live.routes, playback.routes, stills.routes,
            tags.routes, live_video.routes]
