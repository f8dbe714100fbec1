"""Golden streams made by real Java (interop/java/src/JavaSerVectors.java, Tomcat 10.1 and 9.0):
every vector decodes to what Java says it holds, and re-encodes to identical bytes."""
from __future__ import annotations

import json
import os

import pytest

from interop.javaser_summary import matches, run_script, summary
from tribes.javaser import dumps, dumps_all, loads, loads_all, to_json

HERE = os.path.dirname(os.path.abspath(__file__))
VEC_ROOT = os.path.join(os.path.dirname(HERE), "vectors", "javaser")
VERSIONS = ["10.1", "9.0"]


def _load(version: str) -> list[dict]:
    path = os.path.join(VEC_ROOT, version, "manifest.json")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return json.load(f)["vectors"]


CASES = [(ver, v) for ver in VERSIONS for v in _load(ver)]


def _data(ver: str, vec: dict) -> bytes:
    with open(os.path.join(VEC_ROOT, ver, vec["file"]), "rb") as f:
        return f.read()


def test_vectors_present() -> None:
    for ver in VERSIONS:
        assert len(_load(ver)) >= 100, f"golden vectors for {ver} missing: run tests/interop/test_javaser_java.py"


@pytest.mark.parametrize("ver,vec", CASES, ids=[f"{v}-{x['name']}" for v, x in CASES])
def test_vector(ver: str, vec: dict) -> None:
    data = _data(ver, vec)
    assert len(data) == vec["size"]
    items = loads_all(data)
    assert dumps_all(items) == data, "re-encoding differs"
    expect = vec["expect"]
    if expect["kind"] == "object":
        value = loads(data)
        got = summary(value)
        assert matches(expect["value"], got), f"\nexpected {expect['value']}\ngot      {got}"
        assert dumps(value) == data
        json.dumps(to_json(value))
    else:
        problems = run_script(data, expect["script"])
        assert not problems, "\n".join(problems)
