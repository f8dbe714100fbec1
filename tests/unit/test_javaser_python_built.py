"""Values built in Python encode to exactly the bytes real Java wrote for the same value
(golden vectors of interop/java/src/JavaSerVectors.java)."""
from __future__ import annotations

import os
import random

import pytest

from tribes.javaser import (
    ClassDesc,
    JavaArray,
    JavaArrayList,
    JavaByte,
    JavaCharacter,
    JavaDate,
    JavaDouble,
    JavaEnum,
    JavaFloat,
    JavaHashMap,
    JavaHashSet,
    JavaInteger,
    JavaLinkedHashMap,
    JavaLinkedList,
    JavaLong,
    JavaObject,
    JavaShort,
    JavaTreeMap,
    ObjectOutputStream,
    dumps,
)

VEC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors", "javaser", "10.1")

POINT = ClassDesc.make("JavaSerVectors$Point", 1, {"x": "I", "y": "I", "label": "Ljava/lang/String;"})


def _point(x: int, y: int, label: str | None) -> JavaObject:
    return JavaObject.new(POINT, {"x": x, "y": y, "label": label})


def _java_random_bytes(n: int, seed: int) -> bytes:
    # java.util.Random(seed).nextBytes(n)
    mult, mask = 0x5DEECE66D, (1 << 48) - 1
    s = (seed ^ mult) & mask
    out = bytearray()
    while len(out) < n:
        s = (s * mult + 0xB) & mask
        r = s >> 16
        r = r - (1 << 32) if r & 0x80000000 else r
        for _ in range(min(4, n - len(out))):
            out.append(r & 0xFF)
            r >>= 8
    return bytes(out)


def _lhm() -> JavaLinkedHashMap:
    m = JavaLinkedHashMap()
    for i in range(20, 0, -1):
        m[f"key{i}"] = i
    return m


def _treemap() -> JavaTreeMap:
    t = JavaTreeMap()
    for k, v in [("pear", 1), ("apple", 2), ("\u00e9clair", 3), ("Zebra", 4), ("\U0001f600", 5), ("\uffff", 6)]:
        t[k] = v
    return t


def _shared() -> list:
    p = _point(1, 1, "shared")
    return [p, p, _point(1, 1, "shared")]


def _ints() -> list:
    return list(range(-200, 200, 3))


def _strs() -> list:
    s = "".join(["sha", "red"])
    return [s, s, "".join(["sha", "red"]), "lit", "lit"]


CASES = {
    "null": lambda: None,
    "string_empty": lambda: "",
    "string_ascii": lambda: "hello world",
    "string_nul": lambda: "a\x00b",
    "string_latin1": lambda: "caf\u00e9 \u00ff",
    "string_bmp": lambda: "\u20ac\u4e2d\uffff",
    "string_nonbmp": lambda: "\U0001f600 smile \U00010000",
    "string_lone_surrogate": lambda: "x\ud800y",
    "string_65535": lambda: "a" * 65535,
    "string_long_ascii": lambda: "b" * 70000,
    "string_long_3byte": lambda: "\u20ac" * 30000,
    "integer_0": lambda: 0,
    "integer_min": lambda: -(2**31),
    "integer_max": lambda: 2**31 - 1,
    "long_neg": lambda: JavaLong(-5),
    "long_max": lambda: 2**63 - 1,
    "long_min": lambda: -(2**63),
    "long_2p53": lambda: 2**53 + 1,
    "short": lambda: JavaShort(-12345),
    "byte": lambda: JavaByte(-128),
    "float": lambda: JavaFloat(3.14),
    "float_nan": lambda: JavaFloat(float("nan")),
    "float_inf": lambda: JavaFloat(float("-inf")),
    "double": lambda: 3.141592653589793,
    "double_nan": lambda: float("nan"),
    "double_negzero": lambda: -0.0,
    "double_min": lambda: 5e-324,
    "char": lambda: JavaCharacter("q"),
    "char_euro": lambda: JavaCharacter("\u20ac"),
    "boolean_true": lambda: True,
    "boolean_false": lambda: False,
    "bytes_empty": lambda: b"",
    "bytes": lambda: bytes([0, 1, 255, 127, 128]),
    "bytes_100k": lambda: _java_random_bytes(100000, 1),
    "int_array": lambda: JavaArray("[I", [1, -1, 2**31 - 1]),
    "long_array": lambda: JavaArray("[J", [-(2**63), 0, 1 << 60]),
    "short_array": lambda: JavaArray("[S", [-1, 2]),
    "char_array": lambda: JavaArray("[C", ["a", "\u20ac", "\x00"]),
    "boolean_array": lambda: JavaArray("[Z", [True, False, True]),
    "float_array": lambda: JavaArray("[F", [1.5, -0.0, float("nan")]),
    "double_array": lambda: JavaArray("[D", [2.5, float("inf")]),
    "string_array": lambda: JavaArray("[Ljava.lang.String;", ["a", None, "a"]),
    "object_array": lambda: JavaArray("[Ljava.lang.Object;", [1, "two", JavaLong(3), None, JavaArray("[I", [4])]),
    "int_2d_array": lambda: JavaArray("[[I", [JavaArray("[I", [1, 2]), JavaArray("[I", [3]), JavaArray("[I", [])]),
    "empty_object_array": lambda: JavaArray("[Ljava.lang.Object;", []),
    "arraylist_empty": lambda: [],
    "arraylist": lambda: ["a", "b", "c"],
    "arraylist_mixed": lambda: [1, JavaLong(2), 3.0, "4", None, True, JavaCharacter("c"), JavaShort(5), JavaByte(6), JavaFloat(7.5)],
    "arraylist_int_cache": _ints,
    "arraylist_shared_strings": _strs,
    "linkedlist": lambda: JavaLinkedList([1, "x", 2.5]),
    "linkedlist_empty": lambda: JavaLinkedList(),
    "hashmap_empty": lambda: {},
    # Python's 7 == JavaLong(7); Integer and Long keys stay apart as JavaInteger / JavaLong
    "hashmap": lambda: {"b": 2, "a": 1, "zeta": None, JavaInteger(7): "seven", JavaLong(7): "seven long"},
    "hashmap_13_resized": lambda: {f"k{i}": i for i in range(13)},
    "hashmap_100": lambda: {f"key-{i}": i * 1000 for i in range(100)},
    "treemap": _treemap,
    "linkedhashmap_simple": _lhm,
    "treemap_int": lambda: JavaTreeMap({10: "ten", -3: "minus", 7: "seven"}),
    "hashset_empty": lambda: set(),
    "hashset": lambda: JavaHashSet(["x", "y", 42, True]),
    # a Python set has no insertion order; JavaHashSet keeps it (it decides order within a bucket)
    "hashset_50": lambda: JavaHashSet(f"element{i}" for i in range(50)),
    "date": lambda: JavaDate(1700000000123),
    "date_negative": lambda: JavaDate(-1000),
    "enum": lambda: JavaEnum("JavaSerVectors$Color", "GREEN"),
    "enum_with_body": lambda: JavaEnum("JavaSerVectors$Color", "BLUE"),
    "enum_list": lambda: [JavaEnum("JavaSerVectors$Color", "RED"), JavaEnum("JavaSerVectors$Color", "BLUE"),
                          JavaEnum("JavaSerVectors$Color", "RED")],
    "enum_array": lambda: JavaArray("[LJavaSerVectors$Color;", [JavaEnum("JavaSerVectors$Color", "GREEN")] * 2),
    "point": lambda: _point(3, -4, "p"),
    "point_null_label": lambda: _point(0, 0, None),
    "shared_objects": _shared,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_python_built_equals_java_bytes(name: str) -> None:
    with open(os.path.join(VEC, name + ".ser"), "rb") as f:
        java = f.read()
    ours = dumps(CASES[name]())
    if ours != java:
        i = next((i for i, (a, b) in enumerate(zip(ours, java)) if a != b), min(len(ours), len(java)))
        pytest.fail(f"first difference at offset {i}: ours {ours[i:i+16].hex()} java {java[i:i+16].hex()}")


def test_python_built_sequences() -> None:
    def vec(name: str) -> bytes:
        with open(os.path.join(VEC, name + ".ser"), "rb") as f:
            return f.read()

    o = ObjectOutputStream()
    o.write_int(1); o.write_int(2); o.write_utf("three"); o.write_boolean(True); o.write_byte(-1)
    o.write_short(-2); o.write_char("\u20ac"); o.write_float(1.5); o.write_double(-2.25); o.write_long(-(2**63))
    assert o.getvalue() == vec("seq_primitives")
    o = ObjectOutputStream()
    blk = bytes(i & 0xFF for i in range(3000))
    o.write(blk); o.write_object("x"); o.write(bytes(1024)); o.write_int(1)
    assert o.getvalue() == vec("seq_block_chunking")
    o = ObjectOutputStream()
    o.write_int(1); o.flush(); o.write_int(2); o.write_object(None)
    assert o.getvalue() == vec("seq_flush")
    o = ObjectOutputStream()
    o.write_utf("\u20ac" * 2000); o.write_utf("\x00\U0001f600")
    assert o.getvalue() == vec("seq_utf_multibyte")
    o = ObjectOutputStream()
    r = "".join(["reset", " me"])
    red = JavaEnum("JavaSerVectors$Color", "RED")
    o.write_object(r); o.write_object(r); o.reset(); o.write_object(r); o.write_object(red); o.reset(); o.write_object(red)
    assert o.getvalue() == vec("seq_reset")
    o = ObjectOutputStream()
    for v in ["".join("s"), JavaInteger.value_of(5), JavaInteger.value_of(5), 500, 500, True, True,
              JavaLong.value_of(0), JavaLong.value_of(0)]:
        o.write_object(v)
    assert o.getvalue() == vec("seq_boxing_cache")


def test_hashmap_order_random_keys() -> None:
    """Java's bucket order for many string keys (checked against Java in the interop test)."""
    rnd = random.Random(5)
    keys = ["".join(rnd.choice("abcXYZ019") for _ in range(rnd.randint(0, 8))) for _ in range(300)]
    m = {k: JavaInteger(i) for i, k in enumerate(keys)}
    data = dumps(m)
    from tribes.javaser import loads

    back = loads(data)
    assert isinstance(back, JavaHashMap) and dict(back) == m
    assert back.buckets == 512 and back.threshold == 384
