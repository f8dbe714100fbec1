"""``LazyReplicatedMap``: the asyncio driver of :class:`~tribes.tipis.replicated_map.ReplicatedMapCore`.

    m = LazyReplicatedMap(channel, "localhost#/app-map", handler, rpc_timeout=15000, channel_send_options=6)
    await m.start()              # RPC INIT (FIRST_REPLY), STATE from the first map member, RPC START
    m.put(key, value)            # primary here: BACKUP to the next member (round-robin), PROXY to the rest
    m.replicate(key)             # diff / ACCESS to the backup (BackupManager.requestCompleted)
    v = await m.get(key)         # proxy: RETRIEVE_BACKUP, then this node is primary
    await m.flush(); await m.stop()   # STOP to every member

It is a ChannelListener (plain MapMessages of its map), an RpcCallback (through its ``RpcChannel``,
rpcId = the map name's ISO-8859-1 bytes), a MembershipListener and has a ``heartbeat`` (the channel's
heartbeat: a PING RPC to every member, ALL_REPLY within ``access_timeout``). Sends run in order on one
task (each awaits its ACK with ``channel_send_options`` 6); RPC replies and pings never wait on it, so
a slow send never delays an answer a Java node is waiting for. Members are written in the MemberImpl
form of the destination (9.0 or 10.1, learnt from what it sent), else ``tomcat_version``'s.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Callable, Sequence

from tribes.group.rpc import ALL_REPLY, FIRST_REPLY, RpcChannel
from tribes.membership.member import Member
from tribes.ratelimit import RateLimitedLog
from tribes.tipis.map_message import (MAP_MESSAGE_CLASS, MSG_BACKUP, MSG_COPY, MSG_INIT, MSG_NOTIFY_MAPMEMBER,
                                      MSG_PING, MSG_PROXY, MSG_REMOVE, MSG_START, MSG_STATE, MSG_STATE_COPY, MSG_STOP,
                                      MapMessage, MapMessageError)
from tribes.tipis.replicated_map import (DESTROYED, INITIALIZED, STATETRANSFERRED, Action, MapEntry, MapValueHandler,
                                         Publish, ReplicatedMapCore, Send)
from tribes.transport.errors import ChannelException

log = logging.getLogger("tribes.tipis")
_rl = RateLimitedLog(log)

#: message types that change, move or remove an entry held here (ACCESS only refreshes idle time)
_CHANGES = frozenset({MSG_BACKUP, MSG_COPY, MSG_PROXY, MSG_REMOVE, MSG_NOTIFY_MAPMEMBER})

__all__ = ["LazyReplicatedMap", "now_ms"]


def now_ms() -> int:
    return int(time.time() * 1000)


class _UnknownMaps:
    """One per channel: takes the MapMessages of maps this node does not host, logs and drops them
    (Tomcat drops them silently; a RPC request of such a map is answered with NoRpcChannelReply by the
    GroupChannel, as no RpcChannel accepts it)."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.maps: dict[bytes, "LazyReplicatedMap"] = {}
        self.dropped = 0

    @classmethod
    def of(cls, channel: Any) -> "_UnknownMaps":
        for listener in channel.channel_listeners:
            if isinstance(listener, cls):
                return listener
        sink = cls(channel)
        channel.add_channel_listener(sink)
        return sink

    def accept(self, msg: Any, sender: Member) -> bool:
        return getattr(msg, "class_name", None) == MAP_MESSAGE_CLASS and msg.get("mapId") not in self.maps

    def message_received(self, msg: Any, sender: Member) -> None:
        self.dropped += 1
        map_id = msg.get("mapId")
        name = map_id.decode("latin-1") if isinstance(map_id, (bytes, bytearray)) else repr(map_id)
        _rl.warn("map-unknown", "MapMessage for the map %r, which this node does not host, from %s dropped "
                 "(%d so far)", name, sender.name, self.dropped)


class LazyReplicatedMap:
    """Tomcat's LazyReplicatedMap on a started GroupChannel."""

    def __init__(self, channel: Any, map_name: str, handler: MapValueHandler | None = None, *,
                 rpc_timeout: int = 5000, channel_send_options: int = 2, access_timeout: int = 5000,
                 terminate: bool = True, tomcat_version: str = "10.1") -> None:
        local = channel.local_member
        if local is None:
            raise RuntimeError("LazyReplicatedMap needs a started channel (no local member yet)")
        self.channel = channel
        self.core = ReplicatedMapCore(map_name, local, handler, channel_send_options=channel_send_options,
                                      rpc_timeout=rpc_timeout, access_timeout=access_timeout,
                                      tomcat_version=tomcat_version)
        self.terminate = terminate
        self.tomcat_version = tomcat_version
        self.rpc_channel: RpcChannel | None = None
        self.send_failures = 0
        self.mixed_versions_logged = False
        self._queue: asyncio.Queue[Action | asyncio.Future[None] | None] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        self._ping: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unknown: _UnknownMaps | None = None
        #: how long start() took (INIT, STATE, START), as Tomcat's "initialization was completed in [N] ms"
        self.init_ms: float | None = None
        #: where start() spent its time (ms): init_rpc_ms, state_ms (state_rpc_ms: the reply's wait), start_rpc_ms
        self.phases: dict[str, Any] = {}
        #: called with the key of every entry another member changed, moved or removed (BACKUP, COPY,
        #: PROXY, REMOVE, NOTIFY_MAPMEMBER): a cache of values (the web agent) knows what is stale
        self.change_listeners: list[Callable[[Any], None]] = []

    @property
    def map_name(self) -> str:
        return self.core.map_name

    @property
    def state(self) -> str:
        return self.core.state

    @property
    def entries(self) -> dict[Any, MapEntry]:
        return self.core.entries

    # -- life cycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """AbstractReplicatedMap.init: INIT, STATE transfer, START (as Tomcat, in this order)."""
        t0 = time.monotonic()
        log.info("map %s: initializing", self.map_name)
        self.core.set_channel_members(self.channel.members())
        self.rpc_channel = RpcChannel(self.core.map_id, self.channel, self)
        self.channel.add_channel_listener(self)
        self.channel.add_membership_listener(self)
        self._unknown = _UnknownMaps.of(self.channel)
        self._unknown.maps[self.core.map_id] = self
        self._sender = asyncio.get_running_loop().create_task(self._send_loop())
        try:
            await self._broadcast(MSG_INIT)
            t1 = time.monotonic()
            await self.transfer_state()
            t2 = time.monotonic()
            await self._broadcast(MSG_START)
            self.phases.update(init_rpc_ms=(t1 - t0) * 1000, state_ms=(t2 - t1) * 1000,
                               start_rpc_ms=(time.monotonic() - t2) * 1000)
        except ChannelException as exc:
            if self.terminate:
                log.warning("map %s: unable to send the start messages: %s", self.map_name, exc)
                await self.stop()
                raise RuntimeError(f"unable to start replicated map {self.map_name}: {exc}") from exc
            log.warning("map %s: unable to send the start messages (continuing): %s", self.map_name, exc)
        self.core.state = INITIALIZED
        self.init_ms = (time.monotonic() - t0) * 1000
        log.info("map %s: initialized in %d ms (%d members, %d entries)", self.map_name, int(self.init_ms),
                 len(self.core.map_members), len(self.core.entries))

    async def _broadcast(self, msgtype: int) -> None:
        members = self._others()
        if not members or self.rpc_channel is None:
            return
        msg = MapMessage(self.core.map_id, msgtype, primary=self.core.local_member)
        resp = await self._rpc(members, msg, FIRST_REPLY, self.core.rpc_timeout)
        if not resp:
            log.info("map %s: no replies to %s (no other node hosts this map yet)", self.map_name,
                     "INIT" if msgtype == MSG_INIT else "START")
            return
        self._run(self.core.broadcast_replies([(r.source, r.message) for r in resp], now_ms()))

    async def transfer_state(self) -> None:
        members = self.core.members()
        if members and self.rpc_channel is not None:
            backup = members[0]
            t_rpc = time.monotonic()
            try:
                resp = await self.rpc_channel.send([backup], self.core.state_message().to_java(
                    self._version_for([backup])), FIRST_REPLY, self.core.channel_send_options, self.core.rpc_timeout)
                if resp and resp[0].message is not None:
                    self.phases["state_rpc_ms"] = (time.monotonic() - t_rpc) * 1000
                    self.phases["state_source"] = resp[0].source.name
                    reply = MapMessage.from_java(resp[0].message)
                    # a big map: deserialize the list off the event loop (pings must still be answered)
                    value = await asyncio.to_thread(reply.value) if len(reply.value_bytes or b"") > 65536 \
                        else reply.value()
                    self._run(self.core.apply_state(reply, resp[0].source, now_ms(), value))
                    log.info("map %s: state received from %s: %d entries", self.map_name, backup.name,
                             len(self.core.entries))
                else:
                    log.warning("map %s: no reply to the state transfer request from %s", self.map_name, backup.name)
            except (ChannelException, MapMessageError) as exc:
                log.error("map %s: unable to transfer the state from %s: %s", self.map_name, backup.name, exc)
        self.core.state = STATETRANSFERRED

    async def stop(self) -> None:
        """AbstractReplicatedMap.breakdown: STOP to every member, then leave the channel."""
        self.core.state = DESTROYED
        if self.rpc_channel is not None:
            self.rpc_channel.breakdown()
        members = self._others()
        if members:
            msg = MapMessage(self.core.map_id, MSG_STOP, primary=self.core.local_member)
            self._queue.put_nowait(Send(tuple(members), msg, self.core.channel_send_options))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), 10)
        self.channel.remove_channel_listener(self)
        self.channel.remove_membership_listener(self)
        if self._unknown is not None:
            self._unknown.maps.pop(self.core.map_id, None)
        for t in [self._sender, self._ping, *self._tasks]:
            if t is not None:
                t.cancel()
        for t in [self._sender, self._ping, *self._tasks]:
            if t is not None:
                with contextlib.suppress(BaseException):
                    await t
        self._sender = self._ping = None
        self.core.map_members.clear()
        self.core.entries.clear()

    async def flush(self) -> None:
        """Wait until every queued send has been handed to the channel (and ACKed per the options)."""
        await self._queue.join()

    # -- sending --------------------------------------------------------------------------------------
    def _others(self) -> list[Member]:
        local = self.core.local_member
        return [m for m in self.channel.members() if m != local]

    def _version_for(self, members: Sequence[Member]) -> str:
        for m in members:
            v = self.core.member_versions.get(m)
            if v is not None:
                return "9.0" if v == "9" else "10.1"
        return self.tomcat_version

    async def _rpc(self, members: Sequence[Member], msg: MapMessage, mode: int, timeout: int) -> list[Any]:
        """One RPC per MemberImpl form (9.0 / 10.1) of the destinations, run together; replies merged."""
        assert self.rpc_channel is not None
        groups: dict[str, list[Member]] = {}
        for m in members:
            groups.setdefault(self._version_for([m]), []).append(m)
        rpc = self.rpc_channel
        opts = self.core.channel_send_options
        results = await asyncio.gather(*(rpc.send(ms, msg.to_java(v), mode, opts, timeout)
                                         for v, ms in groups.items()))
        return [r for rs in results for r in rs]

    def _run(self, actions: Sequence[Action]) -> None:
        for a in actions:
            self._queue.put_nowait(a)

    async def _send_loop(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if item is None:
                    return
                if isinstance(item, Publish):
                    await self._publish(item.key)
                elif isinstance(item, asyncio.Future):
                    if not item.done():         # a barrier: everything queued before it is sent
                        item.set_result(None)
                else:
                    await self._send(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("map %s: send failed", self.map_name)
            finally:
                self._queue.task_done()

    async def _send(self, item: Send) -> None:
        groups: dict[str, list[Member]] = {}
        for m in item.members:
            groups.setdefault(self._version_for([m]), []).append(m)
        for version, members in groups.items():
            try:
                await self.channel.send(members, item.message.to_java(version), item.options)
            except ChannelException as exc:
                self.send_failures += 1
                _rl.warn("map-send", "map %s: unable to send %s to %s: %s", self.map_name, item.message.type_desc,
                         ", ".join(m.name for m in members), exc)

    async def _publish(self, key: Any) -> None:
        """LazyReplicatedMap.publishEntryInfo."""
        core = self.core
        members = core.members()
        first = core.next_backup_index()
        backup: tuple[Member, ...] = ()
        if members and first != -1:
            nxt_idx = first
            while True:
                nxt = members[nxt_idx]
                nxt_idx = (nxt_idx + 1) % len(members)
                msg = core.backup_message(key, nxt)
                if msg is None:
                    return  # gone or no longer primary here
                try:
                    await self.channel.send([nxt], msg.to_java(self._version_for([nxt])), core.channel_send_options)
                except ChannelException as exc:
                    self.send_failures += 1
                    log.error("map %s: unable to replicate backup of %s to %s: %s", self.map_name, key, nxt.name, exc)
                    if nxt_idx == first:
                        break
                    continue
                backup = (nxt,)
                entry = core.entries.get(key)
                if entry is None or not entry.is_primary:
                    # removed (or taken over) while the BACKUP was on its way: undo it on that node
                    if entry is None:
                        await self._send(Send((nxt,), core.msg(MSG_REMOVE, key), core.channel_send_options))
                    return
                proxies = [m for m in core.members() if m != nxt]
                if proxies:
                    await self._send(Send(tuple(proxies), core.proxy_message(key, backup), core.channel_send_options))
                break
        core.set_backup(key, backup)

    # -- Map API ---------------------------------------------------------------------------------------
    def put(self, key: Any, value: Any, notify: bool = True) -> None:
        self._run(self.core.put(key, value, now_ms(), notify))

    def remove(self, key: Any, notify: bool = True) -> Any:
        entry = self.core.entries.get(key)
        self._run(self.core.remove(key, notify))
        return entry.value if entry is not None else None

    def replicate(self, key: Any, complete: bool = False) -> bool:
        send = self.core.replicate(key, complete, now_ms())
        if send is not None:
            self._queue.put_nowait(send)
            return True
        return False

    def barrier(self) -> "asyncio.Future[None]":
        """Done once every send queued so far has been made (and ACKed, with synchronous send
        options): a request that must wait for its replication, as Tomcat's does, awaits it."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._sender is None or self._sender.done():
            fut.set_result(None)                # nothing sends: nothing to wait for
        else:
            self._queue.put_nowait(fut)
        return fut

    def get_local(self, key: Any) -> Any:
        """The value if this node holds it (primary, or backup/copy: made primary here); None for a proxy."""
        value, actions, _ = self.core.get_local(key, now_ms())
        self._run(actions)
        return value

    async def get(self, key: Any) -> Any:
        """AbstractReplicatedMap.get: a proxy asks its backup (RETRIEVE_BACKUP) and becomes primary."""
        value, actions, retrieve = self.core.get_local(key, now_ms())
        self._run(actions)
        if not retrieve:
            return value
        entry = self.core.entries.get(key)
        if entry is None or not entry.backup_nodes or self.rpc_channel is None:
            log.warning("map %s: proxy %s has no backup node to retrieve it from", self.map_name, key)
            return None
        nodes = list(entry.backup_nodes)
        resp = await self.rpc_channel.send(nodes, self.core.retrieve_message(key).to_java(self._version_for(nodes)),
                                           FIRST_REPLY, self.core.channel_send_options, self.core.rpc_timeout)
        try:
            value, actions = self.core.finish_retrieve(key, resp[0].message if resp else None, now_ms())
        except MapMessageError as exc:
            log.error("map %s: unable to read the retrieved value of %s: %s", self.map_name, key, exc)
            return None
        self._run(actions)
        return value

    def entry(self, key: Any) -> MapEntry | None:
        return self.core.entries.get(key)

    def __contains__(self, key: Any) -> bool:
        return key in self.core.entries

    def __len__(self) -> int:
        return self.core.size()

    # -- heartbeat --------------------------------------------------------------------------------------
    def heartbeat(self) -> None:
        if self.core.state == INITIALIZED and (self._ping is None or self._ping.done()):
            self._ping = asyncio.ensure_future(self.ping())

    async def ping(self) -> None:
        """AbstractReplicatedMap.ping: PING every channel member (ALL_REPLY, access_timeout)."""
        members = self._others()
        if members and self.rpc_channel is not None:
            try:
                resp = await self._rpc(members, self.core.ping_message(), ALL_REPLY, self.core.access_timeout)
                self._run(self.core.ping_replies([(r.source, r.message) for r in resp], now_ms()))
            except ChannelException as exc:
                # as Tomcat: the members the send failed for leave the map, and this round expires nobody
                # (the others' replies were not collected, so their silence means nothing)
                for fm in exc.faulty_members:
                    self._run(self.core.member_disappeared(fm.member, now_ms()))
                _rl.warn("map-ping", "map %s: ping failed: %s", self.map_name, exc)
                return
        self._run(self.core.expire_members(now_ms()))
        self._check_versions()

    def _check_versions(self) -> None:
        seen = set(self.core.member_versions.values())
        if len(seen) > 1 and not self.mixed_versions_logged:
            self.mixed_versions_logged = True
            nines = sorted(m.name for m, v in self.core.member_versions.items() if v == "9")
            tens = sorted(m.name for m, v in self.core.member_versions.items() if v == "10")
            log.error("map %s: mixed Tomcat versions in one BackupManager cluster: %s send Tomcat 9.0 members, %s "
                      "send Tomcat 10.1+ members. MemberImpl's serialVersionUID differs (9.0: 3323947316117794076, "
                      "10.1: -8901659902996040089), so these Tomcat nodes cannot replicate to each other "
                      "(InvalidClassException in their logs); this Python node talks to both. Run one Tomcat "
                      "major version in a BackupManager cluster, or use DeltaManager.", self.map_name,
                      ", ".join(nines), ", ".join(tens))

    @property
    def mixed_versions(self) -> bool:
        return len(set(self.core.member_versions.values())) > 1

    # -- ChannelListener --------------------------------------------------------------------------------
    def accept(self, msg: Any, sender: Member) -> bool:
        if getattr(msg, "class_name", None) != MAP_MESSAGE_CLASS:
            return False
        return bool(msg.get("mapId") == self.core.map_id)

    def message_received(self, msg: Any, sender: Member) -> None:
        try:
            mm = MapMessage.from_java(msg)
        except MapMessageError as exc:
            self.core.bad_messages += 1
            _rl.warn("map-corrupt", "map %s: corrupt MapMessage from %s dropped: %s", self.map_name, sender.name, exc)
            return
        self._run(self.core.handle(mm, sender, now_ms()))
        if mm.member_versions:
            self._check_versions()
        if self.change_listeners and mm.msgtype in _CHANGES:
            key = mm.key()
            for listener in list(self.change_listeners):
                try:
                    listener(key)
                except Exception:
                    log.exception("map %s: change listener %r failed", self.map_name, listener)

    # -- RpcCallback ------------------------------------------------------------------------------------
    def reply_request(self, msg: Any, sender: Member) -> Any:
        try:
            mm = MapMessage.from_java(msg)
        except MapMessageError as exc:
            self.core.bad_messages += 1
            _rl.warn("map-corrupt", "map %s: corrupt RPC request from %s answered with null: %s", self.map_name,
                     sender.name, exc)
            return None
        if mm.map_id != self.core.map_id:
            return None
        if mm.msgtype in (MSG_STATE, MSG_STATE_COPY):
            # a snapshot now, the bytes in a worker thread: a big map must not hold the event loop
            snapshot = self.core.state_snapshot(mm.msgtype == MSG_STATE_COPY)
            version = self._version_for([sender])

            async def build() -> Any:
                if len(snapshot) > 500:
                    r = await asyncio.to_thread(self.core.build_state_reply, mm, snapshot, version)
                else:
                    r = self.core.build_state_reply(mm, snapshot, version)
                return r.to_java(version)
            return build()
        reply, actions = self.core.reply_request(mm, sender, now_ms())
        self._run(actions)
        if mm.member_versions:
            self._check_versions()
        return reply.to_java(self._version_for([sender])) if reply is not None else None

    def left_over(self, msg: Any, sender: Member) -> None:
        if msg is None:
            return
        try:
            mm = MapMessage.from_java(msg)
        except MapMessageError as exc:
            _rl.warn("map-corrupt", "map %s: corrupt late RPC reply from %s dropped: %s", self.map_name,
                     sender.name, exc)
            return
        if mm.msgtype in (MSG_INIT, MSG_START, MSG_PING):   # normal: the FIRST_REPLY RPC completed before it came
            log.debug("map %s: late %s reply from %s", self.map_name, mm.type_desc, sender.name)
        else:
            _rl.warn("map-leftover", "map %s: RPC reply %s from %s for no pending request (late or unknown uuid)",
                     self.map_name, mm.type_desc, sender.name)
        self._run(self.core.left_over(mm, sender, now_ms()))

    # -- MembershipListener -------------------------------------------------------------------------------
    def member_added(self, member: Member) -> None:
        self.core.channel_members[member] = member

    def member_disappeared(self, member: Member) -> None:
        self.core.channel_members.pop(member, None)
        self._run(self.core.member_disappeared(member, now_ms()))

    def roles(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.core.entries.values():
            out[e.role] = out.get(e.role, 0) + 1
        return out

    def __repr__(self) -> str:
        return f"LazyReplicatedMap({self.map_name!r}, {self.core.state}, {len(self.core.entries)} entries)"


