from __future__ import annotations

import pytest

from tribes.io.layouts import MemberPacket
from tribes.membership.member import (
    SHUTDOWN_PAYLOAD, TRIBES_MBR_BEGIN, TRIBES_MBR_END, Member, MemberDecodeError, decode_member,
    encode_member,
)

UID = bytes(range(1, 17))
# tribes-protocol.md §2.1, verified there against MemberImpl.getData
REF = bytes.fromhex(
    "5452494245532d420100" "00000039" "0000000000001388" "00000fa0" "ffffffff" "ffffffff" "04" "0a000001"
    "00000000" "00000003" "646f6d" "0102030405060708090a0b0c0d0e0f10" "00000001" "aa" "5452494245532d450100")


def ref_member(**kw) -> Member:
    args = dict(host=bytes([10, 0, 0, 1]), port=4000, unique_id=UID, domain=b"dom", payload=b"\xaa", alive=5000)
    args.update(kw)
    return Member(**args)


def test_encode_reference_packet():
    assert encode_member(ref_member()) == REF
    assert len(REF) == 81


def test_decode_reference_packet():
    m = decode_member(REF)
    assert (m.host, m.port, m.secure_port, m.udp_port, m.unique_id, m.domain, m.payload, m.command, m.alive) == (
        bytes([10, 0, 0, 1]), 4000, -1, -1, UID, b"dom", b"\xaa", b"", 5000)
    assert m.host_str == "10.0.0.1"
    assert m.name == "tcp://{10, 0, 0, 1}:4000"
    assert not m.is_shutdown


def test_shutdown_and_markers():
    assert SHUTDOWN_PAYLOAD == b"BABY-ALEX"
    assert TRIBES_MBR_BEGIN == b"TRIBES-B\x01\x00" and TRIBES_MBR_END == b"TRIBES-E\x01\x00"
    m = ref_member().with_command(SHUTDOWN_PAYLOAD)
    raw = encode_member(m)
    assert bytes.fromhex("00000009424142592d414c4558") in raw
    assert decode_member(raw).is_shutdown


def test_equality_is_host_port_unique_id():
    a = ref_member()
    assert a == ref_member(alive=1, domain=b"x", payload=b"", secure_port=5, command=SHUTDOWN_PAYLOAD)
    assert hash(a) == hash(ref_member(alive=99))
    assert a != ref_member(port=4001)
    assert a != ref_member(unique_id=bytes(16))
    assert a != ref_member(host=bytes([10, 0, 0, 2]))
    assert a.with_alive(7).alive == 7 and encode_member(a.with_alive(7)) != encode_member(a)


def test_ipv6_roundtrip_and_construct_layout_agrees():
    m = Member(host="fe80::1", port=4100, secure_port=4443, udp_port=4200, unique_id=UID,
               domain=b"{1,2,3}", payload=b"p" * 300, command=b"cmd", alive=-5)
    raw = encode_member(m)
    assert raw == MemberPacket.build(dict(alive=-5, port=4100, secure_port=4443, udp_port=4200, host=m.host,
                                          command=b"cmd", domain=b"{1,2,3}", unique_id=UID, payload=b"p" * 300))
    parsed = MemberPacket.parse(raw)
    back = decode_member(raw)
    assert (back.host, back.alive, back.secure_port, back.udp_port, back.payload, back.command) == (
        parsed.host, parsed.alive, parsed.secure_port, parsed.udp_port, parsed.payload, parsed.command)
    assert back.host_str == "fe80::1"


def test_rejects_bad_constructor_values():
    with pytest.raises(ValueError):
        Member(host=b"\x01\x02\x03", port=1, unique_id=UID)
    with pytest.raises(ValueError):
        Member(host=bytes(4), port=1, unique_id=b"short")


@pytest.mark.parametrize("mutate,match", [
    (lambda b: b[:5], "does not start|truncated"),
    (lambda b: b"X" + b[1:], "does not start"),
    (lambda b: b[:8] + b"\x02\x00" + b[10:], "version 2.0"),
    (lambda b: b[:40], "truncated"),
    (lambda b: b[:-1], "truncated"),
    (lambda b: b + b"\x00", "after its end marker"),
    (lambda b: b[:10] + b"\xff\xff\xff\xff" + b[14:], "negative body length"),
    (lambda b: b[:10] + b"\x00\x00\x00\x38" + b[14:], "after its end marker"),
    (lambda b: b[:-10] + b"TRIBES-X\x01\x00", "end marker"),
    (lambda b: b[:34] + b"\x05" + b[35:], "host length 5"),
    (lambda b: b[:34] + b"\x80" + b[35:], "host length -128"),
    (lambda b: b[:39] + b"\x7f\xff\xff\xff" + b[43:], "command length"),
    (lambda b: b[:39] + b"\xff\xff\xff\xff" + b[43:], "command length -1"),
    (lambda b: b[:43] + b"\x00\x00\x01\x00" + b[47:], "domain length"),
    (lambda b: b[:66] + b"\x00\x00\x00\x00" + b[70:], "payload length 0"),
])
def test_hostile_member_packets(mutate, match):
    with pytest.raises(MemberDecodeError, match=match):
        decode_member(mutate(REF))
