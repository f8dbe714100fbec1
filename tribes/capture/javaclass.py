"""The class name of a Java-serialized payload, read from the stream's first class descriptor.

Only the stream header and the first tags are looked at (no full deserialization), so this works for
any class, known or not: ``aced0005 73 72 <utf name> ...`` -> the name.
"""
from __future__ import annotations

import gzip
import io
import zlib

STREAM_MAGIC = b"\xac\xed\x00\x05"
TC_NULL, TC_REFERENCE, TC_CLASSDESC, TC_OBJECT, TC_STRING, TC_ARRAY, TC_CLASS = 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76
TC_BLOCKDATA, TC_ENDBLOCKDATA, TC_RESET, TC_BLOCKDATALONG, TC_EXCEPTION, TC_LONGSTRING = 0x77, 0x78, 0x79, 0x7A, 0x7B, 0x7C
TC_PROXYCLASSDESC, TC_ENUM = 0x7D, 0x7E

GZIP_MAGIC = b"\x1f\x8b"


def is_java_serialized(payload: bytes) -> bool:
    return payload[:4] == STREAM_MAGIC


def _utf(data: bytes, pos: int) -> tuple[str, int] | None:
    if pos + 2 > len(data):
        return None
    n = int.from_bytes(data[pos:pos + 2], "big")
    if pos + 2 + n > len(data):
        return None
    return data[pos + 2:pos + 2 + n].decode("utf-8", errors="replace"), pos + 2 + n


def _classdesc_name(data: bytes, pos: int) -> str | None:
    if pos >= len(data):
        return None
    tag = data[pos]
    if tag == TC_CLASSDESC:
        r = _utf(data, pos + 1)
        return r[0] if r else None
    if tag == TC_PROXYCLASSDESC:
        if pos + 5 > len(data):
            return None
        count = int.from_bytes(data[pos + 1:pos + 5], "big")
        names, p = [], pos + 5
        for _ in range(min(count, 64)):
            r = _utf(data, p)
            if r is None:
                return None
            names.append(r[0])
            p = r[1]
        return "proxy[" + ",".join(names) + "]"
    if tag == TC_NULL:
        return None
    return None


def first_class_name(payload: bytes) -> str | None:
    """``java.util.HashMap`` for a serialized HashMap, ``[I`` for an int[], ``java.lang.String``
    for a string; None when the payload is not Java-serialized or starts with block data."""
    data = bytes(payload[:4096])
    if data[:4] != STREAM_MAGIC:
        return None
    pos = 4
    while pos < len(data) and data[pos] == TC_RESET:
        pos += 1
    if pos >= len(data):
        return None
    tag = data[pos]
    if tag in (TC_OBJECT, TC_ARRAY, TC_ENUM, TC_CLASS):
        name = _classdesc_name(data, pos + 1)
        if tag == TC_CLASS and name is not None:
            return "java.lang.Class"
        return name
    if tag in (TC_STRING, TC_LONGSTRING):
        return "java.lang.String"
    if tag == TC_CLASSDESC or tag == TC_PROXYCLASSDESC:
        return "java.io.ObjectStreamClass"
    if tag == TC_NULL:
        return "null"
    return None


def gunzip_prefix(payload: bytes, limit: int = 65536) -> bytes | None:
    """The first ``limit`` bytes of a gzip payload (GzipInterceptor), or None if it is not gzip."""
    if payload[:2] != GZIP_MAGIC:
        return None
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(payload)) as fh:
            return fh.read(limit)
    except (OSError, EOFError, zlib.error):
        return None
