"""Tomcat's own classes read what the Python node writes (9.0.70 and 10.1): SessionMessageImpl,
DeltaRequest with every action type (executed on a real DeltaSession), and the ALL_SESSION_DATA
stream through DeltaManager.deserializeSessions, including the 9.0 layout without authentication
notes and both principal layouts. Java: interop/java/src/SessionVectors.java."""
from __future__ import annotations

import json
from typing import Any

import pytest

from interop import javatool
from tribes.javaser import JavaArrayList, JavaDouble, JavaHashMap, JavaInteger, JavaLong
from tribes.managers.delta_request import DeltaRequest
from tribes.managers.principal import Principal
from tribes.managers.session_message import SessionMessage
from tribes.managers.session_state import SESSION_ID_NOTE, SessionState, write_sessions

pytestmark = pytest.mark.interop

VERSIONS = [("9", "9.0"), ("10", "10.1")]


def java(tmp_path: Any, version: str, mode: str, data: bytes) -> list[dict[str, Any]]:
    why = javatool.missing_requirements(version)
    if why:
        pytest.skip(f"Java/Tomcat {version} unavailable: {why}")
    f = tmp_path / f"{mode}.bin"
    f.write_bytes(data)
    res = javatool.run_java("SessionVectors", [mode, str(f)], version)
    return [json.loads(x) for x in res.stdout.decode().splitlines() if x.startswith("{")]


ATTRS = {"s": "héllo \u20ac \U0001f600", "i": JavaInteger(-7), "l": JavaLong(1 << 40), "z": True,
         "d": JavaDouble(2.5), "b": b"\x00\xff", "lst": JavaArrayList(["a", JavaInteger(1)]),
         "m": JavaHashMap({"k": "v"})}
EXPECT = {"s": ("java.lang.String", "héllo \u20ac \U0001f600"), "i": ("java.lang.Integer", "-7"),
          "l": ("java.lang.Long", str(1 << 40)), "z": ("java.lang.Boolean", "true"), "d": ("java.lang.Double", "2.5"),
          "b": ("[B", "00ff"), "lst": ("java.util.ArrayList", "[a, 1]"), "m": ("java.util.HashMap", "{k=v}")}


def check_attrs(got: dict[str, Any]) -> None:
    assert {k: (v["class"], v["value"]) for k, v in got.items()} == EXPECT


@pytest.mark.parametrize("version,pyver", VERSIONS)
def test_tomcat_reads_python_session_message(tmp_path: Any, version: str, pyver: str) -> None:
    m = SessionMessage(13, "localhost#/app", "ABC.py1", b"\x01\x02\x03", "ABC.py1-5", 1700000000123)
    assert java(tmp_path, version, "message", m.encode()) == [{
        "event": 13, "eventString": "SESSION-DELTA", "context": "localhost#/app", "sessionId": "ABC.py1",
        "uniqueId": "ABC.py1-5", "timestamp": 1700000000123, "payload": 3}]


@pytest.mark.parametrize("version,pyver", VERSIONS)
def test_tomcat_executes_python_delta_request(tmp_path: Any, version: str, pyver: str) -> None:
    dr = DeltaRequest("ABC.py1")
    dr.set_new(False)
    dr.set_max_inactive_interval(77)
    for k, v in ATTRS.items():
        dr.set_attribute(k, v)
    dr.set_attribute("gone", "x")
    dr.remove_attribute("gone")
    dr.set_principal(Principal("alice", ["tribes", "admin"]))
    dr.set_auth_type("FORM")
    dr.set_note(SESSION_ID_NOTE, "NOTE-ID")
    (s,) = java(tmp_path, version, "delta", dr.serialize(pyver))
    assert s["id"] == "ABC.py1" and s["maxInactiveInterval"] == 77 and s["authType"] == "FORM"
    assert s["principal"] == {"class": "org.apache.catalina.realm.GenericPrincipal", "name": "alice",
                              "roles": ["admin", "tribes"]}
    assert s["sessionIdNote"] == "NOTE-ID"
    check_attrs(s["attributes"])


@pytest.mark.parametrize("version,pyver", VERSIONS)
@pytest.mark.parametrize("notes", [False, True])
def test_tomcat_loads_python_session_stream(tmp_path: Any, version: str, pyver: str, notes: bool) -> None:
    one = SessionState("A.py1", 1700000000000, 1700000000500, 1800, False, True, 1700000000500, 0,
                       principal=Principal("bob", ["tribes"], password="pw" if pyver == "9.0" else None),
                       attributes=dict(ATTRS))
    if notes:
        one.notes[SESSION_ID_NOTE] = "OLD"
    many = [SessionState(f"M{i:04d}.py1", 1700000000000 + i, 1700000000000 + i, 60, True, True,
                         1700000000000 + i, 0, attributes={"index": JavaInteger(i)}) for i in range(300)]
    data = write_sessions([one, *many], pyver, persist_authentication_notes=notes)
    got = java(tmp_path, version, "sessions", data)
    assert len(got) == 301
    a = got[0]
    assert a["id"] == "A.py1" and a["creationTime"] == 1700000000000 and a["maxInactiveInterval"] == 1800
    assert a["principal"]["name"] == "bob" and a["principal"]["roles"] == ["tribes"]
    assert a["sessionIdNote"] == ("OLD" if notes else None)
    check_attrs(a["attributes"])
    assert [g["attributes"]["index"]["value"] for g in got[1:]] == [str(i) for i in range(300)]
    assert all(g["isNew"] and g["maxInactiveInterval"] == 60 for g in got[1:])


def test_cross_version_principals(tmp_path: Any) -> None:
    """A 10.1-layout principal (no password) is read by 9.0 and a 9.0 one by 10.1."""
    for pyver, version in (("10.1", "9"), ("9.0", "10")):
        st = SessionState("X.py1", 1, 1, 60, False, True, 1, 0, principal=Principal("carol", ["r"], password="pw"))
        (s,) = java(tmp_path, version, "sessions", write_sessions([st], pyver))
        assert s["principal"]["name"] == "carol" and s["principal"]["roles"] == ["r"]
