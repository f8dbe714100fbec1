"""In-process cost of one request's session work, per store (run inside the lab by bench/bench_web.py).

    TRIBES_AGENT_SOCKET=... BENCH_REDIS_URL=... python3 -m interop.web.benchprofile --requests 1000

For each store the bench app (interop/web/benchapp.py) is driven with Flask's test client (no HTTP
server, no gunicorn, no network to the client): the median microseconds per request over batches,
and a cProfile of the tribes store (the functions with the most own time). Prints one JSON object.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import time
from typing import Any


def per_request_us(client: Any, n: int, batches: int = 5) -> list[float]:
    out = []
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(n):
            r = client.get("/app/py/bench")
            if r.status_code != 200:
                raise RuntimeError(f"status {r.status_code}: {r.data[:200]!r}")
        out.append((time.perf_counter() - t0) / n * 1e6)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--kinds", default="cookie,redis,tribes")
    ap.add_argument("--top", type=int, default=15)
    a = ap.parse_args()
    from interop.web.benchapp import create_app
    res: dict[str, Any] = {"per_request_us": {}, "profile_tribes": []}
    for kind in a.kinds.split(","):
        app = create_app(kind)
        c = app.test_client()
        per_request_us(c, 100, 1)   # warm-up (connections, imports)
        us = per_request_us(c, a.requests // 5)
        res["per_request_us"][kind] = {"median": round(statistics.median(us), 1), "min": round(min(us), 1),
                                       "max": round(max(us), 1)}
        if kind == "tribes":
            prof = cProfile.Profile()
            prof.enable()
            per_request_us(c, a.requests // 5, 1)
            prof.disable()
            buf = io.StringIO()
            st = pstats.Stats(prof, stream=buf)
            total = sum(v[2] for v in st.stats.values())  # type: ignore[attr-defined]
            rows = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:a.top]  # type: ignore[attr-defined]
            res["profile_tribes"] = [
                {"function": f"{fn[0].split('site-packages/')[-1].split('/work/main/')[-1]}:{fn[1]}({fn[2]})",
                 "own_share": round(v[2] / total, 3), "calls_per_request": round(v[1] / (a.requests // 5), 2)}
                for fn, v in rows]
    if "tribes" in a.kinds.split(","):
        res["agent_ops_us"] = agent_ops(a.requests // 2)
    print(json.dumps(res))
    return 0


def agent_ops(n: int) -> dict[str, Any]:
    """Median microseconds of one agent round trip per op (blocking client): `status` (the IPC
    floor), `load` of a session, `commit` of one attribute (what the Flask adapter sends per request)."""
    import os

    from tribes.javaser import dumps
    from tribes.web.client import SessionClient
    c = SessionClient(os.environ.get("TRIBES_AGENT_SOCKET"))
    sid = c.call({"op": "commit", "ctx": "/app", "id": None, "set": {"n": dumps(0)}})["id"]
    times: dict[str, list[float]] = {"status": [], "load": [], "commit": []}
    for i in range(n):
        for op, msg in (("status", {"op": "status"}), ("load", {"op": "load", "ctx": "/app", "id": sid}),
                        ("commit", {"op": "commit", "ctx": "/app", "id": sid, "set": {"n": dumps(i)}})):
            t0 = time.perf_counter()
            ans = c.call(msg)
            times[op].append((time.perf_counter() - t0) * 1e6)
            if not ans.get("ok", True):
                raise RuntimeError(f"{op}: {ans}")
    c.close()
    try:   # the anchor: Redis round trips of the same shape (what Flask-Session does per request)
        import redis
        r = redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
        r.ping()
        value = b"x" * 120
        times.update({"redis ping": [], "redis get": [], "redis set": []})
        for i in range(n):
            for op, fn in (("redis ping", r.ping), ("redis get", lambda: r.get("bench:s")),
                           ("redis set", lambda: r.set("bench:s", value, ex=1800))):
                t0 = time.perf_counter()
                fn()
                times[op].append((time.perf_counter() - t0) * 1e6)
    except Exception:  # noqa: BLE001 - no Redis in this run: the agent's numbers alone
        pass
    return {op: {"p50": round(statistics.median(v), 1), "p90": round(sorted(v)[int(len(v) * 0.9)], 1)}
            for op, v in times.items() if v}


if __name__ == "__main__":
    sys.exit(main())
