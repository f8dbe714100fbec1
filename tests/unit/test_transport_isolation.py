"""Issue 19 defect 4: a hung member (accepts, never reads, never ACKs) costs only itself.

Real sockets on 127.0.0.1: node A (a SimpleTcpCluster with the stock MessageDispatchInterceptor with
one worker, as ``SimpleTcpCluster.create`` builds it) replicates to a healthy Python node B and to a
hung member H at 50 session changes/s. Every change must reach B, A's queues must stay bounded, and
the per-member queue bound and its "fail new" policy are checked at the transport.
"""
from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from tribes.group import GroupChannel, LocalOnlyMembership
from tribes.interceptors import MessageDispatchInterceptor
from tribes.io.channel_data import ChannelData, new_unique_id
from tribes.io.member import Member
from tribes.managers.cluster import SimpleTcpCluster
from tribes.transport import NioReceiver, PooledParallelSender, ReplicationTransmitter
from tribes.transport.errors import SendQueueFullError
from tribes.transport.limits import SenderLimits

HOST = "127.0.0.1"
PORT = 47400


class HungMember:
    """Accepts connections and never reads a byte (so never ACKs), with a tiny receive buffer."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.bind((HOST, 0))
        self.sock.listen(64)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(self.sock)
            self.accepted.append(conn)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run())

    def member(self) -> Member:
        return Member(host=HOST, port=self.port, unique_id=b"\x0b" * 16)

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        for c in self.accepted:
            c.close()
        self.sock.close()


def cluster_node(timeout: int = 3000) -> SimpleTcpCluster:
    ch = GroupChannel(NioReceiver(address=HOST, port=PORT, auto_bind=50),
                      ReplicationTransmitter(PooledParallelSender(timeout=timeout)),
                      LocalOnlyMembership(), heartbeat=False)
    ch.add_interceptor(MessageDispatchInterceptor(max_threads=1))
    return SimpleTcpCluster(ch, jvm_route="a")


@pytest.mark.parametrize("options", [8, 6])
def test_hung_member_does_not_starve_healthy_member(options: int) -> None:
    async def go() -> None:
        hung = HungMember()
        hung.start()
        a, b = cluster_node(), cluster_node()
        a.channel_send_options = options
        app_a = a.manager("/app")
        app_b = b.manager("/app")
        await a.start(state_transfer=False)
        await b.start(state_transfer=False)
        try:
            ms = a.channel.membership_service
            assert isinstance(ms, LocalOnlyMembership)
            assert b.channel.local_member is not None
            ms.add_member(b.channel.local_member)
            ms.add_member(hung.member())
            await asyncio.sleep(0.1)
            s = app_a.create_session({"n": 0})
            assert s.id is not None
            big = "x" * 16384  # the hung member's socket buffers fill within the first second
            updates = 200     # 4 s at 50/s
            t0 = time.monotonic()
            for i in range(1, updates + 1):
                app_a.set_attribute(s.id, "n", i)
                app_a.set_attribute(s.id, "pad", big + str(i))
                await asyncio.sleep(max(0.0, t0 + i / 50 - time.monotonic()))
            # every change reached the healthy member, well before the hung member's timeouts add up
            end = time.monotonic() + 10
            while time.monotonic() < end:
                got = app_b.get_session(s.id)
                if got is not None and got.get_attribute("n") == updates:
                    break
                await asyncio.sleep(0.05)
            got = app_b.get_session(s.id)
            assert got is not None and got.get_attribute("n") == updates, \
                got.get_attribute("n") if got is not None else None
            # A's own queues stayed bounded: nothing waits in the cluster's queue, the in-flight sends
            # are bounded by the hung member's deadlines, the hung member's link by its limits
            assert a._queue is not None and a._queue.qsize() < 10
            assert len(a._inflight) < 400
            tx = a.channel.sender.transport
            link = tx.links.get(hung.member())
            assert link is not None and len(link.queue) <= tx.limits.max_queue_messages
        finally:
            await a.stop()
            await b.stop()
            hung.close()

    asyncio.run(asyncio.wait_for(go(), 90))


def test_member_queue_bound_fails_new_sends_for_that_member_only() -> None:
    async def go() -> None:
        hung = HungMember()
        hung.start()
        rx = NioReceiver(address=HOST, port=PORT + 60, auto_bind=50)
        got: list[ChannelData] = []
        rx.set_message_listener(type("L", (), {"message_received": lambda self, m: got.append(m)})())
        await rx.start()
        good = Member(host=HOST, port=rx.port, unique_id=b"\x0c" * 16)
        tx = PooledParallelSender(timeout=2000, limits=SenderLimits(max_queue_messages=5))
        await tx.connect()
        try:
            me = Member(host=HOST, port=1, unique_id=b"\x0d" * 16)
            frame = ChannelData(2, 0, new_unique_id(), me, b"m").encode_frame()
            sends = []
            for i in range(20):  # one after the other as the healthy member ACKs them
                sends.append(asyncio.ensure_future(tx.send_message([hung.member(), good], frame, 2)))
                end = time.monotonic() + 5
                while len(got) <= i and time.monotonic() < end:
                    await asyncio.sleep(0.002)
            results: list[Any] = await asyncio.gather(*sends, return_exceptions=True)
            causes = [fm.cause for r in results for fm in getattr(r, "faulty_members", [])]
            # every send failed for the hung member only: 1 in flight + 5 queued timed out, the rest refused
            assert all(len(r.faulty_members) == 1 and r.faulty_members[0].member == hung.member() for r in results), \
                [(type(r).__name__, str(r)[:200]) for r in results]
            assert sum(isinstance(c, SendQueueFullError) for c in causes) >= 10
            assert len(got) == 20  # the healthy member got all of them
        finally:
            tx.disconnect()
            await rx.stop()
            hung.close()

    asyncio.run(asyncio.wait_for(go(), 60))
