# cython: language_level=3, annotation_typing=False, boundscheck=True, wraparound=True, cdivision=False
# The typed compile of writer.py (the pure-Python twin, used when this extension is absent or
# TRIBES_PURE=1): the very same source, with its Cython declarations in effect, plus
# FastObjectOutputStream below, which this module exports as ``ObjectOutputStream``:
#
# * the identity handle table (``id(obj)`` -> handle, a dict of Python ints in writer.py) is a C
#   open-addressing table of object addresses, so a handle lookup allocates nothing;
# * ``_w`` writes the values that make most of a session (null, ASCII strings, Integer, Long,
#   Boolean) straight into the output buffer, and hands every other value, and every case it
#   does not take (non-ASCII or long strings, a value out of range), to writer.py's code.
#
# The bytes, handles and errors are those of writer.py; tests/unit/test_javaser_speedups*.py
# compare the two on the same inputs.
from libc.stdlib cimport calloc, free
from libc.string cimport memchr, memcpy, memset
from libc.stdint cimport int64_t, uint32_t, uint64_t
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.long cimport PyLong_AsLongLong
from cpython.dict cimport PyDict_Next
from cpython.ref cimport PyObject

cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    void* PyUnicode_DATA(object o)

include "writer.py"

_INTEGER_DESC = WRAPPERS[JavaInteger][0]
_LONG_DESC = WRAPPERS[JavaLong][0]
from .known import DATE as _DATE_DESC
from .known import HASHMAP as _HASHMAP_DESC
from .layout import layout as _layout_of


cdef class _ObjectPlan:
    """What the writer needs of one class descriptor, read off it once (``ClassDesc._wplan``).

    The descriptor itself (``plain_desc``: not a proxy, no class annotations): its name, its
    bytes with the field type strings between them (writer._desc_wire), its superclass.
    Its objects, when the class is simple (``simple``: Serializable without writeObject, no
    serializable superclass, primitive fields needing no conversion first): field counts and
    the packer of the primitive fields."""

    cdef bint simple
    cdef Py_ssize_t nprims
    cdef Py_ssize_t nfields
    cdef object pack   # struct.Struct.pack of the primitive fields
    cdef bint plain_desc
    cdef object name
    cdef list segs
    cdef object superclass


cdef _ObjectPlan _plan_for(object desc):
    cdef _ObjectPlan plan = _ObjectPlan()
    plan.simple = False
    plan.plain_desc = False
    if desc.proxy_interfaces is None and not desc.annotations:
        segs = desc._wire
        if segs is None:
            try:
                segs = desc._wire = _desc_wire(desc)
            except Exception:  # noqa: BLE001 - writer.py's _w_desc reports it
                segs = None
        if segs is not None:
            plan.plain_desc = True
            plan.name = desc.name
            plan.segs = segs
            plan.superclass = desc.superclass
    if (type(desc) is ClassDesc and desc.flags == SC_SERIALIZABLE and desc.superclass is None
            and desc.proxy_interfaces is None):
        lay = _layout_of(desc)
        if lay.plain and lay.prims_first:
            plan.simple = True
            plan.nprims = len(lay.prim_idx)
            plan.nfields = lay.nfields
            plan.pack = lay.struct.pack
    desc._wplan = plan
    return plan


cdef inline void _be32(char* p, uint32_t v) noexcept nogil:
    p[0] = <char>(v >> 24)
    p[1] = <char>(v >> 16)
    p[2] = <char>(v >> 8)
    p[3] = <char>v


cdef inline void _be64(char* p, uint64_t v) noexcept nogil:
    _be32(p, <uint32_t>(v >> 32))
    _be32(p + 4, <uint32_t>v)


cdef inline size_t _hash_ptr(size_t k) noexcept nogil:
    # object addresses are 16-byte aligned: drop those bits, then mix (Fibonacci hashing)
    return <size_t>(((<uint64_t>k >> 4) * <uint64_t>0x9E3779B97F4A7C15ULL) >> 20)


cdef class FastObjectOutputStream(ObjectOutputStream):
    """writer.ObjectOutputStream with a C identity table and a direct path for common values."""

    cdef size_t* _tkeys       # object addresses (0 = empty slot)
    cdef Py_ssize_t* _tvals   # their handles
    cdef Py_ssize_t _tcap     # slots (a power of two)
    cdef Py_ssize_t _tused
    cdef object _int_desc
    cdef object _long_desc
    cdef object _bool_desc

    def __cinit__(self, *args, **kwargs):
        self._tkeys = NULL
        self._tvals = NULL
        self._tcap = 0
        self._tused = 0
        self._int_desc = _INTEGER_DESC
        self._long_desc = _LONG_DESC
        self._bool_desc = BOOLEAN

    def __dealloc__(self):
        free(self._tkeys)
        free(self._tvals)

    # ------------------------------------------------------------------ the identity table

    cdef int _table_alloc(self, Py_ssize_t cap) except -1:
        cdef size_t* keys = <size_t*>calloc(cap, sizeof(size_t))
        cdef Py_ssize_t* vals = <Py_ssize_t*>calloc(cap, sizeof(Py_ssize_t))
        if keys == NULL or vals == NULL:
            free(keys)
            free(vals)
            raise MemoryError()
        free(self._tkeys)
        free(self._tvals)
        self._tkeys = keys
        self._tvals = vals
        self._tcap = cap
        self._tused = 0
        return 0

    cdef inline Py_ssize_t _table_get(self, size_t k) noexcept:
        cdef size_t mask
        cdef size_t i
        cdef size_t cur
        if self._tcap == 0:
            return -1
        mask = <size_t>self._tcap - 1
        i = _hash_ptr(k) & mask
        while True:
            cur = self._tkeys[i]
            if cur == k:
                return self._tvals[i]
            if cur == 0:
                return -1
            i = (i + 1) & mask

    cdef int _table_put(self, size_t k, Py_ssize_t h) except -1:
        cdef size_t mask
        cdef size_t i
        cdef size_t cur
        cdef size_t* old_keys
        cdef Py_ssize_t* old_vals
        cdef Py_ssize_t old_cap
        cdef Py_ssize_t j
        if (self._tused + 1) * 2 > self._tcap:
            old_keys = self._tkeys
            old_vals = self._tvals
            old_cap = self._tcap
            self._tkeys = NULL
            self._tvals = NULL
            try:
                self._table_alloc(old_cap * 2 if old_cap else 64)
            except MemoryError:
                self._tkeys = old_keys
                self._tvals = old_vals
                raise
            for j in range(old_cap):
                if old_keys[j] != 0:
                    self._table_put(old_keys[j], old_vals[j])
            free(old_keys)
            free(old_vals)
        mask = <size_t>self._tcap - 1
        i = _hash_ptr(k) & mask
        while True:
            cur = self._tkeys[i]
            if cur == k:
                self._tvals[i] = h
                return 0
            if cur == 0:
                self._tkeys[i] = k
                self._tvals[i] = h
                self._tused += 1
                return 0
            i = (i + 1) & mask

    cpdef _clear(self):
        ObjectOutputStream._clear(self)
        if self._tcap == 0 or self._tcap > 4096:
            self._table_alloc(64)
        else:
            memset(self._tkeys, 0, self._tcap * sizeof(size_t))
            self._tused = 0

    cpdef _rollback(self, Py_ssize_t out_len, Py_ssize_t keep_len, Py_ssize_t next_h):
        cdef size_t* old_keys = self._tkeys
        cdef Py_ssize_t* old_vals = self._tvals
        cdef Py_ssize_t old_cap = self._tcap
        cdef Py_ssize_t j
        ObjectOutputStream._rollback(self, out_len, keep_len, next_h)
        # keep the entries of handles below next_h (the objects they name are still in _keep)
        self._tkeys = NULL
        self._tvals = NULL
        try:
            self._table_alloc(old_cap if old_cap else 64)
        except MemoryError:
            self._tkeys = old_keys
            self._tvals = old_vals
            raise
        for j in range(old_cap):
            if old_keys[j] != 0 and old_vals[j] < next_h:
                self._table_put(old_keys[j], old_vals[j])
        free(old_keys)
        free(old_vals)

    cpdef Py_ssize_t _handle_of(self, obj) noexcept:
        return self._table_get(<size_t><void*>obj)

    cpdef _bind(self, obj, Py_ssize_t h):
        self._table_put(<size_t><void*>obj, h)
        self._keep.append(obj)

    # ------------------------------------------------------------------ direct writes

    cdef inline char* _grow(self, Py_ssize_t n) except NULL:
        """Room for ``n`` more bytes at the end of the output; where they go."""
        cdef bytearray out = self._out
        cdef Py_ssize_t size = PyByteArray_GET_SIZE(out)
        PyByteArray_Resize(out, size + n)
        return PyByteArray_AS_STRING(out) + size

    cdef inline int _put_desc(self, object desc) except -1:
        """The descriptor of a value: a back-reference once written (_w_desc the first time)."""
        if not self._put_backref(desc):
            self._w_desc(desc)
        return 0

    cdef inline bint _put_backref(self, object obj) except -1:
        """A back-reference to this very object if it was written (True), else nothing (False)."""
        cdef Py_ssize_t h = self._table_get(<size_t><void*>obj)
        cdef char* p
        if h < 0:
            return False
        p = self._grow(5)
        p[0] = <char>TC_REFERENCE
        _be32(p + 1, <uint32_t>(BASE_WIRE_HANDLE + h))
        return True

    cdef inline int _new_handle(self, object obj) except -1:
        cdef Py_ssize_t h = self._next
        self._next = h + 1
        self._table_put(<size_t><void*>obj, h)
        self._keep.append(obj)
        return 0

    cpdef _w(self, v):
        cdef type t
        cdef Py_ssize_t n
        cdef char* p
        cdef int64_t x
        if v is None:
            p = self._grow(1)
            p[0] = <char>TC_NULL
            return
        t = type(v)
        if t is str:
            n = PyUnicode_GET_LENGTH(v)
            # the ASCII strings writer.py's _w_str writes in its own fast path (no NUL: Java
            # encodes it in two bytes)
            if PyUnicode_IS_COMPACT_ASCII(v) and n <= 0xFFFF and memchr(PyUnicode_DATA(v), 0, n) == NULL:
                if self._put_backref(v):
                    return
                self._new_handle(v)
                p = self._grow(3 + n)
                p[0] = <char>TC_STRING
                p[1] = <char>(n >> 8)
                p[2] = <char>n
                memcpy(p + 3, PyUnicode_DATA(v), n)
                return
            ObjectOutputStream._w(self, v)
            return
        if t is JavaInteger or t is JavaLong:
            if self._put_backref(v):
                return
            try:
                x = PyLong_AsLongLong(v)
            except OverflowError:  # a JavaLong made around its range check: writer.py reports it
                ObjectOutputStream._w(self, v)
                return
            if t is JavaInteger and not (-0x80000000 <= x <= 0x7FFFFFFF):
                ObjectOutputStream._w(self, v)  # writer.py reports it
                return
            p = self._grow(1)
            p[0] = <char>TC_OBJECT
            self._put_desc(self._int_desc if t is JavaInteger else self._long_desc)
            self._new_handle(v)
            if t is JavaInteger:
                _be32(self._grow(4), <uint32_t>x)
            else:
                _be64(self._grow(8), <uint64_t>x)
            return
        if t is bool:
            if self._put_backref(v):
                return
            p = self._grow(1)
            p[0] = <char>TC_OBJECT
            self._put_desc(self._bool_desc)
            self._new_handle(v)
            p = self._grow(1)
            p[0] = <char>(1 if v is True else 0)
            return
        if t is JavaDate:
            if self._put_backref(v):
                return
            try:
                x = PyLong_AsLongLong(v.millis)
            except (OverflowError, TypeError):
                ObjectOutputStream._w(self, v)  # writer.py reports it
                return
            self._enter()
            p = self._grow(1)
            p[0] = <char>TC_OBJECT
            self._put_desc(_DATE_DESC)
            self._new_handle(v)
            p = self._grow(11)
            p[0] = <char>TC_BLOCKDATA
            p[1] = 8
            _be64(p + 2, <uint64_t>x)
            p[10] = <char>TC_ENDBLOCKDATA
            self._depth -= 1
            return
        ObjectOutputStream._w(self, v)

    cpdef _w_desc(self, d):
        """A class descriptor: back-reference, or (plain, first of its class name in this stream)
        its bytes from the plan; anything else by writer.py's _w_desc."""
        cdef char* p
        cdef _ObjectPlan plan
        cdef Py_ssize_t h
        cdef Py_ssize_t i
        cdef Py_ssize_t n
        cdef list segs
        if d is None:
            p = self._grow(1)
            p[0] = <char>TC_NULL
            return
        if self._put_backref(d):
            return
        plan_o = d._wplan
        plan = _plan_for(d) if plan_o is None else <_ObjectPlan>plan_o
        if not plan.plain_desc or plan.name in self._dn:
            ObjectOutputStream._w_desc(self, d)
            return
        h = self._next
        self._table_put(<size_t><void*>d, h)
        self._keep.append(d)
        self._enter()
        p = self._grow(1)
        p[0] = <char>TC_CLASSDESC
        self._next = h + 1  # what _assign_desc does
        self._dn[plan.name] = [(d, h)]
        self._keep.append(d)
        segs = plan.segs
        self._out += <bytes>segs[0]
        n = len(segs)
        for i in range(1, n, 3):
            self._w_type_string(segs[i], segs[i + 1])
            self._out += <bytes>segs[i + 2]
        p = self._grow(1)
        p[0] = <char>TC_ENDBLOCKDATA
        self._w_desc(plan.superclass)
        self._depth -= 1

    cpdef _w_object(self, v):
        """A JavaObject of a simple class (see _ObjectPlan) without writer.py's attribute walk."""
        cdef _ObjectPlan plan
        cdef Py_ssize_t i
        cdef Py_ssize_t n
        if self._put_backref(v):
            return
        desc = v.desc
        plan_obj = desc._wplan
        plan = _plan_for(desc) if plan_obj is None else <_ObjectPlan>plan_obj
        cds = v.class_data
        if not plan.simple or type(cds) is not list or len(<list>cds) != 1:
            ObjectOutputStream._w_object(self, v)
            return
        cd = (<list>cds)[0]
        values = cd.values
        if cd.desc is not desc or type(values) is not list or len(<list>values) != plan.nfields:
            ObjectOutputStream._w_object(self, v)
            return
        packed = None
        if plan.nprims:
            try:
                packed = plan.pack(*(<list>values)[:plan.nprims])
            except (struct.error, TypeError, ValueError):
                ObjectOutputStream._w_object(self, v)  # writer.py reports it
                return
        self._enter()
        p = self._grow(1)
        p[0] = <char>TC_OBJECT
        self._put_desc(desc)
        self._new_handle(v)
        if packed is not None:
            self._out += <bytes>packed
        n = plan.nfields
        for i in range(plan.nprims, n):
            self._w((<list>values)[i])
        self._depth -= 1

    cpdef _w_hashmap(self, v):
        """A HashMap read from a stream (its capacity and threshold known): entries in place."""
        cdef char* p
        cdef float f
        cdef uint32_t bits
        cdef Py_ssize_t pos = 0
        cdef PyObject* key
        cdef PyObject* value
        cdef Py_ssize_t n
        cdef long long thr
        cdef long long buckets
        if type(v) is not JavaHashMap:
            ObjectOutputStream._w_hashmap(self, v)
            return
        if self._put_backref(v):
            return
        lf = v.load_factor
        thr_o = v.threshold
        buckets_o = v.buckets
        n = len(<dict>v)
        if (thr_o is None or buckets_o is None or type(lf) is not float or type(thr_o) is not int
                or type(buckets_o) is not int or not (-3.4028234663852886e38 <= <double>lf <= 3.4028234663852886e38)):
            ObjectOutputStream._w_hashmap(self, v)
            return
        thr = thr_o
        buckets = buckets_o
        if not (-0x80000000 <= thr <= 0x7FFFFFFF and -0x80000000 <= buckets <= 0x7FFFFFFF and n <= 0x7FFFFFFF):
            ObjectOutputStream._w_hashmap(self, v)
            return
        self._enter()
        p = self._grow(1)
        p[0] = <char>TC_OBJECT
        self._put_desc(_HASHMAP_DESC)
        self._new_handle(v)
        f = <float><double>lf
        memcpy(&bits, &f, 4)
        p = self._grow(18)
        _be32(p, bits)
        _be32(p + 4, <uint32_t>thr)
        p[8] = <char>TC_BLOCKDATA
        p[9] = 8
        _be32(p + 10, <uint32_t>buckets)
        _be32(p + 14, <uint32_t>n)
        while PyDict_Next(v, &pos, &key, &value):
            self._w(<object>key)
            self._w(<object>value)
        p = self._grow(1)
        p[0] = <char>TC_ENDBLOCKDATA
        self._depth -= 1


# the name every caller uses (tribes.javaser._impl, the tests, the benchmarks)
globals()["ObjectOutputStream"] = FastObjectOutputStream
