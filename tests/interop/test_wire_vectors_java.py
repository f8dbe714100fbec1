"""Golden wire vectors against the real Tomcat classes (9.0 and 10.1 jars).

1. Regenerating the vectors with interop/java/src/WireVectors.java gives exactly the committed files.
2. Tomcat's MemberImpl.getMember / ChannelData.getDataFromPackage / XByteBuffer read what our encoders
   write, field for field (many shapes, random ones too, streams cut into odd chunks).
3. Differential hostile input: whatever our (stricter) decoders accept, Tomcat accepts with the same
   fields.
"""
from __future__ import annotations

import os
import random

import pytest

from interop import javatool, wire_vectors
from tribes.io.channel_data import ChannelData, new_unique_id
from tribes.io.errors import WireDecodeError
from tribes.io.framing import ACK_FRAME, FAIL_ACK_FRAME
from tribes.membership.member import SHUTDOWN_PAYLOAD, Member, decode_member, encode_member

pytestmark = pytest.mark.interop

LABELS = list(wire_vectors.VERSIONS)


def _skip_reason(version: int) -> str | None:
    return javatool.missing_requirements(version)


@pytest.fixture(scope="module", params=LABELS)
def version(request):
    label = request.param
    why = _skip_reason(wire_vectors.VERSIONS[label])
    if why:
        pytest.skip(why)
    return label


def test_regenerated_vectors_match_committed(version):
    fresh = wire_vectors.generate(wire_vectors.VERSIONS[version])
    committed = wire_vectors.load(version)
    assert fresh["tomcat"].startswith(version + ".")
    fresh.pop("tomcat")
    committed.pop("tomcat")
    assert fresh == committed, "Tomcat now writes different bytes: run python3 interop/wire_vectors.py and review"


def _random_members(rng: random.Random, n: int) -> list[Member]:
    out = []
    for i in range(n):
        host = bytes(rng.randrange(256) for _ in range(rng.choice([4, 16])))
        out.append(Member(
            host=host, port=rng.randrange(-2**31, 2**31), secure_port=rng.choice([-1, 0, 4443, 2**31 - 1]),
            udp_port=rng.choice([-1, 4200, -2**31]), unique_id=rng.randbytes(16),
            domain=rng.randbytes(rng.choice([0, 1, 7, 300])), payload=rng.randbytes(rng.choice([0, 1, 2000])),
            command=rng.choice([b"", SHUTDOWN_PAYLOAD, rng.randbytes(5)]),
            alive=rng.choice([0, -1, 5000, 2**63 - 1, -(2**63), rng.randrange(2**40)])))
    return out


def _describe(m: Member) -> dict:
    return {"host": m.host.hex(), "port": m.port, "securePort": m.secure_port, "udpPort": m.udp_port,
            "uniqueId": m.unique_id.hex(), "domain": m.domain.hex(), "payload": m.payload.hex(),
            "command": m.command.hex(), "alive": m.alive}


def test_java_reads_what_we_encode(version):
    rng = random.Random(20261122)
    vec = wire_vectors.load(version)
    members = [Member(host=bytes.fromhex(v["host"]), port=v["port"], secure_port=v["securePort"],
                      udp_port=v["udpPort"], unique_id=bytes.fromhex(v["uniqueId"]),
                      domain=bytes.fromhex(v["domain"]), payload=bytes.fromhex(v["payload"]),
                      command=bytes.fromhex(v["command"]), alive=v["alive"]) for v in vec["members"]]
    members += _random_members(rng, 40)
    cds = []
    for i in range(60):
        size = rng.choice([0, 1, 3, 100, 1024, 5000, 70000])
        cds.append(ChannelData(rng.randrange(-2**31, 2**31), rng.randrange(-2**63, 2**63),
                               new_unique_id() if i % 7 else rng.randbytes(rng.choice([0, 3, 20])),
                               rng.choice(members), rng.randbytes(size)))
    items = [("member", f"m{i}", encode_member(m)) for i, m in enumerate(members)]
    items += [("channeldata", f"c{i}", cd.encode()) for i, cd in enumerate(cds)]
    stream = b"".join(cd.encode_frame() for cd in cds[:20]) + ACK_FRAME + FAIL_ACK_FRAME
    for chunk in (1, 11, 1000, 65536):
        items.append((f"stream:{chunk}", f"s{chunk}", stream))
    results = {r["id"]: r for r in wire_vectors.java_decode(items, wire_vectors.VERSIONS[version])}
    assert len(results) == len(items)
    for i, m in enumerate(members):
        r = results[f"m{i}"]
        assert r["ok"], r
        assert r["member"] == _describe(m)
    for i, cd in enumerate(cds):
        r = results[f"c{i}"]
        assert r["ok"], r
        assert (r["options"], r["timestamp"], r["uniqueId"], r["message"]) == (
            cd.options, cd.timestamp, cd.unique_id.hex(), cd.message.hex())
        assert r["address"] == _describe(cd.address) and r["sameViaXByteBuffer"]
    expected_bodies = [cd.encode().hex() for cd in cds[:20]] + [ACK_FRAME[11:-7].hex(), FAIL_ACK_FRAME[11:-7].hex()]
    for chunk in (1, 11, 1000, 65536):
        r = results[f"s{chunk}"]
        assert r["ok"] and r["bodies"] == expected_bodies and r["remaining"] == 0


def test_whatever_we_accept_java_reads_the_same(version):
    """Mutated member packets and ChannelData: our decoders are stricter than Tomcat, never laxer."""
    rng = random.Random(7)
    vec = wire_vectors.load(version)
    base = [bytes.fromhex(v["bytes"]) for v in vec["members"]]
    cases: list[tuple[str, bytes]] = []
    for i in range(400):
        raw = bytearray(rng.choice(base))
        for _ in range(rng.choice([1, 1, 2])):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        if rng.random() < 0.2:
            raw += rng.randbytes(rng.randrange(1, 5))
        cases.append((f"h{i}", bytes(raw)))
    results = {r["id"]: r for r in wire_vectors.java_decode(
        [("member", ident, raw) for ident, raw in cases], wire_vectors.VERSIONS[version])}
    accepted = rejected_by_both = stricter = 0
    for ident, raw in cases:
        try:
            ours = decode_member(raw)
        except WireDecodeError:
            if results[ident]["ok"]:
                stricter += 1
            else:
                rejected_by_both += 1
            continue
        accepted += 1
        assert results[ident]["ok"], (raw.hex(), results[ident])
        assert results[ident]["member"] == _describe(ours)
    assert accepted > 50 and rejected_by_both > 10
    print(f"accepted by both {accepted}, rejected by both {rejected_by_both}, only Tomcat accepts {stricter}")


def test_channel_data_and_streams_we_accept_java_reads_the_same(version):
    """Mutated ChannelData bodies and frame streams: never laxer than Tomcat; on a broken stream the
    frames we deliver before the error are exactly the first frames XByteBuffer extracts."""
    from tribes.io.framing import FrameDecoder, FramingError

    rng = random.Random(11)
    vec = wire_vectors.load(version)
    bodies = [bytes.fromhex(c["body"]) for c in vec["channelData"] if "body" in c]
    stream = bytes.fromhex(vec["streams"][0]["stream"])
    items = []
    for i in range(300):
        raw = bytearray(rng.choice(bodies))
        for _ in range(rng.choice([1, 2])):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        items.append(("channeldata", f"c{i}", bytes(raw)))
    for i in range(60):
        raw = bytearray(stream)
        for _ in range(rng.choice([1, 2, 3])):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        items.append(("stream:1000", f"s{i}", bytes(raw)))
    results = {r["id"]: r for r in wire_vectors.java_decode(items, wire_vectors.VERSIONS[version])}
    accepted = 0
    for kind, ident, raw in items:
        r = results[ident]
        if kind == "channeldata":
            try:
                cd = ChannelData.decode(raw)
            except WireDecodeError:
                continue
            accepted += 1
            assert r["ok"], (raw.hex(), r)
            assert (r["options"], r["timestamp"], r["uniqueId"], r["message"]) == (
                cd.options, cd.timestamp, cd.unique_id.hex(), cd.message.hex())
            assert r["address"] == _describe(cd.address)
        else:
            d = FrameDecoder()
            ours: list[bytes] = []
            try:
                for off in range(0, len(raw), 1000):
                    ours += d.feed(raw[off:off + 1000])
            except FramingError as exc:
                ours += exc.frames
            assert r["ok"]
            assert [b.hex() for b in ours] == r["bodies"][:len(ours)], ident
    assert accepted > 30
