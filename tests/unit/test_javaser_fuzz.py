"""Property tests of tribes.javaser (hypothesis): Python values round-trip, and any stream either
decodes and re-encodes byte-identically or fails with a JavaSerializationError.

Default tier: a few hundred examples; ``-m slow``: thousands. The atheris harness
(fuzz/fuzz_javaser.py) runs the stream property for minutes.
"""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interop.javaser_summary import summary
from tests.unit.javaser_mutation import mutate, mutations, seeds
from tribes.javaser import (
    JavaArray,
    JavaByte,
    JavaCharacter,
    JavaDate,
    JavaDouble,
    JavaEnum,
    JavaFloat,
    JavaHashSet,
    JavaInteger,
    JavaLinkedHashMap,
    JavaLinkedList,
    JavaLong,
    JavaSerializationError,
    JavaShort,
    JavaTreeMap,
    Limits,
    ObjectInputStream,
    dumps,
    dumps_all,
    loads,
    loads_all,
    to_json,
)

SMALL = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LARGE = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=()), max_size=8),
    st.lists(st.sampled_from(["\x00", "\ud800", "\udfff", "\U0001f600", "\u20ac", "a"]), max_size=6).map("".join),
)
keys = st.one_of(text, st.integers(-(2**31), 2**31 - 1).map(JavaInteger), st.integers(-(2**63), 2**63 - 1).map(JavaLong))
leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**31), 2**31 - 1).map(JavaInteger),
    st.integers(-(2**63), 2**63 - 1).map(JavaLong),
    st.integers(-(2**15), 2**15 - 1).map(JavaShort),
    st.integers(-128, 127).map(JavaByte),
    st.floats(allow_nan=True).map(JavaDouble),
    st.floats(allow_nan=True, width=32).map(JavaFloat),
    st.floats(allow_nan=False),
    st.integers(0, 0xFFFF).map(JavaCharacter),
    text,
    st.binary(max_size=40),
    st.integers(-(2**63), 2**63 - 1).map(JavaDate),
    st.sampled_from(["RED", "GREEN"]).map(lambda n: JavaEnum("com.example.Color", n)),
    st.lists(st.integers(-(2**31), 2**31 - 1), max_size=5).map(lambda v: JavaArray("[I", v)),
    st.lists(st.booleans(), max_size=5).map(lambda v: JavaArray("[Z", v)),
)


def _containers(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(JavaLinkedList),
        st.dictionaries(keys, children, max_size=5),
        st.dictionaries(keys, children, max_size=5).map(JavaLinkedHashMap),
        st.dictionaries(text, children, max_size=5).map(JavaTreeMap),
        st.lists(keys, max_size=5).map(JavaHashSet),
        st.lists(children, max_size=4).map(lambda v: JavaArray("[Ljava.lang.Object;", v)),
    )


values = st.recursive(leaf, _containers, max_leaves=25)


def _norm(x):
    if isinstance(x, dict):
        out = {k: _norm(v) for k, v in x.items()}
        if x.get("class") in ("java.util.HashMap", "java.util.HashSet", "java.util.TreeMap") and isinstance(
            out.get("value"), list
        ):
            out["value"] = sorted(out["value"], key=lambda e: json.dumps(e, sort_keys=True))
        return out
    if isinstance(x, list):
        return [_norm(v) for v in x]
    if isinstance(x, str):  # Java strings are UTF-16: an explicit surrogate pair is one character
        return x.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "surrogatepass")
    return x


def _check_value(v) -> None:
    data = dumps(v)
    back = loads(data)
    assert dumps(back) == data
    assert _norm(summary(back)) == _norm(summary(v))
    json.dumps(to_json(back))


SEEDS = seeds(2500)
LIMITS = Limits(max_depth=100, max_array_length=4096, max_handles=4096, max_string_length=4096)
mutation = mutations(len(SEEDS))


def _check_stream(m) -> None:
    data = mutate(SEEDS, m)
    try:
        items = loads_all(data, LIMITS)
    except JavaSerializationError:
        return
    assert dumps_all(items) == data
    json.dumps(to_json(items))
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


@SMALL
@given(values)
def test_values_roundtrip(v) -> None:
    _check_value(v)


@SMALL
@given(mutation)
def test_mutated_streams(m) -> None:
    _check_stream(m)


@pytest.mark.slow
@LARGE
@given(values)
def test_values_roundtrip_large(v) -> None:
    _check_value(v)


@pytest.mark.slow
@LARGE
@given(mutation)
def test_mutated_streams_large(m) -> None:
    _check_stream(m)
