"""Disks: bay inventory and hot-plug, identity, SMART, prepare (mkfs), mount/unmount.

Assembly (the daemon does this once; tests build the same pieces with injected roots)::

    runner = SubprocessRunner()
    inventory = DiskInventory(profile.disks, PyudevBlockEvents(), DeviceProbe(runner))
    await inventory.start()                       # DiskInserted for disks already there
    health = DiskHealth(inventory, SmartChecker(runner), SmartHistory(db_path), clock_us=...)
    mounter, preparer = Mounter(runner), DiskPreparer(runner)

Events (listeners via ``add_listener``): ``DiskInserted``/``DiskRemoved``/``DiskChanged``
from the inventory; ``SmartWarning``/``SmartFailing``/``DiskIoError`` from health.
"""

from hal.disks.errors import (
    CommandFailed,
    CommandTimeout,
    DiskError,
    MountError,
    PrepareRefused,
)
from hal.disks.events import (
    BlockEvent,
    BlockEventSource,
    FakeBlockEvents,
    PyudevBlockEvents,
    default_source,
)
from hal.disks.health import DiskHealth, read_ioerr_count
from hal.disks.inventory import DiskInventory, DiskListener
from hal.disks.model import (
    Disk,
    DiskChanged,
    DiskEvent,
    DiskIdentity,
    DiskInserted,
    DiskIoError,
    DiskRemoved,
    Filesystem,
    SmartFailing,
    SmartWarning,
)
from hal.disks.mount import MOUNT_OPTIONS, MountEntry, Mounter, read_mounts
from hal.disks.prepare import DiskPreparer, FsType, Layout, PreparedDisk, partition_name
from hal.disks.probe import DeviceProbe, path_id
from hal.disks.runner import CommandResult, CommandRunner, SubprocessRunner
from hal.disks.smart import SmartChecker, SmartReason, SmartReport, SmartValues, evaluate
from hal.disks.smart_history import SmartChange, SmartHistory, StoredCheck

__all__ = [
    "MOUNT_OPTIONS",
    "BlockEvent",
    "BlockEventSource",
    "CommandFailed",
    "CommandResult",
    "CommandRunner",
    "CommandTimeout",
    "DeviceProbe",
    "Disk",
    "DiskChanged",
    "DiskError",
    "DiskEvent",
    "DiskHealth",
    "DiskIdentity",
    "DiskInserted",
    "DiskInventory",
    "DiskIoError",
    "DiskListener",
    "DiskPreparer",
    "DiskRemoved",
    "FakeBlockEvents",
    "Filesystem",
    "FsType",
    "Layout",
    "MountEntry",
    "MountError",
    "Mounter",
    "PrepareRefused",
    "PreparedDisk",
    "PyudevBlockEvents",
    "SmartChange",
    "SmartChecker",
    "SmartFailing",
    "SmartHistory",
    "SmartReason",
    "SmartReport",
    "SmartValues",
    "SmartWarning",
    "StoredCheck",
    "SubprocessRunner",
    "default_source",
    "evaluate",
    "partition_name",
    "path_id",
    "read_ioerr_count",
    "read_mounts",
]
