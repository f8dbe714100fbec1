from __future__ import annotations

import pytest

from tribes.io.channel_data import ChannelData, is_ack, is_fail_ack, new_unique_id
from tribes.io.errors import ChannelDataDecodeError, MemberDecodeError
from tribes.io.framing import ACK_DATA, FAIL_ACK_DATA, FrameDecoder
from tribes.io.layouts import ChannelDataPackage
from tribes.io.options import SendOptions
from tribes.membership.member import Member, encode_member

UID = bytes(range(1, 17))
MEMBER = Member(host=bytes([10, 0, 0, 1]), port=4000, unique_id=UID, domain=b"dom", payload=b"\xaa", alive=5000)
CD_UID = bytes([0xC0]) + bytes(range(1, 16))
# tribes-protocol.md §3.2 (142 bytes)
REF_FRAME = bytes.fromhex(
    "464c5432303032" "0000007c" "00000008" "0000018000000000" "00000010" "c00102030405060708090a0b0c0d0e0f"
    "00000051") + encode_member(MEMBER) + bytes.fromhex("00000003" "414243" "544c4632303033")


def test_reference_frame():
    cd = ChannelData(8, 0x0000018000000000, CD_UID, MEMBER, b"ABC")
    assert cd.encode_frame() == REF_FRAME
    assert cd.encode() == REF_FRAME[11:-7]
    (body,) = FrameDecoder().feed(REF_FRAME)
    back = ChannelData.decode(body)
    assert back == cd and back.address.domain == b"dom" and back.send_options == SendOptions.ASYNCHRONOUS
    parsed = ChannelDataPackage.parse(body)
    assert (parsed.options, parsed.timestamp, parsed.unique_id, parsed.message) == (8, 0x18000000000, CD_UID, b"ABC")
    assert parsed.address == encode_member(MEMBER)


def test_new_unique_id_is_v4_shaped():
    ids = {new_unique_id() for _ in range(100)}
    assert len(ids) == 100
    for u in ids:
        assert len(u) == 16 and u[6] >> 4 == 4 and u[8] >> 6 == 2


def test_ack_helpers():
    assert is_ack(ACK_DATA) and not is_ack(FAIL_ACK_DATA)
    assert is_fail_ack(FAIL_ACK_DATA) and not is_fail_ack(ACK_DATA)


BODY = REF_FRAME[11:-7]


@pytest.mark.parametrize("body,exc,match", [
    (BODY[:10], ChannelDataDecodeError, "truncated"),
    (BODY[:12] + b"\xff\xff\xff\xff" + BODY[16:], ChannelDataDecodeError, "uniqueId length -1"),
    (BODY[:12] + b"\x00\x01\x00\x00" + BODY[16:], ChannelDataDecodeError, "uniqueId length"),
    (BODY[:32] + b"\x00\x00\x00\x50" + BODY[36:], MemberDecodeError, "truncated"),
    (BODY[:32] + b"\x00\x10\x00\x00" + BODY[36:], ChannelDataDecodeError, "address length"),
    (BODY[:32] + b"\x00\x00\x00\x00" + BODY[36:], MemberDecodeError, "does not start"),
    (BODY[:-7] + b"\x00\x00\x00\x04" + b"ABC", ChannelDataDecodeError, "message length 4"),
    (BODY[:-7] + b"\xff\xff\xff\xff" + b"ABC", ChannelDataDecodeError, "message length -1"),
    (BODY + b"!", ChannelDataDecodeError, "bytes after"),
])
def test_hostile_channel_data(body, exc, match):
    with pytest.raises(exc, match=match):
        ChannelData.decode(body)


def test_empty_and_large_messages_roundtrip():
    for size in (0, 1, 65536, 1 << 20):
        msg = bytes([size % 251]) * size
        cd = ChannelData(SendOptions.USE_ACK | SendOptions.SYNCHRONIZED_ACK, -1, new_unique_id(), MEMBER, msg)
        (body,) = FrameDecoder().feed(cd.encode_frame())
        assert ChannelData.decode(body) == cd
