"""The session stream of ``EVT_ALL_SESSION_DATA`` (DeltaManager.serializeSessions / deserializeSessions).

``writeObject(Integer count)`` then, per session, DeltaSession.doWriteObject::

    Long creationTime, Long lastAccessedTime, Integer maxInactiveInterval, Boolean isNew,
    Boolean isValid, Long thisAccessedTime, Long version, writeBoolean(hasPrincipal),
    [principal], String id,
    [notes: SESSION_ID note, FORM_REQUEST note]   (10.1+ always; 9.0 only with persistAuthenticationNotes)
    Integer n, n x (String name, value), Integer listenerCount, listeners...

Reading accepts both layouts (like Tomcat: the object after ``id`` is either the Integer count or
the first note). An attribute whose writing failed in Java (TC_EXCEPTION for NotSerializableException)
is skipped, as DeltaSession does. Attribute values stay javaser values: unknown classes are
``JavaObject`` kept byte-exact, so they go back to Tomcat unchanged.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Iterable

from tribes.javaser import gc_paused
from tribes.javaser import (JavaInteger, JavaLong, JavaSerializationError, Limits, ObjectInputStream,
                            ObjectOutputStream, WriteAbortedError)
from tribes.javaser.errors import DEFAULT_LIMITS
from tribes.managers.principal import Principal, principal_to_java, tomcat_major

SESSION_ID_NOTE = "org.apache.catalina.authenticator.SESSION_ID"
FORM_REQUEST_NOTE = "org.apache.catalina.authenticator.REQUEST"


class SessionStateError(ValueError):
    """A session stream that cannot be read (the whole ALL_SESSION_DATA message is dropped)."""


@dataclass
class SessionState:
    """The replicated fields of one session as they travel."""

    id: str
    creation_time: int = 0
    last_accessed_time: int = 0
    max_inactive_interval: int = 1800
    is_new: bool = False
    is_valid: bool = True
    this_accessed_time: int = 0
    version: int = 0
    principal: Any = None
    notes: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    listeners: list[Any] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)   # attributes Java could not serialize


def write_session(out: ObjectOutputStream, s: Any, version: str | int = "10.1",
                  persist_authentication_notes: bool = False) -> None:
    """Write one session (a SessionState or a DeltaSession: same attribute names)."""
    out.write_object(JavaLong.value_of(s.creation_time))
    out.write_object(JavaLong.value_of(s.last_accessed_time))
    out.write_object(JavaInteger.value_of(s.max_inactive_interval))
    out.write_object(bool(s.is_new))
    out.write_object(bool(s.is_valid))
    out.write_object(JavaLong.value_of(s.this_accessed_time))
    out.write_object(JavaLong.value_of(s.version))
    p = s.principal
    out.write_boolean(p is not None)
    if p is not None:
        out.write_object(principal_to_java(p, version))
    out.write_object(s.id)
    if tomcat_major(version) >= 10 or persist_authentication_notes:
        out.write_object(s.notes.get(SESSION_ID_NOTE))
        out.write_object(s.notes.get(FORM_REQUEST_NOTE))
    items = [(k, s.attributes[k]) for k in chm_order(list(s.attributes)) if s.attributes[k] is not None]
    out.write_object(JavaInteger.value_of(len(items)))
    for k, v in items:
        # a fresh String per session, as Tomcat writes computed names (reading interns them)
        out.write_object(_fresh(k))
        out.write_object(v)
    out.write_object(JavaInteger.value_of(len(s.listeners)))
    for listener in s.listeners:
        out.write_object(listener)


def chm_order(keys: list[str]) -> list[str]:
    """String keys in the order a ``new ConcurrentHashMap<>()`` holding them iterates
    (StandardSession.attributes; DeltaSession writes ``keys()`` in that order). Table size:
    16, doubled while size >= 0.75 x table; bucket = spread(hashCode) & (n - 1); insertion order
    within a bucket (exact unless a resize split a bucket)."""
    from tribes.javaser.known import string_hash
    n = 16
    while len(keys) >= n - (n >> 2):
        n <<= 1
    mask = n - 1
    idx = []
    for i, k in enumerate(keys):
        if not isinstance(k, str):
            return keys
        h = string_hash(k) & 0xFFFFFFFF
        idx.append((((h ^ (h >> 16)) & 0x7FFFFFFF) & mask, i))
    idx.sort()
    return [keys[i] for _, i in idx]


def _fresh(s: str) -> str:
    """A new str object equal to ``s`` (the writer refers back to identical objects)."""
    return (s + "\0")[:-1] if s else s


def write_sessions(sessions: Iterable[Any], version: str | int = "10.1",
                   persist_authentication_notes: bool = False) -> bytes:
    """The ALL_SESSION_DATA payload for ``sessions`` (same bytes as Tomcat's serializeSessions)."""
    sessions = list(sessions)
    out = ObjectOutputStream()
    out.write_object(JavaInteger.value_of(len(sessions)))
    for s in sessions:
        write_session(out, s, version, persist_authentication_notes)
    return out.getvalue()


def _expect(v: Any, kind: type, what: str, off: int) -> Any:
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        raise SessionStateError(f"session stream: {what} is {type(v).__name__} (near offset {off})")
    return v


#: shared int objects for max-inactive intervals (a cluster uses a handful: 1800, 3600, ...)
_SMALL: dict[int, int] = {}


def read_session(ois: ObjectInputStream) -> SessionState:
    ro = ois.read_object
    off = ois.offset if hasattr(ois, "offset") else -1
    ct = int(_expect(ro(), int, "creationTime", off))
    la = int(_expect(ro(), int, "lastAccessedTime", off))
    mi = int(_expect(ro(), int, "maxInactiveInterval", off))
    is_new = bool(_expect(ro(), bool, "isNew", off))
    is_valid = bool(_expect(ro(), bool, "isValid", off))
    ta = int(_expect(ro(), int, "thisAccessedTime", off))
    if ta == la:
        ta = la                  # one int object, not two (usually equal: memory of a held session)
    mi = _SMALL.setdefault(mi, mi) if len(_SMALL) < 1024 else mi   # the same few intervals everywhere
    ver = int(_expect(ro(), int, "version", off))
    principal = Principal.from_java(ro()) if ois.read_boolean() else None
    sid = _expect(ro(), str, "id", off)
    st = SessionState(str(sid), ct, la, mi, is_new, is_valid, ta, ver, principal)
    nxt = ro()
    if not isinstance(nxt, JavaInteger):
        if nxt is not None:
            st.notes[SESSION_ID_NOTE] = nxt
        nxt = ro()
        if nxt is not None:
            st.notes[FORM_REQUEST_NOTE] = nxt
        nxt = ro()
    n = int(_expect(nxt, int, "attribute count", off))
    for _ in range(n):
        name = _expect(ro(), str, "attribute name", off)
        try:
            value = ro()
        except WriteAbortedError:
            st.skipped.append(str(name))
            continue
        if value is not None:
            st.attributes[sys.intern(str(name))] = value   # names repeat across sessions: share them
    nl = int(_expect(ro(), int, "listener count", off))
    st.listeners = [ro() for _ in range(nl)]
    return st


def read_sessions(data: bytes, limits: Limits = DEFAULT_LIMITS) -> list[SessionState]:
    """Every session of an ALL_SESSION_DATA payload (raises SessionStateError)."""
    try:
        ois = ObjectInputStream(data, limits)
        count = ois.read_object()
        if not isinstance(count, JavaInteger):
            raise SessionStateError(f"session stream starts with {type(count).__name__}, not Integer")
        if count < 0:
            raise SessionStateError(f"negative session count {int(count)}")
        with gc_paused():  # every object read survives: see tribes.javaser.gcpause
            return [read_session(ois) for _ in range(int(count))]
    except JavaSerializationError as exc:
        raise SessionStateError(f"corrupt session stream: {exc}") from exc


__all__ = ["SessionState", "SessionStateError", "read_session", "read_sessions", "write_session",
           "write_sessions", "SESSION_ID_NOTE", "FORM_REQUEST_NOTE"]
