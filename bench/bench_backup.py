"""BackupManager benchmark: the Python node beside real Tomcat 10.1 nodes, in one lab run.

Lab ``bkb`` / 10.77.153: tomcat1 (primary of every session), tomcat2, tomcat3, the Python node .50,
and two subjects that join and leave: tomcat4 and a second Python node .51.

1. Replication latency to the backup. Two sessions made on tomcat1: one whose backup Tomcat chose
   is the Python node, one whose backup is a Tomcat node. Each HTTP request sets one attribute; with
   ``mapSendOptions`` 6 (USE_ACK|SYNCHRONIZED_ACK) tomcat1 answers only after the backup has
   applied the diff and ACKed, so the request time is the replication round trip plus the same
   servlet work for both. Requests alternate between the two sessions; median per round.
2. Load a map of S sessions (made on tomcat1): a new member's INIT + STATE + START, as each node
   reports it (Tomcat: ``AbstractReplicatedMap[..] initialization was completed in [N] ms``; Python:
   the same span, ``init_ms``). Rounds alternate tomcat4 and the second Python node (each started,
   measured, stopped).
3. Memory per proxy entry on those new members (they hold proxies only): Python RSS after
   gc.collect + malloc_trim minus the same node's RSS with an empty map, vs tomcat4's heap after a
   full GC (``jcmd GC.run`` + ``GC.heap_info``) minus its heap with an empty map; divided by S.

Every figure: median over >= 5 alternating rounds with min-max spread, and the ratio Python/Tomcat.

    sudo python3 bench/bench_backup.py [--sessions 10000] [--requests 100] [--rounds 5] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from interop.lab import Lab  # noqa: E402
from interop.tomcat.node import Browser, TomcatCluster, TomcatNode  # noqa: E402
from tests.interop.backup_support import BackupPyNode, backup_config, python_backup_member  # noqa: E402

INIT_DONE = re.compile(r"AbstractReplicatedMap\[localhost#/app-map\] initialization was completed in \[(\d+)\] ms")


def heap_used_kib(node: TomcatNode) -> int:
    import subprocess
    assert node.proc is not None
    pid = str(node.proc.pid)
    subprocess.run(["jcmd", pid, "GC.run"], capture_output=True, text=True, timeout=120)
    time.sleep(0.5)
    subprocess.run(["jcmd", pid, "GC.run"], capture_output=True, text=True, timeout=120)
    out = subprocess.run(["jcmd", pid, "GC.heap_info"], capture_output=True, text=True, timeout=60).stdout
    used = [int(x) for x in re.findall(r"used (\d+)K", out)]
    return sum(used[:2]) if len(used) >= 2 else sum(used)


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def session_with_backup(lab: Lab, t: TomcatNode, py: BackupPyNode, want_py: bool) -> tuple[Browser, str]:
    for _ in range(12):
        b = Browser(lab)
        r = b.get(t, "/app/set", {"name": "x", "value": "0"})
        sid = r.json()["id"]
        v = py.wait_view(sid)
        if (v["role"] == "backup") == want_py:
            return b, sid
    raise RuntimeError("no session with the wanted backup")


def wait_for(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not after {timeout} s")
        time.sleep(0.2)


def tomcat_init_ms(node: TomcatNode) -> int:
    m = wait_for(lambda: INIT_DONE.search(node.log_text()), 120, "tomcat map initialization")
    return int(m.group(1))


def run(sessions: int, requests: int, rounds: int, heap: str) -> dict[str, Any]:
    res: dict[str, Any] = {"sessions": sessions, "requests": requests, "rounds": rounds, "tomcat": "10.1"}
    with Lab("bkb", "10.77.153") as lab:
        cluster = TomcatCluster(lab, version="10", heap=heap, cluster=backup_config())
        gen = None
        try:
            cluster.start(3)
            gen = python_backup_member(lab, cluster, "10.1")
            py = next(gen)
            t1 = cluster.nodes[0]
            # 1. replication latency to the backup
            b_py, s_py = session_with_backup(lab, t1, py, True)
            b_tc, s_tc = session_with_backup(lab, t1, py, False)
            lat: dict[str, list[float]] = {"python": [], "tomcat": []}
            for _ in range(20):   # warm-up (JIT, connections)
                b_py.get(t1, "/app/set", {"name": "w", "value": "1"})
                b_tc.get(t1, "/app/set", {"name": "w", "value": "1"})
            for r in range(rounds):
                per: dict[str, list[float]] = {"python": [], "tomcat": []}
                for i in range(requests):
                    for kind, b in (("python", b_py), ("tomcat", b_tc)) if (i + r) % 2 == 0 else \
                            (("tomcat", b_tc), ("python", b_py)):
                        t0 = time.perf_counter()
                        resp = b.get(t1, "/app/set", {"name": f"a{i % 20}", "type": "int", "value": str(i)})
                        per[kind].append((time.perf_counter() - t0) * 1000)
                        assert resp.status == 200, resp.body
                for k in per:
                    lat[k].append(statistics.median(per[k]))
            res["latency_ms"] = {k: spread(v) for k, v in lat.items()}
            res["latency_ratio"] = statistics.median(lat["python"]) / statistics.median(lat["tomcat"])
            # baselines of the two subjects with an empty map
            t4 = cluster.add_node()
            tomcat_init_ms(t4)
            base_heap = heap_used_kib(t4)
            t4.stop()
            py2 = BackupPyNode(lab.add_host("pyb", index=51), ["--jvm-route", "py2", "--context", "/app"])
            base_rss = py2.call("gc_rss")["rss_kib"]
            py2.close()
            # the map
            made = 0
            while made < sessions:
                n = min(2000, sessions - made)
                status, body = t1.get_json("/create", {"n": n, "prefix": f"b{made}", "sync": 0}, timeout=600)
                assert status == 200, body
                made += n
            wait_for(lambda: len(py.call("roles", ctx="/app")["roles"]) >= sessions, 600, "map complete on py")
            load: dict[str, list[float]] = {"python": [], "tomcat": []}
            phases: list[dict[str, Any]] = []
            mem: dict[str, list[float]] = {"python": [], "tomcat": []}
            for r in range(rounds):
                for kind in (("tomcat", "python") if r % 2 == 0 else ("python", "tomcat")):
                    if kind == "tomcat":
                        with open(t4.log_path, "a") as f:   # the next INIT_DONE line is this start's
                            f.write("")
                        log_len = len(t4.log_text())
                        t4.start()
                        m = wait_for(lambda: INIT_DONE.search(t4.log_text()[log_len:]), 300, "tomcat4 map init")
                        load["tomcat"].append(float(m.group(1)))
                        mem["tomcat"].append((heap_used_kib(t4) - base_heap) * 1024 / sessions)
                        t4.stop()
                    else:
                        py2 = BackupPyNode(lab.hosts["pyb"], ["--jvm-route", "py2", "--context", "/app"],
                                           ready_timeout=600)
                        m2 = py2.ready["maps"]["localhost#/app"]
                        assert m2["entries"] >= sessions, m2
                        load["python"].append(float(m2["init_ms"]))
                        phases.append(m2.get("phases") or {})
                        mem["python"].append((py2.call("gc_rss")["rss_kib"] - base_rss) * 1024 / sessions)
                        py2.close()
            res["load_ms"] = {k: spread(v) for k, v in load.items()}
            res["load_ratio"] = statistics.median(load["python"]) / statistics.median(load["tomcat"])
            res["python_load_phases"] = phases   # profile of the Python node's start (per round)
            res["bytes_per_proxy"] = {k: spread(v) for k, v in mem.items()}
            res["memory_ratio"] = statistics.median(mem["python"]) / statistics.median(mem["tomcat"])
        finally:
            if gen is not None:
                gen.close()
            cluster.stop()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--heap", default="512m")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.rounds < 5:
        ap.error("--rounds must be >= 5 (medians over at least 5 alternating rounds)")
    res = run(a.sessions, a.requests, a.rounds, a.heap)
    if a.json:
        print(json.dumps(res))
        return
    print(f"BackupManager, Tomcat 10.1 vs the Python node; {a.sessions} sessions, {a.rounds} alternating rounds")
    print(f"{'figure':<44}{'Python':>14}{'Tomcat':>14}{'ratio Py/Tc':>13}")
    rows = [("replication latency to backup (ms/request)", "latency_ms", "latency_ratio"),
            (f"load a {a.sessions}-session map (ms)", "load_ms", "load_ratio"),
            ("memory per proxy entry (bytes)", "bytes_per_proxy", "memory_ratio")]
    for label, key, ratio in rows:
        p, t = res[key]["python"], res[key]["tomcat"]
        print(f"{label:<44}{p['median']:>14.2f}{t['median']:>14.2f}{res[ratio]:>13.2f}")
        print(f"{'  spread (min..max)':<44}{p['min']:>6.1f}..{p['max']:<6.1f}{t['min']:>6.1f}..{t['max']:<6.1f}")
    print("Python map start, per round (ms): " + "; ".join(
        ", ".join(f"{k} {v:.0f}" if isinstance(v, (int, float)) else f"{k} {v}" for k, v in ph.items())
        for ph in res["python_load_phases"]))


if __name__ == "__main__":
    main()
