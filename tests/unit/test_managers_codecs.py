"""SessionMessageImpl, DeltaRequest and the session stream against bytes written by real Tomcat
classes (tests/vectors/javaser/<9.0|10.1>/tomcat_*.ser, made by interop/java/src/JavaSerVectors.java)."""
from __future__ import annotations

import json
import os

import pytest

from tribes.javaser import (JavaArrayList, JavaInteger, JavaLong, JavaObject, ObjectInputStream,
                            ObjectOutputStream, loads_all)
from tribes.managers.delta_request import (ACTION_REMOVE, ACTION_SET, TYPE_ATTRIBUTE, TYPE_AUTHTYPE, TYPE_ISNEW,
                                           TYPE_LISTENER, TYPE_MAXINTERVAL, TYPE_NOTE, TYPE_PRINCIPAL, DeltaRequest,
                                           DeltaRequestError)
from tribes.managers.principal import Principal
from tribes.managers.session_message import (EVT_ALL_SESSION_NOCONTEXTMANAGER, EVT_GET_ALL_SESSIONS,
                                             SessionMessage, SessionMessageError)
from tribes.managers.session_state import (FORM_REQUEST_NOTE, SESSION_ID_NOTE, SessionState, SessionStateError,
                                           read_sessions, write_sessions)

VEC = os.path.join(os.path.dirname(__file__), "..", "vectors", "javaser")
VERSIONS = ["9.0", "10.1"]
EVENTS = [1, 2, 3, 4, 12, 13, 14, 15, 16]


def vec(version: str, name: str) -> bytes:
    with open(os.path.join(VEC, version, name + ".ser"), "rb") as f:
        return f.read()


def manifest(version: str) -> dict[str, dict]:
    with open(os.path.join(VEC, version, "manifest.json")) as f:
        return {v["name"]: v for v in json.load(f)["vectors"]}


# ------------------------------------------------------------------------------ SessionMessageImpl
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("evt", EVENTS)
def test_session_message_vectors_decode_and_reencode(version: str, evt: int) -> None:
    data = vec(version, f"tomcat_sessionmessage_evt{evt}")
    m = SessionMessage.decode(data)
    fields = manifest(version)[f"tomcat_sessionmessage_evt{evt}"]["expect"]["value"]["fields"]
    assert m.event_type == evt == fields["mEvtType"]
    assert m.context_name == "localhost#/app"
    assert m.session_id == "ABCDEF0123456789.node1"
    assert m.unique_id == "ABCDEF0123456789.node1-1700000000000"
    if evt == EVT_ALL_SESSION_NOCONTEXTMANAGER:
        assert m.timestamp is None and fields["timestampSet"] is False
    else:
        assert m.timestamp == 1700000000000 + evt
    assert (m.session is None) == (fields["mSession"] is None)
    assert m.encode() == data


@pytest.mark.parametrize("version", VERSIONS)
def test_session_message_built_in_python_is_byte_exact(version: str) -> None:
    delta = DeltaRequest("ABCDEF0123456789.node1")
    delta.set_attribute("k", "v")
    out = ObjectOutputStream()
    out.write_utf("NEWID.node2")
    payloads = {13: delta.serialize(), 15: out.getvalue(), 12: vec(version, "tomcat_sessionmessage_evt12") and None}
    for evt in (1, 2, 3, 4, 13, 14, 15, 16):
        m = SessionMessage(evt, "localhost#/app", "ABCDEF0123456789.node1", payloads.get(evt),
                           "ABCDEF0123456789.node1-1700000000000")
        if evt != 16:
            m.set_timestamp(1700000000000 + evt)
            m.set_timestamp(1)  # only the first call counts, as in Java
        assert m.encode() == vec(version, f"tomcat_sessionmessage_evt{evt}"), evt


def test_session_message_rejects_other_objects() -> None:
    from tribes.javaser import dumps
    with pytest.raises(SessionMessageError):
        SessionMessage.decode(dumps("just a string"))
    with pytest.raises(SessionMessageError):
        SessionMessage.decode(b"\xac\xed\x00\x05\x73\x72")  # torn
    data = bytearray(vec("10.1", "tomcat_sessionmessage_evt4"))
    with pytest.raises(SessionMessageError):
        SessionMessage.decode(bytes(data[:-5]))


def test_get_all_example_from_protocol_reference() -> None:
    m = SessionMessage(EVT_GET_ALL_SESSIONS, "localhost#/app", "GET-ALL", None, "GET-ALL-localhost#/app")
    m.set_timestamp(0x0102030405060708)
    tail = bytes.fromhex("0000000000000000 00000004 0102030405060708 01".replace(" ", "")) + \
        b"\x74\x00\x0elocalhost#/app\x70\x74\x00\x07GET-ALL\x74\x00\x16GET-ALL-localhost#/app"
    enc = m.encode()
    assert enc.endswith(tail) and len(enc) == 275 + len(tail)


# ------------------------------------------------------------------------------ DeltaRequest
DELTAS = ["tomcat_delta_all_types", "tomcat_delta_removes", "tomcat_delta_record_all", "tomcat_delta_empty",
          "tomcat_delta_big"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", DELTAS)
def test_delta_vectors_roundtrip(version: str, name: str) -> None:
    data = vec(version, name)
    dr = DeltaRequest.deserialize(data)
    script = manifest(version)[name]["expect"]["script"]
    assert dr.session_id == script[0][1] and dr.record_all_actions == script[1][1] and dr.size == script[2][1]
    assert dr.serialize(version) == data


@pytest.mark.parametrize("version", VERSIONS)
def test_delta_all_types_built_in_python(version: str) -> None:
    """Every type and action, recorded through the Python API, gives Tomcat's bytes."""
    tomcat = DeltaRequest.deserialize(vec(version, "tomcat_delta_all_types"))
    by_name = {a.name: a for a in tomcat.actions}
    dr = DeltaRequest("SESSID")
    dr.set_new(True)
    dr.set_max_inactive_interval(1800)
    dr.set_attribute("a", "b")
    dr.set_attribute("n", JavaInteger(42))
    dr.set_attribute("list", JavaArrayList(["x", JavaLong(1)]))
    dr.set_attribute("point", by_name["point"].value)          # an app class: opaque, as read
    dr.remove_attribute("gone")
    p = by_name["__SET__PRINCIPAL__"].value
    assert isinstance(p, Principal) and p.name == "alice" and p.roles == ["admin", "user"]
    if version == "9.0":
        assert p.password == "secret"
    built = Principal("alice", ["admin", "user"], password="secret" if version == "9.0" else None,
                      attributes=p.attributes)
    dr.set_principal(built)
    dr.set_auth_type("FORM")
    dr.add_session_listener(by_name["__SET__LISTENER__"].value)
    dr.set_note("org.apache.catalina.authenticator.SESSION_ID", "NOTE-ID")
    dr.remove_note("org.apache.catalina.authenticator.REQUEST")
    assert [(a.type, a.action) for a in dr.actions] == [(a.type, a.action) for a in tomcat.actions]
    assert dr.serialize(version) == vec(version, "tomcat_delta_all_types")


@pytest.mark.parametrize("version", VERSIONS)
def test_delta_recording_rules(version: str) -> None:
    tomcat = DeltaRequest.deserialize(vec(version, "tomcat_delta_removes"))
    dr = DeltaRequest("SESSID2")
    dr.set_principal(None)
    dr.set_auth_type(None)
    dr.remove_session_listener(tomcat.actions[2].value)
    dr.set_attribute("a", "1")
    dr.set_attribute("a", "2")      # replaces the earlier action of the same name
    assert [(a.type, a.action, a.name) for a in dr.actions] == [
        (TYPE_PRINCIPAL, ACTION_REMOVE, "__SET__PRINCIPAL__"), (TYPE_AUTHTYPE, ACTION_REMOVE, "__SET__AUTHTYPE__"),
        (TYPE_LISTENER, ACTION_REMOVE, "__SET__LISTENER__"), (TYPE_ATTRIBUTE, ACTION_SET, "a")]
    assert dr.serialize() == vec(version, "tomcat_delta_removes")
    ra = DeltaRequest("SESSID3", record_all_actions=True)
    ra.set_attribute("a", "1")
    ra.set_attribute("a", "2")
    ra.set_new(False)
    assert ra.size == 3 and ra.serialize() == vec(version, "tomcat_delta_record_all")
    # the rule compares names only, whatever the type
    x = DeltaRequest("S")
    x.set_attribute("__SET__ISNEW__", "attr")
    x.set_new(True)
    assert [(a.type, a.name) for a in x.actions] == [(TYPE_ISNEW, "__SET__ISNEW__")]
    big = DeltaRequest("BIG")
    for i in range(300):
        big.set_attribute(f"attribute-name-{i}", f"value {i}" if i % 3 == 0 else JavaInteger(i))
    assert big.serialize() == vec(version, "tomcat_delta_big")


def test_delta_types_and_values() -> None:
    dr = DeltaRequest.deserialize(vec("10.1", "tomcat_delta_all_types"))
    kinds = {a.name: (a.type, a.action) for a in dr.actions}
    assert kinds["__SET__ISNEW__"] == (TYPE_ISNEW, ACTION_SET)
    assert kinds["__SET__MAXINTERVAL__"] == (TYPE_MAXINTERVAL, ACTION_SET)
    assert kinds["gone"] == (TYPE_ATTRIBUTE, ACTION_REMOVE)
    assert kinds["org.apache.catalina.authenticator.REQUEST"] == (TYPE_NOTE, ACTION_REMOVE)
    assert isinstance(dr.actions[5].value, JavaObject) and dr.actions[5].value.class_name == "JavaSerVectors$Point"


def test_delta_corrupt_input_raises_specific_error() -> None:
    data = vec("10.1", "tomcat_delta_all_types")
    for cut in (3, 10, 40, len(data) - 3):
        with pytest.raises(DeltaRequestError):
            DeltaRequest.deserialize(data[:cut])
    with pytest.raises(DeltaRequestError):
        DeltaRequest.deserialize(b"\x00\x01garbage")


# ------------------------------------------------------------------------------ session stream
SESSIONS = ["tomcat_sessions_none", "tomcat_sessions_one", "tomcat_sessions_principal", "tomcat_sessions_notes",
            "tomcat_sessions_many"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", SESSIONS)
def test_session_stream_roundtrip(version: str, name: str) -> None:
    # the 9.0 vectors were written with persistAuthenticationNotes=true (10.1 always writes notes)
    data = vec(version, name)
    states = read_sessions(data)
    assert write_sessions(states, version, persist_authentication_notes=True) == data


@pytest.mark.parametrize("version", VERSIONS)
def test_session_stream_built_in_python(version: str) -> None:
    def make(sid: str, attrs: int) -> SessionState:
        st = SessionState(sid, 1700000000000, 1700000000000, 1800, True, True, 1700000000000, 0)
        for i in range(attrs):
            st.attributes[f"attr{i}"] = f"value-{i}"
        return st
    assert write_sessions([make("SESSID", 1)], version, True) == vec(version, "tomcat_sessions_one")
    assert write_sessions([make(f"MANY{i}", 5) for i in range(50)], version, True) == vec(version, "tomcat_sessions_many")
    p = make("PRINCIPAL", 2)
    p.principal = Principal("bob", ["role1"], password="secret" if version == "9.0" else None)
    assert write_sessions([p], version, True) == vec(version, "tomcat_sessions_principal")
    n = make("NOTES", 0)
    n.notes[SESSION_ID_NOTE] = "OLD-ID"
    assert write_sessions([n], version, True) == vec(version, "tomcat_sessions_notes")


def test_session_stream_9_layout_without_notes_reads_back() -> None:
    st = SessionState("X.py", 1, 2, 60, False, True, 3, 0, attributes={"a": JavaInteger(5)})
    data = write_sessions([st], "9.0")
    items = loads_all(data)
    assert "X.py" in items and items[items.index("X.py") + 1] == JavaInteger(1)   # count right after the id
    back = read_sessions(data)[0]
    assert back.attributes == {"a": 5} and back.notes == {}


@pytest.mark.parametrize("version", VERSIONS)
def test_session_stream_values(version: str) -> None:
    st = read_sessions(vec(version, "tomcat_sessions_principal"))[0]
    assert st.id == "PRINCIPAL" and st.max_inactive_interval == 1800 and st.is_valid and st.is_new
    assert isinstance(st.principal, Principal) and st.principal.name == "bob" and st.principal.roles == ["role1"]
    assert st.attributes == {"attr0": "value-0", "attr1": "value-1"}
    rich = read_sessions(vec(version, "tomcat_sessions_rich"))[0]
    assert set(rich.attributes) == {"map", "point", "date", "enum", "bytes"}
    assert rich.attributes["bytes"] == b"\x01\x02\x03" and len(rich.listeners) == 1
    again = read_sessions(write_sessions([rich], version, True))[0]   # app classes pass through
    assert set(again.attributes) == set(rich.attributes)
    assert again.attributes["point"].fields == rich.attributes["point"].fields
    notes = read_sessions(vec(version, "tomcat_sessions_notes"))[0]
    assert notes.notes == {SESSION_ID_NOTE: "OLD-ID"} and FORM_REQUEST_NOTE not in notes.notes


@pytest.mark.parametrize("version", VERSIONS)
def test_session_stream_skips_not_serializable_attribute(version: str) -> None:
    st = read_sessions(vec(version, "tomcat_sessions_not_serializable"))[0]
    assert st.skipped == ["broken"] and st.attributes["zz-after"] == "still here"


def test_session_stream_corrupt() -> None:
    data = vec("10.1", "tomcat_sessions_many")
    for cut in (10, 100, 1000, len(data) - 2):
        with pytest.raises(SessionStateError):
            read_sessions(data[:cut])
    with pytest.raises(SessionStateError):
        read_sessions(vec("10.1", "tomcat_delta_all_types"))


def test_change_session_id_payload() -> None:
    out = ObjectOutputStream()
    out.write_utf("NEWID.node2")
    assert out.getvalue() == vec("10.1", "tomcat_change_session_id") == vec("9.0", "tomcat_change_session_id")
    assert ObjectInputStream(vec("10.1", "tomcat_change_session_id")).read_utf() == "NEWID.node2"
