"""Web benchmark (issue 13, must-show 5): a Flask app whose session is read and written on every
request, under gunicorn (4 sync workers), with three session stores, in one lab run:

- ``tribes``: tribes.web.flask sessions through the local ``tribes agent`` (a member of a real
  Tomcat 10.1 cluster: every request's change replicates to tomcat1 and tomcat2);
- ``redis``: Flask-Session 0.8 on Debian's redis-server (run by hand on the app host's 127.0.0.1
  inside the lab), the store Python users pick today -- the anchor;
- ``cookie``: the bare app with Flask's signed-cookie session (no store at all): the floor.

Plus the time from the end of a request to its change being readable on Tomcat: Python -> tomcat2
(a write through the tribes app) beside Tomcat -> Tomcat (a write on tomcat1, read on tomcat2);
both read with tomcat2's cookie-less /app/peek, polled on a keep-alive connection.

Load: interop/web/loadgen.py inside the lab (host ``ld``): N virtual users, each its own session,
a bounded loop (``--duration`` seconds or ``--count`` requests): requests/s and latency with the
workers saturated; then one user alone (``--serial-duration``): the per-request latency without
queueing, from which the session overhead (store minus cookie, p50) is taken. Rounds alternate the variants (the
order rotates each round); the table gives the median over rounds and the spread (min..max).

    sudo python3 bench/bench_web.py [--rounds 5] [--duration 5] [--connections 16] [--json]

Targets (issue 13): tribes throughput >= 1.0x Redis's; tribes - cookie <= 0.5 ms at p50;
Python -> Tomcat visibility no slower than Tomcat -> Tomcat.
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

from interop.lab import Host, Lab  # noqa: E402
from interop.tomcat.node import TomcatCluster  # noqa: E402
from interop.web import pyapp  # noqa: E402

SUBNET = "10.77.132"
PORTS = {"cookie": 8001, "redis": 8002, "tribes": 8003}


def progress(msg: str) -> None:
    print(f"[bench_web] {msg}", file=sys.stderr, flush=True)


def loadgen(host: Host, args: list[str], timeout: float) -> dict[str, Any]:
    res = host.run([sys.executable, "-m", "interop.web.loadgen", *args], timeout=timeout,
                   env={**os.environ, "PYTHONPATH": ROOT})
    if res.returncode != 0:
        raise RuntimeError(f"loadgen {args[0]} failed: {res.stderr.strip()[-800:]}")
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def top_own_time(path: str, n: int = 12) -> list[dict[str, Any]]:
    """The functions with the most own time in a cProfile output file."""
    import pstats
    st = pstats.Stats(path)
    stats: dict[Any, Any] = st.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values()) or 1.0
    rows = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:n]
    return [{"function": f"{fn[0].split('site-packages/')[-1].replace(ROOT + '/', '')}:{fn[1]}({fn[2]})",
             "own_share": round(v[2] / total, 3), "calls": v[1]} for fn, v in rows]


def profile(py: Host, agent: Any, variants: list[str], a: argparse.Namespace, tmp: str,
            cluster: TomcatCluster) -> dict[str, Any]:
    """Where a tribes request's time goes: each store's session work in-process (Flask test client,
    no HTTP), a cProfile of the worker side, then the agent restarted under cProfile for the same load."""
    progress("profile: in-process cost of the session work per request, per store")
    env = {**os.environ, "PYTHONPATH": ROOT, "TRIBES_AGENT_SOCKET": agent.socket, "TRIBES_CONTEXT": "/app"}
    res = py.run([sys.executable, "-m", "interop.web.benchprofile", "--requests", "1000",
                  "--kinds", ",".join(variants)], env=env, timeout=600)
    if res.returncode != 0:
        return {"error": res.stderr.strip()[-300:]}
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    progress("profile: the agent under cProfile (restarted), same in-process tribes load")
    agent.close()
    prof_path = os.path.join(tmp, "agent.prof")
    agent2 = pyapp.PythonApp(py, agent.server_xml, port=PORTS["tribes"], workers=1,
                             app='interop.web.benchapp:create_app("tribes")',
                             agent_python_args=["-m", "cProfile", "-o", prof_path])
    try:
        agent2.start()
        agent2.wait_member_of(cluster.nodes)
        env["TRIBES_AGENT_SOCKET"] = agent2.socket
        res = py.run([sys.executable, "-m", "interop.web.benchprofile", "--requests", "1000", "--kinds", "tribes"],
                     env=env, timeout=600)
    finally:
        agent2.close()
    if os.path.exists(prof_path):
        out["profile_agent"] = top_own_time(prof_path)
    else:
        out["profile_agent_error"] = "the agent wrote no profile"
    return out


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}


def run(a: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"bench": "web", "rounds": a.rounds, "duration_s": a.duration,
                           "connections": a.connections, "workers": a.workers, "variants": {},
                           "visibility": {}, "notes": []}
    variants = [v for v in a.variants.split(",") if v]
    why = pyapp.tribes_web_missing()
    tmp = tempfile.mkdtemp(prefix="tribes-bench-web-")
    with Lab("wlbench", SUBNET) as lab:
        cluster = TomcatCluster(lab, version="10")
        procs: list[tuple[Host, subprocess.Popen[Any]]] = []
        agent: Any = None
        try:
            progress("starting two Tomcat 10.1 nodes")
            cluster.start(2)
            t1, t2 = cluster.nodes
            py = lab.add_host("py", index=50)
            ld = lab.add_host("ld", index=60)
            if "tribes" in variants and why:
                out["notes"].append(f"tribes variant not run: {why}")
                variants.remove("tribes")
            if "redis" in variants:
                procs.append((py, pyapp.start_redis(py)))
            if "tribes" in variants:
                server_xml = os.path.join(t1.base, "conf", "server.xml")
                agent = pyapp.PythonApp(py, server_xml, port=PORTS["tribes"], workers=a.workers,
                                        app='interop.web.benchapp:create_app("tribes")')
                progress("starting `tribes agent` and the tribes app")
                agent.start()
                agent.wait_member_of(cluster.nodes)
            for v in variants:
                if v == "tribes":
                    continue
                progress(f"starting gunicorn ({a.workers} workers) for {v}")
                p = pyapp.start_gunicorn(py, f'interop.web.benchapp:create_app("{v}")', PORTS[v], a.workers,
                                         log_path=os.path.join(tmp, f"gunicorn-{v}.log"))
                procs.append((py, p))
            results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
            serial: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
            for r in range(a.rounds + 1):   # round 0: warm-up, not counted
                order = variants[r % len(variants):] + variants[:r % len(variants)]
                for v in order:
                    url = f"http://{py.address}:{PORTS[v]}/app/py/bench"
                    # throughput: `connections` users at once (the workers saturated)
                    cpu0 = proc_cpu_s(agent.agent.pid) if v == "tribes" and agent is not None and agent.agent else None
                    res = loadgen(ld, ["load", "--url", url, "--connections", str(a.connections),
                                       "--count", str(a.count), "--duration", str(a.duration if r else 2),
                                       "--warmup", "0.5"], timeout=a.duration + 120)
                    if cpu0 is not None and res["requests"]:
                        res["agent_cpu_ms_per_request"] = round(
                            (proc_cpu_s(agent.agent.pid) - cpu0) * 1000 / res["requests"], 3)
                    # latency: one user, one request at a time (service time, no queueing)
                    one = loadgen(ld, ["load", "--url", url, "--connections", "1", "--count", str(a.count),
                                       "--duration", str(a.serial_duration if r else 1), "--warmup", "0.3"],
                                  timeout=a.serial_duration + 120)
                    if v == "tribes" and agent is not None and agent.agent is not None and agent.agent.poll() is not None:
                        raise RuntimeError(f"tribes agent exited with {agent.agent.returncode} during the load "
                                           f"(logs kept in {agent.workdir}):\n{agent.log_tail()}")
                    if r:
                        results[v].append(res)
                        serial[v].append(one)
                    progress(f"round {r}{' (warm-up)' if not r else ''} {v}: {res['rps']} req/s with "
                             f"{a.connections} users (p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms); one user: "
                             f"p50 {one['p50_ms']} ms, p99 {one['p99_ms']} ms; errors {res['errors'] + one['errors']}")
            if "tribes" in results and results["tribes"] and "agent_cpu_ms_per_request" in results["tribes"][0]:
                out["agent_cpu_ms_per_request"] = spread([x["agent_cpu_ms_per_request"] for x in results["tribes"]])
            for v, rs in results.items():
                out["variants"][v] = {"rps": spread([x["rps"] for x in rs]),
                                      "p50_ms": spread([x["p50_ms"] for x in rs]),
                                      "p99_ms": spread([x["p99_ms"] for x in rs]),
                                      "serial_p50_ms": spread([x["p50_ms"] for x in serial[v]]),
                                      "serial_p99_ms": spread([x["p99_ms"] for x in serial[v]]),
                                      "errors": sum(x["errors"] for x in rs + serial[v]),
                                      "rounds": rs, "serial_rounds": serial[v]}
            # visibility: Tomcat -> Tomcat always; Python -> Tomcat with the tribes app
            paths = {"tomcat->tomcat": f"{t1.url}/app/set?name=v&value={{k}}"}
            if "tribes" in variants:
                paths["python->tomcat"] = f"http://{py.address}:{PORTS['tribes']}/app/py/bench?set={{k}}"
            vis: dict[str, list[dict[str, Any]]] = {k: [] for k in paths}
            names = list(paths)
            for r in range(a.rounds):
                for name in names[r % len(names):] + names[:r % len(names)]:
                    res = loadgen(ld, ["visibility", "--set-url", paths[name], "--peek-url",
                                       f"{t2.url}/app/peek?id={{sid}}", "--rounds", str(a.visibility_rounds)],
                                  timeout=600)
                    vis[name].append(res)
                    progress(f"visibility round {r + 1} {name}: p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms, "
                             f"misses {res['misses']}")
            for name, rs in vis.items():
                out["visibility"][name] = {"p50_ms": spread([x["p50_ms"] for x in rs]),
                                           "p99_ms": spread([x["p99_ms"] for x in rs]),
                                           "misses": sum(x["misses"] for x in rs), "rounds": rs}
            if "tribes" in variants and not a.no_profile and agent is not None:
                out["profile"] = profile(py, agent, variants, a, tmp, cluster)
        finally:
            if agent is not None:
                agent.close(keep_logs=agent.agent is not None and agent.agent.poll() not in (None, 0))
            for host, p in reversed(procs):
                host.kill(p)
            cluster.stop()
    v = out["variants"]
    ratios: dict[str, Any] = {}
    if "tribes" in v and "redis" in v:
        ratios["tribes_rps_over_redis"] = round(v["tribes"]["rps"]["median"] / v["redis"]["rps"]["median"], 3)
    # session overhead per request: one user at a time (no queueing), p50, minus the cookie app's
    if "tribes" in v and "cookie" in v:
        ratios["tribes_minus_cookie_p50_ms"] = round(
            v["tribes"]["serial_p50_ms"]["median"] - v["cookie"]["serial_p50_ms"]["median"], 3)
    if "redis" in v and "cookie" in v:
        ratios["redis_minus_cookie_p50_ms"] = round(
            v["redis"]["serial_p50_ms"]["median"] - v["cookie"]["serial_p50_ms"]["median"], 3)
        ratios["redis_rps_over_cookie"] = round(v["redis"]["rps"]["median"] / v["cookie"]["rps"]["median"], 3)
    vis_out = out["visibility"]
    if "python->tomcat" in vis_out:
        ratios["python_over_tomcat_visibility_p50"] = round(
            vis_out["python->tomcat"]["p50_ms"]["median"] / vis_out["tomcat->tomcat"]["p50_ms"]["median"], 3)
    out["ratios"] = ratios
    return out


def table(res: dict[str, Any]) -> str:
    lines = [f"bench_web: Flask app, session read+write per request, gunicorn {res['workers']} workers, "
             f"{res['connections']} users, {res['rounds']} alternating rounds x {res['duration_s']} s "
             f"(median [min..max])", ""]
    lines.append(f"{'store':<8} {'req/s':>26} {'p50 ms':>24} {'p99 ms':>24}   one user: {'p50 ms':>22} "
                 f"{'p99 ms':>24} {'errors':>7}")
    def fmt(s: dict[str, float]) -> str:
        return f"{s['median']:>8.2f} [{s['min']:.2f}..{s['max']:.2f}]"
    for name, v in res["variants"].items():
        lines.append(f"{name:<8} {fmt(v['rps']):>26} {fmt(v['p50_ms']):>24} {fmt(v['p99_ms']):>24}   "
                     f"          {fmt(v['serial_p50_ms']):>22} {fmt(v['serial_p99_ms']):>24} {v['errors']:>7}")
    lines.append("")
    lines.append("change visible on tomcat2 after the end of the writing request (ms):")
    for name, v in res["visibility"].items():
        lines.append(f"  {name:<16} p50 {fmt(v['p50_ms'])}   p99 {fmt(v['p99_ms'])}   misses {v['misses']}")
    lines.append("")
    if "agent_cpu_ms_per_request" in res:
        lines.append(f"  tribes agent CPU per request (saturated runs): {fmt(res['agent_cpu_ms_per_request'])} ms")
    prof = res.get("profile")
    if prof:
        lines.append("  in-process session work per request (Flask test client, no HTTP), us: " + ", ".join(
            f"{k} {v['median']:.0f} [{v['min']:.0f}..{v['max']:.0f}]" for k, v in prof["per_request_us"].items()))
        if "agent_ops_us" in prof:
            lines.append("  agent round trips (blocking client, us p50/p90): " + ", ".join(
                f"{op} {v['p50']:.0f}/{v['p90']:.0f}" for op, v in prof["agent_ops_us"].items()))
        lines.append("  worker side of a tribes request (own time share, calls per request): " + "; ".join(
            f"{p['function']} {p['own_share'] * 100:.0f}% x{p.get('calls_per_request', '?')}"
            for p in prof.get("profile_tribes", [])[:6]))
        lines.append("  agent (own time share): " + "; ".join(
            f"{p['function']} {p['own_share'] * 100:.0f}%" for p in prof.get("profile_agent", [])[:10]))
    for k, val in res["ratios"].items():
        lines.append(f"  {k} = {val}")
    for note in res["notes"]:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=float, default=5.0, help="measured seconds per load run")
    ap.add_argument("--count", type=int, default=200000, help="at most this many requests per load run")
    ap.add_argument("--serial-duration", type=float, default=3.0,
                    help="measured seconds of the one-user latency run per variant and round")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--visibility-rounds", type=int, default=40, help="writes per visibility round")
    ap.add_argument("--variants", default="tribes,redis,cookie")
    ap.add_argument("--no-profile", action="store_true", help="skip the in-process profile of the stores")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_web needs root (network-namespace lab)", file=sys.stderr)
        return 2
    res = run(a)
    print(json.dumps(res) if a.json else table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
