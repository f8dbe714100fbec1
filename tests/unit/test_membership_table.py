"""The pure membership table: Tomcat's identity, ordering, update, shutdown and expiry rules."""
from __future__ import annotations

import dataclasses

import pytest

from tribes.membership.member import SHUTDOWN_PAYLOAD, Member
from tribes.membership.membership import MemberEventKind, Membership

H1 = bytes([10, 77, 13, 1])
H2 = bytes([10, 77, 13, 2])


def mk(host: bytes = H1, port: int = 4000, uid: int = 1, alive: int = 1000, **kw: object) -> Member:
    return Member(host=host, port=port, unique_id=bytes([uid]) * 16, alive=alive, **kw)  # type: ignore[arg-type]


def test_new_member_added_once_then_refreshed() -> None:
    t = Membership(local=mk(uid=99))
    ev = t.on_packet(mk(alive=100), now=0.0)
    assert [(e.kind, e.reason) for e in ev] == [(MemberEventKind.ADDED, "heartbeat")]
    assert ev[0].member.alive == 100
    for i in range(5):
        assert t.on_packet(mk(alive=100 + 500 * i), now=0.5 * i) == []
    assert len(t) == 1
    assert t.members()[0].alive == 2100
    assert t.last_heard(mk()) == 2.0


def test_local_member_ignored() -> None:
    local = mk(uid=7)
    t = Membership(local=local)
    assert t.on_packet(dataclasses.replace(local, alive=5, domain=b"x"), 0.0) == []
    assert t.on_packet(local.with_command(SHUTDOWN_PAYLOAD), 0.0) == []
    assert not t.has_members()


def test_identity_is_host_port_uniqueid() -> None:
    t = Membership()
    t.on_packet(mk(alive=1), 0)
    # same identity, other alive/domain/ports: same member
    assert t.on_packet(mk(alive=2, domain=b"d", secure_port=5, udp_port=6), 0) == []
    # any of host/port/uniqueId differs: a new member
    assert len(t.on_packet(mk(host=H2), 0)) == 1
    assert len(t.on_packet(mk(port=4001), 0)) == 1
    assert len(t.on_packet(mk(uid=2), 0)) == 1
    assert len(t) == 4


def test_update_copies_alive_payload_command_only() -> None:
    t = Membership()
    t.on_packet(mk(alive=1, domain=b"first", payload=b"p1", secure_port=1), 0)
    t.on_packet(mk(alive=2, domain=b"second", payload=b"p2", secure_port=2), 0)
    m = t.get_member(mk())
    assert m is not None
    assert (m.alive, m.payload, m.domain, m.secure_port) == (2, b"p2", b"first", 1)
    # unchanged alive: nothing is copied (Tomcat compares alive only)
    t.on_packet(mk(alive=2, payload=b"p3"), 0)
    assert t.get_member(mk()).payload == b"p2"  # type: ignore[union-attr]


def test_sorted_by_alive_descending_stable() -> None:
    t = Membership()
    t.on_packet(mk(uid=1, alive=10), 0)
    t.on_packet(mk(uid=2, alive=30), 0)
    t.on_packet(mk(uid=3, alive=20), 0)
    t.on_packet(mk(uid=4, alive=30), 0)  # tie: goes after the earlier one
    assert [m.unique_id[0] for m in t.members()] == [2, 4, 3, 1]
    t.on_packet(mk(uid=1, alive=40), 0)
    assert [m.unique_id[0] for m in t.members()] == [1, 2, 4, 3]
    # Java's stable sort keeps the previous order for new ties
    t.on_packet(mk(uid=3, alive=30), 0)
    assert [m.unique_id[0] for m in t.members()] == [1, 2, 4, 3]


def test_shutdown_removes_at_once() -> None:
    t = Membership()
    t.on_packet(mk(), 0)
    ev = t.on_packet(mk(command=SHUTDOWN_PAYLOAD), 0.1)
    assert [(e.kind, e.reason) for e in ev] == [(MemberEventKind.DISAPPEARED, "shutdown")]
    assert ev[0].member.is_shutdown
    assert not t.has_members()
    # unknown member shutting down: nothing to report
    assert t.on_packet(mk(uid=5, command=SHUTDOWN_PAYLOAD), 0.2) == []


def test_expire_strictly_after_drop_time() -> None:
    t = Membership()
    t.on_packet(mk(uid=1), 0.0)
    t.on_packet(mk(uid=2), 1.0)
    assert t.expire(3.0, 3.0) == []  # exactly dropTime: not yet (Tomcat: > maxtime)
    ev = t.expire(3.001, 3.0)
    assert [(e.kind, e.reason, e.member.unique_id[0]) for e in ev] == [(MemberEventKind.DISAPPEARED, "expired", 1)]
    assert t.next_expiry(3.0) == 4.0
    t.on_packet(mk(uid=2), 3.5)  # refreshed
    assert t.expire(5.0, 3.0) == []
    assert len(t.expire(6.6, 3.0)) == 1
    assert t.next_expiry(3.0) is None


def test_restart_with_new_id_is_new_member_old_expires() -> None:
    t = Membership()
    t.on_packet(mk(uid=1, alive=50_000), 0)
    assert len(t.on_packet(mk(uid=2, alive=100), 1)) == 1
    assert len(t) == 2
    gone = t.expire(3.5, 3.0)
    assert [e.member.unique_id[0] for e in gone] == [1]


def test_reset_and_remove() -> None:
    t = Membership()
    t.on_packet(mk(uid=1), 0)
    t.on_packet(mk(uid=2), 0)
    assert t.remove(mk(uid=1)) is not None
    assert t.remove(mk(uid=1)) is None
    assert [m.unique_id[0] for m in t.reset()] == [2]
    assert t.members() == []


@pytest.mark.parametrize("n", [1, 8, 50])
def test_many_members(n: int) -> None:
    t = Membership()
    for i in range(n):
        t.on_packet(mk(port=4000 + i, alive=i), 0)
    assert [m.port for m in t.members()] == [4000 + i for i in reversed(range(n))]
