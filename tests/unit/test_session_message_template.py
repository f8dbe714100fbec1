"""The SessionMessageImpl template encoder (tribes.managers.session_template) writes exactly what the
general writer writes (``dumps(msg.to_java())``), and what Tomcat 9.0 / 10.1 wrote
(tests/vectors/javaser/<version>/tomcat_sessionmessage_evt*.ser); the cluster's send path uses it."""
from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tribes.channel import SerializedMessage
from tribes.javaser import JavaString, dumps, loads
from tribes.managers import session_template
from tribes.managers.session_message import SESSION_MESSAGE_IMPL, SessionMessage
from tribes.managers.session_template import MAX_TEMPLATE_STRING, encode, encode_template

_SCALE = float(os.environ.get("TRIBES_FUZZ_SCALE", "1"))
SETTINGS = settings(max_examples=int(300 * _SCALE), deadline=None, suppress_health_check=list(HealthCheck))

VEC = os.path.join(os.path.dirname(__file__), "..", "vectors", "javaser")
VERSIONS = ["9.0", "10.1"]
EVENTS = [1, 2, 3, 4, 12, 13, 14, 15, 16]

# any UTF-16 unit Java allows, incl. NUL, lone surrogates and astral characters; long ones too
_texts = st.one_of(st.none(), st.text(max_size=40),
                   st.text(alphabet=st.characters(codec=None), max_size=300),
                   st.tuples(st.text(alphabet="ab\u00e9\U0001f600\x00", min_size=1, max_size=12),
                             st.integers(800, 1600)).map(lambda t: t[0] * t[1]))  # around the 10,000 cut-off
_payloads = st.one_of(st.none(), st.just(b""), st.binary(max_size=512),
                      st.integers(0, 64 * 1024).map(lambda n: os.urandom(n)))


def test_template_is_on() -> None:
    assert session_template.enabled()


@SETTINGS
@given(evt=st.one_of(st.sampled_from(EVENTS), st.integers(-(2**31), 2**31 - 1)),
       ctx=_texts, sid=_texts, uid=_texts, payload=_payloads,
       ts=st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.integers(0, 2**45)),
       share=st.sampled_from(["none", "ctx=sid", "sid=uid", "all"]))
def test_template_equals_general_writer(evt: int, ctx: str | None, sid: str | None, uid: str | None,
                                        payload: bytes | None, ts: int | None, share: str) -> None:
    if share in ("ctx=sid", "all"):
        sid = ctx
    if share in ("sid=uid", "all"):
        uid = sid
    m = SessionMessage(evt, ctx, sid, payload, uid, ts)
    want = dumps(m.to_java())
    got = encode_template(m)
    fits = all(s is None or len(s) <= MAX_TEMPLATE_STRING for s in (ctx, sid, uid))
    assert (got is not None) == fits
    if got is not None:
        assert got == want
    assert encode(m) == want == m.encode()
    back = SessionMessage.decode(want)
    assert back == m


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("evt", EVENTS)
def test_template_reencodes_tomcat_vectors(version: str, evt: int) -> None:
    with open(os.path.join(VEC, version, f"tomcat_sessionmessage_evt{evt}.ser"), "rb") as f:
        data = f.read()
    m = SessionMessage.decode(data)
    assert m.event_type == evt and m.context_name == "localhost#/app"
    assert encode_template(m) == data  # decoded strings are distinct objects: the template applies


def test_general_path_for_what_the_template_does_not_cover() -> None:
    type_string = next(f.classname for f in SESSION_MESSAGE_IMPL.fields if f.name == "mContextName")
    assert type_string is not None
    cases = [
        SessionMessage(1, type_string, "x"),                        # the descriptor's own String: a back-reference
        SessionMessage(1, "a" * (MAX_TEMPLATE_STRING + 1), "x"),     # may need TC_LONGSTRING
        SessionMessage(1, "\U0001f600" * 11_000, "x"),               # does need TC_LONGSTRING (> 65535 bytes)
        SessionMessage(1, "c", "x", bytearray(b"ab")),               # type: ignore[arg-type]  # not bytes
        SessionMessage(1, JavaString("c"), "x"),                    # a JavaString (may keep raw bytes)
        SessionMessage(True, "c", "x"),                              # not an int
    ]
    for m in cases:
        assert encode_template(m) is None
        assert encode(m) == dumps(m.to_java())
    big = SessionMessage(2**31, "c", "x")
    assert encode_template(big) is None
    with pytest.raises(Exception):
        dumps(big.to_java())
    with pytest.raises(Exception):
        encode(big)


class _Channel:
    def __init__(self) -> None:
        self.sent: list[tuple[list[Any], Any, int]] = []
        self.local_member = "ME"

    def add_channel_listener(self, l: Any) -> None: ...
    def add_membership_listener(self, l: Any) -> None: ...
    def members(self) -> list[Any]: return ["ME", "A"]
    def interceptors(self) -> list[Any]: return []

    async def send(self, dests: list[Any], obj: Any, options: int) -> None:
        self.sent.append((dests, obj, options))


def test_cluster_send_passes_the_serialized_stream() -> None:
    from tribes.managers.cluster import SimpleTcpCluster
    ch = _Channel()
    cl = SimpleTcpCluster(ch, jvm_route="py1")  # type: ignore[arg-type]
    m = SessionMessage(13, "localhost#/app", "ABC.py1", b"\x01\x02", "ABC.py1-1", 1700000000000)
    odd = SessionMessage(13, "localhost#/app", "a" * (MAX_TEMPLATE_STRING + 1), b"\x01", "u", 1)
    asyncio.run(cl.send(m))
    asyncio.run(cl.send(odd))
    (d1, o1, _), (d2, o2, _) = ch.sent
    assert d1 == d2 == ["A"]
    assert isinstance(o1, SerializedMessage) and o1.data == dumps(m.to_java())
    assert SessionMessage.from_java(o1) == m == SessionMessage.from_java(loads(o1.data))
    assert not isinstance(o2, SerializedMessage) and SessionMessage.from_java(o2) == odd  # general path


def test_template_reencodes_static_membership_vectors() -> None:
    """tests/vectors/membership/session_messages.json: GET-ALL and NO-CONTEXT-MANAGER from Tomcat 9/10."""
    import json
    with open(os.path.join(VEC, "..", "membership", "session_messages.json")) as f:
        table = json.load(f)
    seen = 0
    for version in ("9", "10"):
        for key in ("no_context_manager", "get_all_sessions_ts_1234567"):
            data = bytes.fromhex(table[version][key])
            assert encode_template(SessionMessage.decode(data)) == data, (version, key)
            seen += 1
    assert seen == 4


@pytest.mark.parametrize("version", ["9", "10"])
def test_template_reencodes_every_session_message_of_a_tomcat_capture(version: str) -> None:
    """Every SessionMessageImpl real Tomcat sent in tests/vectors/captures/tomcat<V>-replication.pcap
    (created, deltas, id change, GET-ALL, ALL-SESSION-DATA, transfer complete) re-encodes to its bytes."""
    from tribes.capture.decoder import MessageEvent
    from tribes.capture.pcap import decode_pcap
    path = os.path.join(VEC, "..", "captures", f"tomcat{version}-replication.pcap")
    events: set[int] = set()
    for e in decode_pcap(path):
        if not isinstance(e, MessageEvent) or e.payload_class != "org.apache.catalina.ha.session.SessionMessageImpl":
            continue
        assert e.payload_encoding == "java"
        data = bytes(e.data.message)
        m = SessionMessage.decode(data)
        assert encode_template(m) == data, str(m)
        events.add(m.event_type)
    assert {4, 12, 13, 14, 15} <= events, events
