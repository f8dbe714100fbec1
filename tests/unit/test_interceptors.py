"""Interceptors: wire bytes against Tomcat's golden vectors (tests/vectors/channel/, made by
interop/java/src/ChannelVectors.java), and behaviour on loopback."""
from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any, Sequence

import pytest

from tribes.group import ByteMessage, ChannelInterceptor, GroupChannel, LocalOnlyMembership
from tribes.interceptors import (DomainFilterInterceptor, FragmentationInterceptor, GzipInterceptor,
                                 OrderInterceptor, TcpFailureDetector, TcpPingInterceptor, ThroughputInterceptor)
from tribes.interceptors.gzip import compress, decompress
from tribes.interceptors.tcp_failure_detector import TCP_FAIL_DETECT
from tribes.interceptors.tcp_ping import TCP_PING_DATA
from tribes.io.channel_data import ChannelData, new_unique_id
from tribes.io.framing import ACK_FRAME, FAIL_ACK_FRAME
from tribes.membership.member import Member
from tribes.transport import NioReceiver

VECTORS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "vectors", "channel")
HOST = "127.0.0.1"
PORT = 47500


def vectors(version: int) -> dict[str, Any]:
    with open(os.path.join(VECTORS, f"tomcat{version}.json")) as f:
        return json.load(f)


def data(n: int) -> bytes:
    return bytes((i * 7 + i // 13) % 251 for i in range(n))


ME = Member(host="10.0.0.1", port=4000, unique_id=b"\x00" * 16)


class Capture(ChannelInterceptor):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[list[Member], ChannelData]] = []

    async def send_message(self, destination: Sequence[Member], msg: ChannelData, payload: Any = None) -> None:
        self.sent.append((list(destination), msg))


def run_send(icpt: ChannelInterceptor, destination: list[Member], payload: bytes, options: int = 2) -> Capture:
    cap = Capture()
    icpt.next = cap
    asyncio.run(icpt.send_message(destination, ChannelData(options, 0, new_unique_id(), ME, payload)))
    return cap


@pytest.mark.parametrize("version", [10, 9])
def test_constants_match_tomcat(version: int) -> None:
    v = vectors(version)
    assert ACK_FRAME.hex() == v["ackFrame"] and FAIL_ACK_FRAME.hex() == v["failAckFrame"]
    assert TCP_FAIL_DETECT.hex() == v["tcpFailDetect"]
    assert TCP_PING_DATA.hex() == v["tcpPingData"]


@pytest.mark.parametrize("version", [10, 9])
def test_gzip_bytes_match_tomcat(version: int) -> None:
    for case in vectors(version)["gzip"]:
        cap = run_send(GzipInterceptor(), [ME], data(case["size"]), 2)
        (_, msg), = cap.sent
        if case["size"] > 0:
            assert msg.message.hex() == case["out"]
            assert compress(data(case["size"])).hex() == case["out"]
        else:  # compressionMinSize 0: an empty payload is not compressed
            assert msg.message == b"" and case["out"] == ""
        assert msg.options == case["options"]
        if case["out"]:
            assert decompress(bytes.fromhex(case["out"])) == data(case["size"])


@pytest.mark.parametrize("version", [10, 9])
def test_fragmentation_bytes_match_tomcat(version: int) -> None:
    for case in vectors(version)["fragmentation"]:
        cap = run_send(FragmentationInterceptor(max_size=case["maxSize"]), [ME], data(case["size"]))
        assert [m.message.hex() for _, m in cap.sent] == case["out"]
        assert len({m.unique_id for _, m in cap.sent}) == 1  # all fragments keep the uniqueId


@pytest.mark.parametrize("version", [10, 9])
def test_order_bytes_match_tomcat(version: int) -> None:
    m1 = Member(host="10.0.0.2", port=4000)
    m2 = Member(host="10.0.0.3", port=4000)
    o = OrderInterceptor()
    cap = Capture()
    o.next = cap

    async def go() -> None:
        for dest in ([m1, m2], [m1], [m2, m1]):
            await o.send_message(dest, ChannelData(2, 0, new_unique_id(), ME, data(5)))

    asyncio.run(go())
    case = vectors(version)["order"]
    assert [m.message.hex() for _, m in cap.sent] == case["out"]
    assert [d for d, _ in cap.sent] == [[m1], [m2], [m1], [m2], [m1]]


class Top(ChannelInterceptor):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[ChannelData] = []

    def message_received(self, msg: ChannelData) -> Any:
        self.got.append(msg)
        return None


def receive_chain(icpt: ChannelInterceptor) -> Top:
    top = Top()
    icpt.previous = top
    return top


def test_order_receive_reorders_holds_and_expires() -> None:
    sender = Member(host="10.0.0.9", port=4000, unique_id=b"\x05" * 16)
    o = OrderInterceptor(expire=100)
    top = receive_chain(o)

    def rx(nr: int) -> None:
        o.message_received(ChannelData(0, 0, new_unique_id(), sender, b"%d" % nr + nr.to_bytes(4, "big")))

    for nr in (1, 3, 2, 5):
        rx(nr)
    assert [m.message for m in top.got] == [b"1", b"2", b"3"]  # 5 held (4 missing)
    time.sleep(0.15)
    rx(6)  # 5 and 6 have been waiting / arrive after 4 expired: 5 is forwarded (expired), 6 held then
    assert [m.message for m in top.got][:4] == [b"1", b"2", b"3", b"5"]
    asyncio.run(o.member_disappeared(sender))  # forces the rest out
    assert [m.message for m in top.got] == [b"1", b"2", b"3", b"5", b"6"]


def test_fragmentation_reassembles_out_of_order() -> None:
    f = FragmentationInterceptor(max_size=1000)
    cap = run_send(f, [ME], data(2500))
    top = receive_chain(f)
    parts = [m for _, m in cap.sent]
    for p in (parts[2], parts[0], parts[1]):
        f.message_received(ChannelData(p.options, 0, p.unique_id, ME, p.message))
    assert [m.message for m in top.got] == [data(2500)]
    f.message_received(ChannelData(2, 0, new_unique_id(), ME, b"small\x00"))
    assert top.got[-1].message == b"small"


def test_gzip_receive_only_with_flag() -> None:
    g = GzipInterceptor()
    top = receive_chain(g)
    g.message_received(ChannelData(0x102, 0, new_unique_id(), ME, compress(b"abc" * 100)))
    g.message_received(ChannelData(0x2, 0, new_unique_id(), ME, b"plain"))
    assert [m.message for m in top.got] == [b"abc" * 100, b"plain"]
    g.message_received(ChannelData(0x102, 0, new_unique_id(), ME, b"not gzip"))  # logged, dropped
    assert len(top.got) == 2


def test_domain_filter() -> None:
    d = DomainFilterInterceptor(domain="blue")
    top = receive_chain(d)
    blue = Member(host="10.0.0.5", port=4000, domain=b"blue")
    red = Member(host="10.0.0.6", port=4000, domain=b"red")
    d.message_received(ChannelData(0, 0, new_unique_id(), blue, b"a"))
    d.message_received(ChannelData(0, 0, new_unique_id(), red, b"b"))
    assert [m.message for m in top.got] == [b"a"] and d.dropped == 1
    added: list[Member] = []

    class Up(ChannelInterceptor):
        async def member_added(self, member: Member) -> None:
            added.append(member)

    d.previous = Up()
    asyncio.run(d.member_added(blue))
    asyncio.run(d.member_added(red))
    assert added == [blue] and d.get_members() == [blue]
    assert DomainFilterInterceptor(domain="{1,-1}").domain == b"\x01\xff"


def test_probe_and_ping_payloads_are_dropped_only_when_ok_to_process() -> None:
    t = TcpFailureDetector()
    top = receive_chain(t)
    t.message_received(ChannelData(1, 0, new_unique_id(), ME, TCP_FAIL_DETECT))
    t.message_received(ChannelData(1, 0, new_unique_id(), ME, TCP_FAIL_DETECT + b"x"))
    assert len(top.got) == 1 and t.probes_dropped == 1
    p = TcpPingInterceptor()
    top = receive_chain(p)
    p.message_received(ChannelData(0, 0, new_unique_id(), ME, TCP_PING_DATA))
    assert top.got == []
    p2 = TcpPingInterceptor(option_flag=0x200)
    top = receive_chain(p2)
    p2.message_received(ChannelData(0, 0, new_unique_id(), ME, TCP_PING_DATA))  # flag not set: passes
    assert len(top.got) == 1


def test_throughput_counts() -> None:
    t = ThroughputInterceptor(interval=2)
    run_send(t, [ME, ME], b"x" * 100)
    assert t.msg_tx_cnt == 2 and t.mb_tx > t.mb_app_tx > 0
    receive_chain(t)
    t.message_received(ChannelData(0, 0, new_unique_id(), ME, b"y"))
    assert t.msg_rx_cnt == 1 and t.report()["rx_msgs"] == 1


def test_tcp_failure_detector_verifies_members_over_tcp() -> None:
    async def go() -> None:
        ms = LocalOnlyMembership()
        tfd = TcpFailureDetector(connect_timeout=500)
        ch = GroupChannel(NioReceiver(address=HOST, port=PORT), membership=ms, heartbeat=False)
        ch.add_interceptor(tfd)
        peer = GroupChannel(NioReceiver(address=HOST, port=PORT), membership=LocalOnlyMembership(),
                            heartbeat=False)
        peer_tfd = TcpFailureDetector()
        peer.add_interceptor(peer_tfd)
        events: list[tuple[str, int]] = []

        class ML:
            def member_added(self, m: Member) -> None:
                events.append(("+", m.port))

            def member_disappeared(self, m: Member) -> None:
                events.append(("-", m.port))

        ch.add_membership_listener(ML())
        await ch.start()
        await peer.start()
        try:
            live = peer.local_member
            assert live is not None
            dead = Member(host=HOST, port=1, unique_id=b"\x03" * 16)
            ms.add_member(live)
            ms.add_member(dead)  # nobody listens there: never passed up
            end = time.monotonic() + 5
            while len(events) < 1 or peer_tfd.probes_dropped < 1:
                assert time.monotonic() < end
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)
            assert events == [("+", live.port)]
            assert peer_tfd.probes_dropped >= 1  # our probe reached the peer and was dropped there
            assert ch.members() == [live]
            # a disappearance of a live member is not believed (probe succeeds): kept as suspect
            await tfd.member_disappeared(live)
            assert ch.members() == [live] and live in tfd.remove_suspects
            # send failure -> verification -> removal once the member is really gone
            await peer.stop()
            with pytest.raises(Exception):
                await ch.send([live], ByteMessage(b"x"), 2)
            assert ("-", live.port) in events and ch.members() == []
        finally:
            await ch.stop()
            await peer.stop()

    asyncio.run(go())
