"""NioReceiver ACK rules, PooledParallelSender retries/timeouts/keep-alive, ChannelException (loopback)."""
from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from tribes.io.channel_data import ChannelData, new_unique_id
from tribes.io.framing import ACK_FRAME, FAIL_ACK_FRAME, FrameDecoder, encode_frame
from tribes.membership.member import Member
from tribes.transport import (ChannelException, NioReceiver, PooledParallelSender, RemoteProcessException,
                              ReplicationTransmitter, SendTimeoutError)

HOST = "127.0.0.1"
BASE_PORT = 47100
ME = Member(host=HOST, port=1, unique_id=b"\x01" * 16)


def frame(options: int, payload: bytes = b"hello") -> bytes:
    return ChannelData(options, int(time.time() * 1000), new_unique_id(), ME, payload).encode_frame()


class Recorder:
    """Receiver listener: records messages; optional gate (awaitable) and failures."""

    def __init__(self) -> None:
        self.msgs: list[ChannelData] = []
        self.gate: asyncio.Event | None = None
        self.fail: Exception | None = None

    def message_received(self, msg: ChannelData) -> Any:
        self.msgs.append(msg)
        if self.fail is not None:
            raise self.fail
        if self.gate is not None:
            return self.gate.wait()
        return None


async def start_receiver(listener: Any, port: int = BASE_PORT, **kw: Any) -> NioReceiver:
    r = NioReceiver(address=HOST, port=port, **kw)
    r.set_message_listener(listener)
    await r.start()
    return r


async def read_some(reader: asyncio.StreamReader, timeout: float) -> bytes:
    try:
        return await asyncio.wait_for(reader.read(4096), timeout)
    except asyncio.TimeoutError:
        return b""


async def wait_until(pred: Any, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)


def test_ack_rules_per_options() -> None:
    async def go() -> None:
        rec = Recorder()
        r = await start_receiver(rec)
        try:
            reader, writer = await asyncio.open_connection(HOST, r.port)
            # no USE_ACK (async, byte, 0): nothing ever comes back
            for opts in (0, 1, 8, 9, 4):
                writer.write(frame(opts))
            await writer.drain()
            assert await read_some(reader, 0.3) == b""
            await wait_until(lambda: len(rec.msgs) == 5)
            # USE_ACK: exactly one ACK frame per message
            writer.write(frame(2) + frame(3))
            await writer.drain()
            got = b""
            while len(got) < 2 * len(ACK_FRAME):
                chunk = await read_some(reader, 2.0)
                assert chunk, "missing ACK"
                got += chunk
            assert got == ACK_FRAME * 2
            # USE_ACK + SYNC, listener fails -> FAIL_ACK
            rec.fail = ValueError("boom")
            writer.write(frame(6))
            await writer.drain()
            assert await read_some(reader, 2.0) == FAIL_ACK_FRAME
            # USE_ACK without SYNC, listener fails -> the ACK was already sent before processing
            writer.write(frame(2))
            await writer.drain()
            assert await read_some(reader, 2.0) == ACK_FRAME
            rec.fail = RemoteProcessException("remote")
            writer.write(frame(6))
            await writer.drain()
            assert await read_some(reader, 2.0) == FAIL_ACK_FRAME
            writer.close()
        finally:
            await r.stop()

    asyncio.run(go())


def test_sync_ack_waits_for_processing_and_async_ack_does_not() -> None:
    async def go() -> None:
        rec = Recorder()
        rec.gate = asyncio.Event()
        r = await start_receiver(rec)
        try:
            reader, writer = await asyncio.open_connection(HOST, r.port)
            writer.write(frame(6))
            await writer.drain()
            assert await read_some(reader, 0.3) == b""  # still processing: no ACK yet
            rec.gate.set()
            assert await read_some(reader, 2.0) == ACK_FRAME
            rec.gate = asyncio.Event()
            writer.write(frame(2))  # ACK before processing
            await writer.drain()
            assert await read_some(reader, 2.0) == ACK_FRAME
            assert len(rec.msgs) == 2
            # frames behind a busy one wait (in order) until it completes
            writer.write(frame(0, b"later"))
            await writer.drain()
            await asyncio.sleep(0.1)
            assert len(rec.msgs) == 2
            rec.gate.set()
            await wait_until(lambda: len(rec.msgs) == 3)
            assert rec.msgs[-1].message == b"later"
            writer.close()
        finally:
            await r.stop()

    asyncio.run(go())


def test_junk_drops_connection_but_keeps_valid_frames_and_receiver_runs() -> None:
    async def go() -> None:
        rec = Recorder()
        r = await start_receiver(rec)
        try:
            reader, writer = await asyncio.open_connection(HOST, r.port)
            writer.write(frame(0, b"one") + frame(0, b"two") + b"FLT2002\x00\x00\x00\x05abcdeXXXXXXX")
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 3.0) == b""  # closed by the receiver
            assert [m.message for m in rec.msgs] == [b"one", b"two"]
            # an undecodable ChannelData body inside a good frame: connection dropped, node fine
            reader, writer = await asyncio.open_connection(HOST, r.port)
            writer.write(encode_frame(b"\x00\x00\x00\x02garbage"))
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 3.0) == b""
            reader, writer = await asyncio.open_connection(HOST, r.port)
            writer.write(frame(2, b"three"))
            await writer.drain()
            assert await read_some(reader, 2.0) == ACK_FRAME
            writer.close()
        finally:
            await r.stop()

    asyncio.run(go())


def test_eof_processes_remaining_frames() -> None:
    async def go() -> None:
        rec = Recorder()
        r = await start_receiver(rec)
        try:
            sock = socket.create_connection((HOST, r.port))
            sock.sendall(b"".join(frame(0, b"%d" % i) for i in range(50)))
            sock.shutdown(socket.SHUT_WR)
            await wait_until(lambda: len(rec.msgs) == 50)
            assert [m.message for m in rec.msgs] == [b"%d" % i for i in range(50)]
            sock.close()
        finally:
            await r.stop()

    asyncio.run(go())


def test_auto_bind_searches_upwards() -> None:
    async def go() -> None:
        a = await start_receiver(Recorder(), port=BASE_PORT + 10, auto_bind=10)
        b = await start_receiver(Recorder(), port=a.port, auto_bind=10)
        try:
            assert b.port > a.port
            with pytest.raises(OSError, match="autoBind=1"):
                await start_receiver(Recorder(), port=a.port, auto_bind=1)
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(go())


def test_from_attributes() -> None:
    r = NioReceiver.from_attributes({"address": "127.0.0.1", "port": "4100", "autoBind": "5", "maxThreads": "6",
                                     "selectorTimeout": "100", "tcpNoDelay": "false", "rxBufSize": "1000"})
    assert (r.port, r.auto_bind, r.max_threads, r.selector_timeout, r.tcp_no_delay, r.rx_buf_size) == \
        (4100, 5, 6, 100, False, 1000)
    with pytest.raises(ValueError, match="unknown attribute"):
        NioReceiver.from_attributes({"bogus": "1"})
    s = PooledParallelSender.from_attributes({"poolSize": "3", "timeout": "500", "keepAliveCount": "2",
                                              "maxRetryAttempts": "0"})
    assert (s.pool_size, s.timeout, s.keep_alive_count, s.max_retry_attempts) == (3, 500, 2, 0)


# -- sender -------------------------------------------------------------------------------------------

class RawServer:
    """A raw TCP server answering each frame per a policy (ack / fail / silent / close)."""

    def __init__(self, policy: str = "ack") -> None:
        self.policy = policy
        self.frames: list[bytes] = []
        self.connections = 0
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self) -> "RawServer":
        self.server = await asyncio.start_server(self._handle, HOST, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        dec = FrameDecoder()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for body in dec.feed(data):
                    self.frames.append(body)
                    if self.policy == "ack":
                        writer.write(ACK_FRAME)
                    elif self.policy == "fail":
                        writer.write(FAIL_ACK_FRAME)
                    elif self.policy == "close":
                        writer.close()
                        return
        except ConnectionError:
            pass
        writer.close()

    def member(self) -> Member:
        return Member(host=HOST, port=self.port, unique_id=bytes([self.port % 256]) * 16)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()


def data(options: int) -> ChannelData:
    return ChannelData(options, 0, new_unique_id(), ME, b"payload")


def test_send_with_ack_and_connection_reuse() -> None:
    async def go() -> None:
        srv = await RawServer("ack").start()
        tx = ReplicationTransmitter(PooledParallelSender(pool_size=2))
        await tx.start()
        try:
            for _ in range(20):
                await tx.send_message(data(2), [srv.member()])
            assert len(srv.frames) == 20
            assert srv.connections == 1  # one persistent connection per member (sequential sends)
        finally:
            await tx.stop()
            await srv.stop()

    asyncio.run(go())


def test_fail_ack_is_retried_once_then_channel_exception_names_member() -> None:
    async def go() -> None:
        srv = await RawServer("fail").start()
        tx = ReplicationTransmitter(PooledParallelSender())
        await tx.start()
        try:
            with pytest.raises(ChannelException) as ei:
                await tx.send_message(data(6), [srv.member()])
            fm = ei.value.faulty_members
            assert [f.member for f in fm] == [srv.member()]
            assert isinstance(fm[0].cause, RemoteProcessException)
            assert len(srv.frames) == 2  # Tomcat retries (maxRetryAttempts=1) even after FAIL_ACK
            assert srv.member().name in str(ei.value)
        finally:
            await tx.stop()
            await srv.stop()

    asyncio.run(go())


def test_silent_peer_times_out_without_delaying_others() -> None:
    async def go() -> None:
        silent = await RawServer("silent").start()
        good = await RawServer("ack").start()
        tx = ReplicationTransmitter(PooledParallelSender(timeout=600))
        await tx.start()
        try:
            t0 = time.monotonic()
            with pytest.raises(ChannelException) as ei:
                await tx.send_message(data(2), [silent.member(), good.member()])
            took = time.monotonic() - t0
            assert 0.5 < took < 2.0
            assert [f.member for f in ei.value.faulty_members] == [silent.member()]
            assert isinstance(ei.value.faulty_members[0].cause, SendTimeoutError)
            assert len(good.frames) == 1
            # concurrent sends to the good member complete while a send to the silent one hangs
            hang = asyncio.ensure_future(tx.send_message(data(2), [silent.member()]))
            t0 = time.monotonic()
            for _ in range(10):
                await tx.send_message(data(2), [good.member()])
            assert time.monotonic() - t0 < 0.5
            with pytest.raises(ChannelException):
                await hang
        finally:
            await tx.stop()
            await silent.stop()
            await good.stop()

    asyncio.run(go())


def test_refused_connection_names_member() -> None:
    async def go() -> None:
        s = socket.socket()
        s.bind((HOST, 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        dead = Member(host=HOST, port=port, unique_id=b"\x07" * 16)
        tx = ReplicationTransmitter(PooledParallelSender())
        await tx.start()
        try:
            t0 = time.monotonic()
            with pytest.raises(ChannelException) as ei:
                await tx.send_message(data(2), [dead])
            assert time.monotonic() - t0 < 1.0  # fails fast
            assert ei.value.faulty_members[0].member == dead
            assert isinstance(ei.value.faulty_members[0].cause, OSError)
            st = tx.transport.state_of(dead)
            assert st is not None and st.is_suspect()
        finally:
            await tx.stop()

    asyncio.run(go())


def test_keep_alive_count_recycles_connections() -> None:
    async def go() -> None:
        srv = await RawServer("ack").start()
        tx = ReplicationTransmitter(PooledParallelSender(keep_alive_count=3))
        await tx.start()
        try:
            for _ in range(8):
                await tx.send_message(data(2), [srv.member()])
            assert len(srv.frames) == 8
            # requestCount > keepAliveCount -> disconnect: connections serve 4 requests each
            assert srv.connections == 2
        finally:
            await tx.stop()
            await srv.stop()

    asyncio.run(go())


def test_peer_closing_connection_is_retried() -> None:
    async def go() -> None:
        srv = await RawServer("close").start()
        tx = ReplicationTransmitter(PooledParallelSender())
        await tx.start()
        try:
            with pytest.raises(ChannelException) as ei:
                await tx.send_message(data(2), [srv.member()])
            assert srv.connections == 2  # first attempt + one retry on a fresh connection
            assert ei.value.faulty_members[0].member == srv.member()
        finally:
            await tx.stop()
            await srv.stop()

    asyncio.run(go())


def test_parallel_send_to_many_members_and_pool_size() -> None:
    async def go() -> None:
        servers = [await RawServer("ack").start() for _ in range(4)]
        tx = ReplicationTransmitter(PooledParallelSender(pool_size=3))
        await tx.start()
        try:
            members = [s.member() for s in servers]
            await asyncio.gather(*(tx.send_message(data(2), members) for _ in range(12)))
            assert all(len(s.frames) == 12 for s in servers)
            assert all(s.connections <= 3 for s in servers)  # at most poolSize connections per member
            assert tx.transport.in_use_pool_size == 0
        finally:
            await tx.stop()
            for s in servers:
                await s.stop()

    asyncio.run(go())
