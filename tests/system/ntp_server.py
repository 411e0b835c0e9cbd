"""A real SNTP server for tests: a UDP socket on 127.0.0.1 answering as told (a chosen
offset from this host's clock, a spoofed originate timestamp, a kiss-o'-death, silence),
and a wall clock that steps without touching the host's."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal, cast

from nvrd.system.timesync import to_ntp

Behaviour = Literal["good", "spoofed", "spoofed_then_good", "kod", "unsynchronized",
                    "silent"]


@dataclass
class FakeNtp(asyncio.DatagramProtocol):
    """Answers every request the way ``behaviour`` says; counts requests."""

    behaviour: Behaviour = "good"
    offset_ns: int = 0
    """The server's clock minus this host's."""
    kiss_code: bytes = b"RATE"
    requests: int = 0
    transport: asyncio.DatagramTransport | None = field(default=None, repr=False)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.requests += 1
        assert self.transport is not None
        originate = data[40:48]
        if self.behaviour == "silent":
            return
        if self.behaviour in ("spoofed", "spoofed_then_good"):
            wrong = bytes(b ^ 0xFF for b in originate)
            self.transport.sendto(self.reply(wrong), addr)
            if self.behaviour == "spoofed":
                return
        if self.behaviour == "kod":
            self.transport.sendto(self.reply(originate, stratum=0, refid=self.kiss_code),
                                  addr)
        elif self.behaviour == "unsynchronized":
            self.transport.sendto(self.reply(originate, leap=3), addr)
        else:
            self.transport.sendto(self.reply(originate), addr)

    def reply(self, originate: bytes, *, stratum: int = 2, leap: int = 0,
              refid: bytes = b"GPS\0") -> bytes:
        now = to_ntp(time.time_ns() + self.offset_ns).to_bytes(8, "big")
        head = struct.pack("!BBbb", (leap << 6) | (4 << 3) | 4, stratum, 6, -20)
        return head + bytes(8) + refid + now + originate + now + now


@dataclass
class RunningNtp:
    server: FakeNtp
    address: str
    """``127.0.0.1:<port>``, as a configuration names it."""


@asynccontextmanager
async def ntp_server(behaviour: Behaviour = "good", offset_ns: int = 0
                     ) -> AsyncIterator[RunningNtp]:
    server = FakeNtp(behaviour, offset_ns)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: server, local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        yield RunningNtp(server, f"127.0.0.1:{port}")
    finally:
        transport.close()


def closed_udp_port() -> int:
    """A UDP port nothing listens on (the kernel answers port-unreachable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SteppedClock:
    """This host's clock plus an offset; setting it moves the offset (the host's clock is
    never touched). ``denied`` makes setting fail as without CAP_SYS_TIME."""

    def __init__(self, offset_ns: int = 0, *, denied: bool = False) -> None:
        self.offset_ns = offset_ns
        self.denied = denied
        self.steps: list[int] = []

    def now_ns(self) -> int:
        return time.time_ns() + self.offset_ns

    def set_ns(self, ns: int) -> None:
        if self.denied:
            raise PermissionError(1, "Operation not permitted")
        before = self.now_ns()
        self.offset_ns = ns - time.time_ns()
        self.steps.append(ns - before)
