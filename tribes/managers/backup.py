"""``BackupManager``: a Python node in a Tomcat cluster whose contexts use BackupManager.

Tomcat's BackupManager keeps a context's sessions in a ``LazyReplicatedMap`` named
``<manager name>-map`` (``localhost#/app-map``): one primary and one backup node per session, a
proxy entry (key, primary, backup) everywhere else. This module is that manager:

* the map values are :class:`~tribes.managers.session.DeltaSession` objects; on the wire a value is
  an Externalizable ``org.apache.catalina.ha.session.DeltaSession`` (SUID 296450023228352885 in 9.0
  and 10.1, super-descriptor ``StandardSession`` SUID 1) whose external data is the per-session
  layout of the session-state stream (``tribes.managers.session_state``), and a diff is the
  session's DeltaRequest bytes (``SessionCodec``, Tomcat's ``ReplicatedMapEntry`` of DeltaSession);
* ``create_session`` puts the session in the map (BACKUP with the full value to the next member,
  round-robin, PROXY to the rest); ``end_request`` is ReplicationValve + ``requestCompleted``
  (``map.replicate(id, false)``: the diff, or ACCESS when only the idle time needs refreshing);
  ``invalidate`` and expiry remove it (REMOVE to every map member);
* a request for a session held only as a proxy fetches it (``await load(id)``: RETRIEVE_BACKUP, then
  this node is primary, NOTIFY_MAPMEMBER to the backup, PROXY to the others).

Attributes and defaults are Tomcat's (``BackupManagerConfig``): ``mapSendOptions`` 6,
``rpcTimeout`` 15000, ``accessTimeout`` 5000, ``terminateOnStartFailure`` false,
``notifyListenersOnReplication`` true, and the ManagerBase ones.
"""
from __future__ import annotations

import contextlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from tribes.javaser import (BlockData, ClassDesc, JavaObject, JavaSerializationError, JavaWriteAborted, WriteAbortedError,
                            dumps, loads)
from tribes.javaser.constants import SC_BLOCK_DATA, SC_EXTERNALIZABLE
from tribes.managers.delta_manager import SessionEvent, ClusterManagerBase, TooManyActiveSessionsException
from tribes.managers.delta_request import DeltaRequest
from tribes.managers.session import DeltaSession
from tribes.managers.session_state import SessionStateError, read_session, write_session
from tribes.tipis.lazy_map import LazyReplicatedMap
from tribes.tipis.replicated_map import MapEntry

log = logging.getLogger("tribes.managers.backup")

__all__ = ["BackupManagerConfig", "BackupManager", "SessionCodec", "DELTA_SESSION_CLASS", "DELTA_SESSION_DESC",
           "session_to_java", "session_from_java"]

DELTA_SESSION_CLASS = "org.apache.catalina.ha.session.DeltaSession"
STANDARD_SESSION_DESC = ClassDesc.make("org.apache.catalina.session.StandardSession", 1, {
    "creationTime": "J", "isNew": "Z", "isValid": "Z", "lastAccessedTime": "J", "maxInactiveInterval": "I",
    "thisAccessedTime": "J", "attributes": "Ljava/util/concurrent/ConcurrentMap;", "id": "Ljava/lang/String;"})
DELTA_SESSION_DESC = ClassDesc(DELTA_SESSION_CLASS, 296450023228352885, SC_EXTERNALIZABLE | SC_BLOCK_DATA, (),
                               STANDARD_SESSION_DESC)


@dataclass
class BackupManagerConfig:
    """BackupManager / ClusterManagerBase / ManagerBase attributes with Tomcat's defaults (snake_case)."""

    map_send_options: int = 6
    rpc_timeout: int = 15000
    access_timeout: int = 5000
    terminate_on_start_failure: bool = False
    notify_listeners_on_replication: bool = True
    record_all_actions: bool = False
    max_active_sessions: int = -1
    session_attribute_name_filter: str | None = None
    session_attribute_value_class_name_filter: str | None = None
    warn_on_session_attribute_filter_failure: bool = False
    process_expires_frequency: int = 6
    persist_authentication_notes: bool = False
    session_timeout: int = 30                   # the context's <session-timeout> in minutes
    session_id_length: int = 16

    #: ManagerBase/ClusterManagerBase attributes that exist in Tomcat but change nothing in a Python node
    _ACCEPTED = {"className", "name", "secureRandomClass", "secureRandomAlgorithm", "secureRandomProvider",
                 "pathname", "duplicates", "sessionCounter", "maxActive", "sessionMaxAliveTime",
                 "sessionAverageAliveTime", "notifyBindingListenerOnUnchangedValue",
                 "notifyAttributeListenerOnUnchangedValue", "processingTime"}

    @classmethod
    def from_attributes(cls, attrs: dict[str, Any]) -> "BackupManagerConfig":
        """From server.xml's camelCase attribute names (the one mapping, ``tribes.attributes``). A
        DeltaManager-only attribute gets a warning and is ignored, as Tomcat's digester does
        (``expireSessionsOnShutdown`` on a BackupManager)."""
        from tribes.attributes import attribute_name, coerce, parameters, python_name
        from tribes.channel import parse_send_options
        params = parameters(cls)
        kw: dict[str, Any] = {}
        for k, v in attrs.items():
            if k in cls._ACCEPTED:
                continue
            py = python_name(k)
            if py not in params:
                log.warning("BackupManager has no attribute %r: ignored (known: %s)", k,
                            ", ".join(sorted(attribute_name(p) for p in params)))
                continue
            if py == "map_send_options":
                v = parse_send_options(v)
                if v <= 0:  # Tomcat keeps the default for a value that parses to 0
                    continue
            else:
                v = coerce(v, params[py])
            kw[py] = v
        return cls(**kw)


# -- the value: DeltaSession <-> Externalizable DeltaSession ------------------------------------------------
class _Recorder:
    """The ObjectOutput a DeltaSession writes its external data to: items for JavaObject annotations."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def write_object(self, v: Any) -> None:
        self.items.append(v)

    def write_boolean(self, b: bool) -> None:
        self.items.append(BlockData(b"\x01" if b else b"\x00"))


class _ItemInput:
    """ObjectInput over the external data items of a deserialized DeltaSession."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.i = 0
        self.buf = b""
        self.pos = 0

    def _next(self) -> Any:
        if self.i >= len(self.items):
            raise SessionStateError("DeltaSession data ends early")
        item = self.items[self.i]
        self.i += 1
        return item

    def read_object(self) -> Any:
        if self.pos < len(self.buf):
            raise SessionStateError("DeltaSession data: primitive data where an object was expected")
        item = self._next()
        if isinstance(item, BlockData):
            raise SessionStateError("DeltaSession data: primitive data where an object was expected")
        if isinstance(item, JavaWriteAborted):
            raise WriteAbortedError("attribute value not serializable", None, item.exception)
        return item

    def read_boolean(self) -> bool:
        if self.pos >= len(self.buf):
            item = self._next()
            if not isinstance(item, BlockData) or not item.data:
                raise SessionStateError("DeltaSession data: an object where a boolean was expected")
            self.buf, self.pos = item.data, 0
        b = self.buf[self.pos] != 0
        self.pos += 1
        return b


def session_to_java(s: Any, version: str = "10.1", persist_authentication_notes: bool = False) -> JavaObject:
    rec = _Recorder()
    write_session(rec, s, version, persist_authentication_notes)
    return JavaObject.new(DELTA_SESSION_DESC, annotations={DELTA_SESSION_CLASS: rec.items})


def session_from_java(value: Any, now: int, record_all_actions: bool = False,
                      exclude: Callable[[str, Any], bool] | None = None) -> DeltaSession:
    if getattr(value, "class_name", None) != DELTA_SESSION_CLASS:
        raise SessionStateError(f"map value is {getattr(value, 'class_name', type(value).__name__)}, "
                                "not a DeltaSession")
    st = read_session(_ItemInput(list(value.annotations(DELTA_SESSION_CLASS) or [])))
    s = DeltaSession(None, now, record_all_actions, exclude)
    s.creation_time = st.creation_time
    s.last_accessed_time = st.last_accessed_time
    s.this_accessed_time = st.this_accessed_time
    s.max_inactive_interval = st.max_inactive_interval
    s.is_new = st.is_new
    s.is_valid = st.is_valid
    s.version = st.version
    s.principal = st.principal
    if st.notes:
        s.notes = dict(st.notes)
    s.attributes = st.attributes
    if st.listeners:
        s.listeners = list(st.listeners)
    s.set_id(st.id)
    s.primary = False
    return s


class SessionCodec:
    """DeltaSession's ReplicatedMapEntry + BackupManager's MapOwner, for the map core."""

    def __init__(self, manager: "BackupManager") -> None:
        self.manager = manager

    def encode_value(self, value: Any) -> bytes:
        m = self.manager
        return dumps(session_to_java(value, m.tomcat_version, m.config.persist_authentication_notes))

    def decode_value(self, data: bytes, now: int) -> Any:
        m = self.manager
        try:
            return session_from_java(loads(data), now, m.config.record_all_actions, m.exclude)
        except JavaSerializationError as exc:
            raise SessionStateError(f"unreadable DeltaSession: {exc}") from exc

    def is_diffable(self, value: Any) -> bool:
        return True

    def is_dirty(self, value: Any) -> bool:
        return bool(value.is_dirty)

    def is_access_replicate(self, value: Any, now: int) -> bool:
        mi = value.max_inactive_interval
        return bool(mi >= 0 and now - value.last_time_replicated > mi * 1000)

    def get_diff(self, value: Any) -> bytes:
        return bytes(value.get_diff(self.manager.tomcat_version))

    def apply_diff(self, value: Any, diff: bytes, now: int) -> None:
        m = self.manager
        dr = DeltaRequest.deserialize(diff)
        changes = dr.execute(value, m.config.notify_listeners_on_replication, now)
        for kind, name, v, old in changes:
            m._fire_attr(f"attribute_{kind}", value.id, True, name=name, value=v, old_value=old)

    def access_entry(self, value: Any, now: int) -> None:
        value.access(now)
        value.primary = False
        value.end_access(now)

    def set_owner(self, value: Any, now: int) -> None:
        value.is_valid = True
        value.primary = False
        value.access(now)
        value.reset_delta_request()
        value.end_access(now)

    def set_last_time_replicated(self, value: Any, now: int) -> None:
        value.last_time_replicated = now

    def object_made_primary(self, key: Any, value: Any, now: int) -> None:
        if isinstance(value, DeltaSession):
            value.access(now)
            value.primary = True
            value.end_access(now)


class BackupManager(ClusterManagerBase):
    """The sessions of one context (``name`` = ``localhost#/app``) in a ``LazyReplicatedMap``."""

    #: the settings a <Manager className="...BackupManager"> configures (tribes.config.build)
    config_class = BackupManagerConfig
    config: BackupManagerConfig

    def __init__(self, name: str, config: BackupManagerConfig | None = None, jvm_route: str | None = None,
                 tomcat_version: str | int = "10.1") -> None:
        self.name = name
        self.config = config or BackupManagerConfig()
        self.jvm_route = jvm_route
        self.tomcat_version = str(tomcat_version)
        self.map: LazyReplicatedMap | None = None
        #: the BackupContext handed out by SimpleTcpCluster.manager()
        self.context: Any = None
        self.codec = SessionCodec(self)
        self.listeners: list[Callable[[SessionEvent], None]] = []
        #: called with a session id whenever another member changed, moved or removed that entry
        self.change_listeners: list[Callable[[Any], None]] = []
        self.expired_sessions = 0
        self.rejected_sessions = 0
        self._init_filters()

    @property
    def map_name(self) -> str:
        return f"{self.name}-map"

    # -- life cycle ------------------------------------------------------------------------------
    async def start(self, channel: Any) -> None:
        """BackupManager.startInternal: the LazyReplicatedMap (INIT, STATE, START)."""
        c = self.config
        self.map = LazyReplicatedMap(channel, self.map_name, self.codec, rpc_timeout=c.rpc_timeout,
                                     channel_send_options=c.map_send_options, access_timeout=c.access_timeout,
                                     terminate=c.terminate_on_start_failure, tomcat_version=self.tomcat_version)
        self.map.change_listeners.append(self._changed)
        await self.map.start()

    async def stop(self) -> None:
        if self.map is not None:
            await self.map.stop()

    async def flush(self) -> None:
        if self.map is not None:
            await self.map.flush()

    def _map(self) -> LazyReplicatedMap:
        if self.map is None:
            raise RuntimeError(f"BackupManager {self.name} is not started")
        return self.map

    # -- listeners -------------------------------------------------------------------------------
    def add_change_listener(self, listener: Callable[[Any], None]) -> None:
        """``listener(session_id)`` for every map message from another member that changed, moved
        or removed that entry (a diff or full copy, a new primary, a removal): for value caches."""
        self.change_listeners.append(listener)

    def remove_change_listener(self, listener: Callable[[Any], None]) -> None:
        if listener in self.change_listeners:
            self.change_listeners.remove(listener)

    def _changed(self, key: Any) -> None:
        for listener in list(self.change_listeners):
            listener(key)

    def is_proxy(self, session_id: str) -> bool:
        """True when this node holds ``session_id`` only as a proxy (its value lives elsewhere)."""
        entry = self.map.entry(session_id) if self.map is not None else None
        return entry is not None and entry.proxy

    def rotate_session_id(self, session: DeltaSession, now: int, new_id: str | None = None) -> str:
        """ManagerBase.changeSessionId (a login; ``new_id`` None: a fresh id): StandardSession.setId
        removes the old key from the map (REMOVE to every map member) and puts the new one (BACKUP + PROXY)."""
        old = session.id
        nid = new_id or self.generate_session_id()
        if old is not None:
            self._map().remove(old)
        session.set_id(nid)
        self._map().put(nid, session)
        self._fire(SessionEvent("id_changed", self.name, nid, False, old_id=old))
        return nid

    # -- sessions ----------------------------------------------------------------------------------
    @property
    def sessions(self) -> dict[str, DeltaSession]:
        """Sessions held here with a value (primary and backup; Tomcat's findSessions)."""
        if self.map is None:
            return {}
        return {k: e.value for k, e in self.map.entries.items() if e.is_active and e.value is not None}

    def entries(self) -> Iterator[MapEntry]:
        if self.map is not None:
            yield from list(self.map.entries.values())

    def generate_session_id(self) -> str:
        while True:
            sid = secrets.token_hex(self.config.session_id_length).upper()
            if self.jvm_route:
                sid += "." + self.jvm_route
            if self.map is None or sid not in self.map.entries:
                return sid

    def create_session(self, now: int, session_id: str | None = None) -> DeltaSession:
        """ManagerBase.createSession: a new primary session, published to a backup and proxies."""
        mas = self.config.max_active_sessions
        if mas >= 0 and len(self.sessions) >= mas:
            self.rejected_sessions += 1
            raise TooManyActiveSessionsException(mas)
        s = DeltaSession(None, now, self.config.record_all_actions, self.exclude)
        s.set_new(True)
        s.is_valid = True
        s.creation_time = s.last_accessed_time = s.this_accessed_time = now
        s.set_max_inactive_interval(self.config.session_timeout * 60)
        s.set_id(session_id or self.generate_session_id())
        s.reset_delta_request()  # the full value goes with the BACKUP message
        assert s.id is not None
        self._map().put(s.id, s)
        self._fire(SessionEvent("created", self.name, s.id, False))
        return s

    def find_session(self, session_id: str) -> DeltaSession | None:
        """The session if held here (a backup is made primary here, as Tomcat's map.get); None for a proxy."""
        entry = self.map.entry(session_id) if self.map is not None else None
        if entry is None or entry.proxy:
            return None
        value = self._map().get_local(session_id)
        return value if isinstance(value, DeltaSession) else None

    async def load(self, session_id: str) -> DeltaSession | None:
        """findSession for a request: a proxy is fetched from its backup (RETRIEVE_BACKUP)."""
        value = await self._map().get(session_id)
        return value if isinstance(value, DeltaSession) else None

    def get_session(self, session_id: str, now: int) -> DeltaSession | None:
        s = self.find_session(session_id)
        if s is None:
            return None
        if s.expiry_due(now):
            self._expire(s, now)
            return None
        return s if s.is_valid else None

    def end_request(self, session_id: str, now: int) -> None:
        """ReplicationValve + BackupManager.requestCompleted: ``map.replicate(id, false)``."""
        entry = self.map.entry(session_id) if self.map is not None else None
        if entry is None or entry.value is None:
            return
        s = entry.value
        if s.is_valid:
            s.end_access(now)
        self._map().replicate(session_id, False)

    def invalidate(self, session: DeltaSession | str, now: int) -> None:
        s = self.find_session(session) if isinstance(session, str) else session
        if s is not None:
            self._expire(s, now)

    def _expire(self, s: DeltaSession, now: int) -> None:
        if not s.is_valid or s.id is None:
            return
        s.is_valid = False
        self.expired_sessions += 1
        self._map().remove(s.id)
        self._fire(SessionEvent("destroyed", self.name, s.id, False))

    def process_expires(self, now: int) -> int:
        n = 0
        for s in list(self.sessions.values()):
            if s.expiry_due(now):
                self._expire(s, now)
                n += 1
        return n

    def roles(self) -> list[dict[str, Any]]:
        """Each key's role here and where its primary and backup live."""
        out = []
        for e in self.entries():
            out.append({"id": e.key, "role": e.role,
                        "primaryMember": e.primary.name if e.primary is not None else None,
                        "backupMembers": [m.name for m in e.backup_nodes or ()]})
        return out




class BackupContext:
    """The sessions of one BackupManager context: the same API as ``DeltaContext`` (DeltaManager)
    plus what a primary/backup/proxy map needs. All calls run on the loop thread.

    A session held here only as a *proxy* (its value lives on its primary and backup) is not returned
    by the synchronous calls; ``await ctx.load(id)`` fetches it (RETRIEVE_BACKUP) and makes this node
    its primary, after which ``get_session`` / ``request`` work on it, as a Tomcat request would.
    """

    def __init__(self, cluster: Any, manager: BackupManager) -> None:
        self.cluster = cluster
        self.backup_manager = manager

    @property
    def name(self) -> str:
        return self.backup_manager.name

    def __repr__(self) -> str:
        return f"BackupContext({self.name!r}, {len(self.backup_manager.sessions)} sessions held)"

    @staticmethod
    def _now() -> int:
        import time
        return int(time.time() * 1000)

    # -- reading ------------------------------------------------------------------------------
    def sessions(self) -> list[DeltaSession]:
        return [s for s in self.backup_manager.sessions.values() if s.is_valid]

    def session_ids(self) -> list[str]:
        return [s.id for s in self.sessions() if s.id is not None]

    def find_session(self, session_id: str) -> DeltaSession | None:
        return self.backup_manager.find_session(session_id)

    def get_session(self, session_id: str) -> DeltaSession | None:
        return self.backup_manager.get_session(session_id, self._now())

    async def load(self, session_id: str) -> DeltaSession | None:
        """The session for a request on this node; a proxy is fetched from its backup first."""
        s = await self.backup_manager.load(session_id)
        if s is not None and s.expiry_due(self._now()):
            self.backup_manager._expire(s, self._now())
            return None
        return s if s is not None and s.is_valid else None

    def roles(self) -> list[dict[str, Any]]:
        """Every key of the map with this node's role (primary/backup/proxy) and its primary and backup."""
        return self.backup_manager.roles()

    def role(self, session_id: str) -> str | None:
        e = self.backup_manager.map.entry(session_id) if self.backup_manager.map is not None else None
        return e.role if e is not None else None

    def __len__(self) -> int:
        return len(self.backup_manager.sessions)

    # -- acting -------------------------------------------------------------------------------
    def create_session(self, attributes: dict[str, Any] | None = None, session_id: str | None = None,
                       max_inactive_interval: int | None = None) -> DeltaSession:
        now = self._now()
        s = self.backup_manager.create_session(now, session_id)
        try:
            if max_inactive_interval is not None:
                s.set_max_inactive_interval(max_inactive_interval)
            for k, v in (attributes or {}).items():
                s.set_attribute(k, v)
        finally:
            assert s.id is not None
            self.backup_manager.end_request(s.id, now)
        return s

    def request(self, session_id: str, bind_route: bool = True) -> "contextlib.AbstractContextManager[DeltaSession]":
        """A request-scoped unit of work: the changes leave as one diff to the backup at the end.

        ``bind_route`` is accepted for API compatibility; BackupManager sessions keep their id (a
        JvmRouteBinderValve rename is a remove + put, done by ``change_session_id``).
        Raises KeyError when the session is not held here (see ``load`` for proxies)."""
        @contextlib.contextmanager
        def unit() -> Iterator[DeltaSession]:
            bm = self.backup_manager
            now = self._now()
            s = bm.get_session(session_id, now)
            if s is None:
                raise KeyError(f"no session {session_id!r} held in {self.name}"
                               + (" (a proxy here: await load() first)" if self.role(session_id) == "proxy" else ""))
            s.access(now)
            try:
                yield s
            finally:
                if s.is_valid and s.id is not None:
                    bm.end_request(s.id, self._now())
        return unit()

    def set_attribute(self, session_id: str, name: str, value: Any) -> DeltaSession:
        with self.request(session_id) as s:
            s.set_attribute(name, value)
        return s

    def remove_attribute(self, session_id: str, name: str) -> DeltaSession:
        with self.request(session_id) as s:
            s.remove_attribute(name)
        return s

    def invalidate(self, session_id: str) -> bool:
        s = self.backup_manager.find_session(session_id)
        if s is None:
            return False
        self.backup_manager.invalidate(s, self._now())
        return True

    def change_session_id(self, session_id: str, new_id: str | None = None) -> str:
        """ManagerBase.changeSessionId on a BackupManager: REMOVE the old key, put the new one."""
        bm = self.backup_manager
        s = bm.find_session(session_id)
        if s is None:
            raise KeyError(f"no session {session_id!r} held in {self.name}")
        return bm.rotate_session_id(s, self._now(), new_id)

    def add_listener(self, listener: Callable[[SessionEvent], None]) -> None:
        self.backup_manager.add_listener(listener)


__all__ += ["BackupContext"]


def mixed_version_findings(nodes: list[tuple[str, str, str | None]]) -> list[str]:
    """``tribes config check`` across files: (path, Tomcat version, Manager className) per node.

    BackupManager's MapMessages embed ``MemberImpl`` objects whose computed serialVersionUID differs
    between Tomcat 9.0 and 10.1+, so a BackupManager cluster must run one of the two families."""
    from tribes.tipis.map_message import version_key
    backup = [(p, v) for p, v, cls in nodes if cls is not None and cls.endswith(".BackupManager")]
    if not backup:
        return []
    families: dict[str, list[str]] = {}
    for p, v, _ in nodes:
        families.setdefault(version_key(v), []).append(f"{p} ({v})")
    if len(families) < 2:
        return []
    return [f"BackupManager in a cluster of Tomcat 9.0 nodes ({', '.join(families['9'])}) and 10.1+ nodes "
            f"({', '.join(families['10'])}): MemberImpl's serialVersionUID differs (9.0: 3323947316117794076, "
            f"10.1: -8901659902996040089) and every MapMessage carries members, so these Tomcat nodes cannot "
            f"replicate to each other (InvalidClassException); a Python node reads and writes both forms but "
            f"cannot make them one cluster. Run one Tomcat major version, or use DeltaManager (which does "
            f"interoperate across 9.0 and 10.1)."]


__all__ += ["mixed_version_findings"]
