"""ObjectOutputStream: writes Python values as Java's ObjectOutputStream writes the Java values.

Primitive writes (``write_int``, ``write_utf``, ...) go to a block-data buffer that is cut into
1024-byte records and flushed before every object, on ``flush()`` and in ``getvalue()``, exactly
as java.io.ObjectOutputStream does it. Handles follow Java's rules: an object written twice
(the same Python object) becomes a back-reference; class descriptors and field type strings are
shared per class / per signature, as they are in Java.
"""

import struct
from typing import Any, Callable

try:
    import cython
except ImportError:  # pragma: no cover - Cython not installed: the declarations do nothing
    from . import _cyshim as cython  # type: ignore[no-redef]

from . import mutf8
from . import constants as _c
from .constants import (
    STREAM_HEADER,
)
from .errors import DEFAULT_LIMITS, JavaSerializationError, LimitExceeded, Limits
from .known import (
    ARRAYLIST,
    BOOLEAN,
    BYTE_ARRAY,
    DATE,
    HASHMAP,
    HASHSET,
    LINKEDHASHMAP,
    LINKEDLIST,
    TREEMAP,
    WRAPPERS,
    hashmap_capacity,
    hashmap_order,
    natural_order,
)
from .layout import _FMT, chain, conv_out, layout
from .reader import C_DEPTH_WHAT, _ensure_recursion
from .reader import C_MAX_DEPTH as _C_MAX_DEPTH
from .values import (
    RESET,
    BlockData,
    ClassDesc,
    JavaArray,
    JavaArrayList,
    JavaBoolean,
    JavaByte,
    JavaByteArray,
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
    JavaString,
    JavaTreeMap,
    JavaWriteAborted,
)

_I = struct.Struct(">i")
_Q = struct.Struct(">q")
_H = struct.Struct(">H")
_h = struct.Struct(">h")
_F = struct.Struct(">f")
_D = struct.Struct(">d")
_REF = struct.Struct(">BI")

# type codes and flags as C constants when compiled (same values as .constants)
BASE_WIRE_HANDLE = cython.declare(cython.Py_ssize_t, _c.BASE_WIRE_HANDLE)
MAX_BLOCK_SIZE = cython.declare(cython.Py_ssize_t, _c.MAX_BLOCK_SIZE)
SC_EXTERNALIZABLE = cython.declare(cython.int, _c.SC_EXTERNALIZABLE)
SC_SERIALIZABLE = cython.declare(cython.int, _c.SC_SERIALIZABLE)
SC_WRITE_METHOD = cython.declare(cython.int, _c.SC_WRITE_METHOD)
TC_ARRAY = cython.declare(cython.int, _c.TC_ARRAY)
TC_BLOCKDATA = cython.declare(cython.int, _c.TC_BLOCKDATA)
TC_BLOCKDATALONG = cython.declare(cython.int, _c.TC_BLOCKDATALONG)
TC_CLASS = cython.declare(cython.int, _c.TC_CLASS)
TC_CLASSDESC = cython.declare(cython.int, _c.TC_CLASSDESC)
TC_ENDBLOCKDATA = cython.declare(cython.int, _c.TC_ENDBLOCKDATA)
TC_ENUM = cython.declare(cython.int, _c.TC_ENUM)
TC_EXCEPTION = cython.declare(cython.int, _c.TC_EXCEPTION)
TC_LONGSTRING = cython.declare(cython.int, _c.TC_LONGSTRING)
TC_NULL = cython.declare(cython.int, _c.TC_NULL)
TC_OBJECT = cython.declare(cython.int, _c.TC_OBJECT)
TC_PROXYCLASSDESC = cython.declare(cython.int, _c.TC_PROXYCLASSDESC)
TC_REFERENCE = cython.declare(cython.int, _c.TC_REFERENCE)
TC_RESET = cython.declare(cython.int, _c.TC_RESET)
TC_STRING = cython.declare(cython.int, _c.TC_STRING)

C_MAX_DEPTH = cython.declare(cython.Py_ssize_t, _C_MAX_DEPTH)  # see reader.C_MAX_DEPTH
_MISSING = object()



@cython.cfunc
@cython.inline
@cython.locals(out=bytearray, h=cython.Py_ssize_t, v=cython.uint)
def _put_ref(out: bytearray, h: int) -> None:
    """TC_REFERENCE to handle ``h``."""
    if cython.compiled:
        v = BASE_WIRE_HANDLE + h
        out.append(TC_REFERENCE)
        out.append(v >> 24)
        out.append((v >> 16) & 0xFF)
        out.append((v >> 8) & 0xFF)
        out.append(v & 0xFF)
    else:
        out += _REF.pack(TC_REFERENCE, BASE_WIRE_HANDLE + h)


@cython.cfunc
@cython.inline
@cython.locals(out=bytearray, v=cython.uint)
def _put_i32(out: bytearray, v: int) -> None:
    """A 32-bit value (signed or not: the caller checked the range) big-endian."""
    if cython.compiled:
        out.append(v >> 24)
        out.append((v >> 16) & 0xFF)
        out.append((v >> 8) & 0xFF)
        out.append(v & 0xFF)
    else:
        out += _I.pack(v - (1 << 32) if v >= 1 << 31 else v)


@cython.cfunc
@cython.inline
@cython.locals(out=bytearray, v=cython.ulonglong)
def _put_i64(out: bytearray, v: int) -> None:
    """A 64-bit value (the caller checked the range) big-endian."""
    if cython.compiled:
        _put_i32(out, cython.cast(cython.uint, v >> 32))
        _put_i32(out, cython.cast(cython.uint, v & 0xFFFFFFFF))
    else:
        out += _Q.pack(v - (1 << 64) if v >= 1 << 63 else v)

@cython.cfunc
@cython.inline
def _enc(s: Any) -> bytes:
    """Modified UTF-8 of a string: its ``raw`` bytes when a JavaString keeps them (a plain str
    has no attributes: no lookup), ASCII without NUL as is, else mutf8.encode."""
    if type(s) is str:
        if s.isascii() and "\x00" not in s:
            return s.encode("ascii")
        return mutf8.encode(s)
    raw = getattr(s, "raw", None)
    return raw if raw is not None else mutf8.encode(s)


@cython.cfunc
@cython.inline
@cython.locals(out=bytearray)
def _put_i32_checked(out: bytearray, v: int) -> None:
    """A Java int field: ``v`` big-endian, or struct.error (reported by write_object) when it
    does not fit 32 signed bits."""
    if -0x80000000 <= v <= 0x7FFFFFFF:
        _put_i32(out, v & 0xFFFFFFFF)
    else:
        out += _I.pack(v)  # raises struct.error


_WSTRUCT = {fmt: struct.Struct(fmt) for fmt in (">i", ">q", ">h", ">b", ">f", ">d", ">H")}


@cython.cfunc
@cython.inline
@cython.locals(o=object)
def _oid(o: Any) -> int:
    """``id(o)`` (the compiled writer reads the address directly: no builtin call, no audit hook)."""
    if cython.compiled:
        return cython.cast(cython.size_t, cython.cast(cython.p_void, o))
    return id(o)


@cython.cclass
class ObjectOutputStream:
    """Builds one serialization stream in memory; ``getvalue()`` returns its bytes."""

    # typed attributes when compiled by _cwriter.pyx (plain attributes in pure Python)
    limits = cython.declare(object, visibility="public")
    _out = cython.declare(bytearray, visibility="public")
    _blk = cython.declare(bytearray, visibility="public")
    _depth = cython.declare(cython.Py_ssize_t, visibility="public")
    _max_depth = cython.declare(cython.Py_ssize_t, visibility="public")
    _max_total_bytes = cython.declare(cython.Py_ssize_t, visibility="public")
    _next = cython.declare(cython.Py_ssize_t, visibility="public")
    _h = cython.declare(dict, visibility="public")
    _dn = cython.declare(dict, visibility="public")
    _dk = cython.declare(dict, visibility="public")
    _keep = cython.declare(list, visibility="public")

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        _ensure_recursion(limits.max_depth)
        self._max_depth = limits.max_depth
        self._max_total_bytes = limits.max_total_bytes
        self._out = bytearray(STREAM_HEADER)
        self._blk = bytearray()
        self._depth = 0
        self._clear()

    @cython.ccall
    def _clear(self) -> None:
        # _oid(obj) (objects written, descriptor objects) / ('d', desc key) / ('t', str) / ('e', ...)
        # -> handle; the objects stay alive in _keep. The compiled writer (_cwriter.pyx) keeps the
        # _oid(obj) entries in a C table instead: all of them go through _handle_of / _bind.
        self._h = {}
        # class name -> [(descriptor, handle)]: descriptors written, found by name first (a str
        # hash is cached; a descriptor key is a nested tuple, costly to hash and compare)
        self._dn = {}
        # class name -> {descriptor key: handle} once a name has more than _DESC_SCAN descriptors
        # (8,000 Class keys of one name, received from a peer and written back in a state
        # transfer, would otherwise make writing quadratic)
        self._dk = {}
        self._next = 0
        self._keep = []

    # ------------------------------------------------------------------ primitives (block data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """``write(byte[])``: raw bytes as primitive data."""
        self._blk += data

    def write_boolean(self, v: bool) -> None:
        self._blk.append(1 if v else 0)

    def write_byte(self, v: int) -> None:
        self._blk.append(v & 0xFF)

    def write_short(self, v: int) -> None:
        self._blk += _H.pack(v & 0xFFFF)

    def write_char(self, v: str | int) -> None:
        self._blk += _H.pack((ord(v) if isinstance(v, str) else v) & 0xFFFF)

    def write_int(self, v: int) -> None:
        self._blk += _I.pack(_wrap(v, 32))

    def write_long(self, v: int) -> None:
        self._blk += _Q.pack(_wrap(v, 64))

    def write_float(self, v: float) -> None:
        self._blk += _F.pack(v)

    def write_double(self, v: float) -> None:
        self._blk += _D.pack(v)

    def write_bytes(self, s: str) -> None:
        """``writeBytes(String)``: the low byte of each char."""
        self._blk += bytes(ord(c) & 0xFF for c in s)

    def write_chars(self, s: str) -> None:
        self._blk += s.encode("utf-16-be", "surrogatepass")

    def write_utf(self, s: str) -> None:
        """``writeUTF(String)``: u2 length + modified UTF-8 (at most 65535 bytes)."""
        enc = _enc(s)
        if len(enc) > 0xFFFF:
            raise JavaSerializationError(
                f"writeUTF takes at most 65535 bytes of modified UTF-8, this string needs {len(enc)}"
            )
        self._blk += _H.pack(len(enc))
        self._blk += enc

    @cython.ccall
    @cython.locals(n=cython.Py_ssize_t, start=cython.Py_ssize_t, out=bytearray, blk=bytearray)
    def _drain(self) -> None:
        blk = self._blk
        if not blk:
            return
        out = self._out
        n = len(blk)
        for start in range(0, n, MAX_BLOCK_SIZE):
            chunk = blk[start : start + MAX_BLOCK_SIZE]
            if len(chunk) <= 0xFF:
                out.append(TC_BLOCKDATA)
                out.append(len(chunk))
            else:
                out.append(TC_BLOCKDATALONG)
                out += _I.pack(len(chunk))
            out += chunk
        self._blk = bytearray()

    def flush(self) -> None:
        """Write pending primitive data as block-data records (Java's ``flush()``)."""
        self._drain()

    def getvalue(self) -> bytes:
        """The stream so far (pending primitive data flushed first, as ``close()`` would)."""
        self._drain()
        return bytes(self._out)

    def reset(self) -> None:
        """``reset()``: TC_RESET; objects written before are written anew afterwards."""
        self._drain()
        self._out.append(TC_RESET)
        self._clear()

    # ------------------------------------------------------------------ objects (public)

    def write_object(self, value: Any) -> None:
        """``writeObject(obj)``. On failure nothing of the object is left in the stream."""
        if self._blk:
            self._drain()
        out_len = len(self._out)
        keep_len = len(self._keep)
        next_h = self._next
        try:
            self._w(value)
        except BaseException as exc:
            self._rollback(out_len, keep_len, next_h)
            if isinstance(exc, RecursionError):
                raise LimitExceeded("max_depth", self._max_depth, self._max_depth + 1, "nesting depth") from None
            if isinstance(exc, (struct.error, OverflowError, ValueError, TypeError)) and not isinstance(
                exc, JavaSerializationError
            ):
                raise JavaSerializationError(f"cannot write {type(value).__name__}: {exc}") from exc
            raise
        if len(self._out) > self._max_total_bytes:
            raise LimitExceeded("max_total_bytes", self._max_total_bytes, len(self._out), "stream size")

    @cython.ccall
    @cython.locals(out_len=cython.Py_ssize_t, keep_len=cython.Py_ssize_t, next_h=cython.Py_ssize_t)
    def _rollback(self, out_len: int, keep_len: int, next_h: int) -> None:
        """Forget everything a failed write_object did (handles at or above ``next_h``)."""
        del self._out[out_len:]
        self._h = {k: h for k, h in self._h.items() if h < next_h}
        self._dn = {n: [e for e in lst if e[1] < next_h] for n, lst in self._dn.items()}
        self._dk = {}
        for n, lst in self._dn.items():
            if len(lst) > _DESC_SCAN:
                self._dk[n] = _key_table(lst)
        del self._keep[keep_len:]
        self._next = next_h
        self._depth = 0

    def write_block_record(self, data: bytes, long_header: bool | None = None) -> None:
        """Write one block-data record exactly (for re-emitting streams record by record)."""
        self._drain()
        _emit_block(self._out, BlockData(data, long_header))

    def write_content(self, item: Any) -> None:
        """Write an item as ``ObjectInputStream.read_content`` returns it."""
        if type(item) is BlockData:
            self._drain()
            _emit_block(self._out, item)
        elif item is RESET:
            self.reset()
        elif type(item) is JavaWriteAborted:
            self._drain()
            self._out += item.partial
            self._out.append(TC_EXCEPTION)
            self._clear()
            self._w(item.exception)
            self._clear()
        else:
            self.write_object(item)

    # ------------------------------------------------------------------ internals

    @cython.ccall
    @cython.locals(h=cython.Py_ssize_t)
    def _assign(self, key: Any, obj: Any) -> None:
        h = self._next
        self._next = h + 1
        self._h[key] = h
        self._keep.append(obj)

    @cython.ccall
    def _ref(self, key: Any) -> bool:
        """A back-reference for a structural key (a tuple), if one was written."""
        h = self._h.get(key)
        if h is None:
            return False
        _put_ref(self._out, h)
        return True

    @cython.ccall
    @cython.locals(h=cython.Py_ssize_t)
    def _assign_desc(self, d: ClassDesc) -> None:
        """The next handle goes to descriptor ``d``."""
        h = self._next
        self._next = h + 1
        written = self._dn.get(d.name)
        if written is None:
            self._dn[d.name] = [(d, h)]
        else:
            written.append((d, h))
            if len(written) > _DESC_SCAN + 1:
                self._dk[d.name].setdefault(d.key(), h)
            elif len(written) == _DESC_SCAN + 1:
                self._dk[d.name] = _key_table(written)
        self._keep.append(d)

    @cython.ccall
    @cython.exceptval(check=False)
    @cython.returns(cython.Py_ssize_t)
    def _handle_of(self, obj: Any) -> int:
        """The handle this very object (by identity) was written under, or -1."""
        h = self._h.get(_oid(obj))
        return -1 if h is None else h

    @cython.ccall
    @cython.locals(h=cython.Py_ssize_t)
    def _bind(self, obj: Any, h: int) -> None:
        """This very object (by identity) now refers to handle ``h``; it is kept alive."""
        self._h[_oid(obj)] = h
        self._keep.append(obj)

    @cython.ccall
    @cython.locals(h=cython.Py_ssize_t)
    def _ref_obj(self, obj: Any) -> bool:
        """A back-reference to this very object, if it was written."""
        h = self._handle_of(obj)
        if h < 0:
            return False
        _put_ref(self._out, h)
        return True

    @cython.ccall
    @cython.locals(h=cython.Py_ssize_t)
    def _assign_obj(self, obj: Any) -> None:
        """The next handle goes to this very object."""
        h = self._next
        self._next = h + 1
        self._bind(obj, h)

    @cython.ccall
    def _w(self, v: Any) -> None:
        if v is None:
            self._out.append(TC_NULL)
            return
        t = type(v)
        # the most common types first (the same methods _DISPATCH maps them to)
        if t is str:
            self._w_str(v)
            return
        if t is JavaInteger or t is JavaLong:
            self._w_wrapper(v)
            return
        if t is JavaObject:
            self._w_object(v)
            return
        if t is bool:
            self._w_bool(v)
            return
        if t is JavaHashMap or t is dict:
            self._w_hashmap(v)
            return
        if t is JavaArrayList or t is list:
            self._w_arraylist(v)
            return
        if t is bytes:
            self._w_bytes(v)
            return
        if t is JavaDate:
            self._w_date(v)
            return
        f = _DISPATCH.get(t)
        if f is None:
            f = _resolve(type(v))
        f(self, v)

    @cython.ccall
    def _enter(self) -> None:
        self._depth += 1
        if self._depth > self._max_depth:
            raise LimitExceeded("max_depth", self._max_depth, self._depth, "nesting depth")
        if cython.compiled and self._depth > C_MAX_DEPTH:
            raise LimitExceeded("max_depth", C_MAX_DEPTH, self._depth, C_DEPTH_WHAT)

    # strings

    @cython.ccall
    @cython.locals(out=bytearray)
    def _new_string(self, s: str) -> None:
        self._out += _string_bytes(s)

    @cython.ccall
    @cython.locals(out=bytearray, n=cython.Py_ssize_t)
    def _w_str(self, s: str) -> None:
        if self._ref_obj(s):
            return
        self._assign_obj(s)
        out = self._out
        if type(s) is str and s.isascii() and len(s) <= 0xFFFF and "\x00" not in s:
            n = len(s)
            out.append(TC_STRING)
            out.append(n >> 8)
            out.append(n & 0xFF)
            out += s.encode("ascii")
        else:
            self._new_string(s)

    @cython.ccall
    def _w_type_string(self, s: str, wire: bytes) -> None:
        """A field type string: a back-reference to it or to an equal one (Java interns them),
        else ``wire``, its bytes as a new string (made once per descriptor: _desc_wire)."""
        if self._ref_obj(s):
            return
        exact = type(s) is str
        unshared = not exact and getattr(s, "unshared", False)
        tkey = ("t", s if exact else str(s))
        if not unshared and self._ref(tkey):
            return
        self._assign_obj(s)
        if not unshared:
            self._h[tkey] = self._next - 1
        self._out += wire

    @cython.ccall
    def _w_utf_raw(self, s: str) -> None:
        enc = _enc(s)
        if len(enc) > 0xFFFF:
            raise JavaSerializationError(f"name {s[:40]!r}... longer than 65535 bytes")
        self._out += _H.pack(len(enc))
        self._out += enc

    # class descriptors

    @cython.ccall
    @cython.locals(out=bytearray)
    def _w_desc(self, d: ClassDesc | None) -> None:
        if d is None:
            self._out.append(TC_NULL)
            return
        if self._ref_obj(d):  # fast path: this very descriptor object was written already
            return
        written = self._dn.get(d.name)
        if written and len(written) > _DESC_SCAN:
            found = self._dk[d.name].get(d.key())
            if found is not None:   # an equal descriptor (same class) was written: Java shares it
                self._bind(d, found)
                _put_ref(self._out, found)
                return
        elif written:
            key = d.key()
            for other, h in written:
                if other.key() == key:  # an equal descriptor (same class) was written: Java shares it
                    self._bind(d, h)
                    _put_ref(self._out, h)
                    return
        self._bind(d, self._next)
        self._enter()
        out = self._out
        if d.proxy_interfaces is not None:
            out.append(TC_PROXYCLASSDESC)
            self._assign_desc(d)
            out += _I.pack(len(d.proxy_interfaces))
            for name in d.proxy_interfaces:
                self._w_utf_raw(name)
        else:
            out.append(TC_CLASSDESC)
            self._assign_desc(d)
            # name, suid, flags and fields as bytes, made once per descriptor, with the field type
            # strings between them (those are written per stream: new, or a back-reference)
            segs = d._wire
            if segs is None:
                segs = d._wire = _desc_wire(d)
            out += segs[0]
            n = len(segs)
            for i in range(1, n, 3):
                self._w_type_string(segs[i], segs[i + 1])
                out += segs[i + 2]
        self._w_items(d.annotations)
        self._w_desc(d.superclass)
        self._depth -= 1

    @cython.ccall
    @cython.locals(out=bytearray)
    def _w_items(self, items: list[Any] | None) -> None:
        if items:
            out = self._out
            for it in items:
                if type(it) is BlockData:
                    _emit_block(out, it)
                else:
                    self._w(it)
        self._out.append(TC_ENDBLOCKDATA)

    # wrappers

    @cython.ccall
    @cython.locals(out=bytearray)
    def _w_wrapper(self, v: Any) -> None:
        if self._ref_obj(v):
            return
        out = self._out
        t = type(v)
        desc, fmt = WRAPPERS[t]
        out.append(TC_OBJECT)
        self._w_desc(desc)
        self._assign_obj(v)
        if t is JavaInteger and -0x80000000 <= v <= 0x7FFFFFFF:
            _put_i32(out, v & 0xFFFFFFFF)
        elif t is JavaLong and -0x8000000000000000 <= v <= 0x7FFFFFFFFFFFFFFF:
            _put_i64(out, v & 0xFFFFFFFFFFFFFFFF)
        elif t is JavaCharacter:
            out += _H.pack(ord(v))
        elif t is JavaFloat and getattr(v, "bits", None) is not None:
            bits = v.bits  # type: ignore[attr-defined]
            out += _I.pack(bits - (1 << 32) if bits >= 1 << 31 else bits)
        else:
            out += _WSTRUCT[fmt].pack(v)

    @cython.ccall
    def _w_bool(self, v: Any) -> None:
        if self._ref_obj(v):
            return
        self._out.append(TC_OBJECT)
        self._w_desc(BOOLEAN)
        self._assign_obj(v)
        self._out.append(1 if v else 0)

    @cython.ccall
    def _w_int(self, v: int) -> None:
        if -(1 << 31) <= v < (1 << 31):
            self._w_wrapper(JavaInteger.value_of(v))
        elif -(1 << 63) <= v < (1 << 63):
            self._w_wrapper(JavaLong.value_of(v))
        else:
            raise JavaSerializationError(f"{v} does not fit a Java long; use a JavaObject for BigInteger")

    @cython.ccall
    def _w_float(self, v: float) -> None:
        self._w_wrapper(JavaDouble(v))

    # arrays

    @cython.ccall
    def _w_bytes(self, v: bytes) -> None:
        if self._ref_obj(v):
            return
        self._enter()
        self._out.append(TC_ARRAY)
        self._w_desc(BYTE_ARRAY)
        self._assign_obj(v)
        self._out += _I.pack(len(v))
        self._out += v
        self._depth -= 1

    @cython.ccall
    @cython.locals(out=bytearray)
    def _w_array(self, v: JavaArray) -> None:
        if self._ref_obj(v):
            return
        self._enter()
        desc = v.desc
        out = self._out
        out.append(TC_ARRAY)
        self._w_desc(desc)
        self._assign_obj(v)
        out += _I.pack(len(v))
        code = desc.name[1]
        if code in _FMT:
            if code in "ZCF":
                vals = []
                for x in v:
                    bits = getattr(x, "bits", None) if code == "F" else None
                    vals.append(bits if bits is not None else conv_out(code, x))
                if code == "F":
                    for x, y in zip(v, vals):
                        b = getattr(x, "bits", None)
                        out += _I.pack(b - (1 << 32) if b >= 1 << 31 else b) if b is not None else _F.pack(y)
                else:
                    out += struct.pack(f">{len(vals)}{_FMT[code]}", *vals)
            else:
                out += struct.pack(f">{len(v)}{_FMT[code]}", *v)
        else:
            for x in v:
                self._w(x)
        self._depth -= 1

    # objects

    @cython.ccall
    def _begin(self, v: Any, desc: ClassDesc) -> bool:
        if self._ref_obj(v):
            return False
        self._enter()
        self._out.append(TC_OBJECT)
        self._w_desc(desc)
        self._assign_obj(v)
        return True

    @cython.ccall
    @cython.locals(out=bytearray)
    def _w_elements_block(self, header: bytes, items: Any) -> None:
        out = self._out
        out.append(TC_BLOCKDATA)
        out.append(len(header))
        out += header
        for x in items:
            self._w(x)
        out.append(TC_ENDBLOCKDATA)

    @cython.ccall
    @cython.locals(n=cython.Py_ssize_t, out=bytearray)
    def _w_arraylist(self, v: list) -> None:
        if not self._begin(v, ARRAYLIST):
            return
        n = len(v)
        if n > 0x7FFFFFFF:
            raise JavaSerializationError(f"a list of {n} elements does not fit a Java ArrayList")
        out = self._out
        _put_i32(out, n)  # the size field, then writeObject's block: the size again, the elements
        out.append(TC_BLOCKDATA)
        out.append(4)
        _put_i32(out, n)
        for x in list(v):
            self._w(x)
        out.append(TC_ENDBLOCKDATA)
        self._depth -= 1

    @cython.ccall
    def _w_linkedlist(self, v: JavaLinkedList) -> None:
        if not self._begin(v, LINKEDLIST):
            return
        self._w_elements_block(_I.pack(len(v)), list(v))
        self._depth -= 1

    @cython.ccall
    def _map_layout(self, v: dict) -> tuple[float, int, int, list[Any]]:
        keys = list(v)
        buckets = getattr(v, "buckets", None)
        lf = getattr(v, "load_factor", 0.75)
        if buckets is None:
            buckets, thr = hashmap_capacity(len(keys), lf)
            if type(v) is not JavaLinkedHashMap:
                keys = hashmap_order(keys, buckets) or keys
        else:
            thr = v.threshold if v.threshold is not None else hashmap_capacity(len(keys), lf)[1]  # type: ignore[attr-defined]
        return lf, thr, buckets, keys

    @cython.ccall
    @cython.locals(out=bytearray)
    def _w_hashmap(self, v: dict) -> None:
        linked = type(v) is JavaLinkedHashMap
        if not self._begin(v, LINKEDHASHMAP if linked else HASHMAP):
            return
        lf, thr, buckets, keys = self._map_layout(v)
        out = self._out
        out += _F.pack(lf)
        _put_i32_checked(out, thr)
        out.append(TC_BLOCKDATA)
        out.append(8)
        _put_i32_checked(out, buckets)
        _put_i32_checked(out, len(keys))
        for k in keys:
            self._w(k)
            self._w(v[k])
        out.append(TC_ENDBLOCKDATA)
        if linked:
            self._out.append(1 if v.access_order else 0)  # type: ignore[attr-defined]
        self._depth -= 1

    @cython.ccall
    def _w_treemap(self, v: JavaTreeMap) -> None:
        if not self._begin(v, TREEMAP):
            return
        comparator = getattr(v, "comparator", None)
        self._w(comparator)
        keys = list(v)
        if comparator is None:
            keys = natural_order(keys) or keys
        pairs = []
        for k in keys:
            pairs.append(k)
            pairs.append(v[k])
        self._w_elements_block(_I.pack(len(keys)), pairs)
        self._depth -= 1

    @cython.ccall
    def _w_hashset(self, v: Any) -> None:
        if not self._begin(v, HASHSET):
            return
        items = list(v)
        cap = getattr(v, "capacity", None)
        lf = getattr(v, "load_factor", 0.75)
        if cap is None:
            cap, _thr = hashmap_capacity(len(items), lf)
            items = hashmap_order(items, cap) or items
        self._w_elements_block(_I.pack(cap) + _F.pack(lf) + _I.pack(len(items)), items)
        self._depth -= 1

    @cython.ccall
    @cython.locals(out=bytearray)
    def _w_date(self, v: JavaDate) -> None:
        if not self._begin(v, DATE):
            return
        out = self._out
        out.append(TC_BLOCKDATA)
        out.append(8)
        out += _Q.pack(v.millis)
        out.append(TC_ENDBLOCKDATA)
        self._depth -= 1

    @cython.ccall
    def _w_enum(self, v: JavaEnum) -> None:
        key = ("e", v.desc.key(), str(v.name)) if not v.distinct else None
        if self._ref_obj(v) if key is None else self._ref(key):
            return
        self._enter()
        self._out.append(TC_ENUM)
        self._w_desc(v.desc)
        if key is None:
            self._assign_obj(v)
        else:
            self._assign(key, v)
        name = v.name
        self._assign_obj(name)
        self._new_string(name)
        self._depth -= 1

    @cython.ccall
    def _w_class(self, v: JavaClass) -> None:
        k = ("c", v.desc.key()) if not v.distinct else None
        if self._ref_obj(v) if k is None else self._ref(k):
            return
        self._out.append(TC_CLASS)
        self._w_desc(v.desc)
        if k is None:
            self._assign_obj(v)
        else:
            self._assign(k, v)

    @cython.ccall
    def _w_object(self, v: JavaObject) -> None:
        if not self._begin(v, v.desc):
            return
        if v.desc.flags & SC_EXTERNALIZABLE:
            if len(v.class_data) != 1:
                raise JavaSerializationError(f"externalizable {v.desc.name} needs exactly one ClassData")
            self._w_items(v.class_data[0].annotations)
            self._depth -= 1
            return
        for cd in v.class_data:
            d = cd.desc
            if d.flags & SC_SERIALIZABLE and d.fields:
                self._w_fields(d, cd.values)
            if d.flags & SC_WRITE_METHOD and d.flags & SC_SERIALIZABLE:
                self._w_items(cd.annotations)
        self._depth -= 1

    @cython.ccall
    def _w_fields(self, d: ClassDesc, values: list[Any]) -> None:
        lay = d._layout  # cached on the descriptor (layout.layout)
        if lay is None:
            lay = layout(d)
        if len(values) != lay.nfields:
            raise JavaSerializationError(f"{d.name}: {len(values)} values for {lay.nfields} fields")
        if lay.plain and lay.prims_first:
            # the usual shape: primitives needing no conversion, then the objects
            k = len(lay.prim_idx)
            if k:
                try:
                    packed = lay.struct.pack(*values[:k])
                except (struct.error, TypeError, ValueError):
                    packed = None  # the general path below reports it
                if packed is not None:
                    self._out += packed
                    for i in range(k, len(values)):
                        self._w(values[i])
                    return
            else:
                for x in values:
                    self._w(x)
                return
        if lay.prim_idx:
            codes = lay.prim_codes
            try:
                if lay.plain:
                    prims = [values[i] for i in lay.prim_idx]
                else:
                    prims = [conv_out(c, values[i]) for c, i in zip(codes, lay.prim_idx)]
                packed = bytearray(lay.struct.pack(*prims))
            except (struct.error, TypeError, ValueError) as exc:
                names = [d.fields[i].name for i in lay.prim_idx]
                raise JavaSerializationError(f"{d.name}: bad primitive field value among {names}: {exc}") from exc
            if lay.float_offsets:
                fi = 0
                for c, i in zip(codes, lay.prim_idx):
                    if c == "F":
                        bits = getattr(values[i], "bits", None)
                        if bits is not None:
                            off = lay.float_offsets[fi]
                            packed[off : off + 4] = bits.to_bytes(4, "big")
                        fi += 1
            self._out += packed
        for i in lay.obj_idx:
            self._w(values[i])


def _desc_wire(d: ClassDesc) -> list[Any]:
    """What follows TC_CLASSDESC for ``d`` up to its class annotations: ``[bytes, type string,
    its bytes as a new string, bytes, ..., bytes]``: name, suid, flags, field count and each
    field's type code and name as bytes, each object field's type string (written per stream:
    new, or a back-reference) in between.

    Cached on the descriptor (``ClassDesc._wire``): like its key and layout, a descriptor is not
    changed once it has been written."""
    segs: list[Any] = []
    cur = bytearray(_utf_name(d.name))
    cur += _Q.pack(d.suid)
    cur.append(d.flags & 0xFF)
    cur += _h.pack(len(d.fields))
    for f in d.fields:
        cur.append(ord(f.typecode))
        cur += _utf_name(f.name)
        if f.classname is not None:
            segs.append(bytes(cur))
            segs.append(f.classname)
            segs.append(_string_bytes(f.classname))
            cur = bytearray()
    segs.append(bytes(cur))
    return segs


def _string_bytes(s: str) -> bytes:
    """A new String as writeObject writes it: TC_STRING + u2 length, or TC_LONGSTRING + u8
    length (more than 65535 bytes, or a JavaString read in that form), + modified UTF-8."""
    enc = _enc(s)
    if len(enc) <= 0xFFFF and (type(s) is str or not getattr(s, "long_form", False)):
        return bytes([TC_STRING]) + _H.pack(len(enc)) + enc
    return bytes([TC_LONGSTRING]) + _Q.pack(len(enc)) + enc


def _utf_name(s: str) -> bytes:
    """A name as writeUTF writes it (u2 length + modified UTF-8)."""
    enc = _enc(s)
    if len(enc) > 0xFFFF:
        raise JavaSerializationError(f"name {s[:40]!r}... longer than 65535 bytes")
    return _H.pack(len(enc)) + enc


def _emit_block(out: bytearray, blk: BlockData) -> None:
    n = len(blk.data)
    if blk.long_header:
        out.append(TC_BLOCKDATALONG)
        out += _I.pack(n)
    else:
        if n > 0xFF:
            raise JavaSerializationError(f"a short block data record holds at most 255 bytes, not {n}")
        out.append(TC_BLOCKDATA)
        out.append(n)
    out += blk.data


def _wrap(v: int, bits: int) -> int:
    v = int(v)
    lo = -(1 << (bits - 1))
    if not lo <= v < -lo:
        raise OverflowError(f"{v} does not fit {bits} bits")
    return v


def _w_tuple(self: ObjectOutputStream, v: tuple[Any, ...]) -> None:
    """A tuple travels as an ArrayList (Flask's ``_flashes`` is a list of tuples); it reads back as a list."""
    self._w_arraylist(list(v))


# descriptors of one class name compared one by one up to this many, then through a key table
_DESC_SCAN = 8


def _key_table(written: list[tuple[ClassDesc, int]]) -> dict[Any, int]:
    """{descriptor key: handle of the first descriptor written with it}."""
    table: dict[Any, int] = {}
    for other, h in written:
        table.setdefault(other.key(), h)
    return table


def _m(name: str) -> Callable[[ObjectOutputStream, Any], None]:
    """The method by name, looked up at run time (a plain function in both twins)."""
    return getattr(ObjectOutputStream, name)  # type: ignore[no-any-return]


_DISPATCH: dict[type, Callable[[ObjectOutputStream, Any], None]] = {
    str: _m("_w_str"),
    JavaString: _m("_w_str"),
    bool: _m("_w_bool"),
    JavaBoolean: _m("_w_bool"),
    int: _m("_w_int"),
    float: _m("_w_float"),
    JavaInteger: _m("_w_wrapper"),
    JavaLong: _m("_w_wrapper"),
    JavaShort: _m("_w_wrapper"),
    JavaByte: _m("_w_wrapper"),
    JavaFloat: _m("_w_wrapper"),
    JavaDouble: _m("_w_wrapper"),
    JavaCharacter: _m("_w_wrapper"),
    bytes: _m("_w_bytes"),
    JavaByteArray: _m("_w_bytes"),
    bytearray: _m("_w_bytes"),
    JavaArray: _m("_w_array"),
    list: _m("_w_arraylist"),
    JavaArrayList: _m("_w_arraylist"),
    tuple: _w_tuple,
    JavaLinkedList: _m("_w_linkedlist"),
    dict: _m("_w_hashmap"),
    JavaHashMap: _m("_w_hashmap"),
    JavaLinkedHashMap: _m("_w_hashmap"),
    JavaTreeMap: _m("_w_treemap"),
    set: _m("_w_hashset"),
    frozenset: _m("_w_hashset"),
    JavaHashSet: _m("_w_hashset"),
    JavaDate: _m("_w_date"),
    JavaEnum: _m("_w_enum"),
    JavaClass: _m("_w_class"),
    ClassDesc: _m("_w_desc"),
    JavaObject: _m("_w_object"),
}


def _resolve(t: type) -> Callable[[ObjectOutputStream, Any], None]:
    for base in t.__mro__[1:]:
        f = _DISPATCH.get(base)
        if f is not None:
            if base in (int, float, str, bytes, list, dict, set):
                # a user subclass of a builtin: map like the builtin
                pass
            _DISPATCH[t] = f
            return f

    def fail(self: ObjectOutputStream, v: Any) -> None:
        raise JavaSerializationError(
            f"no Java mapping for Python type {t.__module__}.{t.__qualname__}; "
            "build a JavaObject with a ClassDesc for it"
        )

    return fail
