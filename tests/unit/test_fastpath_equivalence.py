"""The Cython hot path and its pure-Python twin give identical results and exceptions.

Thousands of hypothesis cases: random frame streams cut into random chunks, hostile bytes mixed in,
mutated member packets and ChannelData packages, random field values for the builders.
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tribes import _purepath as P
from tribes.io.errors import FramingError

F = pytest.importorskip("tribes._fastpath", reason="Cython extension not built (pip install -e . builds it)")

_SCALE = float(os.environ.get("TRIBES_EQUIV_SCALE", "1"))  # e.g. 10 for a long local run
SETTINGS = settings(max_examples=int(3000 * _SCALE), deadline=None, suppress_health_check=list(HealthCheck))
SMALLER = settings(max_examples=int(1000 * _SCALE), deadline=None, suppress_health_check=list(HealthCheck))

UID = bytes(range(1, 17))
MEMBER = P.build_member(5000, 4000, -1, -1, bytes([10, 0, 0, 1]), b"", b"dom", UID, b"\xaa")


def outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - we compare whatever happens
        return ("error", type(exc).__name__, str(exc), getattr(exc, "frames", None))


bodies = st.lists(st.one_of(st.binary(max_size=64), st.binary(min_size=200, max_size=3000),
                            st.sampled_from([b"\x06\x02\x03", b"\x0b\x00\x05", b""])), max_size=8)


@st.composite
def hostile_stream(draw):
    frames = draw(bodies)
    data = bytearray(b"".join(P.encode_frame(b) for b in frames))
    mode = draw(st.sampled_from(["clean", "clean", "flip", "tail", "truncate", "lying", "insert"]))
    if mode == "flip" and data:
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
    elif mode == "tail":
        data += draw(st.one_of(st.binary(max_size=40), st.just(b"FLT2002"),
                               st.binary(max_size=20).map(lambda b: b"FLT2002" + b)))
    elif mode == "truncate" and data:
        del data[draw(st.integers(0, len(data) - 1)):]
    elif mode == "lying":
        length = draw(st.integers(-(2**31), 2**31 - 1))
        data += b"FLT2002" + length.to_bytes(4, "big", signed=True) + draw(st.binary(max_size=40))
    elif mode == "insert":
        i = draw(st.integers(0, len(data)))
        data[i:i] = draw(st.binary(min_size=1, max_size=10))
    return bytes(data)


@st.composite
def chunked(draw, data):
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    out, prev = [], 0
    for c in cuts + [len(data)]:
        out.append(data[prev:c])
        prev = c
    return out


def run_decoder(mod, chunks, max_size):
    d = mod.FrameDecoderCore(max_size)
    log = []
    for c in chunks:
        r = outcome(d.feed, c)
        log.append((r, d.buffered, d.failed))
        if r[0] == "error":
            log.append((outcome(d.feed, b"FLT2002"), d.buffered, d.failed))
            break
    return log


@SETTINGS
@given(st.data())
def test_frame_decoder_identical(data):
    stream = data.draw(hostile_stream())
    chunks = data.draw(chunked(stream))
    max_size = data.draw(st.sampled_from([P.DEFAULT_MAX_MESSAGE_SIZE, 0, 3, 100, 2500]))
    pure = run_decoder(P, chunks, max_size)
    fast = run_decoder(F, chunks, max_size)
    assert pure == fast
    # and chunking does not change what is decoded or which error is raised
    whole = run_decoder(F, [stream], max_size)
    frames = [f for (r, _b, _f) in fast if r[0] == "ok" for f in r[1]]
    errors = [r for (r, _b, _f) in fast if r[0] == "error"]
    if errors:
        frames += errors[0][3]
    wr = whole[0][0]
    if wr[0] == "ok":
        assert not errors and frames == wr[1]
    else:
        assert errors and errors[0][1] == wr[1] and frames == wr[3]


@SMALLER
@given(st.binary(max_size=200), st.integers(0, 40), st.integers(-1, 200))
def test_parse_member_random_bytes_identical(blob, offset, length):
    assert outcome(P.parse_member, blob, offset, length) == outcome(F.parse_member, blob, offset, length)


@st.composite
def member_fields(draw):
    return (draw(st.integers(-(2**63), 2**63 - 1)), draw(st.integers(-(2**31), 2**31 - 1)),
            draw(st.integers(-(2**31), 2**31 - 1)), draw(st.integers(-(2**31), 2**31 - 1)),
            draw(st.sampled_from([4, 16]).flatmap(lambda n: st.binary(min_size=n, max_size=n))),
            draw(st.one_of(st.just(b""), st.just(b"BABY-ALEX"), st.binary(max_size=20))),
            draw(st.binary(max_size=30)), draw(st.binary(min_size=16, max_size=16)), draw(st.binary(max_size=300)))


@SMALLER
@given(member_fields(), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=3),
       st.integers(-3, 3))
def test_member_build_and_mutated_parse_identical(fields, flips, resize):
    built = P.build_member(*fields)
    assert F.build_member(*fields) == built
    assert F.parse_member(built) == P.parse_member(built) == fields
    mutated = bytearray(built)
    for i, x in flips:
        mutated[i % len(mutated)] ^= x
    if resize > 0:
        mutated += bytes(resize)
    elif resize < 0:
        del mutated[resize:]
    mutated = bytes(mutated)
    assert outcome(P.parse_member, mutated) == outcome(F.parse_member, mutated)


@SMALLER
@given(st.integers(-(2**31), 2**31 - 1), st.integers(-(2**63), 2**63 - 1), st.binary(max_size=20),
       st.one_of(st.just(MEMBER), st.binary(max_size=60)), st.binary(max_size=500), st.booleans(),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=3), st.integers(-3, 3))
def test_channel_data_identical(options, ts, uid, address, message, framed, flips, resize):
    built = P.build_channel_data(options, ts, uid, address, message, framed)
    assert F.build_channel_data(options, ts, uid, address, message, framed) == built
    body = built[11:-7] if framed else built
    mutated = bytearray(body)
    for i, x in flips:
        if mutated:
            mutated[i % len(mutated)] ^= x
    if resize > 0:
        mutated += bytes(resize)
    elif resize < 0:
        del mutated[resize:]
    for candidate in (body, bytes(mutated)):
        assert outcome(P.parse_channel_data, candidate) == outcome(F.parse_channel_data, candidate)


@SMALLER
@given(st.binary(max_size=300))
def test_encode_frame_identical(body):
    assert F.encode_frame(body) == P.encode_frame(body) == F.encode_frame(bytearray(body))


def test_large_frames_both_paths():
    """Bodies above the eager-allocation limit (grown buffer in the fast path), split in odd chunks."""
    big = [bytes([i]) * (5 * 1024 * 1024 + i) for i in range(2)]
    stream = b"".join(P.encode_frame(b) for b in big)
    for mod in (P, F):
        d = mod.FrameDecoderCore()
        out = []
        step = 777_777
        for i in range(0, len(stream), step):
            out += d.feed(memoryview(stream)[i:i + step])
        assert out == big and d.buffered == 0


def test_framing_error_is_framing_error():
    for mod in (P, F):
        with pytest.raises(FramingError):
            mod.FrameDecoderCore().feed(b"xx")


def test_regression_fuzz_member_huge_body_length_message():
    """Found by fuzz/fuzz_member.py: int32 overflow in the fast path's error message."""
    blob = bytes.fromhex("5452494245532d4201007fffffff000004000000800000" "0a000009" + "00" * 20)
    blob = blob + b"\x00" * (66 - len(blob))
    assert outcome(P.parse_member, blob, 0, len(blob)) == outcome(F.parse_member, blob, 0, len(blob))
    assert "needs 2147483671 bytes" in outcome(F.parse_member, blob, 0, len(blob))[2]
