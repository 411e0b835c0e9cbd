"""The serial opener on a real pty, a real TCP server (socket://) and a fake RS-485 UART."""

from __future__ import annotations

import asyncio
import logging
import os
import select
import socket
import termios
from collections.abc import Iterator
from typing import Any

import pytest
import serial

from hal.board import SerialPort
from hal.ptz.bus import PtzBus
from hal.ptz.commands import PtzProtocol
from hal.ptz.dome import PelcoDome
from hal.ptz.settings import DomeSettings
from hal.serial.open import LineSettings, SerialOpenError, open_serial, open_serial_port
from hal.sim.pty import PtyPair, baud_of, open_pty_pair


@pytest.fixture
def pty() -> Iterator[PtyPair]:
    with open_pty_pair() as pair:
        yield pair


def test_pty_gets_the_boards_framing(pty: PtyPair) -> None:
    board_port = SerialPort(role="ptz", device="/dev/ttyS1", baud=4800, data_bits=7,
                            parity="E", stop_bits=2, rs485=True)
    port = open_serial_port(board_port, device=pty.slave_path)
    try:
        assert baud_of(pty.master_fd) == 4800
        assert termios.tcgetattr(pty.master_fd)[2] & termios.CSTOPB
        # the pty driver forces CS8 and no parity, so those are checked on pyserial's side
        assert (port.bytesize, port.parity, port.stopbits) == (7, "E", 2)
        assert port.timeout == 0  # non-blocking, for the event loop
    finally:
        port.close()


def test_rs485_on_a_pty_is_skipped_with_the_reason(
        pty: PtyPair, caplog: pytest.LogCaptureFixture) -> None:
    line = LineSettings(pty.slave_path, baud=9600, rs485_rts_direction=True)
    with caplog.at_level(logging.WARNING, logger="hal.serial.open"):
        port = open_serial(line)
    try:
        (record,) = caplog.records
        assert record.getMessage() == (
            f"RS-485 direction control skipped on {pty.slave_path} at 9600 8N1: the port "
            "does not support it (Inappropriate ioctl for device (errno 25)); relying on an "
            "auto-direction transceiver")
        port.baudrate = 2400  # must not re-try the failed ioctl and raise
        assert baud_of(pty.master_fd) == 2400
        assert port.rs485_mode is None
    finally:
        port.close()


class FakeRs485Uart:
    """A UART whose driver supports TIOCSRS485: records what the opener asked for."""

    def __init__(self, url: str, **settings: Any) -> None:
        self.url = url
        self.settings = settings
        self.rs485_mode: Any = None


def test_rs485_enabled_where_supported(caplog: pytest.LogCaptureFixture) -> None:
    line = LineSettings("/dev/ttyS1", baud=9600, rs485_rts_direction=True)
    with caplog.at_level(logging.INFO, logger="hal.serial.open"):
        port = open_serial(line, factory=FakeRs485Uart)
    mode = port.rs485_mode
    assert isinstance(mode, serial.rs485.RS485Settings)
    assert (mode.rts_level_for_tx, mode.rts_level_for_rx, mode.loopback) == (True, False, False)
    assert port.settings == {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 1,
                             "timeout": 0, "write_timeout": 0}
    assert "RS-485 direction control enabled on /dev/ttyS1 at 9600 8N1" in caplog.text


def test_rs485_off_is_not_touched() -> None:
    port = open_serial(LineSettings("/dev/ttyS1"), factory=FakeRs485Uart)
    assert port.rs485_mode is None


def test_missing_device_says_which_and_why() -> None:
    with pytest.raises(SerialOpenError) as info:
        open_serial(LineSettings("/dev/ttyNOPE", baud=2400))
    assert str(info.value) == ("cannot open serial port /dev/ttyNOPE at 2400 8N1: "
                               "No such file or directory (errno 2)")
    assert info.value.line.device == "/dev/ttyNOPE"


@pytest.fixture
def tcp_server() -> Iterator[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    yield server
    server.close()


def test_socket_url_reaches_a_tcp_server(tcp_server: socket.socket,
                                         caplog: pytest.LogCaptureFixture) -> None:
    host, port_number = tcp_server.getsockname()
    line = LineSettings(f"socket://{host}:{port_number}", baud=9600, rs485_rts_direction=True)
    with caplog.at_level(logging.WARNING):
        port = open_serial(line)
    conn, _ = tcp_server.accept()
    try:
        port.write(b"\xff\x01\x00\x00\x00\x00\x01")
        assert conn.recv(16) == b"\xff\x01\x00\x00\x00\x00\x01"
        assert "network/URL port" in caplog.text
    finally:
        conn.close()
        port.close()


def test_socket_url_refused() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        free_port = probe.getsockname()[1]
    with pytest.raises(SerialOpenError, match="Connection refused"):
        open_serial(LineSettings(f"socket://127.0.0.1:{free_port}"))


async def test_ptz_bus_over_socket_url(tcp_server: socket.socket) -> None:
    """A serial-to-Ethernet server (or a sim in another process) as the RS-485 bus."""
    host, port_number = tcp_server.getsockname()
    tcp_server.setblocking(False)
    loop = asyncio.get_running_loop()
    bus_task = asyncio.create_task(PtzBus.open(LineSettings(f"socket://{host}:{port_number}"),
                                               inter_frame_gap_s=0))
    conn, _ = await asyncio.wait_for(loop.sock_accept(tcp_server), 2)
    bus = await bus_task
    try:
        dome = PelcoDome(bus, DomeSettings(PtzProtocol.PELCO_D, address=2))
        query = asyncio.create_task(dome.query_pan_cdeg())
        data = await asyncio.wait_for(loop.sock_recv(conn, 7), 2)
        assert data == bytes.fromhex("ff 02 00 51 00 00 53")
        await loop.sock_sendall(conn, bytes.fromhex("ff 02 00 59 00 64 bf"))
        assert await asyncio.wait_for(query, 2) == 100
    finally:
        await bus.close()
        conn.close()


def test_pty_slave_stays_usable_after_open_close(pty: PtyPair) -> None:
    for _ in range(2):
        port = open_serial(LineSettings(pty.slave_path))
        port.write(b"ok")
        port.close()
    # the pty may hand the two writes over separately: read until both are in (a
    # select with a hang guard, not a measure)
    received = b""
    while len(received) < 4:
        ready, _, _ = select.select([pty.master_fd], [], [], 10)
        assert ready, f"only {received!r} arrived"
        received += os.read(pty.master_fd, 16)
    assert received == b"okok"
