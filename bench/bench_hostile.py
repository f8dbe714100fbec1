"""ACK latency of a well-behaved Java sender while a hostile peer attacks the receiver, vs a quiet run.

Receivers side by side in one lab: the Python node (tests/interop/channel_pypeer.py, total receive
cap 64 MiB) and, as the anchor, Java Tribes itself (TribesPeer's NioReceiver, Tomcat 10.1 jars,
-Xmx256m). For each receiver: ``--rounds`` rounds (default 5) of a quiet run and each attack
(tests/interop/hostile_attacker.py: 1,100 idle connections, a peer that never reads its ACKs, 290
headers claiming 4 MiB, four endless 200 MiB frames; the endless frames last, since they can break a
Java receiver for good). The well-behaved sender (TribesPeer) sends one 1 KiB BYTE|USE_ACK message at a
time and reports each send's duration. Printed per receiver and attack: medians over rounds of p50,
p99 and max latency, the ratio of p50/p99 to the quiet run of the same round (median [min..max]), the
share of sends that failed, and the receiver's peak RSS.

    sudo python3 bench/bench_hostile.py [--rounds 5] [--seconds 5] [--no-java] [--json]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from interop.lab import Lab  # noqa: E402
from tests.interop.hostile_support import ATTACKS, close_bed, make_bed, run_attack, summary  # noqa: E402

CAP_MIB = 64


def run(rounds: int, seconds: float, kinds: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"rounds": rounds, "seconds": seconds, "cap_mib": CAP_MIB, "runs": []}
    with Lab("tphb", "10.77.63") as lab:
        bed = make_bed(lab, kinds, cap_mib=CAP_MIB)
        try:
            for rnd in range(rounds):
                for kind in kinds:
                    for attack in (None, *ATTACKS):
                        if attack == "endless" and kind == "java" and rnd < rounds - 1:
                            continue  # it may stop the Java receiver for good: only in the last round
                        print(f"round {rnd + 1}/{rounds}: {kind} {attack or 'quiet'}", file=sys.stderr, flush=True)
                        r = run_attack(bed, kind, attack, seconds)
                        r["round"] = rnd
                        out["runs"].append(r)
        finally:
            close_bed(bed)
    return out


def _spread(values: list[float]) -> dict[str, float]:
    v = [x for x in values if not math.isnan(x)]
    if not v:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan")}
    return {"median": statistics.median(v), "min": min(v), "max": max(v)}


def summarize(data: dict[str, Any]) -> dict[str, Any]:
    runs = data["runs"]
    res: dict[str, Any] = {}
    for kind in sorted({r["kind"] for r in runs}):
        res[kind] = {}
        quiet = {r["round"]: summary(r["latencies"]) for r in runs if r["kind"] == kind and r["attack"] == "quiet"}
        for attack in ("quiet", *ATTACKS):
            rs = [r for r in runs if r["kind"] == kind and r["attack"] == attack]
            if not rs:
                continue
            ss = [summary(r["latencies"]) for r in rs]
            sent = sum(len(r["latencies"]) + len(r["errors"]) for r in rs)
            failed = sum(len(r["errors"]) for r in rs)
            res[kind][attack] = {
                "p50_ms": _spread([s["p50_ms"] for s in ss]), "p99_ms": _spread([s["p99_ms"] for s in ss]),
                "max_ms": _spread([s["max_ms"] for s in ss]),
                "x_p50": _spread([s["p50_ms"] / quiet[r["round"]]["p50_ms"] for s, r in zip(ss, rs)
                                  if r["round"] in quiet]),
                "x_p99": _spread([s["p99_ms"] / quiet[r["round"]]["p99_ms"] for s, r in zip(ss, rs)
                                  if r["round"] in quiet]),
                "sends": sent, "failed": failed, "failed_share": failed / sent if sent else float("nan"),
                "recovered": all(r["after_ok"] for r in rs),
                "peak_rss_mib": max(r["peak_rss_mib"] for r in rs),
            }
    return res


def table(data: dict[str, Any], s: dict[str, Any]) -> str:
    lines = [f"Well-behaved Java sender's ACK latency (1 KiB, USE_ACK, one at a time) during attacks; "
             f"{data['rounds']} rounds of {data['seconds']:.0f} s; median [min..max] over rounds; "
             f"x = ratio to the quiet run of the same round (>1 = slower); Python cap {data['cap_mib']} MiB",
             f"{'receiver':<9}{'attack':<9}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}  {'x p50':<18}{'x p99':<18}"
             f"{'failed':>8}{'recovered':>10}{'RSS MiB':>9}"]
    for kind, rows in s.items():
        for attack, e in rows.items():
            def sp(x: dict[str, float]) -> str:
                return f"{x['median']:.2f} [{x['min']:.2f}..{x['max']:.2f}]"
            lines.append(f"{kind:<9}{attack:<9}{e['p50_ms']['median']:>8.1f}{e['p99_ms']['median']:>8.1f}"
                         f"{e['max_ms']['median']:>8.1f}  {sp(e['x_p50']):<18} {sp(e['x_p99']):<18} "
                         f"{e['failed']:>4}/{e['sends']:<4}{str(e['recovered']):>9}{e['peak_rss_mib']:>9.0f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--no-java", action="store_true", help="only the Python receiver (no Java anchor)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args()
    kinds = ("python",) if args.no_java else ("python", "java")
    data = run(max(1, args.rounds), args.seconds, kinds)
    data["summary"] = summarize(data)
    if args.json:
        for r in data["runs"]:
            r.pop("latencies", None)
        print(json.dumps(data, separators=(",", ":")))
    else:
        print(table(data, data["summary"]))


if __name__ == "__main__":
    main()
