"""Where the daemon finds what ships with it and where it keeps what it writes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

INSTALLED_SHARE_DIR = Path("/usr/share/nvrd/config")


def shipped_config_dir() -> Path:
    """The factory configuration and board profiles: ``$NVRD_SHIPPED_CONFIG``, the
    repository's ``config/`` when run from a checkout, else the installed copy."""
    override = os.environ.get("NVRD_SHIPPED_CONFIG")
    if override:
        return Path(override)
    checkout = Path(__file__).resolve().parent.parent / "config"
    if (checkout / "nvrd.toml").is_file():
        return checkout
    return INSTALLED_SHARE_DIR


@dataclass(frozen=True, slots=True)
class DataDir:
    """The layout of the data directory (``/var/lib/nvrd`` on a box)."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "nvrd.toml"

    @property
    def audit_db(self) -> Path:
        return self.root / "audit.db"

    @property
    def events_db(self) -> Path:
        """The event log (alarms, video loss, disk, network and security faults)."""
        return self.root / "events.db"

    @property
    def motion_db(self) -> Path:
        """Per-second motion bitmaps for smart search (see nvrd/motion/store.py)."""
        return self.root / "motion.db"

    @property
    def tags_db(self) -> Path:
        """Named tags at instants of the recordings (see nvrd/playback/tags.py)."""
        return self.root / "tags.db"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def boards(self) -> Path:
        """Board profiles installed on this box, searched before the shipped ones."""
        return self.root / "boards"

    @property
    def snapshots(self) -> Path:
        """JPEG snapshots (``chNNN/YYYY-MM-DD/<time_us>.jpg``) and their index,
        ``snapshots.db`` (see nvrd/snapshots/store.py)."""
        return self.root / "snapshots"
