#!/usr/bin/env python3
"""Per-message encode time of a SessionMessageImpl stream on the cluster's send path.

  general   ``dumps(msg.to_java())``: the Java object graph, then the general writer (the send path
            before the template: GroupChannel serialized the JavaObject)
  template  ``tribes.managers.session_template.encode_template(msg)``: the precomputed descriptor
            bytes + the per-message values (the send path now, handed over as a SerializedMessage)

Both outputs are checked byte-identical before timing. Messages: SESSION-ACCESSED (no payload), a
SESSION-DELTA with a one-attribute DeltaRequest, a SESSION-DELTA with a 4 KiB payload and an
ALL-SESSION-DATA with a 64 KiB payload. Rounds alternate general/template; each round times a batch of
calls; medians over ``--rounds`` (>= 5) with the min-max spread. No Java anchor in this one: the Java
side writes the same bytes with ObjectOutputStream.writeObject (bench/bench_javaser.py times Java's
ObjectOutputStream on session streams).

    python3 bench/bench_session_encode.py [--json] [--rounds 7] [--millis 200]   (TRIBES_PURE=1: pure writer)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tribes.javaser import _impl, dumps  # noqa: E402
from tribes.managers.delta_request import DeltaRequest  # noqa: E402
from tribes.managers.session_message import SessionMessage  # noqa: E402
from tribes.managers.session_template import encode_template  # noqa: E402


def messages() -> dict[str, SessionMessage]:
    delta = DeltaRequest("ABCDEF0123456789ABCDEF0123456789.py1")
    delta.set_attribute("cart", "3 items")
    sid = "ABCDEF0123456789ABCDEF0123456789.py1"
    return {
        "accessed": SessionMessage(3, "localhost#/app", sid, None, sid + "-1700000000000", 1700000000000),
        "delta": SessionMessage(13, "localhost#/app", sid, delta.serialize(), sid + "-1700000000001", 1700000000001),
        "delta 4 KiB": SessionMessage(13, "localhost#/app", sid, os.urandom(4096), sid + "-2", 1700000000002),
        "all-data 64 KiB": SessionMessage(12, "localhost#/app", "SESSION-STATE", os.urandom(65536),
                                          "SESSION-STATE-3", 1700000000003),
    }


def per_call_us(f: Callable[[], Any], millis: float) -> float:
    n = 1
    while True:  # batch size: about millis
        t0 = time.perf_counter()
        for _ in range(n):
            f()
        dt = time.perf_counter() - t0
        if dt * 1000 >= millis / 4:
            break
        n *= 2
    n = max(1, int(n * (millis / 1000) / max(dt, 1e-9)))
    t0 = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--rounds", type=int, default=7, help="alternating rounds (>= 5)")
    ap.add_argument("--millis", type=float, default=200.0, help="time per batch")
    a = ap.parse_args()
    rounds = max(5, a.rounds)
    rows: list[dict[str, Any]] = []
    for name, m in messages().items():
        want = dumps(m.to_java())
        got = encode_template(m)
        if got != want:
            raise SystemExit(f"{name}: template bytes differ from dumps(to_java()): not timed")
        g: list[float] = []
        t: list[float] = []
        for r in range(rounds):
            order = [("g", lambda: dumps(m.to_java())), ("t", lambda: encode_template(m))]
            if r % 2:
                order.reverse()
            for k, f in order:
                (g if k == "g" else t).append(per_call_us(f, a.millis))
            if not a.json:
                print(f"  {name}: round {r + 1}/{rounds}", file=sys.stderr)
        gm, tm = statistics.median(g), statistics.median(t)
        rows.append({"message": name, "bytes": len(want), "general_us": round(gm, 2),
                     "general_spread_us": [round(min(g), 2), round(max(g), 2)],
                     "template_us": round(tm, 2), "template_spread_us": [round(min(t), 2), round(max(t), 2)],
                     "speedup": round(gm / tm, 2)})
    out = {"bench": "session_encode", "javaser": str(_impl.IMPLEMENTATION), "rounds": rounds, "millis_per_batch": a.millis, "rows": rows,
           "note": "no Java anchor in this micro-benchmark (see bench/bench_javaser.py)"}
    if a.json:
        print(json.dumps(out))
        return
    print(f"{'message':<18}{'bytes':>8}{'general us':>12}{'(spread)':>18}{'template us':>13}{'(spread)':>18}"
          f"{'speedup':>9}")
    for r in rows:
        gs, ts = r["general_spread_us"], r["template_spread_us"]
        print(f"{r['message']:<18}{r['bytes']:>8}{r['general_us']:>12.2f}{f'{gs[0]:.1f}-{gs[1]:.1f}':>18}"
              f"{r['template_us']:>13.2f}{f'{ts[0]:.1f}-{ts[1]:.1f}':>18}{r['speedup']:>8.1f}x")
    print(f"javaser implementation: {_impl.IMPLEMENTATION} (TRIBES_PURE=1: the pure-Python writer)")
    print(f"medians over {rounds} alternating rounds; general = dumps(msg.to_java()), "
          "template = encode_template(msg); outputs byte-identical")


if __name__ == "__main__":
    main()
