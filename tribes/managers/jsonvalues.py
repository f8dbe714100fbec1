"""Sessions and Java-typed attribute values as JSON (docs/cli.md conventions) and back.

``value_from_json({"class": "java.lang.Integer", "value": 7})`` -> ``JavaInteger(7)``; the inverse
of ``tribes.javaser.to_json`` for String, boxed primitives, byte[] (base64), ArrayList and HashMap.
``typed_value("Integer", "7")`` is the CLI's ``--java-type``.
"""
from __future__ import annotations

import base64
from typing import Any

from tribes.javaser import (JavaArrayList, JavaByte, JavaDouble, JavaFloat, JavaHashMap, JavaInteger, JavaLong,
                            JavaShort, to_json)

JAVA_TYPES = ("Integer", "Long", "Boolean", "Double", "String")


def typed_value(java_type: str, text: str) -> Any:
    """A value of a simple Java type from its text (``--java-type Integer|Long|Boolean|Double|String``)."""
    t = java_type.rsplit(".", 1)[-1]
    if t == "String":
        return text
    if t == "Integer":
        v = int(text)
        if not -(1 << 31) <= v < (1 << 31):
            raise ValueError(f"{text} does not fit a java.lang.Integer: use --java-type Long")
        return JavaInteger.value_of(v)
    if t == "Long":
        v = int(text)
        if not -(1 << 63) <= v < (1 << 63):
            raise ValueError(f"{text} does not fit a java.lang.Long")
        return JavaLong.value_of(v)
    if t == "Boolean":
        low = text.strip().lower()
        if low not in ("true", "false"):
            raise ValueError(f"{text!r} is not a Boolean: use true or false")
        return low == "true"
    if t == "Double":
        return JavaDouble(float(text))
    raise ValueError(f"unsupported Java type {java_type!r}: use one of {', '.join(JAVA_TYPES)}")


_SIMPLE = {
    "java.lang.Integer": lambda v: JavaInteger.value_of(int(v)),
    "java.lang.Long": lambda v: JavaLong.value_of(int(v)),
    "java.lang.Short": lambda v: JavaShort(int(v)),
    "java.lang.Byte": lambda v: JavaByte(int(v)),
    "java.lang.Double": lambda v: JavaDouble(float(v)),
    "java.lang.Float": lambda v: JavaFloat(float(v)),
    "java.lang.Boolean": lambda v: bool(v) if isinstance(v, bool) else str(v).lower() == "true",
    "java.lang.String": lambda v: str(v),
}


def value_from_json(obj: Any) -> Any:
    """A javaser value from its ``{"class", "value"}`` JSON form (plain JSON scalars are taken
    as String / Integer-or-Long / Double / Boolean)."""
    if obj is None:
        return None
    if isinstance(obj, bool):
        return obj
    if isinstance(obj, int):
        return JavaInteger.value_of(obj) if -(1 << 31) <= obj < (1 << 31) else JavaLong.value_of(obj)
    if isinstance(obj, float):
        return JavaDouble(obj)
    if isinstance(obj, str):
        return obj
    if not isinstance(obj, dict) or "class" not in obj:
        raise ValueError(f"not a typed Java value: {obj!r} (use {{\"class\": ..., \"value\": ...}})")
    cls, val = obj["class"], obj.get("value")
    if cls in _SIMPLE:
        return _SIMPLE[cls](val)
    if cls == "[B":
        return base64.b64decode(val)
    if cls == "java.util.ArrayList":
        return JavaArrayList(value_from_json(x) for x in val)
    if cls == "java.util.HashMap":
        return JavaHashMap((value_from_json(k), value_from_json(v)) for k, v in val)
    raise ValueError(f"cannot build a {cls} from JSON (supported: {', '.join(sorted(_SIMPLE))}, [B, "
                     "java.util.ArrayList, java.util.HashMap)")


def session_json(session: Any, context: str) -> dict[str, Any]:
    """One session as printed by ``tribes sessions --json`` (times ISO 8601 UTC, ms)."""
    from tribes.isotime import iso_time
    from tribes.managers.principal import principal_name
    return {
        "context": context,
        "id": session.id,
        "creationTime": iso_time(session.creation_time),
        "lastAccessedTime": iso_time(session.last_accessed_time),
        "thisAccessedTime": iso_time(session.this_accessed_time),
        "maxInactiveInterval": session.max_inactive_interval,
        "isNew": session.is_new,
        "valid": session.is_valid,
        "primary": session.primary,
        "principal": principal_name(session.principal),
        "authType": session.auth_type,
        "attributes": {k: to_json(v) for k, v in sorted(session.attributes.items())},
    }


__all__ = ["typed_value", "value_from_json", "session_json", "JAVA_TYPES"]
