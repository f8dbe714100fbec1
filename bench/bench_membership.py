"""Membership timings: Python McastService vs real Tomcat, observing the same events.

In a lab (namespaces ``tmb*``, subnet 10.77.13.0/24): Tomcat node T1 and Python node P1 (``tribes
members --join``) both watch the same events and their detection delays are compared as a ratio
P1 / T1 (1.0 = as fast as Tomcat):

* ``join tomcat``: Tomcat T2 starts (reference: its log line written right after it multicast its
  first heartbeat, "Sleeping ... start level:[8]");
* ``join python``: Python P2 starts (reference: its first heartbeat, the ``local`` event);
* ``stop python``: P2 stops cleanly (SIGTERM; shutdown heartbeat);
* ``kill python``: P2 killed (-9): detection by expiry after dropTime;
* ``stop tomcat`` / ``kill tomcat``: T2 stopped cleanly / killed (-9).

Tomcat's times come from its log (ms resolution), Python's from P1's JSON events. Joins are
detected within milliseconds by both (first heartbeat, plus Tomcat's TCP probe); their ratio is
noise and printed as "-" when Tomcat's delay is under 5 ms (a reference line can even be written
a few ms after the peer already logged the addition). CPU: P1's
process over a quiet window versus T1's whole JVM (Tomcat does much more than membership: an
upper bound for it, not a like-for-like figure).

    python3 bench/bench_membership.py [--versions 10,9] [--rounds 2] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from interop.lab import Lab  # noqa: E402
from interop.tomcat.node import TomcatCluster  # noqa: E402
from tests.interop.membership_support import PyNode  # noqa: E402
from tests.interop.test_membership_tomcat import log_time, wait_line  # noqa: E402

PORT = 45660


def _iso(ts: str) -> float:
    """``2026-11-22T02:35:42.123Z`` -> epoch seconds."""
    import calendar

    return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) + int(ts[20:23]) / 1000


def _t(ev: dict[str, Any]) -> float:
    return _iso(ev["time"])


def _cpu_jvm(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_level8_time(node: Any, after: float) -> float:
    import re

    for m in re.finditer(r"^(\S+ \S+) .*waitForMembers Sleeping for \[\d+\] milliseconds.*start level:\[8\]",
                         node.log_text(), re.M):
        t = log_time(m.group(1))
        if t >= after - 1:
            return t
    raise RuntimeError(f"{node}: no 'start level:[8]' line")


def run_version(version: str, rounds: int) -> dict[str, Any]:
    results: dict[str, list[tuple[float, float]]] = {}

    def record(name: str, py: float, tc: float) -> None:
        results.setdefault(name, []).append((py, tc))

    with Lab(f"tmb{version}", "10.77.13") as lab:
        cluster = TomcatCluster(lab, version=version, mcast_port=PORT, host_prefix="t", index_base=0)
        p1 = None
        try:
            t1 = cluster.add_node()
            h1 = lab.add_host("p1", index=51)
            h2 = lab.add_host("p2", index=52)
            p1 = PyNode(h1, ["--mcast-port", str(PORT)])
            p1.member_event("added", t1.address, timeout=30)
            # CPU over a quiet window
            cpu_py0, cpu_tc0, w0 = p1.cpu_seconds(), _cpu_jvm(t1.proc.pid), time.time()
            time.sleep(10)
            cpu_py1, cpu_tc1, w1 = p1.cpu_seconds(), _cpu_jvm(t1.proc.pid), time.time()
            cpu = {"python_pct": (cpu_py1 - cpu_py0) / (w1 - w0) * 100,
                   "tomcat_jvm_pct": (cpu_tc1 - cpu_tc0) / (w1 - w0) * 100}

            for r in range(rounds):
                # --- Python P2 joins, stops cleanly, joins again, is killed
                n_add = len(p1.find("member", lambda e: e["event"] == "added" and e["host"] == h2.address))
                p2 = PyNode(h2, ["--mcast-port", str(PORT)])
                ref = _iso(p2.local["startedAt"])
                py = _nth(p1, "added", h2.address, n_add)
                tc = wait_line(t1, h2.address, "added", timeout=30, after=ref)
                record("join python", _t(py) - ref, tc["t"] - ref)
                n_gone = len(p1.find("member", lambda e: e["event"] == "disappeared" and e["host"] == h2.address))
                p2.stop()
                ref = p2.stopped_at or 0
                py = _nth(p1, "disappeared", h2.address, n_gone)
                tc = wait_line(t1, h2.address, "disappeared", timeout=15, after=ref)
                if py["reason"] != "shutdown" or not tc["command"]:
                    raise RuntimeError(f"the shutdown heartbeat was not seen: python {py['reason']}, "
                                       f"tomcat command {tc['command']!r}")
                record("stop python", _t(py) - ref, tc["t"] - ref)
                p2 = PyNode(h2, ["--mcast-port", str(PORT)])
                wait_line(t1, h2.address, "added", timeout=30, after=_iso(p2.local["startedAt"]))
                _wait_count(p1, "added", h2.address, n_gone + 2)
                p2.kill()
                ref = p2.stopped_at or 0
                py = _nth(p1, "disappeared", h2.address, n_gone + 1)
                tc = wait_line(t1, h2.address, "disappeared", timeout=20, after=ref)
                record("kill python", _t(py) - ref, tc["t"] - ref)

                # --- Tomcat T2 joins, stops cleanly; joins again, is killed
                for how in ("stop", "kill"):
                    n_added = len(p1.find("member", lambda e: e["event"] == "added" and e["host"] == "10.77.13.2"))
                    t_before = time.time()
                    t2 = cluster.add_node() if len(cluster.nodes) < 2 else _restart(cluster.nodes[1])
                    ref = _start_level8_time(t2, t_before)
                    py = _nth(p1, "added", t2.address, n_added)
                    # T1 may log the addition a few ms before T2 has written its own line
                    tc = wait_line(t1, t2.address, "added", timeout=30, after=t_before)
                    record("join tomcat", _t(py) - ref, tc["t"] - ref)
                    n_gone = len(p1.find("member", lambda e: e["event"] == "disappeared" and e["host"] == t2.address))
                    ref = time.time()
                    if how == "stop":
                        t2.stop()
                    else:
                        t2.kill()
                    py = _nth(p1, "disappeared", t2.address, n_gone, timeout=20)
                    tc = wait_line(t1, t2.address, "disappeared", timeout=20, after=ref)
                    record(f"{how} tomcat", _t(py) - ref, tc["t"] - ref)
        finally:
            if p1 is not None:
                p1.close()
            cluster.stop()
    rows = {}
    for name, pairs in results.items():
        py = statistics.median(p for p, _ in pairs)
        tc = statistics.median(t for _, t in pairs)
        rows[name] = {"python_s": round(py, 3), "tomcat_s": round(tc, 3),
                      "ratio": round(py / tc, 3) if tc > 0.005 else None, "n": len(pairs),
                      "samples": [[round(p, 4), round(t, 4)] for p, t in pairs]}
    return {"version": version, "events": rows, "cpu": {k: round(v, 3) for k, v in cpu.items()}}


def _restart(node: Any) -> Any:
    node.start()
    return node


def _nth(node: PyNode, event: str, address: str, n: int, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        evs = node.find("member", lambda e: e["event"] == event and e["host"] == address)
        if len(evs) > n:
            return evs[n]
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {event} #{n + 1} of {address} on the Python observer")
        time.sleep(0.05)


def _wait_count(node: PyNode, event: str, address: str, n: int) -> None:
    _nth(node, event, address, n - 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--versions", default="10", help="comma-separated Tomcat majors (10, 9)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    out = {"benchmark": "membership", "rounds": args.rounds,
           "results": [run_version(v.strip(), args.rounds) for v in args.versions.split(",")]}
    if args.json:
        print(json.dumps(out))
        return 0
    for res in out["results"]:
        print(f"\nTomcat {res['version']}: detection delay of the same event, median of {args.rounds} "
              f"(python observer / tomcat observer)")
        print(f"{'event':<14}{'python s':>10}{'tomcat s':>10}{'ratio':>8}")
        for name, row in res["events"].items():
            ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
            print(f"{name:<14}{row['python_s']:>10.3f}{row['tomcat_s']:>10.3f}{ratio:>8}")
        cpu = res["cpu"]
        print(f"CPU (quiet cluster, 10 s): python node {cpu['python_pct']:.2f} % of a core, "
              f"Tomcat JVM (whole server) {cpu['tomcat_jvm_pct']:.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
