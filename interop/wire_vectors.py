"""Golden wire vectors made by Tomcat's own classes (interop/java/src/WireVectors.java).

    python3 interop/wire_vectors.py            # regenerate tests/vectors/wire/tomcat-{10.1,9.0}.json
    python3 interop/wire_vectors.py --check    # regenerate in memory and compare with the committed files

Also the bridge the interop tests use to let Java decode what Python encodes (``java_decode``)
and to time Java's XByteBuffer (``java_bench``).
"""
from __future__ import annotations

import json
import os
import sys
from typing import Iterable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from interop import javatool  # noqa: E402

VECTOR_DIR = os.path.join(ROOT, "tests", "vectors", "wire")
VERSIONS = {"10.1": 10, "9.0": 9}
JVM_OPTS = ["-Xmx256m", "-XX:+UseSerialGC", "-Djava.util.logging.config.file=/dev/null"]


def vector_path(label: str) -> str:
    return os.path.join(VECTOR_DIR, f"tomcat-{label}.json")


def generate(version: int) -> dict:
    """Run WireVectors generate against the Tomcat jars of ``version`` (9 or 10)."""
    out = javatool.run_java("WireVectors", ["generate"], version, jvm_opts=JVM_OPTS, timeout=300)
    return json.loads(out.stdout)


def load(label: str) -> dict:
    with open(vector_path(label), encoding="utf-8") as fh:
        return json.load(fh)


def dump(data: dict) -> str:
    return json.dumps(data, indent=1) + "\n"


def java_decode(items: Iterable[tuple[str, str, bytes]], version: int) -> list[dict]:
    """Let Tomcat's classes decode ``(kind, id, bytes)`` items; kind: member, channeldata, stream:CHUNK."""
    lines = "".join(f"{kind} {ident} {raw.hex()}\n" for kind, ident, raw in items)
    out = javatool.run_java("WireVectors", ["decode"], version, input=lines.encode(), jvm_opts=JVM_OPTS,
                            timeout=300)
    return [json.loads(line) for line in out.stdout.decode().splitlines() if line.strip()]


def java_bench(cases: Iterable[tuple[int, int, int, int]], version: int = 10) -> list[dict]:
    """Time XByteBuffer for ``(size, total_bytes, chunk, millis)`` cases; one dict per case."""
    args = ["bench"]
    for case in cases:
        args += [str(x) for x in case]
    out = javatool.run_java("WireVectors", args, version, jvm_opts=["-Xmx256m", "-XX:+UseSerialGC",
                            "-Djava.util.logging.config.file=/dev/null"], timeout=900)
    return [json.loads(line) for line in out.stdout.decode().splitlines() if line.strip()]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    status = 0
    for label, version in VERSIONS.items():
        data = generate(version)
        if check:
            same = load(label) == data
            print(f"tomcat-{label}.json: {'same' if same else 'DIFFERENT'}")
            status |= 0 if same else 1
        else:
            os.makedirs(VECTOR_DIR, exist_ok=True)
            with open(vector_path(label), "w", encoding="utf-8") as fh:
                fh.write(dump(data))
            print(f"wrote {vector_path(label)} (Tomcat {data['tomcat']})")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
