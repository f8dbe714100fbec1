"""Session attribute values between Python frameworks and Java (``tribes.javaser``).

=====================  ==========================  ===============================================
Python                 Java                        note
=====================  ==========================  ===============================================
str                    String
int                    Integer (Long above 32 bit)  an attribute that is already a Long/Short/Byte
                                                   keeps that type when Python writes an int
float                  Double                      an existing Float stays a Float
bool                   Boolean
bytes / bytearray      byte[]
list / tuple           ArrayList                   a tuple reads back as a list
dict                   HashMap
set                    HashSet
None                   (removes the attribute)
JavaObject             the same object             opaque, read-only: it survives untouched
=====================  ==========================  ===============================================

Anything else raises ``TypeError`` naming the attribute.
"""
from __future__ import annotations

from typing import Any

from tribes import javaser as j

__all__ = ["coerce_like", "encode_attribute", "decode_attribute", "is_mutable"]

_INT_RANGES: list[tuple[type, int]] = [(j.JavaInteger, 32), (j.JavaLong, 64), (j.JavaShort, 16), (j.JavaByte, 8)]


def coerce_like(old: Any, new: Any) -> Any:
    """``new`` in the Java type of ``old`` when ``old`` is a boxed number and ``new`` a plain one
    that fits (an Integer stays an Integer, a Long a Long); otherwise ``new`` unchanged."""
    if old is None or new is None:
        return new
    t = type(new)
    if t is int:
        for cls, bits in _INT_RANGES:
            if isinstance(old, cls):
                lim = 1 << (bits - 1)
                return cls(new) if -lim <= new < lim else new
        if isinstance(old, (j.JavaDouble, j.JavaFloat)):
            return type(old)(float(new))
        return new
    if t is float:
        if isinstance(old, (j.JavaDouble, j.JavaFloat)):
            return type(old)(new)
        return new
    return new


def encode_attribute(name: str, value: Any) -> bytes:
    """The Java serialization stream of one attribute value; ``TypeError`` naming the attribute."""
    try:
        return j.dumps(value)
    except (j.JavaSerializationError, TypeError, OverflowError, ValueError, RecursionError) as exc:
        raise TypeError(f"session attribute {name!r}: a {type(value).__module__}.{type(value).__qualname__} "
                        f"value cannot be mapped to Java ({exc}); use str, int, float, bool, bytes, list, "
                        f"tuple, dict, set or None") from None


def decode_attribute(name: str, data: bytes) -> Any:
    return j.loads(data)


def is_mutable(value: Any) -> bool:
    """Values that may change in place (re-encoded at the end of a request to catch that)."""
    return isinstance(value, (list, dict, set, bytearray))
