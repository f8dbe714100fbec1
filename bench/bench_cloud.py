"""Cloud membership (Kubernetes provider): time from a pod appearing / vanishing in the API to the
member being added / removed, the Python node beside a real Tomcat 10.1 node in the same run.

Lab ``clbench`` (10.77.18.0/24): the stand-in Kubernetes API server in the hub
(interop/cloud/kube_api.py), Tomcat observer T1 (CloudMembershipService, its own
KubernetesMembershipProvider, full JIT: no C1-only start flag), Python observer P1
(tests/interop/cloud_node.py, same server.xml, default pollInterval 5000 ms = Tomcat's heartbeat),
and a subject pod S that appears and vanishes each round. S is a real member (``tribes members --join
--membership kubernetes`` answering TcpFailureDetector probes) started just before its pod is listed
and killed (-9) when its pod is deleted, as Kubernetes does.

Per round: ``appear`` = pod listed -> "member added" (T1: SimpleTcpCluster's log line, ms; P1: its
channel-level membership event); ``vanish`` = pod deleted + S killed -> "member disappeared". Both
observers watch the same event, so each round gives one Python and one Tomcat figure; rounds
wait a random 0.5-5.5 s before each change (seeded), so each change falls at a random phase of both
observers' 5 s poll timers; with the fixed-delay heartbeat both remove a member at their first poll
that no longer lists it, so both figures are expected to be uniform over 0-5 s plus overheads.

    python3 bench/bench_cloud.py [--rounds 5] [--json]
"""
from __future__ import annotations

import argparse
import calendar
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from interop.tomcat.node import DEFAULT_JVM_OPTS  # noqa: E402,F401 - documents what T1 runs with
from tests.interop.cloud_support import KubeLab, cloud_cluster_config, wait_for  # noqa: E402

SUBJECT_IP = "10.77.18.60"
_LINE = re.compile(r"^(\d\d-\w\w\w-\d{4} \d\d:\d\d:\d\d\.\d{3}) .*?(Replication member added|Received member disappeared)"
                   r":\[.*?tcp://\{?([\d., ]+?)\}?:\d+")


def tomcat_event_time(text: str, kind: str, ip: str, after: float) -> float | None:
    """Wall time of the first SimpleTcpCluster line of ``kind`` for ``ip`` written after ``after``."""
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m or not m.group(2).startswith(kind) or m.group(3).replace(" ", "").replace(",", ".") != ip:
            continue
        t = calendar.timegm(time.strptime(m.group(1)[:20], "%d-%b-%Y %H:%M:%S")) + int(m.group(1)[21:24]) / 1000
        if t >= after - 0.002:
            return t
    return None


def python_event_time(py: Any, kind: str, ip: str, after: float) -> float | None:
    for e in list(py.events):
        if e.get("event") == "member" and e["kind"] == kind and e["host"] == ip and e["t"] >= after:
            return float(e["t"])
    return None


def run(rounds: int) -> dict[str, Any]:
    k = KubeLab("clbench", "10.77.18")
    cl = k.cl
    try:
        k.pod("tomcat-0", "10.77.18.1", created="2026-01-01T00:00:00Z")
        k.pod("python-0", "10.77.18.50", created="2026-01-01T00:01:00Z")
        t1 = cl.tomcat(1, "10", cloud_cluster_config("kubernetes"), k.env, jvm_opts=["-Dsun.net.inetaddr.ttl=0"])
        py = cl.python(50, "kubernetes", k.env)
        wait_for("T1 and P1 see each other", lambda: "10.77.18.50" in t1.member_ids() and py.member_ids(), timeout=90)
        sub_host = cl.host("sub", 60)
        env = {**os.environ, **k.env, "PYTHONPATH": ROOT}
        samples: dict[str, list[float]] = {"appear python": [], "appear tomcat": [], "vanish python": [],
                                           "vanish tomcat": []}
        rng = random.Random(16)
        for r in range(rounds):
            subject = sub_host.python(["-m", "tribes", "members", "--membership", "kubernetes", "--join", "--bind",
                                       SUBJECT_IP, "--receiver-port", "4000", "--json"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # S listens before its pod is listed (a pod is Running once its container is up)
            k.pod("subject", SUBJECT_IP)
            t0 = time.time()
            tp = wait_for("P1 adds S", lambda: python_event_time(py, "added", SUBJECT_IP, t0), timeout=60)
            tt = wait_for("T1 adds S", lambda: tomcat_event_time(t1.log_text(), "Replication member added",
                                                                  SUBJECT_IP, t0), timeout=60)
            samples["appear python"].append(tp - t0)
            samples["appear tomcat"].append(tt - t0)
            time.sleep(rng.uniform(0.5, 5.5))  # a random phase against both 5 s poll timers
            del k.pods["subject"]
            k.save()
            subject.send_signal(signal.SIGKILL)
            t1_ = time.time()
            tp = wait_for("P1 drops S", lambda: python_event_time(py, "disappeared", SUBJECT_IP, t1_), timeout=90)
            tt = wait_for("T1 drops S", lambda: tomcat_event_time(t1.log_text(), "Received member disappeared",
                                                                  SUBJECT_IP, t1_), timeout=90)
            samples["vanish python"].append(tp - t1_)
            samples["vanish tomcat"].append(tt - t1_)
            subject.wait(10)
            print(f"round {r + 1}/{rounds}: " + ", ".join(f"{n} {v[-1]:.2f} s" for n, v in samples.items()),
                  file=sys.stderr, flush=True)
            time.sleep(rng.uniform(0.0, 5.0))
        return {"rounds": rounds, "samples_s": samples}
    finally:
        cl.close()


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"bench": "cloud membership (kubernetes): pod listed/deleted -> member added/removed",
                           "rounds": result["rounds"], "unit": "s", "rows": []}
    s = result["samples_s"]
    for what in ("appear", "vanish"):
        py, tc = s[f"{what} python"], s[f"{what} tomcat"]
        mp, mt = statistics.median(py), statistics.median(tc)
        out["rows"].append({"transition": what, "python_median": round(mp, 3), "python_min": round(min(py), 3),
                            "python_max": round(max(py), 3), "tomcat_median": round(mt, 3),
                            "tomcat_min": round(min(tc), 3), "tomcat_max": round(max(tc), 3),
                            "ratio_python_over_tomcat": round(mp / mt, 2) if mt > 0.005 else None,
                            "python_samples": [round(x, 3) for x in py], "tomcat_samples": [round(x, 3) for x in tc]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()
    if a.rounds < 5:
        print("note: fewer than 5 rounds: medians are not meaningful", file=sys.stderr)
    summary = summarize(run(a.rounds))
    if a.json:
        print(json.dumps(summary))
        return
    print(f"{summary['bench']} ({summary['rounds']} rounds; median [min-max], seconds)")
    print(f"{'transition':<10} {'python':>22} {'tomcat 10.1':>22} {'python/tomcat':>14}")
    for row in summary["rows"]:
        ratio = "-" if row["ratio_python_over_tomcat"] is None else f"{row['ratio_python_over_tomcat']:.2f}"
        print(f"{row['transition']:<10} {row['python_median']:>7.2f} [{row['python_min']:.2f}-{row['python_max']:.2f}]"
              f"{'':>3} {row['tomcat_median']:>7.2f} [{row['tomcat_min']:.2f}-{row['tomcat_max']:.2f}]{'':>3} {ratio:>14}")


if __name__ == "__main__":
    main()
