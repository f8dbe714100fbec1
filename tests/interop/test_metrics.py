"""Prometheus metrics of a Python node against real Tomcat 10.1 (issue 18).

Lab ``obm`` (10.77.15): two Tomcat 10.1 nodes (channelSendOptions 6, so every message is ACKed before
the next: the counts are exact) and ``tribes join --config ... --metrics``. Scripted HTTP traffic; the
scraped text is parsed with prometheus_client's own parser: member count, sessions per context equal
to Tomcat's own /app/sessions, DeltaManager counters equal to the requests made, lag samples per
sending member; a kill -9 of a Tomcat node counts as a failure, a SIGTERM as a graceful leave.
"""
from __future__ import annotations

from typing import Any

import pytest

from interop.lab import Lab
from interop.tomcat.node import Browser, TomcatCluster
from tests.interop.jsonproc import JsonLineProcess
from tests.interop.observe_lab import METRICS_PORT, ObservedNode, scrape, value, wait_metric
from tests.interop.sessions_support import session_lab

pytestmark = pytest.mark.interop

CREATED = "tribes_deltamanager_counterReceive_EVT_SESSION_CREATED"
DELTA = "tribes_deltamanager_counterReceive_EVT_SESSION_DELTA"


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> Lab:
    return session_lab(lab_factory, "obm", ["10"])


def test_metrics_against_two_tomcat_nodes(lab: Lab) -> None:
    tc = TomcatCluster(lab, "10", channel_send_options="6")
    node = None
    try:
        t1 = tc.add_node()
        t2 = tc.add_node()
        tc.wait_membership(timeout=60)
        node = ObservedNode(lab.add_host("py", index=50))
        fams = wait_metric(lab, node, lambda f: value(f, "tribes_members") == 2, 60, "two members")
        assert value(fams, "tribes_node_info", role="join") == 1
        assert value(fams, "tribes_members", kind="tomcat") == 2, "both Tomcat nodes counted as kind=tomcat"
        a1, a2 = f"{t1.address}:4000", f"{t2.address}:4000"
        created0 = value(fams, CREATED, "_total", context="/app")
        delta0 = value(fams, DELTA, "_total", context="/app")

        # scripted traffic: 4 sessions on t1, 3 on t2 (one request each: CREATED + one DELTA), then
        # 5 more requests on the first session (one DELTA each)
        browsers = []
        for node_, n in ((t1, 4), (t2, 3)):
            for i in range(n):
                b = Browser(lab)
                assert b.get(node_, "/app/set", {"name": "k", "value": str(i)}).status == 200
                browsers.append((b, node_))
        b0, n0 = browsers[0]
        for i in range(5):
            assert b0.get(n0, "/app/set", {"name": "k", "value": f"again{i}"}).status == 200
        fams = wait_metric(lab, node, lambda f: value(f, DELTA, "_total", context="/app") - delta0 >= 12, 30,
                           "12 deltas counted")
        assert value(fams, CREATED, "_total", context="/app") - created0 == 7
        assert value(fams, DELTA, "_total", context="/app") - delta0 == 12
        # sessions per context: what both Tomcat nodes report
        want = t1.sessions()["count"]
        assert want == t2.sessions()["count"] >= 7
        assert value(fams, "tribes_sessions", context="/app") == want
        assert value(fams, "tribes_deltamanager_activeSessions", context="/app") == want
        # per member: messages, bytes and replication lag samples from each sender
        for addr, sent in ((a1, 4 * 2 + 5), (a2, 3 * 2)):   # CREATED + DELTA per session, DELTA per request
            assert value(fams, "tribes_member_messages_received", "_total", member=addr) >= sent
            assert value(fams, "tribes_member_received_bytes", "_total", member=addr) > 0
            assert value(fams, "tribes_replication_lag_seconds", "_count", member=addr) >= sent
            assert value(fams, "tribes_replication_lag_seconds", "_bucket", member=addr, le="+Inf") >= sent
        assert value(fams, "tribes_connections_open", direction="in") >= 2
        # nothing that identifies a session or a user in the exposition
        text_labels = {v for f in fams.values() for s in f.samples for v in s.labels.values()}
        for b, _ in browsers:
            sid = b.session_id()
            assert sid and all(sid[:12] not in v for v in text_labels)

        # kill -9 of t2: a failure; SIGTERM of t1: a graceful leave
        t2.kill()
        fams = wait_metric(lab, node, lambda f: value(f, "tribes_member_leaves", "_total", reason="failure") >= 1,
                           30, "the killed Tomcat counted as a failure")
        assert value(fams, "tribes_member_leaves", "_total", reason="graceful") == 0
        assert value(fams, "tribes_members") == 1
        t1.stop(timeout=60)
        fams = wait_metric(lab, node, lambda f: value(f, "tribes_member_leaves", "_total", reason="graceful") >= 1,
                           30, "the stopped Tomcat counted as a graceful leave")
        assert value(fams, "tribes_member_leaves", "_total", reason="failure") == 1
        assert value(fams, "tribes_members") == 0
        assert node.proc.poll() is None
    finally:
        if node is not None:
            assert node.terminate() == 0, node.log_tail()
        tc.stop()


class _Observed(JsonLineProcess):
    """A long-running tribes command with ``--metrics ADDR:9404`` in ``host`` (JSON-line events)."""

    def __init__(self, host: Any, label: str, args: list[str]) -> None:
        self.label = label
        super().__init__(host, ["-m", "tribes.cli.main", "-v", *args, "--json",
                                "--metrics", f"{host.address}:{METRICS_PORT}"])
        self.ready = self.wait_event("ready", timeout=120)

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host.address}:{METRICS_PORT}/metrics"


def test_agent_and_keeper_serve_metrics_and_tell_python_members_from_tomcat(lab: Lab) -> None:
    """`tribes agent` and `tribes keeper` with --metrics beside one Tomcat node: each counts the Tomcat
    node as kind=tomcat and the other Python node as kind=python (its member payload), names its role,
    and counts the Tomcat-made sessions of /app."""
    import tempfile

    from tests.interop.observe_lab import WALKTHROUGH_XML
    tc = TomcatCluster(lab, "10", channel_send_options="6")
    procs: list[_Observed] = []
    try:
        t1 = tc.add_node()
        ha, hk = lab.add_host("agent", index=51), lab.add_host("keeper", index=52)
        work = tempfile.mkdtemp(prefix="tribes-obm-")
        agent = _Observed(ha, "tribes agent", ["agent", "--config", WALKTHROUGH_XML, "--bind", ha.address,
                                               "--jvm-route", "py2", "--context", "/app",
                                               "--socket", f"{work}/agent.sock"])
        procs.append(agent)
        keeper = _Observed(hk, "tribes keeper", ["keeper", "--config", WALKTHROUGH_XML, "--bind", hk.address,
                                                 "--jvm-route", "py3", "--store", f"{work}/keeper.db"])
        procs.append(keeper)
        for node, role in ((agent, "agent"), (keeper, "keeper")):
            fams = wait_metric(lab, node, lambda f: value(f, "tribes_members", kind="tomcat") == 1
                               and value(f, "tribes_members", kind="python") == 1, 60,
                               f"{role}: one Tomcat and one Python member")
            assert value(fams, "tribes_node_info", role=role) == 1, role
        for i in range(3):
            b = Browser(lab)
            b.new_session(t1)
            assert b.get(t1, "/app/set", {"name": "n", "type": "int", "value": str(i)}).status == 200
        want = t1.sessions()["count"]
        for node in (agent, keeper):
            wait_metric(lab, node, lambda f: value(f, "tribes_sessions", context="/app") == want, 30,
                        f"{node.label}: the Tomcat-made sessions of /app")
    finally:
        for p in procs:
            assert p.terminate() == 0, p.log_tail()
        tc.stop()
