"""``DeltaManager``: Tomcat's replicated session manager for one context, as a sans-I/O state machine.

Nothing here reads a clock or touches the network. Every entry point takes ``now`` (epoch ms) and
queues what must be sent as :class:`Send` items; ``take_outgoing()`` hands them to the I/O layer
(``tribes.managers.cluster``), which sends them in order with ``Send.options`` (None = the cluster's
``channelSendOptions``) after sleeping ``Send.delay`` seconds. Listener callbacks receive
:class:`SessionEvent` objects synchronously.

Behaviour follows org.apache.catalina.ha.session.DeltaManager (9.0.70 / 10.1):

* state transfer on start: ``start(members, now)`` asks ``members[0]`` (the oldest) with
  EVT_GET_ALL_SESSIONS (options 8) and queues incoming 1,2,3,4,13,15 until TRANSFERCOMPLETE (14) or
  NOCONTEXTMANAGER (16) or ``state_transfer_timeout`` s; then the queue is replayed, dropping (with
  ``state_timestamp_drop``) messages older than the responder's snapshot time. One deliberate
  difference: a queued GET_ALL_SESSIONS is *answered* after the transfer instead of dropped, so a
  Tomcat node starting at the same time never waits 60 s for us.
* serving: GET_ALL_SESSIONS -> ALL_SESSION_DATA (options 6; one message, or chunks of
  ``send_all_sessions_size`` ``send_all_sessions_wait_time`` ms apart) then TRANSFERCOMPLETE.
* CREATED / EXPIRED / ACCESSED / DELTA / CHANGE_SESSION_ID as Tomcat handles them.
* expiry: ``process_expires(now)``: primary sessions after max inactive interval (replicated:
  a last delta if dirty, then EXPIRED), backup copies after twice that (not replicated).
"""
from __future__ import annotations

import functools
import logging
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable, Mapping, Sequence

from tribes.attributes import UnknownAttributeError, kwargs_from_attributes
from tribes.channel import SendOptions
from tribes.io.member import Member

from tribes.managers.delta_request import DeltaRequest, DeltaRequestError
from tribes.managers.session import DeltaSession, java_class_name
from tribes.managers.session_message import (
    EVT_ALL_SESSION_DATA, EVT_ALL_SESSION_NOCONTEXTMANAGER, EVT_ALL_SESSION_TRANSFERCOMPLETE, EVT_CHANGE_SESSION_ID,
    EVT_GET_ALL_SESSIONS, EVT_SESSION_ACCESSED, EVT_SESSION_CREATED, EVT_SESSION_DELTA, EVT_SESSION_EXPIRED,
    SessionMessage, event_name)
from tribes.managers.session_state import SessionState, SessionStateError, read_sessions, write_sessions
from tribes.ratelimit import RateLimitedLog

log = logging.getLogger("tribes.managers")


#: events queued while a state transfer is running (DeltaManager.messageDataReceived)
QUEUED_EVENTS = frozenset({EVT_GET_ALL_SESSIONS, EVT_SESSION_CREATED, EVT_SESSION_EXPIRED, EVT_SESSION_ACCESSED,
                           EVT_SESSION_DELTA, EVT_CHANGE_SESSION_ID})


_NEEDS_SESSION = frozenset({EVT_SESSION_DELTA, EVT_SESSION_ACCESSED, EVT_SESSION_EXPIRED, EVT_CHANGE_SESSION_ID})


class TooManyActiveSessionsException(RuntimeError):
    """createSession refused: ``max_active_sessions`` reached (Tomcat's exception of that name)."""

    def __init__(self, max_active: int) -> None:
        super().__init__(f"createSession: too many active sessions ({max_active}); raise maxActiveSessions")
        self.max_active_sessions = max_active


@dataclass
class DeltaManagerConfig:
    """DeltaManager / ClusterManagerBase / ManagerBase attributes with Tomcat's defaults (snake_case)."""

    expire_sessions_on_shutdown: bool = False
    notify_listeners_on_replication: bool = True
    notify_session_listeners_on_replication: bool = True
    notify_container_listeners_on_replication: bool = True
    state_transfer_timeout: int = 60            # seconds; -1 wait forever, 0 do not wait
    send_all_sessions: bool = True
    send_all_sessions_size: int = 1000
    send_all_sessions_wait_time: int = 2000     # ms
    state_timestamp_drop: bool = True
    record_all_actions: bool = False
    max_active_sessions: int = -1
    session_attribute_name_filter: str | None = None
    session_attribute_value_class_name_filter: str | None = None
    warn_on_session_attribute_filter_failure: bool = False
    process_expires_frequency: int = 6
    persist_authentication_notes: bool = False  # 9.0 only (10.1 always writes the notes)
    enable_statistics: bool = True
    session_timeout: int = 30                   # the context's <session-timeout> in minutes
    session_id_length: int = 16                 # bytes of randomness (32 hex characters)
    #: Python-only: hold DELTA/ACCESSED/EXPIRED/CHANGE_SESSION_ID for a session id we do not know yet
    #: this long (ms) and replay them when its CREATED (or rename) arrives; Tomcat's own async sends
    #: can arrive out of order. 0 = Tomcat's behaviour (ignore them at once).
    reorder_window: int = 5000
    #: Python-only: send CREATED and CHANGE_SESSION_ID with USE_ACK|SYNCHRONIZED_ACK (6), so the
    #: session exists on every node before its first DELTA arrives. Tomcat's NioReceiver re-registers
    #: a connection for reading before it processes what it read, so two messages on one connection
    #: can be processed out of order by two worker threads. False = channelSendOptions, as Tomcat.
    ordered_creation: bool = True
    #: Python-only: the held-message window's bound: at most this many messages are held for unknown
    #: session ids (reorder_window) at once; past it the oldest session's held messages are dropped,
    #: with a rate-limited log line. Tomcat holds nothing (it drops them at once).
    max_held_messages: int = 10000

    def __post_init__(self) -> None:
        if self.send_all_sessions_size <= 0:
            raise ValueError(f"sendAllSessionsSize must be > 0, not {self.send_all_sessions_size}")

    @classmethod
    def from_attributes(cls, attrs: Mapping[str, Any]) -> "DeltaManagerConfig":
        """From server.xml's camelCase attribute names (``className``/``name`` are ignored)."""
        try:
            return cls(**kwargs_from_attributes(cls, attrs, ignore=("className", "name"), what="DeltaManager"))
        except UnknownAttributeError as exc:
            raise ValueError(f"unknown DeltaManager attribute {exc.attribute!r} "
                             f"(known: {', '.join(exc.accepted)})") from None


@dataclass
class Send:
    """A message for the I/O layer: ``destination`` None = every member; ``options`` None = the
    cluster's channelSendOptions; ``delay`` seconds to wait before sending (chunked state transfer)."""

    message: SessionMessage
    destination: Member | None = None
    options: int | None = None
    delay: float = 0.0
    #: builds ``message.session`` from a snapshot (ALL_SESSION_DATA): CPU-heavy, so the I/O layer
    #: may run it in a worker thread; ``materialize()`` runs it here
    build: Callable[[], bytes] | None = None
    #: called once the I/O layer is done with the send (None, or the error it failed with): a
    #: request that must wait for its synchronous replication, as Tomcat's does, waits for this
    on_done: Callable[[BaseException | None], None] | None = None

    def materialize(self) -> SessionMessage:
        if self.build is not None:
            self.message.session = self.build()
            self.build = None
        return self.message


@dataclass
class SessionEvent:
    """What listeners get. ``kind``: created, destroyed, attribute_added, attribute_replaced,
    attribute_removed, id_changed, accessed, state_received, state_transfer_complete.
    ``replicated`` is True when the change came from another node."""

    kind: str
    context: str
    session_id: str | None
    replicated: bool = False
    name: str | None = None
    value: Any = None
    old_value: Any = None
    old_id: str | None = None
    sender: Member | None = None


@dataclass
class Statistics:
    counters: dict[str, int] = field(default_factory=dict)

    def inc(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def get(self, key: str) -> int:
        return self.counters.get(key, 0)


class ClusterManagerBase:
    """What DeltaManager and BackupManager share, as Tomcat's ``ClusterManagerBase``: session
    listeners and the attribute filters (ManagerBase.willAttributeDistribute). A subclass sets
    ``name``, ``config`` and ``listeners`` and calls ``_init_filters()``."""

    name: str
    config: Any
    listeners: list[Callable[[SessionEvent], None]]
    _name_re: "re.Pattern[str] | None"
    _class_re: "re.Pattern[str] | None"

    def _init_filters(self) -> None:
        self._name_re = re.compile(self.config.session_attribute_name_filter) \
            if self.config.session_attribute_name_filter else None
        self._class_re = re.compile(self.config.session_attribute_value_class_name_filter) \
            if self.config.session_attribute_value_class_name_filter else None

    def exclude(self, name: str, value: Any) -> bool:
        """True when the attribute must not replicate (name or value class filter)."""
        if self._name_re is not None and not self._name_re.fullmatch(name):
            if self.config.warn_on_session_attribute_filter_failure:
                log.warning("%s: attribute %r filtered out by sessionAttributeNameFilter", self.name, name)
            return True
        if value is not None and self._class_re is not None and not self._class_re.fullmatch(java_class_name(value)):
            if self.config.warn_on_session_attribute_filter_failure:
                log.warning("%s: attribute %r (%s) filtered out by sessionAttributeValueClassNameFilter", self.name,
                            name, java_class_name(value))
            return True
        return False

    def add_listener(self, listener: Callable[[SessionEvent], None]) -> None:
        self.listeners.append(listener)

    def remove_listener(self, listener: Callable[[SessionEvent], None]) -> None:
        self.listeners.remove(listener)

    def _fire(self, event: SessionEvent) -> None:
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                log.exception("session listener %r failed on %s", listener, event.kind)

    def _fire_attr(self, kind: str, session_id: str | None, replicated: bool, **kw: Any) -> None:
        if replicated and not self.config.notify_listeners_on_replication:
            return
        self._fire(SessionEvent(kind, self.name, session_id, replicated, **kw))


class DeltaManager(ClusterManagerBase):
    """Sessions of one context (``name`` = ``localhost#/app``) and Tomcat's replication rules."""

    #: the settings a <Manager className="...DeltaManager"> configures (tribes.config.build)
    config_class: ClassVar[type[DeltaManagerConfig]] = DeltaManagerConfig
    config: DeltaManagerConfig

    def __init__(self, name: str, config: DeltaManagerConfig | None = None, jvm_route: str | None = None,
                 tomcat_version: str | int = "10.1") -> None:
        self.name = name
        self.config = config or DeltaManagerConfig()
        self.jvm_route = jvm_route
        self.tomcat_version = str(tomcat_version)
        self.sessions: dict[str, DeltaSession] = {}
        self.has_members = False
        self.stats = Statistics()
        self.listeners: list[Callable[[SessionEvent], None]] = []
        self.expired_sessions = 0
        self.rejected_sessions = 0
        self.session_replace_counter = 0
        # one bound method shared by every session (``self.exclude`` makes a new one on each access)
        self._exclude = self.exclude
        #: Python-only: a state transfer keeps an existing copy accessed later than the received one
        #: (a keeper reconciling its store with the live cluster); Tomcat always replaces
        self.transfer_keep_newer = False
        #: Python-only: when a list, the id of every session received by state transfer is appended
        #: (a keeper tells the sessions the live cluster still has from those only its store had)
        self.transfer_ids: list[str] | None = None
        self.dropped_messages = 0
        # state transfer
        self.receiver_queue = False
        self.received_queue: list[SessionMessage] = []
        self.state_transferred = False
        self.no_context_manager_received = False
        self.state_transfer_create_send_time = 0
        self.state_transfer_started: int | None = None
        self.state_transfer_member: Member | None = None
        self.state_transfer_result: str | None = None    # "transferred", "nocontextmanager", "timeout", "nomembers"
        self.state_transfer_ms: int | None = None
        self._outbox: list[Send] = []
        #: messages for unknown session ids, replayed when the id appears (reorder_window)
        self.pending: dict[str, list[tuple[SessionMessage, Any, int]]] = {}
        self.held_count = 0                        # messages in ``pending`` (bounded: max_held_messages)
        #: log lines a peer can cause (corrupt or unusable messages): one per kind per interval
        self._rl = RateLimitedLog(log)
        self.recently_expired: dict[str, int] = {}
        self._init_filters()

    # -- plumbing -----------------------------------------------------------------------------
    def take_outgoing(self) -> list[Send]:
        out, self._outbox = self._outbox, []
        return out

    def _send(self, msg: SessionMessage, destination: Member | None = None, options: int | None = None,
              delay: float = 0.0) -> None:
        self.stats.inc(f"send_{event_name(msg.event_type)}")
        self._outbox.append(Send(msg, destination, options, delay))

    def _ordered_options(self) -> int | None:
        return int(SendOptions.USE_ACK | SendOptions.SYNCHRONIZED_ACK) if self.config.ordered_creation else None

    def _fire_session(self, kind: str, session_id: str | None, replicated: bool, **kw: Any) -> None:
        if replicated and not self.config.notify_session_listeners_on_replication:
            return
        self._fire(SessionEvent(kind, self.name, session_id, replicated, **kw))

    # -- filters (ManagerBase.willAttributeDistribute / ClusterManagerBase) ----------------------
    # -- sessions -----------------------------------------------------------------------------
    def generate_session_id(self) -> str:
        while True:
            sid = secrets.token_hex(self.config.session_id_length).upper()
            if self.jvm_route:
                sid += "." + self.jvm_route
            if sid not in self.sessions:
                return sid

    def _new_session(self, now: int) -> DeltaSession:
        return DeltaSession(None, now, self.config.record_all_actions, self._exclude)

    @property
    def active_sessions(self) -> int:
        return len(self.sessions)

    def find_session(self, session_id: str) -> DeltaSession | None:
        return self.sessions.get(session_id)

    def get_session(self, session_id: str, now: int) -> DeltaSession | None:
        """findSession + isValid (which may expire it), as a request would see it."""
        s = self.sessions.get(session_id)
        if s is None:
            return None
        if s.expiry_due(now):
            self._expire(s, now, notify=True, notify_cluster=s.primary)
            return None
        return s if s.is_valid else None

    def create_session(self, now: int, session_id: str | None = None, distribute: bool = True) -> DeltaSession:
        """ManagerBase.createSession + DeltaManager.sendCreateSession (CREATED with the creation time)."""
        mas = self.config.max_active_sessions
        if mas >= 0 and self.active_sessions >= mas:
            self.rejected_sessions += 1
            raise TooManyActiveSessionsException(mas)
        s = self._new_session(now)
        s.set_new(True)
        s.is_valid = True
        s.creation_time = s.last_accessed_time = s.this_accessed_time = now
        s.set_max_inactive_interval(self.config.session_timeout * 60)
        s.set_id(session_id or self.generate_session_id())
        assert s.id is not None
        self.sessions[s.id] = s
        self._fire_session("created", s.id, False)
        if distribute and self.has_members:
            msg = SessionMessage(EVT_SESSION_CREATED, self.name, s.id, None, f"{s.id}-{now}")
            msg.set_timestamp(s.creation_time)
            self._send(msg, options=self._ordered_options())
        return s

    def request_completed(self, session_id: str, now: int, expires: bool = False) -> SessionMessage | None:
        """DeltaManager.requestCompleted: the DELTA (or ACCESSED) to send at the end of a request."""
        s = self.sessions.get(session_id)
        if s is None:
            return None
        msg: SessionMessage | None = None
        if s.is_dirty:
            msg = SessionMessage(EVT_SESSION_DELTA, self.name, session_id, s.get_diff(self.tomcat_version),
                                 f"{session_id}-{now}")
        elif not expires and not s.primary:
            msg = SessionMessage(EVT_SESSION_ACCESSED, self.name, session_id, None, f"{session_id}-{now}")
        if not expires:
            s.primary = True
        if not expires and msg is None:
            if s.max_inactive_interval >= 0 and now - s.last_time_replicated > s.max_inactive_interval * 1000:
                msg = SessionMessage(EVT_SESSION_ACCESSED, self.name, session_id, None, f"{session_id}-{now}")
        if msg is not None:
            s.last_time_replicated = now
            msg.set_timestamp(now)
        return msg

    def end_request(self, session_id: str, now: int) -> None:
        """ReplicationValve at the end of a request: end access, send the delta if there is one."""
        s = self.sessions.get(session_id)
        if s is not None and s.is_valid:
            s.end_access(now)
        msg = self.request_completed(session_id, now)
        if msg is not None and self.has_members:
            self._send(msg)

    def invalidate(self, session: DeltaSession | str, now: int) -> None:
        """HttpSession.invalidate(): expire here and on every node."""
        s = self.sessions.get(session) if isinstance(session, str) else session
        if s is None:
            return
        self._expire(s, now, notify=True, notify_cluster=True)

    def _expire(self, s: DeltaSession, now: int, notify: bool, notify_cluster: bool, replicated: bool = False) -> None:
        """DeltaSession.expire(notify, notifyCluster)."""
        if not s.is_valid:
            return
        sid = s.id
        assert sid is not None
        if notify_cluster:
            last = self.request_completed(sid, now, expires=True)
            if last is not None and self.has_members:
                self._send(last)
        s.expiring = True
        self.sessions.pop(sid, None)
        if self.config.reorder_window > 0:
            self.recently_expired.pop(sid, None)  # re-inserted: the table stays in time order
            self.recently_expired[sid] = now
        s.is_valid = False
        s.expiring = False
        self.expired_sessions += 1
        if notify:
            self._fire_session("destroyed", sid, replicated)
        if notify_cluster and self.has_members:
            msg = SessionMessage(EVT_SESSION_EXPIRED, self.name, sid, None, f"{sid}-EXPIRED-MSG")
            msg.set_timestamp(now)
            self._send(msg)

    def process_expires(self, now: int) -> int:
        """ManagerBase.processExpires: check every session; returns how many expired."""
        self.expire_pending(now)
        n = 0
        for s in list(self.sessions.values()):
            if s.expiry_due(now):
                self._expire(s, now, notify=True, notify_cluster=s.primary)
                n += 1
        return n

    def next_expiry(self) -> int | None:
        """The earliest epoch ms at which some session becomes due (for schedulers)."""
        times = [t for t in (s.expires_at() for s in self.sessions.values()) if t is not None]
        return min(times) if times else None

    def change_session_id(self, session: DeltaSession, new_id: str, now: int, notify: bool = True,
                          replicated: bool = False) -> None:
        """ManagerBase.changeSessionId + sendChangeSessionId (EVT 15, old id as sessionID)."""
        old = session.id
        assert old is not None
        if new_id == old:
            return
        other = self.sessions.get(new_id)
        if other is not None and other is not session:
            # Tomcat silently replaces the other session; a rename never overwrites here
            self.stats.inc("change_session_id_refused")
            if replicated:
                raise ValueError(f"CHANGE_SESSION_ID of {old} to {new_id}: a session with that id exists "
                                 "(not overwritten)")
            raise ValueError(f"cannot rename session {old} to {new_id}: a session with that id exists")
        self.sessions.pop(old, None)
        if self.config.reorder_window > 0:
            self.recently_expired.pop(old, None)
            self.recently_expired[old] = now      # a late CREATED for the old id must not resurrect it
        session.set_id(new_id)
        self.sessions[new_id] = session
        if not replicated or self.config.notify_container_listeners_on_replication:
            self._fire(SessionEvent("id_changed", self.name, new_id, replicated, old_id=old))
        if notify and self.has_members:
            from tribes.javaser import ObjectOutputStream
            out = ObjectOutputStream()
            out.write_utf(new_id)
            msg = SessionMessage(EVT_CHANGE_SESSION_ID, self.name, old, out.getvalue(), f"{old}-{now}")
            msg.set_timestamp(now)
            self._send(msg, options=self._ordered_options())

    def rotate_session_id(self, session: DeltaSession, now: int) -> str:
        new_id = self.generate_session_id()
        self.change_session_id(session, new_id, now)
        return new_id

    def stop(self, now: int) -> None:
        """stopInternal: expire every session locally; replicate only with expireSessionsOnShutdown."""
        for s in list(self.sessions.values()):
            self._expire(s, now, notify=True, notify_cluster=self.config.expire_sessions_on_shutdown)

    # -- state transfer (client side) ------------------------------------------------------------
    def start(self, members: Sequence[Member], now: int) -> bool:
        """getAllClusterSessions: True when a GET_ALL_SESSIONS went out and we now wait for the state."""
        self.has_members = bool(members)
        if not members:
            self.state_transfer_result = "nomembers"
            log.info("%s: no members, no state to transfer", self.name)
            return False
        mbr = members[0]
        msg = SessionMessage(EVT_GET_ALL_SESSIONS, self.name, "GET-ALL", None, f"GET-ALL-{self.name}")
        msg.set_timestamp(now)
        self.state_transfer_create_send_time = now
        self.state_transfer_started = now
        self.state_transfer_member = mbr
        self.state_transferred = False
        self.no_context_manager_received = False
        self.state_transfer_result = None
        self.receiver_queue = True
        self._send(msg, mbr, int(SendOptions.ASYNCHRONOUS))
        log.info("%s: requesting the session state from %s (timeout %s s)", self.name,
                 getattr(mbr, "name", mbr), self.config.state_transfer_timeout)
        return True

    def state_transfer_pending(self, now: int) -> bool:
        """True while we still wait (waitForSendAllSessions); finish with ``finish_state_transfer``."""
        if not self.receiver_queue:
            return False
        if self.state_transferred or self.no_context_manager_received:
            return False
        timeout = self.config.state_transfer_timeout
        if timeout == 0:
            return False
        if timeout < 0:
            return True
        assert self.state_transfer_started is not None
        return now - self.state_transfer_started < timeout * 1000

    def finish_state_transfer(self, now: int) -> str:
        """Replay the queue (dropping stale messages) and stop queueing; returns the outcome."""
        if self.state_transferred:
            result = "transferred"
        elif self.no_context_manager_received:
            result = "nocontextmanager"
        else:
            result = "timeout"
            self.stats.inc("no_state_transferred")
            log.error("%s: no session state received from %s within %s s", self.name,
                      getattr(self.state_transfer_member, "name", self.state_transfer_member),
                      self.config.state_transfer_timeout)
        self.state_transfer_result = result
        queue, self.received_queue = self.received_queue, []
        self.receiver_queue = False
        for m in queue:
            if m.event_type == EVT_GET_ALL_SESSIONS:
                # Tomcat drops it ("FIXME handle EVT_GET_ALL_SESSIONS later"); we answer it.
                self._dispatch(m, m.address, now)
            elif not self.config.state_timestamp_drop or m.get_timestamp() >= self.state_transfer_create_send_time:
                self._dispatch(m, m.address, now)
            else:
                self.dropped_messages += 1
                self._rl.warn("dropped-stale", "%s: dropped %s for %s queued during the state transfer (older than %d)",
                         self.name, m.event_type_string, m.session_id, self.state_transfer_create_send_time)
        if self.state_transfer_started is not None:
            self.state_transfer_ms = now - self.state_transfer_started
            log.info("%s: session state %s in %d ms (%d sessions)", self.name, result, self.state_transfer_ms,
                     len(self.sessions))
        self._fire(SessionEvent("state_transfer_complete", self.name, None, False, value=result))
        return result

    # -- receiving ----------------------------------------------------------------------------
    def handle(self, msg: SessionMessage, sender: Member | None, now: int) -> list[Send]:
        """messageDataReceived: queue or process one message; returns what must be sent."""
        if msg.address is None:
            msg.address = sender
        if self.pending or self.recently_expired:
            self.expire_pending(now)
        if self.receiver_queue and msg.event_type in QUEUED_EVENTS:
            self.received_queue.append(msg)
        else:
            self._dispatch(msg, sender, now)
        return self.take_outgoing()

    def _dispatch(self, msg: SessionMessage, sender: Member | None, now: int) -> None:
        evt = msg.event_type
        self.stats.inc(f"receive_{event_name(evt)}")
        handler = self._HANDLERS.get(evt)
        if (evt in _NEEDS_SESSION and self.config.reorder_window > 0 and msg.session_id
                and msg.session_id not in self.sessions):
            if evt == EVT_SESSION_EXPIRED and msg.session_id in self.recently_expired:
                return
            self._hold(msg, sender, now)
            return
        if handler is None:
            self._rl.warn("unknown-event", "%s: dropped a SessionMessage with unknown event type %d from %s", self.name,
                     evt, getattr(sender, "name", sender))
            self.dropped_messages += 1
            return
        try:
            handler(self, msg, sender, now)
        except (DeltaRequestError, SessionStateError, ValueError, TypeError, ArithmeticError, LookupError) as exc:
            # Tomcat logs deltaManager.receiveMessage.error and ACKs; a DELTA is applied entirely or
            # not at all (DeltaRequest.execute rolls back), so nothing of this message stays applied
            self.dropped_messages += 1
            self._rl.warn(f"dropped-{evt}-{type(exc).__name__}", "%s: dropped %s for %s from %s: %s", self.name,
                     msg.event_type_string, msg.session_id, getattr(sender, "name", sender), exc)

    def _hold(self, msg: SessionMessage, sender: Member | None, now: int) -> None:
        """Hold a message for an unknown session id (reorder_window), within max_held_messages."""
        assert msg.session_id is not None
        self.pending.setdefault(msg.session_id, []).append((msg, sender, now))
        self.held_count += 1
        self.stats.inc("held_for_unknown_session")
        limit = max(1, self.config.max_held_messages)
        while self.held_count > limit and self.pending:
            sid = next(iter(self.pending))      # the oldest held session id
            held = self.pending.pop(sid)
            self.held_count -= len(held)
            self.stats.inc("held_dropped_window_full", len(held))
            self._rl.warn("held-window-full", "%s: %d messages held for unknown sessions (max_held_messages); "
                     "dropped the %d held for %s, the oldest", self.name, limit + 1, len(held), sid)

    def _replay(self, session_id: str, now: int) -> None:
        """Messages held for ``session_id`` (it is known now), in arrival order."""
        held = self.pending.pop(session_id, None)
        if not held:
            return
        self.held_count -= len(held)
        self.stats.inc("replayed_for_late_session", len(held))
        for m, snd, _t in held:
            self._dispatch(m, snd, now)

    def expire_pending(self, now: int) -> int:
        """Forget held messages and tombstones older than reorder_window; returns how many messages."""
        window = self.config.reorder_window
        n = 0
        # both tables are in arrival order (a session id's entry is made by its first held message;
        # a tombstone is re-inserted when renewed): only the expired head is visited, not every entry
        expired: list[str] = []
        for k, v in self.pending.items():
            if v and now - v[0][2] < window:
                break
            expired.append(k)
        for sid in expired:
            held = self.pending.pop(sid)
            n += len(held)
            self.held_count -= len(held)
            log.debug("%s: %d message(s) for unknown session %s dropped after %d ms", self.name, len(held), sid,
                      window)
        if n:
            self.stats.inc("delta_unknown_session", n)
        gone: list[str] = []
        for k, t in self.recently_expired.items():
            if now - t < window:
                break
            gone.append(k)
        for sid in gone:
            del self.recently_expired[sid]
        return n

    def _h_get_all(self, msg: SessionMessage, sender: Member | None, now: int) -> None:
        # the snapshot is taken now (shallow copies, so later changes do not leak in); the bytes are
        # built by Send.build, which the I/O layer runs off the event loop
        snapshot = [snapshot_session(s) for s in self.sessions.values() if s.is_valid]
        t = now
        opts = int(SendOptions.USE_ACK | SendOptions.SYNCHRONIZED_ACK)
        notes = self.config.persist_authentication_notes
        version = self.tomcat_version
        if self.config.send_all_sessions:
            chunks = [snapshot]
        else:
            size = self.config.send_all_sessions_size
            chunks = [snapshot[i:i + size] for i in range(0, len(snapshot), size)]
        wait = self.config.send_all_sessions_wait_time / 1000.0
        for i, chunk in enumerate(chunks):
            self._send(self._data_message(None, t), sender, opts, delay=wait if i > 0 else 0.0)
            self._outbox[-1].build = functools.partial(write_sessions, chunk, version, notes)
        done = SessionMessage(EVT_ALL_SESSION_TRANSFERCOMPLETE, self.name, "SESSION-STATE-TRANSFERRED", None,
                              f"SESSION-STATE-TRANSFERRED{self.name}")
        done.set_timestamp(t)
        self._send(done, sender)
        log.info("%s: sent %d sessions to %s", self.name, len(snapshot), getattr(sender, "name", sender))

    def _data_message(self, data: bytes | None, t: int) -> SessionMessage:
        m = SessionMessage(EVT_ALL_SESSION_DATA, self.name, "SESSION-STATE", data, f"SESSION-STATE-{self.name}")
        m.set_timestamp(t)
        return m

    def _h_all_session_data(self, msg: SessionMessage, sender: Member | None, now: int) -> None:
        if msg.session is None:
            raise SessionStateError("ALL_SESSION_DATA without payload")
        if isinstance(msg.decoded, Exception):   # decoded ahead (tribes.managers.receive) and failed
            raise msg.decoded
        states = msg.decoded if isinstance(msg.decoded, list) else read_sessions(msg.session)
        for st in states:
            self.install_state(st, now, sender=sender, keep_newer=self.transfer_keep_newer)
            if self.transfer_ids is not None:
                self.transfer_ids.append(st.id)
        self._fire(SessionEvent("state_received", self.name, None, True, value=len(states), sender=sender))

    def install_state(self, st: SessionState, now: int, *, touch: bool = True, sender: Member | None = None,
                      keep_newer: bool = False) -> DeltaSession | None:
        """Make a session from its transferred state (handleALL_SESSION_DATA's per-session step).

        ``touch``: restart its idle clock, as Tomcat's state transfer does (``access()``); a store
        that reloads sessions passes False so expiry is honoured across restarts. ``keep_newer``: an
        existing copy accessed later than ``st`` is kept (returns None)."""
        old = self.sessions.get(st.id)
        if keep_newer and old is not None and old.is_valid and old.last_accessed_time > st.last_accessed_time:
            return None
        s = self._new_session(now)
        s.creation_time = st.creation_time
        s.last_accessed_time = st.last_accessed_time
        s.max_inactive_interval = st.max_inactive_interval
        s.is_new = st.is_new
        s.this_accessed_time = st.this_accessed_time
        s.version = st.version
        s.principal = st.principal
        if st.notes:
            s.notes = dict(st.notes)
        s.attributes = st.attributes          # the state object is discarded: no copy
        if st.listeners:
            s.listeners = list(st.listeners)
        s.set_id(st.id)
        s.is_valid = True
        s.primary = False
        if touch:
            s.access(now)
            s.access_count = 0
        s.reset_delta_request()
        if old is not None:
            self.session_replace_counter += 1
            log.warning("%s: state transfer replaced the existing session %s", self.name, st.id)
        self.sessions[st.id] = s
        self._fire_session("created", st.id, True, sender=sender)
        self._replay(st.id, now)
        return s

    def _h_transfer_complete(self, msg: SessionMessage, sender: Member | None, now: int) -> None:
        self.state_transfer_create_send_time = msg.get_timestamp()
        self.state_transferred = True

    def _h_no_context_manager(self, msg: SessionMessage, sender: Member | None, now: int) -> None:
        self.no_context_manager_received = True

    def _h_created(self, msg: SessionMessage, sender: Member | None, now: int) -> None:
        if not msg.session_id:
            raise ValueError("SESSION_CREATED without a session id")
        if msg.session_id in self.recently_expired:
            log.debug("%s: late CREATED for the expired session %s ignored", self.name, msg.session_id)
            return
        s = self._new_session(now)
        s.is_valid = True
        s.primary = False
        s.creation_time = msg.get_timestamp()
        s.max_inactive_interval = self.config.session_timeout * 60
        s.access(now)
        s.set_id(msg.session_id)
        self.sessions[msg.session_id] = s
        s.end_access(now)
        self._fire_session("created", msg.session_id, True, sender=sender)
        self._replay(msg.session_id, now)

    def _h_expired(self, msg: SessionMessage, sender: Member | None, now: int) -> None:
        s = self.sessions.get(msg.session_id or "")
        if s is not None:
            self._expire(s, now, notify=self.config.notify_session_listeners_on_replication, notify_cluster=False,
                         replicated=True)

    def _h_accessed(self, msg: SessionMessage, sender: Member | None, now: int) -> None:
        s = self.sessions.get(msg.session_id or "")
        if s is not None:
            s.access(now)
            s.primary = False
            s.end_access(now)
            self._fire(SessionEvent("accessed", self.name, s.id, True, sender=sender))

    def _h_delta(self, msg: SessionMessage, sender: Member | None, now: int) -> None:
        s = self.sessions.get(msg.session_id or "")
        if s is None:
            log.debug("%s: delta for unknown session %s ignored", self.name, msg.session_id)
            self.stats.inc("delta_unknown_session")
            return
        if msg.session is None:
            raise DeltaRequestError("SESSION_DELTA without payload")
        if isinstance(msg.decoded, Exception):
            raise msg.decoded
        dr = msg.decoded if isinstance(msg.decoded, DeltaRequest) else DeltaRequest.deserialize(msg.session)
        changes = dr.execute(s, self.config.notify_listeners_on_replication, now)
        s.primary = False
        for kind, name, value, old in changes:
            self._fire_attr(f"attribute_{kind}", s.id, True, name=name, value=value, old_value=old, sender=sender)

    def _h_change_id(self, msg: SessionMessage, sender: Member | None, now: int) -> None:
        s = self.sessions.get(msg.session_id or "")
        if s is None:
            return
        if msg.session is None:
            raise ValueError("CHANGE_SESSION_ID without payload")
        from tribes.javaser import JavaSerializationError, ObjectInputStream
        try:
            new_id = ObjectInputStream(msg.session).read_utf()
        except JavaSerializationError as exc:
            raise ValueError(f"corrupt CHANGE_SESSION_ID payload: {exc}") from exc
        s.primary = False
        self.change_session_id(s, new_id, now, notify=False, replicated=True)
        self._replay(new_id, now)

    _HANDLERS: dict[int, Callable[["DeltaManager", SessionMessage, Any, int], None]] = {
        EVT_GET_ALL_SESSIONS: _h_get_all,
        EVT_ALL_SESSION_DATA: _h_all_session_data,
        EVT_ALL_SESSION_TRANSFERCOMPLETE: _h_transfer_complete,
        EVT_SESSION_CREATED: _h_created,
        EVT_SESSION_EXPIRED: _h_expired,
        EVT_SESSION_ACCESSED: _h_accessed,
        EVT_SESSION_DELTA: _h_delta,
        EVT_CHANGE_SESSION_ID: _h_change_id,
        EVT_ALL_SESSION_NOCONTEXTMANAGER: _h_no_context_manager,
    }


def snapshot_session(s: DeltaSession) -> SessionState:
    return SessionState(s.id or "", s.creation_time, s.last_accessed_time, s.max_inactive_interval, s.is_new,
                        s.is_valid, s.this_accessed_time, s.version, s.principal,
                        dict(s._notes) if s._notes else {}, dict(s.attributes), list(s.listeners))


def no_context_manager_reply(ctxname: str) -> SessionMessage:
    """ClusterSessionListener's answer to GET_ALL_SESSIONS for an unknown context (timestamp unset)."""
    return SessionMessage(EVT_ALL_SESSION_NOCONTEXTMANAGER, ctxname, "NO-CONTEXT-MANAGER", None,
                          f"NO-CONTEXT-MANAGER-{ctxname}")


__all__ = ["DeltaManager", "DeltaManagerConfig", "Send", "SessionEvent", "TooManyActiveSessionsException",
           "no_context_manager_reply", "snapshot_session", "QUEUED_EVENTS"]
