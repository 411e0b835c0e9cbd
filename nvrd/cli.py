"""The ``nvrd`` command: ``nvrd run`` starts the daemon, ``nvrd check-config`` validates,
``nvrd prepare-volume`` makes a directory a recording volume, ``nvrd console`` opens the
running daemon's technicians' console on this terminal (or ``--tty``)."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import sys
from pathlib import Path

import nvrd
from nvrd.paths import DataDir, shipped_config_dir

DEFAULT_DATA_DIR = Path("/var/lib/nvrd")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nvrd", description=__doc__)
    parser.add_argument("--version", action="version", version=f"nvrd {nvrd.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the daemon (what systemd starts)")
    run.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                     help="where recordings metadata, logs and the live configuration live "
                          "(default: %(default)s)")
    run.add_argument("--config", type=Path, default=None,
                     help="the live configuration file (default: DATA_DIR/nvrd.toml; created "
                          "from the factory configuration at first start)")
    run.add_argument("--shipped-config", type=Path, default=None,
                     help="directory of the factory configuration and board profiles "
                          "(default: the installed one)")

    check = commands.add_parser("check-config", help="validate a configuration file and exit")
    check.add_argument("file", type=Path)

    prepare = commands.add_parser(
        "prepare-volume", help="make a directory (on a mounted disk) a recording volume")
    prepare.add_argument("path", type=Path)
    prepare.add_argument("--label", default="", help="a name to recognise the disk by")

    console = commands.add_parser(
        "console", help="a terminal on the running daemon's technicians' console")
    console.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                         help="the daemon's data directory (default: %(default)s)")
    console.add_argument("--tty", type=Path, default=None,
                         help="serve the console on this terminal device (e.g. /dev/pts/3) "
                              "instead of this terminal")

    args = parser.parse_args(argv)
    if args.command == "console":
        from nvrd.console.bridge import run_bridge

        return run_bridge(DataDir(args.data_dir).root / "console.sock", args.tty)
    if args.command == "check-config":
        return _check_config(args.file)
    if args.command == "prepare-volume":
        return _prepare_volume(args.path, args.label)
    return _run(args)


def _prepare_volume(path: Path, label: str) -> int:
    from nvrd.storage.volume import VolumeError, prepare_volume

    try:
        identity = prepare_volume(path, label)
    except VolumeError as exc:
        print(f"nvrd: {exc}", file=sys.stderr)
        return 1
    print(f"{path} is recording volume {identity.uuid}"
          f"{f' ({identity.label})' if identity.label else ''}; list it under "
          "[[storage.volumes]] to record there")
    return 0


def _check_config(path: Path) -> int:
    from nvrd.config import check_config_file

    ok, report = check_config_file(path)
    print(report, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def _run(args: argparse.Namespace) -> int:
    from nvrd.app import Application
    from nvrd.config import ConfigStore
    from nvrd.system.logs import setup_logging

    faulthandler.enable()  # a watchdog SIGABRT then dumps every thread's stack to the journal
    setup_logging("info")
    shipped = args.shipped_config or shipped_config_dir()
    data = DataDir(args.data_dir)
    data.root.mkdir(parents=True, exist_ok=True)
    store = ConfigStore(args.config or data.config, defaults_path=shipped / "nvrd.toml")
    app = Application(store, data.root, board_dirs=[data.boards, shipped / "boards"])
    return asyncio.run(app.run())


if __name__ == "__main__":
    sys.exit(main())
