"""``AbstractReplicatedMap$MapMessage``: the message of Tomcat's replicated maps (BackupManager).

Serializable, SUID 1; fields in stream order::

    boolean diff, int msgtype, byte[] diffvalue, byte[] keydata, byte[] mapId,
    Member[] nodes, Member primary, byte[] valuedata

``keydata`` and ``valuedata`` are complete Java streams of their own (``XByteBuffer.serialize``): the
key (a session id String) and the value (a ``DeltaSession``, the ``State`` enum of a PING reply, an
``ArrayList<MapMessage>`` of a STATE reply). ``diffvalue`` is raw DeltaRequest bytes. Members are
Externalizable ``MemberImpl`` objects (block data: ``int len`` + the member packet) whose computed
SUID differs between Tomcat 9.0 (3323947316117794076) and 10.1 (-8901659902996040089): the reader
takes both and says which it saw (``MapMessage.member_versions``), the writer writes ``version``'s.

Pure codec: ``MapMessage.from_java(value)`` / ``.to_java(version)``; keys and values stay bytes
here (``key_bytes``/``value_bytes``), the map decides how to read them.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Sequence

from tribes.io.errors import WireDecodeError
from tribes.javaser import (BlockData, ClassDesc, JavaArray, JavaObject, JavaSerializationError, Limits, dumps, loads)
from tribes.javaser.constants import SC_BLOCK_DATA, SC_EXTERNALIZABLE
from tribes.javaser.errors import DEFAULT_LIMITS
from tribes.membership.member import Member, decode_member, encode_member

__all__ = [
    "MSG_BACKUP", "MSG_RETRIEVE_BACKUP", "MSG_PROXY", "MSG_REMOVE", "MSG_STATE", "MSG_START", "MSG_STOP",
    "MSG_INIT", "MSG_COPY", "MSG_STATE_COPY", "MSG_ACCESS", "MSG_NOTIFY_MAPMEMBER", "MSG_PING", "TYPE_NAMES",
    "MAP_MESSAGE_CLASS", "MEMBER_IMPL_CLASS", "MEMBERIMPL_SUID", "STATE_CLASS", "MapMessage", "MapMessageError",
    "is_map_message", "member_to_java", "member_from_java", "member_impl_version", "state_value",
    "STATE_NAMES", "version_key",
]

MSG_BACKUP = 1
MSG_RETRIEVE_BACKUP = 2
MSG_PROXY = 3
MSG_REMOVE = 4
MSG_STATE = 5
MSG_START = 6
MSG_STOP = 7
MSG_INIT = 8
MSG_COPY = 9
MSG_STATE_COPY = 10
MSG_ACCESS = 11
MSG_NOTIFY_MAPMEMBER = 12
MSG_PING = 13

TYPE_NAMES = {MSG_BACKUP: "MSG_BACKUP", MSG_RETRIEVE_BACKUP: "MSG_RETRIEVE_BACKUP", MSG_PROXY: "MSG_PROXY",
              MSG_REMOVE: "MSG_REMOVE", MSG_STATE: "MSG_STATE", MSG_START: "MSG_START", MSG_STOP: "MSG_STOP",
              MSG_INIT: "MSG_INIT", MSG_COPY: "MSG_COPY", MSG_STATE_COPY: "MSG_STATE_COPY",
              MSG_ACCESS: "MSG_ACCESS", MSG_NOTIFY_MAPMEMBER: "MSG_NOTIFY_MAPMEMBER", MSG_PING: "MSG_PING"}

MAP_MESSAGE_CLASS = "org.apache.catalina.tribes.tipis.AbstractReplicatedMap$MapMessage"
MEMBER_IMPL_CLASS = "org.apache.catalina.tribes.membership.MemberImpl"
STATE_CLASS = "org.apache.catalina.tribes.tipis.AbstractReplicatedMap$State"
STATE_NAMES = ("NEW", "STATETRANSFERRED", "INITIALIZED", "DESTROYED")
MEMBERIMPL_SUID = {"9": 3323947316117794076, "10": -8901659902996040089}
_SUID_VERSION = {v: k for k, v in MEMBERIMPL_SUID.items()}

_MEMBER_ARRAY = "[Lorg.apache.catalina.tribes.Member;"
MAP_MESSAGE_DESC = ClassDesc.make(MAP_MESSAGE_CLASS, 1, {
    "diff": "Z", "msgtype": "I", "diffvalue": "[B", "keydata": "[B", "mapId": "[B",
    "nodes": "[Lorg/apache/catalina/tribes/Member;", "primary": "Lorg/apache/catalina/tribes/Member;",
    "valuedata": "[B"})
_MEMBER_DESCS = {v: ClassDesc(MEMBER_IMPL_CLASS, suid, SC_EXTERNALIZABLE | SC_BLOCK_DATA)
                 for v, suid in MEMBERIMPL_SUID.items()}


class MapMessageError(ValueError):
    """A MapMessage that cannot be read (it is dropped, nothing else changes)."""


def version_key(version: str | int) -> str:
    """"10.1" / 10 / "11.0" -> "10"; "9.0" / 9 -> "9" (the MemberImpl SUID families)."""
    major = int(str(version).split(".")[0])
    if major <= 9:
        return "9"
    return "10"


# Members repeat in every message and entry (a STATE reply of 10,000 entries names the same few
# nodes 20,000 times): both directions share one object per member. Bounded: a flood of distinct
# members empties a cache instead of growing it.
_CACHE_SIZE = 1024
_TO_JAVA: dict[tuple[bytes, str], JavaObject] = {}
_FROM_PACKET: dict[bytes, Member] = {}
#: id(MapMessage descriptor) -> (the descriptor, its field names in stream order)
_FIELD_NAMES: dict[int, tuple[Any, tuple[str, ...]]] = {}
#: id(MemberImpl object) -> (the object, its Member, its version): one STATE list refers back to the
#: same few member objects thousands of times (the object is kept, so its id cannot be reused)
_BY_OBJECT: dict[int, tuple[Any, Member, str | None]] = {}


def member_to_java(member: Member, version: str | int = "10.1") -> JavaObject:
    """The MemberImpl object of ``member``; the same object for the same member, so a stream that names
    a member twice refers back to it, as Java does for its one MemberImpl instance."""
    packet = encode_member(member)   # cached on the Member
    key = (packet, version_key(version))
    obj = _TO_JAVA.get(key)
    if obj is None:
        obj = JavaObject.new(_MEMBER_DESCS[key[1]],
                             annotations={MEMBER_IMPL_CLASS: [BlockData(struct.pack(">i", len(packet)) + packet)]})
        if len(_TO_JAVA) >= _CACHE_SIZE:
            _TO_JAVA.clear()
        _TO_JAVA[key] = obj
    return obj


def member_impl_version(obj: Any) -> str | None:
    """"9" or "10" from a MemberImpl object's descriptor SUID (None: another class or SUID)."""
    desc = getattr(obj, "desc", None)
    while desc is not None:
        if desc.name == MEMBER_IMPL_CLASS:
            return _SUID_VERSION.get(desc.suid)
        desc = desc.superclass
    return None


def member_from_java(obj: Any) -> Member:
    name = getattr(obj, "class_name", None)
    if name is None:
        raise MapMessageError(f"member is {type(obj).__name__}, not a MemberImpl")
    ann = obj.annotations(MEMBER_IMPL_CLASS)
    if ann is None:
        ann = obj.annotations() or []
    data = b"".join(a.data for a in ann if isinstance(a, BlockData))
    if len(data) < 4:
        raise MapMessageError("MemberImpl without data")
    (n,) = struct.unpack_from(">i", data, 0)
    if n < 0 or 4 + n > len(data):
        raise MapMessageError(f"MemberImpl data length {n} out of range")
    key = packet = data[4:4 + n]
    member = _FROM_PACKET.get(key)
    if member is None:
        try:
            member = decode_member(packet)
        except WireDecodeError as exc:
            raise MapMessageError(f"bad member packet in MapMessage: {exc}") from exc
        if len(_FROM_PACKET) >= _CACHE_SIZE:
            _FROM_PACKET.clear()
        _FROM_PACKET[key] = member
    return member


def key_bytes(key: Any) -> bytes:
    """``XByteBuffer.serialize(key)``: a stream holding ``key``; a plain ASCII String (a session id) is
    written directly (the same bytes as ObjectOutputStream: TC_STRING, u2 length, the characters)."""
    if type(key) is str and len(key) < 65536 and key.isascii() and "\x00" not in key:
        return b"\xac\xed\x00\x05t" + struct.pack(">H", len(key)) + key.encode("ascii")
    return dumps(key)


def state_value(name: str) -> Any:
    """The ``AbstractReplicatedMap$State`` enum constant (a PING reply's value)."""
    from tribes.javaser import JavaEnum
    return JavaEnum(STATE_CLASS, name)


def is_map_message(value: Any) -> bool:
    return getattr(value, "class_name", None) == MAP_MESSAGE_CLASS


@dataclass
class MapMessage:
    """One MapMessage. ``key_bytes``/``value_bytes`` are the serialized key/value streams (or None)."""

    map_id: bytes
    msgtype: int
    diff: bool = False
    key_bytes: bytes | None = None
    value_bytes: bytes | None = None
    diff_value: bytes | None = None
    primary: Member | None = None
    nodes: tuple[Member, ...] | None = None
    #: MemberImpl SUID families ("9"/"10") seen while reading this message
    member_versions: set[str] = field(default_factory=set)

    @property
    def type_desc(self) -> str:
        return TYPE_NAMES.get(self.msgtype, "UNKNOWN")

    @classmethod
    def new(cls, map_id: bytes, msgtype: int, diff: bool = False, key: Any = None, value: Any = None,
            diff_value: bytes | None = None, primary: Member | None = None,
            nodes: Sequence[Member] | None = None) -> "MapMessage":
        """Like Tomcat's constructor: ``key``/``value`` are Java values, serialized here (None stays null)."""
        return cls(map_id, msgtype, diff, key_bytes(key) if key is not None else None,
                   dumps(value) if value is not None else None, diff_value, primary,
                   tuple(nodes) if nodes is not None else None)

    def key(self, limits: Limits = DEFAULT_LIMITS) -> Any:
        kb = self.key_bytes
        if not kb:
            return None
        # a session id: one short String (TC_STRING) of plain ASCII, read directly
        if len(kb) > 7 and kb[:5] == b"\xac\xed\x00\x05t" and (kb[5] << 8 | kb[6]) == len(kb) - 7:
            body = kb[7:]
            if body.isascii() and b"\x00" not in body:
                return body.decode("ascii")
        try:
            return loads(kb, limits)
        except JavaSerializationError as exc:
            raise MapMessageError(f"{self.type_desc}: unreadable key: {exc}") from exc

    def value(self, limits: Limits = DEFAULT_LIMITS) -> Any:
        if not self.value_bytes:
            return None
        try:
            return loads(self.value_bytes, limits)
        except JavaSerializationError as exc:
            raise MapMessageError(f"{self.type_desc}: unreadable value: {exc}") from exc

    def with_value(self, value: Any) -> "MapMessage":
        """A copy with ``value`` serialized (Tomcat's setValue on the request, used for replies)."""
        return MapMessage(self.map_id, self.msgtype, self.diff, self.key_bytes,
                          dumps(value) if value is not None else None, self.diff_value, self.primary, self.nodes)

    def with_primary(self, member: Member | None) -> "MapMessage":
        return MapMessage(self.map_id, self.msgtype, self.diff, self.key_bytes, self.value_bytes,
                          self.diff_value, member, self.nodes)

    # -- Java form ------------------------------------------------------------------------------
    def to_java(self, version: str | int = "10.1") -> JavaObject:
        nodes = (JavaArray(_MEMBER_ARRAY, [member_to_java(m, version) for m in self.nodes])
                 if self.nodes is not None else None)
        return JavaObject.new(MAP_MESSAGE_DESC, {
            "diff": bool(self.diff), "msgtype": int(self.msgtype), "diffvalue": self.diff_value,
            "keydata": self.key_bytes, "mapId": self.map_id, "nodes": nodes,
            "primary": member_to_java(self.primary, version) if self.primary is not None else None,
            "valuedata": self.value_bytes})

    @classmethod
    def from_java(cls, value: Any) -> "MapMessage":
        if not is_map_message(value):
            raise MapMessageError(f"not a MapMessage: {getattr(value, 'class_name', type(value).__name__)}")
        cds = value.class_data
        if len(cds) == 1:   # the usual shape: read the field values by position, no dict
            cd = cds[0]
            hit = _FIELD_NAMES.get(id(cd.desc))
            if hit is not None and hit[0] is cd.desc:
                names = hit[1]
            else:
                names = tuple(fd.name for fd in cd.desc.fields)
                if len(_FIELD_NAMES) >= _CACHE_SIZE:
                    _FIELD_NAMES.clear()
                _FIELD_NAMES[id(cd.desc)] = (cd.desc, names)
            f = dict(zip(names, cd.values))
        else:
            f = value.fields
        versions: set[str] = set()

        def member(obj: Any) -> Member | None:
            if obj is None:
                return None
            hit = _BY_OBJECT.get(id(obj))
            if hit is not None and hit[0] is obj:   # a back-reference to a member already read
                m, v = hit[1], hit[2]
            else:
                v = member_impl_version(obj)
                m = member_from_java(obj)
                if len(_BY_OBJECT) >= _CACHE_SIZE:
                    _BY_OBJECT.clear()
                _BY_OBJECT[id(obj)] = (obj, m, v)
            if v is not None:
                versions.add(v)
            return m

        def raw(name: str) -> bytes | None:
            v = f.get(name)
            if v is None:
                return None
            if not isinstance(v, (bytes, bytearray)):
                raise MapMessageError(f"MapMessage.{name} is {type(v).__name__}, not byte[]")
            return bytes(v)

        msgtype = f.get("msgtype")
        if not isinstance(msgtype, int) or isinstance(msgtype, bool):
            raise MapMessageError("MapMessage without msgtype")
        map_id = raw("mapId")
        if map_id is None:
            raise MapMessageError("MapMessage without mapId")
        nodes_v = f.get("nodes")
        nodes: tuple[Member, ...] | None = None
        if nodes_v is not None:
            if not isinstance(nodes_v, list):
                raise MapMessageError(f"MapMessage.nodes is {type(nodes_v).__name__}, not Member[]")
            nodes = tuple(m for m in (member(x) for x in nodes_v) if m is not None)
        return cls(map_id, int(msgtype), bool(f.get("diff")), raw("keydata"), raw("valuedata"), raw("diffvalue"),
                   member(f.get("primary")), nodes, versions)

    def __repr__(self) -> str:
        return (f"MapMessage[context={self.map_id.decode('latin-1')}; type={self.type_desc}; "
                f"key={len(self.key_bytes or b'')}B; value={len(self.value_bytes or b'')}B; diff={self.diff}]")
