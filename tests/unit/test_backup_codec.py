"""RpcMessage / NoRpcChannelReply / MapMessage / DeltaSession value: byte-exact against Tomcat 10.1 and 9.0.

Golden bytes: tests/vectors/backup/tomcat{10,9}.json, written by Tomcat's own classes
(interop/java/src/BackupVectors.java make; regenerated and cross-checked by
tests/interop/test_backup_java.py). Every vector is decoded, re-encoded and compared byte for byte.
"""
from __future__ import annotations

import json
import os
import struct

import pytest

from tribes.group.rpc import (NO_RPC_REPLY_CLASS, RpcMessage, RpcMessageError, decode_rpc, is_rpc_message,
                              no_rpc_channel_reply)
from tribes.javaser import BlockData, JavaObject, dumps, loads
from tribes.managers.backup import session_from_java, session_to_java
from tribes.managers.delta_request import DeltaRequest
from tribes.membership.member import decode_member
from tribes.tipis.map_message import (MSG_BACKUP, MSG_PING, MSG_PROXY, MSG_STATE, TYPE_NAMES, MapMessage,
                                      MapMessageError, member_from_java, member_to_java, state_value)

VECTORS = os.path.join(os.path.dirname(__file__), "..", "vectors", "backup")
MAP_ID = b"localhost#/app-map"
SID = "0123456789ABCDEF0123456789ABCDEF.tomcat1"


def vectors(major: str) -> dict[str, bytes]:
    with open(os.path.join(VECTORS, f"tomcat{major}.json")) as f:
        return {k: bytes.fromhex(v) for k, v in json.load(f)["vectors"].items()}


VERSIONS = [("10", "10.1"), ("9", "9.0")]


@pytest.mark.parametrize("major,version", VERSIONS)
def test_every_rpc_and_map_message_reencodes_byte_exact(major: str, version: str) -> None:
    seen_types = set()
    for name, data in vectors(major).items():
        if name.startswith(("MEMBER", "DIFF", "VALUE")):
            continue
        v = loads(data)
        if is_rpc_message(v):
            r = decode_rpc(v)
            mm = MapMessage.from_java(r.message) if r.message is not None else None
            out = RpcMessage(r.rpc_id, r.uuid, mm.to_java(version) if mm else None, r.reply, r.no_channel).to_java()
            assert r.rpc_id == MAP_ID and r.uuid == bytes(range(0xa0, 0xb0)), name
        else:
            mm = MapMessage.from_java(v)
            out = mm.to_java(version)
        if mm is not None:
            seen_types.add(mm.msgtype)
            assert mm.map_id == MAP_ID
            if mm.primary is not None or mm.nodes:
                assert mm.member_versions == {major}, name
        assert dumps(out) == data, name
    assert len(seen_types) >= 12


@pytest.mark.parametrize("major,version", VERSIONS)
def test_map_message_fields(major: str, version: str) -> None:
    v = vectors(major)
    mm = MapMessage.from_java(loads(v["MSG_PROXY"]))
    assert mm.msgtype == MSG_PROXY and mm.type_desc == "MSG_PROXY" and not mm.diff
    assert mm.key() == SID and mm.value() is None
    assert mm.primary is not None and mm.primary.host_str == "10.77.15.1" and mm.primary.port == 4000
    assert mm.nodes is not None and [n.host_str for n in mm.nodes] == ["10.77.15.50"]
    assert mm.primary.unique_id == bytes(range(1, 17))
    member_p = decode_member(v["MEMBER_P"])
    assert mm.primary == member_p
    diff = MapMessage.from_java(loads(v["MSG_BACKUP_DIFF"]))
    assert diff.msgtype == MSG_BACKUP and diff.diff and diff.diff_value == v["DIFF"]
    dr = DeltaRequest.deserialize(diff.diff_value)
    assert dr.session_id == SID and dr.size == 2
    assert dr.serialize(version) == v["DIFF"]
    # Python builds the same bytes from scratch
    built = MapMessage.new(MAP_ID, MSG_PROXY, key=SID, primary=mm.primary, nodes=mm.nodes)
    assert dumps(built.to_java(version)) == v["MSG_PROXY"]


@pytest.mark.parametrize("major,version", VERSIONS)
def test_ping_reply_state_and_state_list(major: str, version: str) -> None:
    v = vectors(major)
    pong = MapMessage.from_java(decode_rpc(loads(v["RPC_PING_REPLY"])).message)
    assert pong.msgtype == MSG_PING
    assert pong.value() == state_value("INITIALIZED")
    assert pong.value_bytes == dumps(state_value("INITIALIZED"))
    st = MapMessage.from_java(decode_rpc(loads(v["RPC_STATE_REPLY"])).message)
    assert st.msgtype == MSG_STATE
    items = [MapMessage.from_java(x) for x in st.value()]
    assert [(i.msgtype, i.key()) for i in items] == [(MSG_PROXY, SID), (MSG_PROXY, "OTHER.tomcat2")]
    assert all(i.member_versions == {major} for i in items)


@pytest.mark.parametrize("major,version", VERSIONS)
def test_delta_session_value_byte_exact(major: str, version: str) -> None:
    data = vectors(major)["VALUE_SESSION"]
    s = session_from_java(loads(data), 0)
    assert s.id == SID and s.max_inactive_interval == 1800 and s.creation_time == 1700000000000
    assert s.attributes["text"] == "héllo" and s.attributes["n"] == 42 and list(s.attributes["list"]) == ["x", 7]
    assert not s.primary
    assert dumps(session_to_java(s, version)) == data


def test_no_rpc_channel_reply() -> None:
    v = vectors("10")
    nr = decode_rpc(loads(v["NORPC"]))
    assert nr.no_channel and nr.reply and nr.message is None and nr.rpc_id == MAP_ID
    req = decode_rpc(loads(v["RPC_PING"]))
    assert not req.reply and not req.no_channel
    answer = no_rpc_channel_reply(req)
    assert answer is not None and dumps(answer.to_java()) == v["NORPC"]
    assert no_rpc_channel_reply(nr) is None   # never answer a NoRpcChannelReply (no loop)
    # Tomcat 9 writes the same bytes
    assert vectors("9")["NORPC"] == v["NORPC"]


def test_members_of_both_versions_and_cross_writing() -> None:
    m10 = MapMessage.from_java(loads(vectors("10")["MSG_PROXY"]))
    m9 = MapMessage.from_java(loads(vectors("9")["MSG_PROXY"]))
    assert m9.primary == m10.primary and m9.member_versions == {"9"} and m10.member_versions == {"10"}
    # what a 9.0 node sent, written for a 10.1 node, is exactly what a 10.1 node writes (the members'
    # alive times differ between the two Java runs: take each run's own members)
    assert dumps(MapMessage(m9.map_id, m9.msgtype, m9.diff, m9.key_bytes, m9.value_bytes, m9.diff_value,
                            m10.primary, m10.nodes).to_java("10.1")) == vectors("10")["MSG_PROXY"]
    assert dumps(MapMessage(m10.map_id, m10.msgtype, m10.diff, m10.key_bytes, m10.value_bytes, m10.diff_value,
                            m9.primary, m9.nodes).to_java("9.0")) == vectors("9")["MSG_PROXY"]
    assert member_from_java(member_to_java(m9.primary, "9.0")) == m9.primary


def _corrupt_rpc(block: bytes, objs: list[object]) -> JavaObject:
    from tribes.group.rpc import RPC_MESSAGE_CLASS, RPC_MESSAGE_DESC
    return JavaObject.new(RPC_MESSAGE_DESC, annotations={RPC_MESSAGE_CLASS: [BlockData(block), *objs]})


@pytest.mark.parametrize("block,objs", [
    (b"", []),                                                     # no data
    (b"\x00" + struct.pack(">i", 99) + b"x", ["m"]),               # uuid length past the end
    (b"\x00" + struct.pack(">i", -1), ["m"]),                      # negative length
    (b"\x00" + struct.pack(">i", 0) + struct.pack(">i", 0), []),   # no message object
    (b"\x00" + struct.pack(">i", 0) + struct.pack(">i", 0) + b"zz", ["m"]),  # trailing bytes
])
def test_corrupt_rpc_messages_raise_clear_errors(block: bytes, objs: list[object]) -> None:
    value = loads(dumps(_corrupt_rpc(block, objs)))
    with pytest.raises(RpcMessageError):
        decode_rpc(value)


def test_corrupt_map_messages_raise_clear_errors() -> None:
    good = loads(vectors("10")["MSG_PROXY"])
    good["mapId"] = None
    with pytest.raises(MapMessageError, match="mapId"):
        MapMessage.from_java(good)
    bad = loads(vectors("10")["MSG_PROXY"])
    bad["keydata"] = b"\xac\xed\x00\x05\x74\x00"
    with pytest.raises(MapMessageError, match="unreadable key"):
        MapMessage.from_java(bad).key()
    bad = loads(vectors("10")["MSG_PROXY"])
    bad["primary"] = "not a member"
    with pytest.raises(MapMessageError):
        MapMessage.from_java(bad)
    with pytest.raises(MapMessageError):
        MapMessage.from_java("a string")
    assert NO_RPC_REPLY_CLASS.endswith("$NoRpcChannelReply")
    assert len(TYPE_NAMES) == 13


@pytest.mark.parametrize("key", [SID, "", "a" * 70000, "héllo", "nul\x00inside", "x" * 65535, None])
def test_key_bytes_equal_object_output_stream(key: object) -> None:
    from tribes.javaser import JavaInteger
    from tribes.tipis.map_message import key_bytes
    k = JavaInteger(5) if key is None else key
    assert key_bytes(k) == dumps(k)
