"""RpcChannel (Tomcat's org.apache.catalina.tribes.group.RpcChannel) between Python nodes on loopback:
reply modes, timeout, late replies to left_over, NoRpcChannelReply lowering the expected count."""
from __future__ import annotations

import asyncio
import time
from typing import Any

from tribes.group import GroupChannel, LocalOnlyMembership
from tribes.group.rpc import ALL_REPLY, FIRST_REPLY, MAJORITY_REPLY, NO_REPLY, RpcChannel, RpcCollector, Response
from tribes.membership.member import Member
from tribes.transport import NioReceiver, PooledParallelSender, ReplicationTransmitter


def channel() -> GroupChannel:
    return GroupChannel(NioReceiver(address="127.0.0.1", port=47500),
                        ReplicationTransmitter(PooledParallelSender(timeout=3000)), LocalOnlyMembership(),
                        heartbeat=False)


class Callback:
    def __init__(self, answer: Any = "pong", delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.requests: list[Any] = []
        self.left: list[Any] = []

    def reply_request(self, msg: Any, sender: Member) -> Any:
        self.requests.append(msg)
        if self.delay:
            async def later() -> Any:
                await asyncio.sleep(self.delay)
                return self.answer
            return later()
        return self.answer

    def left_over(self, msg: Any, sender: Member) -> None:
        self.left.append(msg)


def test_collector_completion_rules() -> None:
    m = Member(host=b"\x0a\x00\x00\x01", port=1, unique_id=bytes(16))
    c = RpcCollector(b"u", MAJORITY_REPLY, 4)
    c.responses.append(Response(m, 1))
    assert not c.is_complete()
    c.responses.append(Response(m, 2))
    assert c.is_complete()                         # 2/4 >= 50 %
    a = RpcCollector(b"u", ALL_REPLY, 2)
    a.responses.append(Response(m, 1))
    assert not a.is_complete()
    a.destcnt -= 1                                  # a NoRpcChannelReply
    assert a.is_complete()
    assert RpcCollector(b"u", NO_REPLY, 1).is_complete() is False
    assert RpcCollector(b"u", FIRST_REPLY, 0).is_complete()


def test_reply_modes_timeout_and_late_replies() -> None:
    async def go() -> None:
        chans = [channel() for _ in range(3)]
        for ch in chans:
            await ch.start()
        rid = b"test-rpc"
        caller = Callback()
        fast, slow = Callback("fast"), Callback("slow", delay=1.5)
        rpc0 = RpcChannel(rid, chans[0], caller)
        RpcChannel(rid, chans[1], fast)
        RpcChannel(rid, chans[2], slow)
        dests = [chans[1].local_member, chans[2].local_member]
        try:
            first = await rpc0.send(dests, "ping", FIRST_REPLY, 2, 5000)
            assert [r.message for r in first] == ["fast"]
            t0 = time.monotonic()
            partial = await rpc0.send(dests, "ping", ALL_REPLY, 2, 300)    # the slow one misses the timeout
            assert [r.message for r in partial] == ["fast"] and time.monotonic() - t0 < 1.4
            both = await rpc0.send(dests, "ping", ALL_REPLY, 2, 5000)
            assert sorted(r.message for r in both) == ["fast", "slow"]
            assert await rpc0.send(dests, "ping", NO_REPLY, 2, 5000) == []
            end = time.monotonic() + 10
            while len(caller.left) < 2 and time.monotonic() < end:   # late "slow" replies -> left_over
                await asyncio.sleep(0.05)
            assert caller.left.count("slow") >= 2
            # a member without this RpcChannel answers NoRpcChannelReply: ALL_REPLY completes without waiting
            stranger = channel()
            await stranger.start()
            try:
                t0 = time.monotonic()
                got = await rpc0.send([chans[1].local_member, stranger.local_member], "ping", ALL_REPLY, 2, 8000)
                assert [r.message for r in got] == ["fast"] and time.monotonic() - t0 < 6
            finally:
                await stranger.stop()
        finally:
            for ch in chans:
                await ch.stop()
    asyncio.run(go())
