"""JSON rendering of decoded values (docs/cli.md): ``{"class": ..., "value": ...}``.

byte[] is base64; a long beyond +-2^53 is a string; NaN/Infinity are strings; an object Python
does not map is ``{"class": ..., "fields": {...}}`` (plus ``"custom"``: its writeObject /
writeExternal items). A container or object met again gets ``"ref": n`` pointing at the
``"id": n`` of its first rendering (so cycles and shared objects stay finite). The same goes
for a byte[] or String of ``SHARED_LEAF_MIN`` or more bytes/characters met again (one object
referred to many times): a 1 MiB byte[] referenced 400 times is rendered once, not 400 times.
"""
from __future__ import annotations

import base64
import math
from typing import Any

from tribes.isotime import iso_time

from .values import (
    RESET,
    BlockData,
    ClassDesc,
    JavaArray,
    JavaArrayList,
    JavaBoolean,
    JavaByte,
    JavaCharacter,
    JavaClass,
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
    JavaWriteAborted,
)

from .errors import DEFAULT_LIMITS
from .reader import _ensure_recursion

_SAFE = 1 << 53

_CONTAINERS = (list, dict, JavaHashSet, JavaObject, set, frozenset)
#: byte[] / String values at least this long are rendered once and referred to after that
SHARED_LEAF_MIN = 64
_LEAVES = (bytes, bytearray, str)


def _num(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        v = int(v)
        return v if -_SAFE <= v <= _SAFE else str(v)
    if isinstance(v, float):
        v = float(v)
        if math.isnan(v) or math.isinf(v):
            return str(v).replace("inf", "Infinity").replace("nan", "NaN")
        return v
    return v


def _class_of(v: Any) -> str:
    t = type(v)
    name = getattr(t, "java_class", None)
    if name:
        return name
    if isinstance(v, bool):
        return "java.lang.Boolean"
    if isinstance(v, str):
        return "java.lang.String"
    if isinstance(v, int):
        return "java.lang.Integer" if -(1 << 31) <= v < (1 << 31) else "java.lang.Long"
    if isinstance(v, float):
        return "java.lang.Double"
    if isinstance(v, (bytes, bytearray)):
        return "[B"
    if isinstance(v, JavaArrayList) or type(v) is list:
        return "java.util.ArrayList"
    if type(v) is dict:
        return "java.util.HashMap"
    if isinstance(v, (set, frozenset)):
        return "java.util.HashSet"
    return type(v).__name__


class _Renderer:
    def __init__(self, root: Any) -> None:
        self.counts: dict[int, int] = {}
        self.ids: dict[int, int] = {}
        self.active: dict[int, dict[str, Any]] = {}
        self._count(root)

    def _count(self, root: Any) -> None:
        stack = [root]
        counts = self.counts
        while stack:
            v = stack.pop()
            if isinstance(v, JavaWriteAborted):
                stack.append(v.exception)
                continue
            if isinstance(v, _LEAVES):
                if len(v) >= SHARED_LEAF_MIN:
                    counts[id(v)] = counts.get(id(v), 0) + 1
                continue
            if not isinstance(v, _CONTAINERS):
                continue
            k = id(v)
            c = counts.get(k, 0)
            counts[k] = c + 1
            if c:
                continue
            if isinstance(v, dict):
                stack.extend(v.keys())
                stack.extend(v.values())
                if isinstance(v, JavaTreeMap):
                    stack.append(v.comparator)
            elif isinstance(v, JavaObject):
                for cd in v.class_data:
                    stack.extend(cd.values)
                    if cd.annotations:
                        stack.extend(cd.annotations)
            else:
                stack.extend(v)

    def render(self, v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, _LEAVES) and len(v) >= SHARED_LEAF_MIN and self.counts.get(id(v), 0) > 1:
            k = id(v)
            if k in self.ids:
                return {"class": _class_of(v), "ref": self.ids[k]}
            self.ids[k] = len(self.ids) + 1
            out = self._leaf(v)
            out["id"] = self.ids[k]
            return out
        return self._leaf(v)

    def _leaf(self, v: Any) -> Any:
        if isinstance(v, _CONTAINERS):
            k = id(v)
            if k in self.ids:
                return {"class": self._name(v), "ref": self.ids[k]}
            if k in self.active:  # a cycle the counting pass did not see
                self.ids[k] = len(self.ids) + 1
                self.active[k]["id"] = self.ids[k]
                return {"class": self._name(v), "ref": self.ids[k]}
            out: dict[str, Any] = {"class": self._name(v)}
            if self.counts.get(k, 0) > 1:
                self.ids[k] = len(self.ids) + 1
                out["id"] = self.ids[k]
            self.active[k] = out
            try:
                self._fill(v, out)
            finally:
                del self.active[k]
            return out
        if isinstance(v, JavaBoolean):
            return {"class": "java.lang.Boolean", "value": v.value}
        if isinstance(v, (bytes, bytearray)):
            return {"class": "[B", "value": base64.b64encode(bytes(v)).decode("ascii")}
        if isinstance(v, JavaDate):
            return {"class": "java.util.Date", "value": iso_time(v.millis), "millis": _num(v.millis)}
        if isinstance(v, JavaEnum):
            return {"class": v.class_name, "value": str(v.name)}
        if isinstance(v, JavaClass):
            return {"class": "java.lang.Class", "value": v.name}
        if isinstance(v, ClassDesc):
            return {"class": "java.io.ObjectStreamClass", "value": v.name}
        if isinstance(v, BlockData):
            return {"class": "blockdata", "value": base64.b64encode(v.data).decode("ascii")}
        if v is RESET:
            return {"class": "reset"}
        if isinstance(v, JavaWriteAborted):
            return {"class": "writeaborted", "exception": self.render(v.exception)}
        if isinstance(v, JavaCharacter):
            return {"class": "java.lang.Character", "value": str(v)}
        if isinstance(v, str):
            return {"class": "java.lang.String", "value": str(v)}
        if isinstance(v, (bool, int, float)):
            return {"class": _class_of(v), "value": _num(v)}
        return {"class": type(v).__name__, "value": repr(v)}

    def _name(self, v: Any) -> str:
        if isinstance(v, JavaObject):
            return v.class_name
        if isinstance(v, JavaArray):
            return v.class_name
        return _class_of(v)

    def _fill(self, v: Any, out: dict[str, Any]) -> None:
        r = self.render
        if isinstance(v, JavaObject):
            fields: dict[str, Any] = {}
            custom: list[Any] = []
            for cd in v.class_data:
                for f, x in zip(cd.desc.fields, cd.values):
                    fields[f.name] = _num(x) if f.classname is None else r(x)
                if cd.annotations:
                    custom.extend(r(x) for x in cd.annotations)
            out["fields"] = fields
            if custom:
                out["custom"] = custom
        elif isinstance(v, JavaArray):
            if v.component in "BCDFIJSZ":
                out["value"] = [_num(x) for x in v]
            else:
                out["value"] = [r(x) for x in v]
        elif isinstance(v, dict):
            out["value"] = [[r(k), r(x)] for k, x in v.items()]
            if isinstance(v, JavaTreeMap) and v.comparator is not None:
                out["comparator"] = r(v.comparator)
        else:
            out["value"] = [r(x) for x in v]


def to_json(value: Any) -> Any:
    """A JSON-ready rendering of a decoded (or Python-built) value."""
    _ensure_recursion(DEFAULT_LIMITS.max_depth)
    return _Renderer(value).render(value)


__all__ = ["to_json"]
