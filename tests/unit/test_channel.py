"""GroupChannel end to end on loopback: listeners, options, interceptor chain, failures."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tribes.group import (ByteMessage, ChannelException, ChannelInterceptor, GroupChannel, LocalOnlyMembership,
                          RemoteProcessException)
from tribes.interceptors import MessageDispatchInterceptor
from tribes.membership.member import Member
from tribes.transport import NioReceiver, PooledParallelSender, ReplicationTransmitter

HOST = "127.0.0.1"
PORT = 47300


class Listener:
    def __init__(self, accept_all: bool = True) -> None:
        self.got: list[tuple[Any, Member]] = []
        self.accept_all = accept_all
        self.fail = False
        self.slow: float = 0.0

    def accept(self, msg: Any, sender: Member) -> bool:
        return self.accept_all

    def message_received(self, msg: Any, sender: Member) -> Any:
        self.got.append((msg, sender))
        if self.fail:
            raise RuntimeError("listener failed")
        if self.slow:
            return asyncio.sleep(self.slow)
        return None


def node(*interceptors: ChannelInterceptor, timeout: int = 3000) -> GroupChannel:
    ch = GroupChannel(NioReceiver(address=HOST, port=PORT),
                      ReplicationTransmitter(PooledParallelSender(timeout=timeout)),
                      LocalOnlyMembership(), heartbeat=False)
    for i in interceptors:
        ch.add_interceptor(i)
    return ch


async def until(pred: Any, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "condition not reached"
        await asyncio.sleep(0.005)


def test_byte_messages_all_option_combinations() -> None:
    async def go() -> None:
        a, b = node(), node()
        await a.start()
        await b.start()
        lb = Listener()
        b.add_channel_listener(lb)
        try:
            assert a.local_member is not None and b.local_member is not None
            assert a.local_member.port != b.local_member.port
            for i, opts in enumerate((0, 2, 4, 6, 8, 10, 14)):
                uid = await a.send([b.local_member], ByteMessage(b"m%d" % i), opts)
                assert len(uid) == 16 and str(uid) == uid.hex()
            await until(lambda: len(lb.got) == 7)
            assert sorted(m.message for m, _ in lb.got) == sorted(b"m%d" % i for i in range(7))
            assert all(s == a.local_member for _, s in lb.got)
            # default stack: MessageDispatchInterceptor added because no interceptor was configured
            assert [type(i).__name__ for i in a.interceptors()] == ["MessageDispatchInterceptor"]
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(go())


def test_listener_failure_gives_fail_ack_and_channel_exception() -> None:
    async def go() -> None:
        a, b = node(), node()
        await a.start()
        await b.start()
        lb = Listener()
        lb.fail = True
        b.add_channel_listener(lb)
        try:
            with pytest.raises(ChannelException) as ei:
                await a.send([b.local_member], ByteMessage(b"x"), 6)
            (fm,) = ei.value.faulty_members
            assert fm.member == b.local_member and isinstance(fm.cause, RemoteProcessException)
            # without SYNC the ACK precedes processing: the sender does not see the failure
            await a.send([b.local_member], ByteMessage(b"y"), 2)
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(go())


def test_awaitable_listener_is_awaited_before_sync_ack() -> None:
    async def go() -> None:
        a, b = node(), node()
        await a.start()
        await b.start()
        lb = Listener()
        lb.slow = 0.3
        b.add_channel_listener(lb)
        try:
            t0 = time.monotonic()
            await a.send([b.local_member], ByteMessage(b"x"), 6)
            assert time.monotonic() - t0 >= 0.28
            t0 = time.monotonic()
            await a.send([b.local_member], ByteMessage(b"y"), 2)  # ACK before processing
            assert time.monotonic() - t0 < 0.25
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(go())


def test_accept_false_skips_listener() -> None:
    async def go() -> None:
        a, b = node(), node()
        await a.start()
        await b.start()
        no, yes = Listener(accept_all=False), Listener()
        b.add_channel_listener(no)
        b.add_channel_listener(yes)
        with pytest.raises(ValueError):
            b.add_channel_listener(yes)
        try:
            await a.send([b.local_member], ByteMessage(b"x"), 6)
            assert no.got == [] and len(yes.got) == 1
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(go())


class Tagger(ChannelInterceptor):
    """Appends its tag on send, strips it on receive (checks LIFO ordering of the chain)."""

    def __init__(self, tag: bytes, option_flag: int | None = None) -> None:
        super().__init__(option_flag)
        self.tag = tag
        self.seen = 0

    async def send_message(self, destination: Any, msg: Any, payload: Any = None) -> None:
        if self.ok_to_process(msg.options):
            msg.message = msg.message + self.tag
        await super().send_message(destination, msg, payload)

    def message_received(self, msg: Any) -> Any:
        if self.ok_to_process(msg.options):
            assert msg.message.endswith(self.tag), (msg.message, self.tag)
            msg.message = msg.message[:-len(self.tag)]
            self.seen += 1
        return super().message_received(msg)


def test_interceptor_order_and_option_flags() -> None:
    async def go() -> None:
        a = node(Tagger(b"A"), Tagger(b"B"), Tagger(b"G", option_flag=0x100 | 0x2))
        b = node(Tagger(b"A"), Tagger(b"B"), Tagger(b"G", option_flag=0x100 | 0x2))
        await a.start()
        await b.start()
        lb = Listener()
        b.add_channel_listener(lb)
        try:
            await a.send([b.local_member], ByteMessage(b"p"), 2)  # G not ok: needs both 0x100 and 0x2
            await a.send([b.local_member], ByteMessage(b"q"), 0x102)
            await until(lambda: len(lb.got) == 2)
            assert [m.message for m, _ in lb.got] == [b"p", b"q"]
            tags = list(b.interceptors())
            assert [t.seen for t in tags] == [2, 2, 1]  # type: ignore[attr-defined]
            assert tags[2].ok_to_process(0x10F) and not tags[2].ok_to_process(0x100)
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(go())


def test_option_check_detects_conflicts() -> None:
    ch = node(ChannelInterceptor(option_flag=0x100), ChannelInterceptor(option_flag=0x300))
    ch.option_check = True
    with pytest.raises(ChannelException, match="conflict"):
        ch.check_option_flags()


def test_message_dispatch_async_queue() -> None:
    async def go() -> None:
        md = MessageDispatchInterceptor(max_queue_size=10_000, always_send=False)
        a, b = node(md), node()
        await a.start()
        await b.start()
        lb = Listener()
        b.add_channel_listener(lb)
        try:
            for i in range(50):
                await a.send([b.local_member], ByteMessage(b"%03d" % i), 8)
            assert await md.flush(10)
            await until(lambda: len(lb.got) == 50)
            assert sorted(m.message for m, _ in lb.got) == [b"%03d" % i for i in range(50)]
            # a message bigger than the queue: alwaysSend=False -> ChannelException
            with pytest.raises(ChannelException, match="queue is full"):
                await a.send([b.local_member], ByteMessage(b"x" * 20_000), 8)
            md.always_send = True  # now it is sent synchronously instead
            await a.send([b.local_member], ByteMessage(b"y" * 20_000), 8)
            await until(lambda: len(lb.got) == 51)
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(go())


def test_async_send_failure_goes_to_error_handler() -> None:
    async def go() -> None:
        a = node(MessageDispatchInterceptor(), timeout=500)
        await a.start()
        dead = Member(host=HOST, port=1, unique_id=b"\x09" * 16)
        errors: list[Any] = []
        done: list[Any] = []

        class Handler:
            def handle_error(self, exc: ChannelException, uid: Any) -> None:
                errors.append((exc, uid))

            def handle_completion(self, uid: Any) -> None:
                done.append(uid)

        try:
            uid = await a.send([dead], ByteMessage(b"x"), 8, Handler())  # returns at once
            await until(lambda: errors, 5)
            exc, euid = errors[0]
            assert euid == uid and exc.faulty_members[0].member == dead
        finally:
            await a.stop()

    asyncio.run(go())


def test_send_without_destination_or_start_fails_clearly() -> None:
    async def go() -> None:
        a = node()
        with pytest.raises(ChannelException, match="no destination"):
            await a.send([], ByteMessage(b"x"), 2)
        with pytest.raises(ChannelException):
            await a.send([Member(host=HOST, port=1)], ByteMessage(b"x"), 2)

    asyncio.run(go())


def test_membership_events_reach_listeners_in_order() -> None:
    async def go() -> None:
        ms = LocalOnlyMembership()
        ch = GroupChannel(NioReceiver(address=HOST, port=PORT), membership=ms, heartbeat=False)
        seen: list[tuple[str, int]] = []

        class ML:
            def member_added(self, m: Member) -> None:
                seen.append(("+", m.port))

            def member_disappeared(self, m: Member) -> None:
                seen.append(("-", m.port))

        ch.add_membership_listener(ML())
        await ch.start()
        try:
            for p in (11, 12):
                ms.add_member(Member(host=HOST, port=p, unique_id=bytes([p]) * 16))
            ms.remove_member(Member(host=HOST, port=11, unique_id=bytes([11]) * 16))
            await until(lambda: len(seen) == 3)
            assert seen == [("+", 11), ("+", 12), ("-", 11)]
            assert [m.port for m in ch.members()] == [12]
        finally:
            await ch.stop()

    asyncio.run(go())


def test_heartbeat_runs_periodically() -> None:
    async def go() -> None:
        ch = GroupChannel(NioReceiver(address=HOST, port=PORT), membership=LocalOnlyMembership(),
                          heartbeat_sleeptime=50)
        beats: list[float] = []

        class HB(ChannelInterceptor):
            async def heartbeat(self) -> None:
                beats.append(time.monotonic())
                await super().heartbeat()

        ch.add_interceptor(HB())
        await ch.start()
        try:
            await until(lambda: len(beats) >= 3, 3)
        finally:
            await ch.stop()

    asyncio.run(go())
