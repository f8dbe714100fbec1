"""EncryptInterceptor benchmark: Java->Java, Java->Python and Python->Python with encryption on, in one run.

1 KiB and 64 KiB byte messages, with ACK (options 3 = BYTE|USE_ACK) and asynchronous (options 9 =
BYTE|ASYNCHRONOUS), every node running ``EncryptInterceptor,MessageDispatchInterceptor`` with the same
AES-128 key in the chosen Tomcat version's default (10: AES/GCM/NoPadding with timestamp and replay
window; 9: AES/CBC/PKCS5Padding). Throughput in msgs/s and MB/s (ACK: as the sender sees it; async:
from the sender's first measured send to the receiver's last receive).

``--rounds`` (default 5) alternating rounds: every direction once per round, the order rotating, so
Java->Java (the anchor) is measured under the same load as the others; each ratio is taken per round
and the table prints the median with its spread (min..max). Needs root, Java and the Tomcat jars;
every process runs in its own namespace of one lab (``ecbench``).

    sudo python3 bench/bench_encrypt.py [--version 10|9] [--rounds 5] [--quick] [--json] [--profile DIR]
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
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from interop.lab import Host, Lab  # noqa: E402
from tests.interop.channel_support import start_bench, start_pypeer  # noqa: E402

KEY = "00112233445566778899aabbccddeeff"
STACK = "EncryptInterceptor,MessageDispatchInterceptor"
DIRECTIONS = tuple(os.environ.get("TRIBES_BENCH_DIRECTIONS", "java->java,java->python,python->python").split(","))
CASES = [  # (size, options, label, count)
    (1024, 3, "1KiB ack", 6000),
    (1024, 9, "1KiB async", 12000),
    (65536, 3, "64KiB ack", 1500),
    (65536, 9, "64KiB async", 2000),
]
TARGET = 1.0


PLAIN = os.environ.get("TRIBES_BENCH_PLAIN") == "1"  # the same run without encryption (for the note)


# 10.1's replay window forgets nonces by count and then refuses anything not newer than the newest
# forgotten timestamp: beyond ~8192 messages per reordering delay (several dispatch threads reorder
# async sends) it drops legitimate messages, in Tomcat as in Python. The benchmark gives every
# receiver the same larger window (a documented setting), so no message is lost.
WINDOW = ["--iprop", "EncryptInterceptor.replayWindowMessageCount=1000000"]


def java_args(version: int) -> list[str]:
    if PLAIN:
        return ["--interceptors", "MessageDispatchInterceptor"]
    return ["--interceptors", STACK, "--iprop", f"EncryptInterceptor.encryptionKey={KEY}",
            *(WINDOW if version == 10 else [])]


def py_args(version: int) -> list[str]:
    if PLAIN:
        return ["--no-mcast", "--interceptors", "MessageDispatchInterceptor"]
    return ["--no-mcast", "--interceptors", STACK, "--iprop", f"EncryptInterceptor.encryptionKey={KEY}",
            "--iprop", f"EncryptInterceptor.tomcatVersion={'9.0' if version == 9 else '10.1'}",
            *(WINDOW if version == 10 else [])]


def totals(peer: Any) -> dict[str, Any]:
    m = peer.mark()
    peer.command("totals")
    return peer.wait_for("totals", since=m, timeout=60)


def wait_received(peer: Any, target: int, timeout: float = 120) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while True:
        t = totals(peer)
        if t["messages"] >= target or time.monotonic() > end:
            return t
        time.sleep(0.2)


def measure(h: dict[str, Host], direction: str, receivers: dict[str, Any], version: int, scale: float,
            profile_dir: str | None, rnd: int) -> dict[str, dict[str, float]]:
    src, dst = direction.split("->")
    rx, rx_addr = receivers[dst]
    if src == "java":
        tx = start_bench(h["jt"], "thru", java_args(version) + ["--to", rx_addr], version=version)
    else:
        prof = ["--profile", os.path.join(profile_dir, f"sender-r{rnd}.prof")] if profile_dir else []
        tx = start_pypeer(h["ps"], "member", py_args(version) + ["--static", rx_addr, *prof])
    res: dict[str, dict[str, float]] = {}
    try:
        for size, options, label, count in CASES:
            count = max(200, int(count * scale))
            before = totals(rx)["messages"]
            m = tx.mark()
            if src == "java":
                tx.command(f"set {count} {size} {options}")
                tx.command("go")
            else:
                tx.command(f"thru {count} {size} {options} {rx_addr}")
            done = tx.wait_for("thruDone", since=m, timeout=900)
            warm = min(2000, count)
            got = wait_received(rx, before + warm + count)
            if got["messages"] < before + warm + count:
                raise RuntimeError(f"{direction} {label}: only {got['messages'] - before} of {warm + count} messages "
                                   "arrived (see the receiver's log for refused messages)")
            secs = done["seconds"] if options & 2 else max(done["seconds"], (got["lastRx_ns"] - done["t0_ns"]) / 1e9)
            res[label] = {"msgs_per_s": count / secs, "mb_per_s": count * size / secs / 1e6}
    finally:
        tx.close()
    return res


def run(version: int, quick: bool, rounds: int, profile_dir: str | None) -> dict[str, Any]:
    scale = 0.2 if quick else 1.0
    per_round: list[dict[str, Any]] = []
    with Lab("ecbench", "10.77.142") as lab:
        h = {n: lab.add_host(n, index=10 + i) for i, n in enumerate(("jr", "pr", "jt", "ps"))}
        jr = start_bench(h["jr"], "recv", java_args(version), version=version)
        prof = ["--profile", os.path.join(profile_dir, "receiver.prof")] if profile_dir else []
        pr = start_pypeer(h["pr"], "member", py_args(version) + ["--quiet-messages", *prof])
        receivers = {"java": (jr, f"{h['jr'].address}:{jr.ready['port']}"),
                     "python": (pr, f"{h['pr'].address}:{pr.ready['port']}")}
        try:
            for rnd in range(rounds):
                order = DIRECTIONS[rnd % len(DIRECTIONS):] + DIRECTIONS[:rnd % len(DIRECTIONS)]
                this = {}
                for direction in order:
                    print(f"round {rnd + 1}/{rounds}: {direction}", file=sys.stderr, flush=True)
                    this[direction] = measure(h, direction, receivers, version, scale, profile_dir, rnd)
                per_round.append(this)
        finally:
            jr.close()
            pr.close()
    return {"version": version, "quick": quick, "algorithm": "AES/GCM/NoPadding" if version == 10
            else "AES/CBC/PKCS5Padding", "keyBits": 128, "rounds": per_round}


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for direction in DIRECTIONS:
        out[direction] = {}
        for _, _, label, _ in CASES:
            rows = [r[direction][label] for r in data["rounds"]]
            base = [r["java->java"][label] for r in data["rounds"]]
            e: dict[str, Any] = {k: _stats([row[k] for row in rows]) for k in ("msgs_per_s", "mb_per_s")}
            e["ratio"] = _stats([row["msgs_per_s"] / b["msgs_per_s"] for row, b in zip(rows, base)])
            if direction != "java->java":
                e["target"] = TARGET
                e["meets_target"] = e["ratio"]["median"] >= TARGET
            out[direction][label] = e
    return out


def table(data: dict[str, Any], s: dict[str, Any]) -> str:
    lines = [f"EncryptInterceptor benchmark: Tomcat {data['version']} format, {data['algorithm']} AES-{data['keyBits']}, "
             f"{len(data['rounds'])} alternating rounds; median [min..max]; ratio per round to java->java",
             f"{'direction':<16}{'case':<13}{'msgs/s':>9}{'MB/s':>8}  {'x java->java [spread]':<24}target"]
    for direction in DIRECTIONS:
        for _, _, label, _ in CASES:
            e = s[direction][label]
            r = e["ratio"]
            tgt = f">={e['target']:.1f} {'ok' if e['meets_target'] else 'MISSED'}" if "target" in e else ""
            lines.append(f"{direction:<16}{label:<13}{e['msgs_per_s']['median']:>9.0f}{e['mb_per_s']['median']:>8.1f}  "
                         f"{r['median']:.2f} [{r['min']:.2f}..{r['max']:.2f}]".ljust(24 + 48) + tgt)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", type=int, default=10, choices=[9, 10])
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds (>= 5 for a claim)")
    ap.add_argument("--quick", action="store_true", help="a fifth of the messages (smoke run)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--profile", metavar="DIR", help="cProfile the Python receiver and senders into DIR")
    args = ap.parse_args()
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
    data = run(args.version, args.quick, max(1, args.rounds), args.profile)
    data["summary"] = summarize(data)
    print(json.dumps(data, separators=(",", ":")) if args.json else table(data, data["summary"]))


if __name__ == "__main__":
    main()
