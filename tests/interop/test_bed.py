"""The interop bed itself: namespace lab, Java Tribes peer, real Tomcat 10.1 / 9.0 clusters.

One lab per module (name `tb`, subnet 10.77.10). Java peers that only test each other use their
own multicast port so they never join (let alone become the oldest member of) a Tomcat cluster.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time as _t
from typing import Any, Callable

import pytest

from interop.fixtures import require_root_and_java
from interop.lab import Lab, LabError, RootLeakWatch, default_interface
from interop.tomcat.node import FAST_START_OPTS, Browser, ClusterConfig, TomcatCluster

pytestmark = pytest.mark.interop

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEER_MCAST = ["--mcast-port", "45601"]   # Java-only tests: not the Tomcat cluster's 45564


def _root_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line}


@pytest.fixture(scope="module")
def root_links_before() -> set[str]:
    return _root_links()


@pytest.fixture(scope="module")
def leak_watch() -> Any:
    """tcpdump on the root namespace's real interface for the whole module (see the last test)."""
    require_root_and_java(10)
    if default_interface() is None or shutil.which("tcpdump") is None:
        yield None
        return
    watch = RootLeakWatch("net 10.77.10.0/24 or host 228.0.0.4 or udp port 45564 or udp port 45565").start()
    yield watch
    if watch.packets is None:
        watch.stop()


@pytest.fixture(scope="module")
def lab(lab_factory: Callable[..., Lab], root_links_before: set[str], leak_watch: Any) -> Lab:
    require_root_and_java(10)
    return lab_factory("tb", "10.77.10")


def test_lab_layout_stays_out_of_root_namespace(lab: Lab, root_links_before: set[str]) -> None:
    h = lab.add_host("p1", index=101)
    assert h.ns == "tb-p1" and h.address == "10.77.10.101" and h.iface == "eth0"
    addr = h.run(["ip", "-o", "-4", "addr", "show", "dev", "eth0"]).stdout
    assert "10.77.10.101/24" in addr
    routes = h.run(["ip", "route"]).stdout
    assert "224.0.0.0/4 dev eth0" in routes
    assert h.run(["sysctl", "-n", "net.ipv6.conf.all.disable_ipv6"]).stdout.strip() == "1"
    bridge = lab.hub_run(["ip", "-d", "link", "show", "br0"]).stdout
    assert "mcast_snooping 0" in bridge
    # nothing of the lab appears in the root namespace (the lab's link names: br0, vh<i>)
    new = _root_links() - root_links_before
    assert not {n for n in new if n == "br0" or n.startswith("vh")}, new
    # the hub reaches the host over the bridge (TCP from hub to host)
    srv = h.python(["-c", "import socket;s=socket.socket();s.bind(('0.0.0.0',5999));s.listen();"
                          "c,_=s.accept();c.send(b'ok')"], stdout=subprocess.PIPE)
    out = lab.hub_run([sys.executable, "-c", "import socket,time\n"
                       "for i in range(100):\n"
                       "  try:\n"
                       f"    s=socket.create_connection(('{h.address}',5999),1);print(s.recv(2));break\n"
                       "  except OSError: time.sleep(0.1)"])
    assert "ok" in out.stdout, out.stderr
    srv.wait(5)


def test_lab_cleans_up_after_a_crashed_run() -> None:
    """A process that dies without closing its lab leaves namespaces and processes; the next Lab
    with the same name removes them (and a live owner of a name is refused)."""
    require_root_and_java(10)
    crash = subprocess.run([sys.executable, "-c",
                            "import os,sys; sys.path.insert(0, %r)\n"
                            "from interop.lab import Lab\n"
                            "lab = Lab('tbs', '10.77.10'); h = lab.add_host('a')\n"
                            "import subprocess as sp; p = h.popen(['sleep', '300'], stdout=sp.DEVNULL, stderr=sp.DEVNULL)\n"
                            "print(p.pid, flush=True); os._exit(3)" % REPO],
                           capture_output=True, text=True, timeout=60)
    assert crash.returncode == 3, crash.stderr
    orphan = int(crash.stdout.split()[0])
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "tbs-hub" in listed and "tbs-a" in listed
    with Lab("tbs", "10.77.10") as again:          # removes the leftovers first
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert "tbs-a" not in listed and "tbs-hub" in listed
        assert not os.path.exists(f"/proc/{orphan}") or "sleep" not in open(f"/proc/{orphan}/cmdline").read()
        with pytest.raises(LabError):
            Lab("tbs", "10.77.10")                 # the name is in use by a live lab
        assert again.hosts == {}
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(line.startswith("tbs-") for line in listed.splitlines())


def test_java_peers_membership_echo_and_throughput(lab: Lab, java_peer: Callable[..., Any]) -> None:
    a = lab.hosts.get("p1") or lab.add_host("p1", index=101)
    b = lab.add_host("p2", index=102)
    echo = java_peer(a, "echo", PEER_MCAST)
    member = java_peer(b, "member", PEER_MCAST, version=9)       # a 9.0 peer talks to a 10.1 peer
    seen = member.wait_member(a.address, timeout=30)
    assert seen["uniqueId"] == echo.ready["uniqueId"] and seen["port"] == echo.ready["port"]
    echo.wait_member(b.address, timeout=30)

    for options in (3, 2, 1 | 4 | 2):                 # byte+ack, serialized byte[]+ack, sync ack
        m = member.mark()
        member.command(f"send 2 300 {options} {a.address}:4000")
        done = member.wait_for("sendDone", since=m, timeout=30)
        assert done["messages"] == 2 and done["destinations"] == [f"{a.address}:4000"]
        backs = member.wait_count("message", 2, since=m, timeout=30)
        back = backs[0]
        assert backs[0]["sha256"] == backs[1]["sha256"]
        assert back["options"] == options and back["sender"]["host"] == a.address
        if options & 1:
            assert back["class"] == "org.apache.catalina.tribes.ByteMessage" and back["size"] == 300
        else:
            assert back["class"] == "[B" and back["value"].startswith("byte[300]")

    m = echo.mark()
    member.close()                                     # graceful stop: shutdown packet
    gone = echo.wait_for("memberDisappeared", lambda e: e["host"] == b.address, since=m, timeout=15)
    assert gone["uniqueId"] == seen["uniqueId"] or gone["host"] == b.address
    echo.close()

    sink = java_peer(a, "sink", [*PEER_MCAST, "--expect", "500"])
    sender = java_peer(b, "send", [*PEER_MCAST, "--count", "500", "--size", "1000", "--options", "3",
                                   "--to", a.address, "--exit-after-send"])
    sent = sender.wait_for("sendDone", timeout=60)
    got = sink.wait_for("sinkTotals", timeout=60)
    assert sent["messages"] == 500 and sent["msgs_per_s"] > 0
    assert got["messages"] == 500 and got["bytes"] == 500 * 1000


def test_java_peers_static_membership_with_gzip_and_order(lab: Lab, java_peer: Callable[..., Any]) -> None:
    a = lab.hosts.get("p1") or lab.add_host("p1", index=101)
    b = lab.hosts.get("p2") or lab.add_host("p2", index=102)
    ida, idb = "00112233445566778899aabbccddeeff", "ffeeddccbbaa99887766554433221100"
    stack = "TcpFailureDetector,MessageDispatchInterceptor,GzipInterceptor,OrderInterceptor"
    echo = java_peer(a, "echo", ["--no-mcast", "--unique-id", ida, "--interceptors", stack,
                                 "--static", f"{b.address}:4000:{idb}"])
    other = java_peer(b, "member", ["--no-mcast", "--unique-id", idb, "--interceptors", stack,
                                    "--static", f"{a.address}:4000:{ida}"], version=9)
    assert echo.ready["uniqueId"] == ida and echo.ready["mcast"] == ""
    assert echo.ready["interceptors"] == stack.split(",") + ["StaticMembershipInterceptor"]
    assert other.wait_member(a.address, timeout=30)["uniqueId"] == ida
    m = other.mark()
    other.command(f"send 3 5000 3 {a.address}:4000")
    back = other.wait_count("message", 3, since=m, timeout=30)
    # GzipInterceptor's option flag (0x100) travels with the message; the payload is inflated again
    assert {(e["options"], e["size"]) for e in back} == {(0x100 | 3, 5000)}


# ----------------------------------------------------------------------------------- real Tomcat

TYPED = [  # (name, type, value sent, Java class, rendered value)
    ("s", "string", "héllo wörld", "java.lang.String", "héllo wörld"),
    ("i", "int", "42", "java.lang.Integer", "42"),
    ("l", "long", "9007199254740993", "java.lang.Long", "9007199254740993"),
    ("b", "bool", "true", "java.lang.Boolean", "true"),
    ("d", "double", "3.25", "java.lang.Double", "3.25"),
    ("y", "bytes", "00ff10", "[B", "00ff10"),
    ("al", "list", "a,b,c", "java.util.ArrayList", "[a, b, c]"),
    ("hm", "map", "k=v", "java.util.HashMap", "{k=v}"),
    ("bean", "bean", "text:7", "tribeslab.Bean", "Bean{text=text, count=7}"),
]


@pytest.fixture(scope="module")
def cluster(lab: Lab, tomcat_cluster: Callable[..., TomcatCluster]) -> TomcatCluster:
    require_root_and_java(10, tomcat=True)
    return tomcat_cluster(lab, 2, version="10", jvm_opts=FAST_START_OPTS)


def _route_base(session_id: str) -> str:
    return session_id.split(".")[0]


def test_tomcat10_two_nodes_replicate_a_session(lab: Lab, cluster: TomcatCluster, tmp_path: Any) -> None:
    n1, n2 = cluster.nodes[:2]
    assert n1.members_from_log() == {n2.address} and n2.members_from_log() == {n1.address}
    b = Browser(lab)
    with lab.capture(str(tmp_path / "replication.pcap")) as cap:
        b.new_session(n1, [n2])
        for name, typ, value, cls, shown in TYPED:
            r = b.get(n1, "/app/set", {"name": name, "type": typ, "value": value})
            assert r.status == 200, r.body
            assert r.json()["attribute"] == {"name": name, "type": cls, "value": shown}
        sid = b.session_id()
        assert sid and sid.endswith(".tomcat1")
        view = n2.wait_session(sid, [t[0] for t in TYPED], timeout=30)   # same id, all attributes
    assert cap.packets and cap.packets > 0
    assert view["id"] == sid
    assert {a["name"]: (a["type"], a["value"]) for a in view["attributes"] if a["name"] != "created-on"} == \
        {name: (cls, shown) for name, _ty, _v, cls, shown in TYPED}
    # read on node 2 over HTTP with the cookie of node 1: JvmRouteBinderValve renames it to .tomcat2
    r = b.get(n2, "/app/get", {"name": "bean"})
    assert r.status == 200 and r.json()["value"] == "Bean{text=text, count=7}"
    assert _route_base(r.json()["id"]) == _route_base(sid) and r.json()["id"].endswith(".tomcat2")
    assert b.session_id() == r.json()["id"]                     # the new cookie was sent
    # the rename is cluster-wide: node 1 now knows the session only by its new id
    n1.wait_session(r.json()["id"], ["bean"], timeout=30)
    # the pcap has the membership heartbeats and the framed replication traffic
    raw = open(tmp_path / "replication.pcap", "rb").read()
    assert b"FLT2002" in raw and b"TLF2003" in raw and b"TRIBES-B" in raw


def test_tomcat10_principal_and_max_inactive_replicate(lab: Lab, cluster: TomcatCluster) -> None:
    n1, n2 = cluster.nodes[:2]
    b = Browser(lab)
    who = b.login(n1)
    assert who.status == 200 and who.json()["user"] == "alice", who.body
    sid = b.session_id()
    assert b.get(n1, "/app/maxinactive", {"seconds": "1234"}).json()["maxInactiveInterval"] == 1234
    b.get(n1, "/app/set", {"name": "marker", "value": "m"})
    view = n2.wait_session(sid, ["marker"], timeout=30)
    assert view["user"] == "alice" and view["maxInactiveInterval"] == 1234


def _wait_gone(node: Any, sid: str, ctx: str = "app", timeout: float = 30) -> None:
    end = _t.monotonic() + timeout
    while node.peek(sid, ctx) is not None:
        assert _t.monotonic() < end, f"session {sid} still on {node} after {timeout} s"
        _t.sleep(0.2)


def test_tomcat10_invalidate_changeid_expiry_and_root_context(lab: Lab, cluster: TomcatCluster) -> None:
    n1, n2 = cluster.nodes[:2]
    # invalidate on node 1 -> gone on node 2
    b = Browser(lab)
    sid = b.new_session(n1, [n2])
    assert b.get(n1, "/app/invalidate").json() == {"invalidated": sid}
    _wait_gone(n2, sid)
    # changeSessionId on node 1 -> node 2 knows the new id only
    b = Browser(lab)
    sid = b.new_session(n1, [n2])
    changed = b.get(n1, "/app/changeid").json()
    assert changed["old"] == sid and changed["id"] != sid and b.session_id() == changed["id"]
    n2.wait_session(changed["id"], ["created-on"])
    _wait_gone(n2, sid)
    # expiry in seconds: backgroundProcessorDelay=1, processExpiresFrequency=1
    b.get(n1, "/app/maxinactive", {"seconds": "2"})
    end = _t.monotonic() + 30
    while (n2.peek(changed["id"]) or {"maxInactiveInterval": 2})["maxInactiveInterval"] != 2:
        assert _t.monotonic() < end, "maxInactiveInterval=2 did not replicate"
        _t.sleep(0.1)
    _wait_gone(n1, changed["id"], timeout=30)
    _wait_gone(n2, changed["id"], timeout=30)
    # the ROOT context replicates on its own (context name localhost#)
    r = Browser(lab)
    first = r.get(n1, "/set", {"name": "root-created", "value": "1"})
    assert first.status == 200 and r.session_id("/") == first.json()["id"]
    n2.wait_session(first.json()["id"], ctx="ROOT")   # async CREATED may arrive after its delta
    got = r.get(n1, "/set", {"name": "root", "type": "long", "value": "7"})
    assert got.status == 200 and got.json()["id"] == first.json()["id"]
    view = n2.wait_session(got.json()["id"], ["root"], ctx="ROOT")
    assert [a for a in view["attributes"] if a["name"] == "root"][0]["type"] == "java.lang.Long"
    assert n2.peek(got.json()["id"]) is None          # not in /app


def test_java_peer_and_tomcat_see_each_other(lab: Lab, cluster: TomcatCluster,
                                             java_peer: Callable[..., Any]) -> None:
    n1, n2 = cluster.nodes[:2]
    host = lab.hosts.get("p3") or lab.add_host("p3", index=103)
    peer = java_peer(host, "member")              # joins AFTER the Tomcat nodes: never the oldest
    for n in (n1, n2):
        seen = peer.wait_member(n.address, timeout=30)
        assert seen["port"] == 4000 and len(seen["uniqueId"]) == 32
    oldest_alive = max(m["alive"] for m in peer.members())
    assert oldest_alive > 0
    # Tomcat logs "Replication member added" for the peer
    end = _t.monotonic() + 30
    while host.address not in n1.members_from_log() or host.address not in n2.members_from_log():
        assert _t.monotonic() < end, "Tomcat did not add the Java peer as a member"
        _t.sleep(0.2)
    # session traffic reaches the peer as real SessionMessageImpl objects
    b = Browser(lab)
    b.new_session(n1, [n2])
    m = peer.mark()
    b.get(n1, "/app/set", {"name": "seen-by-peer", "value": "1"})
    msg = peer.wait_for("message", lambda e: str(e.get("contextName")).endswith("#/app") and e["sender"]["host"] == n1.address,
                        since=m, timeout=30)
    assert msg["class"] == "org.apache.catalina.ha.session.SessionMessageImpl"
    assert _route_base(msg["sessionId"]) == _route_base(b.session_id() or "")
    peer.close()                                  # graceful: Tomcat sees it disappear
    end = _t.monotonic() + 30
    while host.address in n1.members_from_log():
        assert _t.monotonic() < end, "Tomcat did not drop the stopped Java peer"
        _t.sleep(0.2)


def test_kill9_owner_other_node_serves_then_new_node_gets_all_sessions(lab: Lab, cluster: TomcatCluster) -> None:
    n1, n2 = cluster.nodes[:2]
    b = Browser(lab)
    b.new_session(n1, [n2])
    b.get(n1, "/app/set", {"name": "survivor", "type": "bean", "value": "alive:1"})
    sid = b.session_id()
    assert sid is not None
    n2.wait_session(sid, ["survivor"], timeout=30)
    made = n1.get_json("/create", {"n": 40, "prefix": "bulk"})[1]
    assert made["created"] == 40
    n2.wait_session(made["first"][-1], ["index", "text"], timeout=30)
    n1.kill()                                     # kill -9 of the owner
    assert not n1.is_running()
    r = b.get(n2, "/app/get", {"name": "survivor"})
    assert r.status == 200 and r.json()["value"] == "Bean{text=alive, count=1}", r.body
    end = _t.monotonic() + 30
    while n1.address in n2.members_from_log():
        assert _t.monotonic() < end, "node 2 did not drop the killed node"
        _t.sleep(0.2)
    before = set(n2.sessions()["ids"])
    assert len(before) >= 41
    n3 = cluster.add_node()                       # state transfer from node 2 (the oldest live member)
    assert "requesting session state from" in n3.log_text()
    after = set(n3.sessions()["ids"])
    assert before <= after
    view = n3.peek(made["first"][0])
    assert view is not None and {a["name"] for a in view["attributes"]} == {"index", "text"}
    assert n3.ready_after is not None


def test_tomcat9_two_nodes_replicate_a_session(lab: Lab) -> None:
    require_root_and_java(9, tomcat=True)
    cfg = ClusterConfig(mcast_port=45565)          # its own cluster, apart from the 10.1 nodes
    with TomcatCluster(lab, version="9", cluster=cfg, host_prefix="n", index_base=10,
                       jvm_opts=FAST_START_OPTS) as c9:
        c9.start(2)
        n1, n2 = c9.nodes
        b = Browser(lab)
        b.new_session(n1, [n2])
        for name, typ, value, cls, shown in TYPED:
            assert b.get(n1, "/app/set", {"name": name, "type": typ, "value": value}).status == 200
        sid = b.session_id()
        assert sid and sid.endswith(".tomcat1")
        view = n2.wait_session(sid, [t[0] for t in TYPED], timeout=30)
        assert {a["name"]: (a["type"], a["value"]) for a in view["attributes"] if a["name"] != "created-on"} == \
            {name: (cls, shown) for name, _ty, _v, cls, shown in TYPED}
        assert "Apache Tomcat/9.0" in n2.get_json("/ping")[1]["server"]
        r = b.get(n2, "/app/get", {"name": "i"})
        assert r.status == 200 and r.json()["value"] == "42"


def test_zz_nothing_left_the_lab(lab: Lab, leak_watch: Any) -> None:
    """Runs last: the root namespace's real interface saw no lab packet during the whole module."""
    if leak_watch is None:
        pytest.skip("no default interface or no tcpdump: leak watch not possible")
    leaked = leak_watch.stop()
    assert leaked == 0, leak_watch.summary()
