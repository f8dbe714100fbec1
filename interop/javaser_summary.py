"""The "summary" rendering of Java values that interop/java/src/JavaSerVectors.java prints,
computed here from values decoded by tribes.javaser, so the two sides can be compared as JSON.

Rules (both sides): ``{"class": C, "value": V}`` for strings, boxed primitives (a long beyond
+-2^53 as a string, NaN/Infinity as strings), byte[] (base64), enums, Class objects, arrays and
ArrayList/LinkedList/HashSet (element lists) and HashMap/LinkedHashMap/TreeMap ([key, value]
pairs in iteration order); Date ``{"class", "millis"}``; Throwable ``{"class", "message"}``; an
object already on the rendering path ``{"class", "cycle": true}``; Externalizable objects
``{"class", "externalizable": true}``; other objects ``{"class", "fields": {...}}`` (serializable
fields, topmost class first) or ``{"class", "opaque": true}`` when Java cannot reflect on them
(JDK internals, proxies): then only the class is compared.
"""
from __future__ import annotations

import base64
import math
from typing import Any

from tribes.javaser import (
    ClassDesc,
    JavaArray,
    JavaBoolean,
    JavaCharacter,
    JavaClass,
    JavaDate,
    JavaEnum,
    JavaHashSet,
    JavaObject,
)
from tribes.javaser.jsonview import _class_of

SAFE = 1 << 53


def num(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        v = int(v)
        return v if -SAFE <= v <= SAFE else str(v)
    if isinstance(v, float):
        v = float(v)
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(v, str):
        return str(v)
    return v


def _is_throwable(o: JavaObject) -> bool:
    return any(cd.desc.name == "java.lang.Throwable" for cd in o.class_data)


def summary(v: Any, path: set[int] | None = None) -> Any:
    path = set() if path is None else path
    if v is None:
        return None
    if isinstance(v, JavaBoolean):
        return {"class": "java.lang.Boolean", "value": v.value}
    if isinstance(v, JavaCharacter):
        return {"class": "java.lang.Character", "value": str(v)}
    if isinstance(v, str):
        return {"class": "java.lang.String", "value": str(v)}
    if isinstance(v, (bool, int, float)) and not isinstance(v, JavaArray):
        return {"class": _class_of(v), "value": num(v)}
    if isinstance(v, (bytes, bytearray)):
        return {"class": "[B", "value": base64.b64encode(bytes(v)).decode()}
    if isinstance(v, JavaEnum):
        return {"class": v.class_name, "value": str(v.name)}
    if isinstance(v, JavaClass):
        return {"class": "java.lang.Class", "value": v.name}
    if isinstance(v, ClassDesc):
        return {"class": "java.io.ObjectStreamClass", "value": v.name}
    if isinstance(v, JavaDate):
        return {"class": "java.util.Date", "millis": num(v.millis)}
    if isinstance(v, JavaObject) and _is_throwable(v):
        return {"class": v.class_name, "message": v.get("detailMessage")}
    name = v.class_name if isinstance(v, (JavaObject, JavaArray)) else _class_of(v)
    if id(v) in path:
        return {"class": name, "cycle": True}
    path.add(id(v))
    try:
        if isinstance(v, JavaArray):
            if v.component in "BCDFIJSZ":
                return {"class": name, "value": [num(x) for x in v]}
            return {"class": name, "value": [summary(x, path) for x in v]}
        if isinstance(v, dict):
            return {"class": name, "value": [[summary(k, path), summary(x, path)] for k, x in v.items()]}
        if isinstance(v, (list, JavaHashSet, set, frozenset)):
            return {"class": name, "value": [summary(x, path) for x in v]}
        if isinstance(v, JavaObject):
            if v.desc.is_proxy:
                return {"class": "(proxy)", "opaque": True}
            if v.desc.is_externalizable:
                return {"class": name, "externalizable": True}
            fields = {}
            for cd in v.class_data:
                for f, x in zip(cd.desc.fields, cd.values):
                    fields[f.name] = num(x) if f.classname is None else summary(x, path)
            return {"class": name, "fields": fields}
        return {"class": type(v).__name__, "repr": repr(v)}
    finally:
        path.discard(id(v))


def matches(expected: Any, got: Any) -> bool:
    """Compare renderings; an ``opaque`` expectation only checks the class."""
    if isinstance(expected, dict) and expected.get("opaque"):
        if expected.get("class") == "(replaced)":  # Java could not call writeReplace: any object
            return isinstance(got, dict)
        return isinstance(got, dict) and got.get("class") == expected.get("class")
    if isinstance(expected, dict) and isinstance(got, dict):
        if set(expected) != set(got):
            return False
        return all(matches(expected[k], got[k]) for k in expected)
    if isinstance(expected, list) and isinstance(got, list):
        return len(expected) == len(got) and all(matches(a, b) for a, b in zip(expected, got))
    if isinstance(expected, float) and isinstance(got, (int, float)):
        return expected == got
    return expected == got


def run_script(data: bytes, script: list[list[Any]]) -> list[str]:
    """Replay a reading script with ObjectInputStream; returns the mismatches (empty = ok)."""
    from tribes.javaser import ObjectInputStream, WriteAbortedError

    ois = ObjectInputStream(data)
    problems = []
    for i, (op, expected) in enumerate(script):
        try:
            if op == "obj":
                got: Any = summary(ois.read_object())
            elif op == "aborted":
                try:
                    ois.read_object()
                    got = "no exception"
                except WriteAbortedError as e:
                    got = e.exception.class_name
            elif op == "int":
                got = ois.read_int()
            elif op == "long":
                got = num(ois.read_long())
            elif op == "bool":
                got = ois.read_boolean()
            elif op == "byte":
                got = ois.read_byte()
            elif op == "short":
                got = ois.read_short()
            elif op == "char":
                got = ois.read_char()
            elif op == "float":
                got = num(ois.read_float())
            elif op == "double":
                got = num(ois.read_double())
            elif op == "utf":
                got = ois.read_utf()
            elif op == "bytes":
                got = base64.b64encode(ois.read_fully(len(base64.b64decode(expected)))).decode()
            else:
                problems.append(f"step {i}: unknown op {op}")
                continue
        except Exception as exc:  # noqa: BLE001 - reported as a mismatch
            problems.append(f"step {i} {op}: {type(exc).__name__}: {exc}")
            break
        if not matches(expected, got):
            problems.append(f"step {i} {op}: expected {expected!r}, got {got!r}")
    if not problems and not ois.at_eof():
        problems.append(f"data left after the script at offset {ois.offset}")
    return problems
