"""Descriptors of the JDK classes the codec maps to Python values, exactly as Java writes them,
and Java's hashCode / natural ordering for the key types whose order Python must reproduce."""
from __future__ import annotations

import struct
from typing import Any

from .constants import SC_SERIALIZABLE, SC_WRITE_METHOD
from .values import (
    ClassDesc,
    FieldDesc,
    JavaByte,
    JavaCharacter,
    JavaDate,
    JavaDouble,
    JavaFloat,
    JavaInteger,
    JavaLong,
    JavaShort,
    array_desc,
)

_S = SC_SERIALIZABLE
_SW = SC_SERIALIZABLE | SC_WRITE_METHOD


class MappedClassDesc(ClassDesc):
    """A JDK class descriptor below (Integer, HashMap, ...) that the codec maps to a Python value.

    A subclass so that the reader tells, by type alone, a mapped class from any other class it
    meets (``type(desc) is ClassDesc``: nothing to look up)."""

    __slots__ = ()


class WrapperClassDesc(MappedClassDesc):
    """A boxed primitive's descriptor (Integer, Long, ..., Boolean)."""

    __slots__ = ()


class CollectionClassDesc(MappedClassDesc):
    """A mapped collection's (or Date's) descriptor: ArrayList, HashMap, ..., Date."""

    __slots__ = ()


NUMBER = MappedClassDesc("java.lang.Number", -8742448824652078965, _S)
INTEGER = WrapperClassDesc("java.lang.Integer", 1360826667806852920, _S, [FieldDesc("I", "value")], NUMBER)
LONG = WrapperClassDesc("java.lang.Long", 4290774380558885855, _S, [FieldDesc("J", "value")], NUMBER)
SHORT = WrapperClassDesc("java.lang.Short", 7515723908773894738, _S, [FieldDesc("S", "value")], NUMBER)
BYTE = WrapperClassDesc("java.lang.Byte", -7183698231559129828, _S, [FieldDesc("B", "value")], NUMBER)
FLOAT = WrapperClassDesc("java.lang.Float", -2671257302660747028, _S, [FieldDesc("F", "value")], NUMBER)
DOUBLE = WrapperClassDesc("java.lang.Double", -9172774392245257468, _S, [FieldDesc("D", "value")], NUMBER)
CHARACTER = WrapperClassDesc("java.lang.Character", 3786198910865385080, _S, [FieldDesc("C", "value")])
BOOLEAN = WrapperClassDesc("java.lang.Boolean", -3665804199014368530, _S, [FieldDesc("Z", "value")])

ARRAYLIST = CollectionClassDesc("java.util.ArrayList", 8683452581122892189, _SW, [FieldDesc("I", "size")])
LINKEDLIST = CollectionClassDesc("java.util.LinkedList", 876323262645176354, _SW)
HASHMAP = CollectionClassDesc(
    "java.util.HashMap", 362498820763181265, _SW, [FieldDesc("F", "loadFactor"), FieldDesc("I", "threshold")]
)
LINKEDHASHMAP = CollectionClassDesc("java.util.LinkedHashMap", 3801124242820219131, _S, [FieldDesc("Z", "accessOrder")], HASHMAP)
TREEMAP = CollectionClassDesc(
    "java.util.TreeMap", 919286545866124006, _SW, [FieldDesc("L", "comparator", "Ljava/util/Comparator;")]
)
HASHSET = CollectionClassDesc("java.util.HashSet", -5024744406713321676, _SW)
DATE = CollectionClassDesc("java.util.Date", 7523967970034938905, _SW)
BYTE_ARRAY = array_desc("[B")

#: wrapper Python class -> (descriptor, struct format of the value)
WRAPPERS: dict[type, tuple[ClassDesc, str]] = {
    JavaInteger: (INTEGER, ">i"),
    JavaLong: (LONG, ">q"),
    JavaShort: (SHORT, ">h"),
    JavaByte: (BYTE, ">b"),
    JavaFloat: (FLOAT, ">f"),
    JavaDouble: (DOUBLE, ">d"),
    JavaCharacter: (CHARACTER, ">H"),
}

#: every descriptor above, by structural key (the reader swaps equal descriptors for these)
CANONICAL: dict[tuple, ClassDesc] = {
    d.key(): d
    for d in (
        NUMBER, INTEGER, LONG, SHORT, BYTE, FLOAT, DOUBLE, CHARACTER, BOOLEAN, ARRAYLIST, LINKEDLIST,
        HASHMAP, LINKEDHASHMAP, TREEMAP, HASHSET, DATE, BYTE_ARRAY,
    )
}


# ----------------------------------------------------------------------------------------------
# Java hashCode and ordering (to write Python-built HashMap/HashSet/TreeMap in Java's order)


def _i32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _long_hash(v: int) -> int:
    u = v & 0xFFFFFFFFFFFFFFFF
    return _i32(u ^ (u >> 32))


def string_hash(s: str) -> int:
    h = 0
    for unit in struct.unpack(f">{len(s.encode('utf-16-be', 'surrogatepass')) // 2}H", s.encode("utf-16-be", "surrogatepass")):
        h = (31 * h + unit) & 0xFFFFFFFF
    return _i32(h)


def java_hash(v: Any) -> int | None:
    """Java's hashCode() of a value with a well-defined one, else None (identity hashes)."""
    t = type(v)
    if t is str or isinstance(v, str) and not isinstance(v, JavaCharacter):
        return string_hash(v)
    if t is bool:
        return 1231 if v else 1237
    if t is int:
        return _i32(v) if -(1 << 31) <= v < (1 << 31) else _long_hash(v)
    if t in (JavaInteger, JavaShort, JavaByte):
        return int(v)
    if t is JavaLong:
        return _long_hash(int(v))
    if t is JavaCharacter:
        return ord(v)
    if t is float or t is JavaDouble:
        if v != v:
            bits = 0x7FF8000000000000
        else:
            bits = struct.unpack(">q", struct.pack(">d", v))[0]
        return _long_hash(bits)
    if t is JavaFloat:
        bits = 0x7FC00000 if v != v else struct.unpack(">I", struct.pack(">f", v))[0]
        return _i32(bits)
    if t is JavaDate:
        return _long_hash(v.millis)
    return None


def hashmap_capacity(n: int, load_factor: float = 0.75) -> tuple[int, int]:
    """(buckets, threshold) of ``new HashMap<>()`` after n puts of distinct keys."""
    if not load_factor > 0 or load_factor == float("inf"):  # Java: IllegalArgumentException (NaN too)
        raise ValueError(f"illegal HashMap load factor {load_factor!r}")
    if n == 0:
        return 16, 0
    cap = 16
    thr = int(cap * load_factor)
    while n > thr:
        if cap >= _MAXIMUM_CAPACITY:  # as HashMap.resize: the table stops growing
            return cap, 0x7FFFFFFF
        cap *= 2
        thr = int(cap * load_factor)
    return cap, thr


_MAXIMUM_CAPACITY = 1 << 30


def hashmap_order(keys: list[Any], buckets: int) -> list[Any] | None:
    """Keys in the order a HashMap with ``buckets`` iterates them, or None if a hash is unknown."""
    idx = []
    mask = buckets - 1
    for i, k in enumerate(keys):
        h = java_hash(k)
        if h is None:
            return None
        h &= 0xFFFFFFFF
        idx.append(((h ^ (h >> 16)) & mask, i))
    idx.sort()
    return [keys[i] for _, i in idx]


def natural_sort_key(v: Any) -> tuple[int, Any] | None:
    if isinstance(v, str):
        return (0, v.encode("utf-16-be", "surrogatepass"))
    if isinstance(v, bool):
        return (1, v)
    if isinstance(v, (int, float)) and v == v:
        return (2, v)
    if isinstance(v, JavaDate):
        return (3, v.millis)
    return None


def natural_order(keys: list[Any]) -> list[Any] | None:
    """Keys sorted as Java's Comparable would sort them (same kind only), or None."""
    ks = []
    kinds = set()
    for k in keys:
        sk = natural_sort_key(k)
        if sk is None:
            return None
        kinds.add((sk[0], type(k)) if sk[0] == 2 else sk[0])
        ks.append(sk)
    if len(kinds) > 1:
        return None
    order = sorted(range(len(keys)), key=lambda i: ks[i])
    return [keys[i] for i in order]
