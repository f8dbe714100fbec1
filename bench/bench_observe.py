"""Cost of the metrics and the dashboard (issue 18), beside Tomcat itself, in one lab run (lab ``obp``).

Tomcat 10.1 node t1 (channelSendOptions 6: every request's SESSION_DELTA waits for the Python node's
ACK, so the request latency includes the Python node's replication work) and a Python node
(``tribes join --config`` as a quiet process, the same code path as the command). Paced HTTP load at
``--rate`` requests/s (one attribute set per request, 16 keep-alive users, one session each), from
the hub namespace. Alternating rounds (ABBA order) of two variants:

* ``plain``: the Python node without observation;
* ``observed``: ``--metrics`` and ``--http`` on, /metrics scraped every second (as Prometheus would),
  ``--clients`` (20) live-update clients connected to /api/events and reading.

Per round: the Python node's CPU (utime+stime from /proc over the load window, % of one core), the
Tomcat JVM's CPU over the same window (the anchor: the Java node doing the same cluster's work), the
achieved request rate and the request latency p50/p99 (ms). Reported: medians with spread, the
CPU overhead ratio observed/plain, the latency ratio observed/plain (20 live clients must not slow
replication) and Python CPU / Tomcat CPU for each variant. With ``--detect`` (default 3 rounds), a
second Tomcat node is killed with -9 while one live client listens: the time until its "failed"
event reaches the client, beside the time until Tomcat t1 logs the member gone (Tomcat's own
detection), each in alternating rounds.

    sudo python3 bench/bench_observe.py [--rounds 5] [--rate 1000] [--seconds 10] [--clients 20] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from interop.lab import REPO_ROOT, Host, Lab  # noqa: E402
from interop.tomcat.node import TomcatCluster, TomcatNode, http_request  # noqa: E402
from tests.interop.observe_lab import HTTP_PORT, METRICS_PORT, WALKTHROUGH_XML  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")

NODE = r"""
import asyncio, logging, sys
from tribes.cli.common import NetworkOptions
from tribes.cli.liveview import run_join
from tribes.cli.observe import ObserveOptions
addr, observe, xml = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
logging.basicConfig(level=logging.WARNING)
obs = ObserveOptions(metrics=(addr, %d), http=(addr, %d)) if observe else None
net = NetworkOptions(bind=addr, mcast_address="228.0.0.4", mcast_port=45564, receiver_port=4000, domain="",
                     duration=None)
sys.exit(asyncio.run(run_join(net, as_json=False, live=False, config_path=xml, jvm_route="py1", contexts=("/app",),
                              explicit={"bind"}, sessions=True, observe=obs, quiet=True)))
""" % (METRICS_PORT, HTTP_PORT)

LOAD = r"""
import asyncio, json, sys, time
sys.path.insert(0, sys.argv[5])
from interop.web.loadgen import Conn, pct
url, rate, seconds, users = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
lat, errors = [], 0
async def user(i, start):
    global errors
    c = Conn(url)
    target = url.split("/", 3)[3]
    period = users / rate
    k = 0
    while True:
        due = start + k * period + i * period / users
        now = time.monotonic()
        if due > start + seconds:
            break
        if due > now:
            await asyncio.sleep(due - now)
        t0 = time.monotonic()
        try:
            st, _ = await c.get("/" + target + str(k))
            if st != 200:
                errors += 1
        except Exception:
            errors += 1
            await c.close()
        lat.append((time.monotonic() - t0) * 1000)
        k += 1
    await c.close()
async def main():
    start = time.monotonic() + 0.2
    await asyncio.gather(*(user(i, start) for i in range(users)))
    el = time.monotonic() - start
    print(json.dumps({"requests": len(lat), "seconds": el, "rate": len(lat) / el, "errors": errors,
                      "p50": pct(lat, 50), "p99": pct(lat, 99)}))
asyncio.run(main())
"""


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])        # utime + stime (fields 14 and 15)


def rx_bytes(pid: int) -> int:
    """Bytes received on the (non-loopback) interfaces of the process' network namespace: the Python
    node is alone in its lab host, so this is what reached it."""
    total = 0
    with open(f"/proc/{pid}/net/dev") as f:
        for line in f.readlines()[2:]:
            name, _, rest = line.partition(":")
            if name.strip() != "lo":
                total += int(rest.split()[0])
    return total


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


class PyNode:
    def __init__(self, host: Host, observe: bool) -> None:
        self.host = host
        self.proc = host.python(["-c", NODE, host.address, "1" if observe else "0", WALKTHROUGH_XML],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def wait_member(t: TomcatNode, address: str, present: bool = True, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (address in t.members_from_log()) != present:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{t}: member {address} {'not added' if present else 'not gone'} after {timeout} s")
        time.sleep(0.2)


def wait_http(lab: Lab, url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while http_request(lab, "GET", url, timeout=5).status != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} does not answer after {timeout} s")
        time.sleep(0.2)


def run_load(lab: Lab, t: TomcatNode, rate: float, seconds: float, users: int = 16) -> dict[str, Any]:
    res = lab.hub_run([sys.executable, "-c", LOAD, f"{t.url}/app/set?name=load&value=", str(rate), str(seconds),
                       str(users), REPO_ROOT], timeout=seconds + 120)
    if res.returncode != 0:
        raise RuntimeError(f"load generator failed: {res.stderr[-1500:]}")
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def one_round(lab: Lab, t1: TomcatNode, host: Host, observe: bool, args: argparse.Namespace) -> dict[str, Any]:
    node = PyNode(host, observe)
    clients: list[subprocess.Popen[Any]] = []
    stop_scrape = threading.Event()
    scrapes = [0]
    try:
        wait_member(t1, host.address)
        if observe:
            base = f"http://{host.address}:{HTTP_PORT}"
            wait_http(lab, base + "/api/state")
            clients = [lab.hub_popen(["curl", "-s", "-N", "--max-time", str(args.seconds + 60), base + "/api/events",
                                      "-o", "/dev/null"]) for _ in range(args.clients)]

            def scraper() -> None:
                while not stop_scrape.wait(1.0):
                    if http_request(lab, "GET", f"http://{host.address}:{METRICS_PORT}/metrics").status == 200:
                        scrapes[0] += 1
            threading.Thread(target=scraper, daemon=True).start()
        run_load(lab, t1, args.rate, 2.0)                          # warm-up (JIT, connections, sessions)
        assert t1.proc is not None and node.proc.poll() is None
        c0, j0, w0, b0 = cpu_ticks(node.proc.pid), cpu_ticks(t1.proc.pid), time.monotonic(), rx_bytes(node.proc.pid)
        r = run_load(lab, t1, args.rate, args.seconds)
        c1, j1, w1, b1 = cpu_ticks(node.proc.pid), cpu_ticks(t1.proc.pid), time.monotonic(), rx_bytes(node.proc.pid)
        r["py_read_bytes"] = b1 - b0
        wall = w1 - w0
        r.update(py_cpu=100.0 * (c1 - c0) / CLK / wall, tomcat_cpu=100.0 * (j1 - j0) / CLK / wall,
                 py_us_per_req=1e6 * (c1 - c0) / CLK / max(r["requests"], 1),
                 tomcat_us_per_req=1e6 * (j1 - j0) / CLK / max(r["requests"], 1),
                 scrapes=scrapes[0], clients_alive=sum(1 for c in clients if c.poll() is None))
        return r
    finally:
        stop_scrape.set()
        for c in clients:
            if c.poll() is None:
                c.kill()
                c.wait(10)
        node.stop()
        wait_member(t1, host.address, present=False)


def detect_round(lab: Lab, tc: TomcatCluster, host: Host) -> dict[str, float]:
    """kill -9 of t2 while one live client listens: seconds until its failed event; Tomcat t1's own."""
    t1 = tc.nodes[0]
    t2 = tc.nodes[1]
    if not t2.is_running():
        t2.start()
    tc.wait_membership(timeout=60)
    node = PyNode(host, True)
    try:
        wait_member(t1, host.address)
        base = f"http://{host.address}:{HTTP_PORT}"
        wait_http(lab, base + "/api/state")
        sse = lab.hub_popen(["curl", "-s", "-N", "--max-time", "60", base + "/api/events"], stdout=subprocess.PIPE,
                            text=True, bufsize=1)
        got = threading.Event()
        seen_at = [0.0]
        want = f'"event":"failed","member":"{t2.address}:4000"'

        def read() -> None:
            assert sse.stdout is not None
            for line in sse.stdout:
                if want in line:
                    seen_at[0] = time.monotonic()
                    got.set()
                    return
        threading.Thread(target=read, daemon=True).start()
        time.sleep(1.0)
        log_before = len(t1.log_text())
        t0 = time.monotonic()
        t2.kill()
        tomcat_at = 0.0
        deadline = t0 + 60
        while time.monotonic() < deadline and not (got.is_set() and tomcat_at):
            if not tomcat_at and re.search(r"Received member disappeared",
                                           t1.log_text()[log_before:]):
                tomcat_at = time.monotonic()
            time.sleep(0.05)
        sse.kill()
        return {"python_s": (seen_at[0] - t0) if got.is_set() else float("nan"),
                "tomcat_s": (tomcat_at - t0) if tomcat_at else float("nan")}
    finally:
        node.stop()


def hook_cost(n: int = 200_000) -> dict[str, float]:
    """ns per received message through the observer's interceptor vs. a pass-through interceptor, and
    ns per synchronous send (in-process, no network): the hot-path cost of the hooks alone."""
    import asyncio

    from tribes.channel import ChannelInterceptor
    from tribes.io.channel_data import ChannelData
    from tribes.io.member import Member
    from tribes.metrics.observer import Observer

    m = Member(host=bytes([10, 0, 0, 2]), port=4000, unique_id=bytes(16))
    cd = ChannelData(8, int(time.time() * 1000), bytes(16), m, b"x" * 200)
    top = ChannelInterceptor()

    def per_msg(icp: ChannelInterceptor) -> float:
        icp.previous = top
        f = icp.message_received
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter_ns()
            for _ in range(n):
                f(cd)
            best = min(best, (time.perf_counter_ns() - t0) / n)
        return best
    plain = per_msg(ChannelInterceptor())
    observed = per_msg(Observer().interceptor)
    ack = ChannelData(2, int(time.time() * 1000), bytes(16), m, b"x" * 200)

    async def sends(icp: ChannelInterceptor, k: int) -> float:
        icp.next = ChannelInterceptor()
        t0 = time.perf_counter_ns()
        for _ in range(k):
            await icp.send_message([m], ack)
        return (time.perf_counter_ns() - t0) / k
    send_plain = min(asyncio.run(sends(ChannelInterceptor(), n // 4)) for _ in range(3))
    send_obs = min(asyncio.run(sends(Observer().interceptor, n // 4)) for _ in range(3))
    return {"rx_plain_ns": plain, "rx_observed_ns": observed, "rx_added_ns": observed - plain,
            "tx_plain_ns": send_plain, "tx_observed_ns": send_obs, "tx_added_ns": send_obs - send_plain}


def table(r: dict[str, Any]) -> str:
    v = r["variants"]
    lines = [f"bench_observe: {r['rate']:.0f} requests/s offered, {r['seconds']:.0f} s per round, {r['rounds']} "
             f"rounds per variant (ABBA), {r['clients']} live clients in 'observed'",
             f"{'variant':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'py CPU %':>10} {'Tomcat CPU %':>13} "
             f"{'py us/req':>10} {'Tomcat us/req':>14} {'py/Tomcat':>10}"]
    for name in ("plain", "observed"):
        x = v[name]
        lines.append(f"{name:<10} {x['rate']['median']:>8.0f} {x['p50']['median']:>8.2f} {x['p99']['median']:>8.2f} "
                     f"{x['py_cpu']['median']:>10.1f} {x['tomcat_cpu']['median']:>13.1f} "
                     f"{x['py_us_per_req']['median']:>10.1f} {x['tomcat_us_per_req']['median']:>14.1f} "
                     f"{x['py_per_tomcat']['median']:>10.2f}")
    o = r["overhead"]
    lines.append(f"Python CPU per request observed/plain: {o['cpu_per_req_ratio']['median']:.3f} (min "
                 f"{o['cpu_per_req_ratio']['min']:.3f}, max {o['cpu_per_req_ratio']['max']:.3f}; target < 1.05); "
                 f"CPU % observed/plain {o['cpu_ratio']['median']:.3f} (at the rates achieved)")
    lines.append(f"p50 latency observed/plain: "
                 f"{o['p50_ratio']['median']:.3f}   p99: {o['p99_ratio']['median']:.3f}   rate: "
                 f"{o['rate_ratio']['median']:.3f}")
    if r.get("repeated_rounds"):
        lines.append(f"rounds repeated because no replication reached the Python node: {len(r['repeated_rounds'])}")
    h = r["hooks"]
    lines.append(f"hooks in-process: +{h['rx_added_ns']:.0f} ns per received message ({h['rx_plain_ns']:.0f} -> "
                 f"{h['rx_observed_ns']:.0f}), +{h['tx_added_ns']:.0f} ns per synchronous send")
    d = r.get("detect")
    if d:
        lines.append(f"kill -9 -> 'failed' at a live client: {d['python_s']['median']:.2f} s (min "
                     f"{d['python_s']['min']:.2f}, max {d['python_s']['max']:.2f}); Tomcat t1 logs it gone: "
                     f"{d['tomcat_s']['median']:.2f} s; ratio {d['ratio']:.2f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--detect", type=int, default=3, help="kill -9 detection rounds (0: skip)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from interop.fixtures import missing
    why = missing(10, True)
    if why:
        sys.exit(f"bench_observe: {why}")
    hooks = hook_cost()
    rounds: dict[str, list[dict[str, Any]]] = {"plain": [], "observed": []}
    invalid: list[dict[str, Any]] = []
    detect: list[dict[str, float]] = []
    with Lab("obp", "10.77.15") as lab:
        tc = TomcatCluster(lab, "10", channel_send_options="6")
        try:
            t1 = tc.add_node()
            host = lab.add_host("py", index=50)
            for i in range(args.rounds):
                order = ("plain", "observed") if i % 2 == 0 else ("observed", "plain")
                for name in order:
                    for attempt in range(3):
                        r = one_round(lab, t1, host, name == "observed", args)
                        # every request replicates one DELTA to the Python node (hundreds of bytes); a
                        # round in which it read far less did not get the cluster's traffic: repeated
                        if r["py_read_bytes"] >= 100 * r["requests"]:
                            break
                        invalid.append({"variant": name, **r})
                        print(f"round {i + 1} {name}: the Python node received {r['py_read_bytes']} bytes for "
                              f"{r['requests']} requests (no replication reached it): repeated",
                              file=sys.stderr, flush=True)
                    rounds[name].append(r)
                    if not args.json:
                        print(f"round {i + 1} {name:<9} {r['rate']:.0f} req/s p50 {r['p50']:.2f} ms p99 "
                              f"{r['p99']:.2f} ms  py CPU {r['py_cpu']:.1f} %  Tomcat CPU {r['tomcat_cpu']:.1f} %"
                              f"  errors {r['errors']}", file=sys.stderr, flush=True)
            if args.detect:
                tc.add_node()
                for _ in range(args.detect):
                    detect.append(detect_round(lab, tc, host))
                    if not args.json:
                        print(f"detect: {detect[-1]}", file=sys.stderr, flush=True)
        finally:
            tc.stop()
    out: dict[str, Any] = {"rate": args.rate, "seconds": args.seconds, "rounds": args.rounds, "clients": args.clients,
                           "variants": {}, "raw": rounds, "hooks": hooks, "repeated_rounds": invalid}
    for name, rs in rounds.items():
        out["variants"][name] = {k: spread([x[k] for x in rs]) for k in ("rate", "p50", "p99", "py_cpu", "tomcat_cpu",
                                                                         "py_us_per_req", "tomcat_us_per_req")}
        out["variants"][name]["py_per_tomcat"] = spread([x["py_cpu"] / x["tomcat_cpu"] for x in rs if x["tomcat_cpu"]])
    pairs = list(zip(rounds["plain"], rounds["observed"]))
    out["overhead"] = {
        "cpu_ratio": spread([o["py_cpu"] / p["py_cpu"] for p, o in pairs if p["py_cpu"]]),
        "cpu_per_req_ratio": spread([o["py_us_per_req"] / p["py_us_per_req"] for p, o in pairs if p["py_us_per_req"]]),
        "p50_ratio": spread([o["p50"] / p["p50"] for p, o in pairs if p["p50"]]),
        "p99_ratio": spread([o["p99"] / p["p99"] for p, o in pairs if p["p99"]]),
        "rate_ratio": spread([o["rate"] / p["rate"] for p, o in pairs if p["rate"]]),
    }
    if detect:
        ok = [d for d in detect if d["python_s"] == d["python_s"] and d["tomcat_s"] == d["tomcat_s"]]
        if ok:
            py = spread([d["python_s"] for d in ok])
            tom = spread([d["tomcat_s"] for d in ok])
            out["detect"] = {"python_s": py, "tomcat_s": tom, "ratio": py["median"] / tom["median"], "raw": detect}
    print(json.dumps(out) if args.json else table(out))


if __name__ == "__main__":
    main()
