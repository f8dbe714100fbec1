#!/usr/bin/env python3
"""Java serialization codec speed on real DeltaManager session-state streams (~1, 10, 100 KiB).

The streams are made in the same run by real Tomcat (DeltaManager.serializeSessions of DeltaSessions
with typical attributes: strings, Integer/Long, ArrayList, HashMap with a Date, a custom object,
byte[], a GenericPrincipal), by interop/java/src/JavaSerVectors.java (``sessions`` mode).

  decode  ours: ``ObjectInputStream`` reading the stream as DeltaSession.doReadObject does
                (read_object / read_boolean per the layout), with the cyclic GC held off for the
                whole stream (``gc_paused()``), i.e. what DeltaManager does
                (tribes.managers.session_state.read_sessions); ``gc on``: the same reads with
                the collector running (every object survives, so it only re-scans them);
          generic: ``loads_all`` (every top-level item kept exactly, for byte-exact re-encoding,
                GC held off as tribes.javaser.loads_all does);
          java: java.io.ObjectInputStream, same layout reads (JavaSerVectors ``bench``)
  encode  ours: ``ObjectOutputStream`` writing the decoded values back (write_object /
                write_boolean), checked byte-identical; java: java.io.ObjectOutputStream writing the
                Java objects it read, same calls

Java is timed as the median of 20 ms batches after a warm-up (JIT compiled), in ``--java-runs``
separate JVMs (best run kept: the machine is shared and Java's figures swing widely); ours as the
best of several runs, for each implementation (``cython``: the typed compile of reader.py /
writer.py, what ``tribes.javaser`` uses when built; ``pure``: the same modules as plain Python,
what ``TRIBES_PURE=1`` or a missing extension gives). ``ratio`` = our time / Java's time (1.0 = as
fast as Java; the target is <= 2).

    python3 bench/bench_javaser.py [--json] [--millis 1000] [--tomcat 10] [--no-java] [--impl both|cython|pure]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tribes.javaser import (  # noqa: E402
    JavaInteger,
    WriteAbortedError,
    gc_paused,
)
from tribes.javaser import _impl  # noqa: E402
from tribes.javaser import reader as pure_reader  # noqa: E402
from tribes.javaser import writer as pure_writer  # noqa: E402

try:
    from tribes.javaser import _creader, _cwriter  # type: ignore[attr-defined]  # noqa: E402
except ImportError:  # extension not built
    _creader = _cwriter = None

#: the module-level classes the timed functions use (switched per implementation)
ObjectInputStream: Any = _impl.ObjectInputStream
ObjectOutputStream: Any = _impl.ObjectOutputStream


def use(impl: str) -> None:
    global ObjectInputStream, ObjectOutputStream
    if impl == "cython":
        if _creader is None or _cwriter is None:
            raise RuntimeError("the javaser Cython extension is not built (pip install -e .)")
        ObjectInputStream, ObjectOutputStream = _creader.ObjectInputStream, _cwriter.ObjectOutputStream
    else:
        ObjectInputStream, ObjectOutputStream = pure_reader.ObjectInputStream, pure_writer.ObjectOutputStream


def loads_all(data: bytes) -> list[Any]:
    ois = ObjectInputStream(data)
    items = []
    with gc_paused():
        while not ois.at_eof():
            items.append(ois.read_content())
    return items


def dumps_all(items: list[Any]) -> bytes:
    oos = ObjectOutputStream()
    for it in items:
        oos.write_content(it)
    return oos.getvalue()

FILES = ["sessions_1k.ser", "sessions_10k.ser", "sessions_100k.ser"]


class _Prim:
    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value


def read_sessions(data: bytes) -> list[Any]:
    """DeltaSession.doReadObject's reads (all versions); returns the values in order."""
    ois = ObjectInputStream(data)
    out: list[Any] = []
    rd = ois.read_object
    count = rd()
    out.append(count)
    for _ in range(int(count)):
        for _k in range(7):
            out.append(rd())
        has_principal = ois.read_boolean()
        out.append(_Prim(has_principal))
        if has_principal:
            out.append(rd())
        out.append(rd())  # id
        nxt = rd()
        out.append(nxt)
        if not isinstance(nxt, JavaInteger):  # notes (always in 10.1+)
            out.append(rd())
            nxt = rd()
            out.append(nxt)
        for _i in range(int(nxt)):
            out.append(rd())
            try:
                out.append(rd())
            except WriteAbortedError:
                out.append(None)
        m = rd()
        out.append(m)
        for _i in range(int(m)):
            out.append(rd())
    return out


def read_sessions_paused(data: bytes) -> list[Any]:
    """read_sessions as DeltaManager runs it: the cyclic GC held off for the whole stream."""
    with gc_paused():
        return read_sessions(data)


def write_sessions(values: list[Any]) -> bytes:
    oos = ObjectOutputStream()
    wo = oos.write_object
    for v in values:
        if type(v) is _Prim:
            oos.write_boolean(v.value)
        else:
            wo(v)
    return oos.getvalue()


def best_of(fn: Callable[[], Any], min_runs: int = 5, min_seconds: float = 1.0) -> float:
    best = float("inf")
    runs = 0
    start = time.perf_counter()
    while runs < min_runs or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
        runs += 1
    return best


def java_cmd(version: str) -> list[str]:
    from interop import javatool

    why = javatool.missing_requirements(version)
    if why:
        raise RuntimeError(why)
    return ["java", "-Xmx256m", "-cp", javatool.build(version), "JavaSerVectors"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--millis", type=int, default=1000, help="Java warm-up and measuring time per figure")
    ap.add_argument("--tomcat", default="10", choices=["9", "10"], help="Tomcat version making the streams")
    ap.add_argument("--no-java", action="store_true", help="skip Java (uses streams from --dir)")
    ap.add_argument("--dir", default=None, help="where the session streams are (made there by Java)")
    ap.add_argument("--java-runs", type=int, default=3, help="separate Java runs; the best figures are kept")
    ap.add_argument("--impl", default="both", choices=["both", "cython", "pure"], help="our implementation(s) to time")
    args = ap.parse_args()

    if args.dir:
        return run(args, args.dir)
    with tempfile.TemporaryDirectory(prefix="bench_javaser_") as tmp:
        return run(args, tmp)


def run(args: argparse.Namespace, tmp: str) -> int:
    java: dict[str, dict[str, Any]] = {}
    if not args.no_java:
        cmd = java_cmd(args.tomcat)
        subprocess.run([*cmd, "sessions", tmp], check=True, capture_output=True, timeout=300)
        for _ in range(max(1, args.java_runs)):
            out = subprocess.run([*cmd, "bench", str(args.millis), *[os.path.join(tmp, f) for f in FILES]],
                                 check=True, capture_output=True, timeout=600)
            for line in out.stdout.decode().splitlines():
                rec = json.loads(line)
                best = java.setdefault(os.path.basename(rec["file"]), rec)
                best["decode_ns"] = min(best["decode_ns"], rec["decode_ns"])
                best["encode_ns"] = min(best["encode_ns"], rec["encode_ns"])
                best["identical"] = best["identical"] and rec["identical"]

    impls = ["cython", "pure"] if args.impl == "both" else [args.impl]
    if _creader is None and "cython" in impls:
        if args.impl == "cython":
            raise SystemExit("the javaser Cython extension is not built (pip install -e .)")
        impls.remove("cython")
    rows = []
    for impl, name in [(i, n) for i in impls for n in FILES]:
        use(impl)
        path = os.path.join(tmp, name)
        with open(path, "rb") as f:
            data = f.read()
        values = read_sessions(data)
        identical = write_sessions(values) == data
        items = loads_all(data)
        generic_identical = dumps_all(items) == data
        dec = best_of(lambda: read_sessions_paused(data))
        dec_gc = best_of(lambda: read_sessions(data))
        enc = best_of(lambda: write_sessions(values))
        gdec = best_of(lambda: loads_all(data))
        genc = best_of(lambda: dumps_all(items))
        row: dict[str, Any] = {
            "impl": impl,
            "stream": name,
            "bytes": len(data),
            "decode_mb_s": len(data) / dec / 1e6,
            "decode_gc_on_mb_s": len(data) / dec_gc / 1e6,
            "encode_mb_s": len(data) / enc / 1e6,
            "generic_decode_mb_s": len(data) / gdec / 1e6,
            "generic_encode_mb_s": len(data) / genc / 1e6,
            "identical": identical and generic_identical,
        }
        j = java.get(name)
        if j:
            row["java_decode_mb_s"] = len(data) / (j["decode_ns"] / 1e9) / 1e6
            row["java_encode_mb_s"] = len(data) / (j["encode_ns"] / 1e9) / 1e6
            row["decode_ratio"] = dec / (j["decode_ns"] / 1e9)
            row["decode_gc_on_ratio"] = dec_gc / (j["decode_ns"] / 1e9)
            row["encode_ratio"] = enc / (j["encode_ns"] / 1e9)
            row["java_identical"] = j["identical"]
        rows.append(row)

    result = {"benchmark": "javaser", "implementation": _impl.IMPLEMENTATION, "tomcat": args.tomcat, "rows": rows}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"tribes.javaser (default: {_impl.IMPLEMENTATION}) vs java.io.ObjectInputStream/ObjectOutputStream, "
          f"Tomcat {args.tomcat} session streams")
    hdr = f"{'impl':<7}{'stream':<20}{'bytes':>8} {'dec MB/s':>9} {'java':>8} {'ratio':>6} {'gc on':>6}  {'enc MB/s':>9} {'java':>8} {'ratio':>6}  {'loads_all':>9} {'dumps_all':>9}  same"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['impl']:<7}{r['stream']:<20}{r['bytes']:>8} {r['decode_mb_s']:>9.2f} {r.get('java_decode_mb_s', float('nan')):>8.2f} "
              f"{r.get('decode_ratio', float('nan')):>6.1f} {r.get('decode_gc_on_ratio', float('nan')):>6.1f}  {r['encode_mb_s']:>9.2f} {r.get('java_encode_mb_s', float('nan')):>8.2f} "
              f"{r.get('encode_ratio', float('nan')):>6.1f}  {r['generic_decode_mb_s']:>9.2f} {r['generic_encode_mb_s']:>9.2f}  "
              f"{'yes' if r['identical'] else 'NO'}")
    print("ratio = our time / Java's time (x slower); target <= 2. gc on = decode ratio with the cyclic GC running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
