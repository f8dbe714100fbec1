"""tribes.web.protocol (frames, request checks) and tribes.web.values (Java type mapping)."""
from __future__ import annotations

import pytest

from tribes import javaser as j
from tribes.web.errors import ProtocolError
from tribes.web.protocol import FrameDecoder, check_request, encode
from tribes.web.values import coerce_like, encode_attribute


def test_frames_split_anywhere() -> None:
    msgs = [{"op": "load", "ctx": "/app", "id": "A" * 32}, {"op": "status"}, {"op": "commit", "set": {"x": b"\x00"}}]
    data = b"".join(encode(m) for m in msgs)
    for cut in range(1, len(data)):
        dec = FrameDecoder()
        got = dec.feed(data[:cut]) + dec.feed(data[cut:])
        assert got == msgs


def test_oversized_and_garbage_frames_are_refused() -> None:
    with pytest.raises(ProtocolError, match="exceeds"):
        FrameDecoder(max_frame=100).feed(b"\x00\x00\x10\x00" + b"x" * 10)
    with pytest.raises(ProtocolError):
        FrameDecoder().feed(b"\x00\x00\x00\x01\xc1")          # 0xc1 is never valid msgpack
    with pytest.raises(ProtocolError, match="map"):
        FrameDecoder().feed(encode([1, 2]))  # type: ignore[arg-type]


@pytest.mark.parametrize("msg, why", [
    ({"op": "nope"}, "unknown op"),
    ({"op": "hello"}, "version"),
    ({"op": "load", "ctx": "/app"}, "id"),
    ({"op": "load", "ctx": 5, "id": "x"}, "ctx"),
    ({"op": "commit", "ctx": "/app", "id": None, "set": {"a": "not bytes"}}, "set"),
    ({"op": "commit", "ctx": "/app", "id": None, "remove": "a"}, "remove"),
    ({"op": "commit", "ctx": "/app", "id": None, "login": ["", [], None]}, "login"),
])
def test_malformed_requests_are_named(msg: dict, why: str) -> None:
    assert why in (check_request(msg) or "")


def test_good_requests_pass() -> None:
    assert check_request({"op": "commit", "ctx": "/app", "id": None, "set": {"a": b"x"}, "remove": ["b"],
                          "login": ["alice", ["r"], "FORM"]}) is None


def test_existing_java_types_are_kept() -> None:
    assert type(coerce_like(j.JavaInteger(1), 43)) is j.JavaInteger
    assert type(coerce_like(j.JavaLong(1), 5)) is j.JavaLong
    assert type(coerce_like(j.JavaShort(1), 5)) is j.JavaShort
    assert type(coerce_like(j.JavaDouble(1.0), 3)) is j.JavaDouble
    assert type(coerce_like(j.JavaFloat(1.0), 0.5)) is j.JavaFloat
    assert type(coerce_like(j.JavaInteger(1), 1 << 40)) is int        # does not fit: becomes a Long
    assert coerce_like(j.JavaInteger(1), True) is True                 # a bool stays a Boolean
    assert coerce_like(j.JavaInteger(1), "x") == "x"
    assert j.loads(encode_attribute("n", coerce_like(j.JavaLong(1), 5))) == j.JavaLong(5)


def test_tuples_travel_as_arraylist() -> None:
    flashes = [("message", "saved"), ("error", "oops")]
    back = j.loads(encode_attribute("_flashes", flashes))
    assert isinstance(back, j.JavaArrayList) and back == [["message", "saved"], ["error", "oops"]]


def test_unmappable_value_names_the_attribute() -> None:
    with pytest.raises(TypeError, match=r"session attribute 'when'.*datetime"):
        import datetime
        encode_attribute("when", datetime.datetime.now())
    with pytest.raises(TypeError, match="'deep'"):
        encode_attribute("deep", {"k": [object()]})
