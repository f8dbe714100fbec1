"""ObjectInputStream: reads Java serialization streams into Python values, never touching a class.

Shaped like java.io.ObjectInputStream: ``read_object()`` interleaved with ``read_int()``,
``read_utf()``, ... over block data, as Tomcat's DeltaRequest.readExternal and
DeltaSession.readObjectData read their streams. ``read_content()`` returns the next top-level
item with its exact shape (a ``BlockData`` record, ``RESET``, a value or a ``JavaWriteAborted``),
which ``loads_all`` uses so that ``dumps_all(loads_all(b)) == b``.
"""

import logging
import struct
import sys
from typing import Any, Callable

try:
    import cython
except ImportError:  # pragma: no cover - Cython not installed: the declarations do nothing
    from . import _cyshim as cython  # type: ignore[no-redef]

from . import mutf8
from . import constants as _c
from .constants import (
    PRIMITIVE_CODES,
    PRIMITIVE_SIZES,
    STREAM_HEADER,
)
from .errors import (
    DEFAULT_LIMITS,
    JavaSerializationError,
    LimitExceeded,
    Limits,
    OptionalDataError,
    StreamCorruptedError,
    TruncatedStreamError,
    WriteAbortedError,
)
from .known import (
    ARRAYLIST,
    BOOLEAN,
    BYTE,
    BYTE_ARRAY,
    CANONICAL,
    CHARACTER,
    DATE,
    DOUBLE,
    FLOAT,
    HASHMAP,
    HASHSET,
    INTEGER,
    LINKEDHASHMAP,
    LINKEDLIST,
    LONG,
    SHORT,
    TREEMAP,
    CollectionClassDesc,
    WrapperClassDesc,
    natural_order,
)
from .layout import _FMT, chain, conv_in, layout
from .values import (
    RESET,
    BlockData,
    ClassData,
    ClassDesc,
    FieldDesc,
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

log = logging.getLogger("tribes.javaser")

_I = struct.Struct(">i")
_Q = struct.Struct(">q")
_H = struct.Struct(">H")
_h = struct.Struct(">h")
_F = struct.Struct(">f")
_D = struct.Struct(">d")
_II = struct.Struct(">ii")
_IFI = struct.Struct(">ifi")

# type codes and flags as C constants when compiled (same values as .constants)
BASE_WIRE_HANDLE = cython.declare(cython.Py_ssize_t, _c.BASE_WIRE_HANDLE)
SC_BLOCK_DATA = cython.declare(cython.int, _c.SC_BLOCK_DATA)
SC_ENUM = cython.declare(cython.int, _c.SC_ENUM)
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


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
@cython.returns(cython.int)
@cython.locals(b=bytes, p=cython.Py_ssize_t, ptr=cython.p_uchar)
def _be_i32(b: bytes, p: int) -> int:
    """Big-endian int32 at ``p`` (the caller checked that 4 bytes are there)."""
    if cython.compiled:
        ptr = cython.cast(cython.p_uchar, cython.cast(cython.p_char, b))
        return cython.cast(cython.int, (cython.cast(cython.uint, ptr[p]) << 24) | (cython.cast(cython.uint, ptr[p + 1]) << 16)
                           | (cython.cast(cython.uint, ptr[p + 2]) << 8) | cython.cast(cython.uint, ptr[p + 3]))
    return _I.unpack_from(b, p)[0]  # type: ignore[no-any-return]


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
@cython.returns(cython.double)
@cython.locals(b=bytes, p=cython.Py_ssize_t, bits=cython.uint, f=cython.float)
def _be_f32(b: bytes, p: int) -> float:
    """Big-endian float32 at ``p`` as a Python float (the caller checked the 4 bytes)."""
    if cython.compiled:
        bits = cython.cast(cython.uint, _be_i32(b, p))
        memcpy(cython.address(f), cython.address(bits), 4)  # noqa: F821 - declared in _creader.pyx
        return f
    return _F.unpack_from(b, p)[0]  # type: ignore[no-any-return]


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
@cython.returns(cython.longlong)
@cython.locals(b=bytes, p=cython.Py_ssize_t)
def _be_i64(b: bytes, p: int) -> int:
    """Big-endian int64 at ``p`` (the caller checked that 8 bytes are there)."""
    if cython.compiled:
        return cython.cast(cython.longlong, (cython.cast(cython.ulonglong, cython.cast(cython.uint, _be_i32(b, p))) << 32)
                           | cython.cast(cython.ulonglong, cython.cast(cython.uint, _be_i32(b, p + 4))))
    return _Q.unpack_from(b, p)[0]  # type: ignore[no-any-return]


class _Pending:
    """Handle of a class descriptor / enum that is still being read."""

    def __repr__(self) -> str:
        return "<pending>"


_PENDING = _Pending()
_NO_FAST = _Pending()  # a fast path does not apply (nothing consumed)
# descriptors of one class name compared one by one up to this many, then by a set of keys
_DESC_SCAN = 8
# collections under construction checked one by one up to this depth, deeper ones by identity in
# a dict (a back-reference deep inside a hostile nesting is O(1); shallow streams pay nothing)
_SCAN_DEPTH = cython.declare(cython.Py_ssize_t, 32)


class _Aborted(Exception):
    def __init__(self, exception: Any, offset: int) -> None:
        super().__init__("write aborted")
        self.exception = exception
        self.offset = offset


class _Restart(Exception):
    """A mapped container was referenced before it turned out not to be mappable."""

    def __init__(self, offset: int) -> None:
        super().__init__("restart")
        self.offset = offset


#: The compiled reader/writer recurse on the C stack (the pure modules do not: Python 3.11 runs
#: Python-to-Python calls without C recursion); past this nesting they stop with LimitExceeded
#: rather than overflow an 8 MiB thread stack. Only matters when Limits.max_depth is raised
#: above it (the default is 1000).
C_MAX_DEPTH = cython.declare(cython.Py_ssize_t, 4000)
C_DEPTH_WHAT = "nesting depth (the bound of the compiled codec; TRIBES_PURE=1 goes deeper)"


def _ensure_recursion(depth: int) -> None:
    need = depth * 8 + 500
    if sys.getrecursionlimit() < need:
        sys.setrecursionlimit(need)


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
@cython.returns(cython.bint)
def _gc_pause() -> bool:
    """Compiled reader: the cyclic GC is paused while one top-level object is read (every object
    made is alive, in the handle table: collections in between would only re-scan them). True
    when it was on (then _gc_resume turns it back on)."""
    if cython.compiled:
        return PyGC_Disable() != 0  # noqa: F821 - declared in _creader.pyx
    return False


@cython.cfunc
@cython.inline
def _gc_resume() -> None:
    if cython.compiled:
        PyGC_Enable()  # noqa: F821 - declared in _creader.pyx


@cython.cfunc
@cython.inline
@cython.locals(o=object)
def _oid(o: Any) -> int:
    """``id(o)`` (the compiled reader reads the address directly: no builtin call, no audit hook)."""
    if cython.compiled:
        return cython.cast(cython.size_t, cython.cast(cython.p_void, o))
    return id(o)


@cython.cclass
class ObjectInputStream:
    """Reads one serialization stream (``AC ED 00 05`` ...) held in memory."""

    # typed attributes when compiled by _creader.pyx (plain attributes in pure Python)
    limits = cython.declare(object, visibility="public")
    _b = cython.declare(bytes, visibility="public")
    _n = cython.declare(cython.Py_ssize_t, visibility="public")
    _pos = cython.declare(cython.Py_ssize_t, visibility="public")
    _blk_left = cython.declare(cython.Py_ssize_t, visibility="public")
    _depth = cython.declare(cython.Py_ssize_t, visibility="public")
    _records = cython.declare(cython.Py_ssize_t, visibility="public")
    _max_depth = cython.declare(cython.Py_ssize_t, visibility="public")
    _max_handles = cython.declare(cython.Py_ssize_t, visibility="public")
    _max_string_length = cython.declare(cython.Py_ssize_t, visibility="public")
    _max_array_length = cython.declare(cython.Py_ssize_t, visibility="public")
    _force_opaque = cython.declare(set, visibility="public")
    _handles = cython.declare(list, visibility="public")
    _seen = cython.declare(set, visibility="public")
    _desc_names = cython.declare(dict, visibility="public")
    _desc_keysets = cython.declare(dict, visibility="public")
    _type_strings = cython.declare(set, visibility="public")
    _value_keys = cython.declare(set, visibility="public")
    _constructing = cython.declare(list, visibility="public")
    _constructing_refd = cython.declare(list, visibility="public")
    _constructing_at = cython.declare(dict, visibility="public")
    _work = cython.declare(cython.Py_ssize_t, visibility="public")
    _steps = cython.declare(cython.Py_ssize_t, visibility="public")
    _max_work = cython.declare(cython.Py_ssize_t, visibility="public")

    def __init__(self, data: bytes | bytearray | memoryview, limits: Limits = DEFAULT_LIMITS) -> None:
        b = bytes(data)
        self.limits = limits
        if len(b) > limits.max_total_bytes:
            raise LimitExceeded("max_total_bytes", limits.max_total_bytes, len(b), "stream size", 0)
        if len(b) < 4:
            raise TruncatedStreamError(f"stream header needs 4 bytes, got {len(b)}", 0)
        if b[:4] != STREAM_HEADER:
            raise StreamCorruptedError(
                f"not a Java serialization stream: header {b[:4].hex()} (expected aced0005)", 0
            )
        _ensure_recursion(limits.max_depth)
        self._max_depth = limits.max_depth
        self._max_handles = limits.max_handles
        self._max_string_length = limits.max_string_length
        self._max_array_length = limits.max_array_length
        # work done so far (back-references followed; handles count at the check): bounded by
        # Limits.max_work, for the stream's whole life (resets do not give it back)
        self._work = 0
        self._steps = 0
        self._max_work = limits.max_work
        self._b = b
        self._n = len(b)
        self._pos = 4
        self._blk_left = 0  # unread bytes of the current top-level block record
        self._depth = 0
        self._records = 0
        self._force_opaque = set()
        self._reset_state()

    # ------------------------------------------------------------------ state

    @cython.ccall
    def _reset_state(self) -> None:
        self._handles = []
        self._seen = set()
        # class name -> descriptors read in this stream (the first of each class): found by name
        # first (a str hash is cached; a descriptor key is a nested tuple, costly to hash)
        self._desc_names = {}
        # class name -> set of the keys of its descriptors, once a name has more than
        # _DESC_SCAN of them (a hostile stream can send thousands of descriptors of one class
        # name with different serialVersionUIDs: a scan of the list would be quadratic)
        self._desc_keysets = {}
        self._type_strings = set()
        self._value_keys = set()  # enum constants and Class objects met (Java shares them)
        # mapped collections being read (innermost last) and whether something referred to each
        # meanwhile (then it cannot be swapped for an opaque object: see _Restart)
        self._constructing = []
        self._constructing_refd = []
        # id of a container under construction at depth >= _SCAN_DEPTH -> its index in
        # _constructing (nesting x references would be quadratic with a scan of the whole stack)
        self._constructing_at = {}

    @cython.ccall
    @cython.locals(h=cython.Py_ssize_t)
    def _assign(self, obj: Any) -> int:
        h = len(self._handles)
        if h >= self._max_handles:
            raise LimitExceeded("max_handles", self._max_handles, h + 1, "handle count", self._pos)
        self._handles.append(obj)
        return h

    @cython.ccall
    @cython.locals(pos=cython.Py_ssize_t)
    def _count_record(self, pos: int) -> None:
        """Block-data records kept as values count like handles (each is a Python object)."""
        self._records += 1
        if self._records + len(self._handles) > self._max_handles:
            raise LimitExceeded(
                "max_handles", self._max_handles, self._records + len(self._handles),
                "handle count (with kept block-data records)", pos,
            )

    def _rollback(self, count: int) -> None:
        for obj in self._handles[count:]:
            self._seen.discard(_oid(obj))
            if isinstance(obj, ClassDesc):
                same = self._desc_names.get(obj.name)
                if same:
                    same[:] = [o for o in same if o is not obj]
                    if obj.name in self._desc_keysets:
                        self._desc_keysets[obj.name] = {o.key() for o in same}
            elif isinstance(obj, str):
                self._type_strings.discard(obj)
            elif isinstance(obj, JavaEnum):
                self._value_keys.discard(("e", obj.desc.key(), str(obj.name)))
            elif isinstance(obj, JavaClass):
                self._value_keys.discard(("c", obj.desc.key()))
        del self._handles[count:]
        self._constructing_clear()
        self._depth = 0

    @property
    def offset(self) -> int:
        """Current byte offset in the stream."""
        return self._pos

    # ------------------------------------------------------------------ block data (top level)

    @cython.ccall
    @cython.locals(b=bytes, pos=cython.Py_ssize_t, ln=cython.Py_ssize_t, tc=cython.int)
    def _next_block(self) -> None:
        b = self._b
        while True:
            pos = self._pos
            if pos >= self._n:
                raise TruncatedStreamError("end of stream while reading primitive data", pos)
            tc = b[pos]
            if tc == TC_BLOCKDATA:
                if pos + 2 > self._n:
                    raise TruncatedStreamError("truncated block data header", pos)
                ln = b[pos + 1]
                pos += 2
            elif tc == TC_BLOCKDATALONG:
                if pos + 5 > self._n:
                    raise TruncatedStreamError("truncated block data header", pos)
                ln = _I.unpack_from(b, pos + 1)[0]
                if ln < 0:
                    raise StreamCorruptedError(f"negative block data length {ln}", pos)
                pos += 5
            elif tc == TC_RESET:
                self._pos = pos + 1
                self._work += len(self._handles)  # Limits.max_work: a reset gives nothing back
                self._reset_state()
                continue
            else:
                raise TruncatedStreamError(
                    f"expected primitive (block) data but found type code 0x{tc:02x}: "
                    "the writer wrote an object here (use read_object)",
                    pos,
                )
            if pos + ln > self._n:
                raise TruncatedStreamError(f"block data record of {ln} bytes runs past the end", pos)
            self._pos = pos
            self._blk_left = ln
            if ln:
                return

    @cython.ccall
    @cython.locals(n=cython.Py_ssize_t, p=cython.Py_ssize_t, k=cython.Py_ssize_t)
    def _blk_read(self, n: int) -> bytes:
        if self._blk_left >= n:
            p = self._pos
            self._pos = p + n
            self._blk_left -= n
            return self._b[p : p + n]
        parts = []
        while n > 0:
            if self._blk_left == 0:
                self._next_block()
            k = min(n, self._blk_left)
            p = self._pos
            parts.append(self._b[p : p + k])
            self._pos = p + k
            self._blk_left -= k
            n -= k
        return b"".join(parts)

    def read_fully(self, n: int) -> bytes:
        """``readFully(byte[n])``: n bytes of primitive data."""
        if n < 0:
            raise ValueError("negative length")
        return self._blk_read(n)

    def read_byte(self) -> int:
        v = self._blk_read(1)[0]
        return v - 256 if v >= 128 else v

    def read_unsigned_byte(self) -> int:
        return self._blk_read(1)[0]

    def read_boolean(self) -> bool:
        return self._blk_read(1)[0] != 0

    def read_short(self) -> int:
        return _h.unpack(self._blk_read(2))[0]

    def read_unsigned_short(self) -> int:
        return _H.unpack(self._blk_read(2))[0]

    def read_char(self) -> str:
        return chr(_H.unpack(self._blk_read(2))[0])

    def read_int(self) -> int:
        return _I.unpack(self._blk_read(4))[0]

    def read_long(self) -> int:
        return _Q.unpack(self._blk_read(8))[0]

    def read_float(self) -> float:
        return _F.unpack(self._blk_read(4))[0]

    def read_double(self) -> float:
        return _D.unpack(self._blk_read(8))[0]

    def read_utf(self) -> str:
        """``readUTF()``: u2 length + modified UTF-8 from block data."""
        n = _H.unpack(self._blk_read(2))[0]
        s, _canonical = mutf8.decode(self._blk_read(n), self._pos)
        return s

    def available(self) -> int:
        """Bytes left in the current block-data record."""
        return self._blk_left

    def at_eof(self) -> bool:
        """True when nothing (no block data, no object) is left in the stream."""
        return self._blk_left == 0 and self._pos >= self._n

    # ------------------------------------------------------------------ objects (public)

    def read_object(self) -> Any:
        """``readObject()``: the next object as a Python value.

        Raises ``OptionalDataError`` when primitive data comes first, ``WriteAbortedError`` when
        the writer aborted this object (TC_EXCEPTION; the stream stays usable), and
        ``TruncatedStreamError`` at the end of the stream.
        """
        if self._blk_left:
            raise OptionalDataError(
                f"{self._blk_left} bytes of primitive data come before the next object", self._pos,
                length=self._blk_left,
            )
        if self._pos < self._n and self._b[self._pos] == TC_RESET:
            self._skip_resets()
        if self._pos >= self._n:
            raise TruncatedStreamError("end of stream: no more objects", self._pos)
        tc = self._b[self._pos]
        if tc == TC_STRING or tc == TC_REFERENCE or tc == TC_NULL:
            # a leaf: nothing inside it can restart or abort, so no _read_top around it (its
            # errors leave the depth at 0, as _read_top would)
            return self._read()
        if tc in (TC_BLOCKDATA, TC_BLOCKDATALONG):
            self._next_block()
            raise OptionalDataError(
                f"{self._blk_left} bytes of primitive data come before the next object", self._pos,
                length=self._blk_left,
            )
        try:
            return self._read_top()
        except _Aborted as ab:
            raise WriteAbortedError(
                f"writing aborted; the writer wrote {_describe(ab.exception)}", ab.offset, exception=ab.exception
            ) from None

    def read_content(self) -> Any:
        """The next top-level item exactly as written: ``BlockData`` (one record), ``RESET``,
        ``JavaWriteAborted`` or a value. Raises ``EOFError`` at the end of the stream."""
        if self._blk_left:
            p = self._pos
            self._pos += self._blk_left
            self._blk_left = 0
            return BlockData(self._b[p : self._pos])
        b = self._b
        pos = self._pos
        if pos >= self._n:
            raise EOFError("end of stream")
        tc = b[pos]
        if tc == TC_RESET:
            self._pos = pos + 1
            self._work += len(self._handles)  # Limits.max_work: a reset gives nothing back
            self._reset_state()
            return RESET
        if tc == TC_BLOCKDATA or tc == TC_BLOCKDATALONG:
            long_header = tc == TC_BLOCKDATALONG
            if long_header:
                if pos + 5 > self._n:
                    raise TruncatedStreamError("truncated block data header", pos)
                ln = _I.unpack_from(b, pos + 1)[0]
                if ln < 0:
                    raise StreamCorruptedError(f"negative block data length {ln}", pos)
                start = pos + 5
            else:
                if pos + 2 > self._n:
                    raise TruncatedStreamError("truncated block data header", pos)
                ln = b[pos + 1]
                start = pos + 2
            if start + ln > self._n:
                raise TruncatedStreamError(f"block data record of {ln} bytes runs past the end", pos)
            self._pos = start + ln
            self._count_record(pos)
            return BlockData(b[start : start + ln], long_header)
        try:
            return self._read_top()
        except _Aborted as ab:
            return JavaWriteAborted(b[pos : ab.offset], ab.exception)

    @cython.ccall
    def _skip_resets(self) -> None:
        while self._pos < self._n and self._b[self._pos] == TC_RESET:
            self._pos += 1
            self._work += len(self._handles)  # Limits.max_work: a reset gives nothing back
            self._reset_state()

    @cython.ccall
    @cython.locals(start=cython.Py_ssize_t, count=cython.Py_ssize_t)
    def _read_top(self) -> Any:
        gc_was_on = _gc_pause()
        try:
            return self._read_top_loop()
        finally:
            if gc_was_on:
                _gc_resume()

    @cython.ccall
    @cython.locals(start=cython.Py_ssize_t, count=cython.Py_ssize_t)
    def _read_top_loop(self) -> Any:
        start = self._pos
        count = len(self._handles)
        while True:
            try:
                v = self._read()
                if self._constructing:
                    self._constructing_clear()
                return v
            except _Restart as r:
                log.debug("re-reading object at %d with the object at %d kept opaque", start, r.offset)
                self._force_opaque.add(r.offset)
                self._rollback(count)
                self._pos = start
            except _Aborted:
                self._depth = 0
                self._constructing_clear()
                raise
            except RecursionError:
                raise LimitExceeded(
                    "max_depth", self._max_depth, self._depth, "nesting depth (Python recursion limit)", self._pos
                ) from None
            except (JavaSerializationError, _Aborted):
                self._depth = 0
                raise

    # ------------------------------------------------------------------ objects (internal)

    @cython.ccall
    @cython.locals(b=bytes, pos=cython.Py_ssize_t, end=cython.Py_ssize_t, h=cython.Py_ssize_t, tc=cython.int,
                   n=cython.Py_ssize_t, i=cython.Py_ssize_t, ascii_ok=cython.bint, ptr=cython.p_char)
    def _read(self) -> Any:
        if cython.compiled:
            # the compiled reader runs no bytecode, so it would hold the GIL for a whole stream: a
            # large one decoded in a worker thread would still stall the event loop. Every 4096
            # items it lets a thread that waits for the GIL (the loop) run.
            self._steps += 1
            if (self._steps & 4095) == 0:
                _yield_gil()  # noqa: F821 - defined in _creader.pyx
        b = self._b
        pos = self._pos
        if pos >= self._n:
            raise TruncatedStreamError("end of stream where an object was expected", pos)
        tc = b[pos]
        if tc == TC_STRING:
            # fast path: a short ASCII string (most strings in session data)
            end = pos + 3 + ((b[pos + 1] << 8) | b[pos + 2]) if pos + 3 <= self._n else self._n + 1
            if end <= self._n:
                if cython.compiled:
                    # the same test as below, on the bytes in place: 2+ chars, ASCII, no NUL
                    n = end - pos - 3
                    ascii_ok = n > 1
                    if ascii_ok:
                        ptr = cython.cast(cython.p_char, b)
                        i = pos + 3
                        while i < end:
                            if ptr[i] <= 0:  # NUL, or a byte >= 0x80 (char is signed)
                                ascii_ok = False
                                break
                            i += 1
                else:
                    raw = b[pos + 3 : end]
                    n = len(raw)
                    ascii_ok = n > 1 and raw.isascii() and b"\x00" not in raw
                if ascii_ok:
                    handles = self._handles
                    if len(handles) >= self._max_handles:
                        raise LimitExceeded("max_handles", self._max_handles, len(handles) + 1, "handle count", pos)
                    if n > self._max_string_length:
                        raise LimitExceeded(
                            "max_string_length", self._max_string_length, n, "string length", pos
                        )
                    # a new object: never one already handed out
                    if cython.compiled:  # straight from the stream's bytes (no bytes slice first)
                        s = PyUnicode_DecodeASCII(ptr + pos + 3, n, cython.NULL)  # noqa: F821 - see _creader.pyx
                    else:
                        s = b[pos + 3 : end].decode("ascii")
                    handles.append(s)
                    self._pos = end
                    return s
            self._pos = pos + 1
            return self._read_string(False, pos)
        if tc == TC_OBJECT and pos + 6 <= self._n and b[pos + 1] == TC_REFERENCE:
            # fast path: a boxed Integer/Long/Short/Byte/Double/Character whose descriptor was sent
            h = (b[pos + 2] << 24 | b[pos + 3] << 16 | b[pos + 4] << 8 | b[pos + 5]) - BASE_WIRE_HANDLE
            if 0 <= h < len(self._handles):
                d = self._handles[h]
                if (
                    (d is INTEGER or d is LONG)
                    and self._depth < self._max_depth
                    and len(self._handles) < self._max_handles
                    and (not self._force_opaque or pos not in self._force_opaque)
                ):
                    # the two most common: no table lookup, the value made from the bytes in place
                    end = pos + (10 if d is INTEGER else 14)
                    if end <= self._n:
                        if cython.compiled:  # _make_int: int's tp_new called directly (_creader.pyx)
                            if d is INTEGER:
                                v = _make_int(JavaInteger, _be_i32(b, pos + 6))  # noqa: F821
                            else:
                                v = _make_int(JavaLong, _be_i64(b, pos + 6))  # noqa: F821
                        elif d is INTEGER:
                            v = _INT_NEW(JavaInteger, _be_i32(b, pos + 6))
                        else:
                            v = _INT_NEW(JavaLong, _be_i64(b, pos + 6))
                        self._handles.append(v)
                        self._pos = end
                        return v
                if (
                    d is DATE
                    and pos + 17 <= self._n
                    and b[pos + 6] == TC_BLOCKDATA
                    and b[pos + 7] == 8
                    and b[pos + 16] == TC_ENDBLOCKDATA
                    and self._depth < self._max_depth
                    and (not cython.compiled or self._depth < C_MAX_DEPTH)
                    and self._records + len(self._handles) + 2 <= self._max_handles
                    and (not self._force_opaque or pos not in self._force_opaque)
                ):
                    # java.util.Date exactly as Java writes it: what _read_ordinary + _read_date do
                    v = _new_date()
                    v.millis = _be_i64(b, pos + 8)
                    self._handles.append(v)
                    self._records += 1
                    self._pos = pos + 17
                    return v
                fw = _FAST_WRAPPERS.get(_oid(d)) if type(d) is WrapperClassDesc else None
                if fw is not None and self._depth < self._max_depth and pos not in self._force_opaque:
                    st, cls = fw
                    end = pos + 6 + st.size
                    if end <= self._n and len(self._handles) < self._max_handles:
                        v = cls(st.unpack_from(b, pos + 6)[0])
                        self._handles.append(v)
                        self._pos = end
                        return v
        self._pos = pos + 1
        if tc == TC_REFERENCE:
            h = (b[pos + 1] << 24 | b[pos + 2] << 16 | b[pos + 3] << 8 | b[pos + 4]) - BASE_WIRE_HANDLE if pos + 5 <= self._n else -1
            if 0 <= h < len(self._handles):
                v = self._handles[h]
                self._work += 1
                if self._work + len(self._handles) > self._max_work:
                    self._work_exceeded(pos)
                # a string is never a container under construction (see _read_ref)
                if v is not _PENDING and (not self._constructing or type(v) is str):
                    self._pos = pos + 5
                    return v
                self._work -= 1  # _read_ref counts it
            return self._read_ref(pos)
        if tc == TC_OBJECT:
            return self._read_ordinary(pos)
        if tc == TC_NULL:
            return None
        if tc == TC_ARRAY:
            return self._read_array(pos)
        if tc == TC_ENUM:
            return self._read_enum(pos)
        if tc == TC_CLASSDESC or tc == TC_PROXYCLASSDESC:
            self._pos = pos
            return self._read_desc()
        if tc == TC_CLASS:
            self._enter(pos)
            desc = self._read_desc()
            self._depth -= 1
            if desc is None:
                raise StreamCorruptedError("TC_CLASS with a null class descriptor", pos)
            v = JavaClass(desc)
            ck = ("c", desc.key())
            if ck in self._value_keys:
                v.distinct = True
            self._value_keys.add(ck)
            self._assign(v)
            return v
        if tc == TC_LONGSTRING:
            return self._read_string(True, pos)
        if tc == TC_EXCEPTION:
            self._work += len(self._handles)  # Limits.max_work: a reset gives nothing back
            self._reset_state()
            self._enter(pos)  # Java reads the Throwable one level down: no TC_RESET allowed there
            exc = self._read()
            self._depth -= 1
            self._work += len(self._handles)  # Limits.max_work: a reset gives nothing back
            self._reset_state()
            raise _Aborted(exc, pos)
        if tc == TC_RESET:
            if self._depth > 0:
                raise StreamCorruptedError("TC_RESET inside an object (only allowed between top-level objects)", pos)
            self._work += len(self._handles)  # Limits.max_work: a reset gives nothing back
            self._reset_state()
            return self._read()
        self._pos = pos
        if tc == TC_BLOCKDATA or tc == TC_BLOCKDATALONG:
            raise OptionalDataError("primitive block data where an object was expected", pos)
        if tc == TC_ENDBLOCKDATA:
            raise OptionalDataError("end of custom data where an object was expected", pos, eof=True)
        raise StreamCorruptedError(f"invalid type code 0x{tc:02x}", pos)

    @cython.ccall
    @cython.locals(pos=cython.Py_ssize_t)
    def _enter(self, pos: int) -> None:
        self._depth += 1
        if self._depth > self._max_depth:
            raise LimitExceeded("max_depth", self._max_depth, self._depth, "nesting depth", pos)
        if cython.compiled and self._depth > C_MAX_DEPTH:
            raise LimitExceeded("max_depth", C_MAX_DEPTH, self._depth, C_DEPTH_WHAT, pos)

    @cython.ccall
    @cython.locals(pos=cython.Py_ssize_t)
    def _work_exceeded(self, pos: int) -> None:
        raise LimitExceeded(
            "max_work", self._max_work, self._work + len(self._handles),
            "work (objects read plus back-references followed)", pos,
        )

    @cython.ccall
    @cython.locals(pos=cython.Py_ssize_t, h=cython.Py_ssize_t, n=cython.Py_ssize_t, i=cython.Py_ssize_t)
    def _read_ref(self, pos: int) -> Any:
        self._work += 1
        if self._work + len(self._handles) > self._max_work:
            self._work_exceeded(pos)
        if pos + 5 > self._n:
            raise TruncatedStreamError("truncated reference", pos)
        h = _be_i32(self._b, pos + 1) - BASE_WIRE_HANDLE
        self._pos = pos + 5
        if not 0 <= h < len(self._handles):
            raise StreamCorruptedError(
                f"reference to handle 0x{(h + BASE_WIRE_HANDLE) & 0xFFFFFFFF:x}, which does not exist "
                f"({len(self._handles)} handles assigned)",
                pos,
            )
        v = self._handles[h]
        if v is _PENDING:
            raise StreamCorruptedError("reference to a class descriptor or enum still being read", pos)
        if self._constructing:
            n = len(self._constructing)
            for i in range(n if n < _SCAN_DEPTH else _SCAN_DEPTH):
                if self._constructing[i] is v:
                    self._constructing_refd[i] = True
            if n > _SCAN_DEPTH:
                j = self._constructing_at.get(_oid(v))
                if j is not None:
                    self._constructing_refd[j] = True
        return v

    @cython.ccall
    def _desc_seen(self, d: ClassDesc) -> bool:
        """Whether a descriptor of the same class (equal key) was read before in this stream."""
        same = self._desc_names.get(d.name)
        if not same:
            return False
        k = d.key()
        if len(same) > _DESC_SCAN:
            return k in self._desc_keysets[d.name]
        for o in same:
            if o.key() == k:
                return True
        return False

    @cython.ccall
    def _desc_note(self, d: ClassDesc) -> None:
        same = self._desc_names.get(d.name)
        if same is None:
            self._desc_names[d.name] = [d]
        else:
            same.append(d)
            n = len(same)
            if n > _DESC_SCAN + 1:
                self._desc_keysets[d.name].add(d.key())
            elif n == _DESC_SCAN + 1:
                self._desc_keysets[d.name] = {o.key() for o in same}

    @cython.ccall
    def _constructing_clear(self) -> None:
        del self._constructing[:]
        del self._constructing_refd[:]
        self._constructing_at.clear()

    @cython.ccall
    def _constructing_pop(self) -> bool:
        """The innermost collection is read: whether something referred to it meanwhile."""
        c = self._constructing.pop()
        if len(self._constructing) >= _SCAN_DEPTH:
            self._constructing_at.pop(_oid(c), None)
        return self._constructing_refd.pop()  # type: ignore[no-any-return]

    @cython.ccall
    @cython.locals(b=bytes, pos=cython.Py_ssize_t, ln=cython.Py_ssize_t, end=cython.Py_ssize_t)
    def _read_utf_raw(self) -> str:
        """u2 length + modified UTF-8, outside block data (class names, field names)."""
        b = self._b
        pos = self._pos
        if pos + 2 > self._n:
            raise TruncatedStreamError("truncated string length", pos)
        ln = (b[pos] << 8) | b[pos + 1]
        end = pos + 2 + ln
        if end > self._n:
            raise TruncatedStreamError(f"string of {ln} bytes runs past the end", pos)
        self._pos = end
        raw = b[pos + 2 : end]
        if raw.isascii() and b"\x00" not in raw:
            return raw.decode("ascii")
        s, canonical = mutf8.decode(raw, pos)
        if not canonical:
            s = JavaString(s)
            s.raw = raw  # type: ignore[attr-defined]
        return s

    @cython.ccall
    @cython.locals(b=bytes, is_long=cython.bint, pos=cython.Py_ssize_t, ln=cython.longlong, start=cython.Py_ssize_t, end=cython.Py_ssize_t)
    def _read_string(self, is_long: bool, pos: int) -> str:
        b = self._b
        if is_long:
            if pos + 9 > self._n:
                raise TruncatedStreamError("truncated long string length", pos)
            ln = _Q.unpack_from(b, pos + 1)[0]
            if ln < 0:
                raise StreamCorruptedError(f"negative string length {ln}", pos)
            start = pos + 9
        else:
            if pos + 3 > self._n:
                raise TruncatedStreamError("truncated string length", pos)
            ln = (b[pos + 1] << 8) | b[pos + 2]
            start = pos + 3
        if ln > self._max_string_length:
            raise LimitExceeded("max_string_length", self._max_string_length, ln, "string length", pos)
        end = start + ln
        if end > self._n:
            raise TruncatedStreamError(f"string of {ln} bytes runs past the end", pos)
        self._pos = end
        raw = b[start:end]
        if raw.isascii() and b"\x00" not in raw:
            s: str = raw.decode("ascii")
            canonical = True
        else:
            s, canonical = mutf8.decode(raw, start)
        if is_long and ln <= 0xFFFF:
            canonical = False  # Java writes TC_STRING for this length; keep the long form
        if not canonical or _oid(s) in self._seen:
            s = JavaString(s)
            if not canonical:
                s.raw = raw  # type: ignore[attr-defined]
                s.long_form = is_long  # type: ignore[attr-defined]
        self._seen.add(_oid(s))
        self._assign(s)
        return s

    @cython.ccall
    @cython.locals(b=bytes, pos=cython.Py_ssize_t, p=cython.Py_ssize_t, tc=cython.int)
    def _read_type_string(self, pos: int) -> str:
        b = self._b
        p = self._pos
        if p >= self._n:
            raise TruncatedStreamError("truncated field type", p)
        tc = b[p]
        if tc == TC_STRING or tc == TC_LONGSTRING:
            self._pos = p + 1
            s = self._read_string(tc == TC_LONGSTRING, p)
            if s in self._type_strings:
                # Java shares type strings (they are interned); keep a duplicate apart
                if type(s) is not JavaString:
                    s2 = JavaString(s)
                    self._handles[-1] = s2
                    self._seen.add(_oid(s2))
                    s = s2
                s.unshared = True  # type: ignore[attr-defined]
            else:
                self._type_strings.add(s)
            return s
        if tc == TC_REFERENCE:
            s = self._read_ref(p)
            if not isinstance(s, str):
                raise StreamCorruptedError(f"field type refers to a {type(s).__name__}, not a string", p)
            return s
        if tc == TC_NULL:
            raise StreamCorruptedError("null field type string", p)
        raise StreamCorruptedError(f"invalid type code 0x{tc:02x} for a field type string", p)

    # ------------------------------------------------------------------ class descriptors

    @cython.ccall
    @cython.locals(b=bytes, pos=cython.Py_ssize_t, tc=cython.int, h=cython.Py_ssize_t, p=cython.Py_ssize_t, e=cython.Py_ssize_t)
    def _read_desc(self) -> ClassDesc | None:
        b = self._b
        pos = self._pos
        if pos >= self._n:
            raise TruncatedStreamError("end of stream where a class descriptor was expected", pos)
        tc = b[pos]
        if tc == TC_NULL:
            self._pos = pos + 1
            return None
        if tc == TC_REFERENCE:
            d = self._read_ref(pos)
            if not isinstance(d, ClassDesc):
                raise StreamCorruptedError(f"class descriptor reference points to a {type(d).__name__}", pos)
            return d
        if tc != TC_CLASSDESC and tc != TC_PROXYCLASSDESC:
            raise StreamCorruptedError(f"invalid type code 0x{tc:02x} where a class descriptor was expected", pos)
        self._pos = pos + 1
        self._enter(pos)
        h = self._assign(_PENDING)
        desc = None
        if tc == TC_CLASSDESC:
            name = self._read_utf_raw()
            ch = _CANON_HEADERS.get(name)
            if ch is not None and type(name) is str:
                # fast path: a JDK class the codec maps (Integer, HashMap, ...) described exactly as
                # Java describes it, no class annotations: the generic path below would build an
                # equal descriptor and swap it for the shared canonical one
                canon, hdr = ch
                p = self._pos
                e = p + len(hdr)
                if e < self._n and b[e] == TC_ENDBLOCKDATA and b[p:e] == hdr:
                    self._pos = e + 1
                    sup = self._read_desc()
                    if sup is canon.superclass:
                        if not self._desc_seen(canon):
                            self._desc_note(canon)
                            self._handles[h] = canon
                            self._depth -= 1
                            return canon
                    desc = ClassDesc(name, canon.suid, canon.flags, [FieldDesc(f.typecode, f.name) for f in canon.fields], sup, [])
        if desc is not None:
            pass
        elif tc == TC_CLASSDESC:
            if self._pos + 11 > self._n:
                raise TruncatedStreamError("truncated class descriptor", pos)
            suid = _Q.unpack_from(b, self._pos)[0]
            flags = b[self._pos + 8]
            nfields = _h.unpack_from(b, self._pos + 9)[0]
            self._pos += 11
            if nfields < 0:
                raise StreamCorruptedError(f"negative field count {nfields} in {name}", pos)
            if flags & SC_SERIALIZABLE and flags & SC_EXTERNALIZABLE:
                raise StreamCorruptedError(f"class {name} is both serializable and externalizable", pos)
            fields = []
            for _ in range(nfields):
                if self._pos >= self._n:
                    raise TruncatedStreamError("truncated field descriptor", self._pos)
                code = chr(b[self._pos])
                self._pos += 1
                fname = self._read_utf_raw()
                if code in PRIMITIVE_CODES:
                    fields.append(_new_field(code, fname, None))
                elif code == "L" or code == "[":
                    fields.append(_new_field(code, fname, self._read_type_string(pos)))
                else:
                    raise StreamCorruptedError(f"illegal field type code {code!r} in class {name}", pos)
            annotations = self._read_annotations()
            sup = self._read_desc()
            desc = ClassDesc(name, suid, flags, fields, sup, annotations)
        else:
            if self._pos + 4 > self._n:
                raise TruncatedStreamError("truncated proxy class descriptor", pos)
            count = _I.unpack_from(b, self._pos)[0]
            self._pos += 4
            if not 0 <= count <= 65535:
                raise StreamCorruptedError(f"proxy class with {count} interfaces", pos)
            ifaces = [self._read_utf_raw() for _ in range(count)]
            annotations = self._read_annotations()
            sup = self._read_desc()
            desc = ClassDesc("(proxy)", 0, SC_SERIALIZABLE, (), sup, annotations, ifaces)
        if self._desc_seen(desc):
            desc.unshared = True
            desc._key = None
        else:
            canon = _CANON_BY_NAME.get(desc.name)
            if canon is not None and canon.key() == desc.key():
                desc = canon
            self._desc_note(desc)
        self._handles[h] = desc
        self._depth -= 1
        return desc

    @cython.ccall
    @cython.locals(b=bytes, pos=cython.Py_ssize_t, tc=cython.int, ln=cython.Py_ssize_t, end=cython.Py_ssize_t)
    def _read_annotations(self) -> list[Any]:
        """Block data records and objects up to TC_ENDBLOCKDATA."""
        b = self._b
        items: list[Any] = []
        while True:
            pos = self._pos
            if pos >= self._n:
                raise TruncatedStreamError("end of stream inside custom data (missing TC_ENDBLOCKDATA)", pos)
            tc = b[pos]
            if tc == TC_ENDBLOCKDATA:
                self._pos = pos + 1
                return items
            if tc == TC_BLOCKDATA:
                if pos + 2 > self._n:
                    raise TruncatedStreamError("truncated block data header", pos)
                ln = b[pos + 1]
                end = pos + 2 + ln
                if end > self._n:
                    raise TruncatedStreamError(f"block data record of {ln} bytes runs past the end", pos)
                self._count_record(pos)
                items.append(BlockData(b[pos + 2 : end], False))
                self._pos = end
            elif tc == TC_BLOCKDATALONG:
                if pos + 5 > self._n:
                    raise TruncatedStreamError("truncated block data header", pos)
                ln = _I.unpack_from(b, pos + 1)[0]
                if ln < 0:
                    raise StreamCorruptedError(f"negative block data length {ln}", pos)
                end = pos + 5 + ln
                if end > self._n:
                    raise TruncatedStreamError(f"block data record of {ln} bytes runs past the end", pos)
                self._count_record(pos)
                items.append(BlockData(b[pos + 5 : end], True))
                self._pos = end
            else:
                items.append(self._read())

    # ------------------------------------------------------------------ objects

    @cython.ccall
    @cython.locals(b=bytes, pos=cython.Py_ssize_t, size=cython.Py_ssize_t, off=cython.Py_ssize_t)
    def _read_fields(self, d: ClassDesc) -> list[Any]:
        lay = d._layout  # cached on the descriptor (layout.layout)
        if lay is None:
            lay = layout(d)
        b = self._b
        pos = self._pos
        size = lay.size
        if pos + size > self._n:
            raise TruncatedStreamError(f"field data of {d.name} runs past the end", pos)
        if lay.plain and lay.prims_first:
            # the usual shape: primitives (no conversion needed), then the objects
            vals = list(lay.struct.unpack_from(b, pos)) if size else []
            self._pos = pos + size
            for _i in range(len(lay.obj_idx)):
                vals.append(self._read())
            return vals
        prims = lay.struct.unpack_from(b, pos)
        self._pos = pos + size
        if lay.nfields == len(prims) and lay.plain:
            return list(prims)
        vals: list[Any] = [None] * lay.nfields
        if lay.plain:
            for i, v in zip(lay.prim_idx, prims):
                vals[i] = v
        else:
            off = pos
            for i, code, v in zip(lay.prim_idx, lay.prim_codes, prims):
                vals[i] = conv_in(code, v, b, off) if code in "ZCF" else v
                off += PRIMITIVE_SIZES[code]
        for i in lay.obj_idx:
            vals[i] = self._read()
        return vals

    @cython.ccall
    @cython.locals(pos=cython.Py_ssize_t)
    def _read_class_data(self, desc: ClassDesc, pos: int) -> list[ClassData]:
        if desc.flags & SC_EXTERNALIZABLE:
            if not desc.flags & SC_BLOCK_DATA:
                raise StreamCorruptedError(
                    f"{desc.name} was externalized with protocol version 1 (no block data): "
                    "it cannot be read without the class",
                    pos,
                )
            return [_new_class_data(desc, [], self._read_annotations())]
        out = []
        ch = desc._chain  # cached on the descriptor (layout.chain)
        if ch is None:
            ch = chain(desc)
        for d in ch:
            if d.flags & SC_SERIALIZABLE:
                vals = self._read_fields(d) if d.fields else []
                ann = self._read_annotations() if d.flags & SC_WRITE_METHOD else None
            else:
                vals, ann = [], None
            out.append(_new_class_data(d, vals, ann))
        return out

    @cython.ccall
    @cython.locals(pos=cython.Py_ssize_t, h=cython.Py_ssize_t)
    def _read_ordinary(self, pos: int) -> Any:
        self._enter(pos)
        desc = self._read_desc()
        if desc is None:
            raise StreamCorruptedError("object with a null class descriptor", pos)
        # the tables below hold mapped JDK classes only: told by the descriptor's type
        wr = _WRAPPER_READERS.get(_oid(desc)) if type(desc) is WrapperClassDesc else None
        if wr is not None and (not self._force_opaque or pos not in self._force_opaque):
            v = wr(self, desc)
            if v is not None:
                self._assign(v)
                self._depth -= 1
                return v
        if type(desc) is CollectionClassDesc:
            coll = _HASHMAP_COLL if desc is HASHMAP else _ARRAYLIST_COLL if desc is ARRAYLIST else _COLLECTIONS.get(_oid(desc))
        else:
            coll = None
        if coll is not None and (not self._force_opaque or pos not in self._force_opaque):
            make, fill = coll
            container = make()
            h = self._assign(container)
            if desc is DATE and self._read_date(container):  # nothing inside can refer to it
                self._depth -= 1
                return container
            if len(self._constructing) >= _SCAN_DEPTH:
                self._constructing_at[_oid(container)] = len(self._constructing)
            self._constructing.append(container)
            self._constructing_refd.append(False)
            if desc is ARRAYLIST or desc is HASHMAP:
                # fast path: the exact shape Java writes, parsed without ClassData/BlockData
                cds = self._read_list_or_map(desc, container)
                if cds is None:
                    self._constructing_pop()
                    self._depth -= 1
                    return container
                if cds is _NO_FAST:
                    cds = None
            else:
                cds = None
            if cds is None:
                cds = self._read_class_data(desc, pos)
            referenced = self._constructing_pop()
            try:
                ok = fill(container, cds)
            except (TypeError, ValueError, struct.error, OverflowError):
                ok = False
            if ok:
                self._depth -= 1
                return container
            if referenced:
                raise _Restart(pos)
            obj = _new_object(desc, cds)
            self._handles[h] = obj
            self._depth -= 1
            return obj
        obj = _new_object(desc, [])
        self._assign(obj)
        obj.class_data = self._read_class_data(desc, pos)
        self._depth -= 1
        return obj

    @cython.ccall
    @cython.locals(b=bytes, p=cython.Py_ssize_t, q=cython.Py_ssize_t, size=cython.longlong, cnt=cython.longlong,
                   nitems=cython.longlong, i=cython.longlong, tc=cython.int, hdr=cython.Py_ssize_t)
    def _read_list_or_map(self, desc: ClassDesc, container: Any) -> Any:
        """ArrayList / HashMap written as Java writes them, read straight into ``container``.

        Returns None when done. Otherwise returns the ClassData list the generic reader would
        have built from the same bytes (the stream position is then after the object, or where
        nothing was consumed yet: an empty list), for the generic mapping/fallback to decide.
        """
        b = self._b
        p = self._pos
        is_map = desc is HASHMAP
        lf = 0.0
        buckets = 0
        hdr = 8 if is_map else 4  # bytes of the primitive fields (loadFactor+threshold / size)
        if p + hdr + 2 + hdr > self._n or b[p + hdr] != TC_BLOCKDATA or b[p + hdr + 1] != hdr:
            return _NO_FAST
        if is_map:
            lf = _be_f32(b, p)
            if lf != lf:
                return _NO_FAST  # NaN: the generic reader keeps its exact bits
            size = _be_i32(b, p + 4)
            buckets = _be_i32(b, p + hdr + 2)
            cnt = _be_i32(b, p + hdr + 6)
            nitems = 2 * cnt
        else:
            size = _be_i32(b, p)
            cnt = _be_i32(b, p + hdr + 2)
            if size != cnt:
                return _NO_FAST
            nitems = cnt
        if cnt < 0:
            return _NO_FAST
        self._pos = p + hdr + 2 + hdr
        self._count_record(p + hdr)
        items = []
        i = 0
        while i < nitems:
            q = self._pos
            if q >= self._n:
                break  # the generic reader below reports it
            tc = b[q]
            if tc == TC_BLOCKDATA or tc == TC_BLOCKDATALONG or tc == TC_ENDBLOCKDATA:
                break
            items.append(self._read())
            i += 1
        q = self._pos
        if i == nitems and q < self._n and b[q] == TC_ENDBLOCKDATA:
            self._pos = q + 1
            if not is_map:
                container.extend(items)
                return None
            try:
                for i in range(0, nitems, 2):
                    container[items[i]] = items[i + 1]
                ok = len(container) == cnt
            except (TypeError, ValueError):
                ok = False
            if ok:
                container.load_factor = lf
                container.threshold = size
                container.buckets = buckets
                return None
            container.clear()
            rest: list[Any] = []
        else:
            rest = self._read_annotations()
        ann: list[Any] = [BlockData(b[p + hdr + 2 : p + hdr + 2 + hdr], False)]
        ann.extend(items)
        ann.extend(rest)
        return [_new_class_data(desc, [lf, size] if is_map else [size], ann)]

    @cython.ccall
    @cython.locals(b=bytes, p=cython.Py_ssize_t)
    def _read_date(self, container: Any) -> bool:
        """java.util.Date as Java writes it (TC_BLOCKDATA 8, millis, TC_ENDBLOCKDATA); False when
        the bytes have another shape (nothing consumed then)."""
        b = self._b
        p = self._pos
        if p + 11 > self._n or b[p] != TC_BLOCKDATA or b[p + 1] != 8 or b[p + 10] != TC_ENDBLOCKDATA:
            return False
        self._count_record(p)
        container.millis = _be_i64(b, p + 2)
        self._pos = p + 11
        return True

    @cython.ccall
    @cython.locals(pos=cython.Py_ssize_t, b=bytes, p=cython.Py_ssize_t, length=cython.longlong, remaining=cython.Py_ssize_t, size=cython.longlong)
    def _read_array(self, pos: int) -> Any:
        self._enter(pos)
        desc = self._read_desc()
        if desc is BYTE_ARRAY and (not self._force_opaque or pos not in self._force_opaque):
            # fast path: byte[] (the same checks as below, in the same order)
            b = self._b
            p = self._pos
            if p + 4 <= self._n:
                length = _be_i32(b, p)
                if 1 < length <= self._max_array_length and length <= self._n - p - 4:
                    # a new bytes object (2+ bytes: never one already handed out, so no _seen)
                    v = b[p + 4 : p + 4 + length]
                    self._pos = p + 4 + length
                    self._assign(v)
                    self._depth -= 1
                    return v
        if desc is None:
            raise StreamCorruptedError("array with a null class descriptor", pos)
        name = desc.name
        if len(name) < 2 or name[0] != "[" or (name[1] not in PRIMITIVE_CODES and name[1] not in "L["):
            raise StreamCorruptedError(f"array class descriptor with a non-array name {name!r}", pos)
        b = self._b
        p = self._pos
        if p + 4 > self._n:
            raise TruncatedStreamError("truncated array length", p)
        length = _be_i32(b, p)
        p += 4
        self._pos = p
        if length < 0:
            raise StreamCorruptedError(f"negative array length {length}", pos)
        if length > self._max_array_length:
            raise LimitExceeded("max_array_length", self._max_array_length, length, "array length", pos)
        code = name[1]
        remaining = self._n - p
        if code in PRIMITIVE_CODES:
            size = PRIMITIVE_SIZES[code] * length
            if size > remaining:
                raise TruncatedStreamError(f"array of {length} {name} elements runs past the end", pos)
            self._pos = p + size
            if desc is BYTE_ARRAY and (not self._force_opaque or pos not in self._force_opaque):
                v: Any = b[p : p + size]
                if _oid(v) in self._seen:
                    v = JavaByteArray(v)
                self._seen.add(_oid(v))
                self._assign(v)
                self._depth -= 1
                return v
            vals = list(struct.unpack_from(f">{length}{_FMT[code]}", b, p)) if length else []
            if code in "ZCF":
                sz = PRIMITIVE_SIZES[code]
                vals = [conv_in(code, v, b, p + i * sz) for i, v in enumerate(vals)]
            arr = JavaArray(desc, vals)
            self._assign(arr)
            self._depth -= 1
            return arr
        if length > remaining:
            raise TruncatedStreamError(f"array of {length} objects runs past the end", pos)
        arr = _new_array(desc)
        self._assign(arr)
        for _ in range(length):
            arr.append(self._read())
        self._depth -= 1
        return arr

    @cython.ccall
    @cython.locals(pos=cython.Py_ssize_t, h=cython.Py_ssize_t, p=cython.Py_ssize_t, tc=cython.int)
    def _read_enum(self, pos: int) -> Any:
        self._enter(pos)
        desc = self._read_desc()
        if desc is None:
            raise StreamCorruptedError("enum with a null class descriptor", pos)
        if not desc.flags & SC_ENUM:
            raise StreamCorruptedError(f"TC_ENUM with non-enum class {desc.name}", pos)
        h = self._assign(_PENDING)
        p = self._pos
        if p >= self._n:
            raise TruncatedStreamError("truncated enum constant name", p)
        tc = self._b[p]
        if tc != TC_STRING and tc != TC_LONGSTRING:
            raise StreamCorruptedError(f"enum constant name must be a new string, found type code 0x{tc:02x}", p)
        self._pos = p + 1
        name = self._read_string(tc == TC_LONGSTRING, p)
        v = JavaEnum(desc, name)
        ek = ("e", desc.key(), str(name))
        if ek in self._value_keys:
            v.distinct = True
        self._value_keys.add(ek)
        self._handles[h] = v
        self._depth -= 1
        return v


def _canon_headers() -> dict[str, tuple[ClassDesc, bytes]]:
    """name -> (canonical descriptor, the bytes Java writes after its name up to the annotations)
    for the canonical descriptors with primitive fields only."""
    out = {}
    for d in CANONICAL.values():
        if d.proxy_interfaces is not None or d.annotations or any(f.classname is not None for f in d.fields):
            continue
        hdr = _Q.pack(d.suid) + bytes([d.flags]) + _h.pack(len(d.fields))
        for f in d.fields:
            name = f.name.encode("ascii")
            hdr += f.typecode.encode("ascii") + _H.pack(len(name)) + name
        out[d.name] = (d, hdr)
    return out


_CANON_HEADERS = _canon_headers()


def _describe(v: Any) -> str:
    if isinstance(v, JavaObject):
        msg = v.get("detailMessage")
        return f"{v.class_name}: {msg}" if msg is not None else v.class_name
    return repr(v)


# ---------------------------------------------------------------------------------------------
# mapped classes


def _wrapper_reader(fmt: struct.Struct, make: Callable[[Any], Any]) -> Callable[[ObjectInputStream, ClassDesc], Any]:
    size = fmt.size

    def read(self: ObjectInputStream, desc: ClassDesc) -> Any:
        p = self._pos
        if p + size > self._n:
            raise TruncatedStreamError(f"{desc.name} value runs past the end", p)
        v = fmt.unpack_from(self._b, p)[0]
        self._pos = p + size
        return make(v)

    return read


def _read_float(self: ObjectInputStream, desc: ClassDesc) -> Any:
    p = self._pos
    if p + 4 > self._n:
        raise TruncatedStreamError("java.lang.Float value runs past the end", p)
    self._pos = p + 4
    return JavaFloat.from_bits(_I.unpack_from(self._b, p)[0])


def _read_boolean(self: ObjectInputStream, desc: ClassDesc) -> Any:
    p = self._pos
    if p + 1 > self._n:
        raise TruncatedStreamError("java.lang.Boolean value runs past the end", p)
    raw = self._b[p]
    if raw > 1:
        return None  # not what Java writes: keep it opaque
    self._pos = p + 1
    v: Any = raw == 1
    if id(v) in self._seen:
        v = JavaBoolean(v)
    self._seen.add(id(v))
    return v


def _new_int(cls: type) -> Callable[[int], Any]:
    def make(v: int) -> Any:
        return int.__new__(cls, v)

    return make


_WRAPPER_READERS: dict[int, Callable[[ObjectInputStream, ClassDesc], Any]] = {
    id(INTEGER): _wrapper_reader(_I, _new_int(JavaInteger)),
    id(LONG): _wrapper_reader(_Q, _new_int(JavaLong)),
    id(SHORT): _wrapper_reader(_h, _new_int(JavaShort)),
    id(BYTE): _wrapper_reader(struct.Struct(">b"), _new_int(JavaByte)),
    id(DOUBLE): _wrapper_reader(_D, lambda v: float.__new__(JavaDouble, v)),
    id(CHARACTER): _wrapper_reader(_H, lambda v: str.__new__(JavaCharacter, chr(v))),
    id(FLOAT): _read_float,
    id(BOOLEAN): _read_boolean,
}


_INT_NEW = int.__new__
_OBJECT_NEW = object.__new__


@cython.cfunc
def _new_class_data(desc: ClassDesc, values: list[Any], annotations: list[Any] | None) -> ClassData:
    """ClassData(desc, values, annotations) without a Python-level __init__ call."""
    cd = _OBJECT_NEW(ClassData)
    cd.desc = desc
    cd.values = values
    cd.annotations = annotations
    return cd  # type: ignore[no-any-return]


@cython.cfunc
def _new_object(desc: ClassDesc, class_data: list[ClassData]) -> JavaObject:
    """JavaObject(desc, class_data) without a Python-level __init__ call."""
    obj = _OBJECT_NEW(JavaObject)
    obj.desc = desc
    obj.class_data = class_data
    return obj  # type: ignore[no-any-return]


def _new_field(typecode: str, name: str, classname: str | None) -> FieldDesc:
    """FieldDesc(typecode, name, classname) without a Python-level __init__ call (the reader
    checked the type code)."""
    f = _OBJECT_NEW(FieldDesc)
    f.typecode = typecode
    f.name = name
    f.classname = classname
    return f  # type: ignore[no-any-return]


#: the mapped JDK descriptors by class name
_CANON_BY_NAME: dict[str, ClassDesc] = {d.name: d for d in CANONICAL.values()}


@cython.cfunc
def _new_array(desc: ClassDesc) -> JavaArray:
    """JavaArray(desc) (empty) without a Python-level __init__ call."""
    arr = _LIST_NEW(JavaArray)
    arr.desc = desc
    return arr  # type: ignore[no-any-return]


_LIST_NEW = list.__new__


def _new_date() -> JavaDate:
    """JavaDate(0) without a Python-level __init__ call (the reader sets ``millis``)."""
    d = _OBJECT_NEW(JavaDate)
    d.millis = 0
    return d  # type: ignore[no-any-return]


#: the other boxed primitives of _read's fast path (Integer and Long come before it)
_FAST_WRAPPERS: dict[int, tuple[struct.Struct, Callable[[Any], Any]]] = {
    id(SHORT): (_h, _new_int(JavaShort)),
    id(BYTE): (struct.Struct(">b"), _new_int(JavaByte)),
    id(DOUBLE): (_D, lambda v: float.__new__(JavaDouble, v)),
}


def _single_block(cd: ClassData, size: int) -> bytes | None:
    ann = cd.annotations
    if not ann:
        return None
    blk = ann[0]
    if type(blk) is not BlockData or blk.long_header or len(blk.data) != size:
        return None
    return blk.data


def _items(cd: ClassData, n: int) -> list[Any] | None:
    items = cd.annotations[1:]  # type: ignore[index]
    if len(items) != n:
        return None
    for x in items:
        if type(x) is BlockData:
            return None
    return items


def _fill_arraylist(c: JavaArrayList, cds: list[ClassData]) -> bool:
    cd = cds[0]
    blk = _single_block(cd, 4)
    if blk is None:
        return False
    n = _I.unpack(blk)[0]
    if cd.values[0] != n:
        return False
    items = _items(cd, n)
    if items is None:
        return False
    c.extend(items)
    return True


def _fill_linkedlist(c: JavaLinkedList, cds: list[ClassData]) -> bool:
    cd = cds[0]
    blk = _single_block(cd, 4)
    if blk is None:
        return False
    items = _items(cd, _I.unpack(blk)[0])
    if items is None:
        return False
    c.extend(items)
    return True


def _fill_pairs(c: dict, items: list[Any]) -> bool:
    it = iter(items)
    for k in it:
        c[k] = next(it)
    return len(c) * 2 == len(items)


def _fill_hashmap_part(c: JavaHashMap, cd: ClassData) -> bool:
    blk = _single_block(cd, 8)
    if blk is None:
        return False
    buckets, n = _II.unpack(blk)
    lf, thr = cd.values
    if type(lf) is not float or lf != lf or type(thr) is not int:
        return False
    items = _items(cd, 2 * n)
    if items is None or not _fill_pairs(c, items):
        return False
    c.load_factor = lf
    c.threshold = thr
    c.buckets = buckets
    return True


def _fill_hashmap(c: JavaHashMap, cds: list[ClassData]) -> bool:
    return _fill_hashmap_part(c, cds[0])


def _fill_linkedhashmap(c: JavaLinkedHashMap, cds: list[ClassData]) -> bool:
    if not _fill_hashmap_part(c, cds[0]):
        return False
    ao = cds[1].values[0]
    if type(ao) is not bool:
        return False
    c.access_order = ao
    return True


def _fill_hashset(c: JavaHashSet, cds: list[ClassData]) -> bool:
    cd = cds[0]
    blk = _single_block(cd, 12)
    if blk is None:
        return False
    cap, lf, n = _IFI.unpack(blk)
    if lf != lf or _F.pack(lf) != blk[4:8]:
        return False
    items = _items(cd, n)
    if items is None:
        return False
    for x in items:
        c.add(x)
    if len(c) != n:
        return False
    c.capacity = cap
    c.load_factor = lf
    return True


def _fill_treemap(c: JavaTreeMap, cds: list[ClassData]) -> bool:
    cd = cds[0]
    blk = _single_block(cd, 4)
    if blk is None:
        return False
    n = _I.unpack(blk)[0]
    items = _items(cd, 2 * n)
    if items is None or not _fill_pairs(c, items):
        return False
    comparator = cd.values[0]
    if comparator is None:
        keys = list(c)
        order = natural_order(keys)
        if order is not None and order != keys:
            return False  # not in natural order: the writer would reorder it
    c.comparator = comparator
    return True


def _fill_date(c: JavaDate, cds: list[ClassData]) -> bool:
    cd = cds[0]
    blk = _single_block(cd, 8)
    if blk is None or len(cd.annotations) != 1:  # type: ignore[arg-type]
        return False
    c.millis = _Q.unpack(blk)[0]
    return True


_COLLECTIONS: dict[int, tuple[Callable[[], Any], Callable[[Any, list[ClassData]], bool]]] = {
    id(ARRAYLIST): (JavaArrayList, _fill_arraylist),
    id(LINKEDLIST): (JavaLinkedList, _fill_linkedlist),
    id(HASHMAP): (JavaHashMap, _fill_hashmap),
    id(LINKEDHASHMAP): (JavaLinkedHashMap, _fill_linkedhashmap),
    id(HASHSET): (JavaHashSet, _fill_hashset),
    id(TREEMAP): (JavaTreeMap, _fill_treemap),
    id(DATE): (_new_date, _fill_date),
}
_HASHMAP_COLL = _COLLECTIONS[id(HASHMAP)]
_ARRAYLIST_COLL = _COLLECTIONS[id(ARRAYLIST)]
