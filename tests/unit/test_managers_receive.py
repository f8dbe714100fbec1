"""A SimpleTcpCluster's receive side against strangers and expensive payloads, over real sockets on
127.0.0.1 (issue 19, defects 2, 3 and 9): session state only to members, contexts followed
uninvited bounded, large payloads decoded in a worker thread while ACKs to others go on."""
from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import pytest

from tribes.group import ByteMessage, GroupChannel, LocalOnlyMembership
from tribes.javaser import JavaInteger
from tribes.managers import receive
from tribes.managers.cluster import SimpleTcpCluster
from tribes.managers.delta_request import DeltaRequest
from tribes.managers.session_message import (EVT_ALL_SESSION_DATA, EVT_GET_ALL_SESSIONS, EVT_SESSION_CREATED,
                                             EVT_SESSION_DELTA, SessionMessage, is_session_message)
from tribes.transport import NioReceiver, PooledParallelSender, ReplicationTransmitter

HOST = "127.0.0.1"
CTX = "localhost#/app"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def channel() -> GroupChannel:
    return GroupChannel(NioReceiver(address=HOST, port=free_port()),
                        ReplicationTransmitter(PooledParallelSender(timeout=5000)),
                        LocalOnlyMembership(), heartbeat=False)


class Recorder:
    def __init__(self) -> None:
        self.got: list[SessionMessage] = []

    def accept(self, msg: Any, sender: Any) -> bool:
        return is_session_message(msg)

    def message_received(self, msg: Any, sender: Any) -> None:
        self.got.append(SessionMessage.from_java(msg, sender))

    def events(self) -> list[int]:
        return [m.event_type for m in self.got]


async def until(pred: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "condition not reached"
        await asyncio.sleep(0.02)


class Trio:
    """The node under test, a member, and a stranger (never made a member)."""

    async def __aenter__(self) -> "Trio":
        self.node = SimpleTcpCluster(channel(), jvm_route="py1")
        self.app = self.node.manager("/app")
        await self.node.start(state_transfer=False)
        self.member, self.stranger = channel(), channel()
        self.member_rx, self.stranger_rx = Recorder(), Recorder()
        for ch, rx in ((self.member, self.member_rx), (self.stranger, self.stranger_rx)):
            ch.add_channel_listener(rx)
            await ch.start()
        self.node_m = self.node.channel.local_member
        self.node.channel.membership_service.add_member(self.member.local_member)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.node.stop()
        await self.member.stop()
        await self.stranger.stop()


def get_all(ctx: str = CTX) -> Any:
    m = SessionMessage(EVT_GET_ALL_SESSIONS, ctx, "GET-ALL", None, f"GET-ALL-{ctx}")
    m.set_timestamp(int(time.time() * 1000))
    return m.to_java()


def test_session_state_only_to_members(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receive, "STATE_REQUEST_WAIT", 1.5)

    async def run() -> None:
        async with Trio() as t:
            t.app.create_session({"secret": "s3cr3t"})
            await t.node.flush()
            await t.stranger.send([t.node_m], get_all(), 6)
            await t.member.send([t.node_m], get_all(), 6)
            await until(lambda: EVT_ALL_SESSION_DATA in t.member_rx.events())
            await asyncio.sleep(2.5)                 # past STATE_REQUEST_WAIT
            assert t.stranger_rx.got == []           # the old node sent every session to the stranger
            assert receive.guard(t.node).refused_state_requests == 1
            # a node whose membership arrives after its request (a Tomcat just started) is served
            await t.stranger.send([t.node_m], get_all(), 6)
            await asyncio.sleep(0.3)
            t.node.channel.membership_service.add_member(t.stranger.local_member)
            await until(lambda: EVT_ALL_SESSION_DATA in t.stranger_rx.events())
    asyncio.run(run())


def test_contexts_followed_uninvited_are_bounded() -> None:
    async def run() -> None:
        async with Trio() as t:
            t.node.follow_all_contexts = True
            t.node.max_followed_contexts = 3
            for i in range(10):
                m = SessionMessage(EVT_SESSION_CREATED, f"localhost#/c{i}", f"S{i}", None, f"u{i}")
                m.set_timestamp(int(time.time() * 1000))
                await t.member.send([t.node_m], m.to_java(), 6)
                m2 = SessionMessage(EVT_SESSION_CREATED, f"localhost#/x{i}", f"X{i}", None, f"x{i}")
                await t.stranger.send([t.node_m], m2.to_java(), 6)
            # the old node made a manager (and a state transfer) for each of the 20
            assert sorted(t.node.managers) == [CTX, "localhost#/c0", "localhost#/c1", "localhost#/c2"]
            assert receive.guard(t.node).refused_contexts == 17
            t.node.max_followed_contexts = None      # a node told to follow everything
            m = SessionMessage(EVT_SESSION_CREATED, "localhost#/c9", "S9", None, "u9")
            await t.member.send([t.node_m], m.to_java(), 6)
            assert "localhost#/c9" in t.node.managers
    asyncio.run(run())


def test_large_payload_decoded_off_the_loop_while_acks_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    real = receive.predecode

    def slow_predecode(smsg: SessionMessage) -> None:
        threads.append(threading.current_thread().name)
        time.sleep(2.0)                              # an expensive decode
        real(smsg)
    monkeypatch.setattr(receive, "predecode", slow_predecode)

    async def run() -> None:
        async with Trio() as t:
            s = t.app.create_session()
            await t.node.flush()
            dr = DeltaRequest(s.id)
            dr.set_attribute("big", bytes(200_000))
            dr.set_attribute("n", JavaInteger(1))
            big = SessionMessage(EVT_SESSION_DELTA, CTX, s.id, dr.serialize(), "d1")
            send = asyncio.ensure_future(t.member.send([t.node_m], big.to_java(), 6))
            lat: list[float] = []
            end = time.monotonic() + 3.0
            while time.monotonic() < end:            # a well-behaved sender on another connection
                t0 = time.monotonic()
                await t.stranger.send([t.node_m], ByteMessage(b"ping"), 6)
                lat.append(time.monotonic() - t0)
                await asyncio.sleep(0.05)
            await send
            assert threads and threads[0] != threading.main_thread().name
            assert len(lat) > 10 and max(lat) < 1.0, f"ACK latencies up to {max(lat):.2f} s"
            assert len(t.app.get_session(s.id).attributes["big"]) == 200_000   # type: ignore[union-attr]
    asyncio.run(run())
