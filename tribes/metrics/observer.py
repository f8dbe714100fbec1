"""What a node observes for its metrics and dashboard: the few hooks on the hot path, and their state.

:class:`Observer` is attached to a node once (``observer.attach(channel, cluster)``, before it starts):

* an interceptor (:class:`ObserveInterceptor`) at the top of the channel's chain counts messages and
  payload bytes per member, both ways, and measures
  - the **replication lag**: the sender's ``ChannelData`` timestamp (its wall clock, ms) to the moment
    the message has been handled here (the session change applied, listeners run), per sending member;
  - the **ACK round trip** of each synchronous send (``USE_ACK`` without ``ASYNCHRONOUS``): from
    handing it to the chain until every destination ACKed;
  - **failed sends by cause** (the cause of each faulty member of a ``ChannelException``);
* a membership listener tells joins, graceful leaves (the member's shutdown heartbeat,
  ``Member.is_shutdown``) and failures (expiry, or a failed verification by TcpFailureDetector) apart
  and keeps a bounded history;
* a session listener keeps a bounded list of recent session events and the state-transfer outcomes.

Everything else (sessions per context, Tomcat's DeltaManager counters, open connections, queued
failures of the transport) is read at scrape time by :mod:`tribes.metrics.collector`: nothing on the
hot path. All of it runs on the event loop's thread; nothing here locks.

The per-message cost is a handful of attribute updates (bench/bench_observe.py measures it). No
label or event here carries a user name; session ids appear only shortened (``ABCDEF…``) in events.
"""
from __future__ import annotations

import bisect
import collections
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Sequence

from tribes.channel import ChannelException, ChannelInterceptor, SendOptions
from tribes.io.member import member_kind

if TYPE_CHECKING:  # pragma: no cover
    from tribes.io.channel_data import ChannelData
    from tribes.io.member import Member
    from tribes.managers.delta_manager import SessionEvent

log = logging.getLogger("tribes.metrics")

__all__ = ["Observer", "ObserveInterceptor", "PeerStats", "LAG_BUCKETS", "RTT_BUCKETS", "member_label",
           "short_id", "send_failure_cause"]

#: replication lag histogram bounds (seconds)
LAG_BUCKETS: tuple[float, ...] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                                  10.0)
#: ACK round-trip histogram bounds (seconds)
RTT_BUCKETS: tuple[float, ...] = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                                  2.5, 5.0)
#: state-transfer duration bounds (seconds) and sizes (sessions)
TRANSFER_SECONDS_BUCKETS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0)
TRANSFER_SESSIONS_BUCKETS: tuple[float, ...] = (0, 1, 10, 100, 1000, 10000, 100000)

#: members remembered (counters, history) at most; the oldest departed ones go first
MAX_PEERS = 256
MAX_HISTORY = 200
MAX_EVENTS = 200
#: recent lag samples kept for the dashboard's percentiles
LAG_SAMPLES = 1024

_USE_ACK = int(SendOptions.USE_ACK)
_ASYNC = int(SendOptions.ASYNCHRONOUS)


def member_label(m: Any) -> str:
    """``10.0.0.5:4000``: how a member is named in labels and on the dashboard (never an id)."""
    try:
        return f"{m.host_str}:{m.port}"
    except Exception:  # noqa: BLE001 - anything without an address
        return str(getattr(m, "name", "?"))


def short_id(session_id: str | None) -> str:
    """A session id shortened for event lists (``ABCDEF…``)."""
    if not session_id:
        return "-"
    return session_id[:6] + "…"


def send_failure_cause(exc: BaseException | None) -> str:
    """A fixed vocabulary of causes (label values stay bounded)."""
    if exc is None:
        return "unknown"
    name = type(exc).__name__
    if name == "SendTimeoutError" or isinstance(exc, TimeoutError):
        return "timeout"
    if name == "SendQueueFullError":
        return "queue_full"
    if name == "RemoteProcessException":
        return "fail_ack"
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, EOFError)):
        return "connection_lost"
    if isinstance(exc, OSError):
        return "io_error"
    if isinstance(exc, ValueError):
        return "refused"
    return "other"


_bisect = bisect.bisect_left
_time = time.time
_perf = time.perf_counter


class Histogram:
    """A fixed-bucket histogram with plain ints (one bisect and two additions per sample)."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts)

    def observe(self, v: float) -> None:
        self.counts[_bisect(self.bounds, v)] += 1
        self.sum += v

    def merge(self, other: "Histogram") -> None:
        for i, c in enumerate(other.counts):
            self.counts[i] += c
        self.sum += other.sum

    def cumulative(self) -> list[tuple[str, float]]:
        """Prometheus buckets: (le, cumulative count), ending with +Inf."""
        out: list[tuple[str, float]] = []
        acc = 0
        for b, c in zip(self.bounds, self.counts):
            acc += c
            out.append((repr(float(b)), float(acc)))
        out.append(("+Inf", float(acc + self.counts[-1])))
        return out


class PeerStats:
    """Per member: messages and payload bytes both ways, its replication lag."""

    __slots__ = ("label", "rx_msgs", "rx_bytes", "tx_msgs", "tx_bytes", "lag", "failed")

    def __init__(self, label: str) -> None:
        self.label = label
        self.rx_msgs = 0
        self.rx_bytes = 0
        self.tx_msgs = 0
        self.tx_bytes = 0
        self.lag = Histogram(LAG_BUCKETS)
        self.failed: dict[str, int] = {}


@dataclass
class MemberRecord:
    """One member as the dashboard shows it."""

    label: str
    name: str
    state: str                  # "alive", "left" (graceful), "failed"
    since: float                # epoch seconds of the last change
    first_seen: float
    kind: str = "unknown"       # "python" / "tomcat" (tribes.io.member.member_kind) / "unknown"
    version: str = "unknown"
    domain: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"member": self.label, "name": self.name, "state": self.state, "since": self.since,
                "firstSeen": self.first_seen, "kind": self.kind, "version": self.version, "domain": self.domain}


class ObserveInterceptor(ChannelInterceptor):
    """Top of the chain: counts and times what passes (see the module docs)."""

    def __init__(self, observer: "Observer") -> None:
        super().__init__()
        self.observer = observer
        self._last_member: Any = None
        self._last_peer: PeerStats | None = None
        self._recent = observer.lag_recent.append

    def _peer(self, m: Any) -> PeerStats:
        if m is self._last_member and self._last_peer is not None:
            return self._last_peer
        peer = self.observer.peer(m)
        self._last_member, self._last_peer = m, peer
        return peer

    def message_received(self, msg: ChannelData) -> Awaitable[None] | None:
        # the hot path: a few attribute updates, one bisect (bench/bench_observe.py measures it)
        m = msg.address
        peer = self._last_peer if m is self._last_member else self._peer(m)
        assert peer is not None
        peer.rx_msgs += 1
        peer.rx_bytes += len(msg.message)
        prev = self.previous
        r = prev.message_received(msg) if prev is not None else None
        ts = msg.timestamp
        if ts > 0:
            if r is None:
                v = _time() - ts * 0.001
                if v < 0.0:
                    v = 0.0                  # a sender whose clock is ahead of ours
                h = peer.lag
                h.counts[_bisect(LAG_BUCKETS, v)] += 1
                h.sum += v
                self._recent(v)
            else:
                return self._lag_after(r, peer, ts)
        return r

    async def _lag_after(self, r: Awaitable[None], peer: PeerStats, ts: int) -> None:
        try:
            await r
        finally:
            self.observer.lag(peer, ts)

    async def send_message(self, destination: Sequence[Member], msg: ChannelData,
                           payload: Any = None) -> None:
        n = len(msg.message)
        for m in destination:
            p = self._last_peer if m is self._last_member else self._peer(m)
            assert p is not None
            p.tx_msgs += 1
            p.tx_bytes += n
        nxt = self.next
        if nxt is None:
            return
        opts = msg.options
        if not (opts & _USE_ACK) or (opts & _ASYNC):
            try:
                await nxt.send_message(destination, msg, payload)
            except ChannelException as exc:
                self.observer.send_failed(exc)
                raise
            return
        t0 = _perf()
        try:
            await nxt.send_message(destination, msg, payload)
        except ChannelException as exc:
            self.observer.send_failed(exc)
            raise
        v = _perf() - t0
        h = self.observer.rtt
        h.counts[_bisect(RTT_BUCKETS, v)] += 1
        h.sum += v


class Observer:
    """The state behind the metrics and the dashboard of one node."""

    def __init__(self, *, clock: Any = time.time) -> None:
        self.clock = clock
        self.started = clock()
        self.channel: Any = None
        self.cluster: Any = None
        self.role = "join"
        self.peers: dict[Any, PeerStats] = {}
        self.rtt = Histogram(RTT_BUCKETS)
        self.lag_recent: collections.deque[float] = collections.deque(maxlen=LAG_SAMPLES)
        self.failed_sends: dict[str, int] = {}
        self.joins = 0
        self.leaves = {"graceful": 0, "failure": 0}
        self.members: dict[str, MemberRecord] = {}
        self.history: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_HISTORY)
        self.events: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_EVENTS)
        self.transfer_seconds = Histogram(TRANSFER_SECONDS_BUCKETS)
        self.transfer_sessions = Histogram(TRANSFER_SESSIONS_BUCKETS)
        self.transfers: dict[str, int] = {}      # outcome -> count
        self.session_events: dict[str, int] = {}
        #: things that want to hear every recorded event (the dashboard's live feed); must not block
        self.subscribers: list[Any] = []
        self.interceptor = ObserveInterceptor(self)

    # -- wiring -------------------------------------------------------------------------------------
    def attach(self, channel: Any, cluster: Any = None, role: str = "join") -> None:
        """Listen to ``channel``'s membership and ``cluster``'s session events. The interceptor is
        passed to the node's assembler separately (``top=[observer.interceptor]``)."""
        self.channel = channel
        self.cluster = cluster
        self.role = role
        channel.add_membership_listener(self)
        if cluster is not None:
            cluster.add_listener(self.on_session_event)

    # -- hot path -----------------------------------------------------------------------------------
    def peer(self, m: Any) -> PeerStats:
        p = self.peers.get(m)
        if p is None:
            if len(self.peers) >= MAX_PEERS:
                self._evict_peer()
            p = self.peers[m] = PeerStats(member_label(m))
        return p

    def _evict_peer(self) -> None:
        live = set(self.channel.members()) if self.channel is not None else set()
        for m in list(self.peers):
            if m not in live:
                del self.peers[m]
                return
        self.peers.pop(next(iter(self.peers)))

    def lag(self, peer: PeerStats, ts_ms: int) -> None:
        """One lag sample (the interceptor inlines this on its synchronous path)."""
        v = _time() - ts_ms / 1000.0
        if v < 0.0:
            v = 0.0                    # a sender whose clock is ahead of ours
        peer.lag.observe(v)
        self.lag_recent.append(v)

    @property
    def lag_all(self) -> Histogram:
        """Every member's lag together (made when read)."""
        h = Histogram(LAG_BUCKETS)
        for p in list(self.peers.values()):
            h.merge(p.lag)
        return h

    def send_failed(self, exc: ChannelException) -> None:
        for fm in exc.faulty_members or ():
            cause = send_failure_cause(fm.cause)
            self.failed_sends[cause] = self.failed_sends.get(cause, 0) + 1
            p = self.peers.get(fm.member)
            if p is not None:
                p.failed[cause] = p.failed.get(cause, 0) + 1
        if not exc.faulty_members:
            self.failed_sends["other"] = self.failed_sends.get("other", 0) + 1

    # -- membership -----------------------------------------------------------------------------------
    def member_added(self, m: Member) -> None:
        now = self.clock()
        label = member_label(m)
        rec = self.members.get(label)
        self.joins += 1
        if rec is None:
            if len(self.members) >= MAX_PEERS:
                self._forget_departed()
            kind, version = member_kind(m)
            rec = self.members[label] = MemberRecord(label, getattr(m, "name", label), "alive", now, now,
                                                     kind=kind, version=version, domain=_domain(m))
        else:
            rec.state, rec.since = "alive", now
            rec.kind, rec.version = member_kind(m)
        self._record("member", {"event": "joined", "member": label, "memberKind": rec.kind,
                                "memberVersion": rec.version})

    def member_disappeared(self, m: Member) -> None:
        now = self.clock()
        label = member_label(m)
        graceful = bool(getattr(m, "is_shutdown", False))
        reason = "graceful" if graceful else "failure"
        self.leaves[reason] += 1
        rec = self.members.get(label)
        if rec is None:
            kind, version = member_kind(m)
            rec = self.members[label] = MemberRecord(label, getattr(m, "name", label), "alive", now, now,
                                                     kind=kind, version=version, domain=_domain(m))
        rec.state, rec.since = ("left" if graceful else "failed"), now
        self._record("member", {"event": "left" if graceful else "failed", "member": label})

    def _forget_departed(self) -> None:
        for label, rec in sorted(self.members.items(), key=lambda kv: kv[1].since):
            if rec.state != "alive":
                del self.members[label]
                return

    # -- sessions -------------------------------------------------------------------------------------
    def on_session_event(self, e: SessionEvent) -> None:
        kind = e.kind
        if kind == "accessed" or kind.startswith("attribute_"):
            return                          # too frequent for the event list (rates come from counters)
        self.session_events[kind] = self.session_events.get(kind, 0) + 1
        from tribes.managers.cluster import context_path
        ctx = context_path(e.context)
        if kind == "state_transfer_complete":
            outcome = str(e.value)
            self.transfers[outcome] = self.transfers.get(outcome, 0) + 1
            dm = self.cluster.managers.get(e.context) if self.cluster is not None else None
            ms = getattr(dm, "state_transfer_ms", None)
            if ms is not None:
                self.transfer_seconds.observe(ms / 1000.0)
            self._record("session", {"event": "state transfer " + outcome, "context": ctx,
                                     "ms": ms})
            return
        if kind == "state_received":
            n = int(e.value or 0)
            self.transfer_sessions.observe(n)
            self._record("session", {"event": "state received", "context": ctx, "sessions": n,
                                     "from": member_label(e.sender) if e.sender is not None else "-"})
            return
        data: dict[str, Any] = {"event": kind, "context": ctx, "session": short_id(e.session_id),
                                "replicated": e.replicated}
        if e.sender is not None:
            data["from"] = member_label(e.sender)
        self._record("session", data)

    # -- events ---------------------------------------------------------------------------------------
    def _record(self, kind: str, data: dict[str, Any]) -> None:
        item = {"kind": kind, "time": self.clock(), **data}
        if kind == "member":
            self.history.append(item)
        self.events.append(item)
        for sub in list(self.subscribers):
            try:
                sub(item)
            except Exception:  # noqa: BLE001 - a subscriber must never break the node
                log.exception("event subscriber %r failed", sub)

    def operator_event(self, data: dict[str, Any]) -> None:
        """An operator action (the dashboard logs who did what)."""
        self._record("operator", data)

    # -- reading ----------------------------------------------------------------------------------------
    def lag_percentiles(self) -> dict[str, float | None]:
        vals = sorted(self.lag_recent)
        if not vals:
            return {"p50": None, "p95": None, "p99": None, "samples": 0}
        def q(p: float) -> float:
            return vals[min(len(vals) - 1, int(p * len(vals)))]
        return {"p50": q(0.5), "p95": q(0.95), "p99": q(0.99), "samples": len(vals)}

    def local_record(self) -> MemberRecord | None:
        local = self.channel.local_member if self.channel is not None else None
        if local is None:
            return None
        from tribes.metrics.version import tribes_version
        label = member_label(local)
        return MemberRecord(label, getattr(local, "name", label), "alive", self.started, self.started,
                            kind="python", version=tribes_version(), domain=_domain(local))


def _domain(m: Any) -> str:
    d = getattr(m, "domain", b"")
    try:
        return bytes(d).decode("latin-1")
    except Exception:  # noqa: BLE001
        return ""
