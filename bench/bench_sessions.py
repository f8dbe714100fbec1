"""DeltaManager benchmark: the Python node beside real Tomcat 10.1 nodes, in one lab run.

1. Replication lag: N sequential HTTP requests on tomcat1 each set one attribute; the time from the
   request being sent (one clock: every namespace shares CLOCK_REALTIME) until the change is visible
   on the Python node (its attribute event) and on tomcat2 (its FINE log line
   ``received session delta message``, millisecond timestamps). p50/p99 and the ratio Python/Tomcat.
2. State transfer of S sessions (2 attributes each) made on tomcat1: into the Python node (its
   GET_ALL -> TRANSFERCOMPLETE time), into a new Tomcat node from tomcat1 (Tomcat's own log line
   ``received in [N] ms``), and from Python into a new Tomcat node (tomcat1 and tomcat2 stopped).
3. Memory per session: Python RSS growth for the S sessions vs tomcat1's heap growth after a full GC
   (``jcmd GC.run`` then ``GC.heap_info``).

    sudo python3 bench/bench_sessions.py [--sessions 10000] [--requests 200] [--json]
    sudo python3 bench/bench_sessions.py --sessions 100000 --heap 2g     (the slow tier's size)
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from interop.lab import Lab  # noqa: E402
from interop.tomcat.node import Browser, TomcatCluster, TomcatNode  # noqa: E402
from tests.interop.sessions_support import PyNode  # noqa: E402

LOG_TS = re.compile(r"^(\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d\.\d{3}) FINE .*handleSESSION_DELTA.*session \[([^\]]+)\]")
RECEIVED_IN = re.compile(r"Manager \[localhost#/app\]; session state sent at \[.*?\] received in \[([\d,.]+)\] ms")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


def log_epoch(ts: str) -> float:
    # Tomcat's OneLineFormatter prints local time; the lab runs in the machine's time zone
    t = dt.datetime.strptime(ts, "%d-%b-%Y %H:%M:%S.%f")
    return time.mktime(t.timetuple()) + t.microsecond / 1e6


def heap_used_kib(node: TomcatNode) -> int:
    assert node.proc is not None
    pid = str(node.proc.pid)
    subprocess.run(["jcmd", pid, "GC.run"], capture_output=True, text=True, timeout=120)
    out = subprocess.run(["jcmd", pid, "GC.heap_info"], capture_output=True, text=True, timeout=60).stdout
    used = [int(x) for x in re.findall(r"used (\d+)K", out)]
    # SerialGC: "def new generation total ..K, used ..K" and "tenured generation total ..K, used ..K"
    return sum(used[:2]) if len(used) >= 2 else sum(used)


def transfer_ms(node: TomcatNode, timeout: float = 60) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = RECEIVED_IN.search(node.log_text())
        if m:
            return int(re.sub(r"[,.]", "", m.group(1)))
        time.sleep(0.2)
    return None


def run(sessions: int, requests: int, heap: str) -> dict[str, Any]:
    res: dict[str, Any] = {"sessions": sessions, "requests": requests, "tomcat": "10.1"}
    with Lab("tsb", "10.77.15") as lab:
        cluster = TomcatCluster(lab, version="10", heap=heap, fine_logging=True)
        py: PyNode | None = None
        try:
            t1 = cluster.add_node()
            t2 = cluster.add_node()
            cluster.wait_membership()
            py = PyNode(lab.add_host("py", index=50), ["--jvm-route", "py1", "--context", "/app", "--events",
                                                        "--log", "WARNING"], ready_timeout=600)
            time.sleep(2)
            # ---- 1. replication lag
            b = Browser(lab)
            sid = b.new_session(t1, replicas=[t2])
            py.wait_session("/app", sid)
            base_lines = len(t2.log_text().splitlines())
            sent: list[float] = []
            for i in range(requests):
                sent.append(time.time())
                r = b.get(t1, "/app/set", {"name": "lag", "type": "int", "value": str(i)})
                assert r.status == 200, r.body
                time.sleep(0.02)
            time.sleep(2)
            py_t = {int(e["value"]["value"]): e["t"] for e in py.events
                    if e.get("event") == "session" and e.get("name") == "lag" and e.get("value")}
            t2_lines = [m for m in (LOG_TS.match(x) for x in t2.log_text().splitlines()[base_lines:])
                        if m and m.group(2) == sid]
            py_lag = [(py_t[i] - sent[i]) * 1000 for i in range(requests) if i in py_t]
            tc_lag = [(log_epoch(m.group(1)) - sent[i]) * 1000 for i, m in enumerate(t2_lines[:requests])]
            res["lag_ms"] = {
                "python": {"p50": pct(py_lag, 50), "p99": pct(py_lag, 99), "n": len(py_lag)},
                "tomcat": {"p50": pct(tc_lag, 50), "p99": pct(tc_lag, 99), "n": len(tc_lag)},
            }
            py.close()
            py = None
            # ---- 2./3. state transfer and memory
            heap0 = heap_used_kib(t1)
            status, body = t1.get_json("/create", {"n": sessions, "prefix": "bench-session-", "sync": "0"},
                                       timeout=1800)
            assert status == 200, body
            heap1 = heap_used_kib(t1)
            t2.stop()
            py = PyNode(lab.add_host("py2", index=51), ["--jvm-route", "py1", "--log", "WARNING"])
            rss0 = py.call("gc_rss")["rss_kib"]
            py.close()
            py = PyNode(lab.hosts["py2"], ["--jvm-route", "py1", "--context", "/app", "--log", "INFO"],
                        ready_timeout=1800)
            into_python = py.ready["transfer_ms"]["localhost#/app"]
            assert py.ready["sessions"]["localhost#/app"] >= sessions, py.ready
            rss1 = py.call("gc_rss")["rss_kib"]
            t3 = cluster.add_node(timeout=1800)        # members[0] is tomcat1 (oldest): Tomcat -> Tomcat
            into_tomcat = transfer_ms(t3)
            t1.stop()
            t3.stop()
            t4 = cluster.add_node(timeout=1800)        # only the Python node holds the sessions
            from_python = transfer_ms(t4)
            res["python_to_tomcat_sessions_received"] = t4.sessions(limit=1)["count"]
            res["state_transfer_ms"] = {"tomcat_to_python": into_python, "tomcat_to_tomcat": into_tomcat,
                                        "python_to_tomcat": from_python}
            res["memory"] = {"python_rss_kib": rss1 - rss0, "tomcat_heap_kib": heap1 - heap0,
                             "python_bytes_per_session": (rss1 - rss0) * 1024 / sessions,
                             "tomcat_bytes_per_session": (heap1 - heap0) * 1024 / sessions}
        finally:
            if py is not None:
                py.close()
                res["python_log_tail"] = [x for x in py.stderr if "tribes.managers" in x or "WARN" in x][-15:]
            cluster.stop()
    lag = res["lag_ms"]
    st = res["state_transfer_ms"]
    mem = res["memory"]
    res["ratios"] = {
        "lag_p50_python_over_tomcat": lag["python"]["p50"] / lag["tomcat"]["p50"] if lag["tomcat"]["p50"] else None,
        "lag_p99_python_over_tomcat": lag["python"]["p99"] / lag["tomcat"]["p99"] if lag["tomcat"]["p99"] else None,
        "transfer_into_python_over_into_tomcat": (st["tomcat_to_python"] / st["tomcat_to_tomcat"]
                                                  if st["tomcat_to_tomcat"] else None),
        "memory_python_over_tomcat": (mem["python_bytes_per_session"] / mem["tomcat_bytes_per_session"]
                                      if mem["tomcat_bytes_per_session"] > 0 else None),
    }
    return res


def table(r: dict[str, Any]) -> str:
    lag, st, mem, ra = r["lag_ms"], r["state_transfer_ms"], r["memory"], r["ratios"]

    def f(v: Any, nd: int = 1) -> str:
        return "-" if v is None else f"{v:.{nd}f}"
    rows = [
        ("replication lag p50 (ms)", f(lag["python"]["p50"]), f(lag["tomcat"]["p50"]), f(ra["lag_p50_python_over_tomcat"], 2)),
        ("replication lag p99 (ms)", f(lag["python"]["p99"]), f(lag["tomcat"]["p99"]), f(ra["lag_p99_python_over_tomcat"], 2)),
        (f"state transfer {r['sessions']} sessions in (ms)", f(st["tomcat_to_python"], 0), f(st["tomcat_to_tomcat"], 0),
         f(ra["transfer_into_python_over_into_tomcat"], 2)),
        (f"state transfer {r['sessions']} out of python (ms)", f(st["python_to_tomcat"], 0), "", ""),
        ("memory per session (bytes)", f(mem["python_bytes_per_session"], 0), f(mem["tomcat_bytes_per_session"], 0),
         f(ra["memory_python_over_tomcat"], 2)),
    ]
    w = max(len(x[0]) for x in rows)
    out = [f"{'':<{w}}  {'python':>10}  {'tomcat':>10}  {'py/tc':>6}"]
    out += [f"{a:<{w}}  {b:>10}  {c:>10}  {d:>6}" for a, b, c, d in rows]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--heap", default="512m", help="Tomcat -Xmx (about 2g for 100,000 sessions)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    r = run(a.sessions, a.requests, a.heap)
    if a.json:
        print(json.dumps(r, default=str))
    else:
        print(table(r))


if __name__ == "__main__":
    main()
