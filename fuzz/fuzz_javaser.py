#!/usr/bin/env python3
"""atheris target: tribes.javaser reader + writer.

Any input: ``loads_all`` either raises a JavaSerializationError subclass (within the Limits) or
returns items that ``dumps_all`` writes back to exactly the same bytes; ``to_json`` and the
primitive API never fail otherwise. Seeds: fuzz/corpus/javaser = the golden vectors under 3000 bytes
(``for f in tests/vectors/javaser/10.1/*.ser; do [ $(stat -c %s $f) -lt 3000 ] && cp $f fuzz/corpus/javaser/; done``).

    python3 fuzz/fuzz_javaser.py fuzz/corpus/javaser -max_total_time=600 -rss_limit_mb=2048 -timeout=10
"""
import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

with atheris.instrument_imports():
    from tribes.javaser import (
        JavaSerializationError,
        Limits,
        ObjectInputStream,
        dumps_all,
        loads_all,
        to_json,
    )

LIMITS = Limits(max_depth=200, max_total_bytes=1 << 20, max_array_length=1 << 16, max_handles=1 << 16,
                max_string_length=1 << 16)


def test_one(data: bytes) -> None:
    data = b"\xac\xed\x00\x05" + data if not data.startswith(b"\xac\xed") else data
    try:
        items = loads_all(data, LIMITS)
    except JavaSerializationError:
        return
    out = dumps_all(items, Limits(max_depth=400, max_total_bytes=1 << 22))
    if out != data:
        n = min(len(out), len(data))
        first = next((i for i in range(n) if out[i] != data[i]), n)
        raise AssertionError(f"re-encoding differs at offset {first}: {data.hex()} -> {out.hex()}")
    to_json(items)
    # the Java-shaped API over the same bytes: only JavaSerializationError may come out
    ois = ObjectInputStream(data, LIMITS)
    try:
        while not ois.at_eof():
            if ois.available():
                ois.read_fully(ois.available())
            else:
                try:
                    ois.read_object()
                except JavaSerializationError as exc:
                    if getattr(exc, "length", 0):
                        continue
                    raise
    except JavaSerializationError:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
