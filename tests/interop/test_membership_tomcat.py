"""Membership against real Tomcat 10.1 and 9.0 nodes (lab ``tmt*``, subnet 10.77.13.0/24).

What Tomcat itself says is checked in its log (SimpleTcpCluster's ``Replication member added`` /
``Received member disappeared`` lines, DeltaManager's state-transfer lines). Bounds are generous;
bench/bench_membership.py measures.
"""
from __future__ import annotations

import calendar
import re
import time
from typing import Any, Iterator

import pytest

from interop.fixtures import require_root_and_java
from tests.interop.membership_support import PyNode, run_in_netns

pytestmark = pytest.mark.interop

DROP = 3.0
FREQ = 0.5
# McastService members print as tcp://{10, 77, 13, 50}:4000, StaticMembers as tcp://10.77.13.50:4000
_LINE = re.compile(r"^(\d\d-\w\w\w-\d{4} \d\d:\d\d:\d\d\.\d{3}) .*?(Replication member added|Received member "
                   r"disappeared):\[.*?\[tcp://\{?(\d+)[., ]+(\d+)[., ]+(\d+)[., ]+(\d+)\}?:(\d+),.*?id=\{([-\d ]+)\}"
                   r".*?command=\{([^}]*)\}", re.M)


def signed_ids(hex_id: str) -> str:
    """Tomcat's rendering of a uniqueId in toString(): signed decimal bytes, space-separated."""
    return " ".join(str(b - 256 if b > 127 else b) for b in bytes.fromhex(hex_id))


def log_time(stamp: str) -> float:
    # OneLineFormatter writes local time; the lab machine runs in UTC like the test
    return calendar.timegm(time.strptime(stamp[:20], "%d-%b-%Y %H:%M:%S")) + int(stamp[21:24]) / 1000 \
        if time.timezone == 0 else time.mktime(time.strptime(stamp[:20], "%d-%b-%Y %H:%M:%S")) + int(stamp[21:24]) / 1000


def member_lines(node: Any, address: str, event: str) -> list[dict[str, Any]]:
    out = []
    for m in _LINE.finditer(node.log_text()):
        if ".".join(m.group(i) for i in range(3, 7)) != address:
            continue
        kind = "added" if m.group(2).startswith("Replication") else "disappeared"
        if kind == event:
            out.append({"t": log_time(m.group(1)), "port": int(m.group(7)), "id": m.group(8).strip(),
                        "command": m.group(9)})
    return out


def wait_line(node: Any, address: str, event: str, timeout: float, after: float = 0.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        lines = [x for x in member_lines(node, address, event) if x["t"] >= after - 0.002]
        if lines:
            return lines[0]
        if time.monotonic() > deadline:
            seen = [x["t"] for x in member_lines(node, address, event)]
            raise AssertionError(f"{node} did not log member {event} of {address} within {timeout} s "
                                 f"after {after:.3f} (lines at {seen}):\n{node.log_tail(15)}")
        time.sleep(0.1)


@pytest.fixture(scope="module", params=["10", "9"])
def tomcat_bed(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any, Any]]:
    version = request.param
    require_root_and_java(version, tomcat=True)
    from interop.lab import Lab
    from interop.tomcat.node import TomcatCluster

    lab = Lab(f"tmt{version}", "10.77.13")
    cluster = None
    try:
        cluster = TomcatCluster(lab, version=version, mcast_port=45640)
        cluster.start(1)
        yield version, lab, cluster
    finally:
        if cluster is not None:
            cluster.stop()
        lab.close()


def _py(lab: Any, name: str = "py", index: int = 50) -> Any:
    return lab.hosts.get(name) or lab.add_host(name, index=index)


def test_tomcat_and_python_see_each_other_clean_stop(tomcat_bed) -> None:  # type: ignore[no-untyped-def]
    version, lab, cluster = tomcat_bed
    t1 = cluster.nodes[0]
    host = _py(lab)
    node = PyNode(host, ["--mcast-port", "45640"])
    try:
        mine = node.member_event("added", t1.address, timeout=30)
        assert mine["port"] == 4000 and mine["securePort"] == -1 and mine["udpPort"] == -1
        assert mine["domain"] == "" and mine["alive"] > 0
        assert len(mine["uniqueId"]) == 32 and mine["name"] == "tcp://{%s}:4000" % ", ".join(t1.address.split("."))
        line = wait_line(t1, host.address, "added", timeout=30)
        assert line["port"] == 4000 and line["id"] == signed_ids(node.unique_id)
        # clean stop: the shutdown heartbeat; Tomcat logs the disappearance within one second
        node.stop()
        gone = wait_line(t1, host.address, "disappeared", timeout=10, after=node.stopped_at or 0)
        assert gone["t"] - (node.stopped_at or 0) < 1.0, gone
        assert gone["command"].startswith("66 65 66 89 45 65 76 69 88")  # BABY-ALEX
        assert node.wait_for("summary")["probes"] >= 1
    finally:
        node.close()


def test_python_killed_tomcat_drops_after_drop_time(tomcat_bed) -> None:  # type: ignore[no-untyped-def]
    version, lab, cluster = tomcat_bed
    t1 = cluster.nodes[0]
    host = _py(lab)
    node = PyNode(host, ["--mcast-port", "45640"])
    try:
        t_join = time.time()
        wait_line(t1, host.address, "added", timeout=30, after=t_join - 1)
        node.kill()
        gone = wait_line(t1, host.address, "disappeared", timeout=DROP + 15, after=node.stopped_at or 0)
        took = gone["t"] - (node.stopped_at or 0)
        assert DROP - FREQ <= took <= DROP + 5, took
        assert gone["command"] == ""  # expired, not a shutdown
    finally:
        node.close()


def test_state_transfer_not_delayed_by_python_member(tomcat_bed) -> None:  # type: ignore[no-untyped-def]
    """Python member first, then Tomcat 1 with sessions, then Tomcat 2: it gets Tomcat 1's sessions at once."""
    from interop.tomcat.node import Browser, TomcatCluster

    version, lab, _cluster = tomcat_bed
    host = _py(lab, "pys", 70)
    node = PyNode(host, ["--mcast-port", "45650"])
    cluster = TomcatCluster(lab, version=version, mcast_port=45650, host_prefix="s", index_base=20)
    try:
        t0 = time.time()
        s1 = cluster.add_node()  # its DeltaManager finds only the Python member and asks it
        took_s1 = time.time() - t0
        assert took_s1 < 45, f"Tomcat 1 start took {took_s1:.1f} s (a 60 s state-transfer wait?)"
        log1 = s1.log_text()
        assert "No session state sent at" not in log1
        assert re.search(r"a ''?No matching context manager''? message was received after \[\d+\] ms", log1) or \
            "No matching context manager" in log1, log1[-3000:]
        b = Browser(lab)
        r = b.get(s1, "/app/set", {"name": "k", "type": "int", "value": "42"})
        assert r.status == 200, r.body
        sid = b.session_id("/app")
        assert sid
        r = b.get(s1, "/app/create", {"n": "5", "sync": "0"})
        assert r.status == 200, r.body
        count1 = b.get(s1, "/app/sessions").json()["count"]
        assert count1 >= 6
        t0 = time.time()
        s2 = cluster.add_node()  # oldest member is Tomcat 1 (Python announces alive 0): state from s1
        took_s2 = time.time() - t0
        log2 = s2.log_text()
        assert "No session state sent at" not in log2
        m = re.search(r"requesting session state from \[(.*?)\]", log2)
        assert m and "{10, 77, 13, 21}" in m.group(1), (m.group(0) if m else log2[-3000:])
        assert re.search(r"session state sent at \[.*?\] received in \[\d+\] ms", log2), log2[-3000:]
        assert took_s2 < 45
        peek = b.get(s2, "/app/sessions").json()
        assert peek["count"] >= count1
        assert sid.split(".")[0] in {i.split(".")[0] for i in peek["ids"]}
        summary_wait = node.find("member", lambda e: e["event"] == "added")
        assert {e["host"] for e in summary_wait} >= {s1.address, s2.address}
        node.stop()
        assert node.wait_for("summary")["no_context_manager_replies"] >= 1
        print(f"\nTomcat {version}: s1 start {took_s1:.1f} s (asked the Python member), "
              f"s2 start {took_s2:.1f} s (state from s1)")
    finally:
        node.close()
        cluster.stop()


def test_static_membership_interceptor_with_tomcat(tomcat_bed) -> None:  # type: ignore[no-untyped-def]
    """StaticMembershipInterceptor + StaticMember on both sides, no usable multicast."""
    import asyncio

    from interop.tomcat.node import TomcatCluster
    from tribes.group.channel import GroupChannel
    from tribes.group.coordinator import LocalOnlyMembership
    from tribes.interceptors.static_membership import StaticMembershipInterceptor
    from tribes.interceptors.tcp_failure_detector import TcpFailureDetector
    from tribes.membership.static import StaticMember, format_byte_literal
    from tribes.transport.receiver import NioReceiver

    version, lab, _cluster = tomcat_bed
    host = _py(lab, "pyst", 80)
    py_id = bytes(range(0x10, 0x20))
    tc_id = bytes([0xA0 + i for i in range(16)])
    ic = "org.apache.catalina.tribes.group.interceptors."
    interceptors = (
        f'<Interceptor className="{ic}TcpFailureDetector"/>\n'
        f'<Interceptor className="{ic}MessageDispatchInterceptor"/>\n'
        f'<Interceptor className="{ic}StaticMembershipInterceptor">'
        f'<LocalMember className="org.apache.catalina.tribes.membership.StaticMember" uniqueId="{format_byte_literal(tc_id)}"/>'
        f'<Member className="org.apache.catalina.tribes.membership.StaticMember" host="{host.address}" port="4000" '
        f'uniqueId="{format_byte_literal(py_id)}"/></Interceptor>')
    # channelStartOptions=3 (SND_RX|SND_TX): the membership service is never started (the documented
    # static-only set-up; McastService cannot start with a StaticMember LocalMember)
    cluster = TomcatCluster(lab, version=version, mcast_port=45698, host_prefix="st", index_base=30,
                            interceptors_xml=interceptors, cluster_attrs={"channelStartOptions": "3"})
    try:
        st1 = cluster.add_node()
        result: dict[str, Any] = {}

        async def python_node() -> None:
            ms = LocalOnlyMembership()
            ms.set_local_member(bytes(int(x) for x in host.address.split(".")), 4000, unique_id=py_id)
            ch = GroupChannel(receiver=NioReceiver(address=host.address, port=4000), membership=ms)
            ch.add_interceptor(TcpFailureDetector())
            ch.add_interceptor(StaticMembershipInterceptor([StaticMember(st1.address, 4000, tc_id)]))
            added: list[Any] = []

            class L:
                def member_added(self, m: Any) -> None:
                    added.append(m)

                def member_disappeared(self, m: Any) -> None:
                    pass

            ch.add_membership_listener(L())
            await ch.start()
            try:
                for _ in range(300):
                    if added:
                        break
                    await asyncio.sleep(0.1)
                result["added"] = list(added)
                result["members"] = ch.members()
                for _ in range(300):
                    if member_lines(st1, host.address, "added"):
                        break
                    await asyncio.sleep(0.1)
            finally:
                result["stop_at"] = time.time()
                await ch.stop()

        run_in_netns(host.ns, python_node, timeout=120)
        assert [m.unique_id for m in result["added"]] == [tc_id]
        assert result["members"][0].host_str == st1.address and result["members"][0].port == 4000
        line = wait_line(st1, host.address, "added", timeout=5)
        assert line["id"] == signed_ids(py_id.hex()) and line["port"] == 4000
        gone = wait_line(st1, host.address, "disappeared", timeout=10, after=result["stop_at"])
        assert gone["t"] - result["stop_at"] < 1.0
    finally:
        cluster.stop()


def test_tomcat_killed_python_reports_gone(tomcat_bed) -> None:  # type: ignore[no-untyped-def]
    version, lab, cluster = tomcat_bed
    t1 = cluster.nodes[0]
    host = _py(lab)
    node = PyNode(host, ["--mcast-port", "45640"])
    try:
        node.member_event("added", t1.address, timeout=30)
        t_kill = time.time()
        t1.kill()
        ev = node.member_event("disappeared", t1.address, timeout=DROP + 10)
        took = ev["_t"] - t_kill
        assert ev["reason"] == "expired"
        assert DROP - FREQ <= took <= DROP + FREQ + 1.5, took
    finally:
        node.close()


def test_static_membership_service_with_tomcat(tomcat_bed) -> None:  # type: ignore[no-untyped-def]
    """<Membership className="...StaticMembershipService"> on Tomcat and StaticMembershipService in Python."""
    import asyncio

    from interop.tomcat.node import TomcatCluster
    from tribes.group.channel import GroupChannel
    from tribes.interceptors.tcp_failure_detector import TcpFailureDetector
    from tribes.membership.static import StaticMember, StaticMembershipService, format_byte_literal
    from tribes.transport.receiver import NioReceiver

    version, lab, _cluster = tomcat_bed
    host = _py(lab, "pyss", 90)
    py_id = bytes(range(0x30, 0x40))
    tc_id = bytes([0xC0 + i for i in range(16)])
    tc_address = "10.77.13.41"
    sm = "org.apache.catalina.tribes.membership.StaticMember"
    membership = (
        '<Membership className="org.apache.catalina.tribes.membership.StaticMembershipService">'
        f'<Member className="{sm}" host="{tc_address}" port="4000" uniqueId="{format_byte_literal(tc_id)}"/>'
        f'<Member className="{sm}" host="{host.address}" port="4000" uniqueId="{format_byte_literal(py_id)}"/>'
        '</Membership>')
    cluster = TomcatCluster(lab, version=version, host_prefix="ss", index_base=40, membership_xml=membership)
    try:
        ss1 = cluster.add_node()
        assert ss1.address == tc_address
        result: dict[str, Any] = {}

        async def python_node() -> None:
            svc = StaticMembershipService([StaticMember(tc_address, 4000, tc_id), StaticMember(host.address, 4000, py_id)],
                                          tomcat_version=version)
            ch = GroupChannel(receiver=NioReceiver(address=host.address, port=4000), membership=svc)
            svc.set_channel(ch)
            ch.add_interceptor(TcpFailureDetector())
            events = svc.events()
            await ch.start()
            try:
                result["local"] = svc.local_member
                result["members_after_start"] = svc.members()
                deadline = time.monotonic() + 30
                while not member_lines(ss1, host.address, "added") and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                await asyncio.sleep(6)  # a channel heartbeat: Tomcat pings us, we ping Tomcat
                result["members_later"] = svc.members()
            finally:
                result["stop_at"] = time.time()
                await ch.stop()
            result["events"] = [e async for e in events]

        run_in_netns(host.ns, python_node, timeout=120)
        assert result["local"].unique_id == py_id
        assert [m.unique_id for m in result["members_after_start"]] == [tc_id]  # Tomcat answered MSG_START
        assert [m.unique_id for m in result["members_later"]] == [tc_id]  # still there after pings
        line = wait_line(ss1, host.address, "added", timeout=5)
        assert line["id"] == signed_ids(py_id.hex()) and line["port"] == 4000
        gone = wait_line(ss1, host.address, "disappeared", timeout=10, after=result["stop_at"])
        assert gone["t"] - result["stop_at"] < 1.0
        assert [e.kind.value for e in result["events"]] == ["added"]
        bad = [x for x in ss1.log_text().splitlines() if " SEVERE " in x or "Unable to deserialize" in x
               or "StaticMembershipProvider" in x and " WARNING " in x]
        assert bad == [], bad
    finally:
        cluster.stop()


def test_joined_python_member_does_not_slow_acked_replication(tomcat_bed) -> None:  # type: ignore[no-untyped-def]
    """channelSendOptions=6 (USE_ACK|SYNC): Tomcat replicates every request to the Python member too
    and waits for its ACK; the membership-only node ACKs like a Tomcat node without that context."""
    from interop.tomcat.node import Browser, TomcatCluster

    version, lab, _cluster = tomcat_bed
    cluster = TomcatCluster(lab, version=version, mcast_port=45680, host_prefix="a", index_base=60,
                            channel_send_options="6")
    host = _py(lab, "pyack", 95)
    node = None
    try:
        a1 = cluster.add_node()
        node = PyNode(host, ["--mcast-port", "45680"])
        wait_line(a1, host.address, "added", timeout=30)
        b = Browser(lab)
        times = []
        for i in range(5):
            t0 = time.monotonic()
            r = b.get(a1, "/app/set", {"name": f"k{i}", "type": "int", "value": str(i)})
            times.append(time.monotonic() - t0)
            assert r.status == 200, r.body
        node.stop()
        summary = node.wait_for("summary")
        assert summary["acks"] >= 5, summary  # Tomcat did send to us with USE_ACK, and got its ACKs
        assert max(times) < 2.0, times  # no ACK timeout (3 s+) on any request
        assert "Unable to send message through cluster sender" not in a1.log_text()
    finally:
        if node is not None:
            node.close()
        cluster.stop()
