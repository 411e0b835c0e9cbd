"""The bus on a real pty: pyserial + termios + the asyncio reader on the slave, the test
playing the dome on the master fd (byte by byte, with noise, echo and silence)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from hal.ptz import pelco_d, pelco_p
from hal.ptz.bus import PtzBus
from hal.ptz.commands import Extended, Motion, Op, Pan, PtzProtocol, Tilt
from hal.ptz.dome import PelcoDome
from hal.ptz.errors import BusClosedError, NoReplyError
from hal.ptz.settings import DomeSettings
from hal.serial.open import LineSettings
from hal.sim.pty import PtyPair
from tests.hal.ptz.helpers import MasterEnd

DOME3 = DomeSettings(PtzProtocol.PELCO_D, address=3)


def pan_reply(value: int, address: int = 3) -> bytes:
    return pelco_d.encode(address, Extended.with_value(Op.PAN_REPLY, value))


async def test_commands_arrive_byte_exact(bus: PtzBus, master: MasterEnd) -> None:
    dome = PelcoDome(bus, DomeSettings(PtzProtocol.PELCO_D, address=1))
    await dome.move(tilt=Tilt.UP, tilt_speed=0x20)
    await dome.set_preset(95)
    await dome.stop()
    assert await master.read(21) == bytes.fromhex(
        "ff 01 00 08 00 20 29" "ff 01 00 03 00 5f 63" "ff 01 00 00 00 00 01")
    assert bus.stats.frames_sent == 3


async def answer_query(master: MasterEnd, reply: bytes, *, before: bytes = b"",
                       split: int | None = None) -> bytes:
    """Read the query, then answer it (optionally with noise first, in two pieces)."""
    query = await master.read(7)
    if split is None:
        master.write(before + reply)
    else:
        master.write(before + reply[:split])
        await asyncio.sleep(0)  # let the bus read the head on its own if it is ready
        master.write(reply[split:])
    return query


async def test_query_reply_is_parsed(bus: PtzBus, master: MasterEnd) -> None:
    dome = PelcoDome(bus, DOME3)
    answer = asyncio.create_task(answer_query(master, pan_reply(12345)))
    assert await dome.query_pan_cdeg() == 12345
    assert await answer == bytes.fromhex("ff 03 00 51 00 00 54")
    assert bus.stats.replies == 1


@pytest.mark.parametrize(("before", "split"), [
    (b"\x00\x17\xff\x03", None),           # noise with a false sync byte before the reply
    (pan_reply(1)[:4], None),               # the head of a broken reply, then a good one
    (pan_reply(1)[:-1] + b"\x00", None),    # a whole reply with a bad checksum first
    (b"\xa0\xaf", 3),                       # Pelco-P sync noise, reply split in two reads
])
async def test_garbage_before_and_within_replies_is_skipped(
        bus: PtzBus, master: MasterEnd, before: bytes, split: int | None) -> None:
    dome = PelcoDome(bus, DOME3)
    answer = asyncio.create_task(answer_query(master, pan_reply(27000), before=before,
                                              split=split))
    assert await dome.query_pan_cdeg() == 27000
    await answer
    assert bus.stats.bytes_discarded >= 2


async def test_echo_of_our_own_frames_is_ignored(bus: PtzBus, master: MasterEnd) -> None:
    """2-wire half duplex: every frame comes back. The echo of the query must not be taken
    for a reply, nor count as foreign traffic."""
    dome = PelcoDome(bus, DOME3)

    async def echoing_dome() -> None:
        query = await master.read(7)
        master.write(query + pan_reply(4500))

    task = asyncio.create_task(echoing_dome())
    assert await dome.query_pan_cdeg() == 4500
    await task
    move = pelco_d.encode(3, Motion(pan=Pan.LEFT, pan_speed=0x20))
    await dome.move(Pan.LEFT)
    master.write(await master.read(7))  # echo of the move
    answer = asyncio.create_task(answer_query(master, pan_reply(4400)))
    assert await dome.query_pan_cdeg() == 4400
    await answer
    assert bus.stats.echoes_ignored == 2
    assert bus.stats.foreign_frames == 0
    assert move == bytes.fromhex("ff 03 00 04 20 00 27")


async def test_reply_from_another_address_is_not_taken(bus: PtzBus, master: MasterEnd) -> None:
    dome = PelcoDome(bus, DOME3, reply_timeout_s=0.2)
    answer = asyncio.create_task(answer_query(master, pan_reply(100, address=4)))
    with pytest.raises(NoReplyError):
        await dome.query_pan_cdeg()
    await answer
    assert bus.stats.foreign_frames == 1


async def test_no_reply_error_speaks_to_a_technician(pty: PtyPair, master: MasterEnd) -> None:
    bus = await PtzBus.open(LineSettings(pty.slave_path, baud=9600), inter_frame_gap_s=0)
    try:
        dome = PelcoDome(bus, DOME3, reply_timeout_s=0.05)
        with pytest.raises(NoReplyError) as info:
            await dome.query_pan_cdeg()
    finally:
        await bus.close()
    message = str(info.value)
    assert message.startswith(
        f"no reply from Pelco-D dome 3 on {pty.slave_path} at 9600 8N1 within 0.05 s")
    assert "query pan" in message
    assert (info.value.dome, info.value.timeout_s) == ("Pelco-D dome 3", 0.05)
    assert await master.read(7) == bytes.fromhex("ff 03 00 51 00 00 54")


async def test_two_domes_different_protocol_and_baud(bus: PtzBus, master: MasterEnd) -> None:
    """The bus switches rate before each dome's frame (seen on the pty's termios)."""
    d_dome = PelcoDome(bus, DomeSettings(PtzProtocol.PELCO_D, address=2, baud=2400))
    p_dome = PelcoDome(bus, DomeSettings(PtzProtocol.PELCO_P, address=1, baud=4800))
    seen: list[tuple[bytes, int | None]] = []

    await d_dome.move(Pan.RIGHT, pan_speed=0x10)
    seen.append((await master.read(7), master.baud))
    await p_dome.move(Pan.LEFT, pan_speed=0x20)
    seen.append((await master.read(8), master.baud))
    await d_dome.stop()
    seen.append((await master.read(7), master.baud))
    assert seen == [
        (bytes.fromhex("ff 02 00 02 10 00 14"), 2400),
        (bytes.fromhex("a0 00 00 04 20 00 af 2b"), 4800),
        (bytes.fromhex("ff 02 00 00 00 00 02"), 2400),
    ]
    assert bus.stats.baud_switches == 3


async def test_concurrent_commands_never_interleave(bus: PtzBus, master: MasterEnd) -> None:
    domes = [PelcoDome(bus, DomeSettings(PtzProtocol.PELCO_D, address=n)) for n in (1, 2)]
    domes.append(PelcoDome(bus, DomeSettings(PtzProtocol.PELCO_P, address=3, baud=4800)))
    await asyncio.gather(*(d.call_preset(p) for d in domes for p in range(1, 11)))
    data = await master.read(20 * 7 + 10 * 8)
    frames = []
    while data:
        length = 8 if data[0] == pelco_p.STX else 7
        codec = pelco_p if length == 8 else pelco_d
        frames.append(codec.decode(data[:length]))
        data = data[length:]
    assert len(frames) == 30
    assert {(f.protocol, f.address) for f in frames} == {
        (PtzProtocol.PELCO_D, 1), (PtzProtocol.PELCO_D, 2), (PtzProtocol.PELCO_P, 2)}


async def test_inter_frame_gap_is_kept(pty: PtyPair, master: MasterEnd) -> None:
    bus = await PtzBus.open(LineSettings(pty.slave_path), inter_frame_gap_s=0.05)
    dome = PelcoDome(bus, DOME3)
    loop = asyncio.get_running_loop()
    try:
        start = loop.time()
        await dome.stop()
        await dome.stop()  # may not leave before the gap after the first has passed
        await master.read(14)
        assert loop.time() - start >= 0.05
    finally:
        await bus.close()


async def test_lost_port_fails_the_pending_query_and_later_calls(
        pty: PtyPair, caplog: pytest.LogCaptureFixture) -> None:
    bus = await PtzBus.open(LineSettings(pty.slave_path), inter_frame_gap_s=0)
    dome = PelcoDome(bus, DOME3, reply_timeout_s=5)
    query = asyncio.create_task(dome.query_pan_cdeg())
    await MasterEnd(pty.master_fd).read(7)
    pty.close()  # the cable end goes away: the slave now reads EOF/EIO
    with caplog.at_level(logging.ERROR), pytest.raises(BusClosedError, match="went away"):
        await asyncio.wait_for(query, 2)
    with pytest.raises(BusClosedError):
        await dome.stop()
    assert bus.closed
    await bus.close()


async def test_closed_bus_refuses(bus: PtzBus) -> None:
    await bus.close()
    with pytest.raises(BusClosedError, match="closed"):
        await PelcoDome(bus, DOME3).stop()


async def test_query_needs_a_query_opcode(bus: PtzBus) -> None:
    with pytest.raises(ValueError, match="not a query"):
        await bus.query(DOME3, Extended(Op.CALL_PRESET, 0, 1), timeout_s=0.1)
