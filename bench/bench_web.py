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
a bounded loop (``--duration`` seconds or ``--count`` requests). Rounds alternate the variants (the
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
            for r in range(a.rounds + 1):   # round 0: warm-up, not counted
                order = variants[r % len(variants):] + variants[:r % len(variants)]
                for v in order:
                    url = f"http://{py.address}:{PORTS[v]}/app/py/bench"
                    res = loadgen(ld, ["load", "--url", url, "--connections", str(a.connections),
                                       "--count", str(a.count), "--duration", str(a.duration if r else 2),
                                       "--warmup", "0.5"], timeout=a.duration + 120)
                    if r:
                        results[v].append(res)
                    progress(f"round {r}{' (warm-up)' if not r else ''} {v}: {res['rps']} req/s, "
                             f"p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms, errors {res['errors']}")
            for v, rs in results.items():
                out["variants"][v] = {"rps": spread([x["rps"] for x in rs]),
                                      "p50_ms": spread([x["p50_ms"] for x in rs]),
                                      "p99_ms": spread([x["p99_ms"] for x in rs]),
                                      "errors": sum(x["errors"] for x in rs), "rounds": rs}
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
        finally:
            if agent is not None:
                agent.close()
            for host, p in reversed(procs):
                host.kill(p)
            cluster.stop()
    v = out["variants"]
    ratios: dict[str, Any] = {}
    if "tribes" in v and "redis" in v:
        ratios["tribes_rps_over_redis"] = round(v["tribes"]["rps"]["median"] / v["redis"]["rps"]["median"], 3)
    if "tribes" in v and "cookie" in v:
        ratios["tribes_minus_cookie_p50_ms"] = round(v["tribes"]["p50_ms"]["median"] - v["cookie"]["p50_ms"]["median"], 3)
    if "redis" in v and "cookie" in v:
        ratios["redis_minus_cookie_p50_ms"] = round(v["redis"]["p50_ms"]["median"] - v["cookie"]["p50_ms"]["median"], 3)
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
    lines.append(f"{'store':<8} {'req/s':>26} {'p50 ms':>24} {'p99 ms':>24} {'errors':>7}")
    def fmt(s: dict[str, float]) -> str:
        return f"{s['median']:>8.2f} [{s['min']:.2f}..{s['max']:.2f}]"
    for name, v in res["variants"].items():
        lines.append(f"{name:<8} {fmt(v['rps']):>26} {fmt(v['p50_ms']):>24} {fmt(v['p99_ms']):>24} {v['errors']:>7}")
    lines.append("")
    lines.append("change visible on tomcat2 after the end of the writing request (ms):")
    for name, v in res["visibility"].items():
        lines.append(f"  {name:<16} p50 {fmt(v['p50_ms'])}   p99 {fmt(v['p99_ms'])}   misses {v['misses']}")
    lines.append("")
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
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--visibility-rounds", type=int, default=40, help="writes per visibility round")
    ap.add_argument("--variants", default="tribes,redis,cookie")
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
