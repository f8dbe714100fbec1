"""Channel benchmark: Java->Java, Java->Python, Python->Java, Python->Python in one run.

For 1 KiB and 64 KiB byte messages, with ACK (options 3 = BYTE|USE_ACK: each send waits for the
receiver's ACK) and asynchronous (options 9 = BYTE|ASYNCHRONOUS, MessageDispatchInterceptor on the
sender): msgs/s and MB/s (ACK: as the sender sees it; async: from the sender's first measured send
to the receiver's last receive, one CLOCK_MONOTONIC for every namespace), and round-trip latency
p50/p99 (ping-pong with a peer that echoes every message with the same options). Ratios are to
Java->Java measured in the same run.

Every process runs in its own network namespace of one lab (veth pairs to a bridge), like real nodes.
Java: interop/java/src/ChannelBench.java (full JIT, -Xmx256m, SerialGC); Python:
tests/interop/channel_pypeer.py. Needs root and Java/Tomcat jars.

    sudo python3 bench/bench_channel.py [--version 10] [--quick] [--json] [--profile DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from interop.lab import Lab  # noqa: E402
from tests.interop.channel_support import start_bench, start_pypeer  # noqa: E402

STACK = "MessageDispatchInterceptor"
DIRECTIONS = ("java->java", "java->python", "python->java", "python->python")
CASES = [  # (size, options, label, count)
    (1024, 3, "1KiB ack", 20000),
    (1024, 9, "1KiB async", 50000),
    (65536, 3, "64KiB ack", 4000),
    (65536, 9, "64KiB async", 8000),
]
PING_COUNT = 2000
LINK_GBPS_NOTE = "iperf3 between two namespaces on this machine: about 2.4 GB/s"


def receiver_totals(peer: Any) -> dict[str, Any]:
    m = peer.mark()
    peer.command("totals")
    return peer.wait_for("totals", since=m, timeout=30)


def wait_received(peer: Any, target: int, timeout: float = 300) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while True:
        t = receiver_totals(peer)
        if t["messages"] >= target or time.monotonic() > end:
            return t
        time.sleep(0.2)


def java_cmd(peer: Any, event: str, count: int, size: int, options: int, timeout: float = 600) -> dict[str, Any]:
    m = peer.mark()
    peer.command(f"set {count} {size} {options}")
    peer.command("go")
    return peer.wait_for(event, since=m, timeout=timeout)


def py_cmd(peer: Any, verb: str, event: str, count: int, size: int, options: int, dest: str,
           timeout: float = 600) -> dict[str, Any]:
    m = peer.mark()
    peer.command(f"{verb} {count} {size} {options} {dest}")
    return peer.wait_for(event, since=m, timeout=timeout)


def run(version: int, quick: bool, profile_dir: str | None) -> dict[str, Any]:
    results: dict[str, dict[str, dict[str, float]]] = {}
    scale = 0.2 if quick else 1.0
    ping_count = int(PING_COUNT * scale) or 100
    with Lab("tn", "10.77.14") as lab:
        h = {n: lab.add_host(n, index=200 + i) for i, n in enumerate(("jr", "je", "pr", "pe", "jt", "jg", "ps"))}
        jr = start_bench(h["jr"], "recv", ["--interceptors", STACK], version=version)
        je = start_bench(h["je"], "recv", ["--interceptors", STACK, "--echo"], version=version)
        prof = ["--profile", os.path.join(profile_dir, "receiver.prof")] if profile_dir else []
        pr = start_pypeer(h["pr"], "member", ["--no-mcast", "--interceptors", STACK, "--quiet-messages", *prof])
        pe = start_pypeer(h["pe"], "echo", ["--no-mcast", "--interceptors", STACK, "--quiet-messages"])
        peers = [jr, je, pr, pe]
        receivers = {"java": (jr, f"{h['jr'].address}:{jr.ready['port']}"),
                     "python": (pr, f"{h['pr'].address}:{pr.ready['port']}")}
        echoers = {"java": f"{h['je'].address}:{je.ready['port']}",
                   "python": f"{h['pe'].address}:{pe.ready['port']}"}
        try:
            for direction in DIRECTIONS:
                src, dst = direction.split("->")
                rx, rx_addr = receivers[dst]
                echo_addr = echoers[dst]
                if src == "java":
                    tx = start_bench(h["jt"], "thru", ["--interceptors", STACK, "--to", rx_addr], version=version)
                    pinger = start_bench(h["jg"], "ping", ["--interceptors", STACK, "--to", echo_addr],
                                         version=version)
                else:
                    sprof = ["--profile", os.path.join(profile_dir, f"sender-{dst}.prof")] if profile_dir else []
                    tx = start_pypeer(h["ps"], "member", ["--no-mcast", "--interceptors", STACK, "--static", rx_addr,
                                                          "--static", echo_addr, *sprof])
                    pinger = tx
                res: dict[str, dict[str, float]] = {}
                try:
                    for size, options, label, count in CASES:
                        count = max(200, int(count * scale))
                        before = receiver_totals(rx)["messages"]
                        if src == "java":
                            done = java_cmd(tx, "thruDone", count, size, options)
                        else:
                            done = py_cmd(tx, "thru", "thruDone", count, size, options, rx_addr)
                        warm = min(2000, count)
                        totals = wait_received(rx, before + warm + count)
                        if options & 2:
                            secs = done["seconds"]
                        else:
                            secs = max(done["seconds"], (totals["lastRx_ns"] - done["t0_ns"]) / 1e9)
                        res[label] = {"msgs_per_s": count / secs, "mb_per_s": count * size / secs / 1e6}
                    for size, options, label, _ in CASES:
                        if src == "java":
                            p = java_cmd(pinger, "pingDone", ping_count, size, options)
                        else:
                            m = pinger.mark()
                            pinger.command(f"ping {ping_count} {size} {options} {echo_addr}")
                            p = pinger.wait_for("pingDone", since=m, timeout=600)
                        res[label]["p50_us"] = p["p50_us"]
                        res[label]["p99_us"] = p["p99_us"]
                finally:
                    tx.close()
                    if pinger is not tx:
                        pinger.close()
                results[direction] = res
        finally:
            for p in peers:
                p.close()
    return {"version": version, "quick": quick, "results": results, "note": LINK_GBPS_NOTE}


def ratios(data: dict[str, Any]) -> dict[str, Any]:
    base = data["results"]["java->java"]
    out: dict[str, Any] = {}
    for direction, res in data["results"].items():
        out[direction] = {}
        for label, m in res.items():
            b = base[label]
            out[direction][label] = {
                "msgs_per_s": m["msgs_per_s"] / b["msgs_per_s"],
                "p50": b["p50_us"] / m["p50_us"],  # >1 = faster (lower latency) than Java->Java
                "p99": b["p99_us"] / m["p99_us"],
            }
    return out


def table(data: dict[str, Any]) -> str:
    r = ratios(data)
    lines = [f"Tribes channel benchmark (Tomcat {data['version']} Java side; ratios to java->java in this run; "
             "latency ratio >1 = lower latency)",
             f"{'direction':<15}{'case':<13}{'msgs/s':>10}{'MB/s':>9}{'p50 us':>9}{'p99 us':>9}"
             f"{'x thru':>8}{'x p50':>7}{'x p99':>7}"]
    for direction, res in data["results"].items():
        for label, m in res.items():
            x = r[direction][label]
            lines.append(f"{direction:<15}{label:<13}{m['msgs_per_s']:>10.0f}{m['mb_per_s']:>9.1f}"
                         f"{m['p50_us']:>9.0f}{m['p99_us']:>9.0f}{x['msgs_per_s']:>8.2f}{x['p50']:>7.2f}{x['p99']:>7.2f}")
    lines.append(f"(physical limit: {data['note']})")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", type=int, default=10, choices=[9, 10])
    ap.add_argument("--quick", action="store_true", help="a fifth of the messages (smoke run)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--profile", metavar="DIR", help="cProfile the Python receiver and sender into DIR")
    args = ap.parse_args()
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
    data = run(args.version, args.quick, args.profile)
    data["ratios"] = ratios(data)
    if args.json:
        print(json.dumps(data, separators=(",", ":")))
    else:
        print(table(data))


if __name__ == "__main__":
    main()
