"""The sans-I/O core of Tomcat's ``AbstractReplicatedMap`` / ``LazyReplicatedMap``.

No sockets, no clock: every method takes ``now`` (epoch ms) and returns what to send. The asyncio
driver (``tribes.tipis.lazy_map``) performs the sends and the RPCs and feeds replies back.

Entries (``MapEntry``) have Tomcat's roles: *primary* (not proxy, backup or copy), *backup* (holds the
value, ``backup``), *proxy* (key only, knows ``primary`` and ``backup_nodes``), *copy* (ReplicatedMap).

Rules implemented as Tomcat 9.0 / 10.1 do (AbstractReplicatedMap.java, LazyReplicatedMap.java):

* messageReceived: START adds the map member, STOP removes it (member rules below), PROXY makes or
  turns an entry into a proxy, REMOVE drops it, BACKUP/COPY store or update the value (``diff``:
  DeltaRequest bytes applied to the held value), ACCESS / NOTIFY_MAPMEMBER update primary/backup and
  touch the value.
* replyRequest: INIT and START answer with the local member as ``primary`` (START also adds the
  caller), RETRIEVE_BACKUP answers with the value (None when unknown: the caller gets a null reply),
  STATE / STATE_COPY answer an ``ArrayList`` of PROXY (COPY) messages, PING answers the map ``State``.
* Backup selection is round-robin over the map members (``next_backup_index``); LazyReplicatedMap
  sends BACKUP (full value) to the chosen node and PROXY to the others (``Publish`` actions, run by
  the driver because a failed send moves on to the next node).
* Member failure: entries this node is primary for and whose backup left get a new backup
  (``Publish``); entries whose primary left lose it; a proxy whose only backup left is removed; a
  backup whose primary left and which is its own backup node becomes primary and publishes a new
  backup (``owner.object_made_primary``).
* ping: members that did not answer within ``access_timeout`` are dropped from the map.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable, Protocol, Sequence

from tribes.membership.member import Member
from tribes.ratelimit import RateLimitedLog
from tribes.tipis.map_message import (MSG_ACCESS, MSG_BACKUP, MSG_COPY, MSG_INIT, MSG_NOTIFY_MAPMEMBER, MSG_PING,
                                      MSG_PROXY, MSG_REMOVE, MSG_RETRIEVE_BACKUP, MSG_START, MSG_STATE,
                                      MSG_STATE_COPY, MSG_STOP, STATE_CLASS, TYPE_NAMES, MapMessage, MapMessageError,
                                      key_bytes, state_value)

log = logging.getLogger("tribes.tipis")
_rl = RateLimitedLog(log)

__all__ = ["MapEntry", "MapValueHandler", "OpaqueValues", "Send", "Publish", "Action", "ReplicatedMapCore",
           "NEW", "STATETRANSFERRED", "INITIALIZED", "DESTROYED"]

NEW = "NEW"
STATETRANSFERRED = "STATETRANSFERRED"
INITIALIZED = "INITIALIZED"
DESTROYED = "DESTROYED"
_AVAILABLE = {INITIALIZED}


class MapValueHandler(Protocol):
    """What a map owner supplies (Tomcat: ``ReplicatedMapEntry`` on the values + ``MapOwner``)."""

    def encode_value(self, value: Any) -> bytes: ...

    def decode_value(self, data: bytes, now: int) -> Any: ...

    def is_diffable(self, value: Any) -> bool: ...

    def is_dirty(self, value: Any) -> bool: ...

    def is_access_replicate(self, value: Any, now: int) -> bool: ...

    def get_diff(self, value: Any) -> bytes: ...

    def apply_diff(self, value: Any, diff: bytes, now: int) -> None: ...

    def access_entry(self, value: Any, now: int) -> None: ...

    def set_owner(self, value: Any, now: int) -> None: ...

    def set_last_time_replicated(self, value: Any, now: int) -> None: ...

    def object_made_primary(self, key: Any, value: Any, now: int) -> None: ...


class OpaqueValues:
    """Values are plain Java values (``tribes.javaser``), replicated whole (no diffs)."""

    def encode_value(self, value: Any) -> bytes:
        from tribes.javaser import dumps
        return dumps(value)

    def decode_value(self, data: bytes, now: int) -> Any:
        from tribes.javaser import loads
        return loads(data)

    def is_diffable(self, value: Any) -> bool:
        return False

    def is_dirty(self, value: Any) -> bool:
        return False

    def is_access_replicate(self, value: Any, now: int) -> bool:
        return False

    def get_diff(self, value: Any) -> bytes:
        raise NotImplementedError

    def apply_diff(self, value: Any, diff: bytes, now: int) -> None:
        raise NotImplementedError

    def access_entry(self, value: Any, now: int) -> None:
        pass

    def set_owner(self, value: Any, now: int) -> None:
        pass

    def set_last_time_replicated(self, value: Any, now: int) -> None:
        pass

    def object_made_primary(self, key: Any, value: Any, now: int) -> None:
        pass


class MapEntry:
    """One key of the map and this node's role for it."""

    __slots__ = ("key", "value", "backup", "proxy", "copy", "backup_nodes", "primary")

    def __init__(self, key: Any, value: Any = None) -> None:
        self.key = key
        self.value = value
        self.backup = False
        self.proxy = False
        self.copy = False
        self.backup_nodes: tuple[Member, ...] | None = None
        self.primary: Member | None = None

    @property
    def is_primary(self) -> bool:
        return not self.proxy and not self.backup and not self.copy

    @property
    def is_active(self) -> bool:
        return not self.proxy

    @property
    def role(self) -> str:
        if self.proxy:
            return "proxy"
        if self.backup:
            return "backup"
        if self.copy:
            return "copy"
        return "primary"

    def __repr__(self) -> str:
        return (f"MapEntry[key:{self.key}; role:{self.role}; primary:{self.primary and self.primary.name}; "
                f"backup:{[m.name for m in self.backup_nodes or ()]}]")


@dataclass
class Send:
    """A plain channel send of ``message`` to ``members`` with ``options``."""

    members: tuple[Member, ...]
    message: MapMessage
    options: int


@dataclass
class Publish:
    """LazyReplicatedMap.publishEntryInfo for ``key``: BACKUP to the next node (round-robin, moving on
    when a send fails), PROXY to the rest; the driver reports the result with ``set_backup``."""

    key: Any


Action = Send | Publish


def _in(member: Member, nodes: Iterable[Member] | None) -> bool:
    return nodes is not None and any(member == n for n in nodes)


class ReplicatedMapCore:
    """State and rules of one replicated map (``map_name`` = Tomcat's mapContextName)."""

    def __init__(self, map_name: str, local_member: Member, handler: MapValueHandler | None = None, *,
                 channel_send_options: int = 2, rpc_timeout: int = 5000, access_timeout: int = 5000,
                 tomcat_version: str = "10.1") -> None:
        self.map_name = map_name
        self.map_id = map_name.encode("latin-1")
        self.local_member = local_member
        self.handler: MapValueHandler = handler or OpaqueValues()
        self.channel_send_options = int(channel_send_options)
        self.rpc_timeout = int(rpc_timeout)
        self.access_timeout = int(access_timeout)
        self.tomcat_version = tomcat_version
        self.entries: dict[Any, MapEntry] = {}
        self.map_members: dict[Member, int] = {}
        #: the channel's current members (Tomcat: channel.getMember); the driver keeps it up to date
        self.channel_members: dict[Member, Member] = {}
        self.current_node = 0
        self.state = NEW
        self.state_transferred = False
        self.bad_messages = 0
        self.member_versions: dict[Member, str] = {}
        # one Member object per member and one tuple per backup set, shared by every entry (a map of
        # 10,000 proxies would otherwise hold 20,000 decoded copies of the same few members)
        self._members: dict[Member, Member] = {local_member: local_member}
        self._node_sets: dict[tuple[Member, ...], tuple[Member, ...]] = {}

    def _member(self, m: Member | None) -> Member | None:
        if m is None:
            return None
        return self._members.setdefault(m, m)

    def _nodes(self, nodes: Sequence[Member] | None) -> tuple[Member, ...] | None:
        if nodes is None:
            return None
        t = tuple(self._members.setdefault(m, m) for m in nodes)
        return self._node_sets.setdefault(t, t)

    # -- helpers --------------------------------------------------------------------------------
    def msg(self, msgtype: int, key: Any = None, value_bytes: bytes | None = None, *, diff: bool = False,
            diff_value: bytes | None = None, primary: Member | None = None,
            nodes: Sequence[Member] | None = None) -> MapMessage:
        return MapMessage(self.map_id, msgtype, diff, key_bytes(key) if key is not None else None, value_bytes,
                          diff_value, primary, tuple(nodes) if nodes is not None else None)

    def members(self) -> list[Member]:
        return list(self.map_members)

    def members_excluding(self, exclude: Sequence[Member] | None) -> list[Member]:
        ex = list(exclude or ())
        return [m for m in self.map_members if not _in(m, ex)]

    def next_backup_index(self) -> int:
        size = len(self.map_members)
        if size == 0:
            return -1
        node = self.current_node
        self.current_node += 1
        if node >= size:
            node = 0
            self.current_node = 1
        return node

    def set_channel_members(self, members: Iterable[Member]) -> None:
        self.channel_members = {m: m for m in members}

    def _decode_value(self, msg: MapMessage, now: int) -> Any:
        if not msg.value_bytes:
            return None
        return self.handler.decode_value(msg.value_bytes, now)

    # -- membership -------------------------------------------------------------------------------
    def map_member_added(self, member: Member | None, now: int) -> list[Action]:
        """AbstractReplicatedMap.mapMemberAdded: a new map member; primaries without a backup get one."""
        if member is None or member == self.local_member:
            return []
        mapped = self.channel_members.get(member)
        if mapped is None:
            log.warning("map %s: member %s is not a channel member, not added", self.map_name, member.name)
            return []
        if mapped in self.map_members:
            return []
        log.info("map %s: map member added: %s", self.map_name, mapped.name)
        self.map_members[mapped] = now
        out: list[Action] = []
        for entry in self.entries.values():
            if entry.is_primary and not entry.backup_nodes:
                out.append(Publish(entry.key))
        return out

    def member_alive(self, member: Member, now: int) -> list[Action]:
        out = self.map_member_added(member, now)
        if member != self.local_member:
            self.map_members[self.channel_members.get(member, member)] = now
        return out

    def member_disappeared(self, member: Member, now: int) -> list[Action]:
        """AbstractReplicatedMap.memberDisappeared (also for STOP and ping timeouts)."""
        if self.map_members.pop(member, None) is None:
            return []
        log.info("map %s: member disappeared: %s; relocating entries", self.map_name, member.name)
        out: list[Action] = []
        for key, entry in list(self.entries.items()):
            if entry.is_primary and _in(member, entry.backup_nodes):
                out.append(Publish(key))
                entry.primary = self.local_member
            elif member == entry.primary:
                entry.primary = None
            nodes = entry.backup_nodes
            if entry.proxy and entry.primary is None and nodes is not None and len(nodes) == 1 and nodes[0] == member:
                del self.entries[key]
            elif (entry.primary is None and entry.backup and nodes is not None and len(nodes) == 1
                  and nodes[0] == self.local_member):
                entry.primary = self.local_member
                entry.backup = entry.proxy = entry.copy = False
                out.append(Publish(key))
                self.handler.object_made_primary(key, entry.value, now)
        return out

    # -- messages ---------------------------------------------------------------------------------
    def accept(self, msg: MapMessage) -> bool:
        return msg.map_id == self.map_id

    def _note_versions(self, msg: MapMessage, sender: Member | None) -> None:
        if sender is not None:
            for v in msg.member_versions:
                self.member_versions[sender] = v

    def handle(self, msg: MapMessage, sender: Member, now: int) -> list[Action]:
        """AbstractReplicatedMap.messageReceived (a message outside an RPC, or an RPC reply)."""
        self._note_versions(msg, sender)
        t = msg.msgtype
        if t not in TYPE_NAMES:
            self.bad_messages += 1
            _rl.warn("map-type", "map %s: MapMessage of unknown type %d from %s dropped", self.map_name, t,
                     getattr(sender, "name", sender))
            return []
        try:
            return self._handle(msg, sender, now)
        except MapMessageError as exc:
            self.bad_messages += 1
            _rl.warn("map-corrupt", "map %s: %s from %s dropped: %s", self.map_name, msg.type_desc,
                     getattr(sender, "name", sender), exc)
            return []
        except Exception as exc:  # a value/diff the handler cannot read: drop this message only
            self.bad_messages += 1
            _rl.warn("map-value", "map %s: %s from %s dropped: %s: %s", self.map_name, msg.type_desc,
                     getattr(sender, "name", sender), type(exc).__name__, exc)
            return []

    def _handle(self, msg: MapMessage, sender: Member, now: int) -> list[Action]:
        t = msg.msgtype
        out: list[Action] = []
        if t == MSG_START:
            out += self.map_member_added(msg.primary, now)
        elif t == MSG_STOP:
            if msg.primary is not None:
                out += self.member_disappeared(msg.primary, now)
        elif t == MSG_PROXY:
            key = msg.key()
            entry = self.entries.get(key)
            if entry is None:
                entry = self.entries[key] = MapEntry(key, self._decode_value(msg, now))
            entry.proxy = True
            entry.backup = False
            entry.copy = False
            entry.backup_nodes = self._nodes(msg.nodes)
            entry.primary = self._member(msg.primary)
        elif t == MSG_REMOVE:
            self.entries.pop(msg.key(), None)
        elif t in (MSG_BACKUP, MSG_COPY):
            key = msg.key()
            entry = self.entries.get(key)
            if entry is None:
                if msg.diff:
                    # Tomcat would create a value-less entry and fail on the next diff: say it instead
                    _rl.warn("map-diff-unknown", "map %s: diff for unknown key %s from %s; kept as a value-less "
                             "backup until a full copy arrives", self.map_name, key, sender.name)
                value = self._decode_value(msg, now)
                entry = MapEntry(key, value)
                if value is not None:
                    self.handler.set_owner(value, now)
            elif entry.value is not None and self.handler.is_diffable(entry.value) and msg.diff:
                self.handler.apply_diff(entry.value, msg.diff_value or b"", now)
            elif not msg.diff:
                value = self._decode_value(msg, now)
                if value is not None:
                    self.handler.set_owner(value, now)
                    entry.value = value
                elif entry.value is not None:
                    self.handler.set_owner(entry.value, now)
            entry.backup = t == MSG_BACKUP
            entry.proxy = False
            entry.copy = t == MSG_COPY
            entry.backup_nodes = self._nodes(msg.nodes)
            entry.primary = self._member(msg.primary)
            self.entries[key] = entry
        elif t in (MSG_ACCESS, MSG_NOTIFY_MAPMEMBER):
            entry = self.entries.get(msg.key())
            if entry is not None:
                entry.backup_nodes = self._nodes(msg.nodes)
                entry.primary = self._member(msg.primary)
                if entry.value is not None:
                    self.handler.access_entry(entry.value, now)
        return out

    def reply_request(self, msg: MapMessage, sender: Member, now: int) -> tuple[MapMessage | None, list[Action]]:
        """AbstractReplicatedMap.replyRequest: the answer (None = a null reply) and follow-up actions."""
        self._note_versions(msg, sender)
        t = msg.msgtype
        if t == MSG_INIT:
            return msg.with_primary(self.local_member), []
        if t == MSG_START:
            return msg.with_primary(self.local_member), self.map_member_added(sender, now)
        if t == MSG_RETRIEVE_BACKUP:
            entry = self.entries.get(msg.key())
            if entry is None or entry.value is None:
                return None, []
            return MapMessage(msg.map_id, msg.msgtype, msg.diff, msg.key_bytes,
                              self.handler.encode_value(entry.value), msg.diff_value, msg.primary, msg.nodes), []
        if t in (MSG_STATE, MSG_STATE_COPY):
            return self.build_state_reply(msg, self.state_snapshot(t == MSG_STATE_COPY)), []
        if t == MSG_PING:
            from tribes.javaser import dumps
            return MapMessage(msg.map_id, msg.msgtype, msg.diff, msg.key_bytes, dumps(state_value(self.state)),
                              msg.diff_value, self.local_member, msg.nodes), []
        return None, []

    def left_over(self, msg: MapMessage, sender: Member, now: int) -> list[Action]:
        """AbstractReplicatedMap.leftOver: a reply that came after its RPC completed."""
        t = msg.msgtype
        if t == MSG_START:
            return self.map_member_added(msg.primary, now)
        if t == MSG_INIT:
            return self.member_alive(msg.primary, now) if msg.primary is not None else []
        if t == MSG_PING:
            if msg.primary is not None and self._state_of(msg) in _AVAILABLE:
                return self.member_alive(msg.primary, now)
            return []
        log.info("map %s: late reply %s from %s ignored", self.map_name, msg.type_desc, sender.name)
        return []

    @staticmethod
    def _state_of(msg: MapMessage) -> str | None:
        try:
            v = msg.value()
        except MapMessageError:
            return None
        if getattr(getattr(v, "desc", None), "name", None) == STATE_CLASS:
            return str(v.name)
        return None

    # -- start-up (driver: RPC INIT, STATE, RPC START) ---------------------------------------------------
    def broadcast_replies(self, replies: Sequence[tuple[Member, Any]], now: int) -> list[Action]:
        """The replies of an INIT/START broadcast: each source becomes a map member, then messageReceived."""
        out: list[Action] = []
        for source, value in replies:
            out += self.map_member_added(source, now)
            try:
                out += self.handle(MapMessage.from_java(value), source, now)
            except MapMessageError as exc:
                self.bad_messages += 1
                _rl.warn("map-corrupt", "map %s: bad reply from %s: %s", self.map_name, source.name, exc)
        return out

    def state_message(self) -> MapMessage:
        return MapMessage(self.map_id, MSG_STATE)

    def state_snapshot(self, copy: bool) -> list[tuple[Any, bytes | None, Member | None, tuple[Member, ...] | None]]:
        """What a STATE (STATE_COPY) reply lists, taken at once: (key, value bytes, primary, backup nodes)."""
        h = self.handler
        return [(e.key, h.encode_value(e.value) if copy and e.value is not None else None, e.primary, e.backup_nodes)
                for e in self.entries.values()]

    def build_state_reply(self, request: MapMessage,
                          snapshot: list[tuple[Any, bytes | None, Member | None, tuple[Member, ...] | None]],
                          version: str | None = None) -> MapMessage:
        """The STATE reply to ``request``: an ArrayList of PROXY (COPY) MapMessages. Pure: it reads only the
        snapshot, so the driver may build a large one in a worker thread."""
        from tribes.javaser import JavaArrayList, dumps
        copy = request.msgtype == MSG_STATE_COPY
        v = version or self.tomcat_version
        items = [MapMessage(self.map_id, MSG_COPY if copy else MSG_PROXY, False, key_bytes(key), vb, None, primary,
                            nodes).to_java(v) for key, vb, primary, nodes in snapshot]
        return MapMessage(request.map_id, request.msgtype, request.diff, request.key_bytes,
                          dumps(JavaArrayList(items)), request.diff_value, request.primary, request.nodes)

    def apply_state(self, reply: MapMessage, source: Member, now: int, value: Any = None) -> list[Action]:
        """The STATE reply: an ArrayList of PROXY (COPY) MapMessages, each handled as if received
        (``value``: the reply's value already deserialized, e.g. in a worker thread)."""
        if value is None:
            value = reply.value()
        if not isinstance(value, list):
            raise MapMessageError(f"STATE reply value is {type(value).__name__}, not ArrayList")
        out: list[Action] = []
        for item in value:
            try:
                m = MapMessage.from_java(item)
            except MapMessageError as exc:
                self.bad_messages += 1
                _rl.warn("map-corrupt", "map %s: bad STATE item from %s: %s", self.map_name, source.name, exc)
                continue
            out += self.handle(m, source, now)
        self.state_transferred = True
        return out

    # -- heartbeat ----------------------------------------------------------------------------------
    def ping_message(self) -> MapMessage:
        return MapMessage(self.map_id, MSG_PING, primary=self.local_member)

    def ping_replies(self, replies: Sequence[tuple[Member, Any]], now: int) -> list[Action]:
        out: list[Action] = []
        for source, value in replies:
            try:
                m = MapMessage.from_java(value)
            except MapMessageError as exc:
                self.bad_messages += 1
                _rl.warn("map-corrupt", "map %s: bad PING reply from %s: %s", self.map_name, source.name, exc)
                continue
            self._note_versions(m, source)
            state = self._state_of(m)
            if state in _AVAILABLE:
                out += self.member_alive(source, now)
            elif state == STATETRANSFERRED:
                if source in self.map_members:
                    self.map_members[source] = now
            else:
                log.info("map %s: member %s is not available (state %s)", self.map_name, source.name, state)
        return out

    def expire_members(self, now: int) -> list[Action]:
        out: list[Action] = []
        for member, access in list(self.map_members.items()):
            if now - access > self.access_timeout:
                log.warning("map %s: member %s did not answer the ping within %d ms: removed from the map",
                            self.map_name, member.name, self.access_timeout)
                out += self.member_disappeared(member, now)
        return out

    # -- the Map API ---------------------------------------------------------------------------------
    def put(self, key: Any, value: Any, now: int, notify: bool = True) -> list[Action]:
        out = self.remove(key, notify)
        entry = MapEntry(key, value)
        entry.primary = self.local_member
        self.entries[key] = entry
        if notify:
            out.append(Publish(key))
        return out

    def remove(self, key: Any, notify: bool = True) -> list[Action]:
        entry = self.entries.pop(key, None)
        if entry is not None and notify and self.map_members:
            return [Send(tuple(self.map_members), self.msg(MSG_REMOVE, key), self.channel_send_options)]
        return []

    def set_backup(self, key: Any, backup: Sequence[Member]) -> None:
        entry = self.entries.get(key)
        if entry is not None and entry.is_primary:
            entry.backup_nodes = self._nodes(backup)
            entry.primary = self.local_member

    def backup_message(self, key: Any, target: Member) -> MapMessage | None:
        entry = self.entries.get(key)
        if entry is None or not entry.is_primary:
            return None
        vb = self.handler.encode_value(entry.value) if entry.value is not None else None
        return self.msg(MSG_BACKUP, key, vb, primary=self.local_member, nodes=(target,))

    def proxy_message(self, key: Any, backup: Sequence[Member]) -> MapMessage:
        return self.msg(MSG_PROXY, key, primary=self.local_member, nodes=tuple(backup))

    def replicate(self, key: Any, complete: bool, now: int) -> Send | None:
        """AbstractReplicatedMap.replicate: diff (BACKUP diff=true), full value, or ACCESS to the backups."""
        entry = self.entries.get(key)
        if entry is None or not entry.is_primary or not entry.backup_nodes:
            return None
        value = entry.value
        h = self.handler
        dirty = value is not None and h.is_dirty(value)
        access = value is not None and h.is_access_replicate(value, now)
        if not (complete or dirty or access):
            return None
        msg: MapMessage | None = None
        if value is not None and h.is_diffable(value) and (dirty or complete):
            msg = self.msg(MSG_BACKUP, key, diff=True, diff_value=h.get_diff(value), primary=entry.primary,
                           nodes=entry.backup_nodes)
        if msg is None and complete:
            msg = self.msg(MSG_BACKUP, key, h.encode_value(value) if value is not None else None,
                           primary=entry.primary, nodes=entry.backup_nodes)
        if msg is None:
            msg = self.msg(MSG_ACCESS, key, primary=entry.primary, nodes=entry.backup_nodes)
        if value is not None:
            h.set_last_time_replicated(value, now)
        return Send(entry.backup_nodes, msg, self.channel_send_options)

    def get_local(self, key: Any, now: int) -> tuple[Any, list[Action], bool]:
        """The first half of AbstractReplicatedMap.get: (value, actions, needs RETRIEVE_BACKUP).

        Primary: the value. Backup: becomes primary (Publish). Copy: becomes primary (NOTIFY_MAPMEMBER).
        Proxy: the driver must RETRIEVE_BACKUP from ``entry.backup_nodes`` and call ``finish_retrieve``.
        """
        entry = self.entries.get(key)
        if entry is None:
            return None, [], False
        if entry.is_primary:
            return entry.value, [], False
        out: list[Action] = []
        if entry.backup:
            out.append(Publish(key))
            backup: tuple[Member, ...] | None = None
        elif entry.proxy:
            return None, [], True
        else:  # copy
            backup = tuple(self.map_members)
            if backup:
                out.append(Send(backup, self.msg(MSG_NOTIFY_MAPMEMBER, key, primary=self.local_member, nodes=backup),
                                self.channel_send_options))
        self._made_primary(entry, backup, now)
        return entry.value, out, False

    def _made_primary(self, entry: MapEntry, backup: tuple[Member, ...] | None, now: int) -> None:
        entry.primary = self.local_member
        entry.backup_nodes = backup
        entry.backup = entry.proxy = entry.copy = False
        self.handler.object_made_primary(entry.key, entry.value, now)

    def retrieve_message(self, key: Any) -> MapMessage:
        return self.msg(MSG_RETRIEVE_BACKUP, key)

    def finish_retrieve(self, key: Any, reply: Any, now: int) -> tuple[Any, list[Action]]:
        """The RETRIEVE_BACKUP reply (a Java value or None): the proxy becomes primary here."""
        entry = self.entries.get(key)
        if entry is None:
            return None, []
        if reply is None:
            log.warning("map %s: unable to retrieve the value of %s from its backup", self.map_name, key)
            return None, []
        m = MapMessage.from_java(reply)
        value = self._decode_value(m, now)
        if value is not None:
            entry.value = value
        backup = entry.backup_nodes
        out: list[Action] = []
        if backup:
            out.append(Send(backup, self.msg(MSG_NOTIFY_MAPMEMBER, key, primary=self.local_member, nodes=backup),
                            self.channel_send_options))
        dest = self.members_excluding(backup)
        if dest:
            out.append(Send(tuple(dest), self.msg(MSG_PROXY, key, primary=self.local_member, nodes=backup),
                            self.channel_send_options))
        if entry.value is not None:
            self.handler.set_owner(entry.value, now)
        self._made_primary(entry, backup, now)
        return entry.value, out

    # -- views ------------------------------------------------------------------------------------------
    def size(self) -> int:
        return sum(1 for e in self.entries.values() if e.is_active and e.value is not None)

    def size_full(self) -> int:
        return len(self.entries)

    def active_values(self) -> list[Any]:
        return [e.value for e in self.entries.values() if e.is_active and e.value is not None]
