"""Start-up time of the interop lab: namespaces, a 2-node real Tomcat cluster, a Java Tribes peer.

    python3 bench/bench_lab.py [--version 10|9] [--runs N] [--json]

Per run: lab (hub + 2 hosts) creation, each node from spawn to answering /app/ping (that includes
McastServiceImpl.waitForMembers' 2 x 1 s sleep and, for node 2, the state transfer), Tomcat's own
"Server initialization in" + "Server startup in", full membership (each node logged the other), a Java
TribesPeer until `ready`, and teardown (graceful stop of both nodes + namespace removal).
Needs root, Java and the Tomcat jars. Uses lab name `tbb`, subnet 10.77.10.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from interop.lab import Lab  # noqa: E402
from interop.peer import JavaPeer, peer_classpath  # noqa: E402
from interop.tomcat.node import TomcatCluster, build_webapp, catalina_home  # noqa: E402

_STARTUP = re.compile(r"Server startup in \[(\d+)\] milliseconds")
_INIT = re.compile(r"Server initialization in \[(\d+)\] milliseconds")


def one_run(version: str, jvm_opts: list[str]) -> dict[str, float]:
    r: dict[str, float] = {}
    t0 = time.monotonic()
    lab = Lab("tbb", "10.77.10")
    try:
        cluster = TomcatCluster(lab, version=version, jvm_opts=jvm_opts)
        cluster.add_node(start=False)
        cluster.add_node(start=False)
        lab.add_host("peer", index=100)
        r["lab_create_s"] = time.monotonic() - t0
        t1 = time.monotonic()
        n1, n2 = cluster.nodes
        n1.start()
        r["node1_ready_s"] = n1.ready_after or 0.0
        n2.start()
        r["node2_ready_s"] = n2.ready_after or 0.0
        cluster.wait_membership()
        r["cluster_ready_s"] = time.monotonic() - t1
        for i, n in enumerate((n1, n2), 1):
            m, mi = _STARTUP.search(n.log_text()), _INIT.search(n.log_text())
            r[f"node{i}_tomcat_reported_s"] = (int(m.group(1)) + (int(mi.group(1)) if mi else 0)) / 1000 \
                if m else float("nan")
        t2 = time.monotonic()
        peer = JavaPeer.start(lab.hosts["peer"], "member", ["--mcast-port", "45609"], version=version)
        r["java_peer_ready_s"] = time.monotonic() - t2
        peer.close()
        r["lab_total_s"] = time.monotonic() - t0
        t3 = time.monotonic()
        cluster.stop()
    finally:
        lab.close()
    r["teardown_s"] = time.monotonic() - t3
    return r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="interop lab start-up time")
    ap.add_argument("--version", default="10", choices=["10", "9"])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--jvm-opt", action="append", default=[], help="extra Tomcat JVM option (repeatable)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    # builds (CATALINA_HOME for 9, web app, peer classes) are cached; do them outside the timing
    catalina_home(args.version)
    build_webapp(args.version)
    peer_classpath(args.version)
    runs = [one_run(args.version, args.jvm_opt) for _ in range(args.runs)]
    keys = list(runs[0])
    summary = {k: {"median": statistics.median(r[k] for r in runs), "min": min(r[k] for r in runs),
                   "max": max(r[k] for r in runs)} for k in keys}
    result: dict[str, Any] = {"bench": "lab_startup", "tomcat_version": args.version, "runs": args.runs,
                              "jvm_opts": args.jvm_opt, "cpus": os.cpu_count(), "results": summary,
                              "ratio_node_ready_vs_tomcat_reported": summary["node1_ready_s"]["median"]
                              / summary["node1_tomcat_reported_s"]["median"]}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"interop lab start-up, Tomcat {args.version}, {args.runs} run(s), {os.cpu_count()} CPUs")
        print(f"{'step':32} {'median s':>9} {'min s':>8} {'max s':>8}")
        for k in keys:
            s = summary[k]
            print(f"{k:32} {s['median']:9.2f} {s['min']:8.2f} {s['max']:8.2f}")
        print(f"node ready (spawn -> /app/ping) / Tomcat's own init + startup: "
              f"{result['ratio_node_ready_vs_tomcat_reported']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
