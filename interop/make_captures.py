"""Regenerate the committed lab captures (real Tomcat traffic) under tests/vectors/captures/.

    python3 -m interop.make_captures [--out DIR] [--version 10|9] [--only membership|replication]

Writes, per Tomcat major version V:
- ``tomcatV-membership.pcap``: two nodes start (multicast heartbeats, TcpFailureDetector probes on
  port 4000), run for a few seconds, then node 2 stops gracefully (shutdown member packet
  ``BABY-ALEX``) and node 1 drops it. Capture filter: ``udp port 45564 or tcp port 4000``.
- ``tomcatV-replication.pcap``: with two nodes running: HTTP requests (from the hub) that create a
  session on node 1 and set typed attributes (String, Integer, Long, Boolean, Double, byte[],
  ArrayList, HashMap, tribeslab.Bean), a read on node 2 (JvmRouteBinderValve rename), a FORM login
  (principal), 5 bulk sessions, then node 3 starts and receives every session by state transfer.
  Everything on the bridge is captured (HTTP 8080, cluster TCP 4000, multicast 45564).
- a ``.json`` sidecar for each pcap: node addresses, jvmRoutes, member uniqueIds (from Tomcat's
  log), session ids, the attributes set, Tomcat version, and what happened when (offsets in s).

Runs in its own lab (name ``tbc``, subnet 10.77.10) and needs root, Java, Tomcat jars, tcpdump.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from typing import Any

if __package__ in (None, ""):  # python3 interop/make_captures.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from interop.lab import Lab
from interop.tomcat.node import Browser, TomcatCluster, TomcatNode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "tests", "vectors", "captures")
LAB_NAME = "tbc"
SUBNET = "10.77.10"

TYPED = [
    ("s", "string", "héllo wörld"), ("i", "int", "42"), ("l", "long", "9007199254740993"),
    ("b", "bool", "true"), ("d", "double", "3.25"), ("y", "bytes", "00ff10"), ("al", "list", "a,b,c"),
    ("hm", "map", "k=v"), ("bean", "bean", "text:7"),
]

_ADDED = re.compile(r"Replication member added:\[.*?\{(\d+), (\d+), (\d+), (\d+)\},(\d+), alive=\d+.*?"
                    r"id=\{([-\d ]+)\}")


def member_ids(node: TomcatNode) -> dict[str, str]:
    """address:port -> uniqueId (hex) of the members this node logged."""
    out = {}
    for m in _ADDED.finditer(node.log_text()):
        addr = ".".join(m.group(i) for i in range(1, 5))
        uid = bytes(int(x) & 0xFF for x in m.group(6).split()).hex()
        out[f"{addr}:{m.group(5)}"] = uid
    return out


def _nodes_json(cluster: TomcatCluster) -> list[dict[str, Any]]:
    ids: dict[str, str] = {}
    for n in cluster.nodes:
        ids.update(member_ids(n))
    return [{"jvmRoute": n.jvm_route, "address": n.address, "receiverPort": 4000, "httpPort": n.http_port,
             "version": n.version, "uniqueId": ids.get(f"{n.address}:4000")} for n in cluster.nodes]


def _write_json(path: str, data: dict[str, Any]) -> None:
    with open(path, "w") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")


def capture_membership(lab: Lab, out: str, version: str) -> str:
    pcap = os.path.join(out, f"tomcat{version}-membership.pcap")
    events: list[tuple[float, str]] = []
    cluster = TomcatCluster(lab, version=version, host_prefix="m", index_base=0)
    try:
        with lab.capture(pcap, filter="udp port 45564 or tcp port 4000") as cap:
            t0 = time.monotonic()
            cluster.add_node()
            events.append((time.monotonic() - t0, "tomcat1 ready"))
            cluster.add_node()
            events.append((time.monotonic() - t0, "tomcat2 ready"))
            cluster.wait_membership()
            events.append((time.monotonic() - t0, "both members"))
            time.sleep(2)
            n1, n2 = cluster.nodes
            n2.stop()
            events.append((time.monotonic() - t0, "tomcat2 stopped gracefully"))
            deadline = time.monotonic() + 30
            while n2.address in n1.members_from_log():
                if time.monotonic() > deadline:
                    raise RuntimeError("node 1 did not drop node 2")
                time.sleep(0.1)
            events.append((time.monotonic() - t0, "tomcat1 logged tomcat2 disappeared"))
            time.sleep(1)
        _write_json(pcap[:-5] + ".json", {
            "what": "two Tomcat nodes join, heartbeat, node 2 stops gracefully",
            "capture_filter": "udp port 45564 or tcp port 4000", "packets": cap.packets,
            "mcast": "228.0.0.4:45564", "tomcat_version": version,
            "server": cluster.nodes[0].get_json("/ping")[1].get("server"),
            "nodes": _nodes_json(cluster), "events": [{"t": round(t, 3), "what": w} for t, w in events],
        })
    finally:
        cluster.stop()
    return pcap


def capture_replication(lab: Lab, out: str, version: str) -> str:
    pcap = os.path.join(out, f"tomcat{version}-replication.pcap")
    events: list[tuple[float, str]] = []
    cluster = TomcatCluster(lab, version=version, host_prefix="r", index_base=10)
    try:
        cluster.start(2)
        n1, n2 = cluster.nodes
        b = Browser(lab)
        login = Browser(lab)
        with lab.capture(pcap) as cap:
            t0 = time.monotonic()
            sid = b.new_session(n1, [n2])
            events.append((time.monotonic() - t0, f"session {sid} created on tomcat1 (attribute created-on)"))
            for name, typ, value in TYPED:
                b.get(n1, "/app/set", {"name": name, "type": typ, "value": value})
            n2.wait_session(sid, [t[0] for t in TYPED])
            events.append((time.monotonic() - t0, "typed attributes set on tomcat1, replicated to tomcat2"))
            r = b.get(n2, "/app/get", {"name": "bean"}).json()
            renamed = r["id"]
            n1.wait_session(renamed, ["bean"])
            events.append((time.monotonic() - t0, f"read on tomcat2: renamed to {renamed} (JvmRouteBinderValve)"))
            who = login.login(n1).json()
            login_sid = login.session_id()
            events.append((time.monotonic() - t0, f"FORM login of {who['user']} on tomcat1: session {login_sid}"))
            made = n1.get_json("/create", {"n": 5, "prefix": "bulk"})[1]
            events.append((time.monotonic() - t0, "5 sessions via /create (acked)"))
            n3 = cluster.add_node()
            events.append((time.monotonic() - t0, "tomcat3 started: state transfer from tomcat1"))
            have = set(n3.sessions()["ids"])
            time.sleep(0.5)
        expected = {sid.split(".")[0] + ".tomcat2", login_sid, *made["first"]}
        missing = {x for x in expected if x and x not in have}
        if missing:
            raise RuntimeError(f"state transfer incomplete: {missing}")
        _write_json(pcap[:-5] + ".json", {
            "what": "session replication (typed attributes, rename, principal, bulk) and state transfer "
                    "to a joining node", "capture_filter": "", "packets": cap.packets,
            "tomcat_version": version, "server": n1.get_json("/ping")[1].get("server"),
            "context_names": ["localhost#/app", "localhost#"], "user": who["user"],
            "nodes": _nodes_json(cluster),
            "session": {"created": sid, "renamed_to": renamed, "attributes": [
                {"name": n, "type": t, "value": v} for n, t, v in TYPED]},
            "login_session": login_sid, "bulk_sessions": made["first"],
            "sessions_on_tomcat3": sorted(have),
            "events": [{"t": round(t, 3), "what": w} for t, w in events],
        })
    finally:
        cluster.stop()
    return pcap


def check_capture(pcap: str) -> list[str]:
    """Problems with a capture made by this script (empty list: it has what its sidecar promises)."""
    from scapy.all import IP, TCP, UDP, Raw, rdpcap  # scapy is a dependency of the package

    with open(pcap[:-5] + ".json") as f:
        meta = json.load(f)
    pkts = rdpcap(pcap)
    problems = []
    if os.path.getsize(pcap) > 2 * 1024 * 1024:
        problems.append(f"{pcap} is larger than 2 MiB")
    mcast_from = {p[IP].src for p in pkts if UDP in p and p[IP].dst == "228.0.0.4" and p[UDP].dport == 45564
                  and Raw in p and bytes(p[Raw]).startswith(b"TRIBES-B")}
    tcp = b"".join(bytes(p[Raw]) for p in pkts if TCP in p and Raw in p and 4000 in (p[TCP].sport, p[TCP].dport))
    nodes = meta["nodes"]
    for n in nodes:
        if n["address"] not in mcast_from and "membership" in pcap:
            problems.append(f"no heartbeat from {n['address']}")
        if n["uniqueId"] is None:
            problems.append(f"no uniqueId for {n['jvmRoute']} in the sidecar")
    if "membership" in pcap:
        shutdown = [p for p in pkts if UDP in p and Raw in p and b"BABY-ALEX" in bytes(p[Raw])]
        if not shutdown or shutdown[0][IP].src != nodes[1]["address"]:
            problems.append("no shutdown member packet (BABY-ALEX) from tomcat2")
        if b"FLT2002" not in tcp:
            problems.append("no framed TcpFailureDetector traffic on port 4000")
    else:
        for needle in (b"FLT2002", b"TLF2003", b"localhost#/app", b"tribeslab.Bean", b"GET-ALL",
                       b"org.apache.catalina.ha.session.SessionMessageImpl",
                       meta["session"]["created"].encode(), meta["login_session"].encode()):
            if needle not in tcp:
                problems.append(f"{needle!r} not in the cluster TCP traffic")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--version", default="10", choices=["10", "9"])
    ap.add_argument("--only", choices=["membership", "replication"])
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    with Lab(LAB_NAME, SUBNET) as lab:
        made = []
        if args.only in (None, "membership"):
            made.append(capture_membership(lab, args.out, args.version))
        if args.only in (None, "replication"):
            made.append(capture_replication(lab, args.out, args.version))
    bad = 0
    for p in made:
        problems = check_capture(p)
        bad += len(problems)
        print(f"{p}: {os.path.getsize(p)} bytes" + ("" if not problems else f"  PROBLEMS: {problems}"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
