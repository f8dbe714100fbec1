"""Issue 19, transport defects: each attack over real sockets on 127.0.0.1 against a real NioReceiver.

Every test has a well-behaved sender beside the attacker that must keep getting each ACK (generous
ceilings: the machine is shared), and bounds its own time and counts. Timing figures live in
bench/bench_hostile.py.
"""
from __future__ import annotations

import asyncio
import logging
import resource
import socket
import struct
import time
import tracemalloc
from typing import Any

import pytest

from tribes import _purepath
from tribes.io.channel_data import ChannelData, new_unique_id
from tribes.io.framing import ACK_FRAME, START_DATA
from tribes.io.member import Member
from tribes.transport import NioReceiver
from tribes.transport.limits import ReceiverLimits

HOST = "127.0.0.1"
BASE_PORT = 47300
ME = Member(host=HOST, port=1, unique_id=b"\x02" * 16)
ACK_CEILING = 1.0  # seconds: the generous ceiling for a well-behaved sender's ACK


def frame(options: int = 2, payload: bytes = b"x") -> bytes:
    return ChannelData(options, int(time.time() * 1000), new_unique_id(), ME, payload).encode_frame()


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def message_received(self, msg: ChannelData) -> None:
        self.n += 1


async def start(limits: ReceiverLimits, port_offset: int) -> NioReceiver:
    r = NioReceiver(address=HOST, port=BASE_PORT + port_offset, auto_bind=50, limits=limits)
    r.set_message_listener(Counter())
    await r.start()
    return r


class GoodSender:
    """A well-behaved sender: one message with USE_ACK at a time, records each ACK's latency."""

    def __init__(self, port: int, source: str = "127.0.0.2") -> None:
        self.port = port
        self.source = source
        self.latencies: list[float] = []
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port, local_addr=(self.source, 0))

    async def send(self, n: int = 1) -> None:
        if self.writer is None:
            await self.connect()
        assert self.reader is not None and self.writer is not None
        for _ in range(n):
            t0 = time.monotonic()
            self.writer.write(frame(2))
            got = await asyncio.wait_for(self.reader.readexactly(len(ACK_FRAME)), 10)
            assert got == ACK_FRAME
            self.latencies.append(time.monotonic() - t0)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def raw_socket(source: str = "127.0.0.1", rcvbuf: int | None = None) -> socket.socket:
    s = socket.socket()
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((source, 0))
    s.setblocking(False)
    return s


async def connect(s: socket.socket, port: int) -> None:
    await asyncio.get_running_loop().sock_connect(s, (HOST, port))


async def push(s: socket.socket, data: bytes, seconds: float) -> int:
    """Send as much of ``data`` as the peer takes within ``seconds``; returns the bytes sent."""
    loop = asyncio.get_running_loop()
    sent = 0
    view = memoryview(data)
    end = loop.time() + seconds
    while sent < len(data) and loop.time() < end:
        try:
            n = s.send(view[sent:sent + 1024 * 1024])
        except BlockingIOError:
            await asyncio.sleep(0.01)
            continue
        except OSError:
            break
        sent += n
        await asyncio.sleep(0)
    return sent


async def closed_by_peer(s: socket.socket, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    try:
        data = await asyncio.wait_for(loop.sock_recv(s, 65536), timeout)
    except asyncio.TimeoutError:
        return False
    except OSError:
        return True
    while data:
        try:
            data = await asyncio.wait_for(loop.sock_recv(s, 65536), timeout)
        except (asyncio.TimeoutError, OSError):
            return True
    return True


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 90))


# ---------------------------------------------------------------------------------------- defect 8a
@pytest.mark.parametrize("impl", ["fast", "pure"])
def test_header_claiming_4mib_reserves_nothing_like_4mib(impl: str) -> None:
    """An 11-byte header claiming 4 MiB must not allocate 4 MiB before the bytes arrive."""
    if impl == "fast":
        fast = pytest.importorskip("tribes._fastpath")
        core = fast.FrameDecoderCore
    else:
        core = _purepath.FrameDecoderCore
    header = START_DATA + struct.pack(">i", 4 * 1024 * 1024)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        decoders = []
        for _ in range(100):
            d = core(256 * 1024 * 1024)
            assert d.feed(header + b"abc") == []
            decoders.append(d)
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    # 100 headers that lie: well under 100 x 4 MiB (= 400 MiB); the fast path may pre-size 64 KiB
    assert held < 100 * 128 * 1024, f"{held} bytes held for 100 lying headers"
    # the frames still complete normally
    d = decoders[0]
    body = b"abc" + bytes(4 * 1024 * 1024 - 3)
    assert d.feed(body[3:] + b"TLF2003") == [body]


# ---------------------------------------------------------------------------------------- defect 1
def test_peer_not_reading_acks_is_paused_and_good_sender_keeps_acks() -> None:
    """Many small USE_ACK frames, never reading the ACKs: the ACK backlog stays bounded."""
    async def go() -> None:
        lim = ReceiverLimits(write_high_water=64 * 1024, write_low_water=16 * 1024)
        r = await start(lim, 0)
        good = GoodSender(r.port)
        attacker = raw_socket(rcvbuf=4096)
        try:
            await connect(attacker, r.port)
            one = frame(2)
            burst = one * (8 * 1024 * 1024 // len(one))  # ~8 MiB of frames = ~2.5 MiB of ACKs
            pusher = asyncio.ensure_future(push(attacker, burst, 6.0))
            for _ in range(30):
                await good.send()
                await asyncio.sleep(0.1)
            await pusher
            buffered = max(c._transport.get_write_buffer_size() for c in r._connections
                           if c._transport is not None)
            # bounded by the high-water mark plus one read's worth of ACKs (256 KiB / 93 B x 21 B)
            assert buffered < 256 * 1024, f"{buffered} bytes of ACKs queued for a peer that does not read"
            assert r.limit_hits.get("write_high_water", 0) >= 1
            assert max(good.latencies) < ACK_CEILING, good.latencies
            # the attacker starts reading again: it is resumed and gets its ACKs
            attacker.setblocking(True)
            attacker.settimeout(5)
            total = 0
            while total < 21 * 1000:
                data = attacker.recv(1 << 20)
                assert data
                total += len(data)
        finally:
            attacker.close()
            good.close()
            await r.stop()

    run(go())


# ---------------------------------------------------------------------------------------- defect 5
def test_total_receive_buffer_cap_and_partial_frame_timeout() -> None:
    """Four connections start 128 MiB frames: the total held stays under the cap (+ RSS bound), a good
    sender keeps its ACKs, and the stalled frames are dropped after the partial-frame timeout."""
    async def go() -> None:
        cap = 32 * 1024 * 1024
        lim = ReceiverLimits(max_total_buffer=cap, partial_frame_timeout=1500)
        r = await start(lim, 1)
        good = GoodSender(r.port)
        attackers = [raw_socket(source=f"127.0.0.{10 + i}") for i in range(4)]
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        chunk = START_DATA + struct.pack(">i", 128 * 1024 * 1024) + bytes(40 * 1024 * 1024)
        try:
            for a in attackers:
                await connect(a, r.port)
            pushers = [asyncio.ensure_future(push(a, chunk, 4.0)) for a in attackers]
            peak = 0
            while not all(p.done() for p in pushers):
                await good.send()
                peak = max(peak, r.buffered_bytes)
                await asyncio.sleep(0.05)
            sent = [p.result() for p in pushers]
            assert sum(sent) > cap, f"the attackers could not even send {cap} bytes: {sent}"
            # per connection at most one extra read (256 KiB) past the floor
            assert peak <= cap + 4 * (lim.buffer_floor + 256 * 1024), peak
            assert r.limit_hits.get("max_total_buffer", 0) >= 1
            assert max(good.latencies) < ACK_CEILING, max(good.latencies)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            assert rss - rss0 < cap + 200 * 1024 * 1024, (rss0, rss)
            # stalled: the frames are dropped after the timeout, the memory comes back
            for a in attackers:
                assert await closed_by_peer(a, 10.0)
            end = time.monotonic() + 5
            while r.buffered_bytes and time.monotonic() < end:
                await asyncio.sleep(0.05)
            assert r.buffered_bytes == 0
            assert r.limit_hits.get("partial_frame_timeout", 0) >= 4
            await good.send(5)
        finally:
            for a in attackers:
                a.close()
            good.close()
            await r.stop()

    run(go())


def test_idle_unproven_connection_closed_established_kept() -> None:
    async def go() -> None:
        lim = ReceiverLimits(partial_frame_timeout=800)
        r = await start(lim, 2)
        good = GoodSender(r.port)
        idle = raw_socket()
        try:
            await connect(idle, r.port)
            await good.send()
            assert await closed_by_peer(idle, 10.0)  # never sent a frame: closed
            await asyncio.sleep(1.5)                 # established and idle: kept (idle_timeout 0)
            await good.send()
            assert good.writer is not None and not good.writer.is_closing()
        finally:
            idle.close()
            good.close()
            await r.stop()

    run(go())


# ---------------------------------------------------------------------------------------- defect 6
def test_connection_caps_refuse_and_evict_and_log_is_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    """A flood of idle connections from one address hits the per-peer cap; from many addresses, the
    total cap evicts connections that never delivered a message; a good sender always gets in."""
    async def go() -> None:
        lim = ReceiverLimits(max_connections=40, max_connections_per_peer=10)
        r = await start(lim, 3)
        socks: list[socket.socket] = []
        good = GoodSender(r.port, source="127.0.0.2")
        try:
            await good.send()
            for _ in range(200):  # one address
                s = raw_socket(source="127.0.0.3")
                socks.append(s)
                await connect(s, r.port)
            await asyncio.sleep(0.3)
            assert r.connection_count <= 1 + 10
            for i in range(100):  # many addresses: over the total cap
                s = raw_socket(source=f"127.0.1.{i % 50 + 1}")
                socks.append(s)
                await connect(s, r.port)
            await asyncio.sleep(0.3)
            assert r.connection_count <= 40
            good2 = GoodSender(r.port, source="127.0.0.4")
            await good2.send(3)  # a new legitimate sender evicts an unproven one
            await good.send(3)   # the established one was never evicted
            assert max(good.latencies + good2.latencies) < ACK_CEILING
            good2.close()
            assert r.limit_hits.get("max_connections_per_peer", 0) >= 100
            lines = [rec for rec in caplog.records if "max_connections_per_peer" in rec.getMessage()]
            assert 1 <= len(lines) <= 2, len(lines)  # one line per interval, not one per connection
        finally:
            for s in socks:
                s.close()
            good.close()
            await r.stop()

    with caplog.at_level(logging.WARNING, logger="tribes.transport"):
        run(go())


def test_limits_from_attributes_and_validation() -> None:
    r = NioReceiver.from_attributes({"port": "4100", "maxTotalBuffer": "1000000", "maxConnectionsPerPeer": "3",
                                     "partialFrameTimeout": "0", "maxMessageSize": "2048"})
    assert (r.limits.max_total_buffer, r.limits.max_connections_per_peer, r.limits.partial_frame_timeout,
            r.max_message_size) == (1_000_000, 3, 0, 2048)
    with pytest.raises(ValueError, match="write_low_water"):
        ReceiverLimits(write_high_water=10, write_low_water=20)
    with pytest.raises(ValueError, match="max_total_buffer"):
        ReceiverLimits(max_total_buffer=-1)
    d = ReceiverLimits()
    # the defaults admit what a real Tomcat cluster sends: a >100 MB ALL_SESSION_DATA, 25 pooled senders
    assert d.max_message_size >= 256 * 1024 * 1024 and d.max_total_buffer >= d.max_message_size
    assert d.max_connections_per_peer >= 25 and d.idle_timeout == 0
