"""Java's modified UTF-8 (DataInput.readUTF / DataOutput.writeUTF).

U+0000 is ``C0 80``; characters outside the BMP travel as two 3-byte surrogates; Python strings
map to Java strings by UTF-16 code units (lone surrogates allowed).
"""
from __future__ import annotations

import re

from .errors import StreamCorruptedError

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _split_astral(m: re.Match[str]) -> str:
    c = ord(m.group()) - 0x10000
    return chr(0xD800 | (c >> 10)) + chr(0xDC00 | (c & 0x3FF))


def encode(s: str) -> bytes:
    """Modified UTF-8 bytes of ``s`` (without the length prefix)."""
    if s.isascii():
        b = s.encode("ascii")
        if b"\x00" in b:
            b = b.replace(b"\x00", b"\xc0\x80")
        return b
    if _ASTRAL.search(s):
        s = _ASTRAL.sub(_split_astral, s)
    b = s.encode("utf-8", "surrogatepass")
    if b"\x00" in b:
        b = b.replace(b"\x00", b"\xc0\x80")
    return b


def utf_length(s: str) -> int:
    """Length of ``encode(s)`` (what Java checks against 65535 in writeUTF)."""
    if s.isascii():
        return len(s) + s.count("\x00")
    return len(encode(s))


def _join_surrogates(s: str) -> str:
    if _SURROGATE.search(s):
        return s.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "surrogatepass")
    return s


def decode(b: bytes, offset: int | None = None) -> tuple[str, bool]:
    """Decode as Java's readUTF does. Returns (string, canonical).

    ``canonical`` is False when Java would write the string with different bytes (an overlong
    form Java accepts on reading, or a raw NUL byte); the caller keeps the raw bytes then.
    """
    if b.isascii():
        if b"\x00" in b:
            return b.decode("ascii"), False
        return b.decode("ascii"), True
    try:
        s = _join_surrogates(b.decode("utf-8", "surrogatepass"))
    except UnicodeDecodeError:
        s = _decode_slow(b, offset)
    return s, encode(s) == b


def _decode_slow(b: bytes, offset: int | None) -> str:
    """Exactly Java's DataInputStream.readUTF acceptance rules."""
    out: list[str] = []
    i = 0
    n = len(b)
    while i < n:
        c = b[i]
        k = c >> 4
        if k <= 7:
            out.append(chr(c))
            i += 1
        elif k in (12, 13):
            if i + 1 >= n:
                raise StreamCorruptedError("malformed modified UTF-8: partial character at end", offset)
            c2 = b[i + 1]
            if c2 & 0xC0 != 0x80:
                raise StreamCorruptedError(f"malformed modified UTF-8 around byte {i}", offset)
            out.append(chr(((c & 0x1F) << 6) | (c2 & 0x3F)))
            i += 2
        elif k == 14:
            if i + 2 >= n:
                raise StreamCorruptedError("malformed modified UTF-8: partial character at end", offset)
            c2, c3 = b[i + 1], b[i + 2]
            if c2 & 0xC0 != 0x80 or c3 & 0xC0 != 0x80:
                raise StreamCorruptedError(f"malformed modified UTF-8 around byte {i + 1}", offset)
            out.append(chr(((c & 0x0F) << 12) | ((c2 & 0x3F) << 6) | (c3 & 0x3F)))
            i += 3
        else:
            raise StreamCorruptedError(f"malformed modified UTF-8 around byte {i}", offset)
    return _join_surrogates("".join(out))
