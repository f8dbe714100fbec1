"""Keeper benchmark: the keeper beside real Tomcat 10.1 nodes, in one lab run (lab ``kpb``).

1. Durable updates/s. Two Tomcat nodes under HTTP load (one load generator per node, every request
   sets an attribute: one SESSION_DELTA replicated per request), alternating rounds without and with
   the keeper as a member, for channelSendOptions 6 (the keeper ACKs after the commit: the senders
   wait for the disk) and 8 (batched within --async-delay). Reported: the cluster's replication rate
   (requests/s) without the keeper, with it, their ratio, and the keeper's commits/s.
2. State transfer of S sessions: loading them from the store (the keeper's own ``load_s``), serving
   them to a joining Tomcat (keeper alone -> new Tomcat: Tomcat's ``received in [N] ms``), beside
   Tomcat -> Tomcat of the same sessions, in alternating rounds.
3. Disk bytes per session (store file / S) and RSS per session held by the keeper (RSS with S
   sessions minus RSS with none) beside Tomcat's heap per session after a full GC (jcmd).
4. Duplicate-login prevention: the time from a user's second login to the first client being logged out.

    sudo python3 bench/bench_keeper.py [--sessions 10000] [--rounds 5] [--json]
    sudo python3 bench/bench_keeper.py --sessions 100000 --heap 2g      (the slow tier's size)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.bench_sessions import heap_used_kib, transfer_ms  # noqa: E402
from interop.lab import REPO_ROOT, Lab  # noqa: E402
from interop.tomcat.node import TomcatCluster, TomcatNode  # noqa: E402
from tests.interop.keeper_support import KeeperProcess, stored_ids, wait_until  # noqa: E402


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def load(lab: Lab, nodes: list[TomcatNode], seconds: float, connections: int) -> float:
    """Requests/s of one load generator per node, run at the same time, summed."""
    env = {**os.environ, "PYTHONPATH": REPO_ROOT}
    procs = [lab.hub_popen([sys.executable, "-m", "interop.web.loadgen", "load", "--url",
                            f"{n.url}/app/set?name=load&type=int&value=1", "--connections", str(connections),
                            "--duration", str(seconds), "--count", "10000000", "--warmup", "1"],
                           stdout=subprocess.PIPE, text=True, env=env) for n in nodes]
    total = 0.0
    for p in procs:
        out, _ = p.communicate(timeout=seconds + 120)
        res = json.loads(out.strip().splitlines()[-1])
        if res["errors"]:
            raise RuntimeError(f"load generator errors: {res['first_errors']}")
        total += res["rps"]
    return total


def last_stats(k: KeeperProcess) -> dict[str, Any]:
    ev = [e for e in k.events if e.get("kind") == "keeper"]
    return ev[-1] if ev else {"commits": 0, "persisted": 0, "t": time.time()}


def throughput(lab: Lab, options: str, rounds: int, seconds: float, connections: int, store_dir: str,
               heap: str, synchronous: str = "FULL") -> dict[str, Any]:
    tc = TomcatCluster(lab, "10", heap=heap, channel_send_options=options)
    keeper_host = lab.hosts.get("keep") or lab.add_host("keep", index=60)
    without: list[float] = []
    with_keeper: list[float] = []
    commits: list[float] = []
    try:
        t1, t2 = tc.add_node(), tc.add_node()
        tc.wait_membership(timeout=60)
        for r in range(rounds):
            for variant in (("without", "with") if r % 2 == 0 else ("with", "without")):
                if variant == "without":
                    without.append(load(lab, [t1, t2], seconds, connections))
                    continue
                store = os.path.join(store_dir, f"tp{options}-{r}.db")
                k = KeeperProcess(keeper_host, store, ["--stats-interval", "0.5", "--synchronous", synchronous])
                try:
                    time.sleep(3)                     # both Tomcat nodes have added it
                    before = last_stats(k)
                    rps = load(lab, [t1, t2], seconds, connections)
                    time.sleep(1.0)
                    after = last_stats(k)
                    with_keeper.append(rps)
                    dt = max(1e-3, after["t"] - before["t"])
                    commits.append((after["commits"] - before["commits"]) / dt)
                finally:
                    k.terminate()
                    time.sleep(1.5)                   # its shutdown heartbeat is seen by both nodes
    finally:
        tc.stop()
    ratios = [w / o for w, o in zip(with_keeper, without)]
    return {"options": options + ("" if synchronous == "FULL" else f" {synchronous}"),
            "without_keeper_rps": spread(without), "with_keeper_rps": spread(with_keeper),
            "ratio_with_over_without": spread(ratios), "keeper_commits_per_s": spread(commits)}


def state_transfer(lab: Lab, sessions: int, rounds: int, store_dir: str, heap: str) -> dict[str, Any]:
    tc = TomcatCluster(lab, "10", heap=heap, channel_send_options="8", host_prefix="s", index_base=10)
    store = os.path.join(store_dir, "state.db")
    keeper_host = lab.hosts.get("keep2") or lab.add_host("keep2", index=61)
    res: dict[str, Any] = {"sessions": sessions}
    k: KeeperProcess | None = None
    try:
        t1 = tc.add_node(timeout=1800)
        k = KeeperProcess(keeper_host, store, ["--stats-interval", "1"])
        time.sleep(3)
        assert k.proc.pid
        rss0 = rss_kib(k.proc.pid)
        heap0 = heap_used_kib(t1)
        status, body = t1.get_json("/create", {"n": sessions, "prefix": "bench-session-", "sync": "0"},
                                   timeout=3600)
        assert status == 200, body
        heap1 = heap_used_kib(t1)
        wait_until(lambda: len(stored_ids(store)) >= sessions, 1800, "the keeper persisted every session", 1.0)
        time.sleep(2)
        rss1 = rss_kib(k.proc.pid)
        res["disk_bytes_per_session"] = sum(os.path.getsize(store + s) for s in ("", "-wal")
                                            if os.path.exists(store + s)) / sessions
        res["keeper_rss_bytes_per_session"] = (rss1 - rss0) * 1024 / sessions
        res["tomcat_heap_bytes_per_session"] = (heap1 - heap0) * 1024 / sessions
        t1.stop()                                        # the keeper alone holds the sessions
        load_s: list[float] = []
        from_keeper: list[float] = []
        tomcat_to_tomcat: list[float] = []
        for r in range(rounds):
            # keeper (oldest, alone) -> a new Tomcat node
            ta = tc.add_node(timeout=1800)
            ms = transfer_ms(ta, timeout=600)
            assert ms is not None and ta.sessions(limit=1)["count"] >= sessions
            from_keeper.append(float(ms))
            # restart the keeper: load from the store (it is now younger than ta, which serves it)
            k.terminate()
            k = KeeperProcess(keeper_host, store, ["--stats-interval", "1"], ready_timeout=1800)
            load_s.append(float(k.ready["load_s"]) * 1000)
            # Tomcat (oldest: ta) -> a new Tomcat node
            tb = tc.add_node(timeout=1800)
            ms = transfer_ms(tb, timeout=600)
            assert ms is not None
            tomcat_to_tomcat.append(float(ms))
            ta.stop()
            tb.stop()                                    # the keeper is alone (and oldest) again
            time.sleep(2)
        res["load_from_store_ms"] = spread(load_s)
        res["keeper_to_tomcat_ms"] = spread(from_keeper)
        res["tomcat_to_tomcat_ms"] = spread(tomcat_to_tomcat)
        res["ratio_keeper_over_tomcat"] = spread([a / b for a, b in zip(from_keeper, tomcat_to_tomcat)])
    finally:
        if k is not None:
            k.terminate()
        tc.stop()
    res["memory_ratio_keeper_over_tomcat"] = (res["keeper_rss_bytes_per_session"] / res["tomcat_heap_bytes_per_session"]
                                              if res.get("tomcat_heap_bytes_per_session") else None)
    return res


def duplicate_login(lab: Lab, rounds: int, store_dir: str, heap: str) -> dict[str, Any]:
    """Time from a second login of the same user (on the other node) to the first client's next request
    meeting the login page, with --max-sessions-per-user 1 (newest-wins). Polled every 20 ms."""
    from interop.tomcat.node import Browser
    tc = TomcatCluster(lab, "10", heap=heap, channel_send_options="6", host_prefix="d", index_base=120)
    k: KeeperProcess | None = None
    samples: list[float] = []
    try:
        t1, t2 = tc.add_node(), tc.add_node()
        tc.wait_membership(timeout=60)
        k = KeeperProcess(lab.hosts.get("keep3") or lab.add_host("keep3", index=62),
                          os.path.join(store_dir, "logins.db"), ["--max-sessions-per-user", "1"])
        for _ in range(rounds):
            first, second = Browser(lab), Browser(lab)
            first.login(t1)
            time.sleep(0.5)
            second.login(t2)
            t0 = time.monotonic()
            while "tribeslab-login-page" not in first.get(t1, "/app/secure/whoami").body:
                if time.monotonic() - t0 > 30:
                    raise RuntimeError("the duplicate login was not acted upon within 30 s")
                time.sleep(0.02)
            samples.append((time.monotonic() - t0) * 1000)
            for b in (first, second):
                b.get(t1, "/app/invalidate")
    finally:
        if k is not None:
            k.terminate()
        tc.stop()
    return {"logout_after_second_login_ms": spread(samples)}


def fmt(s: dict[str, float], nd: int = 1) -> str:
    return f"{s['median']:.{nd}f} [{s['min']:.{nd}f}..{s['max']:.{nd}f}]"


def table(r: dict[str, Any]) -> str:
    out = ["durable updates (two Tomcat nodes under HTTP load; median [min..max] over rounds)",
           f"{'options':<8} {'req/s without keeper':>26} {'req/s with keeper':>26} {'with/without':>22} "
           f"{'keeper commits/s':>22}"]
    for t in r["throughput"]:
        out.append(f"{t['options']:<8} {fmt(t['without_keeper_rps']):>26} {fmt(t['with_keeper_rps']):>26} "
                   f"{fmt(t['ratio_with_over_without'], 2):>22} {fmt(t['keeper_commits_per_s']):>22}")
    st = r["state"]
    out += ["", f"state transfer of {st['sessions']} sessions (ms; median [min..max])",
            f"  load from the store          {fmt(st['load_from_store_ms'], 0)}",
            f"  keeper -> joining Tomcat     {fmt(st['keeper_to_tomcat_ms'], 0)}",
            f"  Tomcat -> joining Tomcat     {fmt(st['tomcat_to_tomcat_ms'], 0)}",
            f"  keeper / Tomcat              {fmt(st['ratio_keeper_over_tomcat'], 2)}",
            "", "per session (bytes)",
            f"  disk (store + WAL)           {st['disk_bytes_per_session']:.0f}",
            f"  keeper RSS                   {st['keeper_rss_bytes_per_session']:.0f}",
            f"  Tomcat heap after full GC    {st['tomcat_heap_bytes_per_session']:.0f}",
            f"  keeper / Tomcat              {st['memory_ratio_keeper_over_tomcat']:.2f}"]
    if r.get("logins"):
        out += ["", "duplicate login (newest-wins): first client logged out after the second login (ms)",
                f"  {fmt(r['logins']['logout_after_second_login_ms'], 0)}"]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=6.0, help="length of one load round")
    ap.add_argument("--connections", type=int, default=8, help="virtual users per Tomcat node")
    ap.add_argument("--heap", default="512m", help="Tomcat -Xmx (about 2g for 100,000 sessions)")
    ap.add_argument("--synchronous", nargs="+", default=["FULL", "NORMAL"], choices=["FULL", "NORMAL"],
                    help="the keeper's SQLite synchronous settings to measure with options 6 (8 always FULL)")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-state", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    store_dir = tempfile.mkdtemp(prefix="tribes-bench-keeper-")
    r: dict[str, Any] = {"throughput": [], "state": None}
    with Lab("kpb", "10.77.15") as lab:
        if not a.skip_throughput:
            for options, sync in (("6", "FULL"), ("6", "NORMAL"), ("8", "FULL")):
                if sync in a.synchronous:
                    r["throughput"].append(throughput(lab, options, a.rounds, a.seconds, a.connections, store_dir,
                                                      a.heap, sync))
        if not a.skip_state:
            r["state"] = state_transfer(lab, a.sessions, a.rounds, store_dir, a.heap)
        r["logins"] = duplicate_login(lab, a.rounds, store_dir, a.heap)
    if a.json:
        print(json.dumps(r))
    else:
        if r["state"] is None:
            r["state"] = {}
        try:
            print(table(r))
        except KeyError:
            print(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
