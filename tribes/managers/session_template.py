"""A template encoder for ``SessionMessageImpl`` streams (the send path's fast twin of
``dumps(msg.to_java())``).

Every SessionMessage stream starts with the same bytes: the stream header, TC_OBJECT and the class
descriptors of SessionMessageImpl and ClusterMessageBase (handles 0-4: the descriptor, the field type
strings ``Ljava/lang/String;`` and ``[B``, the ClusterMessageBase descriptor, the object). Those are
made once, by the general writer itself (``dumps`` of an all-null message), and only the per-message
values are written here: ClusterMessageBase.timestamp (always 0), mEvtType, serializationTimestamp,
timestampSet, then mContextName, mSession (a byte[]: its descriptor is written the first time, as
``dumps`` does), mSessionID and uniqueId. ``address`` is transient in Java and never on the wire; the
descriptors are the same for Tomcat 9.0 and 10.1 (SessionMessageImpl SUID 2, ClusterMessageBase SUID 1:
tests/vectors/javaser/<9.0|10.1>/tomcat_sessionmessage_evt*.ser).

The output is byte-identical to ``dumps(msg.to_java())`` (tests/unit/test_session_message_template.py,
a hypothesis property test). ``encode_template`` returns None for what the template does not cover, and
the caller takes the general path: a value of another type than ``int`` / ``str`` / ``bytes`` (e.g. a
JavaString keeping its raw bytes, a bytearray), an int outside its Java range, a string that could need
TC_LONGSTRING, a payload over 16 MiB (the general writer's limits apply there), a value that is the very
object of a descriptor's type string. Strings shared by identity become back-references, as in
``dumps``. At import the template checks itself against ``dumps`` and turns itself off on any difference.

>>> from tribes.managers.session_message import SessionMessage
>>> m = SessionMessage(4, "localhost#/app", "GET-ALL", None, "GET-ALL-localhost#/app", 5)
>>> encode_template(m) == m.encode()
True
"""
from __future__ import annotations

import logging
import struct

from tribes.javaser import ClassDesc, dumps
from tribes.managers.session_message import SESSION_MESSAGE_IMPL, SessionMessage

log = logging.getLogger("tribes.managers")

#: strings longer than this (in UTF-16 units: up to 6 modified UTF-8 bytes each once astral characters
#: are split) take the general path, so every template string fits TC_STRING's u2 length
MAX_TEMPLATE_STRING = 10_000
#: payloads larger than this take the general path (its Limits apply)
MAX_TEMPLATE_PAYLOAD = 16 * 1024 * 1024

_TC_NULL = 0x70
_TC_REFERENCE = 0x71
_TC_STRING = 0x74
_TC_ARRAY = 0x75
_BASE_WIRE_HANDLE = 0x7E0000

_PRIMS = struct.Struct(">QiqB")     # ClusterMessageBase.timestamp, mEvtType, serializationTimestamp, timestampSet
_U2 = struct.Struct(">H")
_I4 = struct.Struct(">i")
_REF = struct.Struct(">BI")

_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


def _build() -> tuple[bytes, bytes, int, tuple[object, ...]]:
    """(prefix up to the field values, the byte[] descriptor bytes, the first free handle, the type
    string objects of the descriptor), taken from the general writer's own output."""
    empty = dumps(SessionMessage(0, None, None, None, None, None).to_java())
    tail = _PRIMS.size + 4  # the primitives and four TC_NULLs
    if empty[-4:] != bytes([_TC_NULL]) * 4:
        raise ValueError("unexpected SessionMessageImpl field layout")
    prefix = empty[:-tail]
    arr = dumps(b"")
    if arr[:5] != b"\xac\xed\x00\x05" + bytes([_TC_ARRAY]) or arr[-4:] != b"\x00\x00\x00\x00":
        raise ValueError("unexpected byte[] layout")
    byte_array_desc = arr[5:-4]
    # handles: SessionMessageImpl desc, "Ljava/lang/String;", "[B", ClusterMessageBase desc, the object
    types: list[object] = []
    d: ClassDesc | None = SESSION_MESSAGE_IMPL
    while d is not None:
        for f in d.fields:
            if f.classname is not None:
                types.append(f.classname)
        d = d.superclass
    return prefix, byte_array_desc, 5, tuple(types)


try:
    _PREFIX, _BYTE_ARRAY_DESC, _FIRST_HANDLE, _TYPE_STRINGS = _build()
    _ENABLED = True
except Exception as exc:  # pragma: no cover - a javaser change the template does not know
    log.warning("SessionMessage template encoder disabled (%s); the general encoder is used", exc)
    _PREFIX, _BYTE_ARRAY_DESC, _FIRST_HANDLE, _TYPE_STRINGS = b"", b"", 0, ()
    _ENABLED = False

_NULL = bytes([_TC_NULL])
_TC_STRING_B = bytes([_TC_STRING])
_ARRAY_HEAD = bytes([_TC_ARRAY]) + _BYTE_ARRAY_DESC


def _mutf8(s: str) -> bytes:
    if s.isascii() and "\x00" not in s:
        return s.encode("ascii")
    from tribes.javaser.mutf8 import encode
    return encode(s)


def _string(v: str) -> bytes:
    """A new String: TC_STRING + u2 length + modified UTF-8 (the caller bounded its length)."""
    enc = v.encode("ascii") if v.isascii() and "\x00" not in v else _mutf8(v)
    return _TC_STRING_B + _U2.pack(len(enc)) + enc


def encode_template(msg: SessionMessage) -> bytes | None:
    """The stream ``dumps(msg.to_java())`` writes, or None where the template does not apply."""
    if not _ENABLED:
        return None
    evt = msg.event_type
    ts = msg.timestamp
    if type(evt) is not int or not _I32_MIN <= evt <= _I32_MAX:
        return None
    if ts is None:
        ts_v, ts_set = 0, 0
    elif type(ts) is int and _I64_MIN <= ts <= _I64_MAX:
        ts_v, ts_set = ts, 1
    else:
        return None
    payload = msg.session
    if payload is not None and (type(payload) is not bytes or len(payload) > MAX_TEMPLATE_PAYLOAD):
        return None
    ctx, sid, uid = msg.context_name, msg.session_id, msg.unique_id
    for v in (ctx, sid, uid):
        if v is not None:
            if type(v) is not str or len(v) > MAX_TEMPLATE_STRING:
                return None
            for t in _TYPE_STRINGS:
                if v is t:  # the writer refers back to the descriptor's own String
                    return None
    prims = _PRIMS.pack(0, evt, ts_v, ts_set)
    if (ctx is not None and (ctx is sid or ctx is uid)) or (sid is not None and sid is uid):
        return _encode_shared(prims, ctx, payload, sid, uid)
    # no String shared by identity: every value is new (handles are not needed)
    if payload is None:
        return b"".join((_PREFIX, prims, _NULL if ctx is None else _string(ctx), _NULL,
                         _NULL if sid is None else _string(sid), _NULL if uid is None else _string(uid)))
    return b"".join((_PREFIX, prims, _NULL if ctx is None else _string(ctx), _ARRAY_HEAD, _I4.pack(len(payload)),
                     payload, _NULL if sid is None else _string(sid), _NULL if uid is None else _string(uid)))


def _encode_shared(prims: bytes, ctx: str | None, payload: bytes | None, sid: str | None,
                   uid: str | None) -> bytes:
    """The same with back-references (TC_REFERENCE) to a String written before, by identity."""
    out = bytearray(_PREFIX)
    out += prims
    handles: dict[int, int] = {}
    nxt = _FIRST_HANDLE
    for v in (ctx, payload, sid, uid):
        if v is None:
            out.append(_TC_NULL)
            continue
        h = handles.get(id(v))
        if h is not None:
            out += _REF.pack(_TC_REFERENCE, _BASE_WIRE_HANDLE + h)
            continue
        if isinstance(v, bytes):
            out += _ARRAY_HEAD
            nxt += 1                    # the byte[] descriptor
            handles[id(v)] = nxt
            nxt += 1
            out += _I4.pack(len(v))
            out += v
            continue
        handles[id(v)] = nxt
        nxt += 1
        out += _string(v)
    return bytes(out)


def encode(msg: SessionMessage) -> bytes:
    """``dumps(msg.to_java())``: the template where it applies, else the general writer."""
    b = encode_template(msg)
    return b if b is not None else dumps(msg.to_java())


def _self_check() -> bool:
    samples = [
        SessionMessage(4, "localhost#/app", "GET-ALL", None, "GET-ALL-localhost#/app", 5),
        SessionMessage(13, "localhost#/\u00e9\U0001f600\x00", "ABC.node1", b"\x00\x01" * 300, "u-1", None),
        SessionMessage(12, "", "", b"", "", -1),
    ]
    shared = "same"
    samples.append(SessionMessage(1, shared, shared, b"x", shared, 1 << 40))
    return all(encode_template(m) == dumps(m.to_java()) for m in samples)


if _ENABLED and not _self_check():  # pragma: no cover - a javaser change the template does not know
    log.warning("SessionMessage template encoder disabled: it differs from the general encoder")
    _ENABLED = False


def enabled() -> bool:
    return _ENABLED


__all__ = ["encode_template", "encode", "enabled", "MAX_TEMPLATE_STRING", "MAX_TEMPLATE_PAYLOAD"]
