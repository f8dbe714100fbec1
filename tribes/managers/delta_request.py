"""``DeltaRequest``: the changes of one session during one request (``EVT_SESSION_DELTA`` payload).

Wire form (Tomcat writes it with a direct ``writeExternal`` call, so there is no TC_OBJECT and no
class descriptor for DeltaRequest itself)::

    AC ED 00 05  writeUTF(sessionId) writeBoolean(recordAllActions) writeInt(n)
    n x AttributeInfo: writeInt(type) writeInt(action) writeUTF(name) writeBoolean(hasValue) [writeObject(value)]

Recording rule (``addAction``): unless ``record_all_actions``, a new action first removes the
first earlier action with the same *name* (whatever its type: AttributeInfo.equals compares names).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from tribes.javaser import JavaSerializationError, Limits, ObjectInputStream, ObjectOutputStream
from tribes.javaser.errors import DEFAULT_LIMITS

if TYPE_CHECKING:
    from tribes.managers.session import DeltaSession

TYPE_ATTRIBUTE = 0
TYPE_PRINCIPAL = 1
TYPE_ISNEW = 2
TYPE_MAXINTERVAL = 3
TYPE_AUTHTYPE = 4
TYPE_LISTENER = 5
TYPE_NOTE = 6

ACTION_SET = 0
ACTION_REMOVE = 1

NAME_PRINCIPAL = "__SET__PRINCIPAL__"
NAME_MAXINTERVAL = "__SET__MAXINTERVAL__"
NAME_ISNEW = "__SET__ISNEW__"
NAME_AUTHTYPE = "__SET__AUTHTYPE__"
NAME_LISTENER = "__SET__LISTENER__"

TYPE_NAMES = {TYPE_ATTRIBUTE: "attribute", TYPE_PRINCIPAL: "principal", TYPE_ISNEW: "isNew",
              TYPE_MAXINTERVAL: "maxInactiveInterval", TYPE_AUTHTYPE: "authType", TYPE_LISTENER: "listener",
              TYPE_NOTE: "note"}


class DeltaRequestError(ValueError):
    """A DeltaRequest payload that cannot be read or does not fit the session (message dropped)."""


@dataclass(slots=True)
class AttributeInfo:
    type: int
    action: int
    name: str
    value: Any = None


class DeltaRequest:
    """Tomcat's DeltaRequest: an ordered list of actions for ``session_id``."""

    __slots__ = ("session_id", "record_all_actions", "actions")

    def __init__(self, session_id: str | None = None, record_all_actions: bool = False) -> None:
        self.session_id = session_id
        self.record_all_actions = record_all_actions
        self.actions: list[AttributeInfo] = []

    # -- recording ----------------------------------------------------------------------------
    def add_action(self, type_: int, action: int, name: str, value: Any) -> None:
        if not self.record_all_actions:
            for i, a in enumerate(self.actions):
                if a.name == name:
                    del self.actions[i]
                    break
        self.actions.append(AttributeInfo(type_, action, name, value))

    def set_attribute(self, name: str, value: Any) -> None:
        self.add_action(TYPE_ATTRIBUTE, ACTION_REMOVE if value is None else ACTION_SET, name, value)

    def remove_attribute(self, name: str) -> None:
        self.add_action(TYPE_ATTRIBUTE, ACTION_REMOVE, name, None)

    def set_note(self, name: str, value: Any) -> None:
        self.add_action(TYPE_NOTE, ACTION_REMOVE if value is None else ACTION_SET, name, value)

    def remove_note(self, name: str) -> None:
        self.add_action(TYPE_NOTE, ACTION_REMOVE, name, None)

    def set_max_inactive_interval(self, interval: int) -> None:
        from tribes.javaser import JavaInteger
        self.add_action(TYPE_MAXINTERVAL, ACTION_SET, NAME_MAXINTERVAL, JavaInteger.value_of(int(interval)))

    def set_principal(self, principal: Any) -> None:
        """``principal`` is a :class:`tribes.managers.principal.Principal` (or a raw Java value)."""
        self.add_action(TYPE_PRINCIPAL, ACTION_REMOVE if principal is None else ACTION_SET, NAME_PRINCIPAL,
                        principal)

    def set_new(self, is_new: bool) -> None:
        self.add_action(TYPE_ISNEW, ACTION_SET, NAME_ISNEW, bool(is_new))

    def set_auth_type(self, auth_type: str | None) -> None:
        self.add_action(TYPE_AUTHTYPE, ACTION_REMOVE if auth_type is None else ACTION_SET, NAME_AUTHTYPE, auth_type)

    def add_session_listener(self, listener: Any) -> None:
        self.add_action(TYPE_LISTENER, ACTION_SET, NAME_LISTENER, listener)

    def remove_session_listener(self, listener: Any) -> None:
        self.add_action(TYPE_LISTENER, ACTION_REMOVE, NAME_LISTENER, listener)

    # -- state --------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(self.actions)

    def __len__(self) -> int:
        return len(self.actions)

    def __iter__(self) -> Iterator[AttributeInfo]:
        return iter(self.actions)

    def reset(self) -> None:
        self.actions.clear()

    # -- wire ---------------------------------------------------------------------------------
    def write_external(self, out: ObjectOutputStream, version: str | int = "10.1") -> None:
        from tribes.managers.principal import principal_to_java
        if self.session_id is None:
            raise DeltaRequestError("a DeltaRequest needs a session id before it is written")
        out.write_utf(self.session_id)
        out.write_boolean(self.record_all_actions)
        out.write_int(len(self.actions))
        for a in self.actions:
            out.write_int(a.type)
            out.write_int(a.action)
            out.write_utf(a.name)
            out.write_boolean(a.value is not None)
            if a.value is not None:
                out.write_object(principal_to_java(a.value, version) if a.type == TYPE_PRINCIPAL else a.value)

    def serialize(self, version: str | int = "10.1") -> bytes:
        """The EVT_SESSION_DELTA payload (same bytes as Tomcat's ``DeltaRequest.serialize``)."""
        out = ObjectOutputStream()
        self.write_external(out, version)
        return out.getvalue()

    @classmethod
    def read_external(cls, ois: ObjectInputStream) -> "DeltaRequest":
        from tribes.managers.principal import Principal
        try:
            dr = cls(ois.read_utf(), ois.read_boolean())
            n = ois.read_int()
            if n < 0:
                raise DeltaRequestError(f"negative action count {n}")
            for _ in range(n):
                type_, action, name = ois.read_int(), ois.read_int(), sys.intern(ois.read_utf())
                value = ois.read_object() if ois.read_boolean() else None
                if type_ == TYPE_PRINCIPAL:
                    value = Principal.from_java(value)
                dr.actions.append(AttributeInfo(type_, action, name, value))
        except JavaSerializationError as exc:
            raise DeltaRequestError(f"corrupt DeltaRequest: {exc}") from exc
        return dr

    @classmethod
    def deserialize(cls, data: bytes, limits: Limits = DEFAULT_LIMITS) -> "DeltaRequest":
        try:
            ois = ObjectInputStream(data, limits)
        except JavaSerializationError as exc:
            raise DeltaRequestError(f"corrupt DeltaRequest: {exc}") from exc
        return cls.read_external(ois)

    # -- execution (DeltaRequest.execute) ------------------------------------------------------
    def execute(self, session: "DeltaSession", notify_listeners: bool, now: int) -> list[tuple[str, str, Any, Any]]:
        """Apply the actions to ``session`` without re-recording them; returns attribute changes
        as ``(kind, name, value, old)`` with kind ``added``/``replaced``/``removed``."""
        if self.session_id != session.id:
            raise DeltaRequestError(f"DeltaRequest for session {self.session_id!r} applied to {session.id!r}")
        # all or nothing: a bad action (Tomcat: a ClassCastException half way, with the earlier
        # actions left applied) restores the session as it was and raises DeltaRequestError
        saved = _save(session)
        try:
            return self._execute(session, now)
        except Exception as exc:
            _restore(session, saved)
            raise DeltaRequestError(f"DeltaRequest for {self.session_id} not applied (nothing of it kept): "
                                    f"{type(exc).__name__}: {exc}") from exc

    def _execute(self, session: "DeltaSession", now: int) -> list[tuple[str, str, Any, Any]]:
        session.access(now)
        changes: list[tuple[str, str, Any, Any]] = []
        for a in self.actions:
            t = a.type
            if t == TYPE_ATTRIBUTE:
                if a.action == ACTION_SET:
                    old = session.attributes.get(a.name)
                    session.set_attribute(a.name, a.value, add_delta=False)
                    changes.append(("replaced" if old is not None else "added", a.name, a.value, old))
                else:
                    old = session.attributes.get(a.name)
                    session.remove_attribute(a.name, add_delta=False)
                    if old is not None:
                        changes.append(("removed", a.name, None, old))
            elif t == TYPE_ISNEW:
                session.set_new(bool(a.value), add_delta=False)
            elif t == TYPE_MAXINTERVAL:
                v = a.value
                # Java casts to Integer: a Double (even an infinite one), a Long or a String is an error
                if isinstance(v, bool) or not isinstance(v, int) or isinstance(v, float) \
                        or getattr(v, "java_class", "java.lang.Integer") != "java.lang.Integer" \
                        or not -(1 << 31) <= int(v) < (1 << 31):
                    raise DeltaRequestError(f"maxInactiveInterval {v!r} is not a java.lang.Integer")
                session.set_max_inactive_interval(int(v), add_delta=False)
            elif t == TYPE_PRINCIPAL:
                session.set_principal(a.value if a.action == ACTION_SET else None, add_delta=False)
            elif t == TYPE_AUTHTYPE:
                session.set_auth_type(a.value if a.action == ACTION_SET else None, add_delta=False)
            elif t == TYPE_LISTENER:
                if a.action == ACTION_SET:
                    session.listeners = [*session.listeners, a.value]
                else:
                    session.listeners = [x for x in session.listeners if x is not a.value]
            elif t == TYPE_NOTE:
                if a.action == ACTION_SET:
                    session.set_note(a.name, a.value, add_delta=False)
                else:
                    session.remove_note(a.name, add_delta=False)
            # unknown types: Tomcat logs a warning and goes on
        session.end_access(now)
        return changes

    def __repr__(self) -> str:
        return f"DeltaRequest({self.session_id!r}, {len(self.actions)} actions)"


_COPIED = {"attributes": dict, "_notes": dict, "listeners": list}


def _save(session: Any) -> dict[str, Any]:
    """Every slot of a DeltaSession (the mutable containers copied) for ``_restore``."""
    out: dict[str, Any] = {}
    for name in type(session).__slots__:
        if hasattr(session, name):
            v = getattr(session, name)
            copy = _COPIED.get(name)
            out[name] = copy(v) if copy is not None and v is not None else v
    return out


def _restore(session: Any, saved: dict[str, Any]) -> None:
    for name, v in saved.items():
        current = getattr(session, name, None)
        if _COPIED.get(name) is not None and current is not None and v is not None and type(current) is type(v):
            # the same container object again (others may hold it), with its old content
            current.clear()
            if isinstance(v, dict):
                current.update(v)
            else:
                current.extend(v)
        else:
            setattr(session, name, v)


__all__ = [
    "AttributeInfo", "DeltaRequest", "DeltaRequestError", "TYPE_ATTRIBUTE", "TYPE_PRINCIPAL", "TYPE_ISNEW",
    "TYPE_MAXINTERVAL", "TYPE_AUTHTYPE", "TYPE_LISTENER", "TYPE_NOTE", "ACTION_SET", "ACTION_REMOVE",
    "NAME_PRINCIPAL", "NAME_MAXINTERVAL", "NAME_ISNEW", "NAME_AUTHTYPE", "NAME_LISTENER", "TYPE_NAMES",
]
