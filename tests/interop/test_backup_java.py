"""BackupManager bytes against Tomcat's own classes (Java, no network): both directions, 9.0 and 10.1.

* Tomcat -> Python: ``BackupVectors make`` writes RpcMessage/MapMessage/NoRpcChannelReply/DeltaSession
  with Tomcat's classes; Python reads each and writes it back byte for byte (tests/vectors/backup holds a
  copy of these for the unit tests).
* Python -> Tomcat: messages built by Python from scratch (new DeltaSession values, DeltaRequest diffs,
  members of the version, a STATE list, PING reply) are read by ``BackupVectors read`` with
  ObjectInputStream and Tomcat's MapMessage.deserialize; what Tomcat sees is compared field by field.

10.1 runs in the default tier, 9.0 in `slow` (the 9.0 golden vectors are checked by the unit tests).
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from interop.fixtures import require_root_and_java
from interop.javatool import run_java
from tribes.group.rpc import RpcMessage, decode_rpc, is_rpc_message
from tribes.javaser import JavaArrayList, JavaInteger, dumps, loads
from tribes.managers.backup import session_to_java
from tribes.managers.session import DeltaSession
from tribes.membership.member import Member
from tribes.tipis.map_message import (MSG_BACKUP, MSG_PING, MSG_PROXY, MSG_RETRIEVE_BACKUP, MSG_STATE, MapMessage,
                                      state_value)

pytestmark = pytest.mark.interop

MAP = b"localhost#/app-map"
SID = "F00DF00DF00DF00DF00DF00DF00DF00D.py1"


def _make(version: int) -> dict[str, bytes]:
    out = run_java("BackupVectors", ["make"], version=version).stdout.decode()
    return {ln.split()[0]: bytes.fromhex(ln.split()[1]) for ln in out.splitlines() if ln and not ln.startswith("SUID")}


def _read(data: bytes, version: int) -> list[dict[str, Any]]:
    out = run_java("BackupVectors", ["read", data.hex()], version=version).stdout.decode()
    return [json.loads(x) for x in out.splitlines() if x.startswith("{")]


@pytest.mark.parametrize("version", [10, pytest.param(9, marks=pytest.mark.slow)])
def test_tomcat_bytes_read_and_rewritten_byte_exact(version: int) -> None:
    require_root_and_java(version)
    pyver = "10.1" if version == 10 else "9.0"
    for name, data in _make(version).items():
        if name.startswith(("MEMBER", "DIFF", "VALUE")):
            continue
        v = loads(data)
        if is_rpc_message(v):
            r = decode_rpc(v)
            mm = MapMessage.from_java(r.message) if r.message is not None else None
            out = RpcMessage(r.rpc_id, r.uuid, mm.to_java(pyver) if mm else None, r.reply, r.no_channel).to_java()
        else:
            out = MapMessage.from_java(v).to_java(pyver)
        assert dumps(out) == data, name


def _session() -> DeltaSession:
    s = DeltaSession(SID, 1700000000000)
    s.is_valid = True
    s.max_inactive_interval = 900
    s.attributes = {"user": "alice", "n": JavaInteger(7), "cart": JavaArrayList(["book", "pen"])}
    return s


@pytest.mark.parametrize("version", [10, pytest.param(9, marks=pytest.mark.slow)])
def test_python_messages_read_by_tomcat(version: int) -> None:
    require_root_and_java(version)
    pyver = "10.1" if version == 10 else "9.0"
    p = Member(host=bytes([10, 77, 15, 50]), port=4000, unique_id=bytes(range(16)))
    b = Member(host=bytes([10, 77, 15, 2]), port=4001, unique_id=bytes(range(16, 32)))
    s = _session()
    value = dumps(session_to_java(s, pyver))
    backup = MapMessage(MAP, MSG_BACKUP, False, dumps(SID), value, None, p, (b,))
    [seen] = _read(dumps(backup.to_java(pyver)), version)
    assert seen["type"] == MSG_BACKUP and seen["mapId"] == MAP.decode() and seen["key"] == SID
    assert seen["primary"] == "{10, 77, 15, 50}:4000" and seen["nodes"] == ["{10, 77, 15, 2}:4001"]
    assert seen["valueClass"] == "org.apache.catalina.ha.session.DeltaSession"
    assert seen["session"] == {"id": SID, "maxInactive": 900,
                               "attributes": {"cart": "[book, pen]", "n": "7", "user": "alice"}}
    # a diff: the session's DeltaRequest bytes
    s.set_attribute("n", JavaInteger(8))
    s.remove_attribute("user")
    diff = MapMessage(MAP, MSG_BACKUP, True, dumps(SID), None, s.get_diff(pyver), p, (b,))
    [seen] = _read(dumps(diff.to_java(pyver)), version)
    assert seen["diff"] is True and seen["diffSession"] == SID and seen["diffActions"] == 2
    # RPCs: a RETRIEVE_BACKUP reply with the value, a PING reply with the State enum, a STATE list
    uuid = bytes(range(100, 116))
    retr = MapMessage(MAP, MSG_RETRIEVE_BACKUP, False, dumps(SID), value)
    rows = _read(dumps(RpcMessage(MAP, uuid, retr.to_java(pyver), reply=True).to_java()), version)
    assert rows[0]["rpc"] == "org.apache.catalina.tribes.group.RpcMessage" and rows[0]["reply"] is True
    assert rows[0]["uuid"] == uuid.hex() and rows[0]["rpcId"] == MAP.decode()
    assert rows[1]["session"]["attributes"]["cart"] == "[book, pen]"
    pong = MapMessage(MAP, MSG_PING, False, None, dumps(state_value("INITIALIZED")), None, p)
    rows = _read(dumps(RpcMessage(MAP, uuid, pong.to_java(pyver), reply=True).to_java()), version)
    assert rows[1]["state"] == "INITIALIZED" and rows[1]["primary"] == "{10, 77, 15, 50}:4000"
    items = JavaArrayList([MapMessage(MAP, MSG_PROXY, False, dumps(f"K{i}"), None, None, p, (b,)).to_java(pyver)
                           for i in range(3)])
    st = MapMessage(MAP, MSG_STATE, False, None, dumps(items))
    rows = _read(dumps(RpcMessage(MAP, uuid, st.to_java(pyver), reply=True).to_java()), version)
    assert [(r["type"], r["key"], r["depth"]) for r in rows[2:]] == [(MSG_PROXY, f"K{i}", 2) for i in range(3)]
    nr = RpcMessage(MAP, uuid, None, True, True)
    rows = _read(dumps(nr.to_java()), version)
    assert rows == [{"rpc": "org.apache.catalina.tribes.group.RpcMessage$NoRpcChannelReply", "reply": True,
                     "uuid": uuid.hex(), "rpcId": MAP.decode(), "depth": 0}]
