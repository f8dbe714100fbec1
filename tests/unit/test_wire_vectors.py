"""Golden vectors made by Tomcat's classes (tests/vectors/wire/, from interop/java/src/WireVectors.java):
our encoders reproduce them byte for byte and our decoders read them. No Java needed here;
tests/interop/test_wire_vectors.py regenerates them and lets Java decode our output."""
from __future__ import annotations

import hashlib
import json
import os

import pytest

from tribes.io.channel_data import ChannelData
from tribes.io.framing import ACK_DATA, ACK_FRAME, FAIL_ACK_DATA, FAIL_ACK_FRAME, FrameDecoder, encode_frame
from tribes.io.layouts import ChannelDataPackage, MemberPacket
from tribes.membership.member import Member, decode_member, encode_member

VECTOR_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors", "wire")
LABELS = ["10.1", "9.0"]


def load(label: str) -> dict:
    with open(os.path.join(VECTOR_DIR, f"tomcat-{label}.json"), encoding="utf-8") as fh:
        return json.load(fh)


VECTORS = {label: load(label) for label in LABELS}


def member_from_vector(v: dict) -> Member:
    return Member(host=bytes.fromhex(v["host"]), port=v["port"], secure_port=v["securePort"],
                  udp_port=v["udpPort"], unique_id=bytes.fromhex(v["uniqueId"]), domain=bytes.fromhex(v["domain"]),
                  payload=bytes.fromhex(v["payload"]), command=bytes.fromhex(v["command"]), alive=v["alive"])


def message_from_vector(v: dict) -> bytes:
    if "message" in v:
        return bytes.fromhex(v["message"])
    seed = v["seed"]
    return bytes(((i * 31 + seed) & 0xFF) for i in range(v["messageLength"]))


def cd_from_vector(v: dict, members: dict[str, Member]) -> ChannelData:
    return ChannelData(v["options"], v["timestamp"], bytes.fromhex(v["uniqueId"]), members[v["address"]],
                       message_from_vector(v))


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@pytest.mark.parametrize("label", LABELS)
def test_vectors_are_from_the_expected_tomcat(label):
    assert VECTORS[label]["tomcat"].startswith(label + ".")
    assert len(VECTORS[label]["members"]) >= 10 and len(VECTORS[label]["channelData"]) >= 20


@pytest.mark.parametrize("label", LABELS)
def test_members_encode_and_decode(label):
    for v in VECTORS[label]["members"]:
        raw = bytes.fromhex(v["bytes"])
        m = member_from_vector(v)
        assert encode_member(m) == raw, v["name"]
        back = decode_member(raw)
        assert (back.host, back.port, back.secure_port, back.udp_port, back.unique_id, back.domain, back.payload,
                back.command, back.alive) == (m.host, m.port, m.secure_port, m.udp_port, m.unique_id, m.domain,
                                              m.payload, m.command, m.alive), v["name"]
        assert back.is_shutdown == (v["command"] == b"BABY-ALEX".hex())
        # the declarative layout agrees with Tomcat too
        parsed = MemberPacket.parse(raw)
        assert (parsed.host, parsed.alive, parsed.port, parsed.payload) == (m.host, m.alive, m.port, m.payload)
        assert MemberPacket.build(dict(alive=m.alive, port=m.port, secure_port=m.secure_port, udp_port=m.udp_port,
                                       host=m.host, command=m.command, domain=m.domain, unique_id=m.unique_id,
                                       payload=m.payload)) == raw


@pytest.mark.parametrize("label", LABELS)
def test_channel_data_encode_and_decode(label):
    members = {v["name"]: member_from_vector(v) for v in VECTORS[label]["members"]}
    for v in VECTORS[label]["channelData"]:
        cd = cd_from_vector(v, members)
        body, frame = cd.encode(), cd.encode_frame()
        if "body" in v:
            assert body.hex() == v["body"], v["name"]
            assert frame.hex() == v["frame"], v["name"]
        else:
            assert sha(message_from_vector(v)) == v["messageSha256"]
            assert sha(body) == v["bodySha256"], v["name"]
            assert sha(frame) == v["frameSha256"], v["name"]
            assert frame[:200].hex() == v["frameHead"] and frame[-64:].hex() == v["frameTail"]
        assert encode_frame(body) == frame
        (got,) = FrameDecoder().feed(frame)
        back = ChannelData.decode(got)
        assert (back.options, back.timestamp, back.unique_id, back.message) == (
            cd.options, cd.timestamp, cd.unique_id, cd.message), v["name"]
        assert back.address == cd.address and back.address.alive == cd.address.alive
        assert encode_member(back.address) == encode_member(cd.address)
        if len(body) < 5000:
            parsed = ChannelDataPackage.parse(body)
            assert parsed.message == cd.message and parsed.address == encode_member(cd.address)


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize("chunk", [1, 7, 13, 1000, 1 << 20])
def test_stream_decodes_like_xbytebuffer(label, chunk):
    s = VECTORS[label]["streams"][0]
    stream = bytes.fromhex(s["stream"])
    expected = [bytes.fromhex(b) for b in s["extractedBodies"]]
    assert len(expected) == len(s["frames"])
    d = FrameDecoder()
    got = []
    for i in range(0, len(stream), chunk):
        got += d.feed(stream[i:i + chunk])
    assert got == expected and d.buffered == 0
    assert got[-2:] == [ACK_DATA, FAIL_ACK_DATA]


@pytest.mark.parametrize("label", LABELS)
def test_ack_constants(label):
    acks = VECTORS[label]["acks"]
    assert bytes.fromhex(acks["ACK_DATA"]) == ACK_DATA and bytes.fromhex(acks["FAIL_ACK_DATA"]) == FAIL_ACK_DATA
    assert bytes.fromhex(acks["ACK_COMMAND"]) == ACK_FRAME
    assert bytes.fromhex(acks["FAIL_ACK_COMMAND"]) == FAIL_ACK_FRAME
    assert bytes.fromhex(acks["emptyFrame"]) == encode_frame(b"")
