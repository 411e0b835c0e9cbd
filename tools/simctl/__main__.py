"""``python -m tools.simctl [--socket PATH] COMMAND WORDS... [name=value ...]``

Examples (the demo's socket is found by default)::

    python -m tools.simctl status
    python -m tools.simctl button press reset 6        # hold reset for 6 s
    python -m tools.simctl alarm set 2 true            # close alarm input 2's contact
    python -m tools.simctl poe plug 3 pd_class=4 power_mw=7500
    python -m tools.simctl disk insert 1 size_mib=512
    python -m tools.simctl relays

Words after the command fill its parameters in order (``help`` lists them); ``name=value``
sets one by name. Values that look like JSON (numbers, true/false, null) are sent as such.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_SOCKET = ROOT / "var" / "demo" / "sim" / "control.sock"


class SimctlError(Exception):
    pass


def request(path: Path, cmd: str, args: dict[str, Any] | None = None,
            timeout: float = 30.0) -> Any:
    """One request to the board; its result, or SimctlError with the board's message."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError as exc:
            raise SimctlError(f"cannot reach the simulated board at {path}: {exc.strerror} "
                              "(is the daemon running on the sim board?)") from exc
        sock.sendall(json.dumps({"cmd": cmd, "args": args or {}}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise SimctlError("the board closed the connection without replying")
            data += chunk
    reply = json.loads(data)
    if not reply.get("ok"):
        raise SimctlError(reply.get("error", "failed"))
    return reply.get("result")


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_words(words: list[str], commands: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """Match the longest command name at the start of ``words``; the rest are arguments."""
    by_name = {c["name"]: c for c in commands}
    for length in range(len(words), 0, -1):
        name = " ".join(words[:length])
        if name in by_name:
            break
    else:
        raise SimctlError(f"unknown command {' '.join(words)!r}; try 'help'")
    params: list[str] = by_name[name]["params"]
    args: dict[str, Any] = {}
    positional = iter(params)
    for word in words[length:]:
        key, sep, value = word.partition("=")
        if sep and key in params:
            args[key] = _value(value)
            continue
        param = next((p for p in positional if p not in args), None)
        if param is None:
            raise SimctlError(f"{name}: too many arguments; it takes {', '.join(params)}")
        args[param] = _value(word)
    return name, args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="simctl", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--socket", type=Path,
                        default=Path(os.environ.get("NVRD_SIM_SOCKET", DEFAULT_SOCKET)))
    parser.add_argument("words", nargs="+", help="command and arguments ('help' lists them)")
    options = parser.parse_args(argv)
    try:
        commands = request(options.socket, "help")
        if options.words == ["help"]:
            for c in commands:
                params = " ".join(c["params"])
                print(f"{c['name']:<22} {params:<28} {c['help']}")
            return 0
        name, args = parse_words(options.words, commands)
        result = request(options.socket, name, args)
    except SimctlError as exc:
        print(f"simctl: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
