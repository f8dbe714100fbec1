"""A ``prometheus_client`` custom collector: every metric read at scrape time (nothing on the hot path).

Names (docs/observability.md has the full table):

* membership: ``tribes_members{kind,version}``, ``tribes_member_joins_total``,
  ``tribes_member_leaves_total{reason="graceful"|"failure"}``, ``tribes_node_info``;
* transport: ``tribes_member_messages_{sent,received}_total{member}``,
  ``tribes_member_bytes_{sent,received}_total{member}`` (ChannelData payload bytes),
  ``tribes_ack_round_trip_seconds``, ``tribes_send_failures_total{cause}``,
  ``tribes_connections_open{direction}``, ``tribes_transport_queued_send_failures_total{member}``;
* sessions: ``tribes_sessions{context}`` and Tomcat's DeltaManager MBean attributes under their own
  names, ``tribes_deltamanager_<mbean attribute>{context}`` (``counterReceive_EVT_SESSION_DELTA``,
  ``counterSend_EVT_SESSION_CREATED``, ``sessionReplaceCounter``, ``counterNoStateTransferred``,
  ``receivedQueueSize``, ``stateTransferred``, ...): counters get Prometheus' ``_total`` suffix;
* ``tribes_replication_lag_seconds{member}``; ``tribes_state_transfer_seconds``,
  ``tribes_state_transfer_sessions``, ``tribes_state_transfers_total{outcome}``.

Labels name members by address (``10.0.0.5:4000``) and contexts by path; never a session id or a
user name.
"""
from __future__ import annotations

import logging
from typing import Any, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from tribes.managers.cluster import context_path
from tribes.managers.session_message import (
    EVT_ALL_SESSION_DATA, EVT_ALL_SESSION_NOCONTEXTMANAGER, EVT_ALL_SESSION_TRANSFERCOMPLETE, EVT_CHANGE_SESSION_ID,
    EVT_GET_ALL_SESSIONS, EVT_SESSION_ACCESSED, EVT_SESSION_CREATED, EVT_SESSION_DELTA, EVT_SESSION_EXPIRED,
    event_name)
from tribes.metrics.observer import Histogram, Observer, member_label
from tribes.metrics.version import tribes_version

log = logging.getLogger("tribes.metrics")

__all__ = ["TribesCollector", "RECEIVE_COUNTERS", "SEND_COUNTERS", "make_registry"]

_EVT = {
    EVT_GET_ALL_SESSIONS: "EVT_GET_ALL_SESSIONS",
    EVT_ALL_SESSION_DATA: "EVT_ALL_SESSION_DATA",
    EVT_SESSION_CREATED: "EVT_SESSION_CREATED",
    EVT_SESSION_DELTA: "EVT_SESSION_DELTA",
    EVT_SESSION_ACCESSED: "EVT_SESSION_ACCESSED",
    EVT_SESSION_EXPIRED: "EVT_SESSION_EXPIRED",
    EVT_ALL_SESSION_TRANSFERCOMPLETE: "EVT_ALL_SESSION_TRANSFERCOMPLETE",
    EVT_CHANGE_SESSION_ID: "EVT_CHANGE_SESSION_ID",
    EVT_ALL_SESSION_NOCONTEXTMANAGER: "EVT_ALL_SESSION_NOCONTEXTMANAGER",
}
#: Tomcat MBean attribute -> the DeltaManager.stats key counting it here
RECEIVE_COUNTERS = {f"counterReceive_{n}": f"receive_{event_name(code)}" for code, n in _EVT.items()}
SEND_COUNTERS = {f"counterSend_{n}": f"send_{event_name(code)}" for code, n in _EVT.items()
                 if code != EVT_ALL_SESSION_NOCONTEXTMANAGER}   # Tomcat has no counterSend of that one

PREFIX = "tribes_deltamanager_"


def _hist(name: str, doc: str, h: Histogram, labels: list[str] | None = None,
          values: list[str] | None = None, family: HistogramMetricFamily | None = None) -> HistogramMetricFamily:
    fam = family or HistogramMetricFamily(name, doc, labels=labels)
    fam.add_metric(values or [], h.cumulative(), h.sum)
    return fam


class TribesCollector(Collector):
    """Reads the node (``observer.channel``, ``observer.cluster``) and the observer at scrape time."""

    def __init__(self, observer: Observer) -> None:
        self.observer = observer

    def collect(self) -> Iterator[Metric]:
        try:
            yield from self._collect()
        except Exception:  # noqa: BLE001 - a scrape must never take the node down
            log.exception("metrics: collecting failed")

    def _collect(self) -> Iterator[Metric]:
        ob = self.observer
        ch = ob.channel
        members = list(ch.members()) if ch is not None else []
        local = ch.local_member if ch is not None else None

        info = GaugeMetricFamily("tribes_node_info", "This node (value 1): its role, version and address",
                                 labels=["role", "version", "member"])
        info.add_metric([ob.role, tribes_version(), member_label(local) if local is not None else ""], 1)
        yield info

        by_kind: dict[tuple[str, str], int] = {}
        for m in members:
            rec = ob.members.get(member_label(m))
            key = (rec.kind, rec.version) if rec is not None else ("unknown", "unknown")
            by_kind[key] = by_kind.get(key, 0) + 1
        g = GaugeMetricFamily("tribes_members", "Other members of the cluster this node sees now, by kind and "
                              "version (unknown where the wire does not tell)", labels=["kind", "version"])
        for (kind, version), n in sorted(by_kind.items()):
            g.add_metric([kind, version], n)
        if not by_kind:
            g.add_metric(["unknown", "unknown"], 0)
        yield g
        yield CounterMetricFamily("tribes_member_joins", "Members that joined (or came back)", value=ob.joins)
        c = CounterMetricFamily("tribes_member_leaves", "Members that left: graceful (their shutdown heartbeat "
                                "arrived) or failure (expired, or failed TcpFailureDetector's verification)",
                                labels=["reason"])
        for reason, n in sorted(ob.leaves.items()):
            c.add_metric([reason], n)
        yield c

        # -- transport ----------------------------------------------------------------------------------
        peers = list(ob.peers.values())
        for name, attr, doc in (
                ("tribes_member_messages_received", "rx_msgs", "Channel messages received from each member"),
                ("tribes_member_received_bytes", "rx_bytes", "Payload bytes (ChannelData message) received from each member"),
                ("tribes_member_messages_sent", "tx_msgs", "Channel messages sent to each member (attempted)"),
                ("tribes_member_sent_bytes", "tx_bytes", "Payload bytes (ChannelData message) sent to each member")):
            c = CounterMetricFamily(name, doc, labels=["member"])
            for p in peers:
                c.add_metric([p.label], getattr(p, attr))
            yield c
        yield _hist("tribes_ack_round_trip_seconds", "Synchronous sends (USE_ACK): from the send to the last ACK",
                    ob.rtt)
        c = CounterMetricFamily("tribes_send_failures", "Sends that failed for a member, by cause", labels=["cause"])
        for cause, n in sorted(ob.failed_sends.items()):
            c.add_metric([cause], n)
        yield c
        yield from self._transport()

        lag = HistogramMetricFamily("tribes_replication_lag_seconds", "From the sender's ChannelData timestamp "
                                    "(its clock) to the message handled here (session change applied), per "
                                    "sending member", labels=["member"])
        for p in peers:
            if p.lag.count:
                _hist("", "", p.lag, values=[p.label], family=lag)
        yield lag

        # -- sessions -------------------------------------------------------------------------------------
        yield from self._sessions()
        yield _hist("tribes_state_transfer_seconds", "Session state transfers at start (GET_ALL_SESSIONS to "
                    "TRANSFERCOMPLETE, or the timeout)", ob.transfer_seconds)
        yield _hist("tribes_state_transfer_sessions", "Sessions received per ALL_SESSION_DATA message",
                    ob.transfer_sessions)
        c = CounterMetricFamily("tribes_state_transfers", "State transfers by outcome", labels=["outcome"])
        for outcome, n in sorted(ob.transfers.items()):
            c.add_metric([outcome], n)
        yield c

    def _transport(self) -> Iterator[Metric]:
        ch = self.observer.channel
        coord = getattr(ch, "coordinator", None)
        rx = getattr(coord, "receiver", None)
        tx = getattr(getattr(coord, "sender", None), "transport", None)
        g = GaugeMetricFamily("tribes_connections_open", "TCP connections open: in (to our receiver) and out "
                              "(our sender's, one per member)", labels=["direction"])
        conns = getattr(rx, "_connections", None)
        g.add_metric(["in"], len(conns) if conns is not None else 0)
        links = dict(getattr(tx, "links", {}) or {})
        g.add_metric(["out"], sum(1 for link in links.values() if _connected(link.sender)))
        yield g
        qf = CounterMetricFamily("tribes_transport_queued_send_failures", "Messages without ACK that were queued "
                                 "for a member and failed later (logged by the sender)", labels=["member"])
        rf = CounterMetricFamily("tribes_transport_refused_sends", "Sends refused for a member whose bounded send "
                                 "queue was full", labels=["member"])
        for m, link in links.items():
            qf.add_metric([member_label(m)], getattr(link, "failed", 0))
            rf.add_metric([member_label(m)], getattr(link, "refused", 0))
        yield qf
        yield rf
        if rx is not None:
            yield CounterMetricFamily("tribes_receiver_messages", "Messages the receiver took off the wire",
                                      value=getattr(rx, "messages_received", 0))
            yield CounterMetricFamily("tribes_receiver_bytes", "Bytes the receiver took off the wire",
                                      value=getattr(rx, "bytes_received", 0))

    def _sessions(self) -> Iterator[Metric]:
        cluster = self.observer.cluster
        managers = dict(getattr(cluster, "managers", {}) or {}) if cluster is not None else {}
        g = GaugeMetricFamily("tribes_sessions", "Sessions held per context (DeltaManager activeSessions)",
                              labels=["context"])
        for name, dm in sorted(managers.items()):
            g.add_metric([context_path(name)], len(dm.sessions))
        for name, bm in sorted((getattr(cluster, "backup_managers", {}) or {}).items()) if cluster else ():
            try:
                g.add_metric([context_path(name)], len(bm.context))
            except Exception:  # noqa: BLE001 - a BackupManager context without a size
                pass
        yield g
        fams: dict[str, Any] = {}

        def counter(attr: str, doc: str) -> Any:
            f = fams.get(attr)
            if f is None:
                f = fams[attr] = CounterMetricFamily(PREFIX + attr, doc, labels=["context"])
            return f

        def gauge(attr: str, doc: str) -> Any:
            f = fams.get(attr)
            if f is None:
                f = fams[attr] = GaugeMetricFamily(PREFIX + attr, doc, labels=["context"])
            return f

        for name, dm in sorted(managers.items()):
            ctx = [context_path(name)]
            counters = dict(dm.stats.counters)
            for attr, key in RECEIVE_COUNTERS.items():
                counter(attr, f"DeltaManager {attr}: messages of that type received").add_metric(
                    ctx, counters.get(key, 0))
            for attr, key in SEND_COUNTERS.items():
                counter(attr, f"DeltaManager {attr}: messages of that type sent").add_metric(
                    ctx, counters.get(key, 0))
            counter("counterNoStateTransferred", "DeltaManager counterNoStateTransferred: state transfers that "
                    "timed out").add_metric(ctx, counters.get("no_state_transferred", 0))
            counter("sessionReplaceCounter", "DeltaManager sessionReplaceCounter: sessions replaced by a state "
                    "transfer").add_metric(ctx, dm.session_replace_counter)
            counter("expiredSessions", "Sessions expired (ManagerBase expiredSessions)").add_metric(
                ctx, dm.expired_sessions)
            counter("rejectedSessions", "Sessions refused by maxActiveSessions (ManagerBase rejectedSessions)"
                    ).add_metric(ctx, dm.rejected_sessions)
            gauge("activeSessions", "Sessions held (ManagerBase activeSessions)").add_metric(ctx, len(dm.sessions))
            gauge("receivedQueueSize", "DeltaManager receivedQueueSize: messages queued during a state transfer"
                  ).add_metric(ctx, len(dm.received_queue))
            gauge("stateTransferred", "DeltaManager stateTransferred: 1 once the session state arrived"
                  ).add_metric(ctx, 1 if dm.state_transferred else 0)
            gauge("stateTransferTimeSeconds", "How long this context's state transfer took (Python-only)"
                  ).add_metric(ctx, (dm.state_transfer_ms or 0) / 1000.0)
        yield from fams.values()


def _connected(sender: Any) -> bool:
    c = getattr(sender, "is_connected", False)
    return bool(c() if callable(c) else c)


def make_registry(observer: Observer) -> Any:
    """A fresh ``CollectorRegistry`` with the tribes collector (and the process collector)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.process_collector import ProcessCollector
    reg = CollectorRegistry(auto_describe=False)
    reg.register(TribesCollector(observer))
    ProcessCollector(registry=reg)
    return reg
