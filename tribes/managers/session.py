"""``DeltaSession``: one replicated session (Tomcat's StandardSession + DeltaSession state).

Times are epoch milliseconds and are always passed in (``now``): the model never reads a clock.
Changes made through the setters are recorded in the session's :class:`DeltaRequest` (unless
``add_delta=False``, which is how replicated changes are applied) and leave with the next
``get_diff()``.

Validity (DeltaSession.isValid): a *primary* session (last used here) expires when idle for
``max_inactive_interval`` seconds and replicates its expiry; a *backup* copy (last changed by
another node) only after twice that, silently (the primary node is presumed dead).
"""
from __future__ import annotations

from typing import Any, Callable

from tribes.managers.delta_request import DeltaRequest

# Tomcat's StandardSession defaults
LAST_ACCESS_AT_START = False


def java_class_name(value: Any) -> str:
    """The Java class a javaser value stands for (``java.lang.Integer``, ``[B``, app classes...)."""
    from tribes import javaser as j
    t = type(value)
    if t is str or isinstance(value, j.JavaString):
        return "java.lang.String"
    if t is bool or isinstance(value, j.JavaBoolean):
        return "java.lang.Boolean"
    if isinstance(value, j.JavaObject):
        return value.class_name
    for cls, name in ((j.JavaInteger, "java.lang.Integer"), (j.JavaLong, "java.lang.Long"),
                      (j.JavaShort, "java.lang.Short"), (j.JavaByte, "java.lang.Byte"),
                      (j.JavaFloat, "java.lang.Float"), (j.JavaDouble, "java.lang.Double"),
                      (j.JavaCharacter, "java.lang.Character")):
        if isinstance(value, cls):
            return name
    if t is int:
        return "java.lang.Integer" if -(1 << 31) <= value < (1 << 31) else "java.lang.Long"
    if t is float:
        return "java.lang.Double"
    if isinstance(value, (bytes, bytearray)):
        return "[B"
    cn = getattr(value, "class_name", None) or getattr(value, "java_class", None)
    if isinstance(cn, str):
        return cn
    if isinstance(value, list):
        return "java.util.ArrayList"
    if isinstance(value, dict):
        return "java.util.HashMap"
    if isinstance(value, (set, frozenset)):
        return "java.util.HashSet"
    try:
        return str(j.to_json(value).get("class", t.__name__))
    except Exception:
        return t.__name__


class DeltaSession:
    """A session of one DeltaManager. Attribute values are javaser values (Java-typed)."""

    __slots__ = ("id", "creation_time", "last_accessed_time", "this_accessed_time", "max_inactive_interval",
                 "is_new", "is_valid", "version", "principal", "auth_type", "attributes", "_notes", "listeners",
                 "primary", "last_time_replicated", "access_count", "expiring", "_delta", "_record_all", "exclude")

    # memory: notes, listeners and the DeltaRequest are created only when used (most replicated
    # sessions never need them), which keeps a held session near Tomcat's heap cost

    def __init__(self, session_id: str | None = None, now: int = 0, record_all_actions: bool = False,
                 exclude: Callable[[str, Any], bool] | None = None) -> None:
        self.id = session_id
        self.creation_time = now
        self.last_accessed_time = now
        self.this_accessed_time = now
        self.max_inactive_interval = -1
        self.is_new = False
        self.is_valid = False
        self.version = 0
        self.principal: Any = None
        self.auth_type: str | None = None
        self.attributes: dict[str, Any] = {}
        self._notes: dict[str, Any] | None = None
        self.listeners: list[Any] | tuple[()] = ()
        self.primary = True
        self.last_time_replicated = now
        self.access_count = 0
        self.expiring = False
        self._delta: DeltaRequest | None = None
        self._record_all = record_all_actions
        self.exclude = exclude

    @property
    def delta_request(self) -> DeltaRequest:
        d = self._delta
        if d is None:
            d = self._delta = DeltaRequest(self.id, self._record_all)
        return d

    @delta_request.setter
    def delta_request(self, value: DeltaRequest) -> None:
        self._delta = value

    @property
    def notes(self) -> dict[str, Any]:
        n = self._notes
        if n is None:
            n = self._notes = {}
        return n

    @notes.setter
    def notes(self, value: dict[str, Any]) -> None:
        self._notes = value or None

    # -- identity -----------------------------------------------------------------------------
    def set_id(self, session_id: str) -> None:
        self.id = session_id
        if self._delta is not None:
            self._delta.session_id = session_id

    @property
    def id_base(self) -> str:
        """The id without the ``.jvmRoute`` suffix."""
        assert self.id is not None
        return self.id.split(".", 1)[0]

    @property
    def jvm_route(self) -> str | None:
        assert self.id is not None
        return self.id.split(".", 1)[1] if "." in self.id else None

    # -- attributes ---------------------------------------------------------------------------
    def _excluded(self, name: str, value: Any) -> bool:
        return self.exclude is not None and self.exclude(name, value)

    def get_attribute(self, name: str, default: Any = None) -> Any:
        return self.attributes.get(name, default)

    def set_attribute(self, name: str, value: Any, add_delta: bool = True) -> Any:
        """Set (or, with None, remove) an attribute; returns the old value."""
        if name is None:
            raise ValueError("attribute name cannot be null")
        if value is None:
            return self.remove_attribute(name, add_delta)
        old = self.attributes.get(name)
        self.attributes[name] = value
        if add_delta and not self._excluded(name, value):
            self.delta_request.set_attribute(name, value)
        return old

    def remove_attribute(self, name: str, add_delta: bool = True) -> Any:
        old = self.attributes.pop(name, None)
        if old is None:
            return None
        if add_delta and not self._excluded(name, None):
            self.delta_request.remove_attribute(name)
        return old

    def set_note(self, name: str, value: Any, add_delta: bool = True) -> None:
        if value is None:
            self.remove_note(name, add_delta)
            return
        self.notes[name] = value
        if add_delta:
            self.delta_request.set_note(name, value)

    def remove_note(self, name: str, add_delta: bool = True) -> None:
        self.notes.pop(name, None)
        if add_delta:
            self.delta_request.remove_note(name)

    # -- properties that replicate -----------------------------------------------------------------
    def set_max_inactive_interval(self, interval: int, add_delta: bool = True) -> None:
        self.max_inactive_interval = int(interval)
        if add_delta:
            self.delta_request.set_max_inactive_interval(interval)

    def set_new(self, is_new: bool, add_delta: bool = True) -> None:
        self.is_new = bool(is_new)
        if add_delta:
            self.delta_request.set_new(is_new)

    def set_principal(self, principal: Any, add_delta: bool = True) -> None:
        self.principal = principal
        if add_delta:
            self.delta_request.set_principal(principal)

    def set_auth_type(self, auth_type: str | None, add_delta: bool = True) -> None:
        self.auth_type = auth_type
        if add_delta:
            self.delta_request.set_auth_type(auth_type)

    # -- access -------------------------------------------------------------------------------
    def access(self, now: int) -> None:
        self.this_accessed_time = now
        self.access_count += 1

    def end_access(self, now: int) -> None:
        """StandardSession.endAccess: not new any more (no delta), access times = now."""
        self.is_new = False
        if LAST_ACCESS_AT_START:
            self.last_accessed_time = self.this_accessed_time
            self.this_accessed_time = now
        else:
            self.this_accessed_time = now
            self.last_accessed_time = self.this_accessed_time
        self.access_count = max(0, self.access_count - 1)

    def idle_ms(self, now: int) -> int:
        return now - (self.last_accessed_time if LAST_ACCESS_AT_START else self.this_accessed_time)

    def expiry_due(self, now: int) -> bool:
        """DeltaSession.isValid's test: idle past max (primary) or past 2 x max (backup)."""
        if not self.is_valid or self.expiring or self.max_inactive_interval <= 0:
            return False
        idle_s = self.idle_ms(now) // 1000
        limit = self.max_inactive_interval if self.primary else 2 * self.max_inactive_interval
        return idle_s >= limit

    def expires_at(self) -> int | None:
        """Epoch ms at which ``expiry_due`` becomes true (None: never)."""
        if self.max_inactive_interval <= 0:
            return None
        mult = 1 if self.primary else 2
        base = self.last_accessed_time if LAST_ACCESS_AT_START else self.this_accessed_time
        return base + mult * self.max_inactive_interval * 1000

    # -- replication --------------------------------------------------------------------------
    @property
    def is_dirty(self) -> bool:
        return self._delta is not None and self._delta.size > 0

    def get_diff(self, version: str | int = "10.1") -> bytes:
        """Serialize and swap in a fresh (empty) DeltaRequest (DeltaSession.getDiff)."""
        old = self.delta_request
        old.session_id = self.id
        self._delta = None
        return old.serialize(version)

    def reset_delta_request(self) -> None:
        self._delta = None

    def __repr__(self) -> str:
        return f"DeltaSession[{self.id}]"


__all__ = ["DeltaSession", "java_class_name"]
