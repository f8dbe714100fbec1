"""The metrics collector and the observer's hooks (issue 18), parsed with prometheus_client's own parser."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tribes.channel import ChannelException, ChannelInterceptor, RemoteProcessException
from tribes.io.member import SHUTDOWN_PAYLOAD
from tribes.managers.session_message import EVT_SESSION_CREATED, EVT_SESSION_DELTA, SessionMessage
from tribes.metrics.collector import RECEIVE_COUNTERS, SEND_COUNTERS, make_registry
from tribes.metrics.observer import send_failure_cause
from tribes.metrics.server import parse_listen
from tribes.transport.errors import SendQueueFullError, SendTimeoutError

from observe_support import channel_data, login_session, member, node


def scrape(ob: Any) -> dict[str, Any]:
    text = generate_latest(make_registry(ob)).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}, text  # type: ignore[return-value]


def samples(fams: dict[str, Any], name: str, suffix: str = "") -> list[Any]:
    return [s for s in fams[name].samples if s.name == name + suffix]


class Bottom(ChannelInterceptor):
    def __init__(self, fail: BaseException | None = None) -> None:
        super().__init__()
        self.fail = fail
        self.sent = 0

    async def send_message(self, destination: Any, msg: Any, payload: Any = None) -> None:
        self.sent += 1
        if self.fail is not None:
            raise self.fail


class Top(ChannelInterceptor):
    def __init__(self) -> None:
        super().__init__()
        self.got = 0

    def message_received(self, msg: Any) -> Any:
        self.got += 1
        return None


def test_members_joins_graceful_leaves_and_failures_are_told_apart() -> None:
    ob, ch, _ = node(with_sessions=False)
    a, b, c = member(2), member(3), member(4)
    for m in (a, b, c):
        ch.join(m)
    ch._members.remove(a)
    for li in ch.membership_listeners:
        li.member_disappeared(a.with_command(SHUTDOWN_PAYLOAD))   # its shutdown heartbeat: graceful
    ch.leave(b)                                                    # expired / failed verification
    fams, _ = scrape(ob)
    assert sum(s.value for s in samples(fams, "tribes_members")) == 1
    assert samples(fams, "tribes_member_joins", "_total")[0].value == 3
    leaves = {s.labels["reason"]: s.value for s in samples(fams, "tribes_member_leaves", "_total")}
    assert leaves == {"graceful": 1, "failure": 1}
    states = {r.label: r.state for r in ob.members.values()}
    assert states == {"10.0.0.2:4000": "left", "10.0.0.3:4000": "failed", "10.0.0.4:4000": "alive"}
    info = samples(fams, "tribes_node_info")[0]
    assert info.labels["member"] == "10.0.0.1:4000" and info.labels["role"] == "join"


def test_messages_bytes_and_replication_lag_per_member() -> None:
    ob, ch, _ = node(with_sessions=False)
    top = Top()
    icp = ob.interceptor
    icp.previous = top
    a, b = member(2), member(3)
    for _ in range(5):
        icp.message_received(channel_data(a, size=100, age_ms=30))
    icp.message_received(channel_data(b, size=7, age_ms=2000))
    assert top.got == 6
    fams, _ = scrape(ob)
    rx = {s.labels["member"]: s.value for s in samples(fams, "tribes_member_messages_received", "_total")}
    assert rx == {"10.0.0.2:4000": 5, "10.0.0.3:4000": 1}
    rb = {s.labels["member"]: s.value for s in samples(fams, "tribes_member_received_bytes", "_total")}
    assert rb == {"10.0.0.2:4000": 500, "10.0.0.3:4000": 7}
    counts = {s.labels["member"]: s.value for s in samples(fams, "tribes_replication_lag_seconds", "_count")}
    assert counts == {"10.0.0.2:4000": 5, "10.0.0.3:4000": 1}
    sums = {s.labels["member"]: s.value for s in samples(fams, "tribes_replication_lag_seconds", "_sum")}
    assert 0.03 <= sums["10.0.0.2:4000"] / 5 < 1.0
    assert 2.0 <= sums["10.0.0.3:4000"] < 3.0
    buckets = {s.labels["le"]: s.value for s in samples(fams, "tribes_replication_lag_seconds", "_bucket")
               if s.labels["member"] == "10.0.0.3:4000"}
    assert buckets["1.0"] == 0 and buckets["2.5"] == 1 and buckets["+Inf"] == 1
    p = ob.lag_percentiles()
    assert p["samples"] == 6 and p["p50"] is not None and p["p50"] < 1.0


def test_lag_waits_for_an_awaitable_delivery() -> None:
    ob, ch, _ = node(with_sessions=False)

    class Slow(ChannelInterceptor):
        def message_received(self, msg: Any) -> Any:
            return asyncio.sleep(0.05)

    ob.interceptor.previous = Slow()

    async def run() -> None:
        r = ob.interceptor.message_received(channel_data(member(2), age_ms=0))
        assert r is not None and ob.lag_all.count == 0
        await r
    asyncio.run(run())
    assert ob.lag_all.count == 1 and ob.lag_all.sum >= 0.04


def test_sends_rtt_and_failures_by_cause() -> None:
    ob, ch, _ = node(with_sessions=False)
    a, b = member(2), member(3)
    bottom = Bottom()
    ob.interceptor.next = bottom

    async def run() -> None:
        await ob.interceptor.send_message([a, b], channel_data(ch.local_member, size=10, options=2))  # USE_ACK
        await ob.interceptor.send_message([a], channel_data(ch.local_member, size=10, options=8))     # async
        cx = ChannelException("send failed")
        cx.add_faulty_member(a, SendTimeoutError("timed out"))
        cx.add_faulty_member(b, RemoteProcessException("fail ack"))
        bottom.fail = cx
        with pytest.raises(ChannelException):
            await ob.interceptor.send_message([a, b], channel_data(ch.local_member, options=2))
    asyncio.run(run())
    fams, _ = scrape(ob)
    tx = {s.labels["member"]: s.value for s in samples(fams, "tribes_member_messages_sent", "_total")}
    assert tx == {"10.0.0.2:4000": 3, "10.0.0.3:4000": 2}
    assert samples(fams, "tribes_ack_round_trip_seconds", "_count")[0].value == 1
    causes = {s.labels["cause"]: s.value for s in samples(fams, "tribes_send_failures", "_total")}
    assert causes == {"timeout": 1, "fail_ack": 1}


def test_failure_cause_vocabulary_is_fixed() -> None:
    assert send_failure_cause(SendQueueFullError("x")) == "queue_full"
    assert send_failure_cause(ConnectionRefusedError()) == "connection_refused"
    assert send_failure_cause(ConnectionResetError()) == "connection_lost"
    assert send_failure_cause(OSError()) == "io_error"
    assert send_failure_cause(KeyError("a session id")) == "other"


def test_sessions_and_tomcat_deltamanager_counter_names() -> None:
    ob, ch, cluster = node()
    assert cluster is not None
    sid = login_session(cluster, "alice")
    login_session(cluster, "bob", "/shop")
    dm = cluster.managers["localhost#/app"]
    now = int(time.time() * 1000)
    dm.handle(SessionMessage(EVT_SESSION_CREATED, "localhost#/app", "ABC.tc1", timestamp=now), member(2), now)
    dm.handle(SessionMessage(EVT_SESSION_DELTA, "localhost#/app", "NOPE", session=b"\x00", timestamp=now),
              member(2), now)
    fams, text = scrape(ob)
    sessions = {s.labels["context"]: s.value for s in samples(fams, "tribes_sessions")}
    assert sessions == {"/app": 2, "/shop": 1}
    by_name = {n: f for n, f in fams.items() if n.startswith("tribes_deltamanager_")}
    for attr in list(RECEIVE_COUNTERS) + list(SEND_COUNTERS) + ["counterNoStateTransferred", "sessionReplaceCounter"]:
        assert "tribes_deltamanager_" + attr in by_name, attr
    got = {s.labels["context"]: s.value for s in
           samples(fams, "tribes_deltamanager_counterReceive_EVT_SESSION_CREATED", "_total")}
    assert got == {"/app": 1, "/shop": 0}
    sent = {s.labels["context"]: s.value for s in
            samples(fams, "tribes_deltamanager_counterSend_EVT_SESSION_CREATED", "_total")}
    assert sent == {"/app": 1, "/shop": 1}
    assert {s.labels["context"]: s.value for s in samples(fams, "tribes_deltamanager_activeSessions")}["/app"] == 2
    # never a session id or a user name in a label (or anywhere in the exposition)
    for word in (sid, sid[:8], "ABC.tc1", "alice", "bob"):
        assert word not in text


def test_state_transfer_histograms_from_session_events() -> None:
    from tribes.managers.delta_manager import SessionEvent
    ob, ch, cluster = node()
    assert cluster is not None
    dm = cluster.manager("/app", transfer=False).delta_manager
    dm.state_transfer_ms = 1234
    dm._fire(SessionEvent("state_received", dm.name, None, True, value=3, sender=member(2)))
    dm._fire(SessionEvent("state_transfer_complete", dm.name, None, False, value="transferred"))
    fams, _ = scrape(ob)
    assert samples(fams, "tribes_state_transfer_seconds", "_sum")[0].value == pytest.approx(1.234)
    assert samples(fams, "tribes_state_transfer_sessions", "_sum")[0].value == 3
    assert {s.labels["outcome"]: s.value for s in samples(fams, "tribes_state_transfers", "_total")} == \
        {"transferred": 1}
    kinds = [e["event"] for e in ob.events]
    assert "state received" in kinds and "state transfer transferred" in kinds


def test_collector_survives_a_broken_node() -> None:
    ob, ch, _ = node(with_sessions=False)
    ch.members = None  # type: ignore[assignment]   # a scrape must not raise
    text = generate_latest(make_registry(ob)).decode()
    assert "process_cpu_seconds_total" in text


@pytest.mark.parametrize("value,expected", [("9404", ("127.0.0.1", 9404)), (":9404", ("127.0.0.1", 9404)),
                                            ("10.0.0.5:80", ("10.0.0.5", 80)), ("[::1]:9", ("::1", 9))])
def test_parse_listen(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen(value) == expected


@pytest.mark.parametrize("value", ["", "host:", "a.b.c:80", "1.2.3.4:99999", "[::1]9"])
def test_parse_listen_refuses(value: str) -> None:
    with pytest.raises(ValueError):
        parse_listen(value)


def test_metrics_served_by_asgi_server_on_loopback() -> None:
    import httpx

    from tribes.metrics.server import AsgiServer, metrics_app

    ob, ch, _ = node(with_sessions=False)
    ch.join(member(2))

    async def run() -> str:
        srv = AsgiServer(metrics_app(ob), "127.0.0.1", 0, what="metrics")
        await srv.start()
        try:
            async with httpx.AsyncClient() as c:
                r = await c.get(f"http://127.0.0.1:{srv.port}/metrics")
                assert r.status_code == 200
                # a second server on the same port: a clear OSError, the first keeps serving
                other = AsgiServer(metrics_app(ob), "127.0.0.1", srv.port, what="metrics")
                with pytest.raises(OSError, match="cannot serve metrics"):
                    await other.start()
                r2 = await c.get(f"http://127.0.0.1:{srv.port}/metrics")
                assert r2.status_code == 200
                return r.text
        finally:
            await srv.stop()
    text = asyncio.run(run())
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    assert sum(s.value for s in fams["tribes_members"].samples) == 1


def test_grafana_dashboard_uses_only_metrics_the_collector_exports() -> None:
    import json
    import os
    import re
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "deploy", "grafana", "tribes-dashboard.json")) as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\b((?:tribes|process)_[A-Za-z0-9_]+)\b", e)}
    ob, ch, cluster = node()
    assert cluster is not None
    login_session(cluster, "alice")
    ob.peer(member(2)).lag.observe(0.01)
    _, text = scrape(ob)
    exported: set[str] = set()
    for f in text_string_to_metric_families(text):    # families, with or without samples yet
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(f.type, [""])
        exported.update(f.name + sfx for sfx in suffixes)
    assert used and used <= exported, sorted(used - exported)


@pytest.mark.parametrize("command", ["join", "agent", "keeper", "dashboard"])
def test_cli_observe_options_refuse_bad_values(command: str) -> None:
    from click.testing import CliRunner

    from tribes.cli.main import cli
    extra = ["--store", "/nonexistent/x.db"] if command == "keeper" else []
    r = CliRunner().invoke(cli, [command, *extra, "--metrics", "somewhere"])
    assert r.exit_code == 2 and "ADDR:PORT" in r.output
    r = CliRunner().invoke(cli, [command, *extra, "--http", "127.0.0.1:8090", "--http-actions"])
    assert r.exit_code == 2 and "--http-auth" in r.output


def test_members_by_kind_python_payload_and_tomcat() -> None:
    """A Python node announces ``tribes-python/<version>`` as its member payload (Tomcat's nodes an
    empty one), so metrics and the dashboard tell the two kinds apart."""
    from tribes.io.member import PYTHON_PAYLOAD_PREFIX, member_kind, python_payload
    from tribes.membership.mcast import McastService
    svc = McastService(wait_for_members=False)
    local = svc.set_local_member(bytes([10, 0, 0, 9]), 4000)
    assert local.payload == python_payload() and local.payload.startswith(PYTHON_PAYLOAD_PREFIX)
    assert McastService(payload=b"mine", wait_for_members=False).set_local_member(
        bytes([10, 0, 0, 9]), 4000).payload == b"mine", "a configured payload wins"
    ob, ch, _ = node(with_sessions=False)
    tomcat = member(2)
    import dataclasses
    py = dataclasses.replace(member(3), payload=python_payload())
    ch.join(tomcat)
    ch.join(py)
    fams, _ = scrape(ob)
    kinds = {(s.labels["kind"], s.labels["version"]): s.value for s in samples(fams, "tribes_members")}
    assert kinds == {("tomcat", "unknown"): 1, ("python", member_kind(py)[1]): 1}, kinds
    assert {r.label: r.kind for r in ob.members.values()} == {"10.0.0.2:4000": "tomcat", "10.0.0.3:4000": "python"}
    joined = [e for e in ob.events if e["kind"] == "member" and e["event"] == "joined"]
    assert {e["memberKind"] for e in joined} == {"tomcat", "python"}
