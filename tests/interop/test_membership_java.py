"""McastService against real Java Tribes (TribesPeer = GroupChannel + McastService + NioReceiver +
TcpFailureDetector, Tomcat 10.1 and 9.0 jars), and Python-only checks in the lab.

Lab ``tmj*``, subnet 10.77.13.0/24. Bounds are generous; the measured times go to
bench/bench_membership.py.
"""
from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

from interop.fixtures import require_root_and_java
from tests.interop.membership_support import PyNode
from tribes.membership.member import Member, encode_member

pytestmark = pytest.mark.interop

FREQ = 500
DROP = 3000


@pytest.fixture(scope="module", params=["10", "9"])
def bed(request: pytest.FixtureRequest, lab_factory):  # type: ignore[no-untyped-def]
    version = request.param
    require_root_and_java(version)
    lab = lab_factory(f"tmj{version}", "10.77.13")
    return version, lab


def _host(lab, name: str, index: int):  # type: ignore[no-untyped-def]
    return lab.hosts.get(name) or lab.add_host(name, index=index)


def test_python_and_java_see_each_other_then_clean_stop(bed, java_peer) -> None:  # type: ignore[no-untyped-def]
    version, lab = bed
    j = _host(lab, "j1", 1)
    p = _host(lab, "py", 50)
    peer = java_peer(j, "member", ["--mcast-port", "45601"], version=version)
    node = PyNode(p, ["--mcast-port", "45601", "--receiver-port", "4100"])
    try:
        # Java (after its TcpFailureDetector probe) reports our member with the right fields
        ev = peer.wait_member(p.address, timeout=30)
        assert ev["port"] == 4100 and ev["uniqueId"] == node.unique_id
        assert ev["securePort"] == -1 and ev["udpPort"] == -1 and ev["domain"] == ""
        assert ev["alive"] == 0  # a node without sessions never sorts first
        assert ev["name"] == "tcp://{10, 77, 13, 50}:4100"
        # and we report Java's member with its fields
        mine = node.member_event("added", j.address)
        assert mine["port"] == peer.ready["port"] and mine["uniqueId"] == peer.ready["uniqueId"]
        assert mine["name"] == "tcp://{10, 77, 13, 1}:%d" % peer.ready["port"]
        assert mine["securePort"] == -1 and mine["udpPort"] == -1 and mine["domain"] == ""
        assert mine["alive"] > 0
        # clean stop: the shutdown heartbeat makes Java drop us at once
        mark = peer.mark()
        assert node.stop() == 0
        t_stop = node.stopped_at
        gone = peer.wait_for("memberDisappeared", lambda e: e["host"] == p.address, timeout=10, since=mark)
        seen_at = time.time()
        assert seen_at - t_stop < 1.0 + 0.5, "Java should drop a cleanly stopped node within ~1 s"
        assert gone["uniqueId"] == node.unique_id
        summary = node.wait_for("summary")
        assert summary["probes"] >= 1  # the TcpFailureDetector probed our acceptor before admitting us
    finally:
        node.close()


def test_python_killed_is_dropped_after_drop_time(bed, java_peer) -> None:  # type: ignore[no-untyped-def]
    version, lab = bed
    j = _host(lab, "j1", 1)
    p = _host(lab, "py", 50)
    peer = java_peer(j, "member", ["--mcast-port", "45602"], version=version)
    node = PyNode(p, ["--mcast-port", "45602", "--receiver-port", "4100"])
    try:
        peer.wait_member(p.address, timeout=30)
        mark = peer.mark()
        node.kill()
        peer.wait_for("memberDisappeared", lambda e: e["host"] == p.address, timeout=DROP / 1000 + 10, since=mark)
        took = time.time() - (node.stopped_at or 0)
        # silent -> expired after dropTime (not earlier), then TcpFailureDetector's probe is refused
        assert DROP / 1000 - FREQ / 1000 <= took <= DROP / 1000 + 5
    finally:
        node.close()


def test_java_killed_python_reports_gone(bed, java_peer) -> None:  # type: ignore[no-untyped-def]
    version, lab = bed
    j = _host(lab, "j1", 1)
    p = _host(lab, "py", 50)
    peer = java_peer(j, "member", ["--mcast-port", "45603"], version=version)
    node = PyNode(p, ["--mcast-port", "45603", "--receiver-port", "4100"])
    try:
        node.member_event("added", j.address)
        t_kill = time.time()
        peer.kill()
        ev = node.member_event("disappeared", j.address, timeout=DROP / 1000 + 10)
        took = ev["_t"] - t_kill
        assert ev["reason"] == "expired" and ev["uniqueId"] == peer.ready["uniqueId"]
        assert DROP / 1000 - FREQ / 1000 <= took <= (DROP + FREQ) / 1000 + 1.5
    finally:
        node.close()


def test_domains_garbage_and_flood_change_nothing(bed) -> None:  # type: ignore[no-untyped-def]
    """Flood a group/port where no Java/Tomcat listens (Tomcat would restart its membership)."""
    version, lab = bed
    if version != "10":
        pytest.skip("Python-only check: run once")
    a = _host(lab, "py", 50)
    b = _host(lab, "pyb", 51)
    x = _host(lab, "evil", 60)
    port = "45610"
    node_a = PyNode(a, ["--mcast-port", port, "--receiver-port", "4100"])
    node_b = PyNode(b, ["--mcast-port", port, "--receiver-port", "4100"])
    try:
        node_a.member_event("added", b.address)
        node_b.member_event("added", a.address)
        good = encode_member(Member(host=bytes([10, 77, 13, 60]), port=4000, unique_id=b"\x11" * 16, alive=5))
        other = encode_member(Member(host=bytes([10, 77, 13, 60]), port=4001, unique_id=b"\x12" * 16,
                                     domain=b"other-domain", alive=5))
        garbage = [other, good[:20], good[:-3], good[:10] + b"\x7f\xff\xff\xff" + good[14:],
                   good[:34] + b"\x80" + good[35:], good[:-10] + b"TRIBES-X\x01\x00",
                   b"TRIBES-B\x01\x00", os.urandom(300), b"FLT2002garbage"]
        script = (
            "import socket,sys,time\n"
            "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            f"s.setsockopt(socket.IPPROTO_IP,socket.IP_MULTICAST_IF,socket.inet_aton('{x.address}'))\n"
            "pk=[bytes.fromhex(h) for h in sys.argv[1:]]\n"
            "for i in range(3000):\n"
            f"  s.sendto(pk[i%len(pk)],('228.0.0.4',{port}))\n"
            "  if i%200==0: time.sleep(0.01)\n"
        )
        res = x.run(["python3", "-c", script, *[g.hex() for g in garbage]], timeout=120)
        assert res.returncode == 0, res.stderr
        time.sleep(1.5)
        for node, other_host in ((node_a, b), (node_b, a)):
            assert node.find("member", lambda e: e["host"] == x.address) == []
            assert node.find("member", lambda e: e["event"] == "disappeared") == []
        node_a.stop()
        assert [m["host"] for m in node_a.wait_for("summary")["members"]] == [b.address]
        assert node_b.member_event("disappeared", a.address)["reason"] == "shutdown"
        node_b.stop()
        for node in (node_a, node_b):
            summary = node.wait_for("summary")
            assert summary["foreign_domain"] > 100 and summary["malformed"] > 1000
            warned = [line for line in node.stderr_lines if "WARNING" in line]
            assert 1 <= len(warned) <= 6, warned  # rate-limited: a line per kind, not per packet
    finally:
        node_a.close()
        node_b.close()


def test_tshark_dissects_our_heartbeats(bed, java_peer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    version, lab = bed
    if version != "10":
        pytest.skip("the packet format is the same for both versions; Java's packets are compared once")
    if subprocess.run(["which", "tshark"], capture_output=True).returncode != 0:
        pytest.skip("tshark not installed (apt-get install -y tshark)")
    j = _host(lab, "j1", 1)
    p = _host(lab, "py", 50)
    port = 45620
    pcap = str(tmp_path / "heartbeats.pcap")
    with lab.capture(pcap, filter=f"udp port {port}"):
        peer = java_peer(j, "member", ["--mcast-port", str(port)], version=version)
        node = PyNode(p, ["--mcast-port", str(port), "--receiver-port", "4100", "--domain", "tm-dom"])
        try:
            time.sleep(2)
            node.stop()
        finally:
            node.close()
        peer.close()
    fields = ["ip.src", "ath.port", "ath.hlen", "ath.unique", "ath.domain", "ath.comm", "_ws.malformed",
              "_ws.expert.severity", "ath.ipv4", "ath.end"]
    out = subprocess.run(["tshark", "-r", pcap, "-d", f"udp.port=={port},ath", "-T", "fields", "-E", "separator=|",
                          *sum((["-e", f] for f in fields), [])], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = [line.split("|") for line in out.stdout.splitlines() if line.strip()]
    ours = [r for r in rows if r[0] == p.address]
    java = [r for r in rows if r[0] == j.address]
    assert len(ours) >= 3 and len(java) >= 3, out.stdout[-2000:]
    for r in ours + java:
        assert r[6] == "" and r[7] == "", f"malformed/expert mark: {r}"
    assert {r[1] for r in ours} == {"4100"}
    assert {r[2] for r in ours} == {r[2] for r in java} == {"4"}
    assert {r[3].replace(":", "").lower() for r in ours} == {node.unique_id}
    assert {r[8] for r in ours} == {p.address} and {r[8] for r in java} == {j.address}
    assert {r[4] for r in ours} == {"tm-dom"}
    assert {r[9] for r in ours} == {r[9] for r in java} and len({r[9] for r in ours}) == 1  # end marker
    assert [r[5] for r in ours].count("BABY-ALEX") == 1 and ours[-1][5] == "BABY-ALEX"
    verbose = subprocess.run(["tshark", "-r", pcap, "-d", f"udp.port=={port},ath", "-V"],
                             capture_output=True, text=True, timeout=120)
    assert "Malformed" not in verbose.stdout and "Decode aborted" not in verbose.stdout


def test_eight_python_nodes_converge_and_stay_stable(bed) -> None:  # type: ignore[no-untyped-def]
    version, lab = bed
    if version != "10":
        pytest.skip("Python-only check: run once")
    _cluster_soak(lab, n=8, stable_s=15, port=45630)


@pytest.mark.slow
def test_eight_python_nodes_stable_one_minute(bed) -> None:  # type: ignore[no-untyped-def]
    version, lab = bed
    if version != "10":
        pytest.skip("Python-only check: run once")
    _cluster_soak(lab, n=8, stable_s=60, port=45631)


def _cluster_soak(lab, n: int, stable_s: float, port: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    hosts = [_host(lab, f"c{i}", 100 + i) for i in range(n)]
    nodes = [PyNode(h, ["--mcast-port", str(port), "--receiver-port", "4100"]) for h in hosts]
    try:
        t0 = time.time()
        deadline = time.monotonic() + 60
        while True:
            ok = all(len({e["host"] for e in node.find("member", lambda e: e["event"] == "added")}) == n - 1
                     for node in nodes)
            if ok:
                break
            assert time.monotonic() < deadline, "8-node cluster did not converge within 60 s"
            time.sleep(0.2)
        converged = time.time() - t0
        cpu0 = [node.cpu_seconds() for node in nodes]
        time.sleep(stable_s)
        cpu1 = [node.cpu_seconds() for node in nodes]
        for node in nodes:
            assert node.find("member", lambda e: e["event"] == "disappeared") == [], "spurious drop"
        for node in nodes:
            node.stop()
        for k, node in enumerate(nodes):
            summary = node.wait_for("summary")
            # node k stopped after k others had announced their shutdown
            assert len(summary["members"]) <= n - 1 - k
            gone = node.find("member", lambda e: e["event"] == "disappeared")
            assert all(e["reason"] == "shutdown" for e in gone), gone
        per_node = [(b - a) / stable_s * 100 for a, b in zip(cpu0, cpu1)]
        print(f"\n{n} nodes converged in {converged:.2f} s; CPU per node while stable: "
              f"mean {sum(per_node) / n:.2f} %, max {max(per_node):.2f} % of one core")
        return {"converged_s": converged, "cpu_mean_pct": sum(per_node) / n, "cpu_max_pct": max(per_node)}
    finally:
        for node in nodes:
            node.close()


def test_multicast_channel_messages_both_ways(bed, java_peer) -> None:  # type: ignore[no-untyped-def]
    """SEND_OPTIONS_MULTICAST: Java's McastService.broadcast reaches our message listener, ours reaches Java."""
    import asyncio

    from tests.interop.membership_support import run_in_netns
    from tribes.io.channel_data import ChannelData, new_unique_id
    from tribes.cli.acceptor import ProbeAcceptor
    from tribes.membership.mcast import McastService

    version, lab = bed
    j = _host(lab, "j1", 1)
    p = _host(lab, "py", 50)
    port = 45604
    peer = java_peer(j, "member", ["--mcast-port", str(port)], version=version)
    payload = bytes(range(256)) * 2

    async def python_side() -> dict[str, object]:
        got: list[ChannelData] = []

        class Listener:
            def message_received(self, msg: ChannelData) -> None:
                got.append(msg)

        svc = McastService(port=port, bind=p.address, wait_for_members=False)
        acc = ProbeAcceptor(p.address, 4100)
        await acc.start()
        svc.set_local_member(socket.inet_aton(p.address), 4100)
        svc.set_message_listener(Listener())
        await svc.start()
        try:
            await asyncio.to_thread(peer.wait_member, p.address, 30)
            mark = peer.mark()
            peer.command("send 3 200 65 all")  # BYTE_MESSAGE | MULTICAST
            for _ in range(200):
                if len(got) >= 3:
                    break
                await asyncio.sleep(0.05)
            frame = ChannelData(0x41, int(time.time() * 1000), new_unique_id(), svc.local_member, payload).encode_frame()
            svc.broadcast(frame)
            ev = await asyncio.to_thread(peer.wait_for, "message", lambda e: e["size"] == len(payload), 15, mark)
            return {"got": got, "java": ev, "local": svc.local_member}
        finally:
            await svc.stop()
            await acc.stop()

    res = run_in_netns(p.ns, python_side, timeout=90)
    got = res["got"]
    assert len(got) == 3, got  # type: ignore[arg-type]
    for msg in got:  # type: ignore[union-attr]
        assert msg.options & 0x40 and len(msg.message) == 200
        assert msg.address.unique_id.hex() == peer.ready["uniqueId"]
    ev = res["java"]
    assert ev["options"] == 0x41 and ev["sender"]["uniqueId"] == res["local"].unique_id.hex()  # type: ignore[index,union-attr]


def test_listen_only_is_invisible(bed, java_peer) -> None:  # type: ignore[no-untyped-def]
    """`tribes members` without --join reports Java's member and announces nothing."""
    version, lab = bed
    j = _host(lab, "j1", 1)
    p = _host(lab, "py", 50)
    peer = java_peer(j, "member", ["--mcast-port", "45605", "--domain", "dom-a"], version=version)
    node = PyNode(p, ["--mcast-port", "45605"], join=False)
    try:
        ev = node.member_event("added", j.address)
        assert ev["domain"] == "dom-a" and ev["uniqueId"] == peer.ready["uniqueId"]
        time.sleep(2)
        assert peer.find("memberAdded") == []
        assert node.local["mode"] == "listen"
        node.stop()
        summary = node.wait_for("summary")
        assert summary["sent"] == 0 and [m["host"] for m in summary["members"]] == [j.address]
    finally:
        node.close()
