"""``to_json`` renders an object referred to many times once (issue 19, defect 7): a 1 MiB byte[]
referenced 400 times in one message made ``tribes join --json`` peak at 1.6 GB RSS."""
from __future__ import annotations

import json

from tribes.javaser import JavaArrayList, JavaHashMap, dumps, loads, to_json


def test_shared_byte_array_rendered_once() -> None:
    blob = bytes(range(256)) * 256                      # 64 KiB
    value = loads(dumps(JavaArrayList([blob] * 400)))   # one byte[] object, 399 back-references
    assert all(x is value[0] for x in value)
    out = to_json(value)
    text = json.dumps(out)
    # once: ~87 KiB of base64 plus 399 small references (the old rendering: 35 MB)
    assert len(text) < 200_000, len(text)
    first, rest = out["value"][0], out["value"][1:]
    assert first["class"] == "[B" and "value" in first and first["id"] >= 1
    assert all(r == {"class": "[B", "ref": first["id"]} for r in rest)


def test_shared_long_string_rendered_once_short_ones_inline() -> None:
    long_s = "x" * 1000
    m = JavaHashMap({"a": long_s, "b": long_s, "c": "short", "d": "short"})
    value = loads(dumps(m))
    out = to_json(value)
    vals = dict((k["value"], v) for k, v in out["value"])
    assert vals["a"]["value"] == long_s and "id" in vals["a"]
    assert vals["b"] == {"class": "java.lang.String", "ref": vals["a"]["id"]}
    assert vals["c"] == {"class": "java.lang.String", "value": "short"}
    assert vals["d"] == {"class": "java.lang.String", "value": "short"}


def test_unshared_values_unchanged() -> None:
    out = to_json(loads(dumps(JavaArrayList([bytes([1]) * 100 for _ in range(2)]))))
    assert [("id" in x, "ref" in x) for x in out["value"]] == [(False, False), (False, False)]
