"""``SimpleTcpCluster``: a Python node as a full member of a Tomcat DeltaManager cluster.

The asyncio adapter around the sans-I/O :class:`DeltaManager` state machines::

    cluster = SimpleTcpCluster.create(bind="10.77.15.50", jvm_route="py1")
    app = cluster.manager("/app")              # localhost#/app; "/" or "" is ROOT (localhost#)
    await cluster.start()                      # joins, state transfer for every registered context
    s = app.create_session({"user": "alice", "n": JavaInteger(7)})   # CREATED + one DELTA
    with app.request(s.id) as sess:            # a unit of work like ReplicationValve:
        sess.set_attribute("cart", ["a"])      # one DELTA at the end
    app.invalidate(s.id)                       # EXPIRED everywhere
    await cluster.flush()                      # everything queued is handed to the channel
    await cluster.stop()

Routing is ClusterSessionListener's: by ``contextName``; a GET_ALL_SESSIONS for a context we do
not manage is answered with NOCONTEXTMANAGER (or, with ``follow_all_contexts``, a manager is made
for it). Sends keep their order (one sender task; the channel's MessageDispatchInterceptor runs
one worker) and use ``channel_send_options`` unless the manager asks for more (ALL_SESSION_DATA: 6).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterator

from tribes.channel import SerializedMessage
from tribes.io.member import Member

from tribes.managers.receive import DEFAULT_MAX_FOLLOWED_CONTEXTS
from tribes.managers.receive import guard as receive_guard
from tribes.ratelimit import RateLimitedLog
from tribes.managers.delta_manager import DeltaManager, DeltaManagerConfig, Send, SessionEvent, no_context_manager_reply
from tribes.managers.session import DeltaSession
from tribes.managers.session_template import encode_template
from tribes.managers.session_message import (EVT_GET_ALL_SESSIONS, SessionMessage,
                                             is_session_message)

if TYPE_CHECKING:  # pragma: no cover
    from tribes.group.channel import GroupChannel

log = logging.getLogger("tribes.managers")
_send_log = RateLimitedLog(log)

__all__ = ["SimpleTcpCluster", "DeltaContext", "context_name", "context_path", "now_ms"]


def now_ms() -> int:
    return int(time.time() * 1000)


def context_name(path: str, host: str = "localhost", container: str = "Engine") -> str:
    """The manager name Tomcat uses: ``localhost#/app`` (Engine cluster) or ``/app`` (Host cluster).

    Accepts ``/app``, ``app``, ``localhost#/app``, and ``/``, ``""``, ``ROOT``, ``localhost#`` for ROOT.
    """
    if "#" in path and not path.startswith("/"):
        return path if container == "Engine" else path.split("#", 1)[1]
    p = path.strip()
    if p in ("", "/", "ROOT"):
        p = ""
    elif not p.startswith("/"):
        p = "/" + p
    return f"{host}#{p}" if container == "Engine" else p


def context_path(name: str) -> str:
    """``localhost#/app`` -> ``/app``; ``localhost#`` -> ``/`` (for display)."""
    p = name.split("#", 1)[1] if "#" in name else name
    return p or "/"


class DeltaContext:
    """The sessions of one DeltaManager context (``cluster.manager('/app')``); all calls run on the loop thread.

    (Not Tomcat's ``ReplicatedContext``, a StandardContext whose ServletContext attributes replicate.)
    """

    def __init__(self, cluster: "SimpleTcpCluster", manager: DeltaManager) -> None:
        self.cluster = cluster
        self.delta_manager = manager

    @property
    def name(self) -> str:
        return self.delta_manager.name

    def __repr__(self) -> str:
        return f"DeltaContext({self.name!r}, {len(self.delta_manager.sessions)} sessions)"

    # -- reading ------------------------------------------------------------------------------
    def sessions(self) -> list[DeltaSession]:
        return [s for s in self.delta_manager.sessions.values() if s.is_valid]

    def session_ids(self) -> list[str]:
        return [s.id for s in self.sessions() if s.id is not None]

    def get_session(self, session_id: str) -> DeltaSession | None:
        """The valid session (a due one expires now, as a request would see it)."""
        s = self.delta_manager.get_session(session_id, now_ms())
        self.cluster._pump(self.delta_manager)
        return s

    def __len__(self) -> int:
        return len(self.delta_manager.sessions)

    # -- acting -------------------------------------------------------------------------------
    def create_session(self, attributes: dict[str, Any] | None = None, session_id: str | None = None,
                       max_inactive_interval: int | None = None) -> DeltaSession:
        """A new session made here (primary here): CREATED now, its first DELTA at the end."""
        now = now_ms()
        s = self.delta_manager.create_session(now, session_id)
        try:
            if max_inactive_interval is not None:
                s.set_max_inactive_interval(max_inactive_interval)
            for k, v in (attributes or {}).items():
                s.set_attribute(k, v)
        finally:
            assert s.id is not None
            self.delta_manager.end_request(s.id, now)
            self.cluster._pump(self.delta_manager)
        return s

    @contextlib.contextmanager
    def request(self, session_id: str, bind_route: bool = True) -> Iterator[DeltaSession]:
        """A request-scoped unit of work: changes inside leave as one DELTA at the end.

        Like JvmRouteBinderValve, a session whose id carries another node's jvmRoute is first
        renamed to this node's route (CHANGE_SESSION_ID) when ``bind_route`` and we have a route.
        Raises KeyError when the session does not exist (any more).
        """
        dm = self.delta_manager
        now = now_ms()
        s = dm.get_session(session_id, now)
        if s is None:
            self.cluster._pump(dm)
            raise KeyError(f"no session {session_id!r} in {self.name}")
        route = dm.jvm_route
        if bind_route and route and s.jvm_route != route:
            dm.change_session_id(s, f"{s.id_base}.{route}", now)
        s.access(now)
        sid = s.id
        try:
            yield s
        finally:
            assert sid is not None
            if s.is_valid and s.id is not None:
                dm.end_request(s.id, now_ms())
            self.cluster._pump(dm)

    def set_attribute(self, session_id: str, name: str, value: Any) -> DeltaSession:
        with self.request(session_id, bind_route=False) as s:
            s.set_attribute(name, value)
        return s

    def remove_attribute(self, session_id: str, name: str) -> DeltaSession:
        with self.request(session_id, bind_route=False) as s:
            s.remove_attribute(name)
        return s

    def invalidate(self, session_id: str) -> bool:
        """Expire the session here and on every node (a forced logout). False if unknown."""
        dm = self.delta_manager
        s = dm.find_session(session_id)
        if s is None:
            return False
        dm.invalidate(s, now_ms())
        self.cluster._pump(dm)
        return True

    def change_session_id(self, session_id: str, new_id: str | None = None) -> str:
        dm = self.delta_manager
        s = dm.find_session(session_id)
        if s is None:
            raise KeyError(f"no session {session_id!r} in {self.name}")
        now = now_ms()
        nid = new_id or dm.generate_session_id()
        dm.change_session_id(s, nid, now)
        self.cluster._pump(dm)
        return nid

    def add_listener(self, listener: Callable[[SessionEvent], None]) -> None:
        self.delta_manager.add_listener(listener)


class SimpleTcpCluster:
    #: contexts followed uninvited (follow_all_contexts) at most; None = no bound (a node told to
    #: follow everything, e.g. a session keeper). See tribes.managers.receive.
    max_followed_contexts: int | None = DEFAULT_MAX_FOLLOWED_CONTEXTS

    """Cluster facade: ClusterSessionListener + DeltaManagers + ordered sending over a GroupChannel."""

    def __init__(self, channel: GroupChannel, *, host: str = "localhost", container: str = "Engine",
                 jvm_route: str | None = None, channel_send_options: int = 8,
                 manager_config: Any = None, tomcat_version: str = "10.1",
                 follow_all_contexts: bool = False, background_processor_delay: float = 10.0,
                 join_wait: float = 0.0, backup_config: Any = None) -> None:
        self.channel = channel
        self.host = host
        self.container = container
        self.jvm_route = jvm_route
        self.channel_send_options = int(channel_send_options)
        if manager_config is not None and not isinstance(manager_config, DeltaManagerConfig) and backup_config is None:
            # another manager's settings (their class names it: BackupManagerConfig) select that manager
            backup_config, manager_config = manager_config, None
        self.manager_config: DeltaManagerConfig = manager_config or DeltaManagerConfig()
        self.tomcat_version = tomcat_version
        self.follow_all_contexts = follow_all_contexts
        self.background_processor_delay = background_processor_delay
        self.join_wait = join_wait
        #: a ``tribes.managers.backup.BackupManagerConfig``: contexts use BackupManager instead of DeltaManager
        self.backup_config = backup_config
        self.backup_managers: dict[str, Any] = {}
        self.managers: dict[str, DeltaManager] = {}
        self.contexts: dict[str, DeltaContext] = {}
        self.listeners: list[Callable[[SessionEvent], None]] = []
        self.message_listeners: list[Callable[[SessionMessage, Member | None], None]] = []
        self.unknown_context_messages = 0
        self.bad_messages = 0
        self.send_failures = 0
        self.started = False
        self._queue: asyncio.Queue[Send | None] | None = None
        #: sends handed to the channel and not finished (bounded: a hung member's ACK waits time out)
        self._inflight: set[asyncio.Task[None]] = set()
        self.max_inflight_sends = 10_000
        self._tasks: list[asyncio.Task[Any]] = []
        self._transfers: dict[str, asyncio.Task[str]] = {}
        channel.add_channel_listener(self)
        channel.add_membership_listener(self)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def create(cls, *, bind: str | None = None, mcast_address: str = "228.0.0.4", mcast_port: int = 45564,
               receiver_port: int = 4000, domain: str = "", frequency: int = 500, drop_time: int = 3000,
               **kw: Any) -> "SimpleTcpCluster":
        """Over Tomcat's stock cluster channel (``tribes.group.assembler.stock_spec``: McastService,
        NioReceiver, MessageDispatchInterceptor with one worker so our messages keep their order,
        TcpFailureDetector). A server.xml goes through ``tribes.config.build.build_node`` instead."""
        from tribes.group.assembler import assemble_channel, stock_spec
        from tribes.membership.mcast import resolve_bind
        address = resolve_bind(bind)[0] if bind else "auto"
        spec = stock_spec(address=address, bind=address if bind else None, receiver_port=receiver_port,
                          mcast_address=mcast_address, mcast_port=mcast_port, domain=domain, frequency=frequency,
                          drop_time=drop_time, dispatch_threads=1)
        return cls(assemble_channel(spec), **kw)

    def manager_name(self, path: str) -> str:
        return context_name(path, self.host, self.container)

    def manager(self, path: str, config: DeltaManagerConfig | None = None, *, transfer: bool = True) -> DeltaContext:
        """The context's sessions; registers a DeltaManager on first use (state transfer if started and
        ``transfer``). With ``backup_config`` it is a BackupManager context (``tribes.managers.backup.BackupContext``)."""
        name = self.manager_name(path)
        if self.backup_config is not None:
            return self.backup_manager(name)  # type: ignore[no-any-return]
        ctx = self.contexts.get(name)
        if ctx is None:
            dm = DeltaManager(name, config or self.manager_config, self.jvm_route, self.tomcat_version)
            dm.has_members = bool(self.started and self.channel.members())
            dm.add_listener(self._fire)
            self.managers[name] = dm
            ctx = self.contexts[name] = DeltaContext(self, dm)
            if self.started and transfer:
                self._transfers[name] = asyncio.get_running_loop().create_task(self._state_transfer(dm))
        return ctx

    def backup_manager(self, path: str, config: Any = None) -> Any:
        """A BackupManager context (``BackupContext``); its LazyReplicatedMap starts with the cluster."""
        from tribes.managers.backup import BackupContext, BackupManager, BackupManagerConfig
        name = self.manager_name(path)
        bm = self.backup_managers.get(name)
        if bm is None:
            bm = BackupManager(name, config or self.backup_config or BackupManagerConfig(), self.jvm_route,
                               self.tomcat_version)
            bm.add_listener(self._fire)
            self.backup_managers[name] = bm
            bm.context = BackupContext(self, bm)
            if self.started:
                self._transfers[name] = asyncio.get_running_loop().create_task(self._start_backup(bm))
        return bm.context

    async def _start_backup(self, bm: Any) -> str:
        await bm.start(self.channel)
        return "transferred"

    def add_listener(self, listener: Callable[[SessionEvent], None]) -> None:
        """Session events of every context."""
        self.listeners.append(listener)

    def _fire(self, event: SessionEvent) -> None:
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                log.exception("cluster session listener %r failed", listener)

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self, state_transfer: bool = True) -> None:
        self._queue = asyncio.Queue()
        self._tasks.append(asyncio.get_running_loop().create_task(self._sender()))
        self.channel.tomcat_version = self.tomcat_version  # version-dependent interceptors (EncryptInterceptor)
        await self.channel.start()
        if self.join_wait > 0:
            await asyncio.sleep(self.join_wait)
        self.started = True
        members = self.channel.members()
        for dm in self.managers.values():
            dm.has_members = bool(members)
        self._tasks.append(asyncio.get_running_loop().create_task(self._background()))
        for bm in list(self.backup_managers.values()):
            await bm.start(self.channel)
        if state_transfer:
            await asyncio.gather(*(self._state_transfer(dm) for dm in list(self.managers.values())))

    async def wait_state_transfers(self) -> dict[str, str | None]:
        if self._transfers:
            await asyncio.gather(*self._transfers.values(), return_exceptions=True)
        return {n: dm.state_transfer_result for n, dm in self.managers.items()}

    async def stop(self) -> None:
        now = now_ms()
        for dm in self.managers.values():
            dm.stop(now)
            self._pump(dm)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), 10)
        for bm in list(self.backup_managers.values()):
            with contextlib.suppress(Exception):
                await bm.stop()
        for t in self._transfers.values():
            t.cancel()
        if self._queue is not None:
            self._queue.put_nowait(None)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks + list(self._transfers.values()):
            with contextlib.suppress(BaseException):
                await t
        self._tasks.clear()
        self.started = False
        await self.channel.stop()

    async def __aenter__(self) -> "SimpleTcpCluster":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _state_transfer(self, dm: DeltaManager) -> str:
        now = now_ms()
        if not dm.start(self.channel.members(), now):
            return "nomembers"
        self._pump(dm)
        while dm.state_transfer_pending(now_ms()):
            await asyncio.sleep(0.1)
        result = dm.finish_state_transfer(now_ms())
        self._pump(dm)
        return result

    async def _background(self) -> None:
        """ContainerBase background processing: processExpires every frequency x delay seconds."""
        tick = 0
        while True:
            await asyncio.sleep(self.background_processor_delay)
            tick += 1
            for dm in list(self.managers.values()):
                if tick % max(1, dm.config.process_expires_frequency) == 0:
                    dm.process_expires(now_ms())
                    self._pump(dm)
            for bm in list(self.backup_managers.values()):
                if tick % max(1, bm.config.process_expires_frequency) == 0 and bm.map is not None:
                    bm.process_expires(now_ms())

    # -- sending ------------------------------------------------------------------------------
    def _pump(self, dm: DeltaManager) -> None:
        for item in dm.take_outgoing():
            self.enqueue(item)

    def enqueue(self, item: Send) -> None:
        if self._queue is None:
            log.debug("cluster not started: %s not sent", item.message)
            if item.on_done is not None:
                item.on_done(RuntimeError("the cluster is not started"))
            return
        self._queue.put_nowait(item)

    async def flush(self) -> None:
        """Wait until every queued message has been handed to the channel (and ACKed if sync)."""
        if self._queue is not None:
            await self._queue.join()
        if self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)
        for bm in list(self.backup_managers.values()):
            await bm.flush()
        with contextlib.suppress(Exception):
            await self.channel.flush()  # the channel's asynchronous queue (MessageDispatchInterceptor)

    async def send(self, msg: SessionMessage, destination: Member | None = None, options: int | None = None) -> None:
        """SimpleTcpCluster.send: to one member or to all current members (never to ourselves)."""
        opts = self.channel_send_options if options is None else options
        if destination is None:
            local = self.channel.local_member
            dests = [m for m in self.channel.members() if m != local]
        else:
            dests = [destination]
        if not dests:
            return
        # the SessionMessageImpl stream from its template (byte-identical to dumps(msg.to_java()),
        # tribes.managers.session_template); the general writer in the channel for anything else
        data = encode_template(msg)
        await self.channel.send(dests, msg.to_java() if data is None else SerializedMessage(data), opts)

    async def _sender(self) -> None:
        assert self._queue is not None
        while True:
            item = await self._queue.get()
            try:
                if item is None:
                    return
                if item.delay > 0:
                    await asyncio.sleep(item.delay)
                if item.build is not None:      # a session stream: serialize off the event loop
                    await asyncio.to_thread(item.materialize)
                # Each send runs as its own task, so a slow or hung member (whose ACKs take up to the
                # sender's timeout) does not hold back the next message to the healthy ones. Order per
                # member is kept by the transport: a send reaches its members' queues (MemberLink) before
                # it first waits, and tasks start in the order they are made.
                while len(self._inflight) >= self.max_inflight_sends:
                    await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
                task = asyncio.get_running_loop().create_task(self._send_item(item))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            finally:
                self._queue.task_done()

    async def _send_item(self, item: Send) -> None:
        error: BaseException | None = None
        try:
            await self.send(item.message, item.destination, item.options)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("sent %s to %s (options %s)", item.message,
                          getattr(item.destination, "name", "all members"), item.options)
        except Exception as exc:
            error = exc
            self.send_failures += 1
            _send_log.warn("send_failed", "sending %s to %s failed: %s", item.message,
                           getattr(item.destination, "name", "all members"), exc)
        finally:
            if item.on_done is not None:
                try:
                    item.on_done(error)
                except Exception:  # noqa: BLE001 - a waiter must not break the sender
                    log.exception("send completion callback failed")

    # -- ChannelListener (ClusterSessionListener) -----------------------------------------------
    def accept(self, msg: Any, sender: Member) -> bool:
        return is_session_message(msg)

    def message_received(self, msg: Any, sender: Member) -> Any:
        # decoded, checked and delivered by tribes.managers.receive (large payloads off the loop)
        return receive_guard(self).message_received(msg, sender)

    def add_message_listener(self, listener: Callable[[SessionMessage, Member | None], None]) -> None:
        """Called with every SessionMessage from another member once the managers have handled it
        (whatever they did with it): a cache of session copies (the web agent) knows what changed."""
        self.message_listeners.append(listener)

    def remove_message_listener(self, listener: Callable[[SessionMessage, Member | None], None]) -> None:
        if listener in self.message_listeners:
            self.message_listeners.remove(listener)

    def deliver(self, smsg: SessionMessage, sender: Member | None) -> None:
        """Route one SessionMessage by context name (null: every manager), then tell the message listeners."""
        try:
            self._route(smsg, sender)
        finally:
            for listener in list(self.message_listeners):
                try:
                    listener(smsg, sender)
                except Exception:
                    log.exception("cluster message listener %r failed", listener)

    def _route(self, smsg: SessionMessage, sender: Member | None) -> None:
        if not receive_guard(self).admit(smsg, sender):  # state requests: members only
            return
        now = now_ms()
        if smsg.context_name is None:
            for each in list(self.managers.values()):
                for item in each.handle(smsg, sender, now):
                    self.enqueue(item)
            return
        dm = self.managers.get(smsg.context_name)
        if dm is None and self.follow_all_contexts and self.started and receive_guard(self).may_follow(smsg, sender):
            # a context first heard of through a GET_ALL_SESSIONS: its sender is starting and asks us, its
            # oldest member; asking it back for its (empty) state would hold its answer for the whole
            # stateTransferTimeout, so this manager starts empty and answers at once
            self.manager(smsg.context_name, transfer=smsg.event_type != EVT_GET_ALL_SESSIONS)
            dm = self.managers.get(smsg.context_name)
        if dm is None:
            self.unknown_context_messages += 1
            receive_guard(self).no_manager(smsg, sender)
            if smsg.event_type == EVT_GET_ALL_SESSIONS and sender is not None:
                self.enqueue(Send(no_context_manager_reply(smsg.context_name), sender))
            return
        for item in dm.handle(smsg, sender, now):
            self.enqueue(item)

    # -- MembershipListener ---------------------------------------------------------------------
    def member_added(self, member: Member) -> None:
        for dm in self.managers.values():
            dm.has_members = True
        log.info("replication member added: %s", getattr(member, "name", member))

    def member_disappeared(self, member: Member) -> None:
        has = bool([m for m in self.channel.members() if m != member])
        for dm in self.managers.values():
            dm.has_members = has
        log.info("replication member disappeared: %s", getattr(member, "name", member))

    # -- convenience ----------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["SimpleTcpCluster"]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()
