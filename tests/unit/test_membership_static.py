"""Static membership (StaticMember parsing, the interceptor's logic), the probe acceptor and the
NOCONTEXTMANAGER answer (golden bytes made by Tomcat 10.1 and 9.0: tests/vectors/membership)."""
from __future__ import annotations

import asyncio
import json
import os
import socket
from typing import Any, Sequence

import pytest

from tribes.interceptors.static_membership import (
    MEMBER_START, MEMBER_STOP, StaticMembershipInterceptor, absolute_order,
)
from tribes.io.channel_data import ChannelData
from tribes.cli.acceptor import (
    TCP_FAIL_DETECT, ProbeAcceptor, get_all_sessions_context, no_context_manager_message,
)
from tribes.membership.member import SHUTDOWN_PAYLOAD, Member
from tribes.membership.static import (
    StaticMember, StaticMemberConfigError, StaticMembershipService, format_byte_literal,
)

VECTORS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "vectors", "membership")
UID = bytes(range(16))


def test_static_member_from_attributes() -> None:
    m = StaticMember.from_attributes({
        "className": "org.apache.catalina.tribes.membership.StaticMember", "host": "10.77.13.1",
        "port": "4000", "securePort": "4001", "uniqueId": "{0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,-1}",
        "domain": "dom"})
    assert m.host == bytes([10, 77, 13, 1]) and m.port == 4000 and m.secure_port == 4001
    assert m.unique_id == bytes(range(15)) + b"\xff" and m.domain == b"dom"
    assert StaticMember("{10,77,13,2}", 4000).host == bytes([10, 77, 13, 2])
    assert StaticMember("10.0.0.1", 1).unique_id == b"\x00" * 16  # MemberImpl's default
    assert format_byte_literal(m.unique_id) == "{0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,-1}"


@pytest.mark.parametrize("attrs, words", [
    ({"host": "10.0.0.1", "port": "4000", "uniqueId": "{1,2,3}"}, ["16"]),
    ({"host": "10.0.0.1", "port": "4000", "uniqueId": "{0, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15}"}, ["no spaces"]),
    ({"port": "4000"}, ["host"]),
    ({"host": "10.0.0.1", "port": "4000", "uuid": "x"}, ["uuid", "accepted"]),
])
def test_static_member_errors(attrs: dict[str, str], words: list[str]) -> None:
    with pytest.raises(StaticMemberConfigError) as info:
        StaticMember.from_attributes(attrs)
    for w in words:
        assert w in str(info.value)


def test_absolute_order() -> None:
    a = StaticMember("10.0.0.2", 4000, UID)
    b = StaticMember("10.0.0.10", 4000, UID)
    c = StaticMember("10.0.0.2", 3999, UID)
    d = StaticMember("10.0.0.200", 1, UID)  # unsigned byte compare: 200 > 10
    assert absolute_order([d, b, a, c]) == [c, a, b, d]


class Bottom:
    """The rest of a chain below the interceptor: records sends, knows some members."""

    def __init__(self, members: Sequence[Member] = ()) -> None:
        self.members = list(members)
        self.sent: list[tuple[list[Member], ChannelData]] = []
        self.previous: Any = None
        self.next: Any = None

    async def send_message(self, dest: Sequence[Member], msg: ChannelData, payload: Any = None) -> None:
        self.sent.append((list(dest), msg))

    def get_members(self) -> list[Member]:
        return list(self.members)

    def get_member(self, m: Member) -> Member | None:
        return next((x for x in self.members if x == m), None)

    def has_members(self) -> bool:
        return bool(self.members)

    def get_local_member(self, inc: bool = False) -> Member | None:
        return StaticMember("10.77.13.50", 4000, b"\x05" * 16)

    async def start(self, svc: int) -> None:
        pass

    async def stop(self, svc: int) -> None:
        pass


class Top:
    """What sits above the interceptor: records membership events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Member]] = []
        self.previous = None

    async def member_added(self, m: Member) -> None:
        self.events.append(("added", m))

    async def member_disappeared(self, m: Member) -> None:
        self.events.append(("gone", m))

    def message_received(self, msg: ChannelData) -> None:
        self.events.append(("message", msg.address))

    def get_member(self, m: Member) -> Member | None:
        return None


def _chain(static: Sequence[Member], below: Sequence[Member] = ()) -> tuple[Top, StaticMembershipInterceptor, Bottom]:
    top, bottom = Top(), Bottom(below)
    smi = StaticMembershipInterceptor(static)
    smi.previous, smi.next = top, bottom  # type: ignore[assignment]
    bottom.previous = smi
    return top, smi, bottom


def test_interceptor_start_stop_messages() -> None:
    peer = StaticMember("10.77.13.1", 4000, UID)
    stranger = StaticMember("10.77.13.9", 4000, UID)

    async def go() -> None:
        top, smi, bottom = _chain([peer])
        assert smi.has_members() and smi.get_members() == [peer]
        assert smi.get_member(peer.with_alive(5)) is peer
        local = bottom.get_local_member()
        mk = lambda payload, addr: ChannelData(0, 1, b"\x01" * 16, addr, payload)  # noqa: E731
        for payload, addr in ((MEMBER_START, peer), (MEMBER_START, stranger), (MEMBER_STOP, peer),
                              (b"other payload", peer)):
            result = smi.message_received(mk(payload, addr))
            if result is not None:
                await result  # as NioReceiver does, in order
        assert [(k, m) for k, m in top.events] == [("added", peer), ("gone", peer), ("message", peer)]
        assert top.events[1][1].command == SHUTDOWN_PAYLOAD
        # start announces every static member known to the first interceptor; stop says goodbye
        await smi.start(15)
        await asyncio.sleep(0.01)
        smi.set_local_member(local)
        await smi.stop(15)
        payloads = [(d, bytes(m.message), m.options, m.address) for d, m in bottom.sent]
        assert payloads[-1][1] == MEMBER_STOP and payloads[-1][2] == 0 and payloads[-1][3] == local
    asyncio.run(go())


def test_interceptor_merges_with_membership_below() -> None:
    peer = StaticMember("10.77.13.9", 4000, UID)
    dyn = Member(host=bytes([10, 77, 13, 2]), port=4000, unique_id=b"\x07" * 16, alive=99)
    _top, smi, _bottom = _chain([peer], [dyn])
    assert smi.get_members() == [dyn, peer]  # absolute order, not alive order
    assert smi.get_member(dyn) == dyn


def test_static_service_local_member_and_messages() -> None:
    me = StaticMember("10.77.13.1", 4000, b"\x01" * 16)
    other = StaticMember("10.77.13.2", 4000, b"\x02" * 16)
    svc = StaticMembershipService.from_attributes({"expirationTime": "1000", "rpcTimeout": "500"}, [me, other])
    assert (svc.expiration_time, svc.connect_timeout, svc.rpc_timeout, svc.ping_interval) == (1000, 500, 500, 1000)
    local = svc.set_local_member(bytes([10, 77, 13, 1]), 4000)
    assert local.unique_id == b"\x01" * 16 and svc.static_members == [other]
    assert [e.kind.value for e in svc.on_member_message(1, other, 0.0)] == ["added"]
    assert svc.on_member_message(3, other, 0.5) == []
    assert [e.reason for e in svc.check_expired(now=2.0)] == ["expired"]
    assert [e.reason for e in svc.on_member_message(2, other, 2.0)] == ["stop"]
    with pytest.raises(StaticMemberConfigError, match="no <Member>"):
        StaticMembershipService([other]).set_local_member(bytes([10, 77, 13, 1]), 4000)
    with pytest.raises(StaticMemberConfigError, match="accepted"):
        StaticMembershipService.from_attributes({"pingIntervall": "5"})


def test_static_service_start_needs_its_channel() -> None:
    from tribes.membership.service import MembershipError

    async def go() -> None:
        with pytest.raises(MembershipError, match="set_channel"):
            await StaticMembershipService().start()
    asyncio.run(go())


def test_static_rpc_bytes_equal_tomcats() -> None:
    from tribes.javaser import loads
    from tribes.membership.static_rpc import (
        decode_member_message_value, encode_member_message, encode_rpc_member_message,
    )

    with open(os.path.join(VECTORS, "static_rpc.json")) as f:
        vec = json.load(f)
    for version, items in vec.items():
        for item in items:
            java = bytes.fromhex(item["java"])
            d = decode_member_message_value(loads(java))
            assert d is not None and d.rpc and d.reply == item["reply"] and d.msgtype == item["msgtype"]
            assert d.uuid.hex() == item["uuid"] and d.rpc_id.hex() == item["rpcId"] == d.membership_id.hex()
            assert d.member is not None and d.member.host_str == "10.77.13.1" and d.member.unique_id == UID
            mine = encode_rpc_member_message(d.reply, d.uuid, d.rpc_id, d.msgtype, d.membership_id, d.member, version)
            assert mine == java
    other = "9" if version == "10" else "10"
    assert encode_rpc_member_message(False, d.uuid, d.rpc_id, 1, d.rpc_id, d.member, other) != java
    stop = decode_member_message_value(loads(encode_member_message(2, b"id", d.member.with_command(SHUTDOWN_PAYLOAD))))
    assert stop is not None and not stop.rpc and stop.msgtype == 2 and stop.member.is_shutdown
    with pytest.raises(ValueError, match="9 and 10"):
        encode_member_message(1, b"x", d.member, "8")


# ----------------------------------------------------------------------------- acceptor
def test_no_context_manager_bytes_equal_tomcats() -> None:
    with open(os.path.join(VECTORS, "session_messages.json")) as f:
        vec = json.load(f)
    for version in ("10", "9"):
        ctx = vec[version]["context"]
        assert no_context_manager_message(ctx).hex() == vec[version]["no_context_manager"]
        assert get_all_sessions_context(bytes.fromhex(vec[version]["get_all_sessions_ts_1234567"])) == ctx
    assert get_all_sessions_context(no_context_manager_message("x")) is None  # event 16, not 4
    assert get_all_sessions_context(b"\xac\xed\x00\x05junk") is None
    assert get_all_sessions_context(bytes.fromhex(vec["10"]["get_all_sessions_ts_1234567"])[:290]) is None


def test_probe_acceptor_counts_probe_and_answers_get_all() -> None:
    with open(os.path.join(VECTORS, "session_messages.json")) as f:
        get_all = bytes.fromhex(json.load(f)["10"]["get_all_sessions_ts_1234567"])

    async def go() -> None:
        replies: list[bytes] = []

        async def tomcat_receiver(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            replies.append(await r.read(65536))
            w.close()

        server = await asyncio.start_server(tomcat_receiver, "127.0.0.1", 0)
        tport = server.sockets[0].getsockname()[1]
        tomcat = Member(host=bytes([127, 0, 0, 1]), port=tport, unique_id=b"\x09" * 16)
        me = Member(host=bytes([127, 0, 0, 1]), port=0, unique_id=b"\x05" * 16)
        acc = ProbeAcceptor("127.0.0.1", 0, local_member=lambda: me)
        port = await acc.start()
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(ChannelData(1, 1, b"\x01" * 16, tomcat, TCP_FAIL_DETECT).encode_frame())
        w.write(ChannelData(8, 1, b"\x02" * 16, tomcat, get_all).encode_frame())
        w.write(ChannelData(6, 1, b"\x03" * 16, tomcat, b"\xac\xed\x00\x05 a session delta").encode_frame())
        await w.drain()
        from tribes.io.framing import ACK_FRAME
        assert await asyncio.wait_for(r.readexactly(len(ACK_FRAME)), 5) == ACK_FRAME  # only the USE_ACK one
        w.close()
        for _ in range(100):
            if replies:
                break
            await asyncio.sleep(0.02)
        await acc.stop()
        server.close()
        assert acc.probes == 1 and acc.no_context_replies == ["localhost#/app"] and acc.acks == 1
        from tribes.io.framing import FrameDecoder
        (body,) = FrameDecoder().feed(replies[0])
        msg = ChannelData.decode(body)
        assert msg.options == 8 and msg.address == me
        assert bytes(msg.message) == no_context_manager_message("localhost#/app")
    asyncio.run(go())


def test_probe_acceptor_auto_bind() -> None:
    async def go() -> None:
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        acc = ProbeAcceptor("127.0.0.1", taken, auto_bind=5)
        try:
            port = await acc.start()
            assert taken < port < taken + 5
        finally:
            await acc.stop()
            blocker.close()
    asyncio.run(go())
