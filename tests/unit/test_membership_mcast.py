"""McastService without the network: attributes, datagram handling, logging, recovery, events."""
from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest

from tribes.membership.mcast import (
    MCAST_ATTRIBUTES, McastConfigError, McastService, RateLimitedLog, parse_byte_literal, resolve_bind,
)
from tribes.membership.member import SHUTDOWN_PAYLOAD, Member, decode_member, encode_member
from tribes.membership.membership import MemberEventKind
from tribes.membership.service import MBR_ALL, MembershipError

LOCAL_HOST = bytes([10, 77, 13, 50])


def peer(uid: int = 1, alive: int = 1000, **kw: Any) -> Member:
    return Member(host=bytes([10, 77, 13, 1]), port=4000, unique_id=bytes([uid]) * 16, alive=alive, **kw)


def service(**kw: Any) -> McastService:
    s = McastService(wait_for_members=False, **kw)
    s.set_local_member(LOCAL_HOST, 4000, unique_id=b"\x42" * 16)
    return s


# ----------------------------------------------------------------------------- configuration
def test_defaults_are_tomcats() -> None:
    s = McastService()
    assert (s.address, s.port, s.frequency, s.drop_time) == ("228.0.0.4", 45564, 500, 3000)
    assert s.bind is None and s.ttl is None and s.so_timeout is None
    assert s.effective_so_timeout == 500
    assert (s.recovery_enabled, s.recovery_counter, s.recovery_sleep_time) == (True, 10, 5000)
    assert s.local_loopback_disabled is False
    assert s.domain == b"" and s.payload == b""


def test_from_attributes_every_tomcat_setter() -> None:
    attrs = {
        "className": "org.apache.catalina.tribes.membership.McastService",
        "address": "228.0.0.9", "port": "45600", "frequency": "250", "dropTime": "1500",
        "bind": "10.77.13.1", "ttl": "0", "soTimeout": "100", "domain": "{1,-2,3}",
        "payload": "abc", "localLoopbackDisabled": "TRUE", "recoveryEnabled": "false",
        "recoveryCounter": "3", "recoverySleepTime": "100",
    }
    s = McastService.from_attributes(attrs)
    assert (s.address, s.port, s.frequency, s.drop_time) == ("228.0.0.9", 45600, 250, 1500)
    assert (s.bind, s.ttl, s.so_timeout) == ("10.77.13.1", 0, 100)
    assert s.domain == bytes([1, 0xFE, 3]) and s.payload == b"abc"
    assert s.local_loopback_disabled is True and s.recovery_enabled is False
    assert (s.recovery_counter, s.recovery_sleep_time) == (3, 100)
    # aliases
    s2 = McastService.from_attributes({"mcastBindAddress": "eth0", "mcastDropTime": "900", "domain": "dom"})
    assert (s2.bind, s2.drop_time, s2.domain) == ("eth0", 900, b"dom")
    # Tomcat: soTimeout <= 0 means "frequency", a negative ttl means "not set"
    s3 = McastService.from_attributes({"soTimeout": "-1", "ttl": "-1", "frequency": "700"})
    assert s3.so_timeout is None and s3.ttl is None and s3.effective_so_timeout == 700
    assert set(MCAST_ATTRIBUTES) >= {"address", "port", "frequency", "dropTime", "mcastDropTime", "bind",
                                     "mcastBindAddress", "ttl", "soTimeout", "domain", "payload",
                                     "localLoopbackDisabled", "recoveryEnabled", "recoveryCounter",
                                     "recoverySleepTime"}


@pytest.mark.parametrize("attrs, words", [
    ({"mcastPort": "1"}, ["mcastPort", "not supported", "accepted"]),
    ({"frequncy": "500"}, ["frequncy"]),
    ({"port": "x"}, ["port", "'x'"]),
    ({"port": "70000"}, ["port"]),
    ({"address": "10.0.0.1"}, ["not a multicast group"]),
    ({"address": "nope"}, ["not an IP address"]),
    ({"frequency": "0"}, ["frequency"]),
    ({"domain": "{1, 2}"}, ["no spaces"]),
    ({"domain": "{300}"}, ["outside"]),
])
def test_from_attributes_rejects_clearly(attrs: dict[str, str], words: list[str]) -> None:
    with pytest.raises(McastConfigError) as info:
        McastService.from_attributes(attrs)
    for w in words:
        assert w in str(info.value)


def test_byte_literal() -> None:
    assert parse_byte_literal("{0,1,-1,127,-128}") == bytes([0, 1, 255, 127, 128])
    assert parse_byte_literal("{}") == b""
    with pytest.raises(ValueError):
        parse_byte_literal("1,2")


def test_resolve_bind() -> None:
    assert resolve_bind("127.0.0.1") == ("127.0.0.1", "lo")
    assert resolve_bind("lo") == ("127.0.0.1", "lo")
    with pytest.raises(McastConfigError, match="neither an IP address nor an interface"):
        resolve_bind("no-such-iface-xyz.invalid")


def test_start_needs_local_member() -> None:
    async def go() -> None:
        with pytest.raises(MembershipError, match="set_local_member"):
            await McastService(wait_for_members=False).start()
    asyncio.run(go())


# ----------------------------------------------------------------------------- datagrams
def test_datagram_member_added_refreshed_shutdown() -> None:
    s = service()
    ev = s.datagram_received(encode_member(peer(alive=10)), ("10.77.13.1", 45564), 0.0)
    assert [e.kind for e in ev] == [MemberEventKind.ADDED]
    assert s.members() == [peer()]
    assert s.datagram_received(encode_member(peer(alive=510)), None, 0.5) == []
    ev = s.datagram_received(encode_member(peer(alive=600, command=SHUTDOWN_PAYLOAD)), None, 0.6)
    assert [(e.kind, e.reason) for e in ev] == [(MemberEventKind.DISAPPEARED, "shutdown")]
    assert s.members() == []


def test_own_packets_dropped() -> None:
    s = service()
    own = encode_member(s.local_member.with_alive(5))
    assert s.datagram_received(own, None, 0) == []
    assert s.stats["own"] == 1 and not s.has_members()


def test_foreign_domain_and_garbage_change_nothing_and_log_once(caplog: pytest.LogCaptureFixture) -> None:
    s = service()
    s.datagram_received(encode_member(peer(uid=1)), None, 0)
    before = s.members()
    good = encode_member(peer(uid=2))
    bad = [
        encode_member(peer(uid=3, domain=b"other")),
        good[:20],                       # truncated
        good[:14],
        good[:-1],                       # end marker cut
        good[:10] + b"\x7f\xff\xff\xff" + good[14:],   # lying length
        good[:34] + b"\x80" + good[35:],  # negative host length
        good[:-10] + b"TRIBES-X\x01\x00",
        good[:10],
    ]
    caplog.set_level(logging.WARNING, logger="tribes.membership.mcast")
    for _ in range(200):
        for b in bad:
            assert s.datagram_received(b, ("10.77.13.9", 45564), 1.0) == []
    assert s.members() == before
    assert s.stats["foreign_domain"] == 200
    assert s.stats["malformed"] == 200 * (len(bad) - 1)
    lines = [r for r in caplog.records if r.name == "tribes.membership.mcast"]
    assert 1 <= len(lines) <= 2, [r.getMessage() for r in lines]  # one per kind, not one per packet
    assert any("domain" in r.getMessage() for r in lines)
    assert any("malformed" in r.getMessage() for r in lines)


def test_domain_filter_off_keeps_tomcat_behaviour() -> None:
    s = service(filter_domain=False)
    assert len(s.datagram_received(encode_member(peer(domain=b"other")), None, 0)) == 1


def test_same_domain_accepted() -> None:
    s = McastService(domain="dom", wait_for_members=False)
    s.set_local_member(LOCAL_HOST, 4000)
    assert s.local_member.domain == b"dom"
    assert s.datagram_received(encode_member(peer(domain=b"other")), None, 0) == []
    assert len(s.datagram_received(encode_member(peer(domain=b"dom")), None, 0)) == 1


def test_non_member_datagrams_go_to_the_channel() -> None:
    from tribes.io.channel_data import ChannelData

    got_raw: list[bytes] = []
    got: list[Any] = []

    class L:
        def message_received(self, msg: Any) -> None:
            got.append(msg)

    s = service(message_callback=lambda data, addr: got_raw.append(data))
    s.set_message_listener(L())
    other = ChannelData(options=0x40, timestamp=1, unique_id=b"\x01" * 16, address=peer(), message=b"hello")
    mine = ChannelData(options=0x40, timestamp=1, unique_id=b"\x02" * 16, address=s.local_member, message=b"x")
    frames = other.encode_frame() + mine.encode_frame()
    assert s.datagram_received(frames, None, 0) == []
    assert got_raw == [frames]
    assert [m.message for m in got] == [b"hello"]  # own message skipped, like Tomcat
    assert s.datagram_received(b"junk that is not a frame", None, 0) == []
    assert len(got) == 1 and s.stats["broadcasts"] == 2
    assert not s.has_members()


def test_rate_limited_log_counts_suppressed(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    rl = RateLimitedLog(logging.getLogger("tribes.test.rl"), interval=10, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="tribes.test.rl")
    assert rl.warn("k", "bad %s", 1)
    assert not any(rl.warn("k", "bad %s", i) for i in range(50))
    now[0] = 11
    assert rl.warn("k", "bad %s", 99)
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 2 and "50 more" in msgs[1]
    assert rl.counts["k"] == 52


# ----------------------------------------------------------------------------- sockets faked
class FakeSock:
    def __init__(self, fail: int = 0) -> None:
        self.sent: list[bytes] = []
        self.fail = fail
        self.closed = False

    def sendto(self, data: bytes, addr: Any) -> int:
        if self.fail > 0:
            self.fail -= 1
            raise OSError(101, "Network is unreachable")
        self.sent.append(data)
        return len(data)

    def setsockopt(self, *a: Any) -> None:
        pass

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        self.closed = True


def test_heartbeats_shutdown_and_recovery(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[FakeSock] = []

    def fake_open(self: McastService) -> None:
        sock = FakeSock(fail=1000 if not opened else 0)  # the first socket is broken
        opened.append(sock)
        self._sock = sock  # type: ignore[assignment]

    monkeypatch.setattr(McastService, "_open_socket", fake_open)
    monkeypatch.setattr(McastService, "_start_reading", lambda self: None)

    async def go() -> None:
        s = service(frequency=20, recovery_counter=3, recovery_sleep_time=10)
        events = s.events()
        s.datagram_received(encode_member(peer()), None, __import__("time").monotonic())
        await s.start(MBR_ALL)
        for _ in range(200):
            if len(opened) >= 2 and len(opened[1].sent) >= 3:
                break
            await asyncio.sleep(0.02)
        assert s.stats["recoveries"] == 1
        assert s.stats["send_errors"] >= 3
        assert opened[0].closed
        beats = [decode_member(d) for d in opened[1].sent]
        assert all(b == s.local_member and not b.is_shutdown for b in beats)
        alive = [b.alive for b in beats]
        assert alive == sorted(alive)  # uptime kept across the recovery (no Tomcat epoch quirk)
        await s.stop()
        last = decode_member(opened[1].sent[-1])
        assert last.is_shutdown and last == s.local_member
        assert opened[1].closed
        assert s.members() == []
        seen = [e async for e in events]
        assert [e.kind for e in seen] == [MemberEventKind.ADDED]
    asyncio.run(go())


def test_recovery_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(McastService, "_open_socket", lambda self: setattr(self, "_sock", FakeSock(fail=10**6)))
    monkeypatch.setattr(McastService, "_start_reading", lambda self: None)

    async def go() -> None:
        s = service(frequency=10, recovery_counter=2, recovery_enabled=False)
        await s.start(MBR_ALL)
        await asyncio.sleep(0.2)
        assert s.stats["send_errors"] >= 5 and s.stats["recoveries"] == 0
        await s.stop()
    asyncio.run(go())


def test_announce_uptime_false_announces_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    socks: list[FakeSock] = []
    monkeypatch.setattr(McastService, "_open_socket",
                        lambda self: (socks.append(FakeSock()), setattr(self, "_sock", socks[-1])))
    monkeypatch.setattr(McastService, "_start_reading", lambda self: None)

    async def go() -> None:
        s = service(frequency=20, announce_uptime=False)
        await s.start()
        await asyncio.sleep(0.15)
        await s.stop()
        assert len(socks[0].sent) >= 3
        assert {decode_member(d).alive for d in socks[0].sent} == {0}
    asyncio.run(go())


def test_listener_callbacks_and_async_listener() -> None:
    calls: list[tuple[str, int]] = []

    class Sync:
        def member_added(self, m: Member) -> None:
            calls.append(("added", m.unique_id[0]))

        def member_disappeared(self, m: Member) -> None:
            calls.append(("gone", m.unique_id[0]))

    class Async:
        async def member_added(self, m: Member) -> None:
            await asyncio.sleep(0)
            calls.append(("a-added", m.unique_id[0]))

        async def member_disappeared(self, m: Member) -> None:
            raise RuntimeError("listener bug")  # logged, never breaks membership

    async def go() -> None:
        s = service()
        s.set_membership_listener(Sync())
        s.add_membership_listener(Async())
        s.datagram_received(encode_member(peer(uid=3)), None, 0.0)
        s.check_expired(now=10.0)
        await asyncio.sleep(0.05)
    asyncio.run(go())
    assert ("added", 3) in calls and ("gone", 3) in calls and ("a-added", 3) in calls


def test_broadcast_requires_tx() -> None:
    s = service()
    with pytest.raises(MembershipError, match="not started"):
        s.broadcast(b"x")


def test_set_local_member_keeps_identity() -> None:
    s = McastService(payload=b"pp", wait_for_members=False)
    m1 = s.set_local_member(socket.inet_aton("10.77.13.5"), 4000)
    m2 = s.set_local_member(socket.inet_aton("10.77.13.5"), 4001)
    assert m1.unique_id == m2.unique_id and m2.port == 4001 and m2.payload == b"pp"
    assert m1.unique_id[6] >> 4 == 4  # RFC 4122 v4 shape like Tomcat's UUIDGenerator


# ----------------------------------------------------------------------------- command line
def test_cli_members_bad_config_exit_3() -> None:
    from click.testing import CliRunner

    from tribes.cli.main import cli

    res = CliRunner().invoke(cli, ["members", "--mcast-address", "10.0.0.1", "--duration", "0"])
    assert res.exit_code == 3, res.output
    assert "not a multicast group" in res.output
    res = CliRunner().invoke(cli, ["members", "--bind", "no-such-if.invalid", "--duration", "0"])
    assert res.exit_code == 3, res.output
    res = CliRunner().invoke(cli, ["members", "--help"])
    assert res.exit_code == 0
    for flag in ("--bind", "--mcast-address", "--mcast-port", "--receiver-port", "--domain", "--duration",
                 "--join", "--json"):
        assert flag in res.output
