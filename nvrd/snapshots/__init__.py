"""JPEG snapshots of camera channels, taken from the streams the ingest reads, stored and
indexed in the data directory (``SnapshotService``)."""

from nvrd.snapshots.service import SnapshotError, SnapshotService
from nvrd.snapshots.store import SnapshotRecord

__all__ = ["SnapshotError", "SnapshotRecord", "SnapshotService"]
