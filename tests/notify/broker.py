"""A real Mosquitto broker for the tests, a subscriber that records what arrives, and a
TCP proxy whose connections a test can cut (to drop the daemon's connection the way a
network fault does, so the broker sends the last will)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import aiomqtt

WAIT_S = 20.0
"""How long a test waits for something before failing (never for it to pass)."""


def mosquitto_binary() -> str | None:
    """Debian installs it in /usr/sbin, which is not on every user's PATH."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mosquitto:
    """``mosquitto -c <conf>`` on a free port of 127.0.0.1, without persistence (a
    restart forgets retained messages, as a broker without a store does)."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.conf = directory / "mosquitto.conf"
        self.log = directory / "mosquitto.log"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                             f"persistence false\nlog_dest file {self.log}\n"
                             "log_type all\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([self.binary, "-c", str(self.conf)],
                                        stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.process.returncode}: "
                                   f"{self.process.stderr.read().decode()!r}"  # type: ignore[union-attr]
                                   f"; log: {self._log_text()!r}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.02)  # polling for the listener, not waiting for an outcome
        raise RuntimeError(f"mosquitto did not accept on port {self.port} within "
                           f"{WAIT_S} s; log: {self._log_text()!r}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()

    def _log_text(self) -> str:
        return self.log.read_text()[-2000:] if self.log.exists() else ""


@dataclass(frozen=True, slots=True)
class Received:
    topic: str
    payload: bytes
    retain: bool

    @property
    def text(self) -> str:
        return self.payload.decode()


class Subscriber:
    """An MQTT client (the same library as the daemon's) that subscribes to ``topics``
    and records every message, for tests to wait on."""

    def __init__(self, port: int, *topics: str) -> None:
        self.port = port
        self.topics = topics
        self.messages: list[Received] = []
        self._arrived = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Subscriber:
        self._client = aiomqtt.Client("127.0.0.1", self.port)
        await self._client.__aenter__()
        self._task = asyncio.create_task(self._collect(self._client))
        for topic in self.topics:
            await self._client.subscribe(topic, qos=1)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.__aexit__(None, None, None)

    async def _collect(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            assert isinstance(payload, bytes)
            self.messages.append(Received(str(message.topic), payload,
                                          bool(message.retain)))
            self._arrived.set()

    async def publish(self, topic: str, payload: str) -> None:
        assert self._client is not None
        await self._client.publish(topic, payload, qos=1)

    async def wait_for(self, predicate: Callable[[Received], bool], *, after: int = 0,
                       timeout: float = WAIT_S) -> Received:
        """The first message that matches among those from the ``after``-th on
        (received so far or later)."""
        seen = after
        async with asyncio.timeout(timeout):
            while True:
                for message in self.messages[seen:]:
                    if predicate(message):
                        return message
                seen = len(self.messages)
                self._arrived.clear()
                await self._arrived.wait()

    async def wait_topic(self, topic: str, payload: str | None = None, *, after: int = 0,
                         timeout: float = WAIT_S) -> Received:
        return await self.wait_for(
            lambda m: m.topic == topic and (payload is None or m.text == payload),
            after=after, timeout=timeout)

    async def settle(self) -> None:
        """Until everything the broker had queued for us before now has arrived: a
        marker we publish to ourselves comes after it."""
        marker = f"test/marker/{id(self)}/{len(self.messages)}"
        assert self._client is not None
        await self._client.subscribe(marker, qos=1)
        await self._client.publish(marker, b"", qos=1)
        await self.wait_topic(marker)

    def latest(self) -> dict[str, Received]:
        return {m.topic: m for m in self.messages}


class TcpProxy:
    """Forwards 127.0.0.1:<port> to the broker; :meth:`cut` aborts every connection
    (both sides) while still accepting new ones."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1",
                                                                 self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers += [writer, up_writer]
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.transport.abort()

    def cut(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def wait_until(predicate: Callable[[], bool], what: str,
                     timeout: float = WAIT_S) -> None:
    """Poll a condition of the code under test (state it exposes, not the clock)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.01)
