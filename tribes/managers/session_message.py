"""``SessionMessageImpl``: the Java-serialized envelope of every DeltaManager message.

Tomcat's ``org.apache.catalina.ha.session.SessionMessageImpl`` (SUID 2) extends
``org.apache.catalina.ha.ClusterMessageBase`` (SUID 1; its ``timestamp`` is always 0 on the wire
because SessionMessageImpl overrides the accessors, its ``address`` is transient). The bytes are
exactly what ``ObjectOutputStream.writeObject(msg)`` writes (proven against Tomcat-made vectors in
tests/unit/test_managers_codecs.py).

>>> m = SessionMessage(EVT_GET_ALL_SESSIONS, "localhost#/app", "GET-ALL", None, "GET-ALL-localhost#/app", 5)
>>> SessionMessage.decode(m.encode()) == m
True
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from tribes.channel import SerializedMessage
from tribes.javaser import ClassDesc, JavaObject, JavaSerializationError, Limits, dumps, loads

log = logging.getLogger("tribes.managers")

EVT_SESSION_CREATED = 1
EVT_SESSION_EXPIRED = 2
EVT_SESSION_ACCESSED = 3
EVT_GET_ALL_SESSIONS = 4
EVT_SESSION_DELTA = 13
EVT_ALL_SESSION_DATA = 12
EVT_ALL_SESSION_TRANSFERCOMPLETE = 14
EVT_CHANGE_SESSION_ID = 15
EVT_ALL_SESSION_NOCONTEXTMANAGER = 16

#: SessionMessageImpl.getEventTypeString() (note: 1 is "SESSION-MODIFIED" in Tomcat)
EVENT_NAMES: dict[int, str] = {
    EVT_SESSION_CREATED: "SESSION-MODIFIED",
    EVT_SESSION_EXPIRED: "SESSION-EXPIRED",
    EVT_SESSION_ACCESSED: "SESSION-ACCESSED",
    EVT_GET_ALL_SESSIONS: "SESSION-GET-ALL",
    EVT_SESSION_DELTA: "SESSION-DELTA",
    EVT_ALL_SESSION_DATA: "ALL-SESSION-DATA",
    EVT_ALL_SESSION_TRANSFERCOMPLETE: "SESSION-STATE-TRANSFERRED",
    EVT_CHANGE_SESSION_ID: "SESSION-ID-CHANGED",
    EVT_ALL_SESSION_NOCONTEXTMANAGER: "NO-CONTEXT-MANAGER",
}

CLASS_NAME = "org.apache.catalina.ha.session.SessionMessageImpl"
BASE_CLASS_NAME = "org.apache.catalina.ha.ClusterMessageBase"

CLUSTER_MESSAGE_BASE = ClassDesc.make(BASE_CLASS_NAME, 1, {"timestamp": "J"})
SESSION_MESSAGE_IMPL = ClassDesc.make(
    CLASS_NAME, 2,
    {"mEvtType": "I", "serializationTimestamp": "J", "timestampSet": "Z", "mContextName": "Ljava/lang/String;",
     "mSession": "[B", "mSessionID": "Ljava/lang/String;", "uniqueId": "Ljava/lang/String;"},
    superclass=CLUSTER_MESSAGE_BASE)


class SessionMessageError(ValueError):
    """A cluster message that is not a usable SessionMessageImpl (the message is dropped)."""


def event_name(event_type: int) -> str:
    return EVENT_NAMES.get(event_type, "UNKNOWN-EVENT-TYPE")


@dataclass(eq=True)
class SessionMessage:
    """One SessionMessageImpl. ``timestamp`` None = never set (``timestampSet`` false, sent as 0).

    ``session`` is the payload (``mSession``): a DeltaRequest, a session stream or a writeUTF id.
    ``address`` is the sender (transient in Java, set on receipt from the ChannelData).
    """

    event_type: int
    context_name: str | None
    session_id: str | None
    session: bytes | None = None
    unique_id: str | None = None
    timestamp: int | None = None
    address: Any = field(default=None, compare=False, repr=False)
    #: the payload decoded ahead (a DeltaRequest, a list of SessionState), e.g. in a worker thread
    #: so a large payload does not stall the event loop (tribes.managers.receive); None = not yet
    decoded: Any = field(default=None, compare=False, repr=False)

    @property
    def event_type_string(self) -> str:
        return event_name(self.event_type)

    def set_timestamp(self, t: int) -> None:
        """Java's setTimestamp: only the first call takes effect."""
        if self.timestamp is None:
            self.timestamp = int(t)

    def get_timestamp(self) -> int:
        return self.timestamp if self.timestamp is not None else 0

    def to_java(self) -> JavaObject:
        """The JavaObject GroupChannel serializes (``dumps`` gives Java's bytes)."""
        return JavaObject.new(SESSION_MESSAGE_IMPL, {
            "timestamp": 0,
            "mEvtType": self.event_type,
            "serializationTimestamp": self.get_timestamp(),
            "timestampSet": self.timestamp is not None,
            "mContextName": self.context_name,
            "mSession": self.session,
            "mSessionID": self.session_id,
            "uniqueId": self.unique_id,
        })

    def encode(self) -> bytes:
        return dumps(self.to_java())

    @classmethod
    def from_java(cls, obj: Any, address: Any = None) -> "SessionMessage":
        """From a decoded JavaObject of class SessionMessageImpl, or from its stream already serialized
        (a ``SerializedMessage``, as the cluster's send path hands it to the channel); raises
        SessionMessageError."""
        if isinstance(obj, SerializedMessage):
            return cls.decode(obj.data, address=address)
        if not isinstance(obj, JavaObject) or obj.class_name != CLASS_NAME:
            name = obj.class_name if isinstance(obj, JavaObject) else type(obj).__name__
            raise SessionMessageError(f"not a {CLASS_NAME}: {name}")
        f = obj.fields
        try:
            evt = int(f["mEvtType"])
            ts_set = bool(f.get("timestampSet", False))
            ts = int(f.get("serializationTimestamp", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise SessionMessageError(f"SessionMessageImpl without usable primitive fields: {exc}") from exc
        ctx, sid, uid, payload = f.get("mContextName"), f.get("mSessionID"), f.get("uniqueId"), f.get("mSession")
        for name, v in (("mContextName", ctx), ("mSessionID", sid), ("uniqueId", uid)):
            if v is not None and not isinstance(v, str):
                raise SessionMessageError(f"SessionMessageImpl.{name} is {type(v).__name__}, not a String")
        if payload is not None and not isinstance(payload, (bytes, bytearray)):
            raise SessionMessageError(f"SessionMessageImpl.mSession is {type(payload).__name__}, not byte[]")
        return cls(evt, None if ctx is None else str(ctx), None if sid is None else str(sid),
                   None if payload is None else bytes(payload), None if uid is None else str(uid),
                   ts if ts_set else None, address)

    @classmethod
    def decode(cls, data: bytes, limits: Limits | None = None, address: Any = None) -> "SessionMessage":
        try:
            obj = loads(data, limits) if limits is not None else loads(data)
        except JavaSerializationError as exc:
            raise SessionMessageError(f"corrupt SessionMessage stream: {exc}") from exc
        return cls.from_java(obj, address)

    def __str__(self) -> str:  # Tomcat's toString
        return f"{self.event_type_string}#{self.context_name}#{self.session_id}"


def is_session_message(obj: Any) -> bool:
    return isinstance(obj, JavaObject) and obj.class_name == CLASS_NAME


__all__ = [
    "EVT_SESSION_CREATED", "EVT_SESSION_EXPIRED", "EVT_SESSION_ACCESSED", "EVT_GET_ALL_SESSIONS",
    "EVT_SESSION_DELTA", "EVT_ALL_SESSION_DATA", "EVT_ALL_SESSION_TRANSFERCOMPLETE", "EVT_CHANGE_SESSION_ID",
    "EVT_ALL_SESSION_NOCONTEXTMANAGER", "EVENT_NAMES", "SessionMessage", "SessionMessageError", "event_name",
    "is_session_message", "SESSION_MESSAGE_IMPL", "CLUSTER_MESSAGE_BASE",
]
