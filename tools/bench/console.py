"""The technicians' console: how fast a key comes back and a command answers, against the
bare pty it runs on.

    .venv/bin/python -m tools.bench.console [--keys 200] [--rounds 10]

The daemon runs in this process on the simulated board (a temporary data directory, no
cameras), with an administrator; the bench types at the master side of the console pty,
as a terminal on the serial cable would:

A. key echo: one printable key typed, until its echo comes back (the line editor, the
   terminal and the serial transport on the daemon's event loop), ``--keys`` times;
B. ``help``: a whole command line typed until the next prompt (parse, rights, audit);
C. ``status``: every section (status snapshot, psutil, the event log query);
R. the reference: one byte through a bare pty pair, written on the master, read and
   written back on the slave by a plain ``add_reader`` echo in the same loop — the floor
   any console on this pty has.

A / R says what the console adds to a keystroke; B and C are what a technician waits for.
The daemon and the typing come from the console tests' harness (tests/console/harness.py),
so the bench types exactly what the tests type.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path

from hal.sim.pty import open_pty_pair
from tests.console.harness import PROMPT, ConsoleLine, console_daemon


def _line(name: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return (f"{name:<28} median {statistics.median(ms):8.3f} ms   p95 {p95:8.3f} ms   "
            f"n={len(ms)}")


async def _reference(keys: int) -> list[float]:
    loop = asyncio.get_running_loop()
    samples = []
    with open_pty_pair() as pair:
        os.set_blocking(pair.slave_fd, False)

        def echo() -> None:
            with contextlib.suppress(BlockingIOError):
                os.write(pair.slave_fd, os.read(pair.slave_fd, 64))

        loop.add_reader(pair.slave_fd, echo)
        line = ConsoleLine(pair.master_fd)
        try:
            for _ in range(keys):
                start = time.perf_counter()
                await line.send_bytes(b"x")
                await line.expect("x")
                samples.append(time.perf_counter() - start)
        finally:
            loop.remove_reader(pair.slave_fd)
    return samples


async def _echo(line: ConsoleLine, keys: int) -> list[float]:
    samples = []
    for _ in range(keys):
        start = time.perf_counter()
        await line.send_bytes(b"x")
        await line.expect("x")
        samples.append(time.perf_counter() - start)
    await line.send_bytes(b"\x15")  # Ctrl-U: clear the line of x's
    await line.send_bytes(b"\r")
    await line.expect(PROMPT)
    return samples


async def _command(line: ConsoleLine, command: str, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await line.run(command)
        samples.append(time.perf_counter() - start)
    return samples


async def main(keys: int, rounds: int) -> None:
    reference = await _reference(keys)
    with tempfile.TemporaryDirectory(prefix="nvrd-bench-console-") as tmp:
        async with console_daemon(Path(tmp)) as (_app, line):
            await line.login()
            echo = await _echo(line, keys)
            help_ = await _command(line, "help", rounds)
            status = await _command(line, "status", rounds)
    print(_line("A. key echo", echo))
    print(_line("B. command 'help'", help_))
    print(_line("C. command 'status'", status))
    print(_line("R. bare pty round trip", reference))
    print(f"   A / R (median) {statistics.median(echo) / statistics.median(reference):17.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.keys, args.rounds))
